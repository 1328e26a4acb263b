using System.Text.Json;

namespace Synapse.Storage;

/// <summary><see cref="ICacheInvalidationStore"/> over both engines (the SQL is common to both).</summary>
internal sealed class CacheInvalidationStore : ICacheInvalidationStore
{
    private readonly SynapseDatabase _db;

    public CacheInvalidationStore(SynapseDatabase db) => _db = db;

    public Task AddAsync(long streamId, string cacheName, IReadOnlyList<IReadOnlyList<string>> entries, long ts,
        CancellationToken cancellationToken) =>
        _db.WriteAsync(async (c, t, ct) =>
        {
            await using var insert = c.Command("""
                INSERT INTO cache_invalidations (stream_id, cache_name, keys_json, invalidated_ts)
                VALUES (@stream, @cache, @keys, @ts)
                """, t).With("@stream", streamId).With("@cache", cacheName).With("@keys", "").With("@ts", ts);
            foreach (var keys in entries)
            {
                insert.Parameters["@keys"].Value = JsonSerializer.Serialize(keys);
                await insert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            return 0;
        }, cancellationToken);

    public Task<IReadOnlyList<CacheInvalidation>> GetAsync(long after, long upTo, int limit, CancellationToken cancellationToken) =>
        _db.ReadAsync<IReadOnlyList<CacheInvalidation>>(async (c, ct) =>
        {
            // Whole positions only: the rows of the first `limit` positions after `after`.
            await using var query = c.Command("""
                SELECT stream_id, cache_name, keys_json FROM cache_invalidations
                WHERE stream_id > @after AND stream_id <= @upto AND stream_id IN (
                    SELECT DISTINCT stream_id FROM cache_invalidations
                    WHERE stream_id > @after AND stream_id <= @upto ORDER BY stream_id LIMIT @limit)
                ORDER BY stream_id
                """).With("@after", after).With("@upto", upTo).With("@limit", limit);
            var rows = new List<CacheInvalidation>();
            await using var reader = await query.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                var keys = JsonSerializer.Deserialize<string[]>(reader.GetString(2)) ?? [];
                rows.Add(new CacheInvalidation(reader.GetInt64(0), reader.GetString(1), keys));
            }

            return rows;
        }, cancellationToken);

    public Task<int> DeleteBeforeAsync(long beforeTs, CancellationToken cancellationToken) =>
        _db.WriteAsync(async (c, t, ct) =>
        {
            await using var delete = c.Command("""
                DELETE FROM cache_invalidations
                WHERE invalidated_ts < @before
                  AND stream_id < (SELECT COALESCE(MAX(stream_id), 0) FROM cache_invalidations)
                """, t).With("@before", beforeTs);
            return await delete.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }, cancellationToken);
}
