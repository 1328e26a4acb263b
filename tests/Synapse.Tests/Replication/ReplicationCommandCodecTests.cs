using System.Buffers;
using System.Globalization;
using System.Text;
using Synapse.Replication.Protocol;

namespace Synapse.Tests.Replication;

/// <summary>
/// The replication line codec: round trips, every segmentation of a payload, malformed and overlong lines, the
/// direction rules and the older wire forms (shared/spec/REPLICATION.md §1.1–1.3).
/// </summary>
public sealed class ReplicationCommandCodecTests
{
    private const int Limit = ReplicationCommandReader.DefaultMaxLineLength;
    private const int MaxRandomChunk = 300;

    /// <summary>How a payload is cut into the buffers the reader sees.</summary>
    public enum Segmentation
    {
        /// <summary>The payload as one segment of exactly its bytes.</summary>
        Whole,

        /// <summary>A slice of a larger array, followed by an incomplete line that must stay unread.</summary>
        InsideLargerBuffer,

        /// <summary>Two segments, split at every byte position (including empty first and last segments).</summary>
        EveryTwoWaySplit,

        /// <summary>One segment per byte.</summary>
        OneBytePerSegment,

        /// <summary>A read loop: growing data arrives in chunks, unconsumed bytes are kept, as with a PipeReader.</summary>
        Incremental,
    }

    public static TheoryData<ReplicationPeer, Segmentation> Segmentations
    {
        get
        {
            var data = new TheoryData<ReplicationPeer, Segmentation>();
            foreach (var receiver in new[] { ReplicationPeer.Client, ReplicationPeer.Server })
            {
                foreach (var segmentation in Enum.GetValues<Segmentation>())
                {
                    data.Add(receiver, segmentation);
                }
            }

            return data;
        }
    }

    /// <summary>One command of each kind (both directions), for the round trip.</summary>
    public static TheoryData<string, ReplicationCommand> EveryCommand
    {
        get
        {
            var data = new TheoryData<string, ReplicationCommand>();
            foreach (var command in ServerToClientCommands().Concat(ClientToServerCommands()))
            {
                data.Add(Describe(command)[..Math.Min(60, Describe(command).Length)], command);
            }

            data.Add("server without options", new ServerCommand("localhost", 0, null));
            data.Add("server with empty nonce", new ServerCommand("localhost", 2, ""));
            data.Add("rdata negative token", new RdataCommand("events", "master", -3, Utf8("{}")));
            data.Add("position big tokens", new PositionCommand("events", "master", 0, long.MaxValue));
            data.Add("position long epoch", new PositionCommand("typing", "master", 5, 6, new string('e', 600)));
            data.Add("ping empty", new PingCommand(""));
            data.Add("ping with spaces", new PingCommand("a b  c "));
            data.Add("error empty", new ErrorCommand(""));
            data.Add("user_ip newline in agent", new UserIpCommand("@a:b", "t", "::1", "evil\nagent \"quoted\"", null, 0));
            return data;
        }
    }

    [Theory]
    [MemberData(nameof(EveryCommand))]
    public void Command_WrittenThenRead_GivesEqualCommand(string label, ReplicationCommand command)
    {
        byte[] line = Write(command);
        Assert.Equal((byte)'\n', line[^1]);
        Assert.Equal(1, line.Count(b => b == (byte)'\n'));

        // A writer handing out exactly the size asked for catches a size hint that is too small.
        var exact = new ExactBufferWriter();
        ReplicationCommandWriter.Write(exact, command);
        Assert.Equal(line, exact.Written.ToArray());

        foreach (var receiver in Receivers(command))
        {
            var reader = new ReplicationCommandReader(receiver);
            var buffer = new ReadOnlySequence<byte>(line);
            Assert.True(reader.TryRead(ref buffer, out var read), label);
            Assert.True(buffer.IsEmpty);
            Assert.Equal(Describe(command), Describe(read));
            Assert.Equal(Describe(command), Describe(reader.Parse(line.AsSpan(0, line.Length - 1))));
        }
    }

    [Theory]
    [MemberData(nameof(Segmentations))]
    public void Reader_PayloadOfEveryCommand_ReadsEachCommandOnceInOrder(ReplicationPeer receiver, Segmentation segmentation) =>
        ReadsEachCommandOnceInOrder(receiver, segmentation, borrowRows: false);

    [Theory]
    [MemberData(nameof(EverySegmentation))]
    public void Reader_BorrowingRows_ReadsEachRowWhole(Segmentation segmentation) =>
        ReadsEachCommandOnceInOrder(ReplicationPeer.Client, segmentation, borrowRows: true);

    public static TheoryData<Segmentation> EverySegmentation => new(Enum.GetValues<Segmentation>());

    /// <summary>
    /// Reads the payload cut as <paramref name="segmentation"/> says. Rows are copied as soon as each command is read
    /// (<see cref="ReadAll"/>), which is all a borrowed row promises.
    /// </summary>
    private static void ReadsEachCommandOnceInOrder(ReplicationPeer receiver, Segmentation segmentation, bool borrowRows)
    {
        var (payload, expected) = Payload(receiver);
        int cases = 0;
        foreach (var (label, buffer, tail) in Cut(payload, segmentation))
        {
            var reader = new ReplicationCommandReader(receiver, borrowRows: borrowRows);
            var rest = buffer;
            var read = ReadAll(reader, ref rest);
            AssertSameCommands(label, expected, read);
            Assert.True(tail.AsSpan().SequenceEqual(rest.ToArray()), $"{label}: the incomplete tail must stay unread");
            cases++;
        }

        if (segmentation == Segmentation.Incremental)
        {
            foreach (int chunk in new[] { 1, 7, 0 })
            {
                var read = ReadIncrementally(new ReplicationCommandReader(receiver, borrowRows: borrowRows), payload, chunk, out int retained);
                AssertSameCommands($"chunks of {chunk}", expected, read);
                Assert.True(retained <= Limit + Math.Max(chunk, MaxRandomChunk), $"kept {retained} bytes");
                cases++;
            }
        }

        Assert.True(cases > 0);
    }

    [Theory]
    [InlineData(ReplicationPeer.Client, "POSITION events master")]
    [InlineData(ReplicationPeer.Client, "POSITION events")]
    [InlineData(ReplicationPeer.Client, "POSITION")]
    [InlineData(ReplicationPeer.Client, "POSITION events master x 5")]
    [InlineData(ReplicationPeer.Client, "POSITION events master 1 five")]
    [InlineData(ReplicationPeer.Client, "POSITION events master 1 2 epoch extra")]
    [InlineData(ReplicationPeer.Client, "POSITION events  master 1 2")]
    [InlineData(ReplicationPeer.Client, "POSITION events master 1.5 2")]
    [InlineData(ReplicationPeer.Client, "RDATA events master 5")]
    [InlineData(ReplicationPeer.Client, "RDATA events master 5 ")]
    [InlineData(ReplicationPeer.Client, "RDATA events master")]
    [InlineData(ReplicationPeer.Client, "RDATA")]
    [InlineData(ReplicationPeer.Client, "RDATA events master x {}")]
    [InlineData(ReplicationPeer.Client, "RDATA events master batches {}")]
    [InlineData(ReplicationPeer.Client, "SERVER")]
    [InlineData(ReplicationPeer.Client, "SERVER localhost proto=x")]
    [InlineData(ReplicationPeer.Client, "SERVER localhost proto=4294967297")]
    [InlineData(ReplicationPeer.Client, "REMOTE_SERVER_UP")]
    [InlineData(ReplicationPeer.Client, "REMOTE_SERVER_UP a b")]
    [InlineData(ReplicationPeer.Client, "SYNC 12")]
    [InlineData(ReplicationPeer.Client, "rdata events master 1 {}")]
    [InlineData(ReplicationPeer.Server, "NAME")]
    [InlineData(ReplicationPeer.Server, "NAME a b")]
    [InlineData(ReplicationPeer.Server, "AUTH")]
    [InlineData(ReplicationPeer.Server, "USER_SYNC inst @u:x maybe 123")]
    [InlineData(ReplicationPeer.Server, "USER_SYNC inst @u:x DEV maybe 123")]
    [InlineData(ReplicationPeer.Server, "USER_SYNC inst @u:x DEV START 123")]
    [InlineData(ReplicationPeer.Server, "USER_SYNC inst @u:x start")]
    [InlineData(ReplicationPeer.Server, "USER_SYNC inst @u:x start soon")]
    [InlineData(ReplicationPeer.Server, "USER_SYNC inst @u:x DEV start 1 extra")]
    [InlineData(ReplicationPeer.Server, "USER_SYNC inst")]
    [InlineData(ReplicationPeer.Server, "USER_IP @u:x not-json")]
    [InlineData(ReplicationPeer.Server, "USER_IP @u:x")]
    [InlineData(ReplicationPeer.Server, "USER_IP @u:x {\"a\":1}")]
    [InlineData(ReplicationPeer.Server, "USER_IP @u:x [\"tok\",\"ip\"]")]
    [InlineData(ReplicationPeer.Server, "USER_IP @u:x [\"tok\",\"ip\",\"ua\",null]")]
    [InlineData(ReplicationPeer.Server, "USER_IP @u:x [\"tok\",\"ip\",\"ua\",null,\"5\"]")]
    [InlineData(ReplicationPeer.Server, "USER_IP @u:x [\"tok\",\"ip\",\"ua\",null,1.5]")]
    [InlineData(ReplicationPeer.Server, "USER_IP @u:x [1,\"ip\",\"ua\",null,5]")]
    [InlineData(ReplicationPeer.Server, "USER_IP @u:x [null,\"ip\",\"ua\",null,5]")]
    [InlineData(ReplicationPeer.Server, "USER_IP @u:x [\"tok\",\"ip\",\"ua\",null,5")]
    [InlineData(ReplicationPeer.Server, "USER_IP @u:x [\"tok\",\"ip\",\"ua\",null,5]garbage")]
    [InlineData(ReplicationPeer.Server, "USER_IP @u:x [\"tok\",\"ip\",\"ua\",null,5] [1]")]
    [InlineData(ReplicationPeer.Server, "CLEAR_USER_SYNC")]
    [InlineData(ReplicationPeer.Server, "CLEAR_USER_SYNC a b")]
    [InlineData(ReplicationPeer.Server, "FEDERATION_ACK")]
    [InlineData(ReplicationPeer.Server, "FEDERATION_ACK x")]
    [InlineData(ReplicationPeer.Server, "FEDERATION_ACK inst x")]
    [InlineData(ReplicationPeer.Server, "FEDERATION_ACK inst 1 2")]
    [InlineData(ReplicationPeer.Server, "INVALIDATE_CACHE")]
    [InlineData(ReplicationPeer.Server, "INVALIDATE_CACHE get_user_by_id")]
    [InlineData(ReplicationPeer.Server, "REMOVE_PUSHER app key @u:x")]
    [InlineData(ReplicationPeer.Server, " PING 1")]
    public void Reader_MalformedLine_ThrowsAndNextLineStillReads(ReplicationPeer receiver, string line)
    {
        var reader = new ReplicationCommandReader(receiver);
        var buffer = Sequence(Utf8(line + "\nPING after\n"));

        Assert.Throws<ReplicationProtocolException>(() => reader.TryRead(ref buffer, out _));
        Assert.Throws<ReplicationProtocolException>(() => reader.Parse(Utf8(line)));

        Assert.True(reader.TryRead(ref buffer, out var next));
        Assert.Equal(new PingCommand("after"), next);
        Assert.True(buffer.IsEmpty);
    }

    [Theory]
    [InlineData(64, false)]
    [InlineData(65, true)]
    public void Reader_LineAtTheLimitOrOneOver_ParsesOrThrows(int lineLength, bool tooLong)
    {
        const int max = 64;
        string line = "PING " + new string('p', lineLength - "PING ".Length);
        byte[] payload = Utf8(line + "\nPING next\n");

        foreach (var (label, buffer, _) in Cut(payload, Segmentation.Whole).Concat(Cut(payload, Segmentation.OneBytePerSegment)))
        {
            var reader = new ReplicationCommandReader(ReplicationPeer.Client, max);
            var rest = buffer;
            if (tooLong)
            {
                Assert.Throws<ReplicationProtocolException>(() => reader.TryRead(ref rest, out _));
            }
            else
            {
                Assert.True(reader.TryRead(ref rest, out var command), label);
                Assert.Equal(new PingCommand(line["PING ".Length..]), command);
            }

            Assert.True(reader.TryRead(ref rest, out var next), label);
            Assert.Equal(new PingCommand("next"), next);
        }

        // Arriving byte by byte: a line at the limit is kept whole until its LF; one over is dropped as it comes.
        var incremental = new ReplicationCommandReader(ReplicationPeer.Client, max);
        var errors = 0;
        var commands = ReadIncrementally(incremental, payload, 1, out int retained, () => errors++);
        Assert.Equal(tooLong ? 1 : 0, errors);
        Assert.Equal(tooLong ? 1 : 2, commands.Count);
        Assert.True(retained <= max + 1);
    }

    [Fact]
    public void Reader_CompleteLineOverTheLimit_ThrowsOnceAndNextLineReads()
    {
        var reader = new ReplicationCommandReader(ReplicationPeer.Client);

        // The overlong line ends in something that looks like a command: nothing of it may be read as one.
        var buffer = Sequence(Utf8("RDATA events master 1 [\"" + new string('x', Limit) + "\"] PING 5\nPING 6\n"));

        var error = Assert.Throws<ReplicationProtocolException>(() => reader.TryRead(ref buffer, out _));
        Assert.Contains("Line length exceeded", error.Message, StringComparison.Ordinal);
        Assert.True(reader.TryRead(ref buffer, out var next));
        Assert.Equal(new PingCommand("6"), next);
        Assert.False(reader.TryRead(ref buffer, out _));
    }

    [Theory]
    [InlineData(500, false)]
    [InlineData(500, true)]
    [InlineData(1, false)]
    [InlineData(4096, true)]
    public void Reader_OverlongLineArrivingInPieces_DiscardsWithoutBufferingAndThrowsOnce(int chunk, bool lineFeedAlone)
    {
        const int max = 1024;
        var reader = new ReplicationCommandReader(ReplicationPeer.Client, max);
        var payload = new List<byte>(Utf8("RDATA events master 1 "));
        payload.AddRange(Enumerable.Repeat((byte)'y', 100_000));
        payload.AddRange(Utf8(" PING 5"));
        int lineFeed = payload.Count;
        payload.AddRange(Utf8("\nPING 6\nPING 7\n"));
        byte[] bytes = [.. payload];

        var pending = Array.Empty<byte>();
        var read = new List<ReplicationCommand>();
        int errors = 0;
        int offset = 0;
        while (offset < bytes.Length)
        {
            int size = lineFeedAlone && offset < lineFeed
                ? Math.Min(chunk, lineFeed - offset)
                : Math.Min(chunk, bytes.Length - offset);
            var buffer = Sequence(pending, bytes.AsMemory(offset, size));
            offset += size;
            try
            {
                while (reader.TryRead(ref buffer, out var command))
                {
                    read.Add(command);
                }
            }
            catch (ReplicationProtocolException)
            {
                errors++;
                Assert.True(offset > lineFeed, "the error comes when the line ends, not before");
                while (reader.TryRead(ref buffer, out var command))
                {
                    read.Add(command);
                }
            }

            pending = buffer.ToArray();
            Assert.True(pending.Length <= max + chunk, $"kept {pending.Length} bytes at offset {offset}");
        }

        Assert.Equal(1, errors);
        Assert.Equal([new PingCommand("6"), new PingCommand("7")], read);
        Assert.Empty(pending);
    }

    [Theory]
    [InlineData(ReplicationPeer.Server, "RDATA events master 1 {}")]
    [InlineData(ReplicationPeer.Server, "POSITION events master 1 2")]
    [InlineData(ReplicationPeer.Server, "SERVER localhost")]
    [InlineData(ReplicationPeer.Client, "NAME worker1")]
    [InlineData(ReplicationPeer.Client, "REPLICATE ")]
    [InlineData(ReplicationPeer.Client, "REPLICATE")]
    [InlineData(ReplicationPeer.Client, "USER_SYNC inst @u:x DEV start 1")]
    [InlineData(ReplicationPeer.Client, "USER_IP @u:x [\"tok\",\"ip\",\"ua\",null,5]")]
    [InlineData(ReplicationPeer.Client, "AUTH 00ff")]
    [InlineData(ReplicationPeer.Client, "INVALIDATE_CACHE get_user_by_id [\"@u:x\"]")]
    [InlineData(ReplicationPeer.Client, "CLEAR_USER_SYNC inst")]
    [InlineData(ReplicationPeer.Client, "FEDERATION_ACK inst 5")]
    public void Reader_CommandFromTheWrongSide_Throws(ReplicationPeer receiver, string line)
    {
        var wrongSide = new ReplicationCommandReader(receiver);
        var otherSide = new ReplicationCommandReader(receiver == ReplicationPeer.Client ? ReplicationPeer.Server : ReplicationPeer.Client);
        var buffer = Sequence(Utf8(line + "\nPING 1\n"));

        Assert.Throws<ReplicationProtocolException>(() => wrongSide.TryRead(ref buffer, out _));
        Assert.True(wrongSide.TryRead(ref buffer, out var next));
        Assert.Equal(new PingCommand("1"), next);
        Assert.NotNull(otherSide.Parse(Utf8(line)));
    }

    [Theory]
    [InlineData("PING 1795365148346")]
    [InlineData("ERROR ping timeout")]
    [InlineData("REMOTE_SERVER_UP remote.example.org")]
    public void Reader_CommandSentByBothSides_ReadsOnBothSides(string line)
    {
        var fromServer = new ReplicationCommandReader(ReplicationPeer.Client).Parse(Utf8(line));
        var fromClient = new ReplicationCommandReader(ReplicationPeer.Server).Parse(Utf8(line));

        Assert.Equal(fromServer, fromClient);
        Assert.Equal(ReplicationPeer.Server | ReplicationPeer.Client, fromServer.SentBy);
    }

    [Fact]
    public void Reader_PeerBoth_IsRefused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new ReplicationCommandReader(ReplicationPeer.Server | ReplicationPeer.Client));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ReplicationCommandReader(ReplicationPeer.Client, maxLineLength: 63));
    }

    [Theory]
    [InlineData("REPLICATE")]
    [InlineData("REPLICATE ")]
    public void Reader_BareReplicate_Reads(string line)
    {
        var reader = new ReplicationCommandReader(ReplicationPeer.Server);
        var buffer = Sequence(Utf8(line + "\n"));

        Assert.True(reader.TryRead(ref buffer, out var command));
        Assert.Same(ReplicateCommand.Instance, command);
    }

    [Theory]
    [InlineData(ReplicationPeer.Client, "PING")]
    [InlineData(ReplicationPeer.Client, "PING ")]
    [InlineData(ReplicationPeer.Server, "PING")]
    public void Reader_BarePing_ReadsWithEmptyData(ReplicationPeer receiver, string line)
    {
        Assert.Equal(new PingCommand(""), new ReplicationCommandReader(receiver).Parse(Utf8(line)));
    }

    [Fact]
    public void Reader_BlankLines_AreSkipped()
    {
        var reader = new ReplicationCommandReader(ReplicationPeer.Client);
        var buffer = Sequence(Utf8("\n\n\nPING 1\n\n"));

        Assert.True(reader.TryRead(ref buffer, out var command));
        Assert.Equal(new PingCommand("1"), command);
        Assert.False(reader.TryRead(ref buffer, out _));
        Assert.True(buffer.IsEmpty);
    }

    [Fact]
    public void Reader_OlderWireForms_Parse()
    {
        var client = new ReplicationCommandReader(ReplicationPeer.Client);
        var server = new ReplicationCommandReader(ReplicationPeer.Server);

        // Era B (v1.13–v1.21): one token; prev = new, so no catch-up is implied.
        Assert.Equal(new PositionCommand("events", "master", 12, 12), client.Parse("POSITION events master 12"u8));

        // v1.13–v1.91: no device.
        Assert.Equal(new UserSyncCommand("zpCfU", "@bob:localhost", null, true, 1795365162257),
            server.Parse("USER_SYNC zpCfU @bob:localhost start 1795365162257"u8));
        Assert.Equal(new UserSyncCommand("zpCfU", "@bob:localhost", null, false, 7), server.Parse("USER_SYNC zpCfU @bob:localhost end 7"u8));

        // v1.92+: "None" stands for no device.
        Assert.Equal(new UserSyncCommand("zpCfU", "@bob:localhost", null, true, 7), server.Parse("USER_SYNC zpCfU @bob:localhost None start 7"u8));

        // ≤ v1.17: no instance.
        Assert.Equal(new FederationAckCommand("", 99), server.Parse("FEDERATION_ACK 99"u8));

        // The reference's greeting: no protocol version, no challenge; unknown options of a newer main are ignored.
        Assert.Equal(new ServerCommand("localhost", 0, null), client.Parse("SERVER localhost"u8));
        Assert.Equal(new ServerCommand("localhost", 3, "abc"), client.Parse("SERVER localhost feature=x proto=3 nonce=abc"u8));
    }

    [Theory]
    [InlineData("word with space")]
    [InlineData("word\nwith newline")]
    [InlineData("word\rwith return")]
    [InlineData("")]
    public void Writer_WordThatWouldBreakFraming_ThrowsAndWritesNothing(string word)
    {
        ReplicationCommand[] commands =
        [
            new NameCommand(word),
            new AuthCommand(word),
            new ClearUserSyncCommand(word),
            new RemoteServerUpCommand(word),
            new ServerCommand(word, 0, null),
            new PositionCommand(word, "master", 1, 2),
            new PositionCommand("events", word, 1, 2),
            new PositionCommand("events", "master", 1, 2, word),
            new RdataCommand(word, "master", 1, Utf8("{}")),
            new RdataCommand("events", word, 1, Utf8("{}")),
            new UserSyncCommand(word, "@u:x", null, true, 1),
            new UserSyncCommand("inst", word, null, true, 1),
            new UserSyncCommand("inst", "@u:x", word, true, 1),
            new FederationAckCommand(word.Length == 0 ? " " : word, 1),
            new InvalidateCacheCommand(word, Utf8("null")),
            new UserIpCommand(word, "t", "ip", "ua", null, 1),
        ];
        foreach (var command in commands)
        {
            var output = new ArrayBufferWriter<byte>();
            Assert.Throws<ArgumentException>(() => ReplicationCommandWriter.Write(output, command));
            Assert.Equal(0, output.WrittenCount);
        }

        if (word.Length > 0)
        {
            Assert.Throws<ArgumentException>(() => ReplicationCommandWriter.Write(new ArrayBufferWriter<byte>(), new ServerCommand("localhost", 1, word)));
        }
    }

    [Theory]
    [InlineData("a\nb")]
    [InlineData("a\rb")]
    [InlineData("")]
    public void Writer_RowOrFreeTextWithNewline_Throws(string text)
    {
        var output = new ArrayBufferWriter<byte>();

        Assert.Throws<ArgumentException>(() => ReplicationCommandWriter.WriteRdata(output, "events", "master", 1, Utf8(text)));
        Assert.Throws<ArgumentException>(() => ReplicationCommandWriter.Write(output, new RdataCommand("events", "master", null, Utf8(text))));
        Assert.Throws<ArgumentException>(() => ReplicationCommandWriter.Write(output, new InvalidateCacheCommand("c", Utf8(text))));
        if (text.Length > 0)
        {
            Assert.Throws<ArgumentException>(() => ReplicationCommandWriter.Write(output, new PingCommand(text)));
            Assert.Throws<ArgumentException>(() => ReplicationCommandWriter.Write(output, new ErrorCommand(text)));
        }

        Assert.Equal(0, output.WrittenCount);
    }

    [Fact]
    public void Writer_CommandsWithoutArguments_WriteTheTrailingSpace()
    {
        // Spec §1.1: the sender always writes the space after the name.
        Assert.Equal("REPLICATE \n", Encoding.UTF8.GetString(Write(ReplicateCommand.Instance)));
        Assert.Equal("PING \n", Encoding.UTF8.GetString(Write(new PingCommand(""))));
    }

    [Fact]
    public void Writer_OlderFormsItStillSpeaks_MatchTheReference()
    {
        Assert.Equal("SERVER localhost\n", Encoding.UTF8.GetString(Write(new ServerCommand("localhost", 0, null))));
        Assert.Equal("SERVER localhost proto=1 nonce=ab\n", Encoding.UTF8.GetString(Write(new ServerCommand("localhost", 1, "ab"))));
        Assert.Equal("FEDERATION_ACK 5\n", Encoding.UTF8.GetString(Write(new FederationAckCommand("", 5))));
        Assert.Equal("USER_SYNC i @u:x None end 5\n", Encoding.UTF8.GetString(Write(new UserSyncCommand("i", "@u:x", null, false, 5))));
    }

    [Theory]
    [InlineData("events", "master", 7L, "[\"ev\",[]]")]
    [InlineData("events", "master", null, "[\"ev\",[]]")]
    [InlineData("caches", "master", 0L, "null")]
    [InlineData("caches", "master", -12L, "{}")]
    [InlineData("caches", "master", long.MaxValue, "[1]")]
    [InlineData("caches", "master", long.MinValue, "[1]")]
    [InlineData("strömе", "wörker_ü", 42L, "[\"@ünï:例え.jp\"]")]
    public void Writer_RdataLineLength_IsTheWrittenLengthWithoutTheLineFeed(string stream, string instance, long? token, string row)
    {
        byte[] rowBytes = Utf8(row);
        var output = new ArrayBufferWriter<byte>();
        ReplicationCommandWriter.WriteRdata(output, stream, instance, token, rowBytes);

        Assert.Equal(output.WrittenCount - 1, ReplicationCommandWriter.RdataLineLength(stream, instance, token, rowBytes.Length));
        Assert.Equal(output.WrittenSpan.ToArray(), Write(new RdataCommand(stream, instance, token, rowBytes)));
    }

    internal static List<ReplicationCommand> ReadAll(ReplicationCommandReader reader, ref ReadOnlySequence<byte> buffer)
    {
        var commands = new List<ReplicationCommand>();
        while (reader.TryRead(ref buffer, out var command))
        {
            commands.Add(Detached(command));
        }

        return commands;
    }

    /// <summary>The command with its row copied, valid after the reader moves on (a borrowed row is not).</summary>
    internal static ReplicationCommand Detached(ReplicationCommand command) =>
        command is RdataCommand rdata ? rdata with { Row = rdata.Row.ToArray() } : command;

    /// <summary>A comparable text of a command: records compare their byte payloads by reference, so spell them out.</summary>
    internal static string Describe(ReplicationCommand command) => command switch
    {
        RdataCommand rdata => string.Create(CultureInfo.InvariantCulture,
            $"RDATA stream={rdata.Stream} instance={rdata.Instance} token={rdata.Token?.ToString(CultureInfo.InvariantCulture) ?? "batch"} row={Convert.ToHexString(rdata.Row.Span)}"),
        InvalidateCacheCommand invalidate => $"INVALIDATE_CACHE cache={invalidate.Cache} keys={Convert.ToHexString(invalidate.Keys.Span)}",
        _ => command.ToString(),
    };

    internal static byte[] Write(ReplicationCommand command)
    {
        var output = new ArrayBufferWriter<byte>();
        ReplicationCommandWriter.Write(output, command);
        return output.WrittenSpan.ToArray();
    }

    internal static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);

    /// <summary>A sequence of the given segments, in order (empty ones included).</summary>
    internal static ReadOnlySequence<byte> Sequence(params ReadOnlyMemory<byte>[] segments)
    {
        if (segments.Length == 1)
        {
            return new ReadOnlySequence<byte>(segments[0]);
        }

        var first = new TestSegment(segments[0]);
        var last = first;
        foreach (var memory in segments.Skip(1))
        {
            last = last.Append(memory);
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    /// <summary>
    /// A read loop as over a PipeReader: each round sees the bytes it kept plus the next chunk (two segments),
    /// reads what it can and keeps the rest. <paramref name="chunk"/> 0 means sizes drawn from a fixed seed.
    /// </summary>
    internal static List<ReplicationCommand> ReadIncrementally(
        ReplicationCommandReader reader, byte[] payload, int chunk, out int maxRetained, Action? onError = null)
    {
        var random = new Random(1234);
        var commands = new List<ReplicationCommand>();
        var pending = Array.Empty<byte>();
        maxRetained = 0;
        for (int offset = 0; offset < payload.Length;)
        {
            int size = Math.Min(chunk > 0 ? chunk : random.Next(1, MaxRandomChunk + 1), payload.Length - offset);
            var buffer = Sequence(pending, payload.AsMemory(offset, size));
            offset += size;
            while (true)
            {
                try
                {
                    // Into the list as they come: an error must not lose the commands read before it.
                    while (reader.TryRead(ref buffer, out var command))
                    {
                        commands.Add(Detached(command));
                    }

                    break;
                }
                catch (ReplicationProtocolException) when (onError is not null)
                {
                    onError();
                }
            }

            pending = buffer.ToArray();
            maxRetained = Math.Max(maxRetained, pending.Length);
        }

        Assert.Empty(pending);
        return commands;
    }

    private static IEnumerable<ReplicationPeer> Receivers(ReplicationCommand command)
    {
        if ((command.SentBy & ReplicationPeer.Server) != 0)
        {
            yield return ReplicationPeer.Client;
        }

        if ((command.SentBy & ReplicationPeer.Client) != 0)
        {
            yield return ReplicationPeer.Server;
        }
    }

    private static void AssertSameCommands(string label, List<ReplicationCommand> expected, List<ReplicationCommand> actual)
    {
        for (int i = 0; i < Math.Min(expected.Count, actual.Count); i++)
        {
            if (!Same(expected[i], actual[i]))
            {
                Assert.Fail($"{label}: command {i} differs.\nExpected: {Shorten(Describe(expected[i]))}\nActual:   {Shorten(Describe(actual[i]))}");
            }
        }

        if (expected.Count != actual.Count)
        {
            Assert.Fail($"{label}: {actual.Count} commands read, {expected.Count} expected");
        }
    }

    /// <summary><see cref="Describe"/>'s equality without building the text (the split theories compare many).</summary>
    private static bool Same(ReplicationCommand expected, ReplicationCommand actual) => (expected, actual) switch
    {
        (RdataCommand a, RdataCommand b) => a with { Row = b.Row } == b && a.Row.Span.SequenceEqual(b.Row.Span),
        (InvalidateCacheCommand a, InvalidateCacheCommand b) => a with { Keys = b.Keys } == b && a.Keys.Span.SequenceEqual(b.Keys.Span),
        _ => expected == actual,
    };

    private static string Shorten(string text) => text.Length > 300 ? text[..300] + "…" : text;

    /// <summary>The payload a reader on <paramref name="receiver"/>'s side reads, and the commands in it.</summary>
    private static (byte[] Payload, List<ReplicationCommand> Commands) Payload(ReplicationPeer receiver)
    {
        var commands = receiver == ReplicationPeer.Client ? ServerToClientCommands() : ClientToServerCommands();
        var output = new ArrayBufferWriter<byte>();
        var expected = new List<ReplicationCommand>();
        foreach (var command in commands)
        {
            ReplicationCommandWriter.Write(output, command);
            expected.Add(command);
        }

        // Lines our writer never produces but a peer may send: a blank line, bare names without the space.
        output.Write("\nPING\n"u8);
        expected.Add(new PingCommand(""));
        if (receiver == ReplicationPeer.Server)
        {
            output.Write("REPLICATE\n\n"u8);
            expected.Add(ReplicateCommand.Instance);
        }

        // A last short one, so the long line is not at the end.
        ReplicationCommandWriter.Write(output, new PingCommand("end"));
        expected.Add(new PingCommand("end"));
        return (output.WrittenSpan.ToArray(), expected);
    }

    private static List<ReplicationCommand> ServerToClientCommands()
    {
        const string stream = "to_device";
        int rowLength = Limit - ReplicationCommandWriter.RdataLineLength(stream, "master", 10, 0);
        return
        [
            new ServerCommand("example.org", 1, "3f1c9a0b"),
            new ServerCommand("localhost", 0, null),
            new PingCommand("1795365148346"),
            new PositionCommand("events", "master", 1, 5),
            new PositionCommand("typing", "master", 0, 3, "1795365148"),
            new RdataCommand("events", "master", null,
                Utf8("""["ev",["$a","!r:example.org","m.room.create","",null,null,null,false,false]]""")),
            new RdataCommand("events", "master", null,
                Utf8("""["ev",["$b","!r:example.org","m.room.member","@ünïcødé:example.org",null,null,"join",false,false]]""")),
            new RdataCommand("events", "master", 7,
                Utf8("""["ev",["$c","!r:example.org","m.room.message",null,null,null,null,false,false]]""")),
            new RdataCommand("caches", "master", 8, Utf8("""["get_user_by_id",["@\u00e9l\u00e8ve:example.org"],1795365151001]""")),
            new RdataCommand("presence", "master", 9, Utf8("""["@名前:example.org", "online", 1795365151001]""")),
            new RdataCommand(stream, "master", 10, LongRow(rowLength)),
            new PositionCommand("events", "master", 5, 7),
            new RemoteServerUpCommand("remote.example.org"),
            new ErrorCommand("Wrong remote: other.example.org"),
        ];
    }

    private static List<ReplicationCommand> ClientToServerCommands()
    {
        const string cache = "get_users_in_room";
        int keysLength = Limit - "INVALIDATE_CACHE ".Length - cache.Length - 1;
        return
        [
            new NameCommand("synchrotron1"),
            new AuthCommand("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"),
            new PingCommand("1795365148347"),
            ReplicateCommand.Instance,
            new UserSyncCommand("zpCfU", "@bob:example.org", "PSWVQPYBWD", true, 1795365162257),
            new UserSyncCommand("zpCfU", "@ünïcødé:example.org", null, false, 1795365163942),
            new UserIpCommand("@名前:example.org", "syt_dG9r", "127.0.0.1", "Mozilla/5.0 (X11; Linux) Ünï <&>+'", "DEVICE", 1795365162232),
            new UserIpCommand("@bob:example.org", "syt_Ym9i", "::1", "curl/7.88.1", null, 1),
            new ClearUserSyncCommand("zpCfU"),
            new FederationAckCommand("federation_sender1", 42),
            new FederationAckCommand("", 43),
            new InvalidateCacheCommand("get_user_by_id", Utf8("""["@bob:example.org"]""")),
            new InvalidateCacheCommand("get_users_in_room", Utf8("null")),
            new InvalidateCacheCommand(cache, LongRow(keysLength)),
            new RemoteServerUpCommand("remote.example.org"),
            new ErrorCommand("invalid command: RDATA"),
        ];
    }

    /// <summary>A JSON row of exactly <paramref name="length"/> bytes, with multi-byte characters throughout.</summary>
    private static byte[] LongRow(int length)
    {
        var row = new List<byte>(Utf8("[\""));
        while (row.Count < length - 2)
        {
            row.AddRange(row.Count + 2 + 2 <= length - 2 ? Utf8("é") : Utf8("x"));
        }

        row.AddRange(Utf8("\"]"));
        Assert.Equal(length, row.Count);
        return [.. row];
    }

    /// <summary>The buffers a reader sees for one segmentation; the tail is what must stay unread.</summary>
    private static IEnumerable<(string Label, ReadOnlySequence<byte> Buffer, byte[] Tail)> Cut(byte[] payload, Segmentation segmentation)
    {
        switch (segmentation)
        {
            case Segmentation.Whole:
                yield return ("whole", new ReadOnlySequence<byte>(payload), []);
                break;
            case Segmentation.InsideLargerBuffer:
                // Bytes outside the slice hold line feeds and commands: a reader that looks past its buffer reads them.
                byte[] prefix = Utf8("PING outside\n\n");
                byte[] tail = Utf8("RDATA events master 11 [\"incomplete");
                byte[] suffix = Utf8("\"]\nPING outside\n");
                byte[] larger = [.. prefix, .. payload, .. tail, .. suffix];
                var slice = larger.AsMemory(prefix.Length, payload.Length + tail.Length);
                yield return ("inside a larger buffer", new ReadOnlySequence<byte>(slice), tail);
                yield return ("inside larger buffers, split", Sequence(slice[..(payload.Length / 2)], slice[(payload.Length / 2)..]), tail);
                break;
            case Segmentation.EveryTwoWaySplit:
                for (int split = 0; split <= payload.Length; split++)
                {
                    yield return ($"split at {split}", Sequence(payload.AsMemory(0, split), payload.AsMemory(split)), []);
                }

                break;
            case Segmentation.OneBytePerSegment:
                var bytes = new ReadOnlyMemory<byte>[payload.Length];
                for (int i = 0; i < payload.Length; i++)
                {
                    bytes[i] = payload.AsMemory(i, 1);
                }

                yield return ("one byte per segment", Sequence(bytes), []);
                break;
            case Segmentation.Incremental:
                // Driven by ReadIncrementally in the theory.
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(segmentation));
        }
    }

    private sealed class TestSegment : ReadOnlySequenceSegment<byte>
    {
        public TestSegment(ReadOnlyMemory<byte> memory) => Memory = memory;

        public TestSegment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new TestSegment(memory) { RunningIndex = RunningIndex + Memory.Length };
            Next = next;
            return next;
        }
    }

    /// <summary>Hands out exactly the size asked for, as a pooled writer may.</summary>
    private sealed class ExactBufferWriter : IBufferWriter<byte>
    {
        private readonly ArrayBufferWriter<byte> _written = new();
        private byte[] _current = [];

        public ReadOnlyMemory<byte> Written => _written.WrittenMemory;

        public void Advance(int count) => _written.Write(_current.AsSpan(0, count));

        public Memory<byte> GetMemory(int sizeHint = 0) => _current = new byte[Math.Max(sizeHint, 1)];

        public Span<byte> GetSpan(int sizeHint = 0) => _current = new byte[Math.Max(sizeHint, 1)];
    }
}
