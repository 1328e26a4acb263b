using System.Data.Common;

namespace Synapse.Storage;

/// <summary><see cref="IAccountDataStore"/> over both engines. Global entries are stored with room_id <c>''</c>.</summary>
internal sealed class AccountDataStore : IAccountDataStore
{
    private const string Columns = "user_id, room_id, type, content, stream_id";

    private readonly SynapseDatabase _db;

    public AccountDataStore(SynapseDatabase db) => _db = db;

    public Task SetAsync(string userId, string? roomId, string type, string content, long streamId, CancellationToken cancellationToken) =>
        _db.WriteAsync(async (c, t, ct) =>
        {
            // Positions are allocated before the transaction, so two writers of one entry may commit out of order;
            // the later position must win, or a reader that already passed it would never see the final value.
            await using var upsert = c.Command("""
                INSERT INTO account_data (user_id, room_id, type, content, stream_id) VALUES (@user, @room, @type, @content, @stream)
                ON CONFLICT (user_id, room_id, type) DO UPDATE SET content = excluded.content, stream_id = excluded.stream_id
                WHERE account_data.stream_id < excluded.stream_id
                """, t)
                .With("@user", userId).With("@room", roomId ?? "").With("@type", type).With("@content", content).With("@stream", streamId);
            return await upsert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }, cancellationToken);

    public Task<string?> GetAsync(string userId, string? roomId, string type, CancellationToken cancellationToken) =>
        _db.ReadAsync(async (c, ct) =>
        {
            await using var query = c.Command("SELECT content FROM account_data WHERE user_id = @user AND room_id = @room AND type = @type")
                .With("@user", userId).With("@room", roomId ?? "").With("@type", type);
            return await query.ExecuteScalarAsync(ct).ConfigureAwait(false) as string;
        }, cancellationToken);

    public Task<IReadOnlyList<AccountDataEntry>> GetForUserAsync(string userId, long after, long upTo, CancellationToken cancellationToken) =>
        _db.ReadAsync<IReadOnlyList<AccountDataEntry>>(async (c, ct) =>
        {
            await using var query = c.Command($"""
                SELECT {Columns} FROM account_data
                WHERE user_id = @user AND stream_id > @after AND stream_id <= @upTo
                ORDER BY stream_id
                """).With("@user", userId).With("@after", after).With("@upTo", upTo);
            return await ReadAllAsync(query, ct).ConfigureAwait(false);
        }, cancellationToken);

    public Task<IReadOnlyList<AccountDataEntry>> GetUpdatesAsync(long after, long upTo, int limit, CancellationToken cancellationToken) =>
        _db.ReadAsync<IReadOnlyList<AccountDataEntry>>(async (c, ct) =>
        {
            await using var query = c.Command($"""
                SELECT {Columns} FROM account_data
                WHERE stream_id > @after AND stream_id <= @upTo
                ORDER BY stream_id
                LIMIT @limit
                """).With("@after", after).With("@upTo", upTo).With("@limit", limit);
            return await ReadAllAsync(query, ct).ConfigureAwait(false);
        }, cancellationToken);

    private static async Task<List<AccountDataEntry>> ReadAllAsync(DbCommand query, CancellationToken cancellationToken)
    {
        await using var reader = await query.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var entries = new List<AccountDataEntry>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            string room = reader.GetString(1);
            entries.Add(new AccountDataEntry(reader.GetString(0), room.Length == 0 ? null : room, reader.GetString(2),
                reader.GetString(3), reader.GetInt64(4)));
        }

        return entries;
    }
}
