using System.Text.Json;
using System.Text.Json.Nodes;
using Synapse.Configuration;
using Synapse.Crypto;
using Synapse.E2e;
using Synapse.Tests.Infrastructure;
using static Synapse.Tests.E2e.CrossSigningUploadTests;
using static Synapse.Tests.E2e.SignatureUploadTests;

namespace Synapse.Tests.E2e;

/// <summary>
/// Signatures on a user's own devices (by their self-signing key) and on their master key (by their devices), with device keys
/// uploaded through /keys/upload, and the whole chain of trust read back through /keys/query, on each engine.
/// </summary>
public sealed class SignatureUploadDeviceTests
{
    private const string V3 = "/_matrix/client/v3";

    /// <summary>Device keys of <paramref name="who"/>'s device, self-signed with <paramref name="key"/>, uploaded.</summary>
    private static async Task<JsonObject> UploadDeviceKeysAsync(TestHomeserver server, Session who, TestKey key)
    {
        var deviceKeys = key.Sign(new JsonObject
        {
            ["user_id"] = who.UserId,
            ["device_id"] = who.DeviceId,
            ["algorithms"] = new JsonArray("m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"),
            ["keys"] = new JsonObject { ["ed25519:" + who.DeviceId] = key.Public, ["curve25519:" + who.DeviceId] = "curve" + who.DeviceId },
        }, who.UserId, "ed25519:" + who.DeviceId);
        await E2eKeysKit.UploadAsync(server, who, new JsonObject { ["device_keys"] = deviceKeys.DeepClone() });
        return deviceKeys;
    }

    private static JsonElement Element(JsonNode node) => JsonDocument.Parse(node.ToJsonString()).RootElement.Clone();

    /// <summary>Whether <paramref name="signed"/> carries a valid signature by <paramref name="signer"/>'s key <paramref name="key"/>.</summary>
    private static bool Verifies(JsonNode signed, string signer, string keyId, string publicKey) =>
        CrossSigningJson.VerifySignature(Element(signed), signer, keyId, UnpaddedBase64.Decode(publicKey)) == true;

    [Theory, ClassData(typeof(Engines))]
    public async Task OwnDevices_SignedBySelfSigningKey_GoodStoredBadReported(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice", deviceId: "PHONE");
        var laptop = await Sync.ToDeviceContributorTests.LoginAsync(server, "alice", "LAPTOP");
        var bob = await server.RegisterAsync("bob");
        using var identity = new CrossSigningIdentity(alice.UserId);
        using var phoneKey = new TestKey();
        using var laptopKey = new TestKey();
        var phone = await UploadDeviceKeysAsync(server, alice, phoneKey);
        var laptopKeys = await UploadDeviceKeysAsync(server, laptop, laptopKey);
        await UploadIdentityAsync(server, alice, identity);

        var changed = SignedBy(laptopKeys, identity.SelfSigning, alice.UserId);
        changed["algorithms"] = new JsonArray("changed");
        var failures = await UploadSignaturesAsync(server, alice, new JsonObject
        {
            [alice.UserId] = new JsonObject
            {
                ["PHONE"] = SignedBy(phone, identity.SelfSigning, alice.UserId),
                ["LAPTOP"] = SignedBy(laptopKeys, identity.UserSigning, alice.UserId),
                ["UNKNOWN"] = SignedBy(phone, identity.SelfSigning, alice.UserId),
            },
        });
        Assert.Equal("M_INVALID_SIGNATURE", Errcode(failures, alice.UserId, "LAPTOP"));
        Assert.Equal("M_NOT_FOUND", Errcode(failures, alice.UserId, "UNKNOWN"));
        Assert.Null(Errcode(failures, alice.UserId, "PHONE"));
        failures = await UploadSignaturesAsync(server, laptop, new JsonObject
        {
            [alice.UserId] = new JsonObject { ["LAPTOP"] = changed },
        });
        Assert.Equal("M_INVALID_PARAM", Errcode(failures, alice.UserId, "LAPTOP"));

        // Bob sees the self-signing key's signature on the phone, and it verifies with the self-signing key he is given.
        var query = await QueryAsync(server, bob, alice.UserId);
        var phoneSeen = query["device_keys"]![alice.UserId]!["PHONE"]!;
        Assert.Equal(["ed25519:PHONE", identity.SelfSigning.KeyId],
            phoneSeen["signatures"]![alice.UserId]!.AsObject().Select(p => p.Key));
        string selfSigning = query["self_signing_keys"]![alice.UserId]!.AsObject().PublicKeyOf()!;
        Assert.True(Verifies(phoneSeen, alice.UserId, "ed25519:" + selfSigning, selfSigning));
        Assert.Equal(["ed25519:LAPTOP"], query["device_keys"]![alice.UserId]!["LAPTOP"]!["signatures"]![alice.UserId]!.AsObject().Select(p => p.Key));
        Assert.Empty(query["user_signing_keys"]!.AsObject());
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task OwnMasterKey_SignedByDevice_Checked(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice", deviceId: "PHONE");
        var bob = await server.RegisterAsync("bob");
        using var identity = new CrossSigningIdentity(alice.UserId);
        using var phoneKey = new TestKey();
        using var otherKey = new TestKey();
        await UploadDeviceKeysAsync(server, alice, phoneKey);
        await UploadIdentityAsync(server, alice, identity);

        var good = phoneKey.Sign(identity.MasterKey(), alice.UserId, "ed25519:PHONE");
        var badSignature = otherKey.Sign(identity.MasterKey(), alice.UserId, "ed25519:PHONE");
        var unknownDevice = phoneKey.Sign(identity.MasterKey(), alice.UserId, "ed25519:GHOST");
        foreach (var (body, errcode) in new[] { (badSignature, "M_INVALID_SIGNATURE"), (unknownDevice, "M_NOT_FOUND"), (good, (string?)null) })
        {
            var failures = await UploadSignaturesAsync(server, alice, new JsonObject
            {
                [alice.UserId] = new JsonObject { [identity.Master.Public] = body },
            });
            Assert.Equal(errcode, Errcode(failures, alice.UserId, identity.Master.Public));
        }

        var master = (await QueryAsync(server, bob, alice.UserId))["master_keys"]![alice.UserId]!;
        Assert.True(Verifies(master, alice.UserId, "ed25519:PHONE", phoneKey.Public));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task ChainOfTrust_AliceVerifiesBobsDeviceThroughCrossSigning(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob", deviceId: "BOBPHONE");
        using var a = new CrossSigningIdentity(alice.UserId);
        using var b = new CrossSigningIdentity(bob.UserId);
        using var bobPhoneKey = new TestKey();
        var bobPhone = await UploadDeviceKeysAsync(server, bob, bobPhoneKey);
        await UploadIdentityAsync(server, alice, a);
        await UploadIdentityAsync(server, bob, b);
        Assert.Empty((await UploadSignaturesAsync(server, bob, new JsonObject
        {
            [bob.UserId] = new JsonObject { ["BOBPHONE"] = SignedBy(bobPhone, b.SelfSigning, bob.UserId) },
        })).EnumerateObject());
        Assert.Empty((await UploadSignaturesAsync(server, alice, new JsonObject
        {
            [bob.UserId] = new JsonObject { [b.Master.Public] = SignedBy(b.MasterKey(), a.UserSigning, alice.UserId) },
        })).EnumerateObject());

        // Spec: Alice trusts Bob's device if her master key signed her user-signing key, which signed Bob's master key, which
        // signed his self-signing key, which signed the device. Each link is checked with the keys /keys/query returned.
        var view = await QueryAsync(server, alice, alice.UserId, bob.UserId);
        string aliceMaster = view["master_keys"]![alice.UserId]!.AsObject().PublicKeyOf()!;
        var aliceUserSigning = view["user_signing_keys"]![alice.UserId]!;
        string aliceUsk = aliceUserSigning.AsObject().PublicKeyOf()!;
        var bobMaster = view["master_keys"]![bob.UserId]!;
        string bobMsk = bobMaster.AsObject().PublicKeyOf()!;
        var bobSelfSigning = view["self_signing_keys"]![bob.UserId]!;
        string bobSsk = bobSelfSigning.AsObject().PublicKeyOf()!;
        var device = view["device_keys"]![bob.UserId]!["BOBPHONE"]!;
        Assert.True(Verifies(aliceUserSigning, alice.UserId, "ed25519:" + aliceMaster, aliceMaster));
        Assert.True(Verifies(bobMaster, alice.UserId, "ed25519:" + aliceUsk, aliceUsk));
        Assert.True(Verifies(bobSelfSigning, bob.UserId, "ed25519:" + bobMsk, bobMsk));
        Assert.True(Verifies(device, bob.UserId, "ed25519:" + bobSsk, bobSsk));

        // Bob's own view has no trace of Alice's user-signing key.
        var bobView = await QueryAsync(server, bob, bob.UserId);
        Assert.Null(bobView["master_keys"]![bob.UserId]!["signatures"]?[alice.UserId]);
        Assert.Equal(b.UserSigning.Public, bobView["user_signing_keys"]![bob.UserId]!.AsObject().PublicKeyOf());
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task DeviceDeletedAndCreatedAgain_OldSignatureGone(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var phone = await Sync.ToDeviceContributorTests.LoginAsync(server, "alice", "PHONE");
        var bob = await server.RegisterAsync("bob");
        using var identity = new CrossSigningIdentity(alice.UserId);
        using var oldKey = new TestKey();
        using var newKey = new TestKey();
        var oldKeys = await UploadDeviceKeysAsync(server, phone, oldKey);
        await UploadIdentityAsync(server, alice, identity);
        Assert.Empty((await UploadSignaturesAsync(server, alice, new JsonObject
        {
            [alice.UserId] = new JsonObject { ["PHONE"] = SignedBy(oldKeys, identity.SelfSigning, alice.UserId) },
        })).EnumerateObject());

        var (status, challenge) = await server.SendAsync(HttpMethod.Delete, V3 + "/devices/PHONE", alice.AccessToken, new JsonObject());
        Assert.Equal(401, status);
        (status, var body) = await server.SendAsync(HttpMethod.Delete, V3 + "/devices/PHONE", alice.AccessToken,
            new JsonObject { ["auth"] = PasswordAuth(alice, challenge) });
        Assert.True(status == 200, $"{status} {body}");
        var again = await Sync.ToDeviceContributorTests.LoginAsync(server, "alice", "PHONE");
        await UploadDeviceKeysAsync(server, again, newKey);

        var device = (await QueryAsync(server, bob, alice.UserId))["device_keys"]![alice.UserId]!["PHONE"]!;
        Assert.Equal(["ed25519:PHONE"], device["signatures"]![alice.UserId]!.AsObject().Select(p => p.Key));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task DeviceSigned_RoomMateSyncAndKeysChangesSeeTheUser(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice", deviceId: "PHONE");
        var bob = await server.RegisterAsync("bob");
        using var identity = new CrossSigningIdentity(alice.UserId);
        using var phoneKey = new TestKey();
        var phone = await UploadDeviceKeysAsync(server, alice, phoneKey);
        await UploadIdentityAsync(server, alice, identity);
        await ShareRoomAsync(server, alice, bob);
        string since = Next(await SyncAsync(server, bob));

        var waiting = WaitForChangeAsync(server, bob, since, alice.UserId);
        await Task.Delay(200);
        Assert.Empty((await UploadSignaturesAsync(server, alice, new JsonObject
        {
            [alice.UserId] = new JsonObject { ["PHONE"] = SignedBy(phone, identity.SelfSigning, alice.UserId) },
        })).EnumerateObject());
        var woken = await waiting;

        var (status, changes) = await server.SendAsync(HttpMethod.Get,
            $"{V3}/keys/changes?from={Uri.EscapeDataString(since)}&to={Uri.EscapeDataString(Next(woken))}", bob.AccessToken);
        Assert.True(status == 200, $"{status} {changes}");
        Assert.Contains(alice.UserId, changes.GetProperty("changed").EnumerateArray().Select(u => u.GetString()));
    }
}
