using System.Data.Common;
using System.Globalization;
using Synapse.Configuration;
using Synapse.Identifiers;

namespace Synapse.Storage;

/// <summary><see cref="ICrossSigningStore"/> over both engines (the SQL is common to both).</summary>
internal sealed class CrossSigningStore : ICrossSigningStore
{
    private const int InListChunk = 500;

    private readonly SynapseDatabase _db;

    public CrossSigningStore(SynapseDatabase db) => _db = db;

    public Task<IReadOnlyDictionary<string, CrossSigningKeySet>> GetKeysAsync(IReadOnlyCollection<string> userIds,
        CancellationToken cancellationToken) =>
        _db.ReadAsync<IReadOnlyDictionary<string, CrossSigningKeySet>>(async (c, ct) =>
        {
            var keys = new Dictionary<string, CrossSigningKeySet>(StringComparer.Ordinal);
            foreach (var chunk in userIds.Distinct(StringComparer.Ordinal).Chunk(InListChunk))
            {
                await using var query = WithList(c.Command($"""
                    SELECT user_id, key_type, public_key, key_json FROM e2e_cross_signing_keys
                    WHERE user_id IN ({InList("@u", chunk.Length)})
                    """), "@u", chunk);
                await using var reader = await query.ExecuteReaderAsync(ct).ConfigureAwait(false);
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    if (ParseUsage(reader.GetString(1)) is not { } usage)
                    {
                        continue;
                    }

                    string user = reader.GetString(0);
                    var key = new CrossSigningKey(usage, reader.GetString(2), reader.GetString(3));
                    var set = keys.GetValueOrDefault(user) ?? CrossSigningKeySet.None;
                    keys[user] = usage switch
                    {
                        CrossSigningUsage.Master => set with { Master = key },
                        CrossSigningUsage.SelfSigning => set with { SelfSigning = key },
                        _ => set with { UserSigning = key },
                    };
                }
            }

            return keys;
        }, cancellationToken);

    public Task<bool> SetKeysAsync(UserId userId, IReadOnlyList<CrossSigningKey> keys, MasterKeyPrecondition? precondition,
        long streamId, CancellationToken cancellationToken) =>
        _db.WriteAsync(async (c, t, ct) =>
        {
            if (precondition is not null)
            {
                if (_db.Engine == DatabaseEngine.Postgres)
                {
                    // PostgreSQL runs writers concurrently: serialise this user's conditional writes (a row lock would not
                    // cover a first upload, which has no row to lock). SQLite writers are serialised already.
                    await using var take = c.Command("SELECT pg_advisory_xact_lock(hashtextextended(@user, 9))", t)
                        .With("@user", userId.Value);
                    await take.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }

                await using var current = c.Command(
                    "SELECT public_key FROM e2e_cross_signing_keys WHERE user_id = @user AND key_type = 'master'", t)
                    .With("@user", userId.Value);
                string? master = await current.ExecuteScalarAsync(ct).ConfigureAwait(false) as string;
                if (!string.Equals(master, precondition.MasterPublicKey, StringComparison.Ordinal))
                {
                    return false;
                }
            }

            await using var upsert = c.Command("""
                INSERT INTO e2e_cross_signing_keys (user_id, key_type, public_key, key_json, stream_id)
                VALUES (@user, @type, @public, @json, @stream)
                ON CONFLICT (user_id, key_type) DO UPDATE
                SET public_key = excluded.public_key, key_json = excluded.key_json, stream_id = excluded.stream_id
                """, t).With("@user", userId.Value).With("@type", "").With("@public", "").With("@json", "").With("@stream", streamId);
            foreach (var key in keys)
            {
                upsert.Parameters["@type"].Value = UsageName(key.Usage);
                upsert.Parameters["@public"].Value = key.PublicKey;
                upsert.Parameters["@json"].Value = key.Json;
                await upsert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            await DeviceListStore.InsertRowsAsync(c, t, streamId, userId.Value, [.. keys.Select(k => k.PublicKey).Distinct(StringComparer.Ordinal)], ct)
                .ConfigureAwait(false);
            return true;
        }, cancellationToken);

    public Task AddSignaturesAsync(UserId targetUserId, IReadOnlyList<CrossSigningSignature> signatures, long streamId,
        CancellationToken cancellationToken)
    {
        if (signatures.Any(s => !string.Equals(s.TargetUserId, targetUserId.Value, StringComparison.Ordinal)))
        {
            throw new ArgumentException("Every signature must be on a key of the target user.", nameof(signatures));
        }

        // One statement for all of them. A statement may not update a row twice: the last signature of a signer's key on a
        // target key wins, as when they were written one by one.
        var rows = new Dictionary<(string, string, string), string>();
        foreach (var signature in signatures)
        {
            rows[(signature.SignerUserId, signature.SignerKeyId, signature.TargetKeyId)] = signature.Signature;
        }

        return _db.WriteAsync(async (c, t, ct) =>
        {
            if (rows.Count > 0)
            {
                await using var upsert = c.Command($"""
                    INSERT INTO e2e_cross_signing_signatures (signer_user_id, signer_key_id, target_user_id, target_key_id, signature)
                    SELECT w.c0, w.c1, @target, w.c2, w.c3 FROM {SqlJsonRows.Table(c, "@rows", 4)} w WHERE true
                    ON CONFLICT (target_user_id, target_key_id, signer_user_id, signer_key_id) DO UPDATE
                    SET signature = excluded.signature
                    """, t).With("@target", targetUserId.Value)
                    .With("@rows", SqlJsonRows.Json(rows.Select(r => new[] { r.Key.Item1, r.Key.Item2, r.Key.Item3, r.Value })));
                await upsert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            await DeviceListStore.InsertRowsAsync(c, t, streamId, targetUserId.Value,
                [.. signatures.Select(s => s.TargetKeyId).Distinct(StringComparer.Ordinal)], ct).ConfigureAwait(false);
            return 0;
        }, cancellationToken);
    }

    public Task<IReadOnlyList<CrossSigningSignature>> GetSignaturesAsync(IReadOnlyCollection<string> targetUserIds, string viewer,
        CancellationToken cancellationToken) =>
        _db.ReadAsync<IReadOnlyList<CrossSigningSignature>>(async (c, ct) =>
        {
            var signatures = new List<CrossSigningSignature>();
            foreach (var chunk in targetUserIds.Distinct(StringComparer.Ordinal).Chunk(InListChunk))
            {
                await using var query = WithList(c.Command($"""
                    SELECT signer_user_id, signer_key_id, target_user_id, target_key_id, signature
                    FROM e2e_cross_signing_signatures
                    WHERE target_user_id IN ({InList("@u", chunk.Length)})
                      AND (signer_user_id = target_user_id OR signer_user_id = @viewer)
                    ORDER BY target_user_id, target_key_id, signer_user_id, signer_key_id
                    """), "@u", chunk).With("@viewer", viewer);
                await using var reader = await query.ExecuteReaderAsync(ct).ConfigureAwait(false);
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    signatures.Add(new CrossSigningSignature(reader.GetString(0), reader.GetString(1), reader.GetString(2),
                        reader.GetString(3), reader.GetString(4)));
                }
            }

            return signatures;
        }, cancellationToken);

    /// <summary>
    /// Deletes, inside a caller's transaction, the signatures on <paramref name="deviceIds"/> of <paramref name="userId"/> and
    /// those the devices made (on the user's master key): the account store calls it when it deletes devices, so that a device
    /// created again under the same ID, with new keys, does not show signatures of the old ones.
    /// </summary>
    internal static async Task DeleteDeviceSignaturesAsync(DbConnection c, DbTransaction t, string userId,
        IReadOnlyCollection<string> deviceIds, CancellationToken ct)
    {
        if (deviceIds.Count == 0)
        {
            return;
        }

        // The second statement finds the devices' own signatures through the signer index (migration 0011).
        await using var onDevices = c.Command($"""
            DELETE FROM e2e_cross_signing_signatures
            WHERE target_user_id = @user AND target_key_id IN (SELECT c0 FROM {SqlJsonRows.Table(c, "@keys", 1)} w)
            """, t).With("@user", userId).With("@keys", SqlJsonRows.Json(deviceIds));
        await onDevices.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        await using var byDevices = c.Command($"""
            DELETE FROM e2e_cross_signing_signatures
            WHERE signer_user_id = @user AND signer_key_id IN (SELECT c0 FROM {SqlJsonRows.Table(c, "@keys", 1)} w)
            """, t).With("@user", userId).With("@keys", SqlJsonRows.Json(deviceIds.Select(d => "ed25519:" + d)));
        await byDevices.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private static string UsageName(CrossSigningUsage usage) => usage switch
    {
        CrossSigningUsage.Master => "master",
        CrossSigningUsage.SelfSigning => "self_signing",
        _ => "user_signing",
    };

    private static CrossSigningUsage? ParseUsage(string name) => name switch
    {
        "master" => CrossSigningUsage.Master,
        "self_signing" => CrossSigningUsage.SelfSigning,
        "user_signing" => CrossSigningUsage.UserSigning,
        _ => null,
    };

    private static string InList(string prefix, int count) =>
        string.Join(",", Enumerable.Range(0, count).Select(i => prefix + i.ToString(CultureInfo.InvariantCulture)));

    private static DbCommand WithList(DbCommand command, string prefix, string[] values)
    {
        for (int i = 0; i < values.Length; i++)
        {
            command.With(prefix + i.ToString(CultureInfo.InvariantCulture), values[i]);
        }

        return command;
    }
}
