namespace Synapse.Storage;

/// <summary>
/// Receipts (Spec: Client-Server API, "Receipts"): the one event each (room, receipt type, user, thread) points at.
/// Every write carries the <c>receipts</c> stream position it was allocated.
/// </summary>
public interface IReceiptStore
{
    /// <summary>
    /// Stores (or moves) a receipt. A receipt already written at a later position is kept: the position order decides
    /// which write wins.
    /// </summary>
    Task SetAsync(ReceiptRecord receipt, CancellationToken cancellationToken);

    /// <summary>The receipt of one (room, type, user, thread), or null. <paramref name="threadId"/> null is unthreaded.</summary>
    Task<ReceiptRecord?> GetAsync(string roomId, string receiptType, string userId, string? threadId, CancellationToken cancellationToken);

    /// <summary>
    /// Receipts of these rooms last written in (<paramref name="after"/>, <paramref name="upTo"/>], in position order;
    /// <paramref name="after"/> 0 gives every receipt of the rooms.
    /// </summary>
    Task<IReadOnlyList<ReceiptRecord>> GetForRoomsAsync(IReadOnlyCollection<string> roomIds, long after, long upTo,
        CancellationToken cancellationToken);

    /// <summary>Receipts of every room last written in (<paramref name="after"/>, <paramref name="upTo"/>], at most <paramref name="limit"/>, in position order.</summary>
    Task<IReadOnlyList<ReceiptRecord>> GetUpdatesAsync(long after, long upTo, int limit, CancellationToken cancellationToken);
}

/// <summary>One receipt.</summary>
/// <param name="RoomId">The room.</param>
/// <param name="ReceiptType"><c>m.read</c> or <c>m.read.private</c>.</param>
/// <param name="UserId">Whose receipt it is.</param>
/// <param name="ThreadId">The thread (<c>main</c> or a thread root's event ID), or null for an unthreaded receipt.</param>
/// <param name="EventId">The event acknowledged.</param>
/// <param name="Data">The receipt's data as JSON object text (<c>ts</c>, <c>thread_id</c>).</param>
/// <param name="StreamId">The <c>receipts</c> stream position of its last write.</param>
public sealed record ReceiptRecord(string RoomId, string ReceiptType, string UserId, string? ThreadId, string EventId, string Data,
    long StreamId);
