using System.Diagnostics;

namespace Synapse.LoadTest.Scenarios;

/// <summary>
/// <c>send</c>: U users in R rooms (every user in every room) send M messages, C at a time; each message's sender and room
/// are drawn from the seeded random source. Reports events/s and send latency.
/// </summary>
internal static class SendScenario
{
    public static async Task RunAsync(RunContext run)
    {
        int users = run.Options.Size("users"), rooms = run.Options.Size("rooms");
        int messages = run.Options.Size("messages"), concurrency = run.Options.Size("concurrency");

        var accounts = await run.AccountsAsync("sender", users);
        var roomIds = new List<string>(rooms);
        for (int r = 0; r < rooms; r++)
        {
            roomIds.Add(await run.CreateRoomAsync(accounts[0], $"send load {r}"));
        }

        await run.JoinAllAsync(accounts.Skip(1).ToList(), roomIds);

        var plan = Enumerable.Range(0, messages)
            .Select(i => (Index: i, Sender: accounts[run.Random.Next(users)], Room: roomIds[run.Random.Next(rooms)]))
            .ToList();
        var latencies = new Latencies();
        int sent = 0;
        run.Phase("sending", () => $"{Volatile.Read(ref sent)}/{messages}");
        var wall = Stopwatch.StartNew();
        await RunContext.ForEachAsync(plan, concurrency, async item =>
        {
            long start = Stopwatch.GetTimestamp();
            await run.SendMessageAsync(run.Options.BaseUrl, item.Sender, item.Room, run.MessageBody(item.Index));
            latencies.AddSince(start);
            Interlocked.Increment(ref sent);
        });
        double seconds = wall.Elapsed.TotalSeconds;

        run.Report.Add("messages_sent", sent, "events");
        run.Report.Add("duration_s", seconds, "s");
        run.Report.Add("throughput", sent / seconds, "events/s");
        run.Report.AddLatencies("send_latency", latencies);
    }
}
