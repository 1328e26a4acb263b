using System.Buffers;
using System.Buffers.Text;
using System.Text;
using System.Text.Json;

namespace Synapse.Replication.Protocol;

/// <summary>
/// Writes replication commands as lines into an <see cref="IBufferWriter{T}"/>: the name, a space (also after a
/// command without arguments, as the reference protocol does), the arguments, LF. Arguments other than the last
/// free-text or JSON field may not contain spaces; no argument may contain a newline.
/// </summary>
public static class ReplicationCommandWriter
{
    /// <summary>Writes one command.</summary>
    /// <exception cref="ArgumentException">An argument would break the framing (a space or newline inside a word).</exception>
    public static void Write(IBufferWriter<byte> output, ReplicationCommand command)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(command);
        switch (command)
        {
            case RdataCommand rdata:
                WriteRdata(output, rdata.Stream, rdata.Instance, rdata.Token, rdata.Row.Span);
                break;
            case PositionCommand position:
                WritePosition(output, position);
                break;
            case ServerCommand server:
                var line = new LineWriter(output, "SERVER"u8, 64 + (server.ServerName.Length + (server.Nonce?.Length ?? 0)) * 3);
                line.Word(server.ServerName);
                if (server.ProtocolVersion > 0)
                {
                    line.Raw(" proto="u8);
                    line.Number(server.ProtocolVersion);
                }

                if (server.Nonce is { } nonce)
                {
                    line.Raw(" nonce="u8);
                    line.Text(nonce, allowSpaces: false);
                }

                line.End();
                break;
            case UserSyncCommand sync:
                line = new LineWriter(output, "USER_SYNC"u8,
                    64 + (sync.InstanceId.Length + sync.UserId.Length + (sync.DeviceId?.Length ?? 4)) * 3);
                line.Word(sync.InstanceId);
                line.Word(sync.UserId);
                line.Word(sync.DeviceId ?? "None");
                line.Word(sync.IsSyncing ? "start" : "end");
                line.Separator();
                line.Number(sync.LastSyncMs);
                line.End();
                break;
            case UserIpCommand ip:
                WriteUserIp(output, ip);
                break;
            case FederationAckCommand ack:
                line = new LineWriter(output, "FEDERATION_ACK"u8, 64 + ack.Instance.Length * 3);
                if (ack.Instance.Length > 0)
                {
                    line.Word(ack.Instance);
                }

                line.Separator();
                line.Number(ack.Token);
                line.End();
                break;
            case InvalidateCacheCommand invalidate:
                line = new LineWriter(output, "INVALIDATE_CACHE"u8, 64 + invalidate.Cache.Length * 3 + invalidate.Keys.Length);
                line.Word(invalidate.Cache);
                line.Separator();
                line.Json(invalidate.Keys.Span);
                line.End();
                break;
            case PingCommand ping:
                WriteText(output, "PING"u8, ping.Data);
                break;
            case ErrorCommand error:
                WriteText(output, "ERROR"u8, error.Message);
                break;
            case ReplicateCommand:
                WriteText(output, "REPLICATE"u8, "");
                break;
            case NameCommand name:
                WriteWord(output, "NAME"u8, name.InstanceName);
                break;
            case AuthCommand auth:
                WriteWord(output, "AUTH"u8, auth.Proof);
                break;
            case ClearUserSyncCommand clear:
                WriteWord(output, "CLEAR_USER_SYNC"u8, clear.InstanceId);
                break;
            case RemoteServerUpCommand up:
                WriteWord(output, "REMOTE_SERVER_UP"u8, up.ServerName);
                break;
            default:
                throw new ArgumentException($"No wire form for {command.GetType().Name}.", nameof(command));
        }
    }

    /// <summary>Writes an RDATA line (the hot path: no command object needed).</summary>
    public static void WriteRdata(IBufferWriter<byte> output, string stream, string instance, long? token, ReadOnlySpan<byte> row)
    {
        ArgumentNullException.ThrowIfNull(output);
        var line = new LineWriter(output, "RDATA"u8, 64 + (stream.Length + instance.Length) * 3 + row.Length);
        line.Word(stream);
        line.Word(instance);
        line.Separator();
        if (token is { } value)
        {
            line.Number(value);
        }
        else
        {
            line.Raw("batch"u8);
        }

        line.Separator();
        line.Json(row);
        line.End();
    }

    /// <summary>The length in bytes (without the LF) of an RDATA line, to compare with the peer's line limit.</summary>
    public static int RdataLineLength(string stream, string instance, long? token, int rowLength) =>
        "RDATA "u8.Length + Encoding.UTF8.GetByteCount(stream) + 1 + Encoding.UTF8.GetByteCount(instance) + 1
        + (token is { } value ? DigitCount(value) : "batch"u8.Length) + 1 + rowLength;

    private static void WritePosition(IBufferWriter<byte> output, PositionCommand position)
    {
        var line = new LineWriter(output, "POSITION"u8,
            128 + (position.Stream.Length + position.Instance.Length + (position.Epoch?.Length ?? 0)) * 3);
        line.Word(position.Stream);
        line.Word(position.Instance);
        line.Separator();
        line.Number(position.PreviousToken);
        line.Separator();
        line.Number(position.NewToken);
        if (position.Epoch is { } epoch)
        {
            line.Word(epoch);
        }

        line.End();
    }

    private static void WriteUserIp(IBufferWriter<byte> output, UserIpCommand ip)
    {
        var json = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(json))
        {
            writer.WriteStartArray();
            writer.WriteStringValue(ip.AccessToken);
            writer.WriteStringValue(ip.Ip);
            writer.WriteStringValue(ip.UserAgent);
            if (ip.DeviceId is { } device)
            {
                writer.WriteStringValue(device);
            }
            else
            {
                writer.WriteNullValue();
            }

            writer.WriteNumberValue(ip.LastSeenMs);
            writer.WriteEndArray();
        }

        var line = new LineWriter(output, "USER_IP"u8, 64 + ip.UserId.Length * 3 + json.WrittenCount);
        line.Word(ip.UserId);
        line.Separator();
        line.Json(json.WrittenSpan);
        line.End();
    }

    private static void WriteWord(IBufferWriter<byte> output, ReadOnlySpan<byte> name, string word)
    {
        var line = new LineWriter(output, name, 16 + word.Length * 3);
        line.Word(word);
        line.End();
    }

    private static void WriteText(IBufferWriter<byte> output, ReadOnlySpan<byte> name, string text)
    {
        var line = new LineWriter(output, name, 16 + text.Length * 3);
        line.Separator();
        line.Text(text, allowSpaces: true);
        line.End();
    }

    private static int DigitCount(long value)
    {
        Span<byte> digits = stackalloc byte[24];
        Utf8Formatter.TryFormat(value, digits, out int written);
        return written;
    }

    /// <summary>Fills one line in place in the output's span; <see cref="End"/> commits it.</summary>
    private ref struct LineWriter
    {
        private readonly IBufferWriter<byte> _output;
        private readonly Span<byte> _span;
        private int _length;

        public LineWriter(IBufferWriter<byte> output, ReadOnlySpan<byte> name, int sizeHint)
        {
            _output = output;
            _span = output.GetSpan(name.Length + sizeHint + 2);
            name.CopyTo(_span);
            _length = name.Length;
        }

        public void Separator() => _span[_length++] = (byte)' ';

        public void Raw(ReadOnlySpan<byte> bytes)
        {
            bytes.CopyTo(_span[_length..]);
            _length += bytes.Length;
        }

        public void Word(string word)
        {
            if (word.Length == 0)
            {
                throw new ArgumentException("A command argument may not be empty.");
            }

            Separator();
            Text(word, allowSpaces: false);
        }

        public void Text(string text, bool allowSpaces)
        {
            if (text.AsSpan().IndexOfAny(allowSpaces ? "\n\r" : " \n\r") >= 0)
            {
                throw new ArgumentException($"A command argument may not contain {(allowSpaces ? "a newline" : "spaces or newlines")}: '{text}'.");
            }

            _length += Encoding.UTF8.GetBytes(text, _span[_length..]);
        }

        public void Number(long value)
        {
            Utf8Formatter.TryFormat(value, _span[_length..], out int written);
            _length += written;
        }

        public void Json(ReadOnlySpan<byte> json)
        {
            if (json.IsEmpty || json.IndexOfAny((byte)'\n', (byte)'\r') >= 0)
            {
                throw new ArgumentException("A JSON field must be compact: non-empty and without newlines.");
            }

            Raw(json);
        }

        public readonly void End()
        {
            _span[_length] = (byte)'\n';
            _output.Advance(_length + 1);
        }
    }
}
