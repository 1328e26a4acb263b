using Microsoft.Extensions.Logging;

namespace Synapse.Replication.Tcp;

internal static partial class ReplicationLog
{
    [LoggerMessage(EventId = 3001, Level = LogLevel.Warning, Message = "Replication {Peer}: refused a line: {Reason}")]
    public static partial void RefusedLine(ILogger logger, string peer, string reason);

    [LoggerMessage(EventId = 3002, Level = LogLevel.Warning, Message = "Replication {Peer}: nothing received for {Seconds} s, closing")]
    public static partial void PingTimeout(ILogger logger, string peer, double seconds);

    [LoggerMessage(EventId = 3003, Level = LogLevel.Information, Message = "Replication {Peer}: connected")]
    public static partial void PeerConnected(ILogger logger, string peer);

    [LoggerMessage(EventId = 3004, Level = LogLevel.Information, Message = "Replication {Peer}: closed ({Reason})")]
    public static partial void PeerClosed(ILogger logger, string peer, string reason);

    [LoggerMessage(EventId = 3005, Level = LogLevel.Warning, Message = "Replication {Peer}: refused: {Reason}")]
    public static partial void PeerRefused(ILogger logger, string peer, string reason);

    [LoggerMessage(EventId = 3006, Level = LogLevel.Warning,
        Message = "Replication {Peer}: {QueuedBytes} bytes queued, switching to pull mode (POSITION only) until it drains")]
    public static partial void PullMode(ILogger logger, string peer, long queuedBytes);

    [LoggerMessage(EventId = 3007, Level = LogLevel.Information, Message = "Replication {Peer}: caught up, streaming rows again")]
    public static partial void StreamingAgain(ILogger logger, string peer);

    [LoggerMessage(EventId = 3008, Level = LogLevel.Warning, Message = "Replication: a {Stream} row at {Position} is {Length} bytes, over the line limit; announcing the position for a pull instead")]
    public static partial void OversizeRow(ILogger logger, string stream, long position, int length);

    [LoggerMessage(EventId = 3009, Level = LogLevel.Information, Message = "Replication: connecting to {Endpoint} failed ({Reason}); retrying in {DelayMs} ms")]
    public static partial void ConnectFailed(ILogger logger, string endpoint, string reason, double delayMs);

    [LoggerMessage(EventId = 3010, Level = LogLevel.Information, Message = "Replication: {Stream} caught up from {From} to {To} ({Updates} positions with rows)")]
    public static partial void CaughtUp(ILogger logger, string stream, long from, long to, int updates);

    [LoggerMessage(EventId = 3011, Level = LogLevel.Warning, Message = "Replication: {Stream} restarted on the writer (epoch {Epoch}); resetting it")]
    public static partial void StreamReset(ILogger logger, string stream, string epoch);

    [LoggerMessage(EventId = 3012, Level = LogLevel.Warning, Message = "Replication: {Stream} has a gap ({From}, {To}] and no source to fill it; its rows there are skipped")]
    public static partial void NoCatchUpSource(ILogger logger, string stream, long from, long to);

    [LoggerMessage(EventId = 3013, Level = LogLevel.Warning, Message = "Replication {Peer}: {Message}")]
    public static partial void PeerError(ILogger logger, string peer, string message);

    [LoggerMessage(EventId = 3016, Level = LogLevel.Warning, Message = "Replication {Peer}: more than {Max} cache invalidations waiting for main; dropping the oldest")]
    public static partial void InvalidationDropped(ILogger logger, string peer, int max);

    [LoggerMessage(EventId = 3017, Level = LogLevel.Error, Message = "Replication: catching up {Stream} from {From} to {To} failed; the other streams go on, and it is retried")]
    public static partial void CatchUpFailed(ILogger logger, string stream, long from, long to, Exception exception);
}
