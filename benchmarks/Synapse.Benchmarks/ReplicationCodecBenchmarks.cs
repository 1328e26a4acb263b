using System.Buffers;
using System.IO.Pipelines;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Logging.Abstractions;
using Synapse.Replication.Protocol;
using Synapse.Replication.Tcp;
using Synapse.Streams;

namespace Synapse.Benchmarks;

/// <summary>
/// The replication wire codec per row: parsing a buffer of RDATA lines with one reader (the buffer as one segment, and
/// cut into 4 KiB segments as a socket delivers it), writing RDATA lines, and the row JSON both ways. Each benchmark
/// handles <see cref="Rows"/> rows per invocation and reports per row (OperationsPerInvoke), so the mean is the cost
/// of one row and 1 s / mean is rows per second on one core.
/// </summary>
[MemoryDiagnoser]
public class ReplicationCodecBenchmarks
{
    /// <summary>Rows per invocation.</summary>
    public const int Rows = 10_000;

    private readonly ArrayBufferWriter<byte> _output = new(4 * 1024 * 1024);
    private readonly ArrayBufferWriter<byte> _rowOutput = new(4096);
    private ReplicationCommandReader _reader = null!;
    private Utf8JsonWriter _rowWriter = null!;
    private ReadOnlySequence<byte> _whole;
    private ReadOnlySequence<byte> _segmented;
    private (long? Token, byte[] Json)[] _lines = null!;
    private StreamRow[] _rows = null!;

    /// <summary>Bytes of the RDATA buffer (for bytes per row: divide by <see cref="Rows"/>).</summary>
    public int BufferLength { get; private set; }

    [GlobalSetup]
    public void Setup()
    {
        _rows = ReplicationBenchData.EventRows(Rows);
        _lines = ReplicationBenchData.Lines(_rows);
        var buffer = new ArrayBufferWriter<byte>(Rows * 256);
        foreach (var (token, json) in _lines)
        {
            ReplicationCommandWriter.WriteRdata(buffer, StreamNames.Events, "master", token, json);
        }

        byte[] bytes = buffer.WrittenSpan.ToArray();
        BufferLength = bytes.Length;
        _whole = new ReadOnlySequence<byte>(bytes);
        _segmented = Segments.Of(bytes, 4096);
        // As a worker reads: rows are borrowed from the buffer, decoded before the reader moves on.
        _reader = new ReplicationCommandReader(ReplicationPeer.Client, borrowRows: true);
        _rowWriter = StreamRowCodec.CreateWriter(_rowOutput);
    }

    [GlobalCleanup]
    public void Cleanup() => _rowWriter.Dispose();

    /// <summary>Parse RDATA lines from one contiguous buffer.</summary>
    [Benchmark(OperationsPerInvoke = Rows)]
    public long ParseRdataSingleSegment() => Parse(_whole);

    /// <summary>Parse the same lines from 4 KiB segments (lines straddling a boundary are copied).</summary>
    [Benchmark(OperationsPerInvoke = Rows)]
    public long ParseRdata4KiBSegments() => Parse(_segmented);

    /// <summary>Parse and decode the row, what a worker does per RDATA before applying it.</summary>
    [Benchmark(OperationsPerInvoke = Rows)]
    public long ParseAndDecodeRow()
    {
        var buffer = _whole;
        long sum = 0;
        while (_reader.TryRead(ref buffer, out var command))
        {
            sum += StreamRowCodec.Read(((RdataCommand)command).Row.Span).NotifierKeys.Count;
        }

        return sum;
    }

    /// <summary>Write RDATA lines (row JSON already encoded) into a reused buffer.</summary>
    [Benchmark(OperationsPerInvoke = Rows)]
    public int WriteRdata()
    {
        _output.ResetWrittenCount();
        foreach (var (token, json) in _lines)
        {
            ReplicationCommandWriter.WriteRdata(_output, StreamNames.Events, "master", token, json);
        }

        return _output.WrittenCount;
    }

    /// <summary>Encode a row's JSON with a reused writer (main does this once per row, whatever the worker count).</summary>
    [Benchmark(OperationsPerInvoke = Rows)]
    public long EncodeRow()
    {
        long total = 0;
        foreach (var row in _rows)
        {
            _rowOutput.ResetWrittenCount();
            _rowWriter.Reset(_rowOutput);
            StreamRowCodec.Write(_rowWriter, row);
            total += _rowOutput.WrittenCount;
        }

        return total;
    }

    /// <summary>Decode a row's JSON into a <see cref="StreamRow"/> (a worker does this per received row).</summary>
    [Benchmark(OperationsPerInvoke = Rows)]
    public long DecodeRow()
    {
        long total = 0;
        foreach (var (_, json) in _lines)
        {
            total += StreamRowCodec.Read(json).NotifierKeys.Count;
        }

        return total;
    }

    private long Parse(ReadOnlySequence<byte> buffer)
    {
        long sum = 0;
        while (_reader.TryRead(ref buffer, out var command))
        {
            var rdata = (RdataCommand)command;
            sum += rdata.Token ?? 0;
            sum += rdata.Row.Length;
        }

        return sum;
    }

    /// <summary>Splits a buffer into a chain of fixed-size segments, as a pipe fed by a socket hands it over.</summary>
    private sealed class Segments : ReadOnlySequenceSegment<byte>
    {
        private Segments(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public static ReadOnlySequence<byte> Of(byte[] bytes, int size)
        {
            var first = new Segments(bytes.AsMemory(0, Math.Min(size, bytes.Length)), 0);
            var last = first;
            for (int offset = size; offset < bytes.Length; offset += size)
            {
                var next = new Segments(bytes.AsMemory(offset, Math.Min(size, bytes.Length - offset)), offset);
                last.Next = next;
                last = next;
            }

            return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
        }
    }
}

/// <summary>
/// Main's fan-out in memory: a <see cref="ReplicationServer"/> with 1, 4 or 16 authenticated workers, each a raw
/// reader that drains its pipe and counts RDATA lines. An invocation publishes <see cref="Updates"/> one-row updates
/// through the events stream's generator (Allocate/Complete, as the persister does) and ends when every reader has
/// counted all of them; the mean is per row published, so rows/s = 1 s / mean (each row delivered to every reader).
/// </summary>
[MemoryDiagnoser]
public class ReplicationFanoutBenchmarks
{
    /// <summary>Updates (one row each) per invocation.</summary>
    public const int Updates = 1_000_000;

    private const string Secret = "bench-secret";

    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Task> _connections = [];
    private readonly List<CountingReader> _readers = [];
    private StreamIdGenerator _events = null!;
    private StreamRow[] _rows = null!;

    [Params(1, 4, 16)]
    public int Subscribers { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var bus = new StreamBus();
        var streams = new StreamRegistry(bus, []);
        streams.InitializeAsync(CancellationToken.None).GetAwaiter().GetResult();
        var server = new ReplicationServer(
            new ReplicationServerOptions
            {
                ServerName = "bench.local",
                Secret = Secret,

                // Measure the streaming path: no reader may fall into pull mode, and silent readers are not timed out.
                MaxQueuedBytes = long.MaxValue / 2,
                Timeouts = new ReplicationTimeouts(TimeSpan.FromSeconds(5), TimeSpan.FromHours(1)),
            },
            streams, bus, NullLogger<ReplicationServer>.Instance);
        _events = streams[StreamNames.Events];
        _rows = ReplicationBenchData.EventRows(1024);
        for (int i = 0; i < Subscribers; i++)
        {
            var transport = new InMemoryTransport();
            _connections.Add(Task.Run(() => server.HandleConnectionAsync(transport.Server, "memory", _stopping.Token)));
            var reader = new CountingReader(transport.Client);
            reader.HandshakeAsync(Secret, $"worker{i}").GetAwaiter().GetResult();
            reader.Start();
            _readers.Add(reader);
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _stopping.Cancel();
        Task.WaitAll([.. _connections, .. _readers.Select(r => r.Completion)], TimeSpan.FromSeconds(10));
    }

    [Benchmark(OperationsPerInvoke = Updates)]
    public async Task PublishAndDeliver()
    {
        var done = _readers.Select(r => r.ExpectAsync(Updates)).ToArray();
        var rows = _rows;
        for (int i = 0; i < Updates; i++)
        {
            long position = _events.Allocate();
            _events.Complete(position, [rows[i & (rows.Length - 1)]]);
        }

        await Task.WhenAll(done);
    }

    /// <summary>A worker stand-in: authenticates properly, then only counts the RDATA lines it receives.</summary>
    internal sealed class CountingReader(IDuplexPipe pipe)
    {
        private long _count;
        private long _target = long.MaxValue;
        private TaskCompletionSource _reached = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Completion { get; private set; } = Task.CompletedTask;

        public long Count => Volatile.Read(ref _count);

        /// <summary>SERVER nonce → AUTH proof, NAME, REPLICATE; returns once main's POSITIONs arrived (it streams to us).</summary>
        public async Task HandshakeAsync(string secret, string name)
        {
            var reader = new ReplicationCommandReader(ReplicationPeer.Client);
            bool replicating = false;
            while (!replicating)
            {
                var result = await pipe.Input.ReadAsync();
                var buffer = result.Buffer;
                while (reader.TryRead(ref buffer, out var command))
                {
                    if (command is ServerCommand { Nonce: { } nonce })
                    {
                        string hello = $"AUTH {ReplicationProtocol.Proof(secret, nonce)}\nNAME {name}\nREPLICATE\n";
                        await pipe.Output.WriteAsync(Encoding.ASCII.GetBytes(hello));
                    }
                    else if (command is PositionCommand)
                    {
                        replicating = true;
                    }
                }

                pipe.Input.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted)
                {
                    throw new InvalidOperationException("main closed the connection during the handshake");
                }
            }
        }

        public void Start() => Completion = Task.Run(DrainAsync);

        /// <summary>Completes once <paramref name="more"/> further RDATA lines have been counted.</summary>
        public Task ExpectAsync(long more)
        {
            _reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            Volatile.Write(ref _target, Count + more);
            if (Count >= Volatile.Read(ref _target))
            {
                _reached.TrySetResult();
            }

            return _reached.Task;
        }

        private async Task DrainAsync()
        {
            while (true)
            {
                var result = await pipe.Input.ReadAsync();
                var buffer = result.Buffer;
                long counted = 0;
                while (buffer.PositionOf((byte)'\n') is { } end)
                {
                    var line = buffer.Slice(0, end);
                    if (StartsWithRdata(line))
                    {
                        counted++;
                    }

                    buffer = buffer.Slice(buffer.GetPosition(1, end));
                }

                pipe.Input.AdvanceTo(buffer.Start, buffer.End);
                if (counted > 0 && Interlocked.Add(ref _count, counted) >= Volatile.Read(ref _target))
                {
                    _reached.TrySetResult();
                }

                if (result.IsCompleted)
                {
                    return;
                }
            }
        }

        private static bool StartsWithRdata(ReadOnlySequence<byte> line)
        {
            if (line.FirstSpan.Length >= 5 || line.Length < 5)
            {
                return line.FirstSpan.StartsWith("RDATA"u8);
            }

            Span<byte> start = stackalloc byte[5];
            line.Slice(0, 5).CopyTo(start);
            return start.SequenceEqual("RDATA"u8);
        }
    }
}

/// <summary>Realistic rows of the events stream (the shape <c>EventStreamRows.Build</c> publishes).</summary>
internal static class ReplicationBenchData
{
    private const string Base64Url = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    /// <summary>Mostly messages; every 10th a membership event (two notifier keys), every 7th a reaction.</summary>
    public static StreamRow[] EventRows(int count)
    {
        var random = new Random(42);
        var rows = new StreamRow[count];
        for (int i = 0; i < count; i++)
        {
            string room = $"!{Id(random, 18)}:bench.local";
            string sender = $"@user{random.Next(10_000)}:bench.local";
            var data = new JsonObject { ["event_id"] = "$" + Id(random, 43), ["room_id"] = room };
            List<string> keys = [NotifierKey.Room(room)];
            if (i % 10 == 9)
            {
                data["type"] = "m.room.member";
                data["sender"] = sender;
                data["state_key"] = sender;
                data["membership"] = "join";
                keys.Add(NotifierKey.User(sender));
            }
            else if (i % 7 == 6)
            {
                data["type"] = "m.reaction";
                data["sender"] = sender;
                data["relates_to"] = "$" + Id(random, 43);
                data["rel_type"] = "m.annotation";
            }
            else
            {
                data["type"] = "m.room.message";
                data["sender"] = sender;
            }

            rows[i] = new StreamRow(data, keys);
        }

        return rows;
    }

    /// <summary>
    /// The rows as RDATA lines: positions of one row mostly, with a <c>batch</c> group of three rows every 20 rows
    /// (an event persisted with its state, or a batch of backfill).
    /// </summary>
    public static (long? Token, byte[] Json)[] Lines(StreamRow[] rows)
    {
        var lines = new (long? Token, byte[] Json)[rows.Length];
        var json = new ArrayBufferWriter<byte>(1024);
        long position = 1000;
        for (int i = 0; i < rows.Length; i++)
        {
            json.ResetWrittenCount();
            StreamRowCodec.Write(json, rows[i]);
            bool batched = i % 20 is 17 or 18;
            lines[i] = (batched ? null : ++position, json.WrittenSpan.ToArray());
        }

        return lines;
    }

    private static string Id(Random random, int length) =>
        string.Create(length, random, (span, r) =>
        {
            for (int i = 0; i < span.Length; i++)
            {
                span[i] = Base64Url[r.Next(Base64Url.Length)];
            }
        });
}
