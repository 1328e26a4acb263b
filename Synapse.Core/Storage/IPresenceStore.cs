namespace Synapse.Storage;

/// <summary>
/// Users' presence (Spec: Client-Server API, "Presence"): one row per user, rewritten with a new position of the
/// <c>presence</c> stream whenever a change is worth telling room-mates about. The presence service on main is the
/// only writer.
/// </summary>
public interface IPresenceStore
{
    /// <summary>The user's row, or null when their presence was never recorded.</summary>
    Task<PresenceRecord?> GetAsync(string userId, CancellationToken cancellationToken);

    /// <summary>Every row whose state is not <c>offline</c> (loaded at start, so that their timers run again).</summary>
    Task<IReadOnlyList<PresenceRecord>> GetNotOfflineAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Inserts or replaces the rows, in one transaction; a stored row with a higher stream position than the new one
    /// is kept (a late batched write never undoes a newer change).
    /// </summary>
    Task UpsertAsync(IReadOnlyCollection<PresenceRecord> records, CancellationToken cancellationToken);

    /// <summary>Rows with stream position in (<paramref name="after"/>, <paramref name="upTo"/>], in position order, at most <paramref name="limit"/>.</summary>
    Task<IReadOnlyList<PresenceRecord>> GetUpdatesAsync(long after, long upTo, int limit, CancellationToken cancellationToken);

    /// <summary>
    /// Rows with stream position in (<paramref name="after"/>, <paramref name="upTo"/>] of <paramref name="observer"/>
    /// and of the users who share a joined room with them.
    /// </summary>
    Task<IReadOnlyList<PresenceRecord>> GetVisibleChangesAsync(string observer, long after, long upTo,
        CancellationToken cancellationToken);

    /// <summary>The rows that are not <c>offline</c> of <paramref name="observer"/> and of the users who share a joined room with them.</summary>
    Task<IReadOnlyList<PresenceRecord>> GetVisibleAsync(string observer, CancellationToken cancellationToken);

    /// <summary>
    /// The rows that are not <c>offline</c> of users who became room-mates of <paramref name="observer"/> through
    /// membership events with stream ordering in (<paramref name="afterEvent"/>, <paramref name="upToEvent"/>]: they
    /// joined one of the observer's rooms, or the observer joined theirs. A false positive (a display name change)
    /// only sends a presence event again.
    /// </summary>
    Task<IReadOnlyList<PresenceRecord>> GetNewlySharedAsync(string observer, long afterEvent, long upToEvent,
        CancellationToken cancellationToken);

    /// <summary>Whether the two users are both joined to at least one common room.</summary>
    Task<bool> SharesRoomAsync(string userId, string otherUserId, CancellationToken cancellationToken);
}

/// <summary>A user's presence as stored.</summary>
/// <param name="UserId">The user.</param>
/// <param name="State"><c>online</c>, <c>unavailable</c> or <c>offline</c>.</param>
/// <param name="StatusMsg">The status message, if any.</param>
/// <param name="LastActiveTs">When the user last did something pro-active (ms since the epoch; 0 = never).</param>
/// <param name="LastUserSyncTs">When the user last synced (ms since the epoch; 0 = never).</param>
/// <param name="CurrentlyActive">Whether room-mates were told the user is currently active.</param>
/// <param name="StreamId">The <c>presence</c> stream position of the last change room-mates were told about.</param>
public sealed record PresenceRecord(string UserId, string State, string? StatusMsg, long LastActiveTs, long LastUserSyncTs,
    bool CurrentlyActive, long StreamId);
