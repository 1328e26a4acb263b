using System.Buffers;
using System.Text;
using System.Text.Json;
using Synapse.Replication.Protocol;
using static Synapse.Tests.Replication.ReplicationCommandCodecTests;

namespace Synapse.Tests.Replication;

/// <summary>
/// Conformance with real traffic of the reference implementation (release 1.66.0, direct TCP replication,
/// shared/captures/README.md): our reader reads every line and our writer produces the same framing.
/// </summary>
/// <remarks>
/// The capture is committed under <c>Replication/Captures/</c> and copied to the output, so the tests run without
/// the workspace's <c>shared</c> folder; where that folder is found, the copy must equal the original.
/// </remarks>
public sealed class CaptureConformanceTests
{
    private const string CaptureName = "v1.66.0-direct-tcp";
    private const string CaptureFile = "tcp_replication.txt";

    private static readonly Lazy<byte[]> CaptureBytes = new(() => File.ReadAllBytes(CommittedCopyPath()));
    private static readonly Lazy<List<CaptureLine>> Lines = new(() => ProtocolLines(CaptureBytes.Value));

    [Fact]
    public void Capture_CommittedCopy_IsPresentAndMatchesTheSharedOriginal()
    {
        Assert.True(File.Exists(CommittedCopyPath()), $"{CommittedCopyPath()} is missing: the .csproj copies Replication/Captures to the output");

        // A checkout that turns LF into CRLF changes the traffic (.gitattributes: -text for the folder).
        Assert.DoesNotContain((byte)'\r', CaptureBytes.Value);
        if (SharedOriginalPath() is { } original)
        {
            Assert.Equal(File.ReadAllBytes(original), CaptureBytes.Value);
        }
    }

    [Fact]
    public void Capture_EveryLine_ParsesOnTheReceivingSideWithTheCountsOfTheFile()
    {
        // Expected: straight from the text, "<time> <connection> <direction> <NAME> ...".
        var expected = new SortedDictionary<string, int>(StringComparer.Ordinal);
        foreach (string row in Encoding.UTF8.GetString(CaptureBytes.Value).Split('\n'))
        {
            string[] fields = row.Split(' ', 4);
            if (fields.Length == 4 && fields[2] is "S->C" or "C->S")
            {
                string key = fields[2] + " " + fields[3].Split(' ')[0];
                expected[key] = expected.GetValueOrDefault(key) + 1;
            }
        }

        var actual = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var client = new ReplicationCommandReader(ReplicationPeer.Client);
        var server = new ReplicationCommandReader(ReplicationPeer.Server);
        foreach (var line in Lines.Value)
        {
            var reader = line.Sender == ReplicationPeer.Server ? client : server;
            ReplicationCommand command;
            try
            {
                command = reader.Parse(line.Bytes);
            }
            catch (ReplicationProtocolException e)
            {
                throw new InvalidOperationException($"capture line {line.Number} does not parse: {line.Text}", e);
            }

            string key = (line.Sender == ReplicationPeer.Server ? "S->C " : "C->S ") + command.Name;
            actual[key] = actual.GetValueOrDefault(key) + 1;
        }

        Assert.Equal(expected, actual);
        foreach (string kind in new[] { "S->C SERVER", "S->C POSITION", "S->C RDATA", "S->C PING", "C->S NAME", "C->S REPLICATE", "C->S USER_SYNC", "C->S USER_IP" })
        {
            Assert.True(actual.GetValueOrDefault(kind) > 0, $"the capture has no {kind}");
        }
    }

    [Fact]
    public void Capture_EveryParsedLine_WritesBackToItsBytesExceptTheOlderUserSync()
    {
        int identical = 0;
        int userSyncWithoutDevice = 0;
        foreach (var line in Lines.Value)
        {
            var command = Reader(line.Sender).Parse(line.Bytes);
            byte[] written = Write(command);
            Assert.Equal(Describe(command), Describe(Reader(line.Sender).Parse(written.AsSpan(0, written.Length - 1))));
            string writtenText = Encoding.UTF8.GetString(written, 0, written.Length - 1);
            if (writtenText == line.Text)
            {
                identical++;
                continue;
            }

            // 1.66 sends USER_SYNC without a device (v1.13–v1.91 form). We always write the v1.92+ form with the
            // device or "None": our main reads both (the reader accepts the older one), and only our workers talk
            // to our main. So this difference is deliberate: the device is inserted after the user id.
            string[] words = line.Text.Split(' ');
            Assert.True(command is UserSyncCommand { DeviceId: null } && words.Length == 5,
                $"capture line {line.Number} written differently:\n  capture: {line.Text}\n  ours:    {writtenText}");
            Assert.Equal(string.Join(' ', [.. words[..3], "None", .. words[3..]]), writtenText);
            userSyncWithoutDevice++;
        }

        // The file's own count of 4-argument USER_SYNC lines, by plain string ops.
        int olderUserSyncInFile = Encoding.UTF8.GetString(CaptureBytes.Value).Split('\n')
            .Select(row => row.Split(' ', 4))
            .Count(fields => fields.Length == 4 && fields[2] == "C->S" && fields[3].StartsWith("USER_SYNC ", StringComparison.Ordinal)
                && fields[3].Split(' ').Length == 5);
        Assert.True(olderUserSyncInFile > 0);
        Assert.Equal(olderUserSyncInFile, userSyncWithoutDevice);
        Assert.Equal(Lines.Value.Count - userSyncWithoutDevice, identical);

        // Argument-less commands: the reference writes the trailing space, and so do we (spec §1.1).
        Assert.Contains(Lines.Value, line => line.Text == "REPLICATE ");
    }

    [Fact]
    public void Capture_ConnectionStreamSplitAtRandomPoints_YieldsTheLineByLineCommands()
    {
        var random = new Random(20_221_123);
        int streams = 0;
        foreach (var group in Lines.Value.GroupBy(line => (line.Connection, line.Sender)))
        {
            var reader = Reader(group.Key.Sender);
            var expected = group.Select(line => Describe(reader.Parse(line.Bytes))).ToList();
            byte[] payload = [.. group.SelectMany(line => line.Bytes.Append((byte)'\n'))];

            for (int round = 0; round < 50; round++)
            {
                var cuts = Enumerable.Range(0, random.Next(1, 60)).Select(_ => random.Next(0, payload.Length + 1))
                    .Append(0).Append(payload.Length).Distinct().Order().ToArray();
                var segments = cuts.Zip(cuts.Skip(1), (from, to) => (ReadOnlyMemory<byte>)payload.AsMemory(from, to - from)).ToArray();
                var buffer = Sequence(segments);
                var read = ReadAll(Reader(group.Key.Sender), ref buffer);
                Assert.True(buffer.IsEmpty);
                Assert.Equal(expected, read.Select(Describe).ToList());
            }

            var incremental = ReadIncrementally(Reader(group.Key.Sender), payload, 0, out _);
            Assert.Equal(expected, incremental.Select(Describe).ToList());
            streams++;
        }

        // Two connections per worker (before and after the forced disconnect), both directions.
        Assert.True(streams >= 4);
    }

    [Fact]
    public void Capture_RdataBatches_EndWithANumericTokenOfTheSameStream()
    {
        int batchRows = 0;
        foreach (var connection in Lines.Value.Where(line => line.Sender == ReplicationPeer.Server).GroupBy(line => line.Connection))
        {
            byte[] payload = [.. connection.SelectMany(line => line.Bytes.Append((byte)'\n'))];
            var buffer = new ReadOnlySequence<byte>(payload);
            var rows = ReadAll(Reader(ReplicationPeer.Server), ref buffer).OfType<RdataCommand>().ToList();
            RdataCommand? open = null;
            var lastToken = new Dictionary<(string, string), long>();
            foreach (var row in rows)
            {
                // Spec §1.3: the rows of one position go as consecutive lines, all but the last with "batch".
                if (open is not null)
                {
                    Assert.True((open.Stream, open.Instance) == (row.Stream, row.Instance),
                        $"{connection.Key}: a batch of {open.Stream} is followed by a row of {row.Stream}");
                }

                if (row.Token is not { } token)
                {
                    batchRows++;
                    open = row;
                    continue;
                }

                open = null;

                // Positions never go back on one connection. They may repeat: 1.66 sent caches row 25 twice on
                // each connection (capture lines 221 and 224 for c1), which the receiver drops as already seen.
                var key = (row.Stream, row.Instance);
                Assert.True(token >= lastToken.GetValueOrDefault(key, long.MinValue), $"{connection.Key}: {row.Stream} went back to {token}");
                lastToken[key] = token;
            }

            Assert.True(open is null, $"{connection.Key} ends inside a batch of {open?.Stream}");
        }

        Assert.True(batchRows > 0, "the capture has no batch rows");
    }

    [Fact]
    public void Capture_JsonPayloads_AreComplete()
    {
        // The capture holds whole lines: every RDATA row and USER_IP array is complete JSON. (An RDATA line that
        // seemed to stop at "RDATA caches mas" around line 58 was cut by the viewer's width, not in the file: line
        // 55 reads in full "RDATA caches master 3 [...]".)
        int payloads = 0;
        foreach (var line in Lines.Value)
        {
            var command = Reader(line.Sender).Parse(line.Bytes);
            ReadOnlyMemory<byte>? json = command switch
            {
                RdataCommand rdata => rdata.Row,
                UserIpCommand => line.Bytes.AsMemory(line.Bytes.AsSpan().IndexOf((byte)'[')),
                _ => (ReadOnlyMemory<byte>?)null,
            };
            if (json is { } bytes)
            {
                using var document = JsonDocument.Parse(bytes);
                Assert.Equal(JsonValueKind.Array, document.RootElement.ValueKind);
                payloads++;
            }
        }

        Assert.True(payloads > 100);

        // Were a line cut like that, the reader would refuse it rather than read a wrong command.
        Assert.Throws<ReplicationProtocolException>(() => Reader(ReplicationPeer.Server).Parse("RDATA caches mas"u8));
    }

    /// <summary>A reader for the side that receives what <paramref name="sender"/> sends.</summary>
    private static ReplicationCommandReader Reader(ReplicationPeer sender) =>
        new(sender == ReplicationPeer.Server ? ReplicationPeer.Client : ReplicationPeer.Server);

    private static List<CaptureLine> ProtocolLines(byte[] capture)
    {
        var lines = new List<CaptureLine>();
        int number = 0;
        for (int start = 0; start < capture.Length;)
        {
            int length = capture.AsSpan(start).IndexOf((byte)'\n');
            length = length < 0 ? capture.Length - start : length;
            var span = capture.AsSpan(start, length);
            start += length + 1;
            number++;
            int first = span.IndexOf((byte)' ');
            int second = first < 0 ? -1 : first + 1 + span[(first + 1)..].IndexOf((byte)' ');
            int third = second <= first ? -1 : second + 1 + span[(second + 1)..].IndexOf((byte)' ');
            if (third <= second)
            {
                continue;
            }

            var direction = span[(second + 1)..third];
            ReplicationPeer? sender = direction.SequenceEqual("S->C"u8) ? ReplicationPeer.Server
                : direction.SequenceEqual("C->S"u8) ? ReplicationPeer.Client
                : null;
            if (sender is { } from)
            {
                // The rest of the row is the line exactly as sent, trailing space included.
                lines.Add(new CaptureLine(number, Encoding.UTF8.GetString(span[(first + 1)..second]), from, span[(third + 1)..].ToArray()));
            }
        }

        Assert.NotEmpty(lines);
        return lines;
    }

    private static string CommittedCopyPath() =>
        Path.Combine(AppContext.BaseDirectory, "Replication", "Captures", CaptureName, CaptureFile);

    /// <summary>The workspace's <c>shared/captures</c>, a sibling of the repository, when it is there.</summary>
    private static string? SharedOriginalPath()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            string candidate = Path.Combine(directory.FullName, "shared", "captures", CaptureName, CaptureFile);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    private sealed record CaptureLine(int Number, string Connection, ReplicationPeer Sender, byte[] Bytes)
    {
        public string Text => Encoding.UTF8.GetString(Bytes);
    }
}
