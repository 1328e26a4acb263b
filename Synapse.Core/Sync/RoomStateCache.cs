using System.Collections.Concurrent;
using Synapse.Events;
using Synapse.Storage;
using Synapse.Streams;

namespace Synapse.Sync;

/// <summary>
/// The current state of recently read rooms, the state events syncs read from it, and what a room summary is made of,
/// shared by every sync that needs them. A lazy-loading client's woken sync needs them for every message (the member
/// events of the timeline's senders and its own, and the summary that comes with any member event): without this, each
/// of a thousand long-polls would read the room's whole current state and every member event.
/// </summary>
/// <remarks>
/// Events of current state never change but by redaction. An entry is dropped when its room's current state may have changed: on every state event of the room on the bus,
/// and on every redaction in it (a redacted name no longer names the room). This relies on current state changing only
/// with a state event of the room, which holds while every event is created locally; federation must revisit it (state
/// resolution can change current state on a message that merges two branches). A position is published on the bus
/// before it is advertised, so a sync that read a token after a state change never sees the entry from before it; a
/// generation number stops a read that raced with the change from storing what it read.
/// </remarks>
internal sealed class RoomStateCache
{
    /// <summary>Above this many rooms the cache starts over (it holds copies only).</summary>
    private const int MaxRooms = 4_096;

    /// <summary>Heroes are at most five users other than the requester: six candidates per list are enough.</summary>
    private const int HeroCandidates = 6;

    private readonly IEventStore _store;
    private readonly ConcurrentDictionary<string, Room> _rooms = new(StringComparer.Ordinal);

    public RoomStateCache(IEventStore store, StreamBus bus)
    {
        _store = store;
        bus.Subscribe(OnUpdate);
    }

    /// <summary>The room's current state as (type, state_key) → event ID: <see cref="IEventStore.GetCurrentStateIdsAsync"/>.</summary>
    public async Task<IReadOnlyDictionary<TypeStateKey, string>> GetCurrentStateIdsAsync(string roomId, CancellationToken cancellationToken) =>
        (await GetEntryAsync(roomId, cancellationToken).ConfigureAwait(false)).Ids;

    /// <summary>
    /// Events by ID, as <see cref="IEventStore.GetEventsAsync"/> (those not found are left out): the room's current state
    /// events among them come from memory once a sync has read them (a lazy-loading sync's senders and its own member event).
    /// </summary>
    public async Task<IReadOnlyList<StoredEvent>> GetEventsAsync(string roomId, IReadOnlyCollection<string> eventIds,
        CancellationToken cancellationToken)
    {
        if (!_rooms.TryGetValue(roomId, out var room) || room.Entry is not { } entry)
        {
            return await _store.GetEventsAsync(eventIds, cancellationToken).ConfigureAwait(false);
        }

        var result = new List<StoredEvent>(eventIds.Count);
        var missing = new List<string>();
        foreach (string id in eventIds)
        {
            if (entry.Events.TryGetValue(id, out var held))
            {
                result.Add(held);
            }
            else
            {
                missing.Add(id);
            }
        }

        if (missing.Count == 0)
        {
            return result;
        }

        var loaded = await _store.GetEventsAsync(missing, cancellationToken).ConfigureAwait(false);
        result.AddRange(loaded);

        // Kept only while the entry they belong to is current: a redaction drops it, and with it the copies.
        lock (room)
        {
            if (ReferenceEquals(room.Entry, entry))
            {
                foreach (var e in loaded)
                {
                    if (entry.EventIds.Contains(e.Pdu.EventId))
                    {
                        entry.Events.TryAdd(e.Pdu.EventId, e);
                    }
                }
            }
        }

        return result;
    }

    /// <summary>What the room's <c>summary</c> in /sync is made of, from its current state.</summary>
    public async Task<RoomSummary> GetSummaryAsync(string roomId, CancellationToken cancellationToken)
    {
        var room = _rooms.GetOrAdd(roomId, _ => new Room());
        if (room.Entry is { Summary: { } cached })
        {
            return cached;
        }

        var entry = await GetEntryAsync(roomId, cancellationToken).ConfigureAwait(false);
        if (entry.Summary is { } summary)
        {
            return summary;
        }

        await room.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (entry.Summary is { } shared)
            {
                return shared;
            }

            summary = await LoadSummaryAsync(entry.Ids, cancellationToken).ConfigureAwait(false);

            // Member and name events never change but by redaction, which drops the entry: a summary read from the ids of
            // the entry that is still current is current too.
            lock (room)
            {
                if (ReferenceEquals(room.Entry, entry))
                {
                    entry.Summary = summary;
                }
            }

            return summary;
        }
        finally
        {
            room.Gate.Release();
        }
    }

    private async Task<Entry> GetEntryAsync(string roomId, CancellationToken cancellationToken)
    {
        var room = _rooms.GetOrAdd(roomId, _ => new Room());
        if (room.Entry is { } cached)
        {
            return cached;
        }

        await room.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Another sync may have read it while this one waited.
            if (room.Entry is { } loaded)
            {
                return loaded;
            }

            int generation = Volatile.Read(ref room.Generation);
            var entry = new Entry(await _store.GetCurrentStateIdsAsync(roomId, cancellationToken).ConfigureAwait(false));
            lock (room)
            {
                if (room.Generation == generation)
                {
                    room.Entry = entry;
                }
            }

            if (_rooms.Count > MaxRooms)
            {
                _rooms.Clear();
            }

            return entry;
        }
        finally
        {
            room.Gate.Release();
        }
    }

    private async Task<RoomSummary> LoadSummaryAsync(IReadOnlyDictionary<TypeStateKey, string> ids, CancellationToken cancellationToken)
    {
        var members = await _store.GetEventsAsync(ids.Where(kv => kv.Key.Type == "m.room.member").Select(kv => kv.Value).ToList(),
            cancellationToken).ConfigureAwait(false);
        var byMembership = members.ToLookup(m => m.Pdu.ContentString("membership"));
        bool named = await HasNonEmptyAsync(ids, "m.room.name", "name", cancellationToken).ConfigureAwait(false)
            || await HasNonEmptyAsync(ids, "m.room.canonical_alias", "alias", cancellationToken).ConfigureAwait(false);
        return new RoomSummary(
            byMembership["join"].Count(),
            byMembership["invite"].Count(),
            named,
            [.. byMembership["join"].Concat(byMembership["invite"]).Select(m => m.Pdu.StateKey!).Order(StringComparer.Ordinal).Take(HeroCandidates)],
            [.. byMembership["leave"].Concat(byMembership["ban"]).Select(m => m.Pdu.StateKey!).Order(StringComparer.Ordinal).Take(HeroCandidates)]);
    }

    private async Task<bool> HasNonEmptyAsync(IReadOnlyDictionary<TypeStateKey, string> ids, string type, string field,
        CancellationToken cancellationToken)
    {
        if (!ids.TryGetValue(new TypeStateKey(type, ""), out string? id))
        {
            return false;
        }

        var events = await _store.GetEventsAsync([id], cancellationToken).ConfigureAwait(false);
        return events.Count == 1 && events[0].RedactedBy is null && !string.IsNullOrEmpty(events[0].Pdu.ContentString(field));
    }

    private void OnUpdate(StreamUpdate update)
    {
        if (update.Stream != StreamNames.Events)
        {
            return;
        }

        foreach (var row in update.Rows)
        {
            if (((string?)row.Data["state_key"] is not null || (string?)row.Data["redacts"] is not null)
                && (string?)row.Data["room_id"] is { } roomId && _rooms.TryGetValue(roomId, out var room))
            {
                lock (room)
                {
                    room.Generation++;
                    room.Entry = null;
                }
            }
        }
    }

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA1001",
        Justification = "A SemaphoreSlim holds no OS handle unless AvailableWaitHandle is read; entries are dropped while waiters may still hold them.")]
    private sealed class Room
    {
        public readonly SemaphoreSlim Gate = new(1, 1);
        public int Generation;
        public volatile Entry? Entry;
    }

    private sealed class Entry(IReadOnlyDictionary<TypeStateKey, string> ids)
    {
        public IReadOnlyDictionary<TypeStateKey, string> Ids { get; } = ids;

        /// <summary>The event IDs of <see cref="Ids"/>: only these events are kept in <see cref="Events"/>.</summary>
        public HashSet<string> EventIds { get; } = ids.Values.ToHashSet(StringComparer.Ordinal);

        /// <summary>Current state events some sync has read.</summary>
        public ConcurrentDictionary<string, StoredEvent> Events { get; } = new(StringComparer.Ordinal);

        public volatile RoomSummary? Summary;
    }
}

/// <summary>
/// A room's member counts, whether it has a name or canonical alias, and the first users (by ID) of its joined and invited
/// members and of its left and banned members, from which /sync picks the heroes.
/// </summary>
internal sealed record RoomSummary(int JoinedCount, int InvitedCount, bool Named, IReadOnlyList<string> JoinedOrInvited,
    IReadOnlyList<string> LeftOrBanned)
{
    /// <summary>Up to five users other than <paramref name="userId"/>: joined or invited ones, else those who left or were banned.</summary>
    public IReadOnlyList<string> Heroes(string userId)
    {
        var heroes = JoinedOrInvited.Where(u => u != userId).Take(5).ToList();
        return heroes.Count > 0 ? heroes : [.. LeftOrBanned.Where(u => u != userId).Take(5)];
    }
}
