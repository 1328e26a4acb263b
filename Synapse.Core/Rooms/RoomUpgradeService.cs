using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Synapse.Accounts;
using Synapse.Auth;
using Synapse.Configuration;
using Synapse.Events;
using Synapse.Identifiers;
using Synapse.Json;
using Synapse.RoomVersions;
using Synapse.Storage;

namespace Synapse.Rooms;

/// <summary>POST /rooms/{roomId}/upgrade: replaces a room by a new room of another version.</summary>
/// <remarks>Spec: Client-Server API, "Room Upgrades", "Server behaviour".</remarks>
internal sealed partial class RoomUpgradeService
{
    /// <summary>
    /// State copied into the replacement room (with state key ""): the spec's recommended list, plus
    /// <c>m.room.canonical_alias</c>, which follows the local aliases to the new room. Power levels are handled
    /// apart. Events outside the Matrix namespace are not copied: clients may rely on who sent them.
    /// </summary>
    private static readonly string[] CopiedState =
    [
        "m.room.join_rules", "m.room.history_visibility", "m.room.guest_access", "m.room.name", "m.room.topic",
        "m.room.avatar", "m.room.encryption", "m.room.server_acl", "m.room.canonical_alias",
    ];

    private const string TombstoneBody = "This room has been replaced";

    private readonly HomeserverOptions _options;
    private readonly IRoomEventWriter _writer;
    private readonly IEventStore _events;
    private readonly IRoomDirectoryStore _directory;
    private readonly RoomService _rooms;
    private readonly ILogger<RoomUpgradeService> _logger;

    // Upgrades of one room run one at a time, so two concurrent requests (a double click) do not interleave
    // their alias moves. Striped rather than one lock per room, so nothing grows with the number of rooms.
    private readonly SemaphoreSlim[] _locks = [.. Enumerable.Range(0, 16).Select(_ => new SemaphoreSlim(1, 1))];

    public RoomUpgradeService(HomeserverOptions options, IRoomEventWriter writer, IEventStore events, IRoomDirectoryStore directory,
        RoomService rooms, ILogger<RoomUpgradeService> logger)
    {
        _options = options;
        _writer = writer;
        _events = events;
        _directory = directory;
        _rooms = rooms;
        _logger = logger;
    }

    /// <summary>
    /// Upgrades <paramref name="roomId"/> to <paramref name="newVersion"/> and returns the replacement room's ID.
    /// 400 <c>M_UNSUPPORTED_ROOM_VERSION</c> for an unknown version, 404 for an unknown room, 403 unless the
    /// requester is joined and may send <c>m.room.tombstone</c>.
    /// </summary>
    public async Task<string> UpgradeAsync(Requester requester, string roomId, string newVersion, CancellationToken cancellationToken)
    {
        RoomService.ValidateRoomId(roomId);
        var version = KnownRoomVersions.Find(newVersion)
            ?? throw new MatrixException(HttpStatusCode.BadRequest, "M_UNSUPPORTED_ROOM_VERSION",
                $"Room version {newVersion} is not supported by this server");
        var gate = _locks[(StringComparer.Ordinal.GetHashCode(roomId) & int.MaxValue) % _locks.Length];
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var room = await _events.GetRoomAsync(roomId, cancellationToken).ConfigureAwait(false)
                ?? throw MatrixException.NotFound("Unknown room");
            var oldVersion = KnownRoomVersions.Find(room.RoomVersion)
                ?? throw new InvalidOperationException($"Room {roomId} has unknown version {room.RoomVersion}.");
            var state = await LoadStateAsync(roomId, oldVersion, cancellationToken).ConfigureAwait(false);
            string user = requester.UserId.Value;
            var power = PowerLevels.FromState(state.ToDictionary(kv => kv.Key, kv => kv.Value.Pdu), oldVersion);
            if (!state.TryGetValue(new TypeStateKey("m.room.member", user), out var member) || member.Membership != "join")
            {
                throw MatrixException.Forbidden("You are not joined to this room");
            }

            if (power.UserLevel(user) < power.EventLevel("m.room.tombstone", isState: true))
            {
                throw MatrixException.Forbidden("You do not have the power to upgrade this room");
            }

            string newRoomId = RoomService.NewRoomId(_options.ServerName);
            var drafts = await BuildReplacementAsync(requester.UserId, roomId, newRoomId, version, oldVersion, room.IsPublic, state,
                cancellationToken).ConfigureAwait(false);
            await _writer.WriteAsync(drafts, cancellationToken).ConfigureAwait(false);

            // From here on the replacement exists: the tombstone must follow, whatever the client does meanwhile.
            cancellationToken = CancellationToken.None;
            await _writer.WriteAsync(
                [new EventDraft(roomId, "m.room.tombstone", "", user,
                    new JsonObject { ["body"] = TombstoneBody, ["replacement_room"] = newRoomId })],
                cancellationToken).ConfigureAwait(false);

            await MoveAliasesAsync(requester.UserId, roomId, newRoomId, state, cancellationToken).ConfigureAwait(false);
            if (room.IsPublic)
            {
                await _directory.SetRoomPublicAsync(roomId, false, cancellationToken).ConfigureAwait(false);
            }

            await RestrictOldRoomAsync(requester.UserId, roomId, state, oldVersion, cancellationToken).ConfigureAwait(false);
            return newRoomId;
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>
    /// The replacement room as one atomic write: create (with <c>predecessor</c>), the upgrader's join, power
    /// levels, the copied state and the bans. When the upgrader's level in the copied power levels is too low to
    /// send the copied state, a first power levels event raises it and a last one restores the copied levels.
    /// </summary>
    private async Task<List<EventDraft>> BuildReplacementAsync(UserId upgrader, string oldRoomId, string newRoomId,
        RoomVersion version, RoomVersion oldVersion, bool isPublic, IReadOnlyDictionary<TypeStateKey, StateEntry> state,
        CancellationToken cancellationToken)
    {
        string user = upgrader.Value;
        var oldCreate = state[new TypeStateKey("m.room.create", "")].Content;
        var predecessor = new JsonObject { ["room_id"] = oldRoomId };

        // Spec: m.room.create, predecessor.event_id: "the last known event in the old room" (deprecated in v1.16,
        // still to be set where practical). The tombstone cannot be it: its content needs the new room's ID, and
        // the new room is created first so that a failure never leaves a tombstone pointing nowhere.
        var last = await _events.GetRoomEventsAsync(oldRoomId, TopologicalPosition.End, backwards: true, null, 1, cancellationToken)
            .ConfigureAwait(false);
        if (last.Count > 0)
        {
            predecessor["event_id"] = last[0].Pdu.EventId;
        }

        var create = new JsonObject { ["room_version"] = version.Identifier, ["predecessor"] = predecessor };
        if (!version.V11Rules)
        {
            create["creator"] = user;
        }

        // Spec (changed in v1.4): the room type is copied. A room that does not federate stays so.
        foreach (string key in (string[])["type", "m.federate"])
        {
            if (oldCreate.TryGetProperty(key, out var value))
            {
                create[key] = JsonNode.Parse(value.GetRawText());
            }
        }

        var drafts = new List<EventDraft>
        {
            new(newRoomId, "m.room.create", "", user, create) { NewRoomVersion = version, NewRoomIsPublic = isPublic },
            new(newRoomId, "m.room.member", user, user, await _rooms.MemberContentAsync("join", upgrader, null, cancellationToken).ConfigureAwait(false)),
        };

        var copied = new List<EventDraft>();
        foreach (string type in CopiedState)
        {
            if (state.TryGetValue(new TypeStateKey(type, ""), out var e) && !e.IsEmpty)
            {
                copied.Add(new EventDraft(newRoomId, type, "", user, RoomService.ToObject(e.Content)));
            }
        }

        // A space keeps its children (MSC1772); an empty m.space.child content means the child was removed.
        foreach (var (key, e) in state.Where(kv => kv.Key.Type == "m.space.child").OrderBy(kv => kv.Key.StateKey, StringComparer.Ordinal))
        {
            if (!e.IsEmpty)
            {
                copied.Add(new EventDraft(newRoomId, key.Type, key.StateKey, user, RoomService.ToObject(e.Content)));
            }
        }

        if (!state.TryGetValue(new TypeStateKey("m.room.power_levels", ""), out var oldLevels))
        {
            // Without a power levels event the creator (here, the upgrader) holds 100 and may send everything.
            drafts.AddRange(copied);
            return drafts;
        }

        var levelsContent = NormalisePowerLevels(oldLevels.Content, oldVersion);
        var levels = PowerLevels.FromContent(JsonSerializer.SerializeToElement(levelsContent), version);
        long needed = copied.Select(d => levels.EventLevel(d.Type, isState: true))
            .Append(levels.EventLevel("m.room.power_levels", isState: true))
            .Max();

        // Bans carry over, so that an upgrade is no way back in for banned users. The upgrader sends them, so no
        // one is impersonated; a ban the auth rules would refuse (a target at or above the upgrader) is left out.
        var banned = state.Where(kv => kv.Key.Type == "m.room.member" && kv.Value.Membership == "ban")
            .OrderBy(kv => kv.Key.StateKey, StringComparer.Ordinal)
            .ToList();
        if (banned.Count > 0)
        {
            needed = Math.Max(needed, levels.Ban);
        }

        long own = levels.UserLevel(user);
        long effective = Math.Max(own, needed);
        foreach (var (key, e) in banned)
        {
            if (key.StateKey != user && levels.UserLevel(key.StateKey) < effective)
            {
                var ban = new JsonObject { ["membership"] = "ban" };
                if (e.Content.OptionalString("reason") is { } reason)
                {
                    ban["reason"] = reason;
                }

                copied.Add(new EventDraft(newRoomId, "m.room.member", key.StateKey, user, ban));
            }
        }

        if (own >= needed)
        {
            drafts.Add(new EventDraft(newRoomId, "m.room.power_levels", "", user, levelsContent));
            drafts.AddRange(copied);
        }
        else
        {
            var raised = (JsonObject)levelsContent.DeepClone();
            if (raised["users"] is not JsonObject users)
            {
                raised["users"] = users = [];
            }

            users[user] = needed;
            drafts.Add(new EventDraft(newRoomId, "m.room.power_levels", "", user, raised));
            drafts.AddRange(copied);
            drafts.Add(new EventDraft(newRoomId, "m.room.power_levels", "", user, levelsContent));
        }

        return drafts;
    }

    /// <summary>
    /// Points the old room's local aliases at the new room (keeping their creators, who may still delete them)
    /// and removes the old room's canonical alias, which the new room now carries.
    /// </summary>
    private async Task MoveAliasesAsync(UserId upgrader, string oldRoomId, string newRoomId,
        IReadOnlyDictionary<TypeStateKey, StateEntry> state, CancellationToken cancellationToken)
    {
        foreach (string alias in await _directory.GetAliasesForRoomAsync(oldRoomId, cancellationToken).ConfigureAwait(false))
        {
            var existing = await _directory.GetAliasAsync(alias, cancellationToken).ConfigureAwait(false);
            if (existing is not { } entry || entry.RoomId != oldRoomId)
            {
                continue;
            }

            await _directory.DeleteAliasAsync(alias, cancellationToken).ConfigureAwait(false);
            if (!await _directory.CreateAliasAsync(alias, newRoomId, entry.Creator, cancellationToken).ConfigureAwait(false))
            {
                Log.AliasTaken(_logger, alias, newRoomId);
            }
        }

        if (state.TryGetValue(new TypeStateKey("m.room.canonical_alias", ""), out var canonical) && !canonical.IsEmpty)
        {
            await TryWriteAsync(new EventDraft(oldRoomId, "m.room.canonical_alias", "", upgrader.Value, []), cancellationToken)
                .ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Spec: "the power levels in the old room should also be modified to prevent sending of events and
    /// inviting new users": <c>events_default</c> and <c>invite</c> raised to the greater of 50 and
    /// <c>users_default</c> + 1 (never lowered). Best effort: the upgrader may lack the power to change them.
    /// </summary>
    private async Task RestrictOldRoomAsync(UserId upgrader, string roomId, IReadOnlyDictionary<TypeStateKey, StateEntry> state,
        RoomVersion version, CancellationToken cancellationToken)
    {
        // A room without a power levels event is left as it is: writing one would change every other level too.
        if (!state.TryGetValue(new TypeStateKey("m.room.power_levels", ""), out var current))
        {
            return;
        }

        var levels = PowerLevels.FromContent(current.Content, version);
        long restricted = Math.Max(50, levels.UsersDefault + 1);
        var content = RoomService.ToObject(current.Content);
        bool changed = false;
        foreach (var (key, level) in (ReadOnlySpan<(string, long)>)[("events_default", levels.EventsDefault), ("invite", levels.Invite)])
        {
            if (level < restricted)
            {
                content[key] = restricted;
                changed = true;
            }
        }

        if (changed)
        {
            await TryWriteAsync(new EventDraft(roomId, "m.room.power_levels", "", upgrader.Value, content), cancellationToken)
                .ConfigureAwait(false);
        }
    }

    private async Task TryWriteAsync(EventDraft draft, CancellationToken cancellationToken)
    {
        try
        {
            await _writer.WriteAsync([draft], cancellationToken).ConfigureAwait(false);
        }
        catch (MatrixException e)
        {
            Log.OldRoomUpdateFailed(_logger, draft.Type, draft.RoomId, e.Message);
        }
    }

    /// <summary>
    /// The copied power levels, rewritten so that they pass the new version's rules: levels that older versions
    /// accept as strings or floats become integers (within the canonical JSON range), values that do not parse
    /// and <c>users</c> keys that are no user IDs are dropped (they counted as absent in the old room too).
    /// </summary>
    internal static JsonObject NormalisePowerLevels(JsonElement content, RoomVersion from)
    {
        var result = RoomService.ToObject(content);
        foreach (string key in PowerLevels.LevelKeys)
        {
            if (content.TryGetProperty(key, out var value))
            {
                result.Remove(key);
                if (PowerLevels.TryParseLevel(value, from, out long level))
                {
                    result[key] = Clamp(level);
                }
            }
        }

        foreach (string map in (string[])["users", "events", "notifications"])
        {
            if (!content.TryGetProperty(map, out var value))
            {
                continue;
            }

            result.Remove(map);
            if (value.ValueKind != JsonValueKind.Object)
            {
                continue;
            }

            var entries = new JsonObject();
            foreach (var entry in value.EnumerateObject())
            {
                if ((map != "users" || UserId.TryParse(entry.Name, out _)) && PowerLevels.TryParseLevel(entry.Value, from, out long level))
                {
                    entries[entry.Name] = Clamp(level);
                }
            }

            result[map] = entries;
        }

        return result;

        static long Clamp(long level) => Math.Clamp(level, CanonicalJson.MinSafeInteger, CanonicalJson.MaxSafeInteger);
    }

    /// <summary>
    /// The old room's current state with each event's effective content: a redacted event is copied in its
    /// redacted form, never with the content its sender retracted.
    /// </summary>
    private async Task<Dictionary<TypeStateKey, StateEntry>> LoadStateAsync(string roomId, RoomVersion version,
        CancellationToken cancellationToken)
    {
        var ids = await _events.GetCurrentStateIdsAsync(roomId, cancellationToken).ConfigureAwait(false);
        var events = await _events.GetEventsAsync(ids.Values.ToList(), cancellationToken).ConfigureAwait(false);
        var byId = events.ToDictionary(e => e.Pdu.EventId, StringComparer.Ordinal);
        var state = new Dictionary<TypeStateKey, StateEntry>(ids.Count);
        foreach (var (key, id) in ids)
        {
            if (byId.TryGetValue(id, out var stored))
            {
                var content = stored.RedactedBy is null
                    ? stored.Pdu.Content
                    : JsonSerializer.SerializeToElement(Redaction.Redact(stored.Pdu.Json, version)["content"]);
                state[key] = new StateEntry(stored.Pdu, content);
            }
        }

        return state;
    }

    /// <summary>A state event of the old room and the content it has now (redacted or not).</summary>
    private sealed record StateEntry(Pdu Pdu, JsonElement Content)
    {
        public bool IsEmpty => Content.ValueKind != JsonValueKind.Object || !Content.EnumerateObject().Any();

        public string? Membership =>
            Content.ValueKind == JsonValueKind.Object && Content.TryGetProperty("membership", out var m) && m.ValueKind == JsonValueKind.String
                ? m.GetString()
                : null;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 3201, Level = LogLevel.Warning,
            Message = "Room upgrade: could not send {EventType} to the old room {RoomId}: {Reason}")]
        public static partial void OldRoomUpdateFailed(ILogger logger, string eventType, string roomId, string reason);

        [LoggerMessage(EventId = 3202, Level = LogLevel.Warning,
            Message = "Room upgrade: alias {Alias} was taken before it could be moved to {RoomId}")]
        public static partial void AliasTaken(ILogger logger, string alias, string roomId);
    }
}
