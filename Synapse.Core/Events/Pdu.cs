using System.Text.Json;
using Synapse.RoomVersions;

namespace Synapse.Events;

/// <summary>
/// A persistent data unit (a room event) as the server-server API defines it: immutable, parsed once.
/// <see cref="Json"/> is the full event (hashes and signatures included, <c>unsigned</c> excluded) exactly as
/// hashed and signed; the typed properties are views of it.
/// </summary>
/// <remarks>Spec: Server-Server API, "PDUs"; Room Versions, "Event format".</remarks>
public sealed class Pdu
{
    private Pdu(JsonElement json, RoomVersion roomVersion, string eventId)
    {
        Json = json;
        RoomVersion = roomVersion;
        EventId = eventId;
        RoomId = RequiredString(json, "room_id");
        Sender = RequiredString(json, "sender");
        Type = RequiredString(json, "type");
        StateKey = json.TryGetProperty("state_key", out var sk) && sk.ValueKind == JsonValueKind.String ? sk.GetString() : null;
        Content = json.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.Object
            ? content
            : throw new FormatException("PDU 'content' must be an object.");
        Depth = json.TryGetProperty("depth", out var depth) && depth.TryGetInt64(out long d) ? d : 0;
        OriginServerTs = json.TryGetProperty("origin_server_ts", out var ts) && ts.TryGetInt64(out long t) ? t : 0;
        PrevEvents = ReadEventReferences(json, "prev_events", roomVersion);
        AuthEvents = ReadEventReferences(json, "auth_events", roomVersion);
        Redacts = roomVersion.V11Rules
            ? (Content.TryGetProperty("redacts", out var r11) && r11.ValueKind == JsonValueKind.String ? r11.GetString() : null)
            : (json.TryGetProperty("redacts", out var r) && r.ValueKind == JsonValueKind.String ? r.GetString() : null);
    }

    /// <summary>The event ID (for v3+ rooms computed from the reference hash; given for v1/v2).</summary>
    public string EventId { get; }

    /// <summary>The room version the event was created under.</summary>
    public RoomVersion RoomVersion { get; }

    /// <summary>The whole PDU, without <c>unsigned</c>.</summary>
    public JsonElement Json { get; }

    /// <summary><c>room_id</c>.</summary>
    public string RoomId { get; }

    /// <summary><c>sender</c>.</summary>
    public string Sender { get; }

    /// <summary><c>type</c>.</summary>
    public string Type { get; }

    /// <summary><c>state_key</c>, null for non-state events.</summary>
    public string? StateKey { get; }

    /// <summary>Whether this is a state event.</summary>
    public bool IsState => StateKey is not null;

    /// <summary><c>content</c>.</summary>
    public JsonElement Content { get; }

    /// <summary><c>depth</c>.</summary>
    public long Depth { get; }

    /// <summary><c>origin_server_ts</c>.</summary>
    public long OriginServerTs { get; }

    /// <summary>The IDs in <c>prev_events</c>.</summary>
    public IReadOnlyList<string> PrevEvents { get; }

    /// <summary>The IDs in <c>auth_events</c>.</summary>
    public IReadOnlyList<string> AuthEvents { get; }

    /// <summary>The event this one redacts (top-level <c>redacts</c>, or <c>content.redacts</c> in v11).</summary>
    public string? Redacts { get; }

    /// <summary>
    /// Wraps a PDU. The caller supplies the event ID: computed from the reference hash for v3+ rooms,
    /// read from the event for v1/v2. Throws <see cref="FormatException"/> when a required field is missing.
    /// </summary>
    public static Pdu Create(JsonElement json, RoomVersion roomVersion, string eventId)
    {
        ArgumentNullException.ThrowIfNull(roomVersion);
        ArgumentException.ThrowIfNullOrEmpty(eventId);
        if (json.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException("A PDU must be a JSON object.");
        }

        return new Pdu(json, roomVersion, eventId);
    }

    /// <summary>A string field of <see cref="Content"/>, or null when absent or not a string.</summary>
    public string? ContentString(string name) =>
        Content.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    /// <inheritdoc />
    public override string ToString() => $"{EventId} {Type}{(StateKey is null ? "" : $" [{StateKey}]")} by {Sender}";

    private static string RequiredString(JsonElement json, string name) =>
        json.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String
            ? value.GetString()!
            : throw new FormatException($"PDU '{name}' must be a string.");

    private static string[] ReadEventReferences(JsonElement json, string name, RoomVersion version)
    {
        if (!json.TryGetProperty(name, out var list) || list.ValueKind != JsonValueKind.Array)
        {
            return [];
        }

        var ids = new string[list.GetArrayLength()];
        int i = 0;
        foreach (var item in list.EnumerateArray())
        {
            // v1/v2: [event_id, {hashes}]; v3+: event_id.
            var id = version.HasEventIdInPdu && item.ValueKind == JsonValueKind.Array ? item[0] : item;
            ids[i++] = id.ValueKind == JsonValueKind.String
                ? id.GetString()!
                : throw new FormatException($"PDU '{name}' has an entry that is not an event ID.");
        }

        return ids;
    }
}

/// <summary>A (type, state_key) pair: the key of a room state map.</summary>
/// <param name="Type">The event type.</param>
/// <param name="StateKey">The state key.</param>
public readonly record struct TypeStateKey(string Type, string StateKey)
{
    /// <inheritdoc />
    public override string ToString() => $"({Type}, {StateKey})";
}
