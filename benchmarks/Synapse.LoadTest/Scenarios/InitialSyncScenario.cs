using System.Diagnostics;

namespace Synapse.LoadTest.Scenarios;

/// <summary>
/// <c>initial-sync</c>: one user creates N rooms and sends E messages into each, then makes K initial syncs (no
/// <c>since</c>, no filter). Reports the time and the response size.
/// </summary>
internal static class InitialSyncScenario
{
    public static async Task RunAsync(RunContext run)
    {
        int rooms = run.Options.Size("rooms"), events = run.Options.Size("events"), repeats = run.Options.Size("repeats");
        var user = (await run.AccountsAsync("reader", 1))[0];

        int filled = 0;
        run.Phase("filling rooms", () => $"{Volatile.Read(ref filled)}/{rooms}");
        await RunContext.ForEachAsync(Enumerable.Range(0, rooms), 4, async r =>
        {
            string room = await run.CreateRoomAsync(user, $"initial sync load {r}");
            for (int e = 0; e < events; e++)
            {
                await run.SendMessageAsync(run.Options.BaseUrl, user, room, run.MessageBody(r * events + e));
            }

            Interlocked.Increment(ref filled);
        });

        var times = new Latencies();
        long bytes = 0;
        int joined = 0;
        run.Phase("initial syncs", () => $"{times.Count}/{repeats}");
        for (int i = 0; i < repeats; i++)
        {
            long start = Stopwatch.GetTimestamp();
            var (sync, size) = await run.Api.SendMeasuredAsync(HttpMethod.Get, run.Options.BaseUrl, "_matrix/client/v3/sync?timeout=0",
                user.AccessToken, null);
            times.AddSince(start);
            bytes = size;
            joined = sync.GetProperty("rooms").TryGetProperty("join", out var join) ? join.EnumerateObject().Count() : 0;
        }

        if (joined < rooms)
        {
            run.Report.Fail($"the initial sync listed {joined} joined rooms, expected at least {rooms}");
        }

        run.Report.Add("rooms_in_response", joined, "rooms");
        run.Report.Add("initial_sync_p50_ms", times.Percentile(0.5), "ms");
        run.Report.Add("initial_sync_max_ms", times.Max, "ms");
        run.Report.Add("response_size_kib", bytes / 1024.0, "KiB");
    }
}
