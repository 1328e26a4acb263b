using System.Buffers;
using System.Text.Json;
using System.Text.Json.Nodes;
using BenchmarkDotNet.Attributes;
using Synapse.Http;
using Synapse.Sync;

namespace Synapse.Benchmarks;

/// <summary>
/// Building a /sync response and writing it as the endpoint does (the response tree through <see cref="MatrixHttp.ResponseJson"/>):
/// a woken incremental sync with one new event and a typing notification, and an initial sync of 10 rooms × 20 events.
/// The events are client-format JSON as the formatter hands them over; fetching and formatting them is not measured here.
/// </summary>
[MemoryDiagnoser]
public class SyncSerializationBenchmarks
{
    private const string Token = "s1234_5_6_7_8_9_10_11";

    private static readonly string ClientEvent = """
        {"content":{"body":"A typical message of a sentence or two, with some punctuation: hello, world!","msgtype":"m.text",
        "format":"org.matrix.custom.html","formatted_body":"A typical message of a sentence or two, with <b>some</b> punctuation"},
        "event_id":"$Q2bVNxW0Ea5G0AY1Q8kYxEnMq7T7Jw9M4Zu3ZcI1x0c","origin_server_ts":1700000001000,
        "room_id":"!room:bench.local","sender":"@user500:bench.local","type":"m.room.message","unsigned":{"age":1234}}
        """;

    private readonly ArrayBufferWriter<byte> _buffer = new(64 * 1024);
    private JsonObject _event = null!;

    [GlobalSetup]
    public void Setup() => _event = JsonNode.Parse(ClientEvent)!.AsObject();

    [Benchmark]
    public int IncrementalOneEventAndTyping()
    {
        var builder = new SyncResponseBuilder();
        var room = builder.Room("join", "!room:bench.local");
        room["timeline"] = new JsonObject
        {
            ["events"] = new JsonArray(_event.DeepClone()),
            ["limited"] = false,
            ["prev_batch"] = Token,
        };
        builder.AddEphemeral("!room:bench.local", new JsonObject
        {
            ["type"] = "m.typing",
            ["content"] = new JsonObject { ["user_ids"] = new JsonArray("@user1:bench.local") },
        });
        return Write(builder.Build(Token));
    }

    [Benchmark]
    public int InitialTenRoomsTwentyEvents()
    {
        var builder = new SyncResponseBuilder();
        for (int r = 0; r < 10; r++)
        {
            var events = new JsonArray();
            for (int e = 0; e < 20; e++)
            {
                events.Add(_event.DeepClone());
            }

            var room = builder.Room("join", $"!room{r}:bench.local");
            room["timeline"] = new JsonObject { ["events"] = events, ["limited"] = true, ["prev_batch"] = Token };
            room["state"] = new JsonObject { ["events"] = new JsonArray() };
            room["unread_notifications"] = new JsonObject { ["highlight_count"] = 0, ["notification_count"] = 0 };
        }

        return Write(builder.Build(Token));
    }

    private int Write(JsonObject response)
    {
        _buffer.ResetWrittenCount();
        using var writer = new Utf8JsonWriter(_buffer);
        JsonSerializer.Serialize(writer, response, MatrixHttp.ResponseJson);
        return _buffer.WrittenCount;
    }
}
