using System.Diagnostics;
using System.Globalization;
using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Synapse.Replication.Tcp;
using Synapse.Streams;
using static Synapse.Benchmarks.BenchHttp;

namespace Synapse.Benchmarks;

/// <summary>
/// Main and one worker in this process, linked by real TCP replication over loopback (<see cref="ReplicationListener"/>
/// on 127.0.0.1, <see cref="ReplicationTcp.ConnectAsync(string, int, bool, CancellationToken)"/>): throughput of
/// one-row updates published as fast as main can, until the worker's events stream reaches the last position; then
/// commit→worker latency of paced updates, from <see cref="StreamIdGenerator.Complete"/> on main to the worker's
/// <see cref="StreamBus"/> delivering the update. Usage:
/// <c>replication [--rows 200000] [--warmup 2] [--runs 3] [--latency-rows 5000] [--rate 1000]</c>. The warm-up runs (same
/// size, not reported) let tiered JIT and the GC settle: the first runs of a fresh process are several times slower.
/// The latency table also shows how late the pacing thread woke (the machine's scheduling jitter, a floor for the tail).
/// </summary>
internal static class ReplicationLinkHarness
{
    private const string Secret = "bench-secret";

    public static async Task<int> RunAsync(string[] args)
    {
        int rows = int.Parse(Arg(args, "--rows", "200000"), CultureInfo.InvariantCulture);
        int warmup = int.Parse(Arg(args, "--warmup", "2"), CultureInfo.InvariantCulture);
        int runs = int.Parse(Arg(args, "--runs", "3"), CultureInfo.InvariantCulture);
        int latencyRows = int.Parse(Arg(args, "--latency-rows", "5000"), CultureInfo.InvariantCulture);
        int rate = int.Parse(Arg(args, "--rate", "1000"), CultureInfo.InvariantCulture);
        Console.WriteLine($"replication over loopback TCP: rows={rows} warmup={warmup} runs={runs} latency-rows={latencyRows} rate={rate}/s " +
            $"cores={Environment.ProcessorCount} gc={(System.Runtime.GCSettings.IsServerGC ? "server" : "workstation")}");

        var mainBus = new StreamBus();
        var mainStreams = new StreamRegistry(mainBus, []);
        await mainStreams.InitializeAsync(CancellationToken.None);
        var server = new ReplicationServer(
            new ReplicationServerOptions
            {
                ServerName = "bench.local",
                Secret = Secret,

                // The throughput phase publishes faster than one link drains: keep every row streaming (no pull mode).
                MaxQueuedBytes = 1L << 30,
            },
            mainStreams, mainBus, NullLogger<ReplicationServer>.Instance);
        await using var listener = ReplicationListener.Start(server, new IPEndPoint(IPAddress.Loopback, 0));
        int port = listener.LocalEndPoint.Port;

        var workerBus = new StreamBus();
        var workerStreams = new StreamRegistry(workerBus, []);
        await workerStreams.InitializeAsync(CancellationToken.None);
        var probe = new WorkerProbe();
        workerBus.Subscribe(probe.OnUpdate);
        var client = new ReplicationClient(
            new ReplicationClientOptions
            {
                ServerName = "bench.local",
                InstanceName = "worker1",
                Secret = Secret,
                Endpoint = $"127.0.0.1:{port}",
                Connect = ct => ReplicationTcp.ConnectAsync("127.0.0.1", port, tls: false, ct),
            },
            workerStreams, workerBus, [], NullLogger<ReplicationClient>.Instance);
        using var stopping = new CancellationTokenSource();
        var running = Task.Run(() => client.RunAsync(stopping.Token));
        await client.WaitUntilConnectedAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));

        var events = mainStreams[StreamNames.Events];
        var sample = ReplicationBenchData.EventRows(1024);
        var table = new List<string>();

        for (int run = 0; run < warmup; run++)
        {
            await ThroughputAsync(events, probe, sample, rows);
        }

        var rates = new List<double>();
        for (int run = 1; run <= runs; run++)
        {
            var (publish, total, delivered, allocated) = await ThroughputAsync(events, probe, sample, rows);
            rates.Add(rows / total.TotalSeconds);
            table.Add($"| throughput run {run} | {rows:N0} | {publish.TotalMilliseconds:F0} ms | {total.TotalMilliseconds:F0} ms | " +
                $"{rows / total.TotalSeconds:N0} | {delivered:N0}/{rows:N0} | {allocated / rows:N0} B |");
        }

        rates.Sort();
        table.Add($"| **median** | | | | **{rates[rates.Count / 2]:N0}** | | |");
        var (latencies, lateness) = await LatencyAsync(events, probe, sample, latencyRows, rate);
        await stopping.CancelAsync();
        await running;

        Console.WriteLine();
        Console.WriteLine("| phase | rows | main published in | worker reached last position in | rows/s | rows delivered as RDATA | allocated/row (both sides) |");
        Console.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        table.ForEach(Console.WriteLine);
        Console.WriteLine();
        Console.WriteLine("| commit→worker bus latency | samples | p50 | p90 | p99 | p99.9 | max |");
        Console.WriteLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        Console.WriteLine($"| {rate}/s single-row updates | {latencies.Count:N0} | {Percentile(latencies, 0.50):F3} ms | " +
            $"{Percentile(latencies, 0.90):F3} ms | {Percentile(latencies, 0.99):F3} ms | {Percentile(latencies, 0.999):F3} ms | " +
            $"{latencies.LastOrDefault():F3} ms |");
        Console.WriteLine($"| pacing thread woke late by (jitter) | {lateness.Count:N0} | {Percentile(lateness, 0.50):F3} ms | " +
            $"{Percentile(lateness, 0.90):F3} ms | {Percentile(lateness, 0.99):F3} ms | {Percentile(lateness, 0.999):F3} ms | " +
            $"{lateness.LastOrDefault():F3} ms |");
        return 0;
    }

    /// <summary>Publishes <paramref name="count"/> one-row updates back to back; waits for the worker to reach the last.</summary>
    private static async Task<(TimeSpan Publish, TimeSpan Total, long Delivered, long Allocated)> ThroughputAsync(
        StreamIdGenerator events, WorkerProbe probe, StreamRow[] sample, int count)
    {
        long target = events.Current + count;
        var reached = probe.ExpectPosition(target);
        long rowsBefore = probe.Rows;
        long allocatedBefore = GC.GetTotalAllocatedBytes(precise: false);
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < count; i++)
        {
            long position = events.Allocate();
            events.Complete(position, [sample[i & (sample.Length - 1)]]);
        }

        var publish = Stopwatch.GetElapsedTime(start);
        await reached.WaitAsync(TimeSpan.FromMinutes(5));
        var total = Stopwatch.GetElapsedTime(start);
        return (publish, total, probe.Rows - rowsBefore, GC.GetTotalAllocatedBytes(precise: false) - allocatedBefore);
    }

    /// <summary>
    /// Publishes single-row updates paced at <paramref name="rate"/> per second from a dedicated thread; the latency of
    /// each is from just before Complete on main to the worker's bus subscriber (one process, one Stopwatch clock).
    /// </summary>
    private static async Task<(List<double> Latencies, List<double> Lateness)> LatencyAsync(StreamIdGenerator events, WorkerProbe probe, StreamRow[] sample, int count, int rate)
    {
        long first = events.Current + 1;
        long[] committed = new long[count];
        double[] late = new double[count];
        probe.Track(first, committed, count);
        var reached = probe.ExpectPosition(first + count - 1);
        long interval = Stopwatch.Frequency / rate;
        var publisher = new Thread(() =>
        {
            long next = Stopwatch.GetTimestamp();
            for (int i = 0; i < count; i++)
            {
                // Sleep while more than a millisecond early, then yield: ~rate per second without burning a core.
                while (next - Stopwatch.GetTimestamp() > Stopwatch.Frequency / 1000)
                {
                    Thread.Sleep(1);
                }

                while (Stopwatch.GetTimestamp() < next)
                {
                    Thread.Yield();
                }

                long position = events.Allocate();
                long now = Stopwatch.GetTimestamp();
                late[i] = Stopwatch.GetElapsedTime(next, now).TotalMilliseconds;
                Volatile.Write(ref committed[position - first], now);
                events.Complete(position, [sample[i & (sample.Length - 1)]]);
                next += interval;
            }
        })
        { IsBackground = true, Name = "replication-latency-publisher" };
        var start = Stopwatch.StartNew();
        publisher.Start();
        await reached.WaitAsync(TimeSpan.FromMinutes(5));
        publisher.Join();
        Console.WriteLine($"latency phase: {count:N0} updates in {start.Elapsed.TotalSeconds:F2} s ({count / start.Elapsed.TotalSeconds:N0}/s)");
        return ([.. probe.Latencies.Order()], [.. late.Order()]);
    }

    /// <summary>The worker's bus subscriber: counts rows, records latencies, and signals when a position is reached.</summary>
    private sealed class WorkerProbe
    {
        private long _rows;
        private long _target = long.MaxValue;
        private TaskCompletionSource _reached = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private long _trackFirst;
        private long[]? _committed;

        public long Rows => Interlocked.Read(ref _rows);

        public List<double> Latencies { get; } = [];

        public Task ExpectPosition(long position)
        {
            _reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Volatile.Write(ref _target, position);
            return _reached.Task;
        }

        public void Track(long first, long[] committed, int count)
        {
            Latencies.Clear();
            Latencies.Capacity = count;
            _trackFirst = first;
            Volatile.Write(ref _committed, committed);
        }

        /// <summary>Runs on the worker's replication read loop, as every consumer on a worker does.</summary>
        public void OnUpdate(StreamUpdate update)
        {
            if (update.Stream != StreamNames.Events)
            {
                return;
            }

            long now = Stopwatch.GetTimestamp();
            Interlocked.Add(ref _rows, update.Rows.Count);
            if (Volatile.Read(ref _committed) is { } committed)
            {
                long index = update.Position - _trackFirst;
                if (index >= 0 && index < committed.Length && update.Rows.Count > 0)
                {
                    Latencies.Add(Stopwatch.GetElapsedTime(Volatile.Read(ref committed[index]), now).TotalMilliseconds);
                }
            }

            if (update.Position >= Volatile.Read(ref _target))
            {
                _reached.TrySetResult();
            }
        }
    }
}
