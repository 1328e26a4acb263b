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

    /// <summary>Marks a room forgotten (or not) for a user.</summary>
    Task SetForgottenAsync(string userId, string roomId, bool forgotten, CancellationToken cancellationToken);

    /// <summary>Whether the user forgot the room.</summary>
    Task<bool> IsForgottenAsync(string userId, string roomId, CancellationToken cancellationToken);
}
