using Synapse.Identifiers;

namespace Synapse.Storage;

/// <summary>
/// The device-lists stream (which users' device lists changed, when) and the membership questions that decide who
/// is told (Spec: Client-Server API, "Tracking the device list for a user").
/// </summary>
/// <remarks>
/// Device creation, renaming and deletion write their rows inside the account store's own transactions; this store
/// writes rows for changes that happen elsewhere (key uploads, cross-signing) and answers the sync's questions.
/// </remarks>
public interface IDeviceListStore
{
    /// <summary>Records that devices of <paramref name="userId"/> changed, at <paramref name="streamId"/>.</summary>
    Task AddChangesAsync(long streamId, UserId userId, IReadOnlyCollection<DeviceId> deviceIds, CancellationToken cancellationToken);

    /// <summary>
    /// The users with a device-list row in (<paramref name="after"/>, <paramref name="upTo"/>] who are joined now to a room
    /// <paramref name="userId"/> is joined to now, and <paramref name="userId"/> itself when it has a row in the range.
    /// </summary>
    Task<IReadOnlyList<string>> GetChangedUsersSharingRoomsAsync(UserId userId, long after, long upTo,
        CancellationToken cancellationToken);

    /// <summary>
    /// The rows in (<paramref name="after"/>, <paramref name="upTo"/>], ordered by stream ID, at most
    /// <paramref name="limit"/> stream IDs (for replication catch-up).
    /// </summary>
    Task<IReadOnlyList<(long StreamId, string UserId, string DeviceId)>> GetRowsAsync(long after, long upTo, int limit,
        CancellationToken cancellationToken);

    /// <summary>
    /// Those of <paramref name="candidates"/> joined now to a room <paramref name="userId"/> is joined to now (including
    /// <paramref name="userId"/>, when it is a candidate and joined anywhere).
    /// </summary>
    Task<IReadOnlySet<string>> GetUsersSharingRoomsAsync(UserId userId, IReadOnlyCollection<string> candidates,
        CancellationToken cancellationToken);

    /// <summary>The users joined now to any of <paramref name="roomIds"/>.</summary>
    Task<IReadOnlySet<string>> GetJoinedMembersAsync(IReadOnlyCollection<string> roomIds, CancellationToken cancellationToken);

    /// <summary>
    /// The (room, user) pairs whose membership events in the events stream range (<paramref name="afterEvent"/>,
    /// <paramref name="upToEvent"/>] made the user join or stop being joined, in the rooms <paramref name="userId"/> is joined
    /// to now or changed its own membership in within the range (a display name change, join to join, is not a transition).
    /// </summary>
    Task<IReadOnlyList<MembershipTransition>> GetMembershipTransitionsAsync(UserId userId, long afterEvent, long upToEvent,
        CancellationToken cancellationToken);
}

/// <summary>A user's membership of a room at the two ends of a range of the events stream.</summary>
/// <param name="RoomId">The room.</param>
/// <param name="UserId">The member.</param>
/// <param name="WasJoined">Joined at the start of the range.</param>
/// <param name="IsJoined">Joined at the end of the range.</param>
public sealed record MembershipTransition(string RoomId, string UserId, bool WasJoined, bool IsJoined);
