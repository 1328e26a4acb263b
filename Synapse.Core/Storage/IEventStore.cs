using Synapse.Events;

namespace Synapse.Storage;

/// <summary>
/// Rooms, their events and their state (docs/events-and-state.md). Only the persister on main writes,
/// always through <see cref="PersistBatchAsync"/>: one transaction per batch.
/// </summary>
public interface IEventStore
{
    /// <summary>Writes a batch of events of one room and everything that changes with them, atomically.</summary>
    Task PersistBatchAsync(EventBatch batch, CancellationToken cancellationToken);

    /// <summary>The highest stream ordering and state group ID in use (0 for an empty database).</summary>
    Task<(long StreamOrdering, long StateGroup)> GetMaxIdsAsync(CancellationToken cancellationToken);

    /// <summary>The room, or null when this server does not know it.</summary>
    Task<RoomRecord?> GetRoomAsync(string roomId, CancellationToken cancellationToken);

    /// <summary>Events by ID (those not found are left out), with their storage metadata.</summary>
    Task<IReadOnlyList<StoredEvent>> GetEventsAsync(IReadOnlyCollection<string> eventIds, CancellationToken cancellationToken);

    /// <summary>The room's current state as (type, state_key) → event ID.</summary>
    Task<IReadOnlyDictionary<TypeStateKey, string>> GetCurrentStateIdsAsync(string roomId, CancellationToken cancellationToken);

    /// <summary>The full state of a state group as (type, state_key) → event ID.</summary>
    Task<IReadOnlyDictionary<TypeStateKey, string>> GetStateGroupAsync(long stateGroup, CancellationToken cancellationToken);

    /// <summary>The room's forward extremities (events with no successor yet).</summary>
    Task<IReadOnlyList<string>> GetForwardExtremitiesAsync(string roomId, CancellationToken cancellationToken);

    /// <summary>The event a device already sent with this transaction ID, or null.</summary>
    Task<string?> FindTransactionAsync(string userId, string deviceId, string txnId, CancellationToken cancellationToken);

    /// <summary>The transaction IDs with which one device sent some of these events (event ID → txn ID).</summary>
    Task<IReadOnlyDictionary<string, string>> GetTransactionIdsAsync(IReadOnlyCollection<string> eventIds, string userId,
        string deviceId, CancellationToken cancellationToken);

    /// <summary>
    /// Events of a room in topological order from a position, either backwards (newest first) or forwards,
    /// stopping at <paramref name="until"/> when given.
    /// </summary>
    Task<IReadOnlyList<StoredEvent>> GetRoomEventsAsync(string roomId, TopologicalPosition from, bool backwards,
        TopologicalPosition? until, int limit, CancellationToken cancellationToken);

    /// <summary>The position of an event in its room's topological order, or null when unknown.</summary>
    Task<TopologicalPosition?> GetPositionAsync(string eventId, CancellationToken cancellationToken);

    /// <summary>The newest topological position in the room at or before a stream ordering.</summary>
    Task<TopologicalPosition?> GetPositionAtStreamAsync(string roomId, long streamOrdering, CancellationToken cancellationToken);

    /// <summary>Rooms in which the user's current membership is one of <paramref name="memberships"/>.</summary>
    Task<IReadOnlyList<string>> GetRoomsForUserAsync(string userId, IReadOnlyCollection<string> memberships,
        CancellationToken cancellationToken);

    /// <summary>The user's current membership in every room where they have one: (room, membership, member event).</summary>
    Task<IReadOnlyList<UserMembership>> GetMembershipsForUserAsync(string userId, CancellationToken cancellationToken);

    /// <summary>The user's membership events with stream ordering in (<paramref name="after"/>, <paramref name="upTo"/>], oldest first.</summary>
    Task<IReadOnlyList<UserMembership>> GetMembershipChangesAsync(string userId, long after, long upTo, CancellationToken cancellationToken);

    /// <summary>
    /// The newest <paramref name="limit"/> events of a room with stream ordering in (<paramref name="after"/>,
    /// <paramref name="upTo"/>], returned oldest first (a sync timeline).
    /// </summary>
    Task<IReadOnlyList<StoredEvent>> GetRoomEventsByStreamAsync(string roomId, long after, long upTo, int limit,
        CancellationToken cancellationToken);

    /// <summary>
    /// The events of every room with stream ordering in (<paramref name="after"/>, <paramref name="upTo"/>], oldest first,
    /// at most <paramref name="limit"/>, each with the relation stored with it: the events stream read back (one query).
    /// </summary>
    Task<IReadOnlyList<StreamedEvent>> GetEventsByStreamAsync(long after, long upTo, int limit, CancellationToken cancellationToken);

    /// <summary>
    /// Every state event of one (type, state_key) in the room, oldest first: a user's membership history,
    /// or the history of <c>m.room.history_visibility</c>, without loading whole state groups.
    /// </summary>
    Task<IReadOnlyList<StoredEvent>> GetStateHistoryAsync(string roomId, string type, string stateKey,
        CancellationToken cancellationToken);

    /// <summary>
    /// The children of <paramref name="parentIds"/> with one of <paramref name="relationTypes"/>, oldest first: events in
    /// the parent's room whose <c>m.relates_to</c> points at it and that are not redacted (a redaction breaks the relation).
    /// One query per 200 parents, for bundled aggregations.
    /// </summary>
    Task<IReadOnlyList<StoredEvent>> GetRelationChildrenAsync(IReadOnlyCollection<string> parentIds,
        IReadOnlyCollection<string> relationTypes, CancellationToken cancellationToken);

    /// <summary>
    /// For each thread root of <paramref name="rootIds"/> that has unredacted <c>m.thread</c> children in its room: their
    /// number, whether <paramref name="userId"/> sent one of them, and the topologically latest of them.
    /// </summary>
    Task<IReadOnlyDictionary<string, (long Count, bool Participated, string LatestEventId)>> GetThreadSummariesAsync(
        IReadOnlyCollection<string> rootIds, string? userId, CancellationToken cancellationToken);

    /// <summary>
    /// One page of the unredacted events of <paramref name="roomId"/> relating to <paramref name="parentId"/>, directly or,
    /// up to <paramref name="maxDepth"/> hops, through other relations; <paramref name="relationType"/> and
    /// <paramref name="eventType"/> apply to every hop. Positions are boundaries as in <see cref="GetRoomEventsAsync"/>.
    /// </summary>
    Task<IReadOnlyList<StoredEvent>> GetRelationsPageAsync(string roomId, string parentId, string? relationType, string? eventType,
        TopologicalPosition from, bool backwards, TopologicalPosition? until, int limit, int maxDepth, CancellationToken cancellationToken);

    /// <summary>
    /// Thread roots of a room ordered by their latest unredacted <c>m.thread</c> child, newest first, starting before
    /// <paramref name="before"/>; only threads <paramref name="participant"/> took part in (sent the root or a reply) when given.
    /// </summary>
    Task<IReadOnlyList<(string RootId, TopologicalPosition Latest)>> GetThreadRootsAsync(string roomId, string? participant,
        TopologicalPosition before, int limit, CancellationToken cancellationToken);

    /// <summary>
    /// Events of a room ordered by (origin_server_ts, stream ordering), strictly after (<paramref name="forwards"/>) or
    /// strictly before the key (<paramref name="timestamp"/>, <paramref name="streamOrdering"/>).
    /// </summary>
    Task<IReadOnlyList<StoredEvent>> GetEventsByTimestampAsync(string roomId, long timestamp, long streamOrdering, bool forwards,
        int limit, CancellationToken cancellationToken);
}

/// <summary>A user's membership in a room and the event that set it (with that event's depth and stream ordering).</summary>
public sealed record UserMembership(string RoomId, string Membership, string EventId, long StreamOrdering, long Depth)
{
    /// <summary>The membership event's topological position.</summary>
    public TopologicalPosition Position => new(Depth, StreamOrdering);
}

/// <summary>A room's row.</summary>
public sealed record RoomRecord(string RoomId, string RoomVersion, string Creator, bool IsPublic);

/// <summary>An event as stored: the PDU and where it sits.</summary>
public sealed record StoredEvent(Pdu Pdu, long StreamOrdering, long StateGroup, string? ReplacesState, string? RedactedBy)
{
    /// <summary>Its topological position.</summary>
    public TopologicalPosition Position => new(Pdu.Depth, StreamOrdering);
}

/// <summary>An event at its position in the events stream, with the relation persisted with it (null when none).</summary>
public sealed record StreamedEvent(Pdu Pdu, long StreamOrdering, EventRelation? Relation);

/// <summary>A point in a room's topological order: (depth, stream ordering).</summary>
public readonly record struct TopologicalPosition(long Depth, long StreamOrdering) : IComparable<TopologicalPosition>
{
    /// <summary>Before every event.</summary>
    public static TopologicalPosition Start => new(long.MinValue, long.MinValue);

    /// <summary>After every event.</summary>
    public static TopologicalPosition End => new(long.MaxValue, long.MaxValue);

    /// <inheritdoc />
    public int CompareTo(TopologicalPosition other) =>
        Depth != other.Depth ? Depth.CompareTo(other.Depth) : StreamOrdering.CompareTo(other.StreamOrdering);

    /// <summary>Orders positions.</summary>
    public static bool operator <(TopologicalPosition a, TopologicalPosition b) => a.CompareTo(b) < 0;

    /// <summary>Orders positions.</summary>
    public static bool operator >(TopologicalPosition a, TopologicalPosition b) => a.CompareTo(b) > 0;

    /// <summary>Orders positions.</summary>
    public static bool operator <=(TopologicalPosition a, TopologicalPosition b) => a.CompareTo(b) <= 0;

    /// <summary>Orders positions.</summary>
    public static bool operator >=(TopologicalPosition a, TopologicalPosition b) => a.CompareTo(b) >= 0;
}

/// <summary>What one persister transaction writes for one room.</summary>
public sealed class EventBatch
{
    /// <summary>The room.</summary>
    public required string RoomId { get; init; }

    /// <summary>Set when the batch creates the room (its m.room.create is in <see cref="Events"/>).</summary>
    public RoomRecord? NewRoom { get; init; }

    /// <summary>The events, in order.</summary>
    public required IReadOnlyList<EventToPersist> Events { get; init; }

    /// <summary>New state groups (in creation order, so a group's prev_group precedes it).</summary>
    public required IReadOnlyList<NewStateGroup> StateGroups { get; init; }

    /// <summary>Changes to current state after the batch.</summary>
    public required IReadOnlyList<CurrentStateChange> CurrentState { get; init; }

    /// <summary>The room's forward extremities after the batch (replaces the stored set).</summary>
    public required IReadOnlyList<string> ForwardExtremities { get; init; }
}

/// <summary>One event of a batch.</summary>
public sealed record EventToPersist(Pdu Pdu, long StreamOrdering, long StateGroup, string? ReplacesState, long ReceivedTs,
    TransactionKey? Transaction, EventRelation? Relation);

/// <summary>The device transaction an event was sent with.</summary>
public sealed record TransactionKey(string UserId, string DeviceId, string TxnId);

/// <summary>An <c>m.relates_to</c> of an event.</summary>
public sealed record EventRelation(string RelatesToId, string RelationType, string? AggregationKey);

/// <summary>A state group: a delta over <see cref="PrevGroup"/>, or a full snapshot when that is null.</summary>
public sealed record NewStateGroup(long Id, string EventId, long? PrevGroup, int ChainLength,
    IReadOnlyDictionary<TypeStateKey, string> Entries);

/// <summary>One key of current state set to an event.</summary>
public sealed record CurrentStateChange(TypeStateKey Key, string EventId, string? Membership);
