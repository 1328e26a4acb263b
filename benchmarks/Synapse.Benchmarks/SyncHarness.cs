using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

using static Synapse.Benchmarks.BenchHttp;

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
        await using var server = await BenchServer.StartAsync(engine, maxConnections: users + 50);
        var http = server.Http;
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
        return 0;
    }

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
}
