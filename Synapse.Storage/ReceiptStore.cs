using System.Data.Common;
using System.Globalization;

namespace Synapse.Storage;

/// <summary><see cref="IReceiptStore"/> over both engines. Unthreaded receipts are stored with thread_id <c>''</c>.</summary>
internal sealed class ReceiptStore : IReceiptStore
{
    private const string Columns = "room_id, receipt_type, user_id, thread_id, event_id, data, stream_id";

    /// <summary>Rooms per query when reading many rooms: well under both engines' parameter limits.</summary>
    private const int RoomsPerQuery = 500;

    private readonly SynapseDatabase _db;

    public ReceiptStore(SynapseDatabase db) => _db = db;

    public Task SetAsync(ReceiptRecord receipt, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(receipt);
        return _db.WriteAsync(async (c, t, ct) =>
        {
            // Positions are allocated before the transaction; when two writes of one receipt commit out of order the
            // later position wins, so a reader that already passed it never misses the final value.
            await using var upsert = c.Command("""
                INSERT INTO receipts (room_id, receipt_type, user_id, thread_id, event_id, data, stream_id)
                VALUES (@room, @type, @user, @thread, @event, @data, @stream)
                ON CONFLICT (room_id, receipt_type, user_id, thread_id)
                DO UPDATE SET event_id = excluded.event_id, data = excluded.data, stream_id = excluded.stream_id
                WHERE receipts.stream_id < excluded.stream_id
                """, t)
                .With("@room", receipt.RoomId).With("@type", receipt.ReceiptType).With("@user", receipt.UserId)
                .With("@thread", receipt.ThreadId ?? "").With("@event", receipt.EventId).With("@data", receipt.Data)
                .With("@stream", receipt.StreamId);
            return await upsert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }, cancellationToken);
    }

    public Task<ReceiptRecord?> GetAsync(string roomId, string receiptType, string userId, string? threadId,
        CancellationToken cancellationToken) =>
        _db.ReadAsync(async (c, ct) =>
        {
            await using var query = c.Command($"""
                SELECT {Columns} FROM receipts
                WHERE room_id = @room AND receipt_type = @type AND user_id = @user AND thread_id = @thread
                """).With("@room", roomId).With("@type", receiptType).With("@user", userId).With("@thread", threadId ?? "");
            var found = await ReadAllAsync(query, ct).ConfigureAwait(false);
            return found.Count == 0 ? null : found[0];
        }, cancellationToken);

    public Task<IReadOnlyList<ReceiptRecord>> GetForRoomsAsync(IReadOnlyCollection<string> roomIds, long after, long upTo,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(roomIds);
        return _db.ReadAsync<IReadOnlyList<ReceiptRecord>>(async (c, ct) =>
        {
            var receipts = new List<ReceiptRecord>();
            foreach (var chunk in roomIds.Distinct(StringComparer.Ordinal).Chunk(RoomsPerQuery))
            {
                string rooms = string.Join(", ", Enumerable.Range(0, chunk.Length).Select(i => "@r" + i.ToString(CultureInfo.InvariantCulture)));
                await using var query = c.Command($"""
                    SELECT {Columns} FROM receipts
                    WHERE room_id IN ({rooms}) AND stream_id > @after AND stream_id <= @upTo
                    """).With("@after", after).With("@upTo", upTo);
                for (int i = 0; i < chunk.Length; i++)
                {
                    query.With("@r" + i.ToString(CultureInfo.InvariantCulture), chunk[i]);
                }

                receipts.AddRange(await ReadAllAsync(query, ct).ConfigureAwait(false));
            }

            receipts.Sort((a, b) => a.StreamId.CompareTo(b.StreamId));
            return receipts;
        }, cancellationToken);
    }

    public Task<IReadOnlyList<ReceiptRecord>> GetUpdatesAsync(long after, long upTo, int limit, CancellationToken cancellationToken) =>
        _db.ReadAsync<IReadOnlyList<ReceiptRecord>>(async (c, ct) =>
        {
            await using var query = c.Command($"""
                SELECT {Columns} FROM receipts
                WHERE stream_id > @after AND stream_id <= @upTo
                ORDER BY stream_id
                LIMIT @limit
                """).With("@after", after).With("@upTo", upTo).With("@limit", limit);
            return await ReadAllAsync(query, ct).ConfigureAwait(false);
        }, cancellationToken);

    private static async Task<List<ReceiptRecord>> ReadAllAsync(DbCommand query, CancellationToken cancellationToken)
    {
        await using var reader = await query.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var receipts = new List<ReceiptRecord>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            string thread = reader.GetString(3);
            receipts.Add(new ReceiptRecord(reader.GetString(0), reader.GetString(1), reader.GetString(2), thread.Length == 0 ? null : thread,
                reader.GetString(4), reader.GetString(5), reader.GetInt64(6)));
        }

        return receipts;
    }
}
