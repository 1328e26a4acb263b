using System.IO.Pipelines;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Synapse.Replication.Protocol;
using Synapse.Streams;

namespace Synapse.Replication.Tcp;

/// <summary>Settings of a worker's side of TCP replication.</summary>
public sealed class ReplicationClientOptions
{
    /// <summary>The homeserver's name; a main that greets with another name is left at once.</summary>
    public required string ServerName { get; init; }

    /// <summary>This worker's instance name (<c>worker_name</c>), sent in NAME; main refuses a second live one.</summary>
    public required string InstanceName { get; init; }

    /// <summary>The shared secret (<c>worker_replication_secret</c>).</summary>
    public required string Secret { get; init; }

    /// <summary>Opens a transport to main: TCP (<see cref="ReplicationTcp.ConnectAsync(string, int, bool, CancellationToken)"/>), TLS, or an in-memory pipe.</summary>
    public required Func<CancellationToken, ValueTask<IDuplexPipe>> Connect { get; init; }

    /// <summary>For logs: where <see cref="Connect"/> goes.</summary>
    public string Endpoint { get; init; } = "main";

    /// <summary>Keepalive settings.</summary>
    public ReplicationTimeouts Timeouts { get; init; } = ReplicationTimeouts.Default;

    /// <summary>The longest line accepted.</summary>
    public int MaxLineLength { get; init; } = ReplicationCommandReader.DefaultMaxLineLength;

    /// <summary>
    /// The first reconnect delay; it doubles up to <see cref="MaxReconnectDelay"/> and resets once connected. Also the first
    /// delay before a stream whose catch-up failed is asked for again (doubling the same way, per connection).
    /// </summary>
    public TimeSpan MinReconnectDelay { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>The longest reconnect (and catch-up retry) delay.</summary>
    public TimeSpan MaxReconnectDelay { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Positions asked of a stream source per page when filling a gap.</summary>
    public int CatchUpPageSize { get; init; } = 500;
}

/// <summary>
/// A worker's side of TCP replication: connects to main (and reconnects, with back-off, for as long as it runs),
/// proves the shared secret, asks for positions, fills each stream's gap from that stream's
/// <see cref="IStreamSource"/> (paged, no cap), then applies RDATA as it arrives. Everything goes into the local
/// <see cref="StreamRegistry"/> (<see cref="StreamIdGenerator.Follow"/>), so the worker's bus, sync notifier and
/// caches see the same updates, in the same order, as main's.
/// </summary>
/// <remarks>
/// Rules that keep rows from being lost or applied twice: RDATA for a stream is applied only after that stream's
/// POSITION was handled on this connection (until then the POSITION's catch-up covers it); a <c>batch</c> group is
/// applied whole when its last row arrives and dropped if the link breaks first; a position at or below the
/// applied one is ignored.
/// </remarks>
public sealed class ReplicationClient : IStreamPositionWaiter
{
    private readonly ReplicationClientOptions _options;
    private readonly StreamRegistry _streams;
    private readonly Dictionary<string, IStreamSource> _sources;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Dictionary<string, string?> _syncingUsers = new(StringComparer.Ordinal);
    private readonly Queue<InvalidateCacheCommand> _pendingInvalidations = new();
    private ReplicationConnection? _announced;
    private readonly Dictionary<string, string> _epochs = new(StringComparer.Ordinal);
    private readonly Lock _waitersGate = new();
    private readonly List<(string Stream, long Position, TaskCompletionSource Done)> _waiters = [];
    private ReplicationConnection? _connection;
    private TaskCompletionSource _connected = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Creates the client; <paramref name="sources"/> fill gaps (one per stream; streams without one skip gaps).</summary>
    public ReplicationClient(ReplicationClientOptions options, StreamRegistry streams, StreamBus bus, IEnumerable<IStreamSource> sources,
        ILogger<ReplicationClient> logger, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(bus);
        ArgumentNullException.ThrowIfNull(sources);
        _options = options;
        _streams = streams;
        _sources = sources.ToDictionary(s => s.Stream, StringComparer.Ordinal);
        _logger = logger;
        _time = time ?? TimeProvider.System;
        bus.Subscribe(ReleaseWaiters);
    }

    /// <summary>A stream kept in main's memory restarted with main: consumers holding its state must drop it.</summary>
    public event Action<string>? StreamReset;

    /// <summary>Main relayed that a remote server is reachable again.</summary>
    public event Action<string>? RemoteServerUp;

    /// <summary>
    /// Main answered the handshake with <c>ERROR</c> (a wrong secret, an instance name already connected) and closed the
    /// connection. The client keeps retrying; a host decides when to give up (<see cref="Connected"/> tells it main took it).
    /// </summary>
    public event Action<string>? Refused;

    /// <summary>Main accepted the connection and the first stream is live.</summary>
    public event Action? Connected;

    /// <summary>True while connected, authenticated and past REPLICATE.</summary>
    public bool IsConnected => _connected.Task.IsCompleted && _connection is { IsClosed: false };

    /// <summary>Completes when the client is connected (the current connection, or the next one).</summary>
    public Task WaitUntilConnectedAsync(CancellationToken cancellationToken) => _connected.Task.WaitAsync(cancellationToken);

    /// <summary>
    /// Sends a command to main (USER_SYNC, USER_IP, INVALIDATE_CACHE...). Returns false when not connected: such
    /// commands describe state, and callers re-send their state on <see cref="WaitUntilConnectedAsync"/>.
    /// </summary>
    public bool Send(ReplicationCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        return IsConnected && _connection!.Send(command);
    }

    /// <summary>
    /// Tells main whether a user is long-polling here (<c>USER_SYNC</c>), for presence. The state is kept and announced
    /// again after every reconnect, so a start made while disconnected, or lost with a connection, still reaches main.
    /// </summary>
    public void SetUserSyncing(string userId, string? deviceId, bool syncing)
    {
        ArgumentException.ThrowIfNullOrEmpty(userId);
        lock (_syncingUsers)
        {
            bool changed = syncing ? _syncingUsers.TryAdd(userId, deviceId) : _syncingUsers.Remove(userId);
            if (changed)
            {
                Send(new UserSyncCommand(_options.InstanceName, userId, deviceId, syncing, _time.GetUtcNow().ToUnixTimeMilliseconds()));
            }
        }
    }

    /// <summary>
    /// Has main drop a cache entry in every process (<c>INVALIDATE_CACHE</c>; main puts it on the caches stream). Sent at
    /// once when connected; otherwise kept, at most <see cref="MaxPendingInvalidations"/>, and sent after the next
    /// handshake.
    /// </summary>
    public void InvalidateCache(string cache, IReadOnlyList<string> keys)
    {
        ArgumentException.ThrowIfNullOrEmpty(cache);
        ArgumentNullException.ThrowIfNull(keys);
        var command = new InvalidateCacheCommand(cache, JsonSerializer.SerializeToUtf8Bytes(keys));
        lock (_pendingInvalidations)
        {
            if (_announced is { IsClosed: false } connection && connection.Send(command))
            {
                return;
            }

            if (_pendingInvalidations.Count >= MaxPendingInvalidations)
            {
                _pendingInvalidations.Dequeue();
                ReplicationLog.InvalidationDropped(_logger, _options.Endpoint, MaxPendingInvalidations);
            }

            _pendingInvalidations.Enqueue(command);
        }
    }

    /// <summary>How many cache invalidations are kept for main while disconnected; past it the oldest go.</summary>
    public const int MaxPendingInvalidations = 10_000;

    /// <summary>
    /// Waits until <paramref name="stream"/> has been applied up to <paramref name="position"/> (read-after-write:
    /// a worker that had main write something waits for it before answering its client). A POSITION that
    /// advances the stream without rows releases waiters too.
    /// </summary>
    public async Task WaitForPositionAsync(string stream, long position, CancellationToken cancellationToken)
    {
        var waiter = (stream, position, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        lock (_waitersGate)
        {
            _waiters.Add(waiter);
        }

        // Checked after registering (and outside the waiters' lock, which the bus takes under the stream's lock):
        // an update applied in between has either released the waiter already or is seen here.
        if (_streams[stream].Current >= position)
        {
            lock (_waitersGate)
            {
                _waiters.Remove(waiter);
            }

            waiter.Item3.TrySetResult();
        }

        // A wait given up (a timeout) must not stay registered until the position comes, which may be never.
        using var registration = cancellationToken.Register(() =>
        {
            lock (_waitersGate)
            {
                _waiters.Remove(waiter);
            }
        });
        await waiter.Item3.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Connects and follows main until <paramref name="cancellationToken"/> is cancelled.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var delay = _options.MinReconnectDelay;
        while (!cancellationToken.IsCancellationRequested)
        {
            IDuplexPipe pipe;
            try
            {
                pipe = await _options.Connect(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or InvalidOperationException)
            {
                ReplicationLog.ConnectFailed(_logger, _options.Endpoint, e.Message, delay.TotalMilliseconds);
                await DelayAsync(delay, cancellationToken).ConfigureAwait(false);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _options.MaxReconnectDelay.Ticks));
                continue;
            }

            delay = _options.MinReconnectDelay;
            var connection = new ReplicationConnection(pipe, ReplicationPeer.Client, _options.Timeouts, _options.MaxLineLength,
                _options.Endpoint, _logger, _time);
            var session = new Session(connection) { RetryDelay = _options.MinReconnectDelay };
            _connection = connection;
            try
            {
                await connection.RunAsync((command, ct) => OnCommandAsync(session, command, ct), cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                if (_connected.Task.IsCompleted)
                {
                    _connected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                }

                ReplicationLog.PeerClosed(_logger, _options.Endpoint, connection.CloseReason ?? "main closed the connection");
            }

            await DelayAsync(delay, cancellationToken).ConfigureAwait(false);
        }
    }

    private async ValueTask OnCommandAsync(Session session, ReplicationCommand command, CancellationToken cancellationToken)
    {
        var connection = session.Connection;
        switch (command)
        {
            case ServerCommand server:
                if (!string.Equals(server.ServerName, _options.ServerName, StringComparison.Ordinal))
                {
                    connection.Close("Wrong remote");
                    break;
                }

                if (server.Nonce is { } nonce)
                {
                    connection.Send(new AuthCommand(ReplicationProtocol.Proof(_options.Secret, nonce)));
                }

                connection.Send(new NameCommand(_options.InstanceName));
                connection.Send(ReplicateCommand.Instance);

                // Main forgot this worker's syncing users when the last connection closed: announce them again.
                lock (_syncingUsers)
                {
                    long now = _time.GetUtcNow().ToUnixTimeMilliseconds();
                    foreach (var (userId, deviceId) in _syncingUsers)
                    {
                        connection.Send(new UserSyncCommand(_options.InstanceName, userId, deviceId, true, now));
                    }
                }

                // Then the cache invalidations made while disconnected, in order; later ones go straight out.
                lock (_pendingInvalidations)
                {
                    while (_pendingInvalidations.TryPeek(out var pending) && connection.Send(pending))
                    {
                        _pendingInvalidations.Dequeue();
                    }

                    _announced = connection;
                }

                break;
            case PositionCommand position:
                await OnPositionAsync(session, position, cancellationToken).ConfigureAwait(false);
                break;
            case RdataCommand rdata:
                OnRdata(session, rdata);
                break;
            case ErrorCommand error:
                ReplicationLog.PeerError(_logger, connection.Description, error.Message);
                if (!session.Positioned)
                {
                    Refused?.Invoke(error.Message);
                }

                break;
            case RemoteServerUpCommand up:
                RemoteServerUp?.Invoke(up.ServerName);
                break;
            default:
                break;
        }
    }

    private async Task OnPositionAsync(Session session, PositionCommand position, CancellationToken cancellationToken)
    {
        session.Positioned = true;
        string stream = position.Stream;
        session.Live.Remove(stream);
        session.Batches.Remove(stream);
        if (!StreamRegistry.AllStreams.Contains(stream))
        {
            // A stream this version does not know (a newer main): nothing to apply.
            return;
        }

        var generator = _streams[stream];
        if (position.Epoch is { } epoch)
        {
            if (_epochs.TryGetValue(stream, out string? known) && known != epoch)
            {
                ReplicationLog.StreamReset(_logger, stream, epoch);
                generator.Reset(0);
                StreamReset?.Invoke(stream);
            }

            _epochs[stream] = epoch;
        }

        long current = generator.Current;
        if (current > position.NewToken)
        {
            // The writer is behind what we applied without announcing a new epoch: follow it from where it is.
            generator.Reset(position.NewToken);
            StreamReset?.Invoke(stream);
        }
        else if (current < position.PreviousToken)
        {
            try
            {
                await CatchUpAsync(stream, generator, current, position.NewToken, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                // One stream's failing source (the notes' §5.4) must neither stall the others nor drop the link: this
                // stream stays out of step (its RDATA is not applied) until a later REPLICATE catches it up.
                ReplicationLog.CatchUpFailed(_logger, stream, generator.Current, position.NewToken, e);
                RetryCatchUpLater(session);
                return;
            }
        }

        generator.Follow(position.NewToken, []);
        session.Live.Add(stream);
        if (session.Live.Count == 1)
        {
            _connected.TrySetResult();
            Connected?.Invoke();
        }
    }

    /// <summary>Asks main for every position again after a back-off (one request at a time per connection).</summary>
    private void RetryCatchUpLater(Session session)
    {
        if (Interlocked.Exchange(ref session.RetryScheduled, 1) == 1)
        {
            return;
        }

        var delay = session.RetryDelay;
        session.RetryDelay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _options.MaxReconnectDelay.Ticks));
        _ = Task.Run(async () =>
        {
            try
            {
                await Task.Delay(delay, _time).ConfigureAwait(false);
            }
            finally
            {
                Volatile.Write(ref session.RetryScheduled, 0);
                if (!session.Connection.IsClosed)
                {
                    session.Connection.Send(ReplicateCommand.Instance);
                }
            }
        });
    }

    private async Task CatchUpAsync(string stream, StreamIdGenerator generator, long from, long upTo, CancellationToken cancellationToken)
    {
        if (!_sources.TryGetValue(stream, out var source))
        {
            ReplicationLog.NoCatchUpSource(_logger, stream, from, upTo);
            return;
        }

        long after = from;
        int updates = 0;
        while (after < upTo)
        {
            var page = await source.GetUpdatesAsync(after, upTo, _options.CatchUpPageSize, cancellationToken).ConfigureAwait(false);
            foreach (var update in page)
            {
                generator.Follow(update.Position, update.Rows);
            }

            updates += page.Count;
            if (page.Count < _options.CatchUpPageSize)
            {
                break;
            }

            after = page[^1].Position;
        }

        ReplicationLog.CaughtUp(_logger, stream, from, upTo, updates);
    }

    private void OnRdata(Session session, RdataCommand rdata)
    {
        if (!session.Live.Contains(rdata.Stream))
        {
            return;
        }

        StreamRow row;
        try
        {
            row = StreamRowCodec.Read(rdata.Row.Span);
        }
        catch (ReplicationProtocolException e)
        {
            // An unreadable row must not be skipped silently: ask for positions again and pull the range instead.
            ReplicationLog.RefusedLine(_logger, session.Connection.Description, e.Message);
            session.Live.Remove(rdata.Stream);
            session.Batches.Remove(rdata.Stream);
            session.Connection.Send(ReplicateCommand.Instance);
            return;
        }

        if (!session.Batches.TryGetValue(rdata.Stream, out var rows))
        {
            rows = [];
            session.Batches[rdata.Stream] = rows;
        }

        rows.Add(row);
        if (rdata.Token is { } token)
        {
            session.Batches.Remove(rdata.Stream);
            _streams[rdata.Stream].Follow(token, rows);
        }
    }

    private void ReleaseWaiters(StreamUpdate update)
    {
        lock (_waitersGate)
        {
            for (int i = _waiters.Count - 1; i >= 0; i--)
            {
                var (stream, position, done) = _waiters[i];
                if (stream == update.Stream && position <= update.Position)
                {
                    done.TrySetResult();
                    _waiters.RemoveAt(i);
                }
            }
        }
    }

    private async Task DelayAsync(TimeSpan delay, CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>What one connection knows: streams whose POSITION was handled, and half-received batches.</summary>
    private sealed class Session(ReplicationConnection connection)
    {
        public ReplicationConnection Connection { get; } = connection;

        public HashSet<string> Live { get; } = new(StringComparer.Ordinal);

        public Dictionary<string, List<StreamRow>> Batches { get; } = new(StringComparer.Ordinal);

        /// <summary>Whether main sent a POSITION on this connection (it accepted the handshake).</summary>
        public bool Positioned { get; set; }

        /// <summary>1 while a REPLICATE after a failed catch-up is pending.</summary>
        public int RetryScheduled;

        /// <summary>The next back-off before asking again after a failed catch-up.</summary>
        public TimeSpan RetryDelay { get; set; }
    }
}
