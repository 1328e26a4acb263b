using System.Collections.Concurrent;
using Synapse.Storage;
using Synapse.Streams;

namespace Synapse.Sync;

/// <summary>
/// The newest events of recently active rooms, shared by every sync that reads them. A message to a room with a
/// thousand long-polling members is read from the database once, by the first woken sync; the others take it from
/// here.
/// </summary>
/// <remarks>
/// An entry holds every event of its room with stream ordering in (<c>CompleteAfter</c>, <c>LoadedUpTo</c>]; callers
/// only ask up to a position the events stream has advertised, so nothing below it is still being written. A
/// redaction drops its room's entry (the cached copies would show the redacted content), and a generation number stops
/// a read that raced with the redaction from putting the stale copies back.
/// </remarks>
internal sealed class RoomTimelineCache
{
    /// <summary>Events kept per room: more than a default timeline (10) or Element's (20) asks for, plus one.</summary>
    internal const int EventsPerRoom = 32;

    /// <summary>Above this many rooms the cache starts over (it holds copies only).</summary>
    private const int MaxRooms = 4_096;

    private readonly IEventStore _store;
    private readonly ConcurrentDictionary<string, Room> _rooms = new(StringComparer.Ordinal);

    public RoomTimelineCache(IEventStore store, StreamBus bus)
    {
        _store = store;
        bus.Subscribe(OnUpdate);
    }

    /// <summary>
    /// The newest <paramref name="limit"/> events of the room with stream ordering in (<paramref name="after"/>,
    /// <paramref name="upTo"/>], oldest first: <see cref="IEventStore.GetRoomEventsByStreamAsync"/>, from memory when it
    /// can be. <paramref name="upTo"/> must not be past the events stream's advertised position.
    /// </summary>
    public async Task<IReadOnlyList<StoredEvent>> GetNewestAsync(string roomId, long after, long upTo, int limit,
        CancellationToken cancellationToken)
    {
        var room = _rooms.GetOrAdd(roomId, _ => new Room());
        if (room.Snapshot is { } cached && cached.LoadedUpTo >= upTo && TryServe(cached, after, upTo, limit) is { } hit)
        {
            return hit;
        }

        // A page larger than the entry (a client asking for a timeline of 50 or 200) is still served from it when the range
        // starts inside the complete part: the woken syncs of such clients. One that reaches further back (an initial sync)
        // reads the store without queueing behind the room's gate.
        if (limit >= EventsPerRoom && room.Snapshot is { } held && after < held.CompleteAfter)
        {
            return await _store.GetRoomEventsByStreamAsync(roomId, after, upTo, limit, cancellationToken).ConfigureAwait(false);
        }

        await room.Gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Another sync may have loaded it while this one waited.
            if (room.Snapshot is { } loaded && loaded.LoadedUpTo >= upTo && TryServe(loaded, after, upTo, limit) is { } shared)
            {
                return shared;
            }

            return await LoadAsync(roomId, room, after, upTo, limit, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            room.Gate.Release();
        }
    }

    /// <summary>Reads what the entry lacks (or what the caller asked, when the entry cannot cover it) and updates the entry.</summary>
    private async Task<IReadOnlyList<StoredEvent>> LoadAsync(string roomId, Room room, long after, long upTo, int limit,
        CancellationToken cancellationToken)
    {
        int generation = Volatile.Read(ref room.Generation);
        var snapshot = room.Snapshot;
        if (snapshot is not null && snapshot.LoadedUpTo < upTo)
        {
            // Extend: everything after what is held, up to the asked position.
            var newer = await _store.GetRoomEventsByStreamAsync(roomId, snapshot.LoadedUpTo, upTo, EventsPerRoom, cancellationToken)
                .ConfigureAwait(false);
            var extended = newer.Count < EventsPerRoom
                ? Trim(new Snapshot(snapshot.CompleteAfter, upTo, [.. snapshot.Events, .. newer]))
                : new Snapshot(newer[0].StreamOrdering - 1, upTo, [.. newer]);
            Store(room, generation, extended);
            if (TryServe(extended, after, upTo, limit) is { } served)
            {
                return served;
            }
        }

        var events = await _store.GetRoomEventsByStreamAsync(roomId, after, upTo, limit, cancellationToken).ConfigureAwait(false);
        if (room.Snapshot is null || room.Snapshot.LoadedUpTo < upTo)
        {
            // A fresh entry: complete from `after`, or from just before the oldest event read when the page was full.
            Store(room, generation, Trim(new Snapshot(events.Count < limit ? after : events[0].StreamOrdering - 1, upTo, [.. events])));
        }

        return events;
    }

    /// <summary>Serves from <paramref name="snapshot"/> when it holds every event the answer needs.</summary>
    private static List<StoredEvent>? TryServe(Snapshot snapshot, long after, long upTo, int limit)
    {
        var events = snapshot.Events;
        int end = events.Count;
        while (end > 0 && events[end - 1].StreamOrdering > upTo)
        {
            end--;
        }

        int start = end;
        while (start > 0 && end - start < limit && events[start - 1].StreamOrdering > after)
        {
            start--;
        }

        // Either the page is full, or it reached `after` inside the complete range.
        bool complete = end - start == limit || after >= snapshot.CompleteAfter;
        return complete ? events.GetRange(start, end - start) : null;
    }

    private static Snapshot Trim(Snapshot snapshot) =>
        snapshot.Events.Count <= EventsPerRoom
            ? snapshot
            : new Snapshot(snapshot.Events[^(EventsPerRoom + 1)].StreamOrdering, snapshot.LoadedUpTo,
                snapshot.Events.GetRange(snapshot.Events.Count - EventsPerRoom, EventsPerRoom));

    private void Store(Room room, int generation, Snapshot snapshot)
    {
        lock (room)
        {
            if (room.Generation == generation)
            {
                room.Snapshot = snapshot;
            }
        }

        if (_rooms.Count > MaxRooms)
        {
            _rooms.Clear();
        }
    }

    private void OnUpdate(StreamUpdate update)
    {
        if (update.Stream != StreamNames.Events)
        {
            return;
        }

        foreach (var row in update.Rows)
        {
            if ((string?)row.Data["redacts"] is not null && (string?)row.Data["room_id"] is { } roomId
                && _rooms.TryGetValue(roomId, out var room))
            {
                lock (room)
                {
                    room.Generation++;
                    room.Snapshot = null;
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
        public volatile Snapshot? Snapshot;
    }

    /// <param name="CompleteAfter">Every event of the room after this position, up to <paramref name="LoadedUpTo"/>, is held.</param>
    /// <param name="LoadedUpTo">The position the entry was read up to.</param>
    /// <param name="Events">The events, oldest first.</param>
    private sealed record Snapshot(long CompleteAfter, long LoadedUpTo, List<StoredEvent> Events);
}
