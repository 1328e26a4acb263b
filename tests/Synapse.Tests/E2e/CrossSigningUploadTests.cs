using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Synapse.Configuration;
using Synapse.Crypto;
using Synapse.Tests.Infrastructure;

namespace Synapse.Tests.E2e;

/// <summary>POST /keys/device_signing/upload over real HTTP, on each engine.</summary>
public sealed class CrossSigningUploadTests
{
    private const string V3 = "/_matrix/client/v3";
    private const string Upload = V3 + "/keys/device_signing/upload";

    [Theory, ClassData(typeof(Engines))]
    public async Task Upload_FirstWithoutAuth_IdenticalAgainWithoutAuth_NewKeysNeedAuth(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        using var first = new CrossSigningIdentity(alice.UserId);

        var (status, body) = await server.SendAsync(HttpMethod.Post, Upload, alice.AccessToken, first.UploadBody());
        Assert.True(status == 200, $"{status} {body}");
        Assert.Equal(first.Master.Public, (await MasterKeyAsync(server, alice, alice.UserId))?.PublicKeyOf());

        // A client retrying its bootstrap re-sends the same keys: nothing changes, nothing to authenticate.
        (status, body) = await server.SendAsync(HttpMethod.Post, Upload, alice.AccessToken, first.UploadBody());
        Assert.True(status == 200, $"{status} {body}");

        // Replacing keys needs user-interactive auth.
        using var second = new CrossSigningIdentity(alice.UserId);
        var upload = second.UploadBody();
        (status, body) = await server.SendAsync(HttpMethod.Post, Upload, alice.AccessToken, upload);
        Assert.Equal(401, status);
        Assert.Equal("m.login.password", body.GetProperty("flows")[0].GetProperty("stages")[0].GetString());
        Assert.Equal(first.Master.Public, (await MasterKeyAsync(server, alice, alice.UserId))?.PublicKeyOf());

        upload["auth"] = new JsonObject
        {
            ["type"] = "m.login.password",
            ["session"] = body.GetProperty("session").GetString(),
            ["identifier"] = new JsonObject { ["type"] = "m.id.user", ["user"] = alice.UserId },
            ["password"] = "correct horse battery",
        };
        (status, body) = await server.SendAsync(HttpMethod.Post, Upload, alice.AccessToken, upload);
        Assert.True(status == 200, $"{status} {body}");
        Assert.Equal(second.Master.Public, (await MasterKeyAsync(server, alice, alice.UserId))?.PublicKeyOf());

        // Re-sending only part of the stored keys is also no change.
        (status, body) = await server.SendAsync(HttpMethod.Post, Upload, alice.AccessToken,
            new JsonObject { ["self_signing_key"] = second.SelfSigningKey() });
        Assert.True(status == 200, $"{status} {body}");
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Login_DeviceIdEqualToACrossSigningPublicKey_RefusedAndNoDeviceCreated(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        using var identity = new CrossSigningIdentity(alice.UserId);
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, Upload, alice.AccessToken, identity.UploadBody())).Status);

        foreach (var key in new[] { identity.Master, identity.SelfSigning, identity.UserSigning })
        {
            var (status, body) = await server.SendAsync(HttpMethod.Post, V3 + "/login", null, new JsonObject
            {
                ["type"] = "m.login.password",
                ["identifier"] = new JsonObject { ["type"] = "m.id.user", ["user"] = "alice" },
                ["password"] = "correct horse battery",
                ["device_id"] = key.Public,
            });
            Assert.True(status == 400, $"{status} {body}");
            Assert.Equal("M_INVALID_PARAM", body.GetProperty("errcode").GetString());
        }

        var (_, devices) = await server.SendAsync(HttpMethod.Get, V3 + "/devices", alice.AccessToken);
        Assert.Equal([alice.DeviceId], devices.GetProperty("devices").EnumerateArray().Select(d => d.GetProperty("device_id").GetString()));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Upload_WrongPassword_RejectedAndKeysKept(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        using var first = new CrossSigningIdentity(alice.UserId);
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, Upload, alice.AccessToken, first.UploadBody())).Status);

        using var second = new CrossSigningIdentity(alice.UserId);
        var upload = second.UploadBody();
        upload["auth"] = new JsonObject
        {
            ["type"] = "m.login.password",
            ["identifier"] = new JsonObject { ["type"] = "m.id.user", ["user"] = alice.UserId },
            ["password"] = "wrong",
        };
        var (status, body) = await server.SendAsync(HttpMethod.Post, Upload, alice.AccessToken, upload);
        Assert.Equal(401, status);
        Assert.Equal("M_FORBIDDEN", body.GetProperty("errcode").GetString());
        Assert.Equal(first.Master.Public, (await MasterKeyAsync(server, alice, alice.UserId))?.PublicKeyOf());
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Upload_SelfSigningKeyNotSignedByMaster_RejectedWithInvalidSignature(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        using var identity = new CrossSigningIdentity(alice.UserId);
        using var stranger = new TestKey();

        // Unsigned.
        var upload = identity.UploadBody();
        upload["self_signing_key"] = CrossSigningIdentity.KeyObject(alice.UserId, "self_signing", identity.SelfSigning);
        await AssertErrorAsync(server, alice, upload, 400, "M_INVALID_SIGNATURE");

        // Signed by another key under the master's key ID: the signature does not verify.
        upload = identity.UploadBody();
        var forged = CrossSigningIdentity.KeyObject(alice.UserId, "self_signing", identity.SelfSigning);
        stranger.Sign(forged, alice.UserId, identity.Master.KeyId);
        upload["self_signing_key"] = forged;
        await AssertErrorAsync(server, alice, upload, 400, "M_INVALID_SIGNATURE");

        // The user-signing key likewise.
        upload = identity.UploadBody();
        var userSigning = CrossSigningIdentity.KeyObject(alice.UserId, "user_signing", identity.UserSigning);
        stranger.Sign(userSigning, alice.UserId);
        upload["user_signing_key"] = userSigning;
        await AssertErrorAsync(server, alice, upload, 400, "M_INVALID_SIGNATURE");

        Assert.Null(await MasterKeyAsync(server, alice, alice.UserId));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Upload_SelfSigningKeyAlone_CheckedAgainstStoredMaster(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        using var identity = new CrossSigningIdentity(alice.UserId);

        // No master key at all: nothing to check the self-signing key against.
        await AssertErrorAsync(server, alice, new JsonObject { ["self_signing_key"] = identity.SelfSigningKey() }, 400, "M_MISSING_PARAM");

        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, Upload, alice.AccessToken,
            new JsonObject { ["master_key"] = identity.MasterKey() })).Status);

        // A self-signing key signed by the stored master key: accepted (with UIA, the user has keys now).
        using var newSelfSigning = new TestKey();
        var selfSigning = CrossSigningIdentity.KeyObject(alice.UserId, "self_signing", newSelfSigning);
        identity.Master.Sign(selfSigning, alice.UserId);
        var (status, challenge) = await server.SendAsync(HttpMethod.Post, Upload, alice.AccessToken,
            new JsonObject { ["self_signing_key"] = selfSigning.DeepClone() });
        Assert.Equal(401, status);
        var (ok, body) = await server.SendAsync(HttpMethod.Post, Upload, alice.AccessToken, new JsonObject
        {
            ["self_signing_key"] = selfSigning.DeepClone(),
            ["auth"] = PasswordAuth(alice, challenge),
        });
        Assert.True(ok == 200, $"{ok} {body}");

        var query = await QueryAsync(server, alice, alice.UserId);
        Assert.Equal(newSelfSigning.Public, query["self_signing_keys"]![alice.UserId]!.AsObject().PublicKeyOf());
        Assert.False(query["user_signing_keys"]!.AsObject().ContainsKey(alice.UserId));

        // Signed by a stranger instead of the stored master key: rejected before any UIA.
        using var stranger = new TestKey();
        using var other = new TestKey();
        var forged = CrossSigningIdentity.KeyObject(alice.UserId, "self_signing", other);
        stranger.Sign(forged, alice.UserId, identity.Master.KeyId);
        await AssertErrorAsync(server, alice, new JsonObject { ["self_signing_key"] = forged }, 400, "M_INVALID_SIGNATURE");
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Upload_KeyEqualToADeviceId_Forbidden(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        using var identity = new CrossSigningIdentity("@alice:test.local");
        var alice = await server.RegisterAsync("alice", deviceId: identity.Master.Public);

        await AssertErrorAsync(server, alice, identity.UploadBody(), 403, "M_FORBIDDEN");
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Upload_UnstableAndR0Prefixes_Served(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");
        using var a = new CrossSigningIdentity(alice.UserId);
        using var b = new CrossSigningIdentity(bob.UserId);

        var (status, body) = await server.SendAsync(HttpMethod.Post, "/_matrix/client/unstable/keys/device_signing/upload",
            alice.AccessToken, a.UploadBody());
        Assert.True(status == 200, $"{status} {body}");
        (status, body) = await server.SendAsync(HttpMethod.Post, "/_matrix/client/r0/keys/device_signing/upload",
            bob.AccessToken, b.UploadBody());
        Assert.True(status == 200, $"{status} {body}");
        (status, body) = await server.SendAsync(HttpMethod.Post, "/_matrix/client/unstable/keys/signatures/upload",
            alice.AccessToken, new JsonObject());
        Assert.True(status == 200, $"{status} {body}");
        Assert.Empty(body.GetProperty("failures").EnumerateObject());
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Upload_NewKeys_RoomMateSyncSeesDeviceListChange(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");
        var carol = await server.RegisterAsync("carol");
        await ShareRoomAsync(server, alice, bob);
        string bobSince = Next(await SyncAsync(server, bob));
        string carolSince = Next(await SyncAsync(server, carol));
        string aliceSince = Next(await SyncAsync(server, alice));

        var waiting = WaitForChangeAsync(server, bob, bobSince, alice.UserId);
        await Task.Delay(200);
        using var identity = new CrossSigningIdentity(alice.UserId);
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, Upload, alice.AccessToken, identity.UploadBody())).Status);

        var woken = await waiting;
        Assert.Contains(alice.UserId, Changed(await SyncAsync(server, alice, aliceSince)));
        Assert.DoesNotContain(alice.UserId, Changed(await SyncAsync(server, carol, carolSince)));

        // The identical re-upload changes nothing and tells nobody.
        string next = Next(woken);
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, Upload, alice.AccessToken, identity.UploadBody())).Status);
        Assert.DoesNotContain(alice.UserId, Changed(await SyncAsync(server, bob, next)));
    }

    public static TheoryData<string, int, string> BadBodies()
    {
        using var key = new TestKey();
        return new TheoryData<string, int, string>
        {
            { "not json", 400, "M_NOT_JSON" },
            { "[]", 400, "M_BAD_JSON" },
            { """{"master_key":"x"}""", 400, "M_BAD_JSON" },
            { """{"master_key":{"usage":["master"],"keys":KEYS}}""".Fill(key), 400, "M_MISSING_PARAM" },
            { """{"master_key":{"user_id":5,"usage":["master"],"keys":KEYS}}""".Fill(key), 400, "M_BAD_JSON" },
            { """{"master_key":{"user_id":"@bob:test.local","usage":["master"],"keys":KEYS}}""".Fill(key), 400, "M_INVALID_PARAM" },
            { """{"master_key":{"user_id":"USER","keys":KEYS}}""".Fill(key), 400, "M_MISSING_PARAM" },
            { """{"master_key":{"user_id":"USER","usage":"master","keys":KEYS}}""".Fill(key), 400, "M_BAD_JSON" },
            { """{"master_key":{"user_id":"USER","usage":["self_signing"],"keys":KEYS}}""".Fill(key), 400, "M_INVALID_PARAM" },
            { """{"master_key":{"user_id":"USER","usage":["master"]}}""".Fill(key), 400, "M_MISSING_PARAM" },
            { """{"master_key":{"user_id":"USER","usage":["master"],"keys":[]}}""".Fill(key), 400, "M_BAD_JSON" },
            { """{"master_key":{"user_id":"USER","usage":["master"],"keys":{}}}""".Fill(key), 400, "M_INVALID_PARAM" },
            { """{"master_key":{"user_id":"USER","usage":["master"],"keys":{"ed25519:a":"a","ed25519:b":"b"}}}""".Fill(key), 400, "M_INVALID_PARAM" },
            { """{"master_key":{"user_id":"USER","usage":["master"],"keys":{"curve25519:PUB":"PUB"}}}""".Fill(key), 400, "M_INVALID_PARAM" },
            { """{"master_key":{"user_id":"USER","usage":["master"],"keys":{"ed25519:PUB":"other"}}}""".Fill(key), 400, "M_INVALID_PARAM" },
            { """{"master_key":{"user_id":"USER","usage":["master"],"keys":{"ed25519:c2hvcnQ":"c2hvcnQ"}}}""".Fill(key), 400, "M_INVALID_PARAM" },
            { """{"master_key":{"user_id":"USER","usage":["master"],"keys":KEYS,"signatures":[]}}""".Fill(key), 400, "M_BAD_JSON" },
            { """{"master_key":{"user_id":"USER","usage":["master"],"keys":KEYS,"x":1.5}}""".Fill(key), 400, "M_BAD_JSON" },
            { """{"master_key":{"user_id":"USER","usage":["master"],"keys":KEYS},"self_signing_key":{"user_id":"USER","usage":["self_signing"],"keys":KEYS}}""".Fill(key), 400, "M_INVALID_PARAM" },
        };
    }

    [Theory, MemberData(nameof(BadBodies))]
    public async Task Upload_BadInput_SpecErrors(string raw, int expectedStatus, string errcode)
    {
        await using var server = await TestHomeserver.StartAsync(DatabaseEngine.Sqlite);
        var alice = await server.RegisterAsync("alice");
        var (status, body) = await server.SendAsync(HttpMethod.Post, Upload, alice.AccessToken, raw);
        Assert.True(status == expectedStatus, $"{status} {body}");
        if (errcode.Length > 0)
        {
            Assert.Equal(errcode, body.GetProperty("errcode").GetString());
        }

        Assert.Equal(expectedStatus == 200, await MasterKeyAsync(server, alice, alice.UserId) is not null);
    }

    [Fact]
    public async Task Endpoints_NoToken_MissingToken()
    {
        await using var server = await TestHomeserver.StartAsync(DatabaseEngine.Sqlite);
        foreach (string path in new[] { Upload, V3 + "/keys/signatures/upload" })
        {
            var (status, body) = await server.SendAsync(HttpMethod.Post, path, null, new JsonObject());
            Assert.Equal(401, status);
            Assert.Equal("M_MISSING_TOKEN", body.GetProperty("errcode").GetString());
        }
    }

    private static async Task AssertErrorAsync(TestHomeserver server, Session who, JsonObject body, int status, string errcode)
    {
        var (actual, response) = await server.SendAsync(HttpMethod.Post, Upload, who.AccessToken, body);
        Assert.True(actual == status, $"{actual} {response}");
        Assert.Equal(errcode, response.GetProperty("errcode").GetString());
    }

    internal static JsonObject PasswordAuth(Session who, JsonElement challenge) => new()
    {
        ["type"] = "m.login.password",
        ["session"] = challenge.GetProperty("session").GetString(),
        ["identifier"] = new JsonObject { ["type"] = "m.id.user", ["user"] = who.UserId },
        ["password"] = "correct horse battery",
    };

    /// <summary>POST /keys/query by <paramref name="who"/> for every device of <paramref name="users"/>.</summary>
    internal static async Task<JsonObject> QueryAsync(TestHomeserver server, Session who, params string[] users)
    {
        var deviceKeys = new JsonObject();
        foreach (string user in users)
        {
            deviceKeys[user] = new JsonArray();
        }

        var (status, body) = await server.SendAsync(HttpMethod.Post, V3 + "/keys/query", who.AccessToken,
            new JsonObject { ["device_keys"] = deviceKeys });
        Assert.True(status == 200, $"keys/query: {status} {body}");
        return JsonNode.Parse(body.GetRawText())!.AsObject();
    }

    private static async Task<JsonObject?> MasterKeyAsync(TestHomeserver server, Session who, string user) =>
        (await QueryAsync(server, who, user))["master_keys"]![user] as JsonObject;

    internal static async Task ShareRoomAsync(TestHomeserver server, Session a, Session b)
    {
        var (_, created) = await server.SendAsync(HttpMethod.Post, $"{V3}/createRoom", a.AccessToken, new { preset = "public_chat" });
        string roomId = created.GetProperty("room_id").GetString()!;
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"{V3}/join/{roomId}", b.AccessToken, new { })).Status);
    }

    internal static async Task<JsonElement> SyncAsync(TestHomeserver server, Session who, string? since = null, int timeout = 0)
    {
        string path = $"{V3}/sync?timeout={timeout}" + (since is null ? "" : "&since=" + Uri.EscapeDataString(since));
        var (status, body) = await server.SendAsync(HttpMethod.Get, path, who.AccessToken);
        Assert.True(status == 200, $"sync: {status} {body}");
        return body;
    }

    /// <summary>Long-polls (other streams, such as presence, may wake it first) until <paramref name="user"/> is in changed.</summary>
    internal static async Task<JsonElement> WaitForChangeAsync(TestHomeserver server, Session who, string since, string user)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var sync = await SyncAsync(server, who, since, timeout: 10_000);
            if (Changed(sync).Contains(user))
            {
                return sync;
            }

            Assert.True(DateTime.UtcNow < deadline, $"{user} never reported in device_lists.changed");
            since = Next(sync);
        }
    }

    internal static string Next(JsonElement sync) => sync.GetProperty("next_batch").GetString()!;

    internal static List<string?> Changed(JsonElement sync) =>
        sync.TryGetProperty("device_lists", out var lists) && lists.TryGetProperty("changed", out var changed)
            ? [.. changed.EnumerateArray().Select(u => u.GetString())]
            : [];
}

/// <summary>An ed25519 key pair a test signs with, as a client would.</summary>
internal sealed class TestKey : IDisposable
{
    private readonly SigningKey _key;

    public TestKey()
    {
        Span<byte> seed = stackalloc byte[32];
        RandomNumberGenerator.Fill(seed);
        _key = SigningKey.FromSeed("k", seed);
    }

    public string Public => _key.PublicKey;

    /// <summary>The key's ID as a cross-signing key.</summary>
    public string KeyId => "ed25519:" + Public;

    /// <summary>Signs <paramref name="json"/> as <paramref name="signer"/> under <paramref name="keyId"/> (default <see cref="KeyId"/>).</summary>
    public JsonObject Sign(JsonObject json, string signer, string? keyId = null)
    {
        byte[] canonical = JsonSigning.EncodeCanonical(json, strict: true, ["signatures", "unsigned"]);
        string signature = UnpaddedBase64.Encode(_key.Sign(canonical));
        if (json["signatures"] is not JsonObject signatures)
        {
            signatures = [];
            json["signatures"] = signatures;
        }

        if (signatures[signer] is not JsonObject bySigner)
        {
            bySigner = [];
            signatures[signer] = bySigner;
        }

        bySigner[keyId ?? KeyId] = signature;
        return json;
    }

    public void Dispose() => _key.Dispose();
}

/// <summary>A user's three cross-signing keys, and the key objects a client uploads for them.</summary>
internal sealed class CrossSigningIdentity : IDisposable
{
    public CrossSigningIdentity(string userId) => UserId = userId;

    public string UserId { get; }

    public TestKey Master { get; } = new();

    public TestKey SelfSigning { get; } = new();

    public TestKey UserSigning { get; } = new();

    public static JsonObject KeyObject(string userId, string usage, TestKey key) => new()
    {
        ["user_id"] = userId,
        ["usage"] = new JsonArray(usage),
        ["keys"] = new JsonObject { [key.KeyId] = key.Public },
    };

    public JsonObject MasterKey() => KeyObject(UserId, "master", Master);

    public JsonObject SelfSigningKey() => Master.Sign(KeyObject(UserId, "self_signing", SelfSigning), UserId);

    public JsonObject UserSigningKey() => Master.Sign(KeyObject(UserId, "user_signing", UserSigning), UserId);

    public JsonObject UploadBody() => new()
    {
        ["master_key"] = MasterKey(),
        ["self_signing_key"] = SelfSigningKey(),
        ["user_signing_key"] = UserSigningKey(),
    };

    public void Dispose()
    {
        Master.Dispose();
        SelfSigning.Dispose();
        UserSigning.Dispose();
    }
}

internal static class CrossSigningJsonExtensions
{
    /// <summary>Fills the placeholders USER, KEYS and PUB of a test body.</summary>
    public static string Fill(this string template, TestKey key) => template
        .Replace("USER", "@alice:test.local", StringComparison.Ordinal)
        .Replace("PUB", key.Public, StringComparison.Ordinal)
        .Replace("KEYS", $$"""{"ed25519:{{key.Public}}":"{{key.Public}}"}""", StringComparison.Ordinal);

    /// <summary>The public key of a cross-signing key object (its single <c>keys</c> value).</summary>
    public static string? PublicKeyOf(this JsonObject key) =>
        key["keys"]?.AsObject().Select(k => k.Value?.GetValue<string>()).FirstOrDefault();
}
