using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;

namespace Synapse.LoadTest.Scenarios;

/// <summary>
/// <c>fanout</c> and <c>lag</c>: L listeners long-poll <c>/sync</c> in R shared rooms while S senders send M messages at a
/// fixed rate. A delivery is one listener's sync response carrying one sent event; its latency runs from the send's response
/// to that sync response (negative when the sync was faster than the send's response: counted as 0). Every listener must get
/// every event exactly once. <c>lag</c> sends through <c>--base-url</c> and syncs through <c>--read-url</c>, so the latency
/// includes the replication from the writer to the reader.
/// </summary>
internal static class FanoutScenario
{
    /// <summary>Large enough that a listener never gets a limited timeline at the rates this tool sends.</summary>
    private const string SyncFilter = """{"room":{"timeline":{"limit":200},"state":{"lazy_load_members":true}},"presence":{"not_types":["*"]}}""";

    public static async Task RunAsync(RunContext run)
    {
        bool lag = run.Options.Scenario == "lag";
        Uri readUrl = run.Options.ReadUrl ?? run.Options.BaseUrl;
        int listenerCount = run.Options.Size("listeners"), senderCount = run.Options.Size("senders");
        int rooms = run.Options.Size("rooms"), messages = run.Options.Size("messages"), rate = run.Options.Size("rate");

        var senders = await run.AccountsAsync("sender", senderCount);
        var listeners = await run.AccountsAsync("listener", listenerCount);
        var roomIds = new List<string>(rooms);
        for (int r = 0; r < rooms; r++)
        {
            roomIds.Add(await run.CreateRoomAsync(senders[0], $"fanout load {r}"));
        }

        await run.JoinAllAsync([.. senders.Skip(1), .. listeners], roomIds);

        // The listeners: one initial sync each, then long-polls until told to stop.
        var sentAt = new ConcurrentDictionary<string, long>(StringComparer.Ordinal);
        var arrivals = new ConcurrentQueue<(string EventId, long At)>();
        var received = listeners.Select(_ => new ConcurrentDictionary<string, int>(StringComparer.Ordinal)).ToArray();
        int limited = 0, ready = 0;
        using var stopListening = new CancellationTokenSource();
        var allReady = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        string filter = Uri.EscapeDataString(SyncFilter);
        run.Phase("listeners' initial syncs", () => $"{Volatile.Read(ref ready)}/{listenerCount}");
        var polls = listeners.Select((listener, index) => Task.Run(async () =>
        {
            var sync = await run.Api.SendAsync(HttpMethod.Get, readUrl, $"_matrix/client/v3/sync?timeout=0&filter={filter}",
                listener.AccessToken, null);
            string since = sync.GetProperty("next_batch").GetString()!;
            if (Interlocked.Increment(ref ready) == listenerCount)
            {
                allReady.TrySetResult();
            }

            while (!stopListening.IsCancellationRequested)
            {
                try
                {
                    sync = await run.Api.SendAsync(HttpMethod.Get, readUrl,
                        $"_matrix/client/v3/sync?timeout=30000&filter={filter}&since={Uri.EscapeDataString(since)}",
                        listener.AccessToken, null, stopListening.Token);
                }
                catch (OperationCanceledException) when (stopListening.IsCancellationRequested)
                {
                    break;
                }

                long at = Stopwatch.GetTimestamp();
                since = sync.GetProperty("next_batch").GetString()!;
                var (events, wasLimited) = RunContext.TimelineEvents(sync);
                if (wasLimited)
                {
                    Interlocked.Increment(ref limited);
                }

                foreach (var (_, eventId) in events)
                {
                    received[index].AddOrUpdate(eventId, 1, (_, n) => n + 1);
                    arrivals.Enqueue((eventId, at));
                }
            }
        })).ToList();

        var anyPollFailed = Task.WhenAny(polls);
        if (await Task.WhenAny(allReady.Task, anyPollFailed) != allReady.Task)
        {
            await await anyPollFailed;
        }

        // The senders: messages round-robin over senders and rooms, one every 1/rate seconds in all.
        var interval = TimeSpan.FromSeconds(1.0 / rate);
        int sent = 0;
        run.Phase("sending", () => $"{Volatile.Read(ref sent)}/{messages}");
        var sendLatencies = new Latencies();
        var sends = new List<Task>(messages);
        var pace = Stopwatch.StartNew();
        for (int i = 0; i < messages; i++)
        {
            var due = interval * i;
            if (due > pace.Elapsed)
            {
                await Task.Delay(due - pace.Elapsed);
            }

            int index = i;
            sends.Add(Task.Run(async () =>
            {
                long start = Stopwatch.GetTimestamp();
                string eventId = await run.SendMessageAsync(run.Options.BaseUrl, senders[index % senderCount],
                    roomIds[index % rooms], run.MessageBody(index));
                long at = Stopwatch.GetTimestamp();
                sentAt[eventId] = at;
                sendLatencies.Add(Stopwatch.GetElapsedTime(start, at).TotalMilliseconds);
                Interlocked.Increment(ref sent);
            }));
        }

        await Task.WhenAll(sends);

        // Wait (up to --settle-seconds) until every listener has every event, then stop the long-polls.
        long expected = (long)messages * listenerCount;
        long Delivered() => received.Sum(r => (long)sentAt.Keys.Count(r.ContainsKey));
        run.Phase("waiting for deliveries", () => $"{Delivered()}/{expected}");
        var settle = Stopwatch.StartNew();
        while (settle.Elapsed < run.Options.Settle && Delivered() < expected && polls.All(p => !p.IsCompleted))
        {
            await Task.Delay(100);
        }

        await stopListening.CancelAsync();
        await Task.WhenAll(polls);

        var latencies = new Latencies();
        foreach (var (eventId, at) in arrivals)
        {
            if (sentAt.TryGetValue(eventId, out long sentTimestamp))
            {
                latencies.Add(Math.Max(0, Stopwatch.GetElapsedTime(sentTimestamp, at).TotalMilliseconds));
            }
        }

        long delivered = Delivered();
        long duplicates = received.Sum(r => sentAt.Keys.Sum(id => Math.Max(0, r.GetValueOrDefault(id) - 1)));
        long missing = expected - delivered;
        run.Report.Add("messages_sent", sent, "events");
        run.Report.Add("deliveries", delivered, "deliveries");
        run.Report.Add("deliveries_expected", expected, "deliveries");
        run.Report.Add("missing", missing, "deliveries");
        run.Report.Add("duplicates", duplicates, "deliveries");
        run.Report.Add("limited_timelines", limited, "responses");
        run.Report.AddLatencies(lag ? "replication_lag" : "delivery_latency", latencies, withP95: false);
        run.Report.AddLatencies("send_latency", sendLatencies, withP95: false);
        if (missing > 0)
        {
            run.Report.Fail($"{missing} of {expected} deliveries did not arrive within {run.Options.Settle.TotalSeconds:F0} s of the last send");
        }

        if (duplicates > 0)
        {
            run.Report.Fail($"{duplicates} deliveries arrived more than once");
        }
    }
}
