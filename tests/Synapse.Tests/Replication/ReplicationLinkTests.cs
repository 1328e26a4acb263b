using System.Text.Json.Nodes;
using Synapse.Replication.Protocol;
using Synapse.Replication.Tcp;
using Synapse.Streams;

namespace Synapse.Tests.Replication;

/// <summary>Main and a worker over an in-memory link: the protocol's guarantees, one by one.</summary>
public sealed class ReplicationLinkTests
{
    private static JsonObject Row(long n) => new() { ["n"] = n };

    private static long[] Numbers(IEnumerable<StreamUpdate> updates) =>
        [.. updates.SelectMany(u => u.Rows.Select(r => long.Parse(r.Data["n"]!.ToJsonString(), System.Globalization.CultureInfo.InvariantCulture)))];

    [Fact]
    public async Task Live_RowsSharingAPosition_ArriveAsOneUpdate_InOrder()
    {
        await using var main = await TestMain.StartAsync();
        await using var worker = await TestWorker.StartAsync(main);
        await worker.Client.WaitUntilConnectedAsync(CancellationToken.None);
        await Eventually.TrueAsync(() => main.Server.Peers.Count == 1, "main lists the worker");

        long n = 0;
        for (int i = 0; i < 200; i++)
        {
            main.Write(StreamNames.Events, [.. Enumerable.Range(0, 1 + (i % 3)).Select(_ => Row(++n))]);
        }

        await Eventually.TrueAsync(() => worker.Streams[StreamNames.Events].Current == 200, "the worker applied position 200");
        var applied = worker.Applied(StreamNames.Events);
        Assert.Equal(main.Log.Of(StreamNames.Events).Select(u => u.Position), applied.Select(u => u.Position));
        Assert.Equal(main.Log.Of(StreamNames.Events).Select(u => u.Rows.Count), applied.Select(u => u.Rows.Count));
        Assert.Equal(Enumerable.Range(1, (int)n).Select(i => (long)i), Numbers(applied));
        Assert.Equal(1, worker.Connects);
    }

    [Fact]
    public async Task CatchUp_50000PositionsBehind_ConvergesOnOneConnection()
    {
        await using var main = await TestMain.StartAsync();
        for (int i = 1; i <= 50_000; i++)
        {
            main.Write(StreamNames.Events, Row(i));
        }

        await using var worker = await TestWorker.StartAsync(main);
        await Eventually.TrueAsync(() => worker.Streams[StreamNames.Events].Current == 50_000, "the worker caught up", seconds: 120);

        // Rows written while it is live follow on the same connection.
        main.Write(StreamNames.Events, Row(50_001));
        await Eventually.TrueAsync(() => worker.Streams[StreamNames.Events].Current == 50_001, "the live row arrived");
        Assert.Equal(Enumerable.Range(1, 50_001).Select(i => (long)i), Numbers(worker.Applied(StreamNames.Events)));
        Assert.Equal(1, worker.Connects);
        Assert.True(main.Log.PagesRead >= 500, "the gap was paged (100 positions per page)");
    }

    /// <summary>The notes' §5.4: a failure in one stream's update function must not stop the others.</summary>
    [Fact]
    public async Task CatchUp_OneStreamsSourceFails_TheOthersFlowOnTheSameLink_AndItCatchesUpOnceTheSourceRecovers()
    {
        await using var main = await TestMain.StartAsync();
        for (int i = 1; i <= 300; i++)
        {
            main.Write(StreamNames.Receipts, Row(i));
            main.Write(StreamNames.AccountData, Row(i));
        }

        main.Log.Failing[StreamNames.Receipts] = true;
        await using var worker = await TestWorker.StartAsync(main);
        await Eventually.TrueAsync(() => worker.Streams[StreamNames.AccountData].Current == 300, "the healthy stream caught up");
        main.Write(StreamNames.AccountData, Row(301));
        main.Write(StreamNames.Receipts, Row(301));
        await Eventually.TrueAsync(() => worker.Streams[StreamNames.AccountData].Current == 301, "live rows of the healthy stream flow");
        Assert.Equal(0, worker.Streams[StreamNames.Receipts].Current);

        main.Log.Failing.TryRemove(StreamNames.Receipts, out _);
        await Eventually.TrueAsync(() => worker.Streams[StreamNames.Receipts].Current == 301, "the failed stream caught up after recovery");
        main.Write(StreamNames.Receipts, Row(302));
        await Eventually.TrueAsync(() => worker.Streams[StreamNames.Receipts].Current == 302, "and follows live again");
        Assert.Equal(Enumerable.Range(1, 302).Select(i => (long)i), Numbers(worker.Applied(StreamNames.Receipts)));
        Assert.Equal(Enumerable.Range(1, 301).Select(i => (long)i), Numbers(worker.Applied(StreamNames.AccountData)));
        Assert.Equal(1, worker.Connects);
    }

    [Fact]
    public async Task LinkBrokenMidBatch_AfterReconnect_EveryRowArrivesExactlyOnce()
    {
        await using var main = await TestMain.StartAsync();
        await using var worker = await TestWorker.StartAsync(main);
        await worker.Client.WaitUntilConnectedAsync(CancellationToken.None);

        long n = 0;
        for (int round = 0; round < 20; round++)
        {
            var writing = Task.Run(() =>
            {
                for (int i = 0; i < 200; i++)
                {
                    main.Write(StreamNames.Events, [.. Enumerable.Range(0, 1 + (i % 4)).Select(_ => Row(Interlocked.Increment(ref n)))]);
                }
            });

            // Cut the link while batches are in flight (a batch of up to four rows is mid-line or mid-group).
            await Task.Delay(round % 3);
            worker.Transport!.Break();
            await writing;
        }

        long last = main.Streams[StreamNames.Events].Current;
        await Eventually.TrueAsync(() => worker.Streams[StreamNames.Events].Current == last, "the worker converged");
        Assert.Equal(Enumerable.Range(1, (int)n).Select(i => (long)i), Numbers(worker.Applied(StreamNames.Events)));
        Assert.True(worker.Connects > 1);
    }

    [Fact]
    public async Task WrongSecret_RefusedBeforeAnyDataFlows()
    {
        await using var main = await TestMain.StartAsync();
        main.Write(StreamNames.Events, Row(1));
        var transport = main.Accept();
        var peer = new RawPeer(transport.Client);
        var greeting = await peer.ReadUntilAsync(l => l.StartsWith("SERVER ", StringComparison.Ordinal));
        Assert.Matches("^SERVER test.local proto=1 nonce=[0-9a-f]{32}$", greeting.First(l => l.StartsWith("SERVER", StringComparison.Ordinal)));

        await peer.SendAsync("AUTH 0000\nNAME intruder\nREPLICATE \n");
        var lines = await peer.ReadUntilAsync(l => l.StartsWith("ERROR", StringComparison.Ordinal));
        Assert.Contains("ERROR authentication failed", lines);
        Assert.DoesNotContain(lines, l => l.StartsWith("POSITION", StringComparison.Ordinal) || l.StartsWith("RDATA", StringComparison.Ordinal));
        Assert.Empty(main.Server.Peers);
    }

    [Fact]
    public async Task NoAuth_ReplicateIsRefused()
    {
        await using var main = await TestMain.StartAsync();
        var peer = new RawPeer(main.Accept().Client);
        await peer.SendAsync("NAME w\nREPLICATE \n");
        var lines = await peer.ReadUntilAsync(l => l.StartsWith("ERROR", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("ERROR authentication required", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.StartsWith("POSITION", StringComparison.Ordinal));
    }

    [Fact]
    public async Task WorkerWithWrongSecret_NeverAppliesAnything()
    {
        await using var main = await TestMain.StartAsync();
        main.Write(StreamNames.Events, Row(1));
        await using var worker = await TestWorker.StartAsync(main, secret: "wrong");
        await Eventually.TrueAsync(() => worker.Connects >= 3, "the worker retried");
        Assert.Equal(0, worker.Streams[StreamNames.Events].Current);
        Assert.False(worker.Client.IsConnected);
    }

    [Fact]
    public async Task UnknownCommandAndMalformedLine_AnsweredWithError_ConnectionSurvives()
    {
        await using var main = await TestMain.StartAsync();
        var peer = new RawPeer(main.Accept().Client);
        await peer.AuthenticateAsync("NAME w\nFROBNICATE now\nUSER_SYNC x\n\nREPLICATE\n");
        var lines = await peer.ReadUntilAsync(l => l.StartsWith("POSITION events", StringComparison.Ordinal));
        Assert.Contains("ERROR invalid command: FROBNICATE", lines);
        Assert.Contains(lines, l => l.StartsWith("ERROR missing", StringComparison.Ordinal));
        Assert.Contains("POSITION events master 0 0", lines);
        Assert.Contains("POSITION typing master 0 0 " + main.Server.Epoch, lines);
    }

    [Fact]
    public async Task DuplicateInstanceName_SecondConnectionRefused()
    {
        await using var main = await TestMain.StartAsync();
        await using var first = await TestWorker.StartAsync(main, name: "synchrotron1");
        await first.Client.WaitUntilConnectedAsync(CancellationToken.None);
        await Eventually.TrueAsync(() => main.Server.Peers.Count == 1, "the first worker is listed");

        var peer = new RawPeer(main.Accept().Client);
        await peer.AuthenticateAsync("NAME synchrotron1\nREPLICATE \n");
        var lines = await peer.ReadUntilAsync(l => l.StartsWith("ERROR", StringComparison.Ordinal));
        Assert.Contains("ERROR instance name synchrotron1 is already connected", lines);
        Assert.Single(main.Server.Peers);
        Assert.True(first.Client.IsConnected);
    }

    [Fact]
    public async Task PositionWithoutRows_ReleasesWaiters()
    {
        await using var main = await TestMain.StartAsync();
        await using var worker = await TestWorker.StartAsync(main);
        await worker.Client.WaitUntilConnectedAsync(CancellationToken.None);
        await Eventually.TrueAsync(() => main.Server.Peers.Count == 1, "main lists the worker");

        // A rarely written stream advanced by a position that wrote nothing (a failed write): only a POSITION goes out.
        var waiting = worker.Client.WaitForPositionAsync(StreamNames.Backfill, 1, CancellationToken.None);
        Assert.False(waiting.IsCompleted);
        main.Write(StreamNames.Backfill);
        await waiting.WaitAsync(TimeSpan.FromSeconds(30), CancellationToken.None);
        Assert.Equal(1, worker.Streams[StreamNames.Backfill].Current);
    }

    [Fact]
    public async Task OversizeRow_IsPulledFromTheSource_NotDropped()
    {
        await using var main = await TestMain.StartAsync();
        await using var worker = await TestWorker.StartAsync(main);
        await worker.Client.WaitUntilConnectedAsync(CancellationToken.None);
        await Eventually.TrueAsync(() => main.Server.Peers.Count == 1, "main lists the worker");

        main.Write(StreamNames.AccountData, Row(1));
        main.Write(StreamNames.AccountData, new JsonObject { ["n"] = 2, ["content"] = new string('x', 64 * 1024) });
        main.Write(StreamNames.AccountData, Row(3));
        await Eventually.TrueAsync(() => worker.Streams[StreamNames.AccountData].Current == 3, "the worker applied all three");
        var applied = worker.Applied(StreamNames.AccountData);
        Assert.Equal([1L, 2L, 3L], Numbers(applied));
        Assert.Equal(64 * 1024, ((string)applied[1].Rows[0].Data["content"]!).Length);
    }

    [Fact]
    public async Task SlowWorker_MainSwitchesToPullMode_MemoryBounded_WorkerStillGetsEverything()
    {
        const long limit = 64 * 1024;
        await using var main = await TestMain.StartAsync(o => new ReplicationServerOptions
        {
            ServerName = o.ServerName, Secret = o.Secret, MaxQueuedBytes = limit,
        });

        // A small pipe: the worker's end fills and main's writes wait, as with a worker that reads slowly.
        await using var worker = await TestWorker.StartAsync(main, pauseThreshold: 4096);
        await worker.Client.WaitUntilConnectedAsync(CancellationToken.None);
        await Eventually.TrueAsync(() => main.Server.Peers.Count == 1, "main lists the worker");

        long maxQueued = 0;
        bool sawPull = false;
        for (int i = 1; i <= 20_000; i++)
        {
            main.Write(StreamNames.Events, new JsonObject { ["n"] = i, ["pad"] = new string('p', 200) });
            if (i % 100 == 0 && main.Server.Peers is [var state])
            {
                maxQueued = Math.Max(maxQueued, state.QueuedBytes);
                sawPull |= state.Pulling;
            }
        }

        await Eventually.TrueAsync(() => worker.Streams[StreamNames.Events].Current == 20_000, "the worker caught up", seconds: 120);
        Assert.True(sawPull, "main switched the worker to pull mode");
        Assert.True(maxQueued <= limit, $"main queued {maxQueued} bytes for the worker (limit {limit})");
        Assert.Equal(Enumerable.Range(1, 20_000).Select(i => (long)i), Numbers(worker.Applied(StreamNames.Events)));
        Assert.Equal(1, worker.Connects);
    }

    [Fact]
    public async Task SilentPeer_ClosedAfterTheTimeout()
    {
        await using var main = await TestMain.StartAsync(o => new ReplicationServerOptions
        {
            ServerName = o.ServerName, Secret = o.Secret,
            Timeouts = new ReplicationTimeouts(TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(300)),
        });
        var peer = new RawPeer(main.Accept().Client);
        await peer.AuthenticateAsync("NAME quiet\nREPLICATE \n");
        await Eventually.TrueAsync(() => main.Server.Peers.Count == 1, "main lists the peer");

        // The peer now neither reads nor writes (a half-open link): main gives up on it.
        await Eventually.TrueAsync(() => main.Server.Peers.Count == 0, "main dropped the silent peer");
        var lines = await peer.ReadUntilAsync(l => l == "ERROR ping timeout");
        Assert.Contains("ERROR ping timeout", lines);
        Assert.Contains(lines, l => l.StartsWith("PING ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task MainRestart_MemoryStreamResetsByEpoch_DatabaseStreamsResume()
    {
        var main = await TestMain.StartAsync();
        await using var worker = await TestWorker.StartAsync(main);
        await worker.Client.WaitUntilConnectedAsync(CancellationToken.None);
        await Eventually.TrueAsync(() => main.Server.Peers.Count == 1, "main lists the worker");
        var resets = new List<string>();
        worker.Client.StreamReset += resets.Add;
        for (int i = 1; i <= 50; i++)
        {
            main.Write(StreamNames.Typing, Row(i));
            main.Write(StreamNames.Events, Row(i));
        }

        await Eventually.TrueAsync(() => worker.Streams[StreamNames.Typing].Current == 50, "typing reached 50");
        await main.DisposeAsync();
        worker.Transport!.Break();

        // Main comes back: events resume from the database; typing starts again from 0 in a new epoch.
        await using var restarted = await TestMain.StartAsync(main.Log, new Dictionary<string, long> { [StreamNames.Events] = 50 });
        worker.Main = restarted;
        restarted.Write(StreamNames.Typing, Row(1000));
        restarted.Write(StreamNames.Events, Row(51));
        await Eventually.TrueAsync(() => worker.Streams[StreamNames.Events].Current == 51, "events resumed at 51");
        await Eventually.TrueAsync(() => resets.Contains(StreamNames.Typing), "typing was reset");
        Assert.Equal(1, worker.Streams[StreamNames.Typing].Current);
        Assert.Equal(Enumerable.Range(1, 51).Select(i => (long)i), Numbers(worker.Applied(StreamNames.Events)));
        Assert.DoesNotContain(StreamNames.Events, resets);
    }
}
