using System.Diagnostics;

namespace Synapse.LoadTest.Scenarios;

/// <summary>
/// <c>join</c>: J users join one public room, C at a time (accounts are made first and not timed). Reports joins/s, join
/// latency and the time from the first join request to the last join's response; then checks the member list.
/// </summary>
internal static class JoinScenario
{
    public static async Task RunAsync(RunContext run)
    {
        int joiners = run.Options.Size("joiners"), concurrency = run.Options.Size("concurrency");
        var owner = (await run.AccountsAsync("owner", 1))[0];
        var accounts = await run.AccountsAsync("joiner", joiners);
        string room = await run.CreateRoomAsync(owner, "join load");

        var latencies = new Latencies();
        run.Phase("joining", () => $"{latencies.Count}/{joiners}");
        var wall = Stopwatch.StartNew();
        double lastJoin = 0;
        await RunContext.ForEachAsync(accounts, concurrency, async who =>
        {
            long start = Stopwatch.GetTimestamp();
            await run.JoinAsync(who, room);
            latencies.AddSince(start);
            double at = wall.Elapsed.TotalMilliseconds;
            lock (latencies)
            {
                lastJoin = Math.Max(lastJoin, at);
            }
        });

        var members = await run.Api.SendAsync(HttpMethod.Get, run.Options.BaseUrl,
            $"_matrix/client/v3/rooms/{Uri.EscapeDataString(room)}/joined_members", owner.AccessToken, null);
        int count = members.GetProperty("joined").EnumerateObject().Count();
        if (count != joiners + 1)
        {
            run.Report.Fail($"the room has {count} joined members, expected {joiners + 1}");
        }

        run.Report.Add("joins", latencies.Count, "joins");
        run.Report.Add("joins_per_s", latencies.Count / (lastJoin / 1000), "joins/s");
        run.Report.Add("last_join_ms", lastJoin, "ms");
        run.Report.AddLatencies("join_latency", latencies);
        run.Report.Add("joined_members", count, "members");
    }
}
