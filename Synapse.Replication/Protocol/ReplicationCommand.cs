namespace Synapse.Replication.Protocol;

/// <summary>Which end of a replication connection a command comes from.</summary>
[Flags]
public enum ReplicationPeer
{
    /// <summary>The main process (the side that listens and publishes streams).</summary>
    Server = 1,

    /// <summary>A worker (the side that connects and follows streams).</summary>
    Client = 2,
}

/// <summary>
/// One command of the TCP replication protocol: a line <c>NAME arguments</c> (docs/replication.md lists them).
/// Read with <see cref="ReplicationCommandReader"/>, written with <see cref="ReplicationCommandWriter"/>.
/// </summary>
public abstract record ReplicationCommand
{
    private protected ReplicationCommand()
    {
    }

    /// <summary>The command name on the wire (<c>RDATA</c>, <c>POSITION</c>, ...).</summary>
    public abstract string Name { get; }

    /// <summary>The peers that may send this command; a command from the other side is refused.</summary>
    public abstract ReplicationPeer SentBy { get; }
}

/// <summary>
/// <c>SERVER &lt;server_name&gt; [proto=&lt;n&gt;] [nonce=&lt;challenge&gt;]</c>, main's greeting. The protocol version and
/// the authentication challenge are our additions; a bare <c>SERVER name</c> (the reference protocol) parses
/// with <see cref="ProtocolVersion"/> 0 and no <see cref="Nonce"/>.
/// </summary>
/// <param name="ServerName">The homeserver's name; a worker configured for another name disconnects.</param>
/// <param name="ProtocolVersion">The protocol version main speaks (0 when not announced).</param>
/// <param name="Nonce">The challenge a worker answers with <see cref="AuthCommand"/>; null when main requires none.</param>
public sealed record ServerCommand(string ServerName, int ProtocolVersion, string? Nonce) : ReplicationCommand
{
    /// <inheritdoc/>
    public override string Name => "SERVER";

    /// <inheritdoc/>
    public override ReplicationPeer SentBy => ReplicationPeer.Server;
}

/// <summary><c>AUTH &lt;proof&gt;</c>: a worker's answer to main's challenge (HMAC-SHA256 of the nonce, hex).</summary>
/// <param name="Proof">The lowercase hex HMAC.</param>
public sealed record AuthCommand(string Proof) : ReplicationCommand
{
    /// <inheritdoc/>
    public override string Name => "AUTH";

    /// <inheritdoc/>
    public override ReplicationPeer SentBy => ReplicationPeer.Client;
}

/// <summary><c>NAME &lt;instance_name&gt;</c>: the worker's instance name (its <c>worker_name</c>).</summary>
/// <param name="InstanceName">The worker's name; unique among live connections.</param>
public sealed record NameCommand(string InstanceName) : ReplicationCommand
{
    /// <inheritdoc/>
    public override string Name => "NAME";

    /// <inheritdoc/>
    public override ReplicationPeer SentBy => ReplicationPeer.Client;
}

/// <summary><c>PING &lt;data&gt;</c>: keepalive, usually a millisecond timestamp.</summary>
/// <param name="Data">Free text without newlines.</param>
public sealed record PingCommand(string Data) : ReplicationCommand
{
    /// <inheritdoc/>
    public override string Name => "PING";

    /// <inheritdoc/>
    public override ReplicationPeer SentBy => ReplicationPeer.Server | ReplicationPeer.Client;
}

/// <summary><c>ERROR &lt;message&gt;</c>: something the peer sent was refused, or the sender is about to close.</summary>
/// <param name="Message">Free text without newlines.</param>
public sealed record ErrorCommand(string Message) : ReplicationCommand
{
    /// <inheritdoc/>
    public override string Name => "ERROR";

    /// <inheritdoc/>
    public override ReplicationPeer SentBy => ReplicationPeer.Server | ReplicationPeer.Client;
}

/// <summary><c>REPLICATE</c>: "tell me your positions"; main answers with a <see cref="PositionCommand"/> per stream.</summary>
public sealed record ReplicateCommand : ReplicationCommand
{
    /// <summary>The command (it has no arguments).</summary>
    public static readonly ReplicateCommand Instance = new();

    /// <inheritdoc/>
    public override string Name => "REPLICATE";

    /// <inheritdoc/>
    public override ReplicationPeer SentBy => ReplicationPeer.Client;
}

/// <summary>
/// <c>POSITION &lt;stream&gt; &lt;instance&gt; &lt;prev&gt; &lt;new&gt; [&lt;epoch&gt;]</c>: the writer's stream advanced from
/// <paramref name="PreviousToken"/> to <paramref name="NewToken"/>. A receiver whose position is not within
/// [prev, new] pulls the rows it lacks before it accepts RDATA for the stream.
/// </summary>
/// <param name="Stream">The stream name.</param>
/// <param name="Instance">The writer's instance name (<c>master</c> for main).</param>
/// <param name="PreviousToken">The position the writer had sent rows up to.</param>
/// <param name="NewToken">The writer's current position.</param>
/// <param name="Epoch">
/// For streams kept in the writer's memory (typing): an id of the writer's run. A different epoch than the one a
/// receiver knows means the writer restarted and its positions started again; the receiver resets that stream.
/// Null for streams stored in the database.
/// </param>
public sealed record PositionCommand(string Stream, string Instance, long PreviousToken, long NewToken, string? Epoch = null)
    : ReplicationCommand
{
    /// <inheritdoc/>
    public override string Name => "POSITION";

    /// <inheritdoc/>
    public override ReplicationPeer SentBy => ReplicationPeer.Server;
}

/// <summary>
/// <c>RDATA &lt;stream&gt; &lt;instance&gt; &lt;token|batch&gt; &lt;row&gt;</c>: one stream row. Rows sharing a position
/// go as consecutive lines, all but the last with <c>batch</c> (<see cref="Token"/> null); the receiver applies the
/// group when the last one arrives.
/// </summary>
/// <param name="Stream">The stream name.</param>
/// <param name="Instance">The writer's instance name.</param>
/// <param name="Token">The position, or null for <c>batch</c> (more rows of the same position follow).</param>
/// <param name="Row">The row as compact UTF-8 JSON (the rest of the line).</param>
public sealed record RdataCommand(string Stream, string Instance, long? Token, ReadOnlyMemory<byte> Row) : ReplicationCommand
{
    /// <inheritdoc/>
    public override string Name => "RDATA";

    /// <inheritdoc/>
    public override ReplicationPeer SentBy => ReplicationPeer.Server;
}

/// <summary>
/// <c>USER_SYNC &lt;instance_id&gt; &lt;user_id&gt; &lt;device_id|None&gt; &lt;start|end&gt; &lt;ms&gt;</c>: a user started or
/// stopped long-polling <c>/sync</c> on a worker (presence). The older form without the device parses too.
/// </summary>
/// <param name="InstanceId">The worker process's id.</param>
/// <param name="UserId">The user.</param>
/// <param name="DeviceId">The device, when known.</param>
/// <param name="IsSyncing">True for <c>start</c>, false for <c>end</c>.</param>
/// <param name="LastSyncMs">When, in milliseconds since the epoch.</param>
public sealed record UserSyncCommand(string InstanceId, string UserId, string? DeviceId, bool IsSyncing, long LastSyncMs)
    : ReplicationCommand
{
    /// <inheritdoc/>
    public override string Name => "USER_SYNC";

    /// <inheritdoc/>
    public override ReplicationPeer SentBy => ReplicationPeer.Client;
}

/// <summary><c>CLEAR_USER_SYNC &lt;instance_id&gt;</c>: forget every syncing user of a worker (it is stopping).</summary>
/// <param name="InstanceId">The worker process's id.</param>
public sealed record ClearUserSyncCommand(string InstanceId) : ReplicationCommand
{
    /// <inheritdoc/>
    public override string Name => "CLEAR_USER_SYNC";

    /// <inheritdoc/>
    public override ReplicationPeer SentBy => ReplicationPeer.Client;
}

/// <summary><c>FEDERATION_ACK &lt;instance&gt; &lt;token&gt;</c>: the federation sender has stored its position.</summary>
/// <param name="Instance">The sender's instance name (empty in the older one-argument form).</param>
/// <param name="Token">The federation stream position it has processed.</param>
public sealed record FederationAckCommand(string Instance, long Token) : ReplicationCommand
{
    /// <inheritdoc/>
    public override string Name => "FEDERATION_ACK";

    /// <inheritdoc/>
    public override ReplicationPeer SentBy => ReplicationPeer.Client;
}

/// <summary>
/// <c>USER_IP &lt;user_id&gt; [access_token, ip, user_agent, device_id, last_seen_ms]</c>: client address bookkeeping,
/// done by main.
/// </summary>
/// <param name="UserId">The user.</param>
/// <param name="AccessToken">The access token used.</param>
/// <param name="Ip">The client address.</param>
/// <param name="UserAgent">The client's user agent.</param>
/// <param name="DeviceId">The device, when known.</param>
/// <param name="LastSeenMs">When, in milliseconds since the epoch.</param>
public sealed record UserIpCommand(string UserId, string AccessToken, string Ip, string UserAgent, string? DeviceId, long LastSeenMs)
    : ReplicationCommand
{
    /// <inheritdoc/>
    public override string Name => "USER_IP";

    /// <inheritdoc/>
    public override ReplicationPeer SentBy => ReplicationPeer.Client;
}

/// <summary><c>REMOTE_SERVER_UP &lt;server_name&gt;</c>: a remote homeserver is reachable again.</summary>
/// <param name="ServerName">The remote server.</param>
public sealed record RemoteServerUpCommand(string ServerName) : ReplicationCommand
{
    /// <inheritdoc/>
    public override string Name => "REMOTE_SERVER_UP";

    /// <inheritdoc/>
    public override ReplicationPeer SentBy => ReplicationPeer.Server | ReplicationPeer.Client;
}

/// <summary>
/// <c>INVALIDATE_CACHE &lt;cache&gt; &lt;keys&gt;</c>: a worker changed something main caches; main drops the entries and
/// publishes the invalidation on the <c>caches</c> stream for every other process.
/// </summary>
/// <param name="Cache">The cache's name.</param>
/// <param name="Keys">The keys as a compact JSON array, or <c>null</c> for the whole cache.</param>
public sealed record InvalidateCacheCommand(string Cache, ReadOnlyMemory<byte> Keys) : ReplicationCommand
{
    /// <inheritdoc/>
    public override string Name => "INVALIDATE_CACHE";

    /// <inheritdoc/>
    public override ReplicationPeer SentBy => ReplicationPeer.Client;
}

/// <summary>A line that broke the protocol (malformed, too long, wrong direction). Thrown by the reader.</summary>
public sealed class ReplicationProtocolException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ReplicationProtocolException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public ReplicationProtocolException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public ReplicationProtocolException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
