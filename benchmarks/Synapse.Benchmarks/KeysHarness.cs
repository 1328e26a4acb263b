using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using static Synapse.Benchmarks.BenchHttp;

namespace Synapse.Benchmarks;

/// <summary>
/// End-to-end key endpoint measurements against the real host in this process: <c>/keys/query</c> for a room's worth and
/// for every user, and <c>/keys/claim</c> from concurrent claimers (checking that no one-time key is handed out twice) and
/// for every device in one request. Usage:
/// <c>keys [--engine sqlite|postgres] [--users 200] [--otks 20] [--queries 50] [--claimers 20]</c>.
/// </summary>
internal static class KeysHarness
{
    public static async Task<int> RunAsync(string[] args)
    {
        string engine = Arg(args, "--engine", "sqlite");
        int users = int.Parse(Arg(args, "--users", "200"), CultureInfo.InvariantCulture);
        int otks = int.Parse(Arg(args, "--otks", "20"), CultureInfo.InvariantCulture);
        int queries = int.Parse(Arg(args, "--queries", "50"), CultureInfo.InvariantCulture);
        int claimers = int.Parse(Arg(args, "--claimers", "20"), CultureInfo.InvariantCulture);
        await using var server = await BenchServer.StartAsync(engine, maxConnections: claimers + 50);
        var http = server.Http;
        Console.WriteLine($"engine={engine} users={users} one-time keys/device={otks} queries={queries} claimers={claimers}");

        var setup = Stopwatch.StartNew();
        var devices = new List<(string UserId, string DeviceId)>(users);
        for (int i = 0; i < users; i++)
        {
            var (token, deviceId) = await RegisterDeviceAsync(http, $"k{i}");
            string userId = $"@k{i}:bench.local";
            await PostAsync(http, token, "/_matrix/client/v3/keys/upload", UploadBody(userId, deviceId, otks));
            devices.Add((userId, deviceId));
        }

        Console.WriteLine($"setup: {users} devices with keys, {otks} one-time keys and a fallback key each, in {setup.Elapsed.TotalSeconds:F1} s");
        string querier = await RegisterAsync(http, "querier");
        await QueryAsync(http, querier, devices.Take(20).ToList(), queries, "a room's worth (20 users)");
        await QueryAsync(http, querier, devices, queries, $"every user ({users})");
        await ClaimAsync(http, querier, devices, otks, claimers);
        return 0;
    }

    private static object UploadBody(string userId, string deviceId, int otks)
    {
        var signatures = new Dictionary<string, object> { [userId] = new Dictionary<string, string> { [$"ed25519:{deviceId}"] = "sig" } };
        return new
        {
            device_keys = new
            {
                user_id = userId,
                device_id = deviceId,
                algorithms = new[] { "m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2" },
                keys = new Dictionary<string, string> { [$"curve25519:{deviceId}"] = $"curve-{deviceId}", [$"ed25519:{deviceId}"] = $"ed-{deviceId}" },
                signatures,
            },
            one_time_keys = Enumerable.Range(0, otks).ToDictionary(
                k => $"signed_curve25519:{k:D4}", k => (object)new { key = $"otk-{deviceId}-{k}", signatures }),
            fallback_keys = new Dictionary<string, object>
            {
                ["signed_curve25519:fb"] = new { key = $"fallback-{deviceId}", fallback = true, signatures },
            },
        };
    }

    private static async Task QueryAsync(HttpClient http, string token, List<(string UserId, string DeviceId)> devices, int rounds, string label)
    {
        var body = new { device_keys = devices.ToDictionary(d => d.UserId, _ => Array.Empty<string>()) };
        var times = new List<double>(rounds);
        int returned = 0;
        for (int i = 0; i < rounds; i++)
        {
            var watch = Stopwatch.StartNew();
            var response = await PostAsync(http, token, "/_matrix/client/v3/keys/query", body);
            times.Add(watch.Elapsed.TotalMilliseconds);
            returned = response.GetProperty("device_keys").EnumerateObject().Sum(u => u.Value.EnumerateObject().Count());
        }

        times.Sort();
        Console.WriteLine($"keys/query, {label}: {returned} devices per response, p50 {Percentile(times, 0.5):F1} ms, p99 {Percentile(times, 0.99):F1} ms");
    }

    /// <summary>
    /// Half the one-time keys go to concurrent single-device claims, the rest to whole-population claims; one more round
    /// must hand out every fallback key. Every key handed out is recorded: a key seen twice is a correctness failure.
    /// </summary>
    private static async Task ClaimAsync(HttpClient http, string token, List<(string UserId, string DeviceId)> devices, int otks, int claimers)
    {
        var handedOut = new ConcurrentDictionary<string, int>(StringComparer.Ordinal);
        int fallbacks = 0;
        void Record(JsonElement response)
        {
            foreach (var user in response.GetProperty("one_time_keys").EnumerateObject())
            {
                foreach (var device in user.Value.EnumerateObject())
                {
                    foreach (var key in device.Value.EnumerateObject())
                    {
                        string value = key.Value.GetProperty("key").GetString()!;
                        if (value.StartsWith("fallback-", StringComparison.Ordinal))
                        {
                            Interlocked.Increment(ref fallbacks);
                        }
                        else
                        {
                            handedOut.AddOrUpdate(value, 1, (_, n) => n + 1);
                        }
                    }
                }
            }
        }

        object ClaimBody(IEnumerable<(string UserId, string DeviceId)> which) => new
        {
            one_time_keys = which.GroupBy(d => d.UserId).ToDictionary(
                g => g.Key, g => g.ToDictionary(d => d.DeviceId, _ => "signed_curve25519")),
        };

        // Concurrent single-device claims: every claimer walks all devices, starting at a different one.
        int singleRounds = otks / 2;
        int perClaimer = devices.Count * singleRounds / claimers;
        var single = new ConcurrentBag<double>();
        var wall = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, claimers).Select(async c =>
        {
            for (int i = 0; i < perClaimer; i++)
            {
                var device = devices[(c * perClaimer + i) % devices.Count];
                var watch = Stopwatch.StartNew();
                Record(await PostAsync(http, token, "/_matrix/client/v3/keys/claim", ClaimBody([device])));
                single.Add(watch.Elapsed.TotalMilliseconds);
            }
        }));
        double singleSeconds = wall.Elapsed.TotalSeconds;
        var singleSorted = single.Order().ToList();
        Console.WriteLine($"keys/claim, one device per request, {claimers} concurrent claimers: {single.Count} claims in {singleSeconds:F1} s " +
            $"({single.Count / singleSeconds:F0}/s), p50 {Percentile(singleSorted, 0.5):F1} ms, p99 {Percentile(singleSorted, 0.99):F1} ms");

        // Whole-population claims until every one-time key is gone, then one more that must return the fallback keys.
        var bulk = new List<double>();
        int remaining = otks - (claimers * perClaimer / devices.Count);
        for (int i = 0; i <= remaining; i++)
        {
            var watch = Stopwatch.StartNew();
            Record(await PostAsync(http, token, "/_matrix/client/v3/keys/claim", ClaimBody(devices)));
            bulk.Add(watch.Elapsed.TotalMilliseconds);
        }

        bulk.Sort();
        int duplicates = handedOut.Values.Sum(n => n - 1);
        Console.WriteLine($"keys/claim, all {devices.Count} devices per request: p50 {Percentile(bulk, 0.5):F1} ms, max {bulk[^1]:F1} ms");
        Console.WriteLine($"claims handed out {handedOut.Count} distinct one-time keys of {devices.Count * otks}, {duplicates} twice, " +
            $"{fallbacks} fallback keys");
    }
}
