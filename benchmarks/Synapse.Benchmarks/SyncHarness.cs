using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Synapse.Configuration;
using Synapse.Homeserver;

namespace Synapse.Benchmarks;

/// <summary>
/// End-to-end /sync measurements against the real host in this process (real Kestrel, real HTTP on loopback):
/// send→sync latency with many long-polling users, initial sync of a user in many rooms, and allocations per
/// incremental sync. Usage:
/// <c>sync [--engine sqlite|postgres] [--users 1000] [--messages 20] [--rooms 100] [--events 50]</c>
/// (PostgreSQL: SYNAPSE_TEST_PG_HOST/PORT/USER and a database named by SYNAPSE_BENCH_PG_DB, default postgres).
/// </summary>
internal static class SyncHarness
{
    public static async Task<int> RunAsync(string[] args)
    {
        string engine = Arg(args, "--engine", "sqlite");
        int users = int.Parse(Arg(args, "--users", "1000"), CultureInfo.InvariantCulture);
        int messages = int.Parse(Arg(args, "--messages", "20"), CultureInfo.InvariantCulture);
        int rooms = int.Parse(Arg(args, "--rooms", "100"), CultureInfo.InvariantCulture);
        int events = int.Parse(Arg(args, "--events", "50"), CultureInfo.InvariantCulture);
        string directory = Directory.CreateTempSubdirectory("synapse-sync-bench-").FullName;
        var options = new HomeserverOptions
        {
            ServerName = "bench.local",
            Listeners = [new ListenerOptions { Port = 0, BindAddresses = ["127.0.0.1"], Type = "http", Resources = new HashSet<string> { "client" } }],
            Database = engine == "postgres"
                ? new DatabaseOptions
                {
                    Engine = DatabaseEngine.Postgres,
                    Host = Environment.GetEnvironmentVariable("SYNAPSE_TEST_PG_HOST") ?? "127.0.0.1",
                    Port = int.Parse(Environment.GetEnvironmentVariable("SYNAPSE_TEST_PG_PORT") ?? "5432", CultureInfo.InvariantCulture),
                    User = Environment.GetEnvironmentVariable("SYNAPSE_TEST_PG_USER") ?? "postgres",
                    DatabaseName = Environment.GetEnvironmentVariable("SYNAPSE_BENCH_PG_DB") ?? "postgres",
                    MinPoolSize = 10,
                    MaxPoolSize = 50,
                }
                : new DatabaseOptions { Engine = DatabaseEngine.Sqlite, SqlitePath = Path.Combine(directory, "bench.db") },
            EnableRegistration = true,
            EnableRegistrationWithoutVerification = true,
            SigningKeyPath = Path.Combine(directory, "signing.key"),
            Password = new PasswordOptions { BcryptRounds = 4 },
            RcLogin = new LoginRateLimitOptions { Address = Unlimited, Account = Unlimited, FailedAttempts = Unlimited },
            RcRegistration = Unlimited,
        };

        await using var app = await HomeserverApp.BuildAsync(options, [], logging =>
            logging.Services.Configure<Microsoft.Extensions.Logging.LoggerFilterOptions>(o => o.MinLevel = Microsoft.Extensions.Logging.LogLevel.Warning));
        await app.StartAsync();
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = users + 50, PooledConnectionLifetime = TimeSpan.FromMinutes(30) })
        {
            BaseAddress = new Uri(app.BoundAddresses()[0]),
            Timeout = TimeSpan.FromMinutes(5),
        };
        Console.WriteLine($"engine={engine} users={users} messages={messages} rooms={rooms} events/room={events}");

        var sender = await RegisterAsync(http, "sender");
        string room = await CreateRoomAsync(http, sender);
        var receivers = new List<string>(users);
        var setup = Stopwatch.StartNew();
        for (int i = 0; i < users; i++)
        {
            string token = await RegisterAsync(http, $"user{i}");
            await PostAsync(http, token, $"/_matrix/client/v3/join/{room}", new { });
            receivers.Add(token);
        }

        Console.WriteLine($"setup: {users} users registered and joined in {setup.Elapsed.TotalSeconds:F1} s");
        await FanoutAsync(http, sender, room, receivers, messages);
        await InitialSyncAsync(http, rooms, events);
        await IncrementalAllocationsAsync(http, sender, room, receivers[0]);
        await app.StopAsync();
        return 0;
    }

    private static readonly RateLimitOptions Unlimited = new() { PerSecond = 1_000_000, BurstCount = 1_000_000 };

    /// <summary>Every receiver long-polls; each message's latency is from the send response to each receiver's sync.</summary>
    private static async Task FanoutAsync(HttpClient http, string sender, string room, List<string> receivers, int messages)
    {
        var sent = new System.Collections.Concurrent.ConcurrentDictionary<string, long>();
        var latencies = new System.Collections.Concurrent.ConcurrentBag<double>();
        int duplicates = 0;
        using var stop = new CancellationTokenSource();
        using var ready = new CountdownEvent(receivers.Count);
        var pollers = receivers.Select(async token =>
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            string since = (await GetAsync(http, token, "/_matrix/client/v3/sync?timeout=0")).GetProperty("next_batch").GetString()!;
            ready.Signal();
            while (!stop.IsCancellationRequested)
            {
                JsonElement sync;
                try
                {
                    sync = await GetAsync(http, token, $"/_matrix/client/v3/sync?timeout=30000&since={Uri.EscapeDataString(since)}", stop.Token);
                }
                catch (OperationCanceledException)
                {
                    break;
                }

                long received = Stopwatch.GetTimestamp();
                since = sync.GetProperty("next_batch").GetString()!;
                if (sync.GetProperty("rooms").GetProperty("join").TryGetProperty(room, out var joined))
                {
                    foreach (var e in joined.GetProperty("timeline").GetProperty("events").EnumerateArray())
                    {
                        string id = e.GetProperty("event_id").GetString()!;
                        if (!seen.Add(id))
                        {
                            Interlocked.Increment(ref duplicates);
                        }

                        // The poller may see an event before the sender's response arrives: spin briefly for its timestamp.
                        if (e.GetProperty("type").GetString() == "m.room.message")
                        {
                            long start = 0;
                            for (int i = 0; i < 1000 && !sent.TryGetValue(id, out start); i++)
                            {
                                await Task.Delay(1);
                            }

                            if (start != 0)
                            {
                                latencies.Add(Math.Max(0, Stopwatch.GetElapsedTime(start, received).TotalMilliseconds));
                            }
                        }
                    }
                }
            }
        }).ToList();

        // Measure fan-out, not initial syncs: send once every receiver has its token and is long-polling.
        var initial = Stopwatch.StartNew();
        await Task.Run(() => ready.Wait());
        Console.WriteLine($"initial syncs: {receivers.Count} receivers in a {receivers.Count + 1}-member room in {initial.Elapsed.TotalSeconds:F1} s");
        await Task.Delay(1000);
        for (int i = 0; i < messages; i++)
        {
            var (id, at) = await SendAsync(http, sender, room, $"m{i}");
            sent[id] = at;
            await Task.Delay(500);
        }

        await Task.Delay(5000);
        stop.Cancel();
        await Task.WhenAll(pollers);
        var sorted = latencies.Order().ToList();
        int expected = messages * receivers.Count;
        Console.WriteLine($"fanout: {sorted.Count}/{expected} deliveries, {duplicates} duplicates, send→sync latency " +
            $"p50 {Percentile(sorted, 0.50):F1} ms, p99 {Percentile(sorted, 0.99):F1} ms, max {sorted.LastOrDefault():F1} ms");
    }

    private static async Task InitialSyncAsync(HttpClient http, int rooms, int events)
    {
        string user = await RegisterAsync(http, "many");
        for (int r = 0; r < rooms; r++)
        {
            string room = await CreateRoomAsync(http, user);
            for (int e = 0; e < events; e++)
            {
                await SendAsync(http, user, room, $"r{r}e{e}");
            }
        }

        await GetAsync(http, user, "/_matrix/client/v3/sync?timeout=0");
        var times = new List<double>();
        long bytes = 0;
        for (int i = 0; i < 5; i++)
        {
            var watch = Stopwatch.StartNew();
            using var request = new HttpRequestMessage(HttpMethod.Get, "/_matrix/client/v3/sync?timeout=0");
            request.Headers.Authorization = new("Bearer", user);
            using var response = await http.SendAsync(request);
            bytes = (await response.Content.ReadAsByteArrayAsync()).Length;
            times.Add(watch.Elapsed.TotalMilliseconds);
        }

        Console.WriteLine($"initial sync: {rooms} rooms × {events} events: median {Percentile(times.Order().ToList(), 0.5):F0} ms, {bytes / 1024} KiB");
    }

    private static async Task IncrementalAllocationsAsync(HttpClient http, string sender, string room, string receiver)
    {
        string since = (await GetAsync(http, receiver, "/_matrix/client/v3/sync?timeout=0")).GetProperty("next_batch").GetString()!;
        const int rounds = 200;
        long before = GC.GetTotalAllocatedBytes(precise: true);
        for (int i = 0; i < rounds; i++)
        {
            await SendAsync(http, sender, room, $"alloc{i}");
            since = (await GetAsync(http, receiver, $"/_matrix/client/v3/sync?timeout=0&since={Uri.EscapeDataString(since)}"))
                .GetProperty("next_batch").GetString()!;
        }

        long perRound = (GC.GetTotalAllocatedBytes(precise: true) - before) / rounds;
        Console.WriteLine($"incremental sync with one new event: {perRound / 1024} KiB allocated per send+sync round " +
            "(server and client in one process; includes the send)");
    }

    private static async Task<string> RegisterAsync(HttpClient http, string name)
    {
        using var response = await http.PostAsJsonAsync("/_matrix/client/v3/register",
            new { username = name, password = "benchmark", auth = new { type = "m.login.dummy" } });
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("access_token").GetString()!;
    }

    private static async Task<string> CreateRoomAsync(HttpClient http, string token) =>
        (await PostAsync(http, token, "/_matrix/client/v3/createRoom", new { preset = "public_chat" })).GetProperty("room_id").GetString()!;

    private static async Task<(string EventId, long At)> SendAsync(HttpClient http, string token, string room, string body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Put, $"/_matrix/client/v3/rooms/{room}/send/m.room.message/{Guid.NewGuid():N}")
        {
            Content = JsonContent.Create(new { msgtype = "m.text", body }),
        };
        request.Headers.Authorization = new("Bearer", token);
        using var response = await http.SendAsync(request);
        long at = Stopwatch.GetTimestamp();
        response.EnsureSuccessStatusCode();
        return ((await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("event_id").GetString()!, at);
    }

    private static async Task<JsonElement> PostAsync(HttpClient http, string token, string path, object body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body) };
        request.Headers.Authorization = new("Bearer", token);
        using var response = await http.SendAsync(request);
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    private static async Task<JsonElement> GetAsync(HttpClient http, string token, string path, CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Authorization = new("Bearer", token);
        using var response = await http.SendAsync(request, cancellationToken);
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadFromJsonAsync<JsonElement>(cancellationToken);
    }

    private static double Percentile(List<double> sorted, double p) =>
        sorted.Count == 0 ? double.NaN : sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];

    private static string Arg(string[] args, string name, string fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
    }
}
