using System.Data.Common;
using System.Globalization;
using System.Text;
using Synapse.Configuration;
using Synapse.Identifiers;

namespace Synapse.Storage;

/// <summary>
/// <see cref="IKeyBackupStore"/> over both engines. Key writes lock the version row first (PostgreSQL <c>FOR UPDATE</c>;
/// SQLite has one writer anyway), so concurrent uploads to one backup compare against each other's results and the
/// version's etag and count stay exact.
/// </summary>
internal sealed class KeyBackupStore : IKeyBackupStore
{
    // Sessions per statement: a read binds 2 parameters per session, an insert 6, plus the user and version; a few
    // thousand parameters, well under the limits of PostgreSQL (65,535) and of the bundled SQLite (32,766).
    private const int ReadChunk = 1000;
    private const int InsertChunk = 500;

    private const string SessionColumns = "room_id, session_id, first_message_index, forwarded_count, is_verified, session_data";

    private readonly SynapseDatabase _db;

    public KeyBackupStore(SynapseDatabase db) => _db = db;

    private string ForUpdate => _db.Engine == DatabaseEngine.Postgres ? " FOR UPDATE" : "";

    public Task<long> CreateVersionAsync(UserId userId, string algorithm, string authDataJson, CancellationToken cancellationToken) =>
        _db.WriteAsync(async (c, t, ct) =>
        {
            // Two creations may race on PostgreSQL: the loser's insert waits for the winner, finds the number taken and does
            // nothing; each statement sees the rows committed before it, so the next attempt takes the following number.
            while (true)
            {
                await using var next = c.Command("""
                    SELECT COALESCE(MAX(version), 0) + 1 FROM e2e_room_keys_versions WHERE user_id = @user
                    """, t).With("@user", userId.Value);
                long version = Convert.ToInt64(await next.ExecuteScalarAsync(ct).ConfigureAwait(false), CultureInfo.InvariantCulture);
                await using var insert = c.Command("""
                    INSERT INTO e2e_room_keys_versions (user_id, version, algorithm, auth_data) VALUES (@user, @version, @algorithm, @auth)
                    ON CONFLICT (user_id, version) DO NOTHING
                    """, t).With("@user", userId.Value).With("@version", version).With("@algorithm", algorithm).With("@auth", authDataJson);
                if (await insert.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 1)
                {
                    return version;
                }
            }
        }, cancellationToken);

    public Task<KeyBackupVersion?> GetVersionAsync(UserId userId, long? version, CancellationToken cancellationToken) =>
        _db.ReadAsync(async (c, ct) =>
        {
            await using var query = version is { } number
                ? c.Command("""
                    SELECT version, algorithm, auth_data, etag, key_count FROM e2e_room_keys_versions
                    WHERE user_id = @user AND version = @version AND deleted = FALSE
                    """).With("@user", userId.Value).With("@version", number)
                : c.Command("""
                    SELECT version, algorithm, auth_data, etag, key_count FROM e2e_room_keys_versions
                    WHERE user_id = @user AND deleted = FALSE ORDER BY version DESC LIMIT 1
                    """).With("@user", userId.Value);
            await using var reader = await query.ExecuteReaderAsync(ct).ConfigureAwait(false);
            return await reader.ReadAsync(ct).ConfigureAwait(false)
                ? new KeyBackupVersion(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetInt64(3), reader.GetInt64(4))
                : null;
        }, cancellationToken);

    public Task<bool> UpdateVersionAsync(UserId userId, long version, string authDataJson, CancellationToken cancellationToken) =>
        _db.WriteAsync(async (c, t, ct) =>
        {
            await using var update = c.Command("""
                UPDATE e2e_room_keys_versions SET auth_data = @auth WHERE user_id = @user AND version = @version AND deleted = FALSE
                """, t).With("@auth", authDataJson).With("@user", userId.Value).With("@version", version);
            return await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 1;
        }, cancellationToken);

    public Task<bool> DeleteVersionAsync(UserId userId, long version, CancellationToken cancellationToken) =>
        _db.WriteAsync(async (c, t, ct) =>
        {
            await using var mark = c.Command("""
                UPDATE e2e_room_keys_versions SET deleted = TRUE, key_count = 0, etag = etag + 1
                WHERE user_id = @user AND version = @version
                """, t).With("@user", userId.Value).With("@version", version);
            if (await mark.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 0)
            {
                return false;
            }

            await using var keys = c.Command("DELETE FROM e2e_room_keys WHERE user_id = @user AND version = @version", t)
                .With("@user", userId.Value).With("@version", version);
            await keys.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            return true;
        }, cancellationToken);

    public Task<KeyBackupWriteResult> PutKeysAsync(UserId userId, long version, IReadOnlyCollection<KeyBackupSession> sessions,
        Func<KeyBackupSession, KeyBackupSession, bool> replaces, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(sessions);
        ArgumentNullException.ThrowIfNull(replaces);
        return _db.WriteAsync(async (c, t, ct) =>
        {
            // Only the newest version takes keys (Spec: "Keys can only be written to the most recently created version").
            long current, etag, count;
            await using (var lockCurrent = c.Command($"""
                SELECT version, etag, key_count FROM e2e_room_keys_versions
                WHERE user_id = @user AND deleted = FALSE ORDER BY version DESC LIMIT 1{ForUpdate}
                """, t).With("@user", userId.Value))
            {
                await using var reader = await lockCurrent.ExecuteReaderAsync(ct).ConfigureAwait(false);
                if (!await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    return new KeyBackupWriteResult(KeyBackupWriteStatus.UnknownVersion);
                }

                (current, etag, count) = (reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2));
            }

            if (current != version)
            {
                return await VersionExistsAsync(c, t, userId, version, ct).ConfigureAwait(false)
                    ? new KeyBackupWriteResult(KeyBackupWriteStatus.NotCurrentVersion, CurrentVersion: current)
                    : new KeyBackupWriteResult(KeyBackupWriteStatus.UnknownVersion);
            }

            var stored = await ReadStoredAsync(c, t, userId, version, sessions, ct).ConfigureAwait(false);
            var winners = new List<KeyBackupSession>();
            int added = 0;
            foreach (var session in sessions)
            {
                if (!stored.TryGetValue((session.RoomId, session.SessionId), out var existing))
                {
                    winners.Add(session);
                    added++;
                }
                else if (replaces(existing, session))
                {
                    winners.Add(session);
                }
            }

            if (winners.Count == 0)
            {
                return new KeyBackupWriteResult(KeyBackupWriteStatus.Written, etag, count);
            }

            foreach (var chunk in winners.Chunk(InsertChunk))
            {
                await UpsertAsync(c, t, userId, version, chunk, ct).ConfigureAwait(false);
            }

            return await BumpAsync(c, t, userId, version, added, ct).ConfigureAwait(false);
        }, cancellationToken);
    }

    public Task<IReadOnlyList<KeyBackupSession>?> GetKeysAsync(UserId userId, long version, string? roomId, string? sessionId,
        CancellationToken cancellationToken) =>
        _db.ReadAsync<IReadOnlyList<KeyBackupSession>?>(async (c, ct) =>
        {
            if (!await VersionExistsAsync(c, null, userId, version, ct).ConfigureAwait(false))
            {
                return null;
            }

            await using var query = WithScope(c.Command($"""
                SELECT {SessionColumns} FROM e2e_room_keys
                WHERE user_id = @user AND version = @version{Scope(roomId, sessionId)}
                ORDER BY room_id, session_id
                """).With("@user", userId.Value).With("@version", version), roomId, sessionId);
            await using var reader = await query.ExecuteReaderAsync(ct).ConfigureAwait(false);
            var sessions = new List<KeyBackupSession>();
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                sessions.Add(new KeyBackupSession(reader.GetString(0), reader.GetString(1), reader.GetInt64(2), reader.GetInt64(3),
                    reader.GetBoolean(4), reader.GetString(5)));
            }

            return sessions;
        }, cancellationToken);

    public Task<KeyBackupVersion?> DeleteKeysAsync(UserId userId, long version, string? roomId, string? sessionId,
        CancellationToken cancellationToken) =>
        _db.WriteAsync(async (c, t, ct) =>
        {
            KeyBackupVersion? found;
            await using (var lockVersion = c.Command($"""
                SELECT version, algorithm, auth_data, etag, key_count FROM e2e_room_keys_versions
                WHERE user_id = @user AND version = @version AND deleted = FALSE{ForUpdate}
                """, t).With("@user", userId.Value).With("@version", version))
            {
                await using var reader = await lockVersion.ExecuteReaderAsync(ct).ConfigureAwait(false);
                if (!await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    return null;
                }

                found = new KeyBackupVersion(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetInt64(3),
                    reader.GetInt64(4));
            }

            await using var delete = WithScope(c.Command($"""
                DELETE FROM e2e_room_keys WHERE user_id = @user AND version = @version{Scope(roomId, sessionId)}
                """, t).With("@user", userId.Value).With("@version", version), roomId, sessionId);
            int deleted = await delete.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            if (deleted == 0)
            {
                return found;
            }

            var bumped = await BumpAsync(c, t, userId, version, -deleted, ct).ConfigureAwait(false);
            return found with { Etag = bumped.Etag, Count = bumped.Count };
        }, cancellationToken);

    private static string Scope(string? roomId, string? sessionId) =>
        (roomId is null ? "" : " AND room_id = @room") + (sessionId is null ? "" : " AND session_id = @session");

    private static async Task<bool> VersionExistsAsync(DbConnection c, DbTransaction? t, UserId userId, long version,
        CancellationToken ct)
    {
        await using var query = c.Command("""
            SELECT 1 FROM e2e_room_keys_versions WHERE user_id = @user AND version = @version AND deleted = FALSE
            """, t).With("@user", userId.Value).With("@version", version);
        return await query.ExecuteScalarAsync(ct).ConfigureAwait(false) is not null;
    }

    /// <summary>The stored keys of the uploaded sessions that the version already holds, a thousand sessions per query.</summary>
    private static async Task<Dictionary<(string Room, string Session), KeyBackupSession>> ReadStoredAsync(DbConnection c,
        DbTransaction t, UserId userId, long version, IReadOnlyCollection<KeyBackupSession> sessions, CancellationToken ct)
    {
        var stored = new Dictionary<(string, string), KeyBackupSession>();
        foreach (var chunk in sessions.Chunk(ReadChunk))
        {
            // A VALUES list names its columns column1, column2 on both engines.
            var sql = new StringBuilder("""
                SELECT k.room_id, k.session_id, k.first_message_index, k.forwarded_count, k.is_verified, k.session_data
                FROM e2e_room_keys k JOIN (VALUES
                """);
            for (int i = 0; i < chunk.Length; i++)
            {
                sql.Append(CultureInfo.InvariantCulture, $"{(i == 0 ? "" : ",")}(@r{i}, @s{i})");
            }

            sql.Append(") AS u ON k.room_id = u.column1 AND k.session_id = u.column2 WHERE k.user_id = @user AND k.version = @version");
            await using var query = c.Command(sql.ToString(), t).With("@user", userId.Value).With("@version", version);
            for (int i = 0; i < chunk.Length; i++)
            {
                query.With(Name("@r", i), chunk[i].RoomId).With(Name("@s", i), chunk[i].SessionId);
            }

            await using var reader = await query.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                var session = new KeyBackupSession(reader.GetString(0), reader.GetString(1), reader.GetInt64(2), reader.GetInt64(3),
                    reader.GetBoolean(4), reader.GetString(5));
                stored[(session.RoomId, session.SessionId)] = session;
            }
        }

        return stored;
    }

    private static async Task UpsertAsync(DbConnection c, DbTransaction t, UserId userId, long version,
        KeyBackupSession[] chunk, CancellationToken ct)
    {
        var sql = new StringBuilder($"INSERT INTO e2e_room_keys (user_id, version, {SessionColumns}) VALUES ");
        for (int i = 0; i < chunk.Length; i++)
        {
            sql.Append(CultureInfo.InvariantCulture, $"{(i == 0 ? "" : ",")}(@user, @version, @r{i}, @s{i}, @f{i}, @c{i}, @v{i}, @d{i})");
        }

        sql.Append("""
             ON CONFLICT (user_id, version, room_id, session_id) DO UPDATE SET
                first_message_index = excluded.first_message_index, forwarded_count = excluded.forwarded_count,
                is_verified = excluded.is_verified, session_data = excluded.session_data
            """);
        await using var insert = c.Command(sql.ToString(), t).With("@user", userId.Value).With("@version", version);
        for (int i = 0; i < chunk.Length; i++)
        {
            var s = chunk[i];
            insert.With(Name("@r", i), s.RoomId).With(Name("@s", i), s.SessionId).With(Name("@f", i), s.FirstMessageIndex)
                .With(Name("@c", i), s.ForwardedCount).With(Name("@v", i), s.IsVerified).With(Name("@d", i), s.SessionDataJson);
        }

        await insert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Advances the version's etag and moves its count by <paramref name="countDelta"/>; returns both afterwards.</summary>
    private static async Task<KeyBackupWriteResult> BumpAsync(DbConnection c, DbTransaction t, UserId userId, long version,
        long countDelta, CancellationToken ct)
    {
        await using (var update = c.Command("""
            UPDATE e2e_room_keys_versions SET etag = etag + 1, key_count = key_count + @delta WHERE user_id = @user AND version = @version
            """, t).With("@delta", countDelta).With("@user", userId.Value).With("@version", version))
        {
            await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        await using var read = c.Command("""
            SELECT etag, key_count FROM e2e_room_keys_versions WHERE user_id = @user AND version = @version
            """, t).With("@user", userId.Value).With("@version", version);
        await using var reader = await read.ExecuteReaderAsync(ct).ConfigureAwait(false);
        await reader.ReadAsync(ct).ConfigureAwait(false);
        return new KeyBackupWriteResult(KeyBackupWriteStatus.Written, reader.GetInt64(0), reader.GetInt64(1));
    }

    private static DbCommand WithScope(DbCommand command, string? roomId, string? sessionId)
    {
        if (roomId is not null)
        {
            command.With("@room", roomId);
        }

        return sessionId is null ? command : command.With("@session", sessionId);
    }

    private static string Name(string prefix, int index) => prefix + index.ToString(CultureInfo.InvariantCulture);
}
