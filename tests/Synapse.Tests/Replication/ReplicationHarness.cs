using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using Synapse.Replication.Tcp;
using Synapse.Streams;

namespace Synapse.Tests.Replication;

/// <summary>
/// Main's side for replication tests: a real stream registry and bus, a <see cref="ReplicationServer"/>, and a
/// record of every update main published, which plays the shared database the worker's stream sources read.
/// </summary>
internal sealed class TestMain : IAsyncDisposable
{
    public const string Secret = "s3cret";

    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentBag<Task> _connections = [];

    private TestMain(StreamBus bus, StreamRegistry streams, ReplicationServer server, UpdateLog log)
    {
        Bus = bus;
        Streams = streams;
        Server = server;
        Log = log;
    }

    public StreamBus Bus { get; }

    public StreamRegistry Streams { get; }

    public ReplicationServer Server { get; }

    /// <summary>Everything published, per stream, in order: "the database".</summary>
    public UpdateLog Log { get; }

    public static Task<TestMain> StartAsync(Func<ReplicationServerOptions, ReplicationServerOptions>? configure = null) =>
        StartAsync(new UpdateLog(), new Dictionary<string, long>(), configure);

    /// <summary>Starts main over an existing log (a restart): DB streams resume at their stored position.</summary>
    public static async Task<TestMain> StartAsync(UpdateLog log, IReadOnlyDictionary<string, long> start,
        Func<ReplicationServerOptions, ReplicationServerOptions>? configure = null)
    {
        var bus = new StreamBus();
        var streams = new StreamRegistry(bus, [.. start.Select(kv => new FixedLoader(kv.Key, kv.Value))]);
        await streams.InitializeAsync(CancellationToken.None);
        bus.Subscribe(log.Record);
        var options = new ReplicationServerOptions { ServerName = "test.local", Secret = Secret };
        options = configure?.Invoke(options) ?? options;
        var server = new ReplicationServer(options, streams, bus, NullLogger<ReplicationServer>.Instance);
        return new TestMain(bus, streams, server, log);
    }

    /// <summary>Writes one position of a stream with the given rows (none: a position that wrote nothing).</summary>
    public long Write(string stream, params JsonObject[] rows)
    {
        var generator = Streams[stream];
        long position = generator.Allocate();
        generator.Complete(position, [.. rows.Select(r => new StreamRow(r, [NotifierKey.Room("!r:test.local")]))]);
        return position;
    }

    /// <summary>Serves a new in-memory connection and returns the worker's end.</summary>
    public InMemoryTransport Accept(long pauseThreshold = 0)
    {
        var transport = new InMemoryTransport(pauseThreshold);
        _connections.Add(Task.Run(() => Server.HandleConnectionAsync(transport.Server, "memory", _stopping.Token)));
        return transport;
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        await Task.WhenAll(_connections);
        _stopping.Dispose();
    }

    private sealed class FixedLoader(string stream, long position) : IStreamPositionLoader
    {
        public string Stream { get; } = stream;

        public Task<long> LoadCurrentAsync(CancellationToken cancellationToken) => Task.FromResult(position);
    }
}

/// <summary>Every update published, per stream; also the stream sources a worker fills gaps from.</summary>
internal sealed class UpdateLog
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, List<StreamUpdate>> _updates = new(StringComparer.Ordinal);

    public int PagesRead { get; private set; }

    public void Record(StreamUpdate update)
    {
        if (update.Rows.Count == 0)
        {
            return;
        }

        lock (_gate)
        {
            if (!_updates.TryGetValue(update.Stream, out var list))
            {
                _updates[update.Stream] = list = [];
            }

            list.Add(update);
        }
    }

    public IReadOnlyList<StreamUpdate> Of(string stream)
    {
        lock (_gate)
        {
            return _updates.TryGetValue(stream, out var list) ? [.. list] : [];
        }
    }

    public IEnumerable<IStreamSource> Sources(params string[] streams) => streams.Select(s => new Source(this, s));

    /// <summary>Streams whose sources throw (a database that is down for one table, a bug in one stream's reader).</summary>
    public ConcurrentDictionary<string, bool> Failing { get; } = new(StringComparer.Ordinal);

    private sealed class Source(UpdateLog log, string stream) : IStreamSource
    {
        public string Stream { get; } = stream;

        public long CurrentPosition => log.Of(Stream) is { Count: > 0 } list ? list[^1].Position : 0;

        public Task<IReadOnlyList<StreamUpdate>> GetUpdatesAsync(long after, long upTo, int limit, CancellationToken cancellationToken)
        {
            if (log.Failing.ContainsKey(Stream))
            {
                throw new InjectedFailureException($"The {Stream} source is failing.");
            }

            lock (log._gate)
            {
                log.PagesRead++;
            }

            IReadOnlyList<StreamUpdate> page = [.. log.Of(Stream).Where(u => u.Position > after && u.Position <= upTo).Take(limit)];
            return Task.FromResult(page);
        }
    }
}

/// <summary>A worker following a <see cref="TestMain"/>: its own registry and bus, and a record of what it applied.</summary>
internal sealed class TestWorker : IAsyncDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private Task _running = Task.CompletedTask;
    private readonly ConcurrentQueue<StreamUpdate> _applied = new();
    private InMemoryTransport? _transport;
    private int _connects;

    private TestWorker(StreamRegistry streams, Func<TestWorker, ReplicationClient> create)
    {
        Streams = streams;
        Client = create(this);
    }

    public StreamRegistry Streams { get; }

    public ReplicationClient Client { get; }

    public int Connects => Volatile.Read(ref _connects);

    public InMemoryTransport? Transport => _transport;

    /// <summary>The main this worker connects to next (tests swap it to simulate a restart of main).</summary>
    public TestMain Main { get; set; } = null!;

    public static async Task<TestWorker> StartAsync(TestMain main, string name = "worker1", string secret = TestMain.Secret,
        long pauseThreshold = 0, ReplicationTimeouts? timeouts = null)
    {
        var bus = new StreamBus();
        var streams = new StreamRegistry(bus, []);
        await streams.InitializeAsync(CancellationToken.None);
        var worker = new TestWorker(streams, self => new ReplicationClient(
            new ReplicationClientOptions
            {
                ServerName = "test.local",
                InstanceName = name,
                Secret = secret,
                Timeouts = timeouts ?? ReplicationTimeouts.Default,
                CatchUpPageSize = 100,
                MinReconnectDelay = TimeSpan.FromMilliseconds(20),
                MaxReconnectDelay = TimeSpan.FromMilliseconds(200),
                Connect = _ =>
                {
                    Interlocked.Increment(ref self._connects);
                    self._transport = self.Main.Accept(pauseThreshold);
                    return ValueTask.FromResult(self._transport.Client);
                },
            },
            streams, bus, main.Log.Sources([.. StreamRegistry.AllStreams]), NullLogger<ReplicationClient>.Instance));
        worker.Main = main;
        bus.Subscribe(u => worker._applied.Enqueue(u));
        worker._running = Task.Run(() => worker.Client.RunAsync(worker._stopping.Token));
        return worker;
    }

    /// <summary>The updates with rows this worker applied for a stream, in order.</summary>
    public IReadOnlyList<StreamUpdate> Applied(string stream) => [.. _applied.Where(u => u.Stream == stream && u.Rows.Count > 0)];

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        await _running;
        _stopping.Dispose();
    }
}

/// <summary>Polling helpers for conditions another thread brings about (a deadline, not a timing assertion).</summary>
internal static class Eventually
{
    public static async Task TrueAsync(Func<bool> condition, string what, int seconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"Timed out waiting until {what}.");
            }

            await Task.Delay(10);
        }
    }

    /// <summary>As <see cref="TrueAsync(Func{bool}, string, int)"/> for a condition that must be fetched (an HTTP call).</summary>
    public static async Task TrueAsync(Func<Task<bool>> condition, string what, int seconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"Timed out waiting until {what}.");
            }

            await Task.Delay(20);
        }
    }
}

/// <summary>A hand-driven peer: writes raw lines into a pipe end and reads what comes back.</summary>
internal sealed class RawPeer(IDuplexPipe pipe)
{
    private readonly List<string> _received = [];
    private string _partial = "";

    public async Task SendAsync(string lines)
    {
        await pipe.Output.WriteAsync(System.Text.Encoding.UTF8.GetBytes(lines));
    }

    /// <summary>Waits for main's SERVER greeting, answers its nonce with AUTH, then sends <paramref name="lines"/>.</summary>
    public async Task AuthenticateAsync(string lines)
    {
        var greeting = await ReadUntilAsync(l => l.StartsWith("SERVER ", StringComparison.Ordinal));
        string nonce = greeting.First(l => l.StartsWith("SERVER ", StringComparison.Ordinal)).Split("nonce=")[1];
        await SendAsync($"AUTH {Synapse.Replication.Tcp.ReplicationProtocol.Proof(TestMain.Secret, nonce)}\n{lines}");
    }

    /// <summary>Reads until a line matching <paramref name="predicate"/> arrived or the other side closed.</summary>
    public async Task<IReadOnlyList<string>> ReadUntilAsync(Func<string, bool> predicate, int seconds = 10)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        while (!_received.Any(predicate))
        {
            ReadResult result;
            try
            {
                result = await pipe.Input.ReadAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            foreach (var segment in result.Buffer)
            {
                _partial += System.Text.Encoding.UTF8.GetString(segment.Span);
            }

            pipe.Input.AdvanceTo(result.Buffer.End);
            int newline;
            while ((newline = _partial.IndexOf('\n', StringComparison.Ordinal)) >= 0)
            {
                _received.Add(_partial[..newline]);
                _partial = _partial[(newline + 1)..];
            }

            if (result.IsCompleted)
            {
                break;
            }
        }

        return _received;
    }
}

/// <summary>What a failing test stream source throws.</summary>
internal sealed class InjectedFailureException(string message) : Exception(message);
