using System.Data.Common;
using System.Text.Json;
using Synapse.Configuration;
using Synapse.Identifiers;

namespace Synapse.Storage;

/// <summary>
/// <see cref="IE2eKeyStore"/> over both engines. Lists of any length travel as one JSON array parameter that the SQL unpacks
/// into rows (<see cref="JsonRows"/>), so a claim or query for a thousand devices is one statement, not a thousand.
/// </summary>
internal sealed class E2eKeyStore : IE2eKeyStore
{
    private readonly SynapseDatabase _db;

    public E2eKeyStore(SynapseDatabase db) => _db = db;

    public Task<string?> GetDeviceKeysAsync(UserId userId, DeviceId deviceId, CancellationToken cancellationToken) =>
        _db.ReadAsync((c, ct) => ReadDeviceKeysAsync(c, null, userId.Value, deviceId.Value, ct), cancellationToken);

    public Task<IReadOnlyList<StoredDeviceKeys>> GetDeviceKeysAsync(IReadOnlyCollection<UserId> userIds,
        CancellationToken cancellationToken)
    {
        if (userIds.Count == 0)
        {
            return Task.FromResult<IReadOnlyList<StoredDeviceKeys>>([]);
        }

        return _db.ReadAsync<IReadOnlyList<StoredDeviceKeys>>(async (c, ct) =>
        {
            await using var query = c.Command($"""
                SELECT k.user_id, k.device_id, k.key_json, d.display_name FROM e2e_device_keys k
                JOIN devices d ON d.user_id = k.user_id AND d.device_id = k.device_id
                WHERE k.user_id IN (SELECT c0 FROM {JsonRows("@users", 1)} w)
                ORDER BY k.user_id, k.device_id
                """).With("@users", RowsJson(userIds.Select(u => new[] { u.Value })));
            await using var reader = await query.ExecuteReaderAsync(ct).ConfigureAwait(false);
            var keys = new List<StoredDeviceKeys>();
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                keys.Add(new StoredDeviceKeys(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetNullableString(3)));
            }

            return keys;
        }, cancellationToken);
    }

    public Task<KeyUploadResult> UploadKeysAsync(KeyUpload upload, long? deviceListStreamId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(upload);
        if (upload.DeviceKeysJson is not null && deviceListStreamId is null)
        {
            throw new ArgumentException("Writing identity keys needs a device-lists position.", nameof(deviceListStreamId));
        }

        string user = upload.UserId.Value;
        string device = upload.DeviceId.Value;
        return _db.WriteAsync(async (c, t, ct) =>
        {
            // PostgreSQL runs writers concurrently: two uploads of one device must not both pass the checks below on the
            // same old state (two different first identity keys, or one one-time key ID with two contents, would then both
            // be answered 200). SQLite writers are serialised already.
            if (_db.Engine == DatabaseEngine.Postgres)
            {
                await using var take = c.Command("SELECT pg_advisory_xact_lock(hashtextextended(@key, 7))", t)
                    .With("@key", user + "|" + device);
                await take.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            // Every check comes before the first write: a rejected upload stores nothing.
            if (upload.DeviceKeysJson is not null
                && await ReadDeviceKeysAsync(c, t, user, device, ct).ConfigureAwait(false) != upload.ExpectedDeviceKeysJson)
            {
                return new KeyUploadResult(KeyUploadStatus.DeviceKeysChanged, false, null, null);
            }

            if (upload.OneTimeKeys.Count > 0)
            {
                string rows = RowsJson(upload.OneTimeKeys.Select(k => new[] { k.Algorithm, k.KeyId, k.KeyJson }));
                var wanted = upload.OneTimeKeys.ToDictionary(k => (k.Algorithm, k.KeyId), k => k.KeyJson);
                await using (var existing = c.Command($"""
                    SELECT o.algorithm, o.key_id, o.key_json FROM e2e_one_time_keys o
                    JOIN {JsonRows("@rows", 2)} w ON o.algorithm = w.c0 AND o.key_id = w.c1
                    WHERE o.user_id = @user AND o.device_id = @device
                    """, t).With("@rows", rows).With("@user", user).With("@device", device))
                {
                    await using var reader = await existing.ExecuteReaderAsync(ct).ConfigureAwait(false);
                    while (await reader.ReadAsync(ct).ConfigureAwait(false))
                    {
                        var id = (reader.GetString(0), reader.GetString(1));
                        if (wanted.TryGetValue(id, out string? json) && json != reader.GetString(2))
                        {
                            return new KeyUploadResult(KeyUploadStatus.OneTimeKeyConflict, false, id.Item1 + ":" + id.Item2, null);
                        }
                    }
                }

                // "WHERE true" lets SQLite parse ON CONFLICT after INSERT ... SELECT.
                await using var insert = c.Command($"""
                    INSERT INTO e2e_one_time_keys (user_id, device_id, algorithm, key_id, key_json, ts)
                    SELECT @user, @device, w.c0, w.c1, w.c2, @ts FROM {JsonRows("@rows", 3)} w WHERE true
                    ON CONFLICT (user_id, device_id, algorithm, key_id) DO NOTHING
                    """, t).With("@rows", rows).With("@user", user).With("@device", device).With("@ts", upload.Ts);
                await insert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            if (upload.FallbackKeys.Count > 0)
            {
                // The same key uploaded again keeps its used flag: it is not a new key.
                await using var fallback = c.Command("""
                    INSERT INTO e2e_fallback_keys (user_id, device_id, algorithm, key_id, key_json, used)
                    VALUES (@user, @device, @algorithm, @id, @json, FALSE)
                    ON CONFLICT (user_id, device_id, algorithm) DO UPDATE
                    SET key_id = excluded.key_id, key_json = excluded.key_json, used = FALSE
                    WHERE e2e_fallback_keys.key_id <> excluded.key_id OR e2e_fallback_keys.key_json <> excluded.key_json
                    """, t).With("@user", user).With("@device", device).With("@algorithm", "").With("@id", "").With("@json", "");
                foreach (var key in upload.FallbackKeys)
                {
                    fallback.Parameters["@algorithm"].Value = key.Algorithm;
                    fallback.Parameters["@id"].Value = key.KeyId;
                    fallback.Parameters["@json"].Value = key.KeyJson;
                    await fallback.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }
            }

            if (upload.DeviceKeysJson is not null)
            {
                await using (var keys = c.Command("""
                    INSERT INTO e2e_device_keys (user_id, device_id, key_json, ts) VALUES (@user, @device, @json, @ts)
                    ON CONFLICT (user_id, device_id) DO UPDATE SET key_json = excluded.key_json, ts = excluded.ts
                    """, t).With("@user", user).With("@device", device).With("@json", upload.DeviceKeysJson).With("@ts", upload.Ts))
                {
                    await keys.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }

                await DeviceListStore.InsertRowsAsync(c, t, deviceListStreamId!.Value, user, [device], ct).ConfigureAwait(false);
            }

            var counts = await ReadCountsAsync(c, t, user, device, ct).ConfigureAwait(false);
            return new KeyUploadResult(KeyUploadStatus.Stored, upload.DeviceKeysJson is not null, null, counts);
        }, cancellationToken);
    }

    public Task<KeyCounts> GetKeyCountsAsync(UserId userId, DeviceId deviceId, CancellationToken cancellationToken) =>
        _db.ReadAsync((c, ct) => ReadCountsAsync(c, null, userId.Value, deviceId.Value, ct), cancellationToken);

    public Task<IReadOnlyList<ClaimedKey>> ClaimKeysAsync(IReadOnlyCollection<KeyClaim> claims, CancellationToken cancellationToken)
    {
        if (claims.Count == 0)
        {
            return Task.FromResult<IReadOnlyList<ClaimedKey>>([]);
        }

        return _db.WriteAsync<IReadOnlyList<ClaimedKey>>(async (c, t, ct) =>
        {
            string wanted = RowsJson(claims.Select(k => new[] { k.UserId, k.DeviceId, k.Algorithm }));

            // PostgreSQL runs claims in parallel: SKIP LOCKED makes a claim pass over a key another transaction is taking and
            // take the next one (a key deleted by a committed claim is passed over too), so no key is handed out twice and no
            // claim falls back while keys are left. SQLite has one writer: the claims run one after the other.
            string claimSql = _db.Engine == DatabaseEngine.Postgres
                ? $"""
                  WITH picked AS (
                      SELECT k.user_id, k.device_id, k.algorithm, k.key_id FROM {JsonRows("@wanted", 3)} w
                      CROSS JOIN LATERAL (
                          SELECT user_id, device_id, algorithm, key_id FROM e2e_one_time_keys
                          WHERE user_id = w.c0 AND device_id = w.c1 AND algorithm = w.c2
                          ORDER BY key_id LIMIT 1 FOR UPDATE SKIP LOCKED) k)
                  DELETE FROM e2e_one_time_keys o USING picked p
                  WHERE o.user_id = p.user_id AND o.device_id = p.device_id AND o.algorithm = p.algorithm AND o.key_id = p.key_id
                  RETURNING o.user_id, o.device_id, o.algorithm, o.key_id, o.key_json
                  """
                : $"""
                  DELETE FROM e2e_one_time_keys WHERE rowid IN (
                      SELECT (SELECT k.rowid FROM e2e_one_time_keys k
                              WHERE k.user_id = w.c0 AND k.device_id = w.c1 AND k.algorithm = w.c2
                              ORDER BY k.key_id LIMIT 1)
                      FROM {JsonRows("@wanted", 3)} w)
                  RETURNING user_id, device_id, algorithm, key_id, key_json
                  """;
            var claimed = new List<ClaimedKey>(claims.Count);
            await using (var claim = c.Command(claimSql, t).With("@wanted", wanted))
            {
                await ReadClaimedAsync(claim, claimed, isFallback: false, ct).ConfigureAwait(false);
            }

            if (claimed.Count == claims.Count)
            {
                return claimed;
            }

            var got = claimed.Select(k => (k.UserId, k.DeviceId)).ToHashSet();
            string rest = RowsJson(claims.Where(k => !got.Contains((k.UserId, k.DeviceId)))
                .Select(k => new[] { k.UserId, k.DeviceId, k.Algorithm }));
            await using (var fallback = c.Command($"""
                UPDATE e2e_fallback_keys SET used = TRUE
                WHERE (user_id, device_id, algorithm) IN (SELECT c0, c1, c2 FROM {JsonRows("@rest", 3)} w)
                RETURNING user_id, device_id, algorithm, key_id, key_json
                """, t).With("@rest", rest))
            {
                await ReadClaimedAsync(fallback, claimed, isFallback: true, ct).ConfigureAwait(false);
            }

            return claimed;
        }, cancellationToken);
    }

    /// <summary>
    /// A derived table of <paramref name="columns"/> text columns <c>c0</c>, <c>c1</c>... unpacked from a parameter holding a
    /// JSON array of arrays (<see cref="RowsJson"/>).
    /// </summary>
    private string JsonRows(string parameter, int columns)
    {
        var names = Enumerable.Range(0, columns);
        return _db.Engine == DatabaseEngine.Postgres
            ? $"(SELECT {string.Join(", ", names.Select(i => $"value->>{i} AS c{i}"))} FROM json_array_elements(CAST({parameter} AS json)))"
            : $"(SELECT {string.Join(", ", names.Select(i => $"json_extract(value, '$[{i}]') AS c{i}"))} FROM json_each({parameter}))";
    }

    private static string RowsJson(IEnumerable<string[]> rows) => JsonSerializer.Serialize(rows.ToArray());

    private static async Task<string?> ReadDeviceKeysAsync(DbConnection c, DbTransaction? t, string user, string device,
        CancellationToken ct)
    {
        await using var query = c.Command("SELECT key_json FROM e2e_device_keys WHERE user_id = @user AND device_id = @device", t)
            .With("@user", user).With("@device", device);
        return await query.ExecuteScalarAsync(ct).ConfigureAwait(false) as string;
    }

    private static async Task<KeyCounts> ReadCountsAsync(DbConnection c, DbTransaction? t, string user, string device,
        CancellationToken ct)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        await using (var query = c.Command("""
            SELECT algorithm, COUNT(*) FROM e2e_one_time_keys WHERE user_id = @user AND device_id = @device GROUP BY algorithm
            """, t).With("@user", user).With("@device", device))
        {
            await using var reader = await query.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                counts[reader.GetString(0)] = checked((int)reader.GetInt64(1));
            }
        }

        var unused = new List<string>();
        await using (var query = c.Command("""
            SELECT algorithm FROM e2e_fallback_keys WHERE user_id = @user AND device_id = @device AND used = FALSE
            ORDER BY algorithm
            """, t).With("@user", user).With("@device", device))
        {
            await using var reader = await query.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                unused.Add(reader.GetString(0));
            }
        }

        return new KeyCounts(counts, unused);
    }

    private static async Task ReadClaimedAsync(DbCommand command, List<ClaimedKey> claimed, bool isFallback, CancellationToken ct)
    {
        await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            claimed.Add(new ClaimedKey(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3),
                reader.GetString(4), isFallback));
        }
    }
}
