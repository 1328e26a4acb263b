using System.Buffers;
using System.Buffers.Text;
using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace Synapse.Replication.Protocol;

/// <summary>
/// Reads replication commands from received bytes: an incremental reader over <see cref="ReadOnlySequence{T}"/>
/// (a <c>PipeReader</c>'s buffer). Lines end in LF; blank lines are skipped; a line longer than the limit, a
/// malformed line, an unknown command or one the other side may not send is consumed and reported with a
/// <see cref="ReplicationProtocolException"/>, after which reading goes on with the next line.
/// </summary>
/// <remarks>
/// One reader serves one connection's read loop (it is not thread-safe). A line inside one buffer segment is
/// parsed in place; only a line that straddles segments is copied, into a buffer the reader keeps. Stream and
/// instance names are interned, so an RDATA line costs the command and its row bytes and nothing else.
/// </remarks>
public sealed class ReplicationCommandReader
{
    /// <summary>The longest line accepted by default, in bytes without the LF (the reference protocol's limit).</summary>
    public const int DefaultMaxLineLength = 16 * 1024;

    private readonly ReplicationPeer _sender;
    private readonly int _maxLineLength;
    private readonly Utf8NameTable _names = new();
    private readonly bool _borrowRows;
    private byte[]? _scratch;
    private bool _discarding;

    /// <summary>Creates a reader for the side that <paramref name="receiver"/> names.</summary>
    /// <param name="receiver">Who reads: commands only the receiver itself may send are refused.</param>
    /// <param name="maxLineLength">The longest line accepted, in bytes without the LF.</param>
    /// <param name="borrowRows">
    /// When true, an <see cref="RdataCommand.Row"/> returned by <see cref="TryRead"/> points into the buffer read (or
    /// into this reader's scratch buffer) instead of a copy: it is valid only until the buffer is advanced or
    /// <see cref="TryRead"/> is called again. For a read loop that decodes each row before it reads on.
    /// </param>
    public ReplicationCommandReader(ReplicationPeer receiver, int maxLineLength = DefaultMaxLineLength, bool borrowRows = false)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLineLength, 64);
        _sender = receiver switch
        {
            ReplicationPeer.Server => ReplicationPeer.Client,
            ReplicationPeer.Client => ReplicationPeer.Server,
            _ => throw new ArgumentOutOfRangeException(nameof(receiver), receiver, "A reader reads for one side."),
        };
        _maxLineLength = maxLineLength;
        _borrowRows = borrowRows;
    }

    /// <summary>
    /// Reads the next command and slices <paramref name="buffer"/> past what it consumed. Returns false when the
    /// buffer holds no complete line: keep the rest and call again with more data.
    /// </summary>
    /// <exception cref="ReplicationProtocolException">
    /// The next line was bad. It has been consumed; answer ERROR and call again.
    /// </exception>
    public bool TryRead(ref ReadOnlySequence<byte> buffer, [NotNullWhen(true)] out ReplicationCommand? command)
    {
        while (true)
        {
            command = null;
            var end = buffer.IsSingleSegment
                ? IndexToPosition(buffer, buffer.FirstSpan.IndexOf((byte)'\n'))
                : buffer.PositionOf((byte)'\n');
            if (end is not { } newline)
            {
                if (buffer.Length > _maxLineLength)
                {
                    // Nothing of an overlong line is kept: memory stays bounded whatever the peer sends.
                    buffer = buffer.Slice(buffer.End);
                    _discarding = true;
                }

                return false;
            }

            var line = buffer.Slice(0, newline);
            buffer = buffer.Slice(buffer.GetPosition(1, newline));
            if (_discarding || line.Length > _maxLineLength)
            {
                _discarding = false;
                throw new ReplicationProtocolException("Line length exceeded");
            }

            if (line.IsEmpty)
            {
                continue;
            }

            if (line.IsSingleSegment)
            {
                command = Parse(line.FirstSpan, _borrowRows ? line.First : default);
            }
            else
            {
                _scratch ??= new byte[_maxLineLength];
                line.CopyTo(_scratch);
                var copy = _scratch.AsMemory(0, (int)line.Length);
                command = Parse(copy.Span, _borrowRows ? copy : default);
            }

            return true;
        }
    }

    /// <summary>Parses one line (without its LF).</summary>
    /// <exception cref="ReplicationProtocolException">The line is not a command this side may receive.</exception>
    public ReplicationCommand Parse(ReadOnlySpan<byte> line) => Parse(line, default);

    /// <summary>Parses one line; an RDATA row is sliced from <paramref name="borrowed"/> (the same line) when given.</summary>
    private ReplicationCommand Parse(ReadOnlySpan<byte> line, ReadOnlyMemory<byte> borrowed)
    {
        int space = line.IndexOf((byte)' ');
        var name = space < 0 ? line : line[..space];
        var args = space < 0 ? [] : line[(space + 1)..];
        ReplicationCommand command = name switch
        {
            _ when name.SequenceEqual("RDATA"u8) => ParseRdata(args, borrowed),
            _ when name.SequenceEqual("POSITION"u8) => ParsePosition(args),
            _ when name.SequenceEqual("PING"u8) => new PingCommand(Text(args)),
            _ when name.SequenceEqual("USER_SYNC"u8) => ParseUserSync(args),
            _ when name.SequenceEqual("USER_IP"u8) => ParseUserIp(args),
            _ when name.SequenceEqual("SERVER"u8) => ParseServer(args),
            _ when name.SequenceEqual("AUTH"u8) => new AuthCommand(Word(ref args, "proof")),
            _ when name.SequenceEqual("NAME"u8) => new NameCommand(Word(ref args, "name")),
            _ when name.SequenceEqual("REPLICATE"u8) => ReplicateCommand.Instance,
            _ when name.SequenceEqual("ERROR"u8) => new ErrorCommand(Text(args)),
            _ when name.SequenceEqual("CLEAR_USER_SYNC"u8) => new ClearUserSyncCommand(Word(ref args, "instance id")),
            _ when name.SequenceEqual("FEDERATION_ACK"u8) => ParseFederationAck(args),
            _ when name.SequenceEqual("REMOTE_SERVER_UP"u8) => new RemoteServerUpCommand(Word(ref args, "server name")),
            _ when name.SequenceEqual("INVALIDATE_CACHE"u8) => ParseInvalidateCache(args),
            _ => throw Bad($"invalid command: {Encoding.UTF8.GetString(name)}"),
        };
        if ((command.SentBy & _sender) == 0)
        {
            throw Bad($"invalid command: {command.Name} may not be sent by the {(_sender == ReplicationPeer.Server ? "main process" : "worker")}");
        }

        return command;
    }

    private static SequencePosition? IndexToPosition(ReadOnlySequence<byte> buffer, int index) =>
        index < 0 ? null : buffer.GetPosition(index);

    private RdataCommand ParseRdata(ReadOnlySpan<byte> args, ReadOnlyMemory<byte> line)
    {
        string stream = _names.Get(NextWord(ref args, "stream"));
        string instance = _names.Get(NextWord(ref args, "instance"));
        var tokenText = NextWord(ref args, "token");
        long? token = tokenText.SequenceEqual("batch"u8) ? null : Long(tokenText, "token");
        if (args.IsEmpty)
        {
            throw Bad("RDATA without a row");
        }

        // The row is the rest of the line: borrowed, it is the line's tail in the buffer it was read from.
        return new RdataCommand(stream, instance, token, line.IsEmpty ? args.ToArray() : line[^args.Length..]);
    }

    private PositionCommand ParsePosition(ReadOnlySpan<byte> args)
    {
        string stream = _names.Get(NextWord(ref args, "stream"));
        string instance = _names.Get(NextWord(ref args, "instance"));
        long first = Long(NextWord(ref args, "token"), "token");
        if (args.IsEmpty)
        {
            // The two-argument form of the older protocol: no "previous" token.
            return new PositionCommand(stream, instance, first, first);
        }

        long second = Long(NextWord(ref args, "token"), "token");
        string? epoch = args.IsEmpty ? null : _names.Get(NextWord(ref args, "epoch"));
        EnsureEnd(args);
        return new PositionCommand(stream, instance, first, second, epoch);
    }

    private static ServerCommand ParseServer(ReadOnlySpan<byte> args)
    {
        string serverName = Word(ref args, "server name", allowMore: true);
        int version = 0;
        string? nonce = null;
        while (!args.IsEmpty)
        {
            var option = NextWord(ref args, "option");
            if (option.StartsWith("proto="u8))
            {
                long announced = Long(option["proto="u8.Length..], "protocol version");
                version = announced is >= 0 and <= int.MaxValue ? (int)announced : throw Bad("protocol version out of range");
            }
            else if (option.StartsWith("nonce="u8))
            {
                nonce = Encoding.UTF8.GetString(option["nonce="u8.Length..]);
            }

            // Unknown options are a newer main's features; they are ignored.
        }

        return new ServerCommand(serverName, version, nonce);
    }

    private static UserSyncCommand ParseUserSync(ReadOnlySpan<byte> args)
    {
        string instanceId = Word(ref args, "instance id", allowMore: true);
        string userId = Word(ref args, "user id", allowMore: true);
        var third = NextWord(ref args, "state");
        string? deviceId = null;
        var state = third;
        if (!third.SequenceEqual("start"u8) && !third.SequenceEqual("end"u8))
        {
            deviceId = third.SequenceEqual("None"u8) ? null : Encoding.UTF8.GetString(third);
            state = NextWord(ref args, "state");
        }

        if (!state.SequenceEqual("start"u8) && !state.SequenceEqual("end"u8))
        {
            throw Bad("USER_SYNC state must be start or end");
        }

        bool syncing = state.SequenceEqual("start"u8);
        long ms = Long(NextWord(ref args, "timestamp"), "timestamp");
        EnsureEnd(args);
        return new UserSyncCommand(instanceId, userId, deviceId, syncing, ms);
    }

    private static UserIpCommand ParseUserIp(ReadOnlySpan<byte> args)
    {
        string userId = Word(ref args, "user id", allowMore: true);
        try
        {
            var reader = new System.Text.Json.Utf8JsonReader(args);
            string?[] text = new string?[4];
            long lastSeen = 0;
            int index = 0;
            if (!reader.Read() || reader.TokenType != System.Text.Json.JsonTokenType.StartArray)
            {
                throw Bad("USER_IP needs a JSON array");
            }

            while (reader.Read() && reader.TokenType != System.Text.Json.JsonTokenType.EndArray)
            {
                if (index < 4)
                {
                    text[index] = reader.TokenType == System.Text.Json.JsonTokenType.Null ? null : reader.GetString();
                }
                else if (index == 4)
                {
                    lastSeen = reader.GetInt64();
                }
                else
                {
                    reader.Skip();
                }

                index++;
            }

            // The array must be the whole rest of the line, as the reference's json decoding requires.
            if (reader.Read())
            {
                throw Bad("USER_IP has data after its JSON array");
            }

            if (index < 5 || text[0] is null || text[1] is null || text[2] is null)
            {
                throw Bad("USER_IP needs [access_token, ip, user_agent, device_id, last_seen_ms]");
            }

            return new UserIpCommand(userId, text[0]!, text[1]!, text[2]!, text[3], lastSeen);
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or FormatException)
        {
            throw new ReplicationProtocolException("USER_IP has a malformed JSON array", e);
        }
    }

    private static FederationAckCommand ParseFederationAck(ReadOnlySpan<byte> args)
    {
        var first = NextWord(ref args, "token");
        if (args.IsEmpty)
        {
            return new FederationAckCommand("", Long(first, "token"));
        }

        long token = Long(NextWord(ref args, "token"), "token");
        EnsureEnd(args);
        return new FederationAckCommand(Encoding.UTF8.GetString(first), token);
    }

    private static InvalidateCacheCommand ParseInvalidateCache(ReadOnlySpan<byte> args)
    {
        string cache = Word(ref args, "cache", allowMore: true);
        if (args.IsEmpty)
        {
            throw Bad("INVALIDATE_CACHE without keys");
        }

        return new InvalidateCacheCommand(cache, args.ToArray());
    }

    private static string Text(ReadOnlySpan<byte> args) => Encoding.UTF8.GetString(args);

    private static string Word(ref ReadOnlySpan<byte> args, string what, bool allowMore = false)
    {
        var word = NextWord(ref args, what);
        if (!allowMore)
        {
            EnsureEnd(args);
        }

        return Encoding.UTF8.GetString(word);
    }

    private static ReadOnlySpan<byte> NextWord(ref ReadOnlySpan<byte> args, string what)
    {
        int space = args.IndexOf((byte)' ');
        var word = space < 0 ? args : args[..space];
        if (word.IsEmpty)
        {
            throw Bad($"missing {what}");
        }

        args = space < 0 ? [] : args[(space + 1)..];
        return word;
    }

    private static void EnsureEnd(ReadOnlySpan<byte> args)
    {
        if (!args.IsEmpty)
        {
            throw Bad("too many arguments");
        }
    }

    private static long Long(ReadOnlySpan<byte> text, string what) =>
        Utf8Parser.TryParse(text, out long value, out int consumed) && consumed == text.Length
            ? value
            : throw Bad($"{what} is not a number");

    private static ReplicationProtocolException Bad(string message) => new(message);

    /// <summary>Interns the few stream and instance names a connection sees, so reading them allocates nothing.</summary>
    private sealed class Utf8NameTable
    {
        private const int Capacity = 256;
        private readonly List<(byte[] Utf8, string Value)> _entries = [];

        public string Get(ReadOnlySpan<byte> utf8)
        {
            foreach (var (bytes, value) in _entries)
            {
                if (utf8.SequenceEqual(bytes))
                {
                    return value;
                }
            }

            string text = Encoding.UTF8.GetString(utf8);
            if (_entries.Count < Capacity)
            {
                _entries.Add((utf8.ToArray(), text));
            }

            return text;
        }
    }
}
