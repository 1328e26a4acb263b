using System.Text.Json;
using System.Text.Json.Nodes;
using BenchmarkDotNet.Attributes;
using Synapse.Auth;
using Synapse.Crypto;
using Synapse.Events;
using Synapse.Identifiers;
using Synapse.Json;
using Synapse.RoomVersions;

namespace Synapse.Benchmarks;

/// <summary>The per-event hot paths of sending: canonical JSON, hashing + signing, verification, auth.</summary>
[MemoryDiagnoser]
public class EventBenchmarks
{
    private const string Room = "!bench:bench.local";
    private static readonly ServerName Server = ServerName.Parse("bench.local");

    private SigningKey _key = null!;
    private JsonObject _draft = null!;
    private Pdu _message = null!;
    private Dictionary<TypeStateKey, Pdu> _state = null!;

    [GlobalSetup]
    public void Setup()
    {
        _key = SigningKey.FromSeed("bench", new byte[32]);
        var version = KnownRoomVersions.V10;
        _state = [];
        Pdu Add(string type, string stateKey, string sender, JsonObject content, int depth)
        {
            var pdu = EventHashing.CreateSignedPdu(new JsonObject
            {
                ["room_id"] = Room, ["sender"] = sender, ["type"] = type, ["state_key"] = stateKey, ["content"] = content,
                ["depth"] = depth, ["origin_server_ts"] = 1_700_000_000_000 + depth, ["prev_events"] = new JsonArray(),
                ["auth_events"] = new JsonArray(),
            }, version, Server, _key);
            _state[new TypeStateKey(type, stateKey)] = pdu;
            return pdu;
        }

        const string creator = "@creator:bench.local";
        Add("m.room.create", "", creator, new JsonObject { ["room_version"] = "10", ["creator"] = creator }, 1);
        Add("m.room.member", creator, creator, new JsonObject { ["membership"] = "join" }, 2);
        Add("m.room.power_levels", "", creator, new JsonObject { ["users"] = new JsonObject { [creator] = 100 } }, 3);
        Add("m.room.join_rules", "", creator, new JsonObject { ["join_rule"] = "public" }, 4);
        for (int i = 0; i < 1000; i++)
        {
            string user = $"@user{i}:bench.local";
            Add("m.room.member", user, user, new JsonObject { ["membership"] = "join", ["displayname"] = $"User {i}" }, 5 + i);
        }

        _draft = new JsonObject
        {
            ["room_id"] = Room,
            ["sender"] = "@user500:bench.local",
            ["type"] = "m.room.message",
            ["content"] = new JsonObject
            {
                ["msgtype"] = "m.text",
                ["body"] = "A typical message of a sentence or two, with some punctuation: hello, world!",
                ["format"] = "org.matrix.custom.html",
                ["formatted_body"] = "A typical message of a sentence or two, with <b>some</b> punctuation: hello, world!",
            },
            ["depth"] = 1006,
            ["origin_server_ts"] = 1_700_000_001_000,
            ["prev_events"] = new JsonArray("$Q2bVNxW0Ea5G0AY1Q8kYxEnMq7T7Jw9M4Zu3ZcI1x0c"),
            ["auth_events"] = new JsonArray("$a", "$b", "$c"),
        };
        _message = EventHashing.CreateSignedPdu(_draft, version, Server, _key);
    }

    [GlobalCleanup]
    public void Cleanup() => _key.Dispose();

    [Benchmark(Description = "canonical JSON of a message event")]
    public byte[] CanonicalEncode() => CanonicalJson.Encode(_message.Json);

    [Benchmark(Description = "hash + sign + event ID (new event)")]
    public Pdu HashAndSign() => EventHashing.CreateSignedPdu(_draft, KnownRoomVersions.V10, Server, _key);

    [Benchmark(Description = "verify signature of an event")]
    public bool Verify() =>
        EventHashing.VerifySignature(_message.Json, KnownRoomVersions.V10, Server, _key.KeyId, _key.PublicKeyBytes);

    [Benchmark(Description = "auth check, message in a 1,000-member room")]
    public AuthResult AuthCheck() => EventAuthorizer.Check(_message, _state);
}
