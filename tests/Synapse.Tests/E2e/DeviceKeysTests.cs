using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Synapse.Configuration;
using Synapse.Identifiers;
using Synapse.Storage;
using Synapse.Streams;
using Synapse.Tests.Infrastructure;

namespace Synapse.Tests.E2e;

/// <summary>Requests and fixtures shared by the end-to-end key tests.</summary>
internal static class E2eKeysKit
{
    public const string V3 = "/_matrix/client/v3";

    /// <summary>A device_keys object for <paramref name="who"/>'s device, with made-up (but well-formed) keys.</summary>
    public static Dictionary<string, object> DeviceKeys(Session who, string curve = "curveKeyAAAA", string ed = "edKeyAAAA",
        string signature = "sigAAAA") => new()
        {
            ["user_id"] = who.UserId,
            ["device_id"] = who.DeviceId,
            ["algorithms"] = new[] { "m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2" },
            ["keys"] = new Dictionary<string, string> { ["curve25519:" + who.DeviceId] = curve, ["ed25519:" + who.DeviceId] = ed },
            ["signatures"] = new Dictionary<string, object>
            {
                [who.UserId] = new Dictionary<string, string> { ["ed25519:" + who.DeviceId] = signature },
            },
        };

    /// <summary>A signed_curve25519 key object.</summary>
    public static Dictionary<string, object> SignedKey(Session who, string key, bool fallback = false)
    {
        var signed = new Dictionary<string, object>
        {
            ["key"] = key,
            ["signatures"] = new Dictionary<string, object>
            {
                [who.UserId] = new Dictionary<string, string> { ["ed25519:" + who.DeviceId] = "sig-" + key },
            },
        };
        if (fallback)
        {
            signed["fallback"] = true;
        }

        return signed;
    }

    /// <summary><paramref name="count"/> signed one-time keys with IDs <c>signed_curve25519:{prefix}{i}</c>.</summary>
    public static Dictionary<string, object> OneTimeKeys(Session who, int count, string prefix = "K") =>
        Enumerable.Range(0, count).ToDictionary(i => $"signed_curve25519:{prefix}{i:D3}", i => (object)SignedKey(who, $"otk-{prefix}{i:D3}"));

    public static async Task<JsonElement> UploadAsync(TestHomeserver server, Session who, object body)
    {
        var (status, response) = await server.SendAsync(HttpMethod.Post, $"{V3}/keys/upload", who.AccessToken, body);
        Assert.True(status == 200, $"keys/upload: {status} {response}");
        return response.GetProperty("one_time_key_counts");
    }

    public static async Task<JsonElement> QueryAsync(TestHomeserver server, Session who, object deviceKeys, string prefix = V3)
    {
        var (status, response) = await server.SendAsync(HttpMethod.Post, $"{prefix}/keys/query", who.AccessToken,
            new { device_keys = deviceKeys });
        Assert.True(status == 200, $"keys/query: {status} {response}");
        return response;
    }

    public static async Task<JsonElement> ClaimAsync(TestHomeserver server, Session who, object oneTimeKeys)
    {
        var (status, response) = await server.SendAsync(HttpMethod.Post, $"{V3}/keys/claim", who.AccessToken,
            new { one_time_keys = oneTimeKeys });
        Assert.True(status == 200, $"keys/claim: {status} {response}");
        return response;
    }

    /// <summary>Claims one signed_curve25519 key of <paramref name="owner"/>'s device: (key ID, key object) or null.</summary>
    public static async Task<(string KeyId, JsonElement Key)?> ClaimOneAsync(TestHomeserver server, Session claimer, Session owner)
    {
        var response = await ClaimAsync(server, claimer, new Dictionary<string, object>
        {
            [owner.UserId] = new Dictionary<string, string> { [owner.DeviceId] = "signed_curve25519" },
        });
        if (!response.GetProperty("one_time_keys").TryGetProperty(owner.UserId, out var devices)
            || !devices.TryGetProperty(owner.DeviceId, out var keys))
        {
            return null;
        }

        var key = Assert.Single(keys.EnumerateObject());
        return (key.Name, key.Value.Clone());
    }

    public static async Task<JsonElement> SyncAsync(TestHomeserver server, Session who, string? since = null, int timeoutMs = 0)
    {
        string query = since is null ? "" : $"?since={since}&timeout={timeoutMs}";
        var (status, response) = await server.SendAsync(HttpMethod.Get, $"{V3}/sync{query}", who.AccessToken);
        Assert.True(status == 200, $"sync: {status} {response}");
        return response;
    }

    public static Dictionary<string, int> Counts(JsonElement counts) =>
        counts.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt32());

    public static async Task<string> CreateRoomAsync(TestHomeserver server, Session creator, params Session[] joiners)
    {
        var (status, created) = await server.SendAsync(HttpMethod.Post, $"{V3}/createRoom", creator.AccessToken, new { preset = "public_chat" });
        Assert.Equal(200, status);
        string roomId = created.GetProperty("room_id").GetString()!;
        foreach (var joiner in joiners)
        {
            Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"{V3}/join/{roomId}", joiner.AccessToken, new { })).Status);
        }

        return roomId;
    }

    public static SyncToken Current(TestHomeserver server) => server.Services.GetRequiredService<StreamRegistry>().CurrentToken();

    /// <summary>The device-list rows written since <paramref name="since"/>: (user, device).</summary>
    public static async Task<List<(string User, string Device)>> DeviceListRowsAsync(TestHomeserver server, SyncToken since) =>
        [.. (await server.Services.GetRequiredService<IDeviceListStore>()
            .GetRowsAsync(since[StreamNames.DeviceLists], Current(server)[StreamNames.DeviceLists], 1000, default))
            .Select(r => (r.UserId, r.DeviceId))];

    public static void AssertError(int expectedStatus, string errcode, (int Status, JsonElement Body) response)
    {
        Assert.True(response.Status == expectedStatus, $"expected {expectedStatus} {errcode}, got {response.Status} {response.Body}");
        Assert.Equal(errcode, response.Body.GetProperty("errcode").GetString());
    }
}

/// <summary>POST /keys/upload device_keys and POST /keys/query over real HTTP, on each engine.</summary>
public sealed class DeviceKeysTests
{
    private const string V3 = E2eKeysKit.V3;

    [Theory, ClassData(typeof(Engines))]
    public async Task Upload_DeviceKeys_QueryReturnsThemWithDisplayName(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice", deviceId: "PHONE");
        var bob = await server.RegisterAsync("bob");
        var laptop = await Sync.ToDeviceContributorTests.LoginAsync(server, "alice", "LAPTOP");
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Put, $"{V3}/devices/PHONE", alice.AccessToken, new { display_name = "Alice's phone" })).Status);

        var keys = E2eKeysKit.DeviceKeys(alice);
        keys["unsigned"] = new { injected = true };
        var counts = await E2eKeysKit.UploadAsync(server, alice, new { device_keys = keys });
        Assert.Equal(new Dictionary<string, int> { ["signed_curve25519"] = 0 }, E2eKeysKit.Counts(counts));

        // All devices of alice: only PHONE has keys; the LAPTOP (no keys) is left out. Unknown local users appear empty.
        var response = await E2eKeysKit.QueryAsync(server, bob, new Dictionary<string, string[]>
        {
            [alice.UserId] = [], ["@nobody:test.local"] = [],
        });
        var devices = response.GetProperty("device_keys").GetProperty(alice.UserId);
        var phone = Assert.Single(devices.EnumerateObject());
        Assert.Equal("PHONE", phone.Name);
        Assert.Equal(alice.UserId, phone.Value.GetProperty("user_id").GetString());
        Assert.Equal("PHONE", phone.Value.GetProperty("device_id").GetString());
        Assert.Equal("curveKeyAAAA", phone.Value.GetProperty("keys").GetProperty("curve25519:PHONE").GetString());
        Assert.Equal("sigAAAA", phone.Value.GetProperty("signatures").GetProperty(alice.UserId).GetProperty("ed25519:PHONE").GetString());
        Assert.Equal(2, phone.Value.GetProperty("algorithms").GetArrayLength());
        Assert.Equal("""{"device_display_name":"Alice's phone"}""", phone.Value.GetProperty("unsigned").GetRawText());
        Assert.Empty(response.GetProperty("device_keys").GetProperty("@nobody:test.local").EnumerateObject());
        Assert.Empty(response.GetProperty("failures").EnumerateObject());
        foreach (string section in new[] { "master_keys", "self_signing_keys", "user_signing_keys" })
        {
            Assert.Equal(JsonValueKind.Object, response.GetProperty(section).ValueKind);
        }

        // Both devices with keys; one named device; a device without a display name has an empty unsigned.
        await E2eKeysKit.UploadAsync(server, laptop, new { device_keys = E2eKeysKit.DeviceKeys(laptop, "curveLaptop", "edLaptop") });
        var both = (await E2eKeysKit.QueryAsync(server, bob, new Dictionary<string, string[]> { [alice.UserId] = [] }, "/_matrix/client/r0"))
            .GetProperty("device_keys").GetProperty(alice.UserId);
        Assert.Equal(["LAPTOP", "PHONE"], both.EnumerateObject().Select(d => d.Name).Order(StringComparer.Ordinal));
        Assert.Equal("{}", both.GetProperty("LAPTOP").GetProperty("unsigned").GetRawText());
        var named = (await E2eKeysKit.QueryAsync(server, bob, new Dictionary<string, string[]> { [alice.UserId] = ["LAPTOP", "GONE"] },
            "/_matrix/client/unstable")).GetProperty("device_keys").GetProperty(alice.UserId);
        Assert.Equal(["LAPTOP"], named.EnumerateObject().Select(d => d.Name));

        // Remote servers cannot be reached yet: a failure per server, their users left out.
        var remote = await E2eKeysKit.QueryAsync(server, bob, new Dictionary<string, string[]>
        {
            ["@carol:remote.example"] = [], ["@dan:remote.example"] = ["X"], ["@erin:other.example"] = [], [alice.UserId] = ["PHONE"],
        });
        Assert.Equal(["other.example", "remote.example"], remote.GetProperty("failures").EnumerateObject().Select(f => f.Name).Order(StringComparer.Ordinal));
        Assert.Equal(503, remote.GetProperty("failures").GetProperty("remote.example").GetProperty("status").GetInt32());
        Assert.Equal([alice.UserId], remote.GetProperty("device_keys").EnumerateObject().Select(u => u.Name));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Upload_ChangedIdentityKey_RejectedIdenticalIgnoredOtherChangesPublished(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");

        var t0 = E2eKeysKit.Current(server);
        await E2eKeysKit.UploadAsync(server, alice, new { device_keys = E2eKeysKit.DeviceKeys(alice) });
        Assert.Equal([(alice.UserId, alice.DeviceId)], await E2eKeysKit.DeviceListRowsAsync(server, t0));

        // The same keys again (even with a different "unsigned"): accepted, nothing published.
        var t1 = E2eKeysKit.Current(server);
        var again = E2eKeysKit.DeviceKeys(alice);
        again["unsigned"] = new { note = "ignored" };
        await E2eKeysKit.UploadAsync(server, alice, new { device_keys = again });
        Assert.Empty(await E2eKeysKit.DeviceListRowsAsync(server, t1));

        // A new curve25519 or ed25519 key for the same device: refused, the stored keys stay.
        E2eKeysKit.AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Post, $"{V3}/keys/upload", alice.AccessToken,
            new { device_keys = E2eKeysKit.DeviceKeys(alice, curve: "curveKeyBBBB") }));
        E2eKeysKit.AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Post, $"{V3}/keys/upload", alice.AccessToken,
            new { device_keys = E2eKeysKit.DeviceKeys(alice, ed: "edKeyBBBB") }));
        var withoutEd = E2eKeysKit.DeviceKeys(alice);
        withoutEd["keys"] = new Dictionary<string, string> { ["curve25519:" + alice.DeviceId] = "curveKeyAAAA" };
        E2eKeysKit.AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Post, $"{V3}/keys/upload", alice.AccessToken,
            new { device_keys = withoutEd }));
        Assert.Empty(await E2eKeysKit.DeviceListRowsAsync(server, t1));

        // A change that keeps the identity keys (a new signature, more algorithms) is stored and published.
        await E2eKeysKit.UploadAsync(server, alice, new { device_keys = E2eKeysKit.DeviceKeys(alice, signature: "sigBBBB") });
        Assert.Equal([(alice.UserId, alice.DeviceId)], await E2eKeysKit.DeviceListRowsAsync(server, t1));
        var device = (await E2eKeysKit.QueryAsync(server, bob, new Dictionary<string, string[]> { [alice.UserId] = [] }))
            .GetProperty("device_keys").GetProperty(alice.UserId).GetProperty(alice.DeviceId);
        Assert.Equal("sigBBBB", device.GetProperty("signatures").GetProperty(alice.UserId).GetProperty("ed25519:" + alice.DeviceId).GetString());
        Assert.Equal("curveKeyAAAA", device.GetProperty("keys").GetProperty("curve25519:" + alice.DeviceId).GetString());
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task DeleteDevice_RemovesItsKeys_NewDeviceOfSameIdStartsEmpty(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");
        var laptop = await Sync.ToDeviceContributorTests.LoginAsync(server, "alice", "LAPTOP");
        await E2eKeysKit.UploadAsync(server, laptop, new
        {
            device_keys = E2eKeysKit.DeviceKeys(laptop),
            one_time_keys = E2eKeysKit.OneTimeKeys(laptop, 3),
            fallback_keys = new Dictionary<string, object> { ["signed_curve25519:F1"] = E2eKeysKit.SignedKey(laptop, "fb1", fallback: true) },
        });
        await E2eKeysKit.UploadAsync(server, alice, new { device_keys = E2eKeysKit.DeviceKeys(alice), one_time_keys = E2eKeysKit.OneTimeKeys(alice, 1) });
        var laptopSync = await E2eKeysKit.SyncAsync(server, laptop);
        Assert.Equal(3, laptopSync.GetProperty("device_one_time_keys_count").GetProperty("signed_curve25519").GetInt32());

        var (status, body) = await server.SendAsync(HttpMethod.Post, $"{V3}/delete_devices", alice.AccessToken, new
        {
            devices = new[] { "LAPTOP" },
            auth = new { type = "m.login.password", identifier = new { type = "m.id.user", user = "alice" }, password = "correct horse battery" },
        });
        Assert.True(status == 200, $"{status} {body}");

        var devices = (await E2eKeysKit.QueryAsync(server, bob, new Dictionary<string, string[]> { [alice.UserId] = [] }))
            .GetProperty("device_keys").GetProperty(alice.UserId);
        Assert.Equal([alice.DeviceId], devices.EnumerateObject().Select(d => d.Name));
        Assert.Null(await E2eKeysKit.ClaimOneAsync(server, bob, laptop));
        Assert.NotNull(await E2eKeysKit.ClaimOneAsync(server, bob, alice));

        // Logging in again as LAPTOP: a new device with no keys (its sync does not see the old device's counts).
        var again = await Sync.ToDeviceContributorTests.LoginAsync(server, "alice", "LAPTOP");
        var sync = await E2eKeysKit.SyncAsync(server, again);
        Assert.Equal("""{"signed_curve25519":0}""", sync.GetProperty("device_one_time_keys_count").GetRawText());
        Assert.Equal("[]", sync.GetProperty("device_unused_fallback_key_types").GetRawText());

        // Deactivation removes the rest.
        var store = server.Services.GetRequiredService<IE2eKeyStore>();
        Assert.NotNull(await store.GetDeviceKeysAsync(UserId.Parse(alice.UserId), DeviceId.Parse(alice.DeviceId), default));
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"{V3}/account/deactivate", alice.AccessToken, new
        {
            auth = new { type = "m.login.password", identifier = new { type = "m.id.user", user = "alice" }, password = "correct horse battery" },
        })).Status);
        Assert.Null(await store.GetDeviceKeysAsync(UserId.Parse(alice.UserId), DeviceId.Parse(alice.DeviceId), default));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task UploadLegacyDevicePath_OwnDeviceStored_OtherDeviceRefused(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice", deviceId: "PHONE");

        var refused = await server.SendAsync(HttpMethod.Post, "/_matrix/client/r0/keys/upload/LAPTOP", alice.AccessToken,
            new { device_keys = E2eKeysKit.DeviceKeys(alice) });
        E2eKeysKit.AssertError(400, "M_INVALID_PARAM", refused);

        var (status, body) = await server.SendAsync(HttpMethod.Post, "/_matrix/client/r0/keys/upload/PHONE", alice.AccessToken,
            new { device_keys = E2eKeysKit.DeviceKeys(alice), one_time_keys = E2eKeysKit.OneTimeKeys(alice, 2) });
        Assert.True(status == 200, $"{status} {body}");
        Assert.Equal(2, body.GetProperty("one_time_key_counts").GetProperty("signed_curve25519").GetInt32());

        var response = await E2eKeysKit.QueryAsync(server, alice, new Dictionary<string, string[]> { [alice.UserId] = [] });
        Assert.Equal("PHONE", Assert.Single(response.GetProperty("device_keys").GetProperty(alice.UserId).EnumerateObject()).Name);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Upload_ConcurrentFirstUploadsWithDifferentIdentityKeys_ExactlyOneAccepted(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        for (int round = 0; round < 5; round++)
        {
            var who = await server.RegisterAsync($"racer{round}");
            var uploads = await Task.WhenAll(Enumerable.Range(0, 4).Select(i => server.SendAsync(HttpMethod.Post, $"{V3}/keys/upload",
                who.AccessToken, new { device_keys = E2eKeysKit.DeviceKeys(who, curve: $"curve{i}", ed: $"ed{i}") })));

            Assert.Equal(1, uploads.Count(u => u.Status == 200));
            Assert.All(uploads.Where(u => u.Status != 200), u => Assert.Equal("M_INVALID_PARAM", u.Body.GetProperty("errcode").GetString()));
            var stored = (await E2eKeysKit.QueryAsync(server, who, new Dictionary<string, string[]> { [who.UserId] = [] }))
                .GetProperty("device_keys").GetProperty(who.UserId).GetProperty(who.DeviceId).GetProperty("keys");
            string winner = stored.GetProperty("curve25519:" + who.DeviceId).GetString()!;
            Assert.Equal("ed" + winner["curve".Length..], stored.GetProperty("ed25519:" + who.DeviceId).GetString());
        }
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Upload_BadInput_SpecErrors(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");
        Task<(int, JsonElement)> Upload(object body) => server.SendAsync(HttpMethod.Post, $"{V3}/keys/upload", alice.AccessToken, body);
        Dictionary<string, object> Keys(Action<Dictionary<string, object>> change)
        {
            var keys = E2eKeysKit.DeviceKeys(alice);
            change(keys);
            return keys;
        }

        E2eKeysKit.AssertError(401, "M_MISSING_TOKEN", await server.SendAsync(HttpMethod.Post, $"{V3}/keys/upload", null, new { }));
        E2eKeysKit.AssertError(400, "M_NOT_JSON", await Upload("{not json"));
        E2eKeysKit.AssertError(400, "M_BAD_JSON", await Upload("[]"));
        E2eKeysKit.AssertError(400, "M_BAD_JSON", await Upload(new { device_keys = "x" }));

        // Someone else's user or device.
        E2eKeysKit.AssertError(400, "M_INVALID_PARAM", await Upload(new { device_keys = E2eKeysKit.DeviceKeys(bob) }));
        E2eKeysKit.AssertError(400, "M_INVALID_PARAM", await Upload(new { device_keys = Keys(k => k["device_id"] = "OTHER") }));

        // Shape of DeviceKeys.
        E2eKeysKit.AssertError(400, "M_MISSING_PARAM", await Upload(new { device_keys = Keys(k => k.Remove("user_id")) }));
        E2eKeysKit.AssertError(400, "M_MISSING_PARAM", await Upload(new { device_keys = Keys(k => k.Remove("algorithms")) }));
        E2eKeysKit.AssertError(400, "M_MISSING_PARAM", await Upload(new { device_keys = Keys(k => k.Remove("keys")) }));
        E2eKeysKit.AssertError(400, "M_MISSING_PARAM", await Upload(new { device_keys = Keys(k => k.Remove("signatures")) }));
        E2eKeysKit.AssertError(400, "M_BAD_JSON", await Upload(new { device_keys = Keys(k => k["algorithms"] = new[] { 1 }) }));
        E2eKeysKit.AssertError(400, "M_BAD_JSON", await Upload(new { device_keys = Keys(k => k["keys"] = new Dictionary<string, int> { ["ed25519:X"] = 1 }) }));
        E2eKeysKit.AssertError(400, "M_INVALID_PARAM", await Upload(new { device_keys = Keys(k => k["keys"] = new Dictionary<string, string> { ["ed25519"] = "k" }) }));
        E2eKeysKit.AssertError(400, "M_BAD_JSON", await Upload(new { device_keys = Keys(k => k["signatures"] = new Dictionary<string, string> { [alice.UserId] = "s" }) }));

        // One-time and fallback keys.
        E2eKeysKit.AssertError(400, "M_BAD_JSON", await Upload(new { one_time_keys = new[] { "k" } }));
        E2eKeysKit.AssertError(400, "M_BAD_JSON", await Upload(new { one_time_keys = new Dictionary<string, int> { ["signed_curve25519:A"] = 1 } }));
        E2eKeysKit.AssertError(400, "M_INVALID_PARAM", await Upload(new { one_time_keys = new Dictionary<string, string> { ["AAAA"] = "k" } }));
        E2eKeysKit.AssertError(400, "M_INVALID_PARAM", await Upload(new { one_time_keys = new Dictionary<string, string> { ["signed_curve25519:"] = "k" } }));
        E2eKeysKit.AssertError(400, "M_BAD_JSON", await Upload(new { one_time_keys = new Dictionary<string, object> { ["signed_curve25519:A"] = new { key = 5 } } }));
        E2eKeysKit.AssertError(400, "M_MISSING_PARAM", await Upload(new
        {
            one_time_keys = new Dictionary<string, object> { ["signed_curve25519:A"] = new { signatures = new { } } },
        }));
        E2eKeysKit.AssertError(400, "M_MISSING_PARAM", await Upload(new
        {
            fallback_keys = new Dictionary<string, object> { ["signed_curve25519:F"] = new { key = "k", fallback = true } },
        }));
        E2eKeysKit.AssertError(400, "M_BAD_JSON", await Upload(new { fallback_keys = "k" }));
        E2eKeysKit.AssertError(400, "M_INVALID_PARAM", await Upload(new
        {
            fallback_keys = new Dictionary<string, object>
            {
                ["signed_curve25519:F1"] = E2eKeysKit.SignedKey(alice, "a", true), ["signed_curve25519:F2"] = E2eKeysKit.SignedKey(alice, "b", true),
            },
        }));

        // Nothing of the refused uploads was stored.
        var sync = await E2eKeysKit.SyncAsync(server, alice);
        Assert.Equal("""{"signed_curve25519":0}""", sync.GetProperty("device_one_time_keys_count").GetRawText());
        Assert.Equal("[]", sync.GetProperty("device_unused_fallback_key_types").GetRawText());
        Assert.Empty((await E2eKeysKit.QueryAsync(server, bob, new Dictionary<string, string[]> { [alice.UserId] = [] }))
            .GetProperty("device_keys").GetProperty(alice.UserId).EnumerateObject());

        // An empty upload is fine and answers the counts.
        Assert.Equal("""{"signed_curve25519":0}""", (await E2eKeysKit.UploadAsync(server, alice, new { })).GetRawText());
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Query_BadInput_SpecErrors(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        Task<(int, JsonElement)> Query(object body) => server.SendAsync(HttpMethod.Post, $"{V3}/keys/query", alice.AccessToken, body);

        E2eKeysKit.AssertError(401, "M_MISSING_TOKEN", await server.SendAsync(HttpMethod.Post, $"{V3}/keys/query", null, new { device_keys = new { } }));
        E2eKeysKit.AssertError(400, "M_NOT_JSON", await Query("nope"));
        E2eKeysKit.AssertError(400, "M_MISSING_PARAM", await Query(new { }));
        E2eKeysKit.AssertError(400, "M_BAD_JSON", await Query(new { device_keys = new[] { alice.UserId } }));
        E2eKeysKit.AssertError(400, "M_BAD_JSON", await Query(new { device_keys = new Dictionary<string, string> { [alice.UserId] = "PHONE" } }));
        E2eKeysKit.AssertError(400, "M_BAD_JSON", await Query(new { device_keys = new Dictionary<string, int[]> { [alice.UserId] = [1] } }));
        E2eKeysKit.AssertError(400, "M_INVALID_PARAM", await Query(new { device_keys = new Dictionary<string, string[]> { ["alice"] = [] } }));
        E2eKeysKit.AssertError(400, "M_BAD_JSON", await Query(new { device_keys = new { }, timeout = "soon" }));
        E2eKeysKit.AssertError(400, "M_BAD_JSON", await Query(new { device_keys = new { }, timeout = -1 }));
        Assert.Equal(200, (await Query(new { device_keys = new { }, timeout = 10000 })).Item1);
    }
}
