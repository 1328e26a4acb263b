using System.Text.Json;
using System.Text.Json.Nodes;
using Synapse.Configuration;
using Synapse.Tests.Infrastructure;
using static Synapse.Tests.E2e.CrossSigningUploadTests;

namespace Synapse.Tests.E2e;

/// <summary>POST /keys/signatures/upload for other users' master keys over real HTTP, on each engine.</summary>
public sealed class SignatureUploadTests
{
    private const string V3 = "/_matrix/client/v3";
    private const string KeysUpload = V3 + "/keys/device_signing/upload";
    private const string SignaturesUpload = V3 + "/keys/signatures/upload";

    internal static async Task UploadIdentityAsync(TestHomeserver server, Session who, CrossSigningIdentity identity)
    {
        var (status, body) = await server.SendAsync(HttpMethod.Post, KeysUpload, who.AccessToken, identity.UploadBody());
        Assert.True(status == 200, $"{status} {body}");
    }

    internal static async Task<JsonElement> UploadSignaturesAsync(TestHomeserver server, Session who, JsonObject body)
    {
        var (status, response) = await server.SendAsync(HttpMethod.Post, SignaturesUpload, who.AccessToken, body);
        Assert.True(status == 200, $"{status} {response}");
        return response.GetProperty("failures");
    }

    internal static JsonObject SignedBy(JsonObject key, TestKey signingKey, string signer)
    {
        var copy = key.DeepClone().AsObject();
        copy.Remove("signatures");
        return signingKey.Sign(copy, signer);
    }

    private static string? Signature(JsonObject query, string user, string signer, string keyId) =>
        query["master_keys"]?[user]?["signatures"]?[signer]?[keyId]?.GetValue<string>();

    [Theory, ClassData(typeof(Engines))]
    public async Task OtherUsersMasterKey_SignedWithUserSigningKey_StoredAndSeenOnlyBySigner(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");
        var carol = await server.RegisterAsync("carol");
        using var a = new CrossSigningIdentity(alice.UserId);
        using var b = new CrossSigningIdentity(bob.UserId);
        await UploadIdentityAsync(server, alice, a);
        await UploadIdentityAsync(server, bob, b);

        var signed = SignedBy(b.MasterKey(), a.UserSigning, alice.UserId);
        var failures = await UploadSignaturesAsync(server, alice, new JsonObject
        {
            [bob.UserId] = new JsonObject { [b.Master.Public] = signed },
        });
        Assert.Empty(failures.EnumerateObject());

        string expected = signed["signatures"]![alice.UserId]![a.UserSigning.KeyId]!.GetValue<string>();
        Assert.Equal(expected, Signature(await QueryAsync(server, alice, bob.UserId), bob.UserId, alice.UserId, a.UserSigning.KeyId));

        // Signatures by a user-signing key are for its owner only.
        Assert.Null(Signature(await QueryAsync(server, bob, bob.UserId), bob.UserId, alice.UserId, a.UserSigning.KeyId));
        Assert.Null(Signature(await QueryAsync(server, carol, bob.UserId), bob.UserId, alice.UserId, a.UserSigning.KeyId));

        // Only the owner sees their user-signing key; everyone sees master and self-signing keys.
        var carolView = await QueryAsync(server, carol, alice.UserId, bob.UserId);
        Assert.NotNull(carolView["master_keys"]![alice.UserId]);
        Assert.NotNull(carolView["self_signing_keys"]![bob.UserId]);
        Assert.Empty(carolView["user_signing_keys"]!.AsObject());
        Assert.Equal(a.UserSigning.Public,
            (await QueryAsync(server, alice, alice.UserId))["user_signing_keys"]![alice.UserId]!.AsObject().PublicKeyOf());
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task OneGoodOneBad_GoodStored_BadInFailures(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");
        var carol = await server.RegisterAsync("carol");
        using var a = new CrossSigningIdentity(alice.UserId);
        using var b = new CrossSigningIdentity(bob.UserId);
        using var c = new CrossSigningIdentity(carol.UserId);
        await UploadIdentityAsync(server, alice, a);
        await UploadIdentityAsync(server, bob, b);
        await UploadIdentityAsync(server, carol, c);

        // Carol's master key "signed" with Alice's self-signing key under her user-signing key's ID.
        var forged = c.MasterKey();
        a.SelfSigning.Sign(forged, alice.UserId, a.UserSigning.KeyId);
        var failures = await UploadSignaturesAsync(server, alice, new JsonObject
        {
            [bob.UserId] = new JsonObject { [b.Master.Public] = SignedBy(b.MasterKey(), a.UserSigning, alice.UserId) },
            [carol.UserId] = new JsonObject { [c.Master.Public] = forged },
        });

        Assert.Equal([carol.UserId], failures.EnumerateObject().Select(p => p.Name));
        Assert.Equal("M_INVALID_SIGNATURE", failures.GetProperty(carol.UserId).GetProperty(c.Master.Public).GetProperty("errcode").GetString());
        var view = await QueryAsync(server, alice, bob.UserId, carol.UserId);
        Assert.NotNull(Signature(view, bob.UserId, alice.UserId, a.UserSigning.KeyId));
        Assert.Null(Signature(view, carol.UserId, alice.UserId, a.UserSigning.KeyId));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task OtherUsersMasterKey_Signed_RoomMatesSeeTheTargetChange(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");
        using var a = new CrossSigningIdentity(alice.UserId);
        using var b = new CrossSigningIdentity(bob.UserId);
        await UploadIdentityAsync(server, alice, a);
        await UploadIdentityAsync(server, bob, b);
        await ShareRoomAsync(server, alice, bob);
        string since = Next(await SyncAsync(server, alice));

        var waiting = WaitForChangeAsync(server, alice, since, bob.UserId);
        await Task.Delay(200);
        Assert.Empty((await UploadSignaturesAsync(server, alice, new JsonObject
        {
            [bob.UserId] = new JsonObject { [b.Master.Public] = SignedBy(b.MasterKey(), a.UserSigning, alice.UserId) },
        })).EnumerateObject());
        await waiting;
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Failures_EachBadItem_SpecErrcode(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");
        var dave = await server.RegisterAsync("dave");
        using var a = new CrossSigningIdentity(alice.UserId);
        using var b = new CrossSigningIdentity(bob.UserId);
        await UploadIdentityAsync(server, bob, b);

        // Alice has no user-signing key yet.
        var failures = await UploadSignaturesAsync(server, alice, new JsonObject
        {
            [bob.UserId] = new JsonObject { [b.Master.Public] = SignedBy(b.MasterKey(), a.UserSigning, alice.UserId) },
        });
        Assert.Equal("M_NOT_FOUND", Errcode(failures, bob.UserId, b.Master.Public));

        await UploadIdentityAsync(server, alice, a);
        var changed = b.MasterKey();
        changed["usage"] = new JsonArray("master", "extra");
        failures = await UploadSignaturesAsync(server, alice, new JsonObject
        {
            [bob.UserId] = new JsonObject
            {
                // Not Bob's master key (his self-signing key).
                [b.SelfSigning.Public] = SignedBy(b.SelfSigningKey(), a.UserSigning, alice.UserId),
            },
            [dave.UserId] = new JsonObject { ["ANYKEY"] = SignedBy(b.MasterKey(), a.UserSigning, alice.UserId) },
            ["not a user"] = new JsonObject { ["K"] = new JsonObject() },
            // Own device without device keys.
            [alice.UserId] = new JsonObject { ["NODEVICE"] = new JsonObject { ["user_id"] = alice.UserId } },
        });
        Assert.Equal("M_NOT_FOUND", Errcode(failures, bob.UserId, b.SelfSigning.Public));
        Assert.Equal("M_NOT_FOUND", Errcode(failures, dave.UserId, "ANYKEY"));
        Assert.Equal("M_INVALID_PARAM", Errcode(failures, "not a user", "K"));
        Assert.Equal("M_NOT_FOUND", Errcode(failures, alice.UserId, "NODEVICE"));

        // The signed object differs from Bob's master key; then no signature at all; then the wrong key ID.
        failures = await UploadSignaturesAsync(server, alice, new JsonObject
        {
            [bob.UserId] = new JsonObject { [b.Master.Public] = SignedBy(changed, a.UserSigning, alice.UserId) },
        });
        Assert.Equal("M_INVALID_PARAM", Errcode(failures, bob.UserId, b.Master.Public));
        failures = await UploadSignaturesAsync(server, alice, new JsonObject
        {
            [bob.UserId] = new JsonObject { [b.Master.Public] = b.MasterKey() },
        });
        Assert.Equal("M_INVALID_SIGNATURE", Errcode(failures, bob.UserId, b.Master.Public));
        failures = await UploadSignaturesAsync(server, alice, new JsonObject
        {
            [bob.UserId] = new JsonObject { [b.Master.Public] = SignedBy(b.MasterKey(), a.UserSigning, alice.UserId) },
            // Her own master key with only its own signature: nothing new to store.
            [alice.UserId] = new JsonObject { [a.Master.Public] = SignedBy(a.MasterKey(), a.Master, alice.UserId) },
        });
        Assert.Equal([alice.UserId], failures.EnumerateObject().Select(p => p.Name));
        Assert.Equal("M_INVALID_SIGNATURE", Errcode(failures, alice.UserId, a.Master.Public));
    }

    public static TheoryData<string, int, string> BadBodies() => new()
    {
        { "not json", 400, "M_NOT_JSON" },
        { "[1]", 400, "M_BAD_JSON" },
        { """{"@bob:test.local":"x"}""", 400, "M_BAD_JSON" },
        { """{"@bob:test.local":{"KEY":[]}}""", 400, "M_BAD_JSON" },
        { """{"@bob:test.local":{}}""", 200, "" },
        { "{}", 200, "" },
    };

    [Theory, MemberData(nameof(BadBodies))]
    public async Task BadInput_SpecErrors(string raw, int expectedStatus, string errcode)
    {
        await using var server = await TestHomeserver.StartAsync(DatabaseEngine.Sqlite);
        var alice = await server.RegisterAsync("alice");
        var (status, body) = await server.SendAsync(HttpMethod.Post, SignaturesUpload, alice.AccessToken, raw);
        Assert.True(status == expectedStatus, $"{status} {body}");
        if (errcode.Length > 0)
        {
            Assert.Equal(errcode, body.GetProperty("errcode").GetString());
        }
        else
        {
            Assert.Empty(body.GetProperty("failures").EnumerateObject());
        }
    }

    internal static string? Errcode(JsonElement failures, string user, string keyId) =>
        failures.TryGetProperty(user, out var byUser) && byUser.TryGetProperty(keyId, out var failure)
            ? failure.GetProperty("errcode").GetString()
            : null;
}
