using System.Text.Json.Nodes;
using Synapse.Accounts;
using Synapse.Storage;
using Synapse.Streams;

namespace Synapse.Sync;

/// <summary>
/// Adds one kind of data to a /sync response (typing, receipts, presence, account data, to-device, device
/// lists...). The sync service calls every registered contributor for each response it builds; a contributor
/// reads its stream between <see cref="SyncContext.Since"/> and <see cref="SyncContext.Now"/>.
/// </summary>
internal interface ISyncContributor
{
    Task ContributeAsync(SyncContext context, SyncResponseBuilder response, CancellationToken cancellationToken);
}

/// <summary>
/// Told about every /sync request before it is answered (presence uses it: a syncing user is online, and
/// <c>set_presence</c> sets their state).
/// </summary>
internal interface ISyncActivityListener
{
    Task OnSyncAsync(Requester requester, string? setPresence, CancellationToken cancellationToken);

    /// <summary>The same /sync is answered or failed: a user counts as syncing from the start of a long poll to its end.</summary>
    Task OnSyncEndedAsync(Requester requester, string? setPresence, CancellationToken cancellationToken);
}

/// <summary>What a response is being built for.</summary>
internal sealed class SyncContext
{
    public required Requester Requester { get; init; }

    /// <summary>The client's token; null for an initial sync.</summary>
    public required SyncToken? Since { get; init; }

    /// <summary>The positions this response goes up to (it becomes <c>next_batch</c>).</summary>
    public required SyncToken Now { get; init; }

    /// <summary><c>full_state=true</c>: state (and ephemeral snapshots) as for an initial sync.</summary>
    public required bool FullState { get; init; }

    public required SyncFilter Filter { get; init; }

    /// <summary>The rooms the user is joined to now (and that pass the filter).</summary>
    public required IReadOnlyList<string> JoinedRoomIds { get; init; }

    /// <summary>
    /// The user's current membership of every room as of <see cref="Now"/>, whatever the filter; null when the builder did
    /// not look them up (contributors then read what they need from the store).
    /// </summary>
    public IReadOnlyList<UserMembership>? Memberships { get; init; }

    /// <summary>
    /// The user's membership events in (<see cref="Since"/>, <see cref="Now"/>] of the events stream, in order (empty for an
    /// initial sync); null when the builder did not look them up.
    /// </summary>
    public IReadOnlyList<UserMembership>? MembershipChanges { get; init; }

    /// <summary>False when the response has no to-device section (legacy /events): to-device must not be acknowledged.</summary>
    public bool DeliverToDevice { get; init; } = true;

    /// <summary>True for an initial sync (no <see cref="Since"/>).</summary>
    public bool IsInitial => Since is null;

    /// <summary>The position of <paramref name="stream"/> to read from: 0 for an initial sync.</summary>
    public long From(string stream) => Since?[stream] ?? 0;
}

/// <summary>Builds the /sync response JSON; contributors add to the sections they own.</summary>
internal sealed class SyncResponseBuilder
{
    private readonly JsonObject _rooms = new() { ["join"] = new JsonObject(), ["invite"] = new JsonObject(), ["leave"] = new JsonObject(), ["knock"] = new JsonObject() };
    private readonly JsonArray _accountData = [];
    private readonly JsonArray _presence = [];
    private readonly JsonArray _toDevice = [];
    private readonly SortedSet<string> _changed = new(StringComparer.Ordinal);
    private readonly SortedSet<string> _left = new(StringComparer.Ordinal);
    private JsonObject _oneTimeKeyCounts = [];
    private JsonArray _fallbackKeyTypes = [];

    /// <summary>True once anything a client must see was added.</summary>
    public bool HasUpdates { get; private set; }

    /// <summary>The entry of a room in a section (<c>join</c>, <c>invite</c>, <c>leave</c>, <c>knock</c>), created on first use.</summary>
    public JsonObject Room(string section, string roomId)
    {
        var rooms = (JsonObject)_rooms[section]!;
        if (rooms[roomId] is JsonObject existing)
        {
            return existing;
        }

        HasUpdates = true;
        var room = new JsonObject();
        rooms[roomId] = room;
        return room;
    }

    /// <summary>Whether the room already has an entry in a section.</summary>
    public bool HasRoom(string section, string roomId) => ((JsonObject)_rooms[section]!).ContainsKey(roomId);

    /// <summary>Adds an ephemeral event (m.typing, m.receipt) to a joined room.</summary>
    public void AddEphemeral(string roomId, JsonObject ephemeralEvent) => Events(Room("join", roomId), "ephemeral").Add(ephemeralEvent);

    /// <summary>Adds a per-room account data event (tags, m.fully_read...) to a joined room.</summary>
    public void AddRoomAccountData(string roomId, JsonObject accountDataEvent) =>
        Events(Room("join", roomId), "account_data").Add(accountDataEvent);

    public void AddAccountData(JsonObject accountDataEvent) => Add(_accountData, accountDataEvent);

    public void AddPresence(JsonObject presenceEvent) => Add(_presence, presenceEvent);

    public void AddToDevice(JsonObject toDeviceEvent) => Add(_toDevice, toDeviceEvent);

    public void DeviceListChanged(string userId)
    {
        HasUpdates |= _changed.Add(userId);
        _left.Remove(userId);
    }

    public void DeviceListLeft(string userId)
    {
        if (!_changed.Contains(userId))
        {
            HasUpdates |= _left.Add(userId);
        }
    }

    /// <summary>
    /// Positions to put in <c>next_batch</c> below <see cref="SyncContext.Now"/>: a contributor that delivered only part
    /// of its stream (to-device messages are paged) caps its position so the rest comes in the next response.
    /// </summary>
    public Dictionary<string, long> PositionCaps { get; } = new(StringComparer.Ordinal);

    /// <summary>Delivers <paramref name="stream"/> only up to <paramref name="position"/> in this response.</summary>
    public void CapPosition(string stream, long position) =>
        PositionCaps[stream] = PositionCaps.TryGetValue(stream, out long existing) ? Math.Min(existing, position) : position;

    /// <summary>Counts of unclaimed one-time keys per algorithm for the requesting device (always sent).</summary>
    public void SetOneTimeKeyCounts(JsonObject counts) => _oneTimeKeyCounts = counts;

    /// <summary>Unused fallback key algorithms for the requesting device (always sent).</summary>
    public void SetUnusedFallbackKeyTypes(JsonArray types) => _fallbackKeyTypes = types;

    public JsonObject Build(string nextBatch) => new()
    {
        ["next_batch"] = nextBatch,
        ["rooms"] = _rooms,
        ["account_data"] = new JsonObject { ["events"] = _accountData },
        ["presence"] = new JsonObject { ["events"] = _presence },
        ["to_device"] = new JsonObject { ["events"] = _toDevice },
        ["device_lists"] = new JsonObject
        {
            ["changed"] = new JsonArray([.. _changed.Select(u => (JsonNode)JsonValue.Create(u)!)]),
            ["left"] = new JsonArray([.. _left.Select(u => (JsonNode)JsonValue.Create(u)!)]),
        },
        ["device_one_time_keys_count"] = _oneTimeKeyCounts,
        ["device_unused_fallback_key_types"] = _fallbackKeyTypes,
    };

    private void Add(JsonArray list, JsonObject item)
    {
        HasUpdates = true;
        list.Add(item);
    }

    private JsonArray Events(JsonObject room, string part)
    {
        HasUpdates = true;
        if (room[part] is JsonObject section && section["events"] is JsonArray events)
        {
            return events;
        }

        var created = new JsonArray();
        room[part] = new JsonObject { ["events"] = created };
        return created;
    }
}
