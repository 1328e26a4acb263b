namespace Synapse.Storage;

/// <summary>
/// The user directory's tables (docs/user-directory.md): the searchable entries with their words, who is in a public room,
/// who shares a private room with whom, and the events stream position the updater has applied. Only the one updater
/// process writes; any process searches.
/// </summary>
public interface IUserDirectoryStore
{
    /// <summary>The events stream position applied so far, or null when the directory has never been filled.</summary>
    Task<long?> GetStreamPositionAsync(CancellationToken cancellationToken);

    /// <summary>Records the events stream position applied so far.</summary>
    Task SetStreamPositionAsync(long position, CancellationToken cancellationToken);

    /// <summary>
    /// The events stream read for the directory: the <c>m.room.member</c>, <c>m.room.join_rules</c> and
    /// <c>m.room.history_visibility</c> state events with stream ordering in (<paramref name="after"/>,
    /// <paramref name="upTo"/>], oldest first, at most <paramref name="limit"/> (other events are skipped without being read).
    /// </summary>
    Task<IReadOnlyList<DirectoryStateDelta>> GetStateDeltasAsync(long after, long upTo, int limit, CancellationToken cancellationToken);

    /// <summary>Empties every directory table, the stream position included (before a full rebuild).</summary>
    Task ClearAsync(CancellationToken cancellationToken);

    /// <summary>Every room this server knows, in room ID order.</summary>
    Task<IReadOnlyList<string>> GetRoomIdsAsync(CancellationToken cancellationToken);

    /// <summary>What decides a room's part in the directory: its current join rules and history visibility events and its joined members.</summary>
    Task<DirectoryRoomState> GetRoomStateAsync(string roomId, CancellationToken cancellationToken);

    /// <summary>
    /// Local users whose directory entry is out of date, among <paramref name="userIds"/> or, when null, among all local
    /// users: a user with no entry, or whose profile differs from it (<see cref="DirectoryProfileChange.Include"/> true), or a
    /// deactivated or support user who still has one (false).
    /// </summary>
    Task<IReadOnlyList<DirectoryProfileChange>> GetStaleLocalUsersAsync(IReadOnlyCollection<string>? userIds,
        CancellationToken cancellationToken);

    /// <summary>Adds or replaces entries with their search words, in one transaction.</summary>
    Task UpsertEntriesAsync(IReadOnlyCollection<DirectoryEntry> entries, CancellationToken cancellationToken);

    /// <summary>Removes users' entries, words and room rows, in one transaction.</summary>
    Task RemoveUsersAsync(IReadOnlyCollection<string> userIds, CancellationToken cancellationToken);

    /// <summary>
    /// Replaces every room row of <paramref name="roomId"/>: its members in public rooms and its private-room pairs, in one
    /// transaction.
    /// </summary>
    Task ReplaceRoomAsync(string roomId, IReadOnlyCollection<string> publicMembers,
        IReadOnlyCollection<(string UserId, string OtherUserId)> privatePairs, CancellationToken cancellationToken);

    /// <summary>Adds room rows of <paramref name="roomId"/>, keeping those already there.</summary>
    Task AddRoomRowsAsync(string roomId, IReadOnlyCollection<string> publicMembers,
        IReadOnlyCollection<(string UserId, string OtherUserId)> privatePairs, CancellationToken cancellationToken);

    /// <summary>Removes a user from a room: its public-room row and every private-room pair of that room it is part of.</summary>
    Task RemoveUserFromRoomAsync(string roomId, string userId, CancellationToken cancellationToken);

    /// <summary>Whether the user has any room row left (a remote user without one leaves the directory).</summary>
    Task<bool> IsInAnyRoomAsync(string userId, CancellationToken cancellationToken);

    /// <summary>
    /// Entries visible to <see cref="DirectorySearch.Searcher"/> of which every word of <see cref="DirectorySearch.Words"/>
    /// prefixes a search word, best first (sharing a private room with the searcher, then more exact words, then with a
    /// display name, then by user ID), at most <see cref="DirectorySearch.Limit"/>.
    /// </summary>
    Task<IReadOnlyList<DirectoryEntry>> SearchAsync(DirectorySearch search, CancellationToken cancellationToken);
}

/// <summary>A state event that may change the directory.</summary>
/// <param name="StreamOrdering">Its position in the events stream.</param>
/// <param name="RoomId">Its room.</param>
/// <param name="Type">Its type.</param>
/// <param name="StateKey">Its state key (the member, for a membership).</param>
public sealed record DirectoryStateDelta(long StreamOrdering, string RoomId, string Type, string StateKey);

/// <summary>A room as the directory sees it.</summary>
/// <param name="JoinRulesEventId">The current <c>m.room.join_rules</c> event, if any.</param>
/// <param name="HistoryVisibilityEventId">The current <c>m.room.history_visibility</c> event, if any.</param>
/// <param name="JoinedMembers">Joined user → their current member event, in user ID order.</param>
public sealed record DirectoryRoomState(string? JoinRulesEventId, string? HistoryVisibilityEventId,
    IReadOnlyList<(string UserId, string EventId)> JoinedMembers);

/// <summary>A local user whose entry must change.</summary>
/// <param name="UserId">The user.</param>
/// <param name="DisplayName">The profile's display name.</param>
/// <param name="AvatarUrl">The profile's avatar URL.</param>
/// <param name="Include">False when the user must leave the directory (deactivated, or a support user).</param>
public sealed record DirectoryProfileChange(string UserId, string? DisplayName, string? AvatarUrl, bool Include);

/// <summary>An entry of the directory.</summary>
/// <param name="UserId">The user.</param>
/// <param name="DisplayName">The display name shown, if any.</param>
/// <param name="AvatarUrl">The avatar URL shown, if any.</param>
/// <param name="Words">The search words (lower case); empty when read back by a search.</param>
public sealed record DirectoryEntry(string UserId, string? DisplayName, string? AvatarUrl, IReadOnlyCollection<string> Words);

/// <summary>A search.</summary>
/// <param name="Searcher">Who searches (private-room pairs are theirs).</param>
/// <param name="Words">The term's words, lower case; each must prefix one of an entry's words.</param>
/// <param name="Limit">The most entries to return.</param>
/// <param name="AllUsers">Every entry is visible (<c>user_directory.search_all_users</c>), not only room-mates and users in public rooms.</param>
public sealed record DirectorySearch(string Searcher, IReadOnlyList<string> Words, int Limit, bool AllUsers);
