using System.Text.Json;
using System.Text.Json.Nodes;
using Synapse.Accounts;
using Synapse.Events;
using Synapse.Rooms;
using Synapse.Storage;
using Synapse.Streams;

namespace Synapse.Sync;

/// <summary>
/// /sync: initial and incremental responses, long-polling on the notifier. Room timelines and state come from
/// the events stream; everything else (typing, receipts, presence, account data, to-device, device lists) from
/// the registered <see cref="ISyncContributor"/>s.
/// </summary>
/// <remarks>Spec: Client-Server API, "Syncing".</remarks>
internal sealed class SyncService
{
    /// <summary>The longest a request may wait (clients ask for 30 s; we allow up to 5 minutes).</summary>
    public static readonly TimeSpan MaxTimeout = TimeSpan.FromMinutes(5);

    private static readonly string[] StrippedStateTypes =
        ["m.room.create", "m.room.join_rules", "m.room.name", "m.room.avatar", "m.room.canonical_alias", "m.room.encryption", "m.room.topic"];

    private readonly IEventStore _store;
    private readonly IRoomDirectoryStore _directory;
    private readonly StreamRegistry _streams;
    private readonly SyncNotifier _notifier;
    private readonly ClientEventFormatter _formatter;
    private readonly IEnumerable<ISyncContributor> _contributors;
    private readonly IEnumerable<ISyncActivityListener> _listeners;
    private readonly SyncCache _cache;
    private readonly RoomTimelineCache _timelines;
    private readonly RoomStateCache _roomState;
    private readonly TimeProvider _time;

    public SyncService(IEventStore store, IRoomDirectoryStore directory, StreamRegistry streams, SyncNotifier notifier,
        ClientEventFormatter formatter, IEnumerable<ISyncContributor> contributors, IEnumerable<ISyncActivityListener> listeners,
        SyncCache cache, RoomTimelineCache timelines, RoomStateCache roomState, TimeProvider time)
    {
        _store = store;
        _directory = directory;
        _streams = streams;
        _notifier = notifier;
        _formatter = formatter;
        _contributors = contributors;
        _listeners = listeners;
        _cache = cache;
        _timelines = timelines;
        _roomState = roomState;
        _time = time;
    }

    /// <summary>
    /// One /sync request. <paramref name="deliverToDevice"/> is false for the legacy /events, which has no to-device
    /// section: a response there must not acknowledge (and so delete) to-device messages it never shows.
    /// </summary>
    public async Task<JsonObject> SyncAsync(Requester requester, SyncToken? since, TimeSpan timeout, bool fullState,
        SyncFilter filter, string? setPresence, CancellationToken cancellationToken, bool deliverToDevice = true)
    {
        foreach (var listener in _listeners)
        {
            await listener.OnSyncAsync(requester, setPresence, cancellationToken).ConfigureAwait(false);
        }

        try
        {
            return await WaitAndBuildAsync(requester, since, timeout, fullState, filter, deliverToDevice, cancellationToken)
                .ConfigureAwait(false);
        }
        finally
        {
            foreach (var listener in _listeners)
            {
                await listener.OnSyncEndedAsync(requester, setPresence, CancellationToken.None).ConfigureAwait(false);
            }
        }
    }

    private async Task<JsonObject> WaitAndBuildAsync(Requester requester, SyncToken? since, TimeSpan timeout, bool fullState,
        SyncFilter filter, bool deliverToDevice, CancellationToken cancellationToken)
    {
        long deadline = _time.GetTimestamp() + (long)(Math.Min(timeout.TotalSeconds, MaxTimeout.TotalSeconds) * _time.TimestampFrequency);
        while (true)
        {
            var memberships = await _cache.GetMembershipsAsync(requester.UserId.Value, cancellationToken).ConfigureAwait(false);
            var keys = memberships.Select(m => NotifierKey.Room(m.RoomId)).Append(NotifierKey.User(requester.UserId.Value)).ToList();

            // Register before reading: a change between the read and the wait still wakes us.
            using var waiter = _notifier.Register(keys);
            var now = _streams.CurrentToken();

            // The memberships above may predate `now`: the notifier wakes a waiter before the cache has heard of the
            // membership that woke it. Once `now` is read, every update up to it has reached the cache (a position
            // is published before it is advertised), so read them again; a room missing from them would be skipped
            // by this response and, missing from the keys, would not wake the next wait either.
            var atNow = await _cache.GetMembershipsAsync(requester.UserId.Value, cancellationToken).ConfigureAwait(false);
            if (!ReferenceEquals(atNow, memberships) && !SameRooms(atNow, memberships))
            {
                continue;
            }

            memberships = atNow;
            var remaining = _time.GetElapsedTime(_time.GetTimestamp(), deadline);
            bool mayWait = since is not null && !fullState && remaining > TimeSpan.Zero;
            if (mayWait && since!.SameAs(now))
            {
                if (!await waiter.WaitAsync(remaining, cancellationToken).ConfigureAwait(false))
                {
                    // Nothing changed, but a response still carries what is always sent (the device's key counts and
                    // unused fallback key types: an empty list would make clients replace their fallback key).
                    var idle = await BuildAsync(requester, since, now, fullState, filter, memberships, deliverToDevice, cancellationToken)
                        .ConfigureAwait(false);
                    return idle.Build(NextBatch(now, idle).ToString());
                }

                continue;
            }

            var response = await BuildAsync(requester, since, now, fullState, filter, memberships, deliverToDevice, cancellationToken)
                .ConfigureAwait(false);
            if (response.HasUpdates || !mayWait)
            {
                return response.Build(NextBatch(now, response).ToString());
            }

            since = NextBatch(now, response);
            if (!await waiter.WaitAsync(remaining, cancellationToken).ConfigureAwait(false))
            {
                return response.Build(since.ToString());
            }
        }
    }

    private static bool SameRooms(IReadOnlyList<UserMembership> a, IReadOnlyList<UserMembership> b) =>
        a.Count == b.Count && a.Select(m => m.RoomId).ToHashSet(StringComparer.Ordinal).SetEquals(b.Select(m => m.RoomId));

    private static SyncToken NextBatch(SyncToken now, SyncResponseBuilder response)
    {
        if (response.PositionCaps.Count == 0)
        {
            return now;
        }

        return new SyncToken([.. StreamRegistry.TokenStreams.Select(s =>
            response.PositionCaps.TryGetValue(s, out long cap) ? Math.Min(cap, now[s]) : now[s])]);
    }

    private async Task<SyncResponseBuilder> BuildAsync(Requester requester, SyncToken? since, SyncToken now, bool fullState,
        SyncFilter filter, IReadOnlyList<UserMembership> memberships, bool deliverToDevice, CancellationToken cancellationToken)
    {
        var response = new SyncResponseBuilder();
        string userId = requester.UserId.Value;
        long sinceEvents = since?[StreamNames.Events] ?? 0;
        long nowEvents = now[StreamNames.Events];

        // Memberships as of `now` (a membership written after `now` waits for the next response).
        var changes = since is null || !_cache.MembershipChangedAfter(userId, sinceEvents)
            ? []
            : await _store.GetMembershipChangesAsync(userId, sinceEvents, nowEvents, cancellationToken).ConfigureAwait(false);
        var current = memberships.Where(m => m.StreamOrdering <= nowEvents).ToDictionary(m => m.RoomId, StringComparer.Ordinal);
        var changedRooms = changes.Select(c => c.RoomId).ToHashSet(StringComparer.Ordinal);

        var visible = current.Values.Where(m => filter.Rooms.MatchesRoom(m.RoomId)).ToList();
        var context = new SyncContext
        {
            Requester = requester,
            Since = since,
            Now = now,
            FullState = fullState,
            Filter = filter,
            JoinedRoomIds = visible.Where(m => m.Membership == "join").Select(m => m.RoomId).ToList(),
            Memberships = [.. current.Values],
            MembershipChanges = changes,
            DeliverToDevice = deliverToDevice,
        };

        // A join that only replaced a join (a display name change) is not new; NewlyJoinedRooms tells them apart.
        var newlyJoined = await NewlyJoinedRooms.FindAsync(_store, context, cancellationToken).ConfigureAwait(false);
        foreach (var membership in visible)
        {
            switch (membership.Membership)
            {
                case "join":
                    bool whole = since is null || fullState || newlyJoined.Contains(membership.RoomId);
                    if (whole || _cache.RoomChangedAfter(membership.RoomId, sinceEvents))
                    {
                        await AddJoinedRoomAsync(response, requester, membership, whole ? null : sinceEvents, nowEvents, filter,
                            cancellationToken).ConfigureAwait(false);
                    }

                    break;
                case "invite" when since is null || changedRooms.Contains(membership.RoomId):
                    await AddStrippedRoomAsync(response, "invite", "invite_state", membership, cancellationToken).ConfigureAwait(false);
                    break;
                case "knock" when since is null || changedRooms.Contains(membership.RoomId):
                    await AddStrippedRoomAsync(response, "knock", "knock_state", membership, cancellationToken).ConfigureAwait(false);
                    break;
                case "leave" or "ban" when (since is not null && changedRooms.Contains(membership.RoomId))
                                          || (since is null && filter.IncludeLeave):
                    if (membership.Membership == "leave" && since is null
                        && await _directory.IsForgottenAsync(userId, membership.RoomId, cancellationToken).ConfigureAwait(false))
                    {
                        break;
                    }

                    await AddLeftRoomAsync(response, requester, membership, since is null ? null : sinceEvents, filter, cancellationToken)
                        .ConfigureAwait(false);
                    break;
            }
        }

        foreach (var contributor in _contributors)
        {
            await contributor.ContributeAsync(context, response, cancellationToken).ConfigureAwait(false);
        }

        if (!deliverToDevice)
        {
            // The token handed out must not acknowledge to-device messages this response did not carry.
            response.CapPosition(StreamNames.ToDevice, since?[StreamNames.ToDevice] ?? 0);
        }

        return response;
    }

    /// <summary>
    /// A joined room. <paramref name="sinceEvents"/> null means a full room (initial sync, full_state, or newly
    /// joined): the last events and the state before them. Otherwise the events since, and when the timeline is
    /// limited, the state that changed in the gap.
    /// </summary>
    private async Task AddJoinedRoomAsync(SyncResponseBuilder response, Requester requester, UserMembership membership, long? sinceEvents,
        long nowEvents, SyncFilter filter, CancellationToken cancellationToken)
    {
        int limit = filter.TimelineLimit;
        string roomId = membership.RoomId;
        var visibility = new TimelineVisibility(_store, roomId, requester.UserId.Value, membership);
        var (timeline, limited) = await TimelineAsync(roomId, sinceEvents ?? 0, nowEvents, limit, visibility, filter.Timeline, cancellationToken)
            .ConfigureAwait(false);
        if (sinceEvents is not null && timeline.Count == 0 && !limited)
        {
            return;
        }

        IReadOnlyDictionary<TypeStateKey, string> stateIds;
        if (sinceEvents is null)
        {
            stateIds = await StateBeforeAsync(roomId, timeline, nowEvents, cancellationToken).ConfigureAwait(false);
        }
        else if (limited)
        {
            var atStart = await StateBeforeAsync(roomId, timeline, nowEvents, cancellationToken).ConfigureAwait(false);
            var atSince = await StateAtStreamAsync(roomId, sinceEvents.Value, cancellationToken).ConfigureAwait(false);
            stateIds = atStart.Where(kv => !atSince.TryGetValue(kv.Key, out var old) || old != kv.Value)
                .ToDictionary(kv => kv.Key, kv => kv.Value);
        }
        else
        {
            stateIds = new Dictionary<TypeStateKey, string>();
        }

        var state = await StateEventsAsync(roomId, stateIds, timeline, filter.State, requester.UserId.Value, sinceEvents is null,
            cancellationToken).ConfigureAwait(false);
        var room = response.Room("join", roomId);
        room["timeline"] = await TimelineJsonAsync(timeline, limited, requester, cancellationToken).ConfigureAwait(false);
        room["state"] = new JsonObject { ["events"] = await EventsJsonAsync(state, requester, cancellationToken).ConfigureAwait(false) };
        room["unread_notifications"] = new JsonObject { ["highlight_count"] = 0, ["notification_count"] = 0 };
        if (sinceEvents is null || state.Concat(timeline).Any(e => e.Pdu.Type == "m.room.member"))
        {
            room["summary"] = await SummaryAsync(roomId, requester.UserId.Value, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>A room the user left or was banned from: the timeline up to their leave.</summary>
    private async Task AddLeftRoomAsync(SyncResponseBuilder response, Requester requester, UserMembership membership, long? sinceEvents,
        SyncFilter filter, CancellationToken cancellationToken)
    {
        var visibility = new TimelineVisibility(_store, membership.RoomId, requester.UserId.Value, membership);
        var (timeline, limited) = await TimelineAsync(membership.RoomId, sinceEvents ?? 0, membership.StreamOrdering, filter.TimelineLimit,
            visibility, filter.Timeline, cancellationToken).ConfigureAwait(false);
        var stateIds = await StateBeforeAsync(membership.RoomId, timeline, membership.StreamOrdering, cancellationToken).ConfigureAwait(false);
        if (sinceEvents is { } s && !limited)
        {
            var atSince = await StateAtStreamAsync(membership.RoomId, s, cancellationToken).ConfigureAwait(false);
            stateIds = stateIds.Where(kv => !atSince.TryGetValue(kv.Key, out var old) || old != kv.Value).ToDictionary(kv => kv.Key, kv => kv.Value);
        }

        var state = await StateEventsAsync(membership.RoomId, stateIds, timeline, filter.State, requester.UserId.Value, true,
            cancellationToken).ConfigureAwait(false);
        var room = response.Room("leave", membership.RoomId);
        room["timeline"] = await TimelineJsonAsync(timeline, limited, requester, cancellationToken).ConfigureAwait(false);
        room["state"] = new JsonObject { ["events"] = await EventsJsonAsync(state, requester, cancellationToken).ConfigureAwait(false) };
    }

    /// <summary>Invited and knocked rooms: stripped state the user may see before joining, plus their own member event.</summary>
    private async Task AddStrippedRoomAsync(SyncResponseBuilder response, string section, string part, UserMembership membership,
        CancellationToken cancellationToken)
    {
        var ids = await _store.GetCurrentStateIdsAsync(membership.RoomId, cancellationToken).ConfigureAwait(false);
        var wanted = ids.Where(kv => StrippedStateTypes.Contains(kv.Key.Type) && kv.Key.StateKey.Length == 0).Select(kv => kv.Value)
            .Append(membership.EventId).Distinct().ToList();
        var events = await _store.GetEventsAsync(wanted, cancellationToken).ConfigureAwait(false);
        var stripped = new JsonArray();
        foreach (var e in events.OrderBy(e => e.StreamOrdering))
        {
            stripped.Add(new JsonObject
            {
                ["type"] = e.Pdu.Type,
                ["state_key"] = e.Pdu.StateKey,
                ["sender"] = e.Pdu.Sender,
                ["content"] = JsonNode.Parse(e.Pdu.Content.GetRawText()),
            });
        }

        response.Room(section, membership.RoomId)[part] = new JsonObject { ["events"] = stripped };
    }

    /// <summary>
    /// The newest <paramref name="limit"/> visible, filtered events with stream ordering in (after, upTo]; limited when
    /// more matching events exist in that range (or, for a full room, before it).
    /// </summary>
    private async Task<(List<StoredEvent> Events, bool Limited)> TimelineAsync(string roomId, long after, long upTo, int limit,
        TimelineVisibility visibility, RoomEventFilter filter, CancellationToken cancellationToken)
    {
        var picked = new List<StoredEvent>();
        long cursor = upTo;
        while (picked.Count <= limit)
        {
            var page = await _timelines.GetNewestAsync(roomId, after, cursor, limit + 1, cancellationToken).ConfigureAwait(false);
            for (int i = page.Count - 1; i >= 0 && picked.Count <= limit; i--)
            {
                if (filter.Matches(page[i].Pdu) && await visibility.CanSeeAsync(page[i], cancellationToken).ConfigureAwait(false))
                {
                    picked.Add(page[i]);
                }
            }

            if (page.Count < limit + 1)
            {
                break;
            }

            cursor = page[0].StreamOrdering - 1;
        }

        bool limited = picked.Count > limit;
        if (limited)
        {
            picked.RemoveAt(picked.Count - 1);
        }

        picked.Reverse();
        return (picked, limited);
    }

    /// <summary>The state just before the first timeline event (or at <paramref name="upTo"/> for an empty timeline).</summary>
    private async Task<IReadOnlyDictionary<TypeStateKey, string>> StateBeforeAsync(string roomId, List<StoredEvent> timeline, long upTo,
        CancellationToken cancellationToken)
    {
        if (timeline.Count == 0)
        {
            return await StateAtStreamAsync(roomId, upTo, cancellationToken).ConfigureAwait(false);
        }

        var before = await _store.GetRoomEventsAsync(roomId, timeline[0].Position, backwards: true, null, 1, cancellationToken).ConfigureAwait(false);
        return before.Count == 0
            ? new Dictionary<TypeStateKey, string>()
            : await _store.GetStateGroupAsync(before[0].StateGroup, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The room state after the last event at or before a stream position.</summary>
    private async Task<IReadOnlyDictionary<TypeStateKey, string>> StateAtStreamAsync(string roomId, long stream, CancellationToken cancellationToken)
    {
        var position = await _store.GetPositionAtStreamAsync(roomId, stream, cancellationToken).ConfigureAwait(false);
        if (position is not { } p)
        {
            return new Dictionary<TypeStateKey, string>();
        }

        var at = await _store.GetRoomEventsAsync(roomId, new TopologicalPosition(p.Depth, p.StreamOrdering + 1), backwards: true, null, 1,
            cancellationToken).ConfigureAwait(false);
        return await _store.GetStateGroupAsync(at[0].StateGroup, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The state events to send: filtered by the state filter, without those already in the timeline; with
    /// lazy-loading, only the member events of the timeline's senders (and the user's own).
    /// </summary>
    private async Task<IReadOnlyList<StoredEvent>> StateEventsAsync(string roomId, IReadOnlyDictionary<TypeStateKey, string> stateIds,
        List<StoredEvent> timeline, RoomEventFilter filter, string userId, bool full, CancellationToken cancellationToken)
    {
        var inTimeline = timeline.Select(e => e.Pdu.EventId).ToHashSet(StringComparer.Ordinal);
        var ids = stateIds.Where(kv => !inTimeline.Contains(kv.Value)).ToDictionary(kv => kv.Key, kv => kv.Value);
        if (filter.LazyLoadMembers)
        {
            var senders = timeline.Select(e => e.Pdu.Sender).Append(userId).ToHashSet(StringComparer.Ordinal);
            foreach (var key in ids.Keys.Where(k => k.Type == "m.room.member" && !senders.Contains(k.StateKey)).ToList())
            {
                ids.Remove(key);
            }

            if (!full)
            {
                // Incremental: the members of the timeline's senders, even when unchanged, so the client can render them.
                var currentState = await _roomState.GetCurrentStateIdsAsync(roomId, cancellationToken).ConfigureAwait(false);
                foreach (string sender in senders)
                {
                    var key = new TypeStateKey("m.room.member", sender);
                    if (currentState.TryGetValue(key, out string? id) && !inTimeline.Contains(id))
                    {
                        ids.TryAdd(key, id);
                    }
                }
            }
        }

        // An incremental sync's state events are mostly current state (lazy-loaded members): shared in memory. A full room's
        // state is read from the store, so that initial syncs do not fill the cache with every member of every room.
        var events = full
            ? await _store.GetEventsAsync(ids.Values.ToList(), cancellationToken).ConfigureAwait(false)
            : await _roomState.GetEventsAsync(roomId, ids.Values.ToList(), cancellationToken).ConfigureAwait(false);
        return events.Where(e => filter.Matches(e.Pdu)).OrderBy(e => e.StreamOrdering).ToList();
    }

    private async Task<JsonObject> TimelineJsonAsync(List<StoredEvent> timeline, bool limited, Requester requester,
        CancellationToken cancellationToken)
    {
        var json = new JsonObject
        {
            ["events"] = await EventsJsonAsync(timeline, requester, cancellationToken).ConfigureAwait(false),
            ["limited"] = limited,
        };
        if (timeline.Count > 0)
        {
            json["prev_batch"] = PaginationToken.Format(timeline[0].Position);
        }

        return json;
    }

    private async Task<JsonArray> EventsJsonAsync(IReadOnlyList<StoredEvent> events, Requester requester, CancellationToken cancellationToken)
    {
        var formatted = await _formatter.FormatAsync(events, requester, cancellationToken).ConfigureAwait(false);
        var array = new JsonArray();
        foreach (var e in formatted)
        {
            // Sync's room events leave out room_id: the room is the key they sit under.
            e.Remove("room_id");
            array.Add(e);
        }

        return array;
    }

    /// <summary>Member counts, and heroes when the room has neither a name nor a canonical alias.</summary>
    private async Task<JsonObject> SummaryAsync(string roomId, string userId, CancellationToken cancellationToken)
    {
        var room = await _roomState.GetSummaryAsync(roomId, cancellationToken).ConfigureAwait(false);
        var summary = new JsonObject
        {
            ["m.joined_member_count"] = room.JoinedCount,
            ["m.invited_member_count"] = room.InvitedCount,
        };
        if (!room.Named)
        {
            summary["m.heroes"] = new JsonArray([.. room.Heroes(userId).Select(h => (JsonNode)JsonValue.Create(h)!)]);
        }

        return summary;
    }

    /// <summary>Parses the <c>filter</c> parameter: inline JSON, or the ID of an uploaded filter.</summary>
    public static async Task<SyncFilter> ResolveFilterAsync(string? filter, Requester requester, IFilterStore filters,
        CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(filter))
        {
            return SyncFilter.Default;
        }

        if (filter.TrimStart().StartsWith('{'))
        {
            try
            {
                using var document = JsonDocument.Parse(filter);
                return SyncFilter.FromJson(document.RootElement);
            }
            catch (JsonException)
            {
                throw new MatrixException(System.Net.HttpStatusCode.BadRequest, ErrorCodes.NotJson, "'filter' is not valid JSON");
            }
        }

        if (!long.TryParse(filter, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long id)
            || await filters.GetFilterAsync(requester.UserId.Value, id, cancellationToken).ConfigureAwait(false) is not { } stored)
        {
            throw MatrixException.InvalidParam($"Unknown filter '{filter}'");
        }

        using var storedDocument = JsonDocument.Parse(stored);
        return SyncFilter.FromJson(storedDocument.RootElement);
    }

    /// <summary>
    /// History visibility for one room's timeline, loaded only when needed: an event after the user's current join is
    /// always visible to them, which is every event of an ordinary incremental sync.
    /// </summary>
    private sealed class TimelineVisibility(IEventStore store, string roomId, string userId, UserMembership membership)
    {
        private RoomVisibility? _loaded;

        public async ValueTask<bool> CanSeeAsync(StoredEvent stored, CancellationToken cancellationToken)
        {
            if (membership.Membership == "join" && stored.Position > membership.Position)
            {
                return true;
            }

            _loaded ??= await RoomVisibility.LoadAsync(store, roomId, userId, cancellationToken).ConfigureAwait(false);
            return _loaded.CanSee(stored);
        }
    }
}
