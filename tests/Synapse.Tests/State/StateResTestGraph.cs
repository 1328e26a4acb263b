using System.Text.Json;
using System.Text.Json.Nodes;
using Synapse.Auth;
using Synapse.Events;
using Synapse.RoomVersions;
using Synapse.State;

namespace Synapse.Tests.State;

/// <summary>
/// A room's event DAG in memory for the state resolution tests. Events have short names ("PA", "MB"); their IDs
/// are "$PA" (or "$PA:a.test" where v1/v2 IDs carry a server). <see cref="Add"/> builds an event on top of the
/// state after another event, choosing its auth events from that state by the auth events selection, so the
/// events carry realistic auth chains; <see cref="AddWithAuthEvents"/> gives them explicitly. Nothing is hashed or
/// signed: state resolution and the auth rules only read fields. Timestamps grow by one per event unless given.
/// </summary>
internal sealed class StateResTestGraph(RoomVersion version)
{
    public const string Alice = "@alice:a.test";
    public const string Bob = "@bob:b.test";
    public const string Carol = "@carol:c.test";
    public const string Zara = "@zara:z.test";
    public const string RoomId = "!room:a.test";

    public static readonly TypeStateKey CreateKey = new("m.room.create", "");
    public static readonly TypeStateKey PowerLevelsKey = new("m.room.power_levels", "");
    public static readonly TypeStateKey JoinRulesKey = new("m.room.join_rules", "");
    public static readonly TypeStateKey TopicKey = new("m.room.topic", "");

    private readonly Dictionary<string, Pdu> _events = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Dictionary<TypeStateKey, string>> _stateAfter = new(StringComparer.Ordinal);
    private long _clock = 1_000;

    public RoomVersion Version { get; } = version;

    public TestEventSource Source { get; } = new();

    public static TypeStateKey MemberKey(string user) => new("m.room.member", user);

    /// <summary>
    /// The usual start: CREATE (Alice), IMA (Alice joins), IPOWER (Alice, <paramref name="powerLevels"/>; default Alice 100),
    /// IJR (public), IMB (Bob joins), IMC (Carol joins), one after the other.
    /// </summary>
    public static StateResTestGraph Standard(RoomVersion version, string? powerLevels = null)
    {
        var g = new StateResTestGraph(version);
        g.Add("CREATE", "m.room.create", "", Alice, $$"""{"creator": "{{Alice}}", "room_version": "{{version.Identifier}}"}""", after: null);
        g.Member("IMA", Alice, "join", Alice, after: "CREATE");
        g.Add("IPOWER", "m.room.power_levels", "", Alice, powerLevels ?? Users((Alice, 100)), after: "IMA");
        g.JoinRules("IJR", "public", after: "IPOWER");
        g.Member("IMB", Bob, "join", Bob, after: "IJR");
        g.Member("IMC", Carol, "join", Carol, after: "IMB");
        return g;
    }

    /// <summary>A power levels content with these <c>users</c>.</summary>
    public static string Users(params (string User, int Level)[] users) =>
        new JsonObject { ["users"] = new JsonObject(users.Select(u => KeyValuePair.Create(u.User, (JsonNode?)u.Level))) }.ToJsonString();

    public string Id(string name) => _events[name].EventId;

    public Pdu Event(string name) => _events[name];

    public IReadOnlyDictionary<TypeStateKey, string> StateAfter(string name) => _stateAfter[name];

    /// <summary>The state after <paramref name="name"/> with the named state events put on top (a merged state).</summary>
    public IReadOnlyDictionary<TypeStateKey, string> StateAfter(string name, params string[] overlay)
    {
        var state = new Dictionary<TypeStateKey, string>(_stateAfter[name]);
        foreach (string other in overlay)
        {
            var ev = _events[other];
            state[new TypeStateKey(ev.Type, ev.StateKey!)] = ev.EventId;
        }

        return state;
    }

    public StateResTestGraph Member(string name, string target, string membership, string sender, string after, long? ts = null) =>
        Add(name, "m.room.member", target, sender, $$"""{"membership": "{{membership}}"}""", after, ts);

    public StateResTestGraph PowerLevels(string name, string sender, string content, string after, long? ts = null) =>
        Add(name, "m.room.power_levels", "", sender, content, after, ts);

    public StateResTestGraph JoinRules(string name, string rule, string after, long? ts = null) =>
        Add(name, "m.room.join_rules", "", Alice, $$"""{"join_rule": "{{rule}}"}""", after, ts);

    public StateResTestGraph Topic(string name, string sender, string after, long? ts = null) =>
        Add(name, "m.room.topic", "", sender, $$"""{"topic": "{{name}}"}""", after, ts);

    /// <summary>
    /// Adds an event whose only prev event is <paramref name="after"/> (null: none) and whose auth events are the
    /// events the auth events selection names in the state after <paramref name="after"/>.
    /// </summary>
    public StateResTestGraph Add(string name, string type, string? stateKey, string sender, string content, string? after, long? ts = null)
    {
        var before = after is null ? new Dictionary<TypeStateKey, string>() : _stateAfter[after];
        using var parsed = JsonDocument.Parse(content);
        var authEvents = AuthEventSelection.Required(type, stateKey, sender, parsed.RootElement, Version)
            .Where(before.ContainsKey)
            .Select(key => before[key])
            .ToList();
        var ev = Build(name, type, stateKey, sender, content, after is null ? [] : [Id(after)], authEvents, ts);

        var state = new Dictionary<TypeStateKey, string>(before);
        if (stateKey is not null)
        {
            state[new TypeStateKey(type, stateKey)] = ev.EventId;
        }

        _stateAfter[name] = state;
        return this;
    }

    /// <summary>Adds an event with the named auth events (and no prev events), for the ordering tests.</summary>
    public StateResTestGraph AddWithAuthEvents(string name, string type, string? stateKey, string sender, string content, string[] authEvents, long? ts = null)
    {
        Build(name, type, stateKey, sender, content, [], authEvents.Select(Id).ToList(), ts);
        return this;
    }

    /// <summary>Resolves the states after the named events.</summary>
    public Task<IReadOnlyDictionary<TypeStateKey, string>> ResolveAsync(params string[] heads) =>
        ResolveAsync(heads.Select(StateAfter).ToArray());

    public Task<IReadOnlyDictionary<TypeStateKey, string>> ResolveAsync(params IReadOnlyDictionary<TypeStateKey, string>[] states) =>
        StateResolverV2.ResolveAsync(Version, states, Source, CancellationToken.None);

    /// <summary>The name of the event at <paramref name="key"/> in <paramref name="state"/>, or null.</summary>
    public string? NameAt(IReadOnlyDictionary<TypeStateKey, string> state, TypeStateKey key) =>
        state.TryGetValue(key, out string? id) ? _events.Single(e => e.Value.EventId == id).Key : null;

    private Pdu Build(string name, string type, string? stateKey, string sender, string content, string[] prevEvents, List<string> authEvents, long? ts)
    {
        string eventId = Version.HasEventIdInPdu ? $"${name}:a.test" : $"${name}";
        var json = new JsonObject
        {
            ["room_id"] = RoomId,
            ["sender"] = sender,
            ["type"] = type,
            ["content"] = JsonNode.Parse(content),
            ["prev_events"] = References(prevEvents),
            ["auth_events"] = References(authEvents),
            ["depth"] = prevEvents.Length == 0 ? 1 : _events.Values.Single(e => e.EventId == prevEvents[0]).Depth + 1,
            ["origin_server_ts"] = ts ?? ++_clock,
        };
        if (stateKey is not null)
        {
            json["state_key"] = stateKey;
        }

        if (Version.HasEventIdInPdu)
        {
            json["event_id"] = eventId;
        }

        var ev = Pdu.Create(JsonSerializer.SerializeToElement(json), Version, eventId);
        _events.Add(name, ev);
        Source.Events.Add(eventId, ev);
        return ev;
    }

    private JsonArray References(IEnumerable<string> ids)
    {
        var references = new JsonArray();
        foreach (string id in ids)
        {
            references.Add(Version.HasEventIdInPdu ? new JsonArray(id, new JsonObject { ["sha256"] = "aGFzaA" }) : JsonValue.Create(id));
        }

        return references;
    }
}

/// <summary>An in-memory <see cref="IEventSource"/> that counts its calls and can hide or reject events.</summary>
internal sealed class TestEventSource : IEventSource
{
    public Dictionary<string, Pdu> Events { get; } = new(StringComparer.Ordinal);

    public HashSet<string> Missing { get; } = new(StringComparer.Ordinal);

    public HashSet<string> Rejected { get; } = new(StringComparer.Ordinal);

    public int Calls { get; private set; }

    public Task<IReadOnlyDictionary<string, Pdu>> GetEventsAsync(IReadOnlyCollection<string> eventIds, CancellationToken cancellationToken)
    {
        Calls++;
        IReadOnlyDictionary<string, Pdu> found = eventIds
            .Where(id => !Missing.Contains(id) && Events.ContainsKey(id))
            .Distinct(StringComparer.Ordinal)
            .ToDictionary(id => id, id => Events[id], StringComparer.Ordinal);
        return Task.FromResult(found);
    }

    public Task<IReadOnlySet<string>> GetRejectedAsync(IReadOnlyCollection<string> eventIds, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlySet<string>>(eventIds.Where(Rejected.Contains).ToHashSet(StringComparer.Ordinal));
}
