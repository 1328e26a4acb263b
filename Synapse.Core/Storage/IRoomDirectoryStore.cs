namespace Synapse.Storage;

/// <summary>Room aliases, the public room directory and per-user "forgotten" rooms.</summary>
public interface IRoomDirectoryStore
{
    /// <summary>Creates an alias; false when it exists already.</summary>
    Task<bool> CreateAliasAsync(string roomAlias, string roomId, string creator, CancellationToken cancellationToken);

    /// <summary>The room and creator of an alias, or null.</summary>
    Task<(string RoomId, string Creator)?> GetAliasAsync(string roomAlias, CancellationToken cancellationToken);

    /// <summary>Deletes an alias; false when it did not exist.</summary>
    Task<bool> DeleteAliasAsync(string roomAlias, CancellationToken cancellationToken);

    /// <summary>The local aliases of a room.</summary>
    Task<IReadOnlyList<string>> GetAliasesForRoomAsync(string roomId, CancellationToken cancellationToken);

    /// <summary>Publishes or unpublishes a room in the directory.</summary>
    Task SetRoomPublicAsync(string roomId, bool isPublic, CancellationToken cancellationToken);

    /// <summary>Public rooms, most joined members first, then by room ID.</summary>
    Task<IReadOnlyList<string>> GetPublicRoomIdsAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Every room published in the directory with its joined member count and the IDs of its current state
    /// events (state key <c>""</c>) of the given types, in one read, in no particular order.
    /// </summary>
    Task<IReadOnlyList<PublishedRoom>> GetPublishedRoomsAsync(IReadOnlyCollection<string> stateTypes,
        CancellationToken cancellationToken);

    /// <summary>Marks a room forgotten (or not) for a user.</summary>
    Task SetForgottenAsync(string userId, string roomId, bool forgotten, CancellationToken cancellationToken);

    /// <summary>Whether the user forgot the room.</summary>
    Task<bool> IsForgottenAsync(string userId, string roomId, CancellationToken cancellationToken);
}

/// <summary>A room in the published room directory, as <see cref="IRoomDirectoryStore.GetPublishedRoomsAsync"/> reads it.</summary>
/// <param name="RoomId">The room.</param>
/// <param name="JoinedMembers">How many users are joined now.</param>
/// <param name="StateEventIds">Event type → ID of the current state event with that type and an empty state key.</param>
public sealed record PublishedRoom(string RoomId, long JoinedMembers, IReadOnlyDictionary<string, string> StateEventIds);
