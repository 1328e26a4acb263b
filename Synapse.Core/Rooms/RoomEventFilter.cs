using System.Text.Json;
using Synapse.Events;

namespace Synapse.Rooms;

/// <summary>
/// A RoomEventFilter (Spec: Client-Server API, "Filtering"): types, not_types, senders, not_senders,
/// contains_url, limit, lazy_load_members, include_redundant_members. <c>*</c> wildcards in types.
/// </summary>
internal sealed class RoomEventFilter
{
    public static readonly RoomEventFilter Empty = new();

    public IReadOnlyList<string>? Rooms { get; private init; }

    public IReadOnlyList<string> NotRooms { get; private init; } = [];

    public IReadOnlyList<string>? Types { get; private init; }

    public IReadOnlyList<string> NotTypes { get; private init; } = [];

    public IReadOnlyList<string>? Senders { get; private init; }

    public IReadOnlyList<string> NotSenders { get; private init; } = [];

    public bool? ContainsUrl { get; private init; }

    public int? Limit { get; private init; }

    public bool LazyLoadMembers { get; private init; }

    public bool IncludeRedundantMembers { get; private init; }

    /// <summary>Parses the filter JSON (the <c>filter</c> query parameter of /messages and /context).</summary>
    public static RoomEventFilter Parse(string? json)
    {
        if (string.IsNullOrEmpty(json))
        {
            return Empty;
        }

        JsonElement root;
        try
        {
            using var document = JsonDocument.Parse(json);
            root = document.RootElement.Clone();
        }
        catch (JsonException)
        {
            throw new MatrixException(System.Net.HttpStatusCode.BadRequest, ErrorCodes.NotJson, "'filter' is not valid JSON");
        }

        return FromJson(root);
    }

    public static RoomEventFilter FromJson(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw MatrixException.BadJson("A filter must be a JSON object");
        }

        int? limit = null;
        if (root.TryGetProperty("limit", out var l) && l.ValueKind != JsonValueKind.Null)
        {
            limit = l.ValueKind == JsonValueKind.Number && l.TryGetInt32(out int n) && n > 0
                ? n
                : throw MatrixException.BadJson("Filter 'limit' must be a positive integer");
        }

        return new RoomEventFilter
        {
            Rooms = Strings(root, "rooms"),
            NotRooms = Strings(root, "not_rooms") ?? [],
            Types = Strings(root, "types"),
            NotTypes = Strings(root, "not_types") ?? [],
            Senders = Strings(root, "senders"),
            NotSenders = Strings(root, "not_senders") ?? [],
            ContainsUrl = Bool(root, "contains_url"),
            Limit = limit,
            LazyLoadMembers = Bool(root, "lazy_load_members") ?? false,
            IncludeRedundantMembers = Bool(root, "include_redundant_members") ?? false,
        };
    }

    /// <summary>Whether events of this room pass the <c>rooms</c> / <c>not_rooms</c> parts.</summary>
    public bool MatchesRoom(string roomId) => !NotRooms.Contains(roomId) && (Rooms is null || Rooms.Contains(roomId));

    /// <summary>The type/sender parts for an event given as (type, sender), e.g. ephemeral or account data.</summary>
    public bool Matches(string type, string? sender) =>
        !NotTypes.Any(t => TypeMatches(t, type)) && (Types is null || Types.Any(t => TypeMatches(t, type)))
        && (sender is null || (!NotSenders.Contains(sender) && (Senders is null || Senders.Contains(sender))));

    public bool Matches(Pdu pdu)
    {
        if (NotTypes.Any(t => TypeMatches(t, pdu.Type)) || (Types is not null && !Types.Any(t => TypeMatches(t, pdu.Type))))
        {
            return false;
        }

        if (NotSenders.Contains(pdu.Sender) || (Senders is not null && !Senders.Contains(pdu.Sender)))
        {
            return false;
        }

        if (ContainsUrl is { } wantUrl)
        {
            bool hasUrl = pdu.Content.TryGetProperty("url", out var url) && url.ValueKind == JsonValueKind.String;
            return hasUrl == wantUrl;
        }

        return true;
    }

    private static bool TypeMatches(string pattern, string type) =>
        pattern.EndsWith('*') ? type.StartsWith(pattern[..^1], StringComparison.Ordinal) : pattern == type;

    private static string[]? Strings(JsonElement root, string name)
    {
        if (!root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Array || value.EnumerateArray().Any(v => v.ValueKind != JsonValueKind.String))
        {
            throw MatrixException.BadJson($"Filter '{name}' must be an array of strings");
        }

        return value.EnumerateArray().Select(v => v.GetString()!).ToArray();
    }

    private static bool? Bool(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind is JsonValueKind.True or JsonValueKind.False
            ? value.GetBoolean()
            : null;
}
