using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Synapse.Replication.Protocol;

namespace Synapse.Replication.Tcp;

/// <summary>
/// One replication connection, either side: a read loop that parses commands and hands them to the owner, a
/// write loop that drains an outbound queue of encoded lines, and the keepalive (PING after a quiet interval;
/// close with <c>ERROR ping timeout</c> when nothing arrives for the timeout).
/// </summary>
/// <remarks>
/// The outbound queue holds already encoded lines, so main encodes a stream update once and queues the same
/// bytes on every connection. <see cref="QueuedBytes"/> lets main notice a connection that does not keep up.
/// </remarks>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001",
    Justification = "_closing has no timer and is cancelled, never disposed: other threads may still ask whether it is cancelled.")]
internal sealed class ReplicationConnection
{
    private readonly IDuplexPipe _pipe;
    private readonly ReplicationCommandReader _reader;
    private readonly ReplicationTimeouts _timeouts;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Channel<ReadOnlyMemory<byte>> _outbound = Channel.CreateUnbounded<ReadOnlyMemory<byte>>(
        new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _closing = new();
    private long _queuedBytes;
    private long _lastReceived;
    private long _lastSent;
    private volatile bool _busy;
    private volatile bool _closeRequested;
    private string? _closeReason;

    public ReplicationConnection(IDuplexPipe pipe, ReplicationPeer side, ReplicationTimeouts timeouts, int maxLineLength,
        string description, ILogger logger, TimeProvider time)
    {
        _pipe = pipe;
        // The handler runs before the read loop advances past a line (ReadLoopAsync), and a worker decodes each row
        // there: its RDATA rows need not be copied out of the pipe's buffer.
        _reader = new ReplicationCommandReader(side, maxLineLength, borrowRows: side == ReplicationPeer.Client);
        _timeouts = timeouts;
        Description = description;
        _logger = logger;
        _time = time;
        _lastReceived = _lastSent = time.GetTimestamp();
    }

    /// <summary>Who the peer is, for logs (address, then the peer's instance name once known).</summary>
    public string Description { get; set; }

    /// <summary>Bytes queued for sending and not yet handed to the transport.</summary>
    public long QueuedBytes => Interlocked.Read(ref _queuedBytes);

    /// <summary>Why the connection closed (null while open, or when the peer simply went away).</summary>
    public string? CloseReason => _closeReason;

    /// <summary>True once the connection is closing or closed.</summary>
    public bool IsClosed => _closing.IsCancellationRequested;

    /// <summary>Queues encoded lines; false when the connection is closed.</summary>
    public bool TrySend(ReadOnlyMemory<byte> lines)
    {
        if (_closing.IsCancellationRequested)
        {
            return false;
        }

        Interlocked.Add(ref _queuedBytes, lines.Length);
        if (_outbound.Writer.TryWrite(lines))
        {
            return true;
        }

        Interlocked.Add(ref _queuedBytes, -lines.Length);
        return false;
    }

    /// <summary>Encodes and queues one command.</summary>
    public bool Send(ReplicationCommand command) => TrySend(Encode(command));

    /// <summary>Encodes one command as its line.</summary>
    public static ReadOnlyMemory<byte> Encode(ReplicationCommand command)
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        ReplicationCommandWriter.Write(buffer, command);
        return buffer.WrittenMemory;
    }

    /// <summary>Sends <c>ERROR reason</c> (when given) and closes after what is queued has been written.</summary>
    public void Close(string? error)
    {
        if (error is not null)
        {
            _closeReason ??= error;
            Send(new ErrorCommand(error));
        }

        _closeRequested = true;
        _outbound.Writer.TryComplete();
    }

    /// <summary>Closes at once, dropping whatever is queued.</summary>
    public void Abort(string reason)
    {
        _closeReason ??= reason;
        _closeRequested = true;
        _outbound.Writer.TryComplete();
        _closing.Cancel();
    }

    /// <summary>
    /// Runs the connection until it closes. <paramref name="handler"/> receives every command in order; while it
    /// runs (a worker catching up a stream) the read timeout is suspended, since unread lines are not silence.
    /// </summary>
    public async Task RunAsync(Func<ReplicationCommand, CancellationToken, ValueTask> handler, CancellationToken cancellationToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _closing.Token);
        var token = linked.Token;
        var writing = WriteLoopAsync(token);
        var keepalive = KeepaliveLoopAsync(token);
        try
        {
            await ReadLoopAsync(handler, token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException)
        {
            _closeReason ??= e.Message;
        }
        finally
        {
            // Let an ERROR queued by the handler go out before the transport closes.
            _outbound.Writer.TryComplete();
            await Task.WhenAny(writing, Task.Delay(TimeSpan.FromSeconds(1), CancellationToken.None)).ConfigureAwait(false);
            await _closing.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(Quietly(writing), Quietly(keepalive)).ConfigureAwait(false);
            await _pipe.Input.CompleteAsync().ConfigureAwait(false);
            await _pipe.Output.CompleteAsync().ConfigureAwait(false);
        }
    }

    private async Task ReadLoopAsync(Func<ReplicationCommand, CancellationToken, ValueTask> handler, CancellationToken token)
    {
        var input = _pipe.Input;
        while (true)
        {
            var result = await input.ReadAsync(token).ConfigureAwait(false);
            var buffer = result.Buffer;
            if (!buffer.IsEmpty)
            {
                Interlocked.Exchange(ref _lastReceived, _time.GetTimestamp());
            }

            try
            {
                while (true)
                {
                    ReplicationCommand? command;
                    try
                    {
                        if (!_reader.TryRead(ref buffer, out command))
                        {
                            break;
                        }
                    }
                    catch (ReplicationProtocolException e)
                    {
                        // The line is consumed: tell the peer and go on (an unknown command is not fatal).
                        ReplicationLog.RefusedLine(_logger, Description, e.Message);
                        Send(new ErrorCommand(e.Message));
                        continue;
                    }

                    _busy = true;
                    try
                    {
                        await handler(command, token).ConfigureAwait(false);
                    }
                    finally
                    {
                        _busy = false;
                        Interlocked.Exchange(ref _lastReceived, _time.GetTimestamp());
                    }

                    if (_closeRequested || _closing.IsCancellationRequested)
                    {
                        return;
                    }
                }

                if (result.IsCompleted || result.IsCanceled)
                {
                    return;
                }
            }
            finally
            {
                input.AdvanceTo(buffer.Start, buffer.End);
            }
        }
    }

    private async Task WriteLoopAsync(CancellationToken token)
    {
        var output = _pipe.Output;
        var reader = _outbound.Reader;
        try
        {
            while (await reader.WaitToReadAsync(token).ConfigureAwait(false))
            {
                long unflushed = 0;
                while (reader.TryRead(out var lines))
                {
                    output.Write(lines.Span);
                    Interlocked.Add(ref _queuedBytes, -lines.Length);
                    unflushed += lines.Length;
                    if (unflushed >= 64 * 1024)
                    {
                        break;
                    }
                }

                Interlocked.Exchange(ref _lastSent, _time.GetTimestamp());
                var flushed = await output.FlushAsync(token).ConfigureAwait(false);
                if (flushed.IsCompleted || flushed.IsCanceled)
                {
                    break;
                }
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException)
        {
            // A failed write means the peer is gone (half-open links surface here or at the ping timeout).
            _closeReason ??= "write failed: " + e.Message;
        }
        finally
        {
            await _closing.CancelAsync().ConfigureAwait(false);
        }
    }

    private async Task KeepaliveLoopAsync(CancellationToken token)
    {
        var tick = _timeouts.PingInterval / 5;
        using var timer = new PeriodicTimer(tick < TimeSpan.FromMilliseconds(10) ? TimeSpan.FromMilliseconds(10) : tick, _time);
        Send(Ping());
        while (await timer.WaitForNextTickAsync(token).ConfigureAwait(false))
        {
            if (_time.GetElapsedTime(Interlocked.Read(ref _lastSent)) >= _timeouts.PingInterval)
            {
                Interlocked.Exchange(ref _lastSent, _time.GetTimestamp());
                Send(Ping());
            }

            if (!_busy && _time.GetElapsedTime(Interlocked.Read(ref _lastReceived)) > _timeouts.Timeout)
            {
                ReplicationLog.PingTimeout(_logger, Description, _timeouts.Timeout.TotalSeconds);
                Close("ping timeout");
                await Task.Delay(TimeSpan.FromSeconds(1), _time, token).ConfigureAwait(false);
                Abort("ping timeout");
                return;
            }
        }
    }

    private PingCommand Ping() =>
        new(_time.GetUtcNow().ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture));

    private static async Task Quietly(Task task)
    {
        try
        {
            await task.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }
}

/// <summary>Keepalive settings of a replication connection.</summary>
/// <param name="PingInterval">Send a PING when nothing was sent for this long (default 5 s).</param>
/// <param name="Timeout">Close when nothing arrived for this long (default 25 s).</param>
public sealed record ReplicationTimeouts(TimeSpan PingInterval, TimeSpan Timeout)
{
    /// <summary>PING every 5 s, give up after 25 s of silence: the reference protocol's values.</summary>
    public static readonly ReplicationTimeouts Default = new(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(25));
}
