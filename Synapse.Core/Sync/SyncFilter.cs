using System.Text.Json;
using Synapse.Rooms;

namespace Synapse.Sync;

/// <summary>
/// A sync filter (Spec: Client-Server API, "Filtering"): the top-level <c>account_data</c> and <c>presence</c>
/// parts, and <c>room</c> with <c>rooms</c>/<c>not_rooms</c>, <c>include_leave</c>, <c>timeline</c>, <c>state</c>,
/// <c>ephemeral</c> and <c>account_data</c>.
/// </summary>
internal sealed class SyncFilter
{
    /// <summary>The default: everything, timelines of 10 events.</summary>
    public static readonly SyncFilter Default = new();

    public RoomEventFilter AccountData { get; private init; } = RoomEventFilter.Empty;

    public RoomEventFilter Presence { get; private init; } = RoomEventFilter.Empty;

    public RoomEventFilter Rooms { get; private init; } = RoomEventFilter.Empty;

    public bool IncludeLeave { get; private init; }

    public RoomEventFilter Timeline { get; private init; } = RoomEventFilter.Empty;

    public RoomEventFilter State { get; private init; } = RoomEventFilter.Empty;

    public RoomEventFilter Ephemeral { get; private init; } = RoomEventFilter.Empty;

    public RoomEventFilter RoomAccountData { get; private init; } = RoomEventFilter.Empty;

    /// <summary>Events per room timeline.</summary>
    public int TimelineLimit => Timeline.Limit ?? 10;

    /// <summary>Parses a filter definition; <c>M_BAD_JSON</c> for a malformed one.</summary>
    public static SyncFilter FromJson(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw MatrixException.BadJson("A filter must be a JSON object");
        }

        var room = Part(root, "room");
        return new SyncFilter
        {
            AccountData = Filter(root, "account_data"),
            Presence = Filter(root, "presence"),
            Rooms = room is { } r ? RoomEventFilter.FromJson(r) : RoomEventFilter.Empty,
            IncludeLeave = room is { } r2 && r2.TryGetProperty("include_leave", out var leave) && leave.ValueKind == JsonValueKind.True,
            Timeline = room is { } r3 ? Filter(r3, "timeline") : RoomEventFilter.Empty,
            State = room is { } r4 ? Filter(r4, "state") : RoomEventFilter.Empty,
            Ephemeral = room is { } r5 ? Filter(r5, "ephemeral") : RoomEventFilter.Empty,
            RoomAccountData = room is { } r6 ? Filter(r6, "account_data") : RoomEventFilter.Empty,
        };
    }

    private static JsonElement? Part(JsonElement root, string name)
    {
        if (!root.TryGetProperty(name, out var part) || part.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return part.ValueKind == JsonValueKind.Object ? part : throw MatrixException.BadJson($"Filter '{name}' must be an object");
    }

    private static RoomEventFilter Filter(JsonElement root, string name) =>
        Part(root, name) is { } part ? RoomEventFilter.FromJson(part) : RoomEventFilter.Empty;
}
