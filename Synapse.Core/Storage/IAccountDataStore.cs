namespace Synapse.Storage;

/// <summary>
/// Account data (Spec: Client-Server API, "Client Config"): per user, global or per room, one JSON object per type.
/// Every write carries the <c>account_data</c> stream position it was allocated.
/// </summary>
public interface IAccountDataStore
{
    /// <summary>
    /// Stores (or replaces) one entry at <paramref name="streamId"/>; <paramref name="roomId"/> null for global data.
    /// A row already written at a later position is kept: the position order decides which write wins.
    /// </summary>
    Task SetAsync(string userId, string? roomId, string type, string content, long streamId, CancellationToken cancellationToken);

    /// <summary>The content (JSON object text) of one entry, or null when unset.</summary>
    Task<string?> GetAsync(string userId, string? roomId, string type, CancellationToken cancellationToken);

    /// <summary>
    /// The user's entries last written in (<paramref name="after"/>, <paramref name="upTo"/>], in position order;
    /// <paramref name="after"/> 0 gives every entry.
    /// </summary>
    Task<IReadOnlyList<AccountDataEntry>> GetForUserAsync(string userId, long after, long upTo, CancellationToken cancellationToken);

    /// <summary>Entries of every user last written in (<paramref name="after"/>, <paramref name="upTo"/>], at most <paramref name="limit"/>, in position order.</summary>
    Task<IReadOnlyList<AccountDataEntry>> GetUpdatesAsync(long after, long upTo, int limit, CancellationToken cancellationToken);
}

/// <summary>One account data entry.</summary>
/// <param name="UserId">The owner.</param>
/// <param name="RoomId">The room, or null for global account data.</param>
/// <param name="Type">The event type.</param>
/// <param name="Content">The content, a JSON object as text.</param>
/// <param name="StreamId">The <c>account_data</c> stream position of its last write.</param>
public sealed record AccountDataEntry(string UserId, string? RoomId, string Type, string Content, long StreamId);
