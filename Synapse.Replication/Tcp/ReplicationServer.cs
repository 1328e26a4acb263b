using System.Buffers;
using System.IO.Pipelines;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Synapse.Replication.Protocol;
using Synapse.Streams;

namespace Synapse.Replication.Tcp;

/// <summary>Settings of main's side of TCP replication.</summary>
public sealed class ReplicationServerOptions
{
    /// <summary>The homeserver's name, sent in <c>SERVER</c>; workers configured for another name disconnect.</summary>
    public required string ServerName { get; init; }

    /// <summary>The shared secret (<c>worker_replication_secret</c>) a worker proves it knows before any data flows.</summary>
    public required string Secret { get; init; }

    /// <summary>This process's instance name on the wire (<c>master</c> for main, as the reference protocol uses).</summary>
    public string InstanceName { get; init; } = "master";

    /// <summary>Keepalive settings.</summary>
    public ReplicationTimeouts Timeouts { get; init; } = ReplicationTimeouts.Default;

    /// <summary>The longest line sent or accepted.</summary>
    public int MaxLineLength { get; init; } = ReplicationCommandReader.DefaultMaxLineLength;

    /// <summary>
    /// Bytes that may wait for one worker. Beyond it main stops queueing rows for that worker ("pull mode") and,
    /// once the queue has drained, announces positions so the worker pages the rest from the source.
    /// </summary>
    public long MaxQueuedBytes { get; init; } = 8 * 1024 * 1024;

    /// <summary>Streams kept in main's memory (they restart with main): their POSITIONs carry main's epoch.</summary>
    public IReadOnlySet<string> MemoryStreams { get; init; } = new HashSet<string>(StringComparer.Ordinal) { StreamNames.Typing };
}

/// <summary>A command a worker sent that main acts on (presence, client IPs, cache invalidation...).</summary>
/// <param name="Instance">The worker's instance name (from its NAME).</param>
/// <param name="Command">The command.</param>
public sealed record WorkerCommand(string Instance, ReplicationCommand Command);

/// <summary>What main knows about one connected worker.</summary>
/// <param name="Instance">The worker's instance name, or null before NAME.</param>
/// <param name="Remote">The peer's address.</param>
/// <param name="QueuedBytes">Bytes waiting to be written to it.</param>
/// <param name="Pulling">True while it is in pull mode (it fell behind; POSITIONs only).</param>
public sealed record ReplicationPeerState(string? Instance, string Remote, long QueuedBytes, bool Pulling);

/// <summary>
/// Main's side of TCP replication: greets each worker, checks its proof of the shared secret, answers
/// <c>REPLICATE</c> with every stream's position, and from then on sends each stream update as RDATA (rows sharing
/// a position as one <c>batch</c> group) or, for a position that wrote no rows, as a POSITION. Every update is
/// encoded once and the same bytes are queued on every connection.
/// </summary>
/// <remarks>
/// A worker that does not keep up is not disconnected: once its queue passes
/// <see cref="ReplicationServerOptions.MaxQueuedBytes"/> it gets no more rows until the queue drains, then a
/// POSITION per stream from which it pages what it missed. A row longer than the line limit is never dropped:
/// its position is announced with prev = new, which makes every receiver behind it pull the row.
/// </remarks>
public sealed class ReplicationServer
{
    private readonly ReplicationServerOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, long> _published = new(StringComparer.Ordinal);
    private readonly List<Peer> _peers = [];
    private readonly ArrayBufferWriter<byte> _encoding = new(4096);
    private readonly ArrayBufferWriter<byte> _rowBuffer = new(1024);
    private readonly Utf8JsonWriterHolder _rowWriter;

    /// <summary>Creates the server and starts following the bus; streams must be initialized.</summary>
    public ReplicationServer(ReplicationServerOptions options, StreamRegistry streams, StreamBus bus, ILogger<ReplicationServer> logger,
        TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(streams);
        ArgumentNullException.ThrowIfNull(bus);
        ArgumentException.ThrowIfNullOrEmpty(options.Secret);
        _options = options;
        _logger = logger;
        _time = time ?? TimeProvider.System;
        _rowWriter = new Utf8JsonWriterHolder(_rowBuffer);
        Epoch = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        lock (_gate)
        {
            foreach (string stream in StreamRegistry.AllStreams)
            {
                _published[stream] = streams[stream].Current;
            }

            bus.Subscribe(OnUpdate);
        }
    }

    /// <summary>This run's id: POSITIONs of memory streams carry it, so workers notice a restart of main.</summary>
    public string Epoch { get; }

    /// <summary>Commands workers send for main to act on (USER_SYNC, USER_IP, INVALIDATE_CACHE...).</summary>
    public event Action<WorkerCommand>? CommandReceived;

    /// <summary>
    /// A named worker's connection closed. Raised inside the server's lock: handlers must only hand it on (e.g. to a
    /// channel), in order with <see cref="CommandReceived"/>.
    /// </summary>
    public event Action<string>? WorkerDisconnected;

    /// <summary>The connected workers.</summary>
    public IReadOnlyList<ReplicationPeerState> Peers
    {
        get
        {
            lock (_gate)
            {
                return [.. _peers.Select(p => new ReplicationPeerState(p.Instance, p.Remote, p.Connection.QueuedBytes, p.Pulling))];
            }
        }
    }

    /// <summary>
    /// Serves one connection (TCP, TLS or in memory) until it closes. The pipe is completed when this returns.
    /// </summary>
    public async Task HandleConnectionAsync(IDuplexPipe pipe, string remote, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(pipe);
        var connection = new ReplicationConnection(pipe, ReplicationPeer.Server, _options.Timeouts, _options.MaxLineLength, remote,
            _logger, _time);
        var peer = new Peer(connection, remote, Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)));
        connection.Send(new ServerCommand(_options.ServerName, ReplicationProtocol.Version, peer.Nonce));
        using var pulling = new PeriodicTimer(TimeSpan.FromMilliseconds(100), _time);
        var drain = DrainWatchAsync(peer, pulling, cancellationToken);
        try
        {
            await connection.RunAsync((command, _) => OnCommand(peer, command), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            lock (_gate)
            {
                _peers.Remove(peer);

                // Under the lock: a reconnection under the same name passes NAME only after this, so whoever handles
                // both sees the disconnection before anything the new connection sends.
                if (peer.Authenticated && peer.Instance is { } instance)
                {
                    WorkerDisconnected?.Invoke(instance);
                }
            }

            pulling.Dispose();
            await drain.ConfigureAwait(false);
            ReplicationLog.PeerClosed(_logger, connection.Description, connection.CloseReason ?? "peer closed");
        }
    }

    private ValueTask OnCommand(Peer peer, ReplicationCommand command)
    {
        var connection = peer.Connection;
        switch (command)
        {
            case PingCommand:
                break;
            case ErrorCommand error:
                ReplicationLog.PeerError(_logger, connection.Description, error.Message);
                break;
            case AuthCommand auth when !peer.Authenticated:
                if (!ReplicationProtocol.VerifyProof(_options.Secret, peer.Nonce, auth.Proof))
                {
                    Refuse(peer, "authentication failed");
                    break;
                }

                peer.Authenticated = true;
                break;
            case var _ when !peer.Authenticated:
                Refuse(peer, "authentication required: answer SERVER's nonce with AUTH");
                break;
            case NameCommand name:
                lock (_gate)
                {
                    if (_peers.Any(p => p != peer && p.Instance == name.InstanceName))
                    {
                        Refuse(peer, $"instance name {name.InstanceName} is already connected");
                        break;
                    }

                    peer.Instance = name.InstanceName;
                    connection.Description = $"{name.InstanceName} ({peer.Remote})";
                }

                ReplicationLog.PeerConnected(_logger, connection.Description);
                break;
            case ReplicateCommand:
                lock (_gate)
                {
                    peer.Pulling = false;
                    connection.TrySend(EncodePositions());
                    if (!_peers.Contains(peer))
                    {
                        _peers.Add(peer);
                    }
                }

                break;
            case RemoteServerUpCommand up:
                // Relayed to every other worker, never back to the sender (no relay loops).
                var line = ReplicationConnection.Encode(up);
                lock (_gate)
                {
                    foreach (var other in _peers.Where(p => p != peer))
                    {
                        other.Connection.TrySend(line);
                    }
                }

                CommandReceived?.Invoke(new WorkerCommand(peer.Instance ?? peer.Remote, command));
                break;
            default:
                CommandReceived?.Invoke(new WorkerCommand(peer.Instance ?? peer.Remote, command));
                break;
        }

        return ValueTask.CompletedTask;
    }

    private void Refuse(Peer peer, string reason)
    {
        ReplicationLog.PeerRefused(_logger, peer.Connection.Description, reason);
        peer.Connection.Close(reason);
    }

    /// <summary>Called by the stream generators, in position order per stream: encode once, queue everywhere.</summary>
    private void OnUpdate(StreamUpdate update)
    {
        lock (_gate)
        {
            long previous = _published.GetValueOrDefault(update.Stream);
            _published[update.Stream] = update.Position;
            if (_peers.Count == 0)
            {
                return;
            }

            var lines = EncodeUpdate(update, previous);
            foreach (var peer in _peers)
            {
                if (peer.Pulling)
                {
                    continue;
                }

                if (peer.Connection.QueuedBytes + lines.Length > _options.MaxQueuedBytes)
                {
                    peer.Pulling = true;
                    ReplicationLog.PullMode(_logger, peer.Connection.Description, peer.Connection.QueuedBytes);
                    continue;
                }

                peer.Connection.TrySend(lines);
            }
        }
    }

    private async Task DrainWatchAsync(Peer peer, PeriodicTimer timer, CancellationToken cancellationToken)
    {
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                if (!peer.Pulling || peer.Connection.QueuedBytes > _options.MaxQueuedBytes / 4)
                {
                    continue;
                }

                lock (_gate)
                {
                    // Under the gate no update is being queued: rows after these positions will follow as RDATA.
                    peer.Pulling = false;
                    peer.Connection.TrySend(EncodePositions());
                }

                ReplicationLog.StreamingAgain(_logger, peer.Connection.Description);
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>POSITION s inst P P for every stream: a worker behind P pulls up to it.</summary>
    private byte[] EncodePositions()
    {
        _encoding.ResetWrittenCount();
        foreach (var (stream, position) in _published)
        {
            ReplicationCommandWriter.Write(_encoding, Position(stream, position, position));
        }

        return _encoding.WrittenSpan.ToArray();
    }

    private PositionCommand Position(string stream, long previous, long position) =>
        new(stream, _options.InstanceName, previous, position, _options.MemoryStreams.Contains(stream) ? Epoch : null);

    private byte[] EncodeUpdate(StreamUpdate update, long previous)
    {
        _encoding.ResetWrittenCount();
        if (update.Rows.Count == 0)
        {
            ReplicationCommandWriter.Write(_encoding, Position(update.Stream, previous, update.Position));
            return _encoding.WrittenSpan.ToArray();
        }

        for (int i = 0; i < update.Rows.Count; i++)
        {
            _rowBuffer.ResetWrittenCount();
            _rowWriter.Write(update.Rows[i]);
            bool last = i == update.Rows.Count - 1;
            long? token = last ? update.Position : null;
            int length = ReplicationCommandWriter.RdataLineLength(update.Stream, _options.InstanceName, token, _rowBuffer.WrittenCount);
            if (length > _options.MaxLineLength)
            {
                ReplicationLog.OversizeRow(_logger, update.Stream, update.Position, _rowBuffer.WrittenCount);
                _encoding.ResetWrittenCount();
                ReplicationCommandWriter.Write(_encoding, Position(update.Stream, update.Position, update.Position));
                return _encoding.WrittenSpan.ToArray();
            }

            ReplicationCommandWriter.WriteRdata(_encoding, update.Stream, _options.InstanceName, token, _rowBuffer.WrittenSpan);
        }

        return _encoding.WrittenSpan.ToArray();
    }

    private sealed class Peer(ReplicationConnection connection, string remote, string nonce)
    {
        public ReplicationConnection Connection { get; } = connection;

        public string Remote { get; } = remote;

        public string Nonce { get; } = nonce;

        public bool Authenticated { get; set; }

        public string? Instance { get; set; }

        public bool Pulling { get; set; }
    }

    /// <summary>One reused JSON writer for rows (encoding happens under the gate, one at a time).</summary>
    private sealed class Utf8JsonWriterHolder(ArrayBufferWriter<byte> buffer)
    {
        private readonly System.Text.Json.Utf8JsonWriter _writer = StreamRowCodec.CreateWriter(buffer);

        public void Write(StreamRow row)
        {
            _writer.Reset(buffer);
            StreamRowCodec.Write(_writer, row);
        }
    }
}

/// <summary>Protocol constants and the shared-secret proof.</summary>
public static class ReplicationProtocol
{
    /// <summary>The protocol version this implementation speaks (announced in SERVER as <c>proto=</c>).</summary>
    public const int Version = 1;

    /// <summary>The AUTH proof: hex HMAC-SHA256 of the nonce under the shared secret (the secret never crosses the wire).</summary>
    public static string Proof(string secret, string nonce)
    {
        ArgumentNullException.ThrowIfNull(secret);
        ArgumentNullException.ThrowIfNull(nonce);
        return Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(nonce)));
    }

    /// <summary>Checks a proof in constant time.</summary>
    public static bool VerifyProof(string secret, string nonce, string proof)
    {
        ArgumentNullException.ThrowIfNull(proof);
        return CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Proof(secret, nonce)), Encoding.ASCII.GetBytes(proof));
    }
}
