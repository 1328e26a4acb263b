using System.Text.Json;
using Synapse.Configuration;
using Synapse.Tests.Infrastructure;

namespace Synapse.Tests.E2e;

/// <summary>One-time and fallback keys: upload, counts, claims (also concurrent), and /sync's counts, on each engine.</summary>
public sealed class OneTimeKeysTests
{
    private const string V3 = E2eKeysKit.V3;

    private static Dictionary<string, object> Fallback(Session who, string id, string key) =>
        new() { ["signed_curve25519:" + id] = E2eKeysKit.SignedKey(who, key, fallback: true) };

    private static async Task<(Dictionary<string, int> Counts, string[] FallbackTypes)> SyncCountsAsync(TestHomeserver server, Session who,
        string? since = null, int timeoutMs = 0)
    {
        var sync = await E2eKeysKit.SyncAsync(server, who, since, timeoutMs);
        return (E2eKeysKit.Counts(sync.GetProperty("device_one_time_keys_count")),
            [.. sync.GetProperty("device_unused_fallback_key_types").EnumerateArray().Select(t => t.GetString()!)]);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task UploadAndClaim_OneKeyPerClaim_CountsFollow(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");

        var keys = E2eKeysKit.OneTimeKeys(alice, 3);
        keys["curve25519:PLAIN"] = "plainCurveKey";
        var counts = await E2eKeysKit.UploadAsync(server, alice, new { one_time_keys = keys });
        Assert.Equal(new Dictionary<string, int> { ["curve25519"] = 1, ["signed_curve25519"] = 3 }, E2eKeysKit.Counts(counts));
        Assert.Equal(new Dictionary<string, int> { ["curve25519"] = 1, ["signed_curve25519"] = 3 }, (await SyncCountsAsync(server, alice)).Counts);

        // Claims hand out the keys one by one, as uploaded (the lowest key ID first), and never twice.
        var first = await E2eKeysKit.ClaimOneAsync(server, bob, alice);
        Assert.Equal("signed_curve25519:K000", first!.Value.KeyId);
        Assert.Equal("otk-K000", first.Value.Key.GetProperty("key").GetString());
        Assert.Equal("sig-otk-K000", first.Value.Key.GetProperty("signatures").GetProperty(alice.UserId).GetProperty("ed25519:" + alice.DeviceId).GetString());
        Assert.Equal(2, (await SyncCountsAsync(server, alice)).Counts["signed_curve25519"]);

        var plain = await E2eKeysKit.ClaimAsync(server, bob, new Dictionary<string, object>
        {
            [alice.UserId] = new Dictionary<string, string> { [alice.DeviceId] = "curve25519" },
        });
        Assert.Equal("plainCurveKey", plain.GetProperty("one_time_keys").GetProperty(alice.UserId).GetProperty(alice.DeviceId)
            .GetProperty("curve25519:PLAIN").GetString());

        Assert.Equal("signed_curve25519:K001", (await E2eKeysKit.ClaimOneAsync(server, bob, alice))!.Value.KeyId);
        Assert.Equal("signed_curve25519:K002", (await E2eKeysKit.ClaimOneAsync(server, bob, alice))!.Value.KeyId);
        Assert.Null(await E2eKeysKit.ClaimOneAsync(server, bob, alice));
        var (after, fallbackTypes) = await SyncCountsAsync(server, alice);
        Assert.Equal(new Dictionary<string, int> { ["signed_curve25519"] = 0 }, after);
        Assert.Empty(fallbackTypes);

        // Unknown users and devices are left out; remote servers are failures; an empty upload answers the counts.
        var mixed = await E2eKeysKit.ClaimAsync(server, bob, new Dictionary<string, object>
        {
            [alice.UserId] = new Dictionary<string, string> { ["NOSUCHDEVICE"] = "signed_curve25519" },
            ["@nobody:test.local"] = new Dictionary<string, string> { ["X"] = "signed_curve25519" },
            ["@carol:remote.example"] = new Dictionary<string, string> { ["Y"] = "signed_curve25519" },
        });
        Assert.Empty(mixed.GetProperty("one_time_keys").EnumerateObject());
        Assert.Equal(["remote.example"], mixed.GetProperty("failures").EnumerateObject().Select(f => f.Name));
        Assert.Equal("""{"signed_curve25519":0}""", (await E2eKeysKit.UploadAsync(server, alice, new { })).GetRawText());
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Reupload_SameKeyIdOtherContent_RejectedSameContentIgnored(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        await E2eKeysKit.UploadAsync(server, alice, new { one_time_keys = E2eKeysKit.OneTimeKeys(alice, 2) });

        // Identical keys again (a retried request): ignored, the counts stay.
        var counts = await E2eKeysKit.UploadAsync(server, alice, new { one_time_keys = E2eKeysKit.OneTimeKeys(alice, 2) });
        Assert.Equal(2, counts.GetProperty("signed_curve25519").GetInt32());

        // A known key ID with other content fails the whole upload: the new key beside it is not stored either.
        var conflicting = E2eKeysKit.OneTimeKeys(alice, 1, prefix: "NEW");
        conflicting["signed_curve25519:K001"] = E2eKeysKit.SignedKey(alice, "different");
        E2eKeysKit.AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Post, $"{V3}/keys/upload", alice.AccessToken,
            new { one_time_keys = conflicting }));
        Assert.Equal(2, (await SyncCountsAsync(server, alice)).Counts["signed_curve25519"]);

        // More keys: added.
        var more = E2eKeysKit.OneTimeKeys(alice, 2);
        foreach (var (id, key) in E2eKeysKit.OneTimeKeys(alice, 3, prefix: "M"))
        {
            more[id] = key;
        }

        Assert.Equal(5, (await E2eKeysKit.UploadAsync(server, alice, new { one_time_keys = more })).GetProperty("signed_curve25519").GetInt32());
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task ConcurrentClaims_TwentyForTenKeys_TenDistinctKeysThenFallback(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");
        var carol = await server.RegisterAsync("carol");
        await E2eKeysKit.UploadAsync(server, alice, new
        {
            one_time_keys = E2eKeysKit.OneTimeKeys(alice, 10),
            fallback_keys = Fallback(alice, "FB", "fallback-key"),
        });

        var claims = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => E2eKeysKit.ClaimOneAsync(server, i % 2 == 0 ? bob : carol, alice)));

        Assert.All(claims, c => Assert.NotNull(c));
        var ids = claims.Select(c => c!.Value.KeyId).ToList();
        var oneTime = ids.Where(id => id != "signed_curve25519:FB").ToList();
        Assert.Equal(10, oneTime.Count);
        Assert.Equal(10, oneTime.Distinct().Count());
        Assert.Equal(E2eKeysKit.OneTimeKeys(alice, 10).Keys.Order(StringComparer.Ordinal), oneTime.Order(StringComparer.Ordinal));
        Assert.Equal(10, ids.Count(id => id == "signed_curve25519:FB"));
        Assert.All(claims.Where(c => c!.Value.KeyId == "signed_curve25519:FB"),
            c => Assert.True(c!.Value.Key.GetProperty("fallback").GetBoolean()));

        var (counts, fallbackTypes) = await SyncCountsAsync(server, alice);
        Assert.Equal(0, counts["signed_curve25519"]);
        Assert.Empty(fallbackTypes);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task FallbackKey_UsedKeptUntilReplaced_UnstableNameAccepted(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");

        // A fresh device: the counts and the fallback types are always in /sync.
        var initial = await E2eKeysKit.SyncAsync(server, alice);
        Assert.Equal("""{"signed_curve25519":0}""", initial.GetProperty("device_one_time_keys_count").GetRawText());
        Assert.Equal("[]", initial.GetProperty("device_unused_fallback_key_types").GetRawText());
        string since = initial.GetProperty("next_batch").GetString()!;

        await E2eKeysKit.UploadAsync(server, alice, new Dictionary<string, object>
        {
            ["org.matrix.msc2732.fallback_keys"] = Fallback(alice, "F1", "first"),
            ["one_time_keys"] = E2eKeysKit.OneTimeKeys(alice, 1),
        });

        // Even a long poll that times out with nothing new carries them.
        var (counts, types) = await SyncCountsAsync(server, alice, since, timeoutMs: 200);
        Assert.Equal(1, counts["signed_curve25519"]);
        Assert.Equal(["signed_curve25519"], types);

        // The one-time key goes first; then the fallback key, as often as asked, marked used but kept.
        Assert.Equal("signed_curve25519:K000", (await E2eKeysKit.ClaimOneAsync(server, bob, alice))!.Value.KeyId);
        Assert.Equal(["signed_curve25519"], (await SyncCountsAsync(server, alice)).FallbackTypes);
        var fallback = await E2eKeysKit.ClaimOneAsync(server, bob, alice);
        Assert.Equal("signed_curve25519:F1", fallback!.Value.KeyId);
        Assert.Equal("first", fallback.Value.Key.GetProperty("key").GetString());
        Assert.Empty((await SyncCountsAsync(server, alice)).FallbackTypes);
        Assert.Equal("signed_curve25519:F1", (await E2eKeysKit.ClaimOneAsync(server, bob, alice))!.Value.KeyId);

        // Uploading the same key again does not make it unused; a new key replaces it, unused.
        await E2eKeysKit.UploadAsync(server, alice, new { fallback_keys = Fallback(alice, "F1", "first") });
        Assert.Empty((await SyncCountsAsync(server, alice)).FallbackTypes);
        await E2eKeysKit.UploadAsync(server, alice, new { fallback_keys = Fallback(alice, "F2", "second") });
        Assert.Equal(["signed_curve25519"], (await SyncCountsAsync(server, alice)).FallbackTypes);
        var replaced = await E2eKeysKit.ClaimOneAsync(server, bob, alice);
        Assert.Equal("signed_curve25519:F2", replaced!.Value.KeyId);
        Assert.Equal("second", replaced.Value.Key.GetProperty("key").GetString());

        // fallback_keys wins over the unstable name when both are sent.
        await E2eKeysKit.UploadAsync(server, alice, new Dictionary<string, object>
        {
            ["fallback_keys"] = Fallback(alice, "F3", "third"),
            ["org.matrix.msc2732.fallback_keys"] = Fallback(alice, "F4", "fourth"),
        });
        Assert.Equal("signed_curve25519:F3", (await E2eKeysKit.ClaimOneAsync(server, bob, alice))!.Value.KeyId);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Claim_BadInput_SpecErrors(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        Task<(int, JsonElement)> Claim(object body) => server.SendAsync(HttpMethod.Post, $"{V3}/keys/claim", alice.AccessToken, body);

        E2eKeysKit.AssertError(401, "M_MISSING_TOKEN", await server.SendAsync(HttpMethod.Post, $"{V3}/keys/claim", null, new { one_time_keys = new { } }));
        E2eKeysKit.AssertError(400, "M_NOT_JSON", await Claim("{"));
        E2eKeysKit.AssertError(400, "M_MISSING_PARAM", await Claim(new { }));
        E2eKeysKit.AssertError(400, "M_BAD_JSON", await Claim(new { one_time_keys = "all" }));
        E2eKeysKit.AssertError(400, "M_BAD_JSON", await Claim(new { one_time_keys = new Dictionary<string, string> { [alice.UserId] = "DEV" } }));
        E2eKeysKit.AssertError(400, "M_BAD_JSON", await Claim(new
        {
            one_time_keys = new Dictionary<string, object> { [alice.UserId] = new Dictionary<string, int> { ["DEV"] = 1 } },
        }));
        E2eKeysKit.AssertError(400, "M_INVALID_PARAM", await Claim(new
        {
            one_time_keys = new Dictionary<string, object> { ["not-a-user"] = new Dictionary<string, string> { ["DEV"] = "signed_curve25519" } },
        }));
        E2eKeysKit.AssertError(400, "M_BAD_JSON", await Claim(new { one_time_keys = new { }, timeout = "x" }));

        var (status, body) = await Claim(new { one_time_keys = new { }, timeout = 5000 });
        Assert.Equal(200, status);
        Assert.Equal("""{"one_time_keys":{},"failures":{}}""", body.GetRawText());
    }
}
