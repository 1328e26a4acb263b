using System.Data.Common;
using System.Globalization;
using System.Text;
using Synapse.Configuration;

namespace Synapse.Storage;

/// <summary><see cref="IUserDirectoryStore"/> over both engines; only the word prefix match differs (LIKE on PostgreSQL, GLOB on SQLite).</summary>
internal sealed class UserDirectoryStore : IUserDirectoryStore
{
    private readonly SynapseDatabase _db;

    public UserDirectoryStore(SynapseDatabase db) => _db = db;

    public Task<long?> GetStreamPositionAsync(CancellationToken cancellationToken) =>
        _db.ReadAsync(async (c, ct) =>
        {
            await using var query = c.Command("SELECT stream_id FROM user_directory_stream_pos");
            object? value = await query.ExecuteScalarAsync(ct).ConfigureAwait(false);
            return value is null or DBNull ? (long?)null : Convert.ToInt64(value, CultureInfo.InvariantCulture);
        }, cancellationToken);

    public Task SetStreamPositionAsync(long position, CancellationToken cancellationToken) =>
        _db.WriteAsync(async (c, t, ct) =>
        {
            await using var upsert = c.Command("""
                INSERT INTO user_directory_stream_pos (lock, stream_id) VALUES ('X', @pos)
                ON CONFLICT (lock) DO UPDATE SET stream_id = excluded.stream_id
                """, t).With("@pos", position);
            return await upsert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }, cancellationToken);

    public Task<IReadOnlyList<DirectoryStateDelta>> GetStateDeltasAsync(long after, long upTo, int limit,
        CancellationToken cancellationToken) =>
        _db.ReadAsync<IReadOnlyList<DirectoryStateDelta>>(async (c, ct) =>
        {
            await using var query = c.Command("""
                SELECT stream_ordering, room_id, type, state_key FROM events
                WHERE stream_ordering > @after AND stream_ordering <= @upTo AND state_key IS NOT NULL
                  AND type IN ('m.room.member', 'm.room.join_rules', 'm.room.history_visibility')
                ORDER BY stream_ordering LIMIT @limit
                """).With("@after", after).With("@upTo", upTo).With("@limit", limit);
            await using var reader = await query.ExecuteReaderAsync(ct).ConfigureAwait(false);
            var deltas = new List<DirectoryStateDelta>();
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                deltas.Add(new DirectoryStateDelta(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetString(3)));
            }

            return deltas;
        }, cancellationToken);

    public Task ClearAsync(CancellationToken cancellationToken) =>
        _db.WriteAsync(async (c, t, ct) =>
        {
            foreach (string table in (string[])["user_directory_stream_pos", "user_directory_search", "user_directory",
                         "users_in_public_rooms", "users_who_share_private_rooms"])
            {
                await using var delete = c.Command("DELETE FROM " + table, t);
                await delete.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            return 0;
        }, cancellationToken);

    public Task<IReadOnlyList<string>> GetRoomIdsAsync(CancellationToken cancellationToken) =>
        _db.ReadAsync<IReadOnlyList<string>>(async (c, ct) =>
        {
            await using var query = c.Command("SELECT room_id FROM rooms ORDER BY room_id");
            await using var reader = await query.ExecuteReaderAsync(ct).ConfigureAwait(false);
            var rooms = new List<string>();
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                rooms.Add(reader.GetString(0));
            }

            return rooms;
        }, cancellationToken);

    public Task<DirectoryRoomState> GetRoomStateAsync(string roomId, CancellationToken cancellationToken) =>
        _db.ReadAsync(async (c, ct) =>
        {
            await using var query = c.Command("""
                SELECT type, state_key, event_id FROM current_state_events
                WHERE room_id = @room AND ((type = 'm.room.member' AND membership = 'join')
                                           OR (type IN ('m.room.join_rules', 'm.room.history_visibility') AND state_key = ''))
                ORDER BY state_key
                """).With("@room", roomId);
            await using var reader = await query.ExecuteReaderAsync(ct).ConfigureAwait(false);
            string? joinRules = null, historyVisibility = null;
            var members = new List<(string, string)>();
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                switch (reader.GetString(0))
                {
                    case "m.room.join_rules":
                        joinRules = reader.GetString(2);
                        break;
                    case "m.room.history_visibility":
                        historyVisibility = reader.GetString(2);
                        break;
                    default:
                        members.Add((reader.GetString(1), reader.GetString(2)));
                        break;
                }
            }

            // ORDER BY state_key uses the database's collation; the caller relies on ordinal order.
            members.Sort((a, b) => string.CompareOrdinal(a.Item1, b.Item1));
            return new DirectoryRoomState(joinRules, historyVisibility, members);
        }, cancellationToken);

    public Task<IReadOnlyList<DirectoryProfileChange>> GetStaleLocalUsersAsync(IReadOnlyCollection<string>? userIds,
        CancellationToken cancellationToken)
    {
        if (userIds is { Count: 0 })
        {
            return Task.FromResult<IReadOnlyList<DirectoryProfileChange>>([]);
        }

        return _db.ReadAsync<IReadOnlyList<DirectoryProfileChange>>(async (c, ct) =>
        {
            // An empty display name or avatar is stored as absent everywhere, so COALESCE(x, '') compares nulls as equal.
            const string excluded = "(u.is_deactivated = @yes OR COALESCE(u.user_type, '') = 'support')";
            string filter = userIds is null ? "" : "AND u.user_id IN (" + Parameters("@u", userIds.Count) + ")";
            await using var query = c.Command($"""
                SELECT u.user_id, p.displayname, p.avatar_url, CASE WHEN {excluded} THEN 0 ELSE 1 END
                FROM users u
                LEFT JOIN profiles p ON p.user_id = u.user_id
                LEFT JOIN user_directory d ON d.user_id = u.user_id
                WHERE ({excluded} AND d.user_id IS NOT NULL
                       OR NOT {excluded} AND (d.user_id IS NULL
                                             OR COALESCE(d.display_name, '') <> COALESCE(p.displayname, '')
                                             OR COALESCE(d.avatar_url, '') <> COALESCE(p.avatar_url, '')))
                      {filter}
                ORDER BY u.user_id
                """).With("@yes", true);
            if (userIds is not null)
            {
                BindAll(query, "@u", userIds);
            }

            await using var reader = await query.ExecuteReaderAsync(ct).ConfigureAwait(false);
            var changes = new List<DirectoryProfileChange>();
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                changes.Add(new DirectoryProfileChange(reader.GetString(0), reader.GetNullableString(1), reader.GetNullableString(2),
                    Convert.ToInt64(reader.GetValue(3), CultureInfo.InvariantCulture) == 1));
            }

            return changes;
        }, cancellationToken);
    }

    public Task UpsertEntriesAsync(IReadOnlyCollection<DirectoryEntry> entries, CancellationToken cancellationToken) =>
        entries.Count == 0
            ? Task.CompletedTask
            : _db.WriteAsync(async (c, t, ct) =>
            {
                foreach (var entry in entries)
                {
                    await using (var upsert = c.Command("""
                        INSERT INTO user_directory (user_id, display_name, avatar_url) VALUES (@user, @name, @avatar)
                        ON CONFLICT (user_id) DO UPDATE SET display_name = excluded.display_name, avatar_url = excluded.avatar_url
                        """, t).With("@user", entry.UserId).With("@name", entry.DisplayName).With("@avatar", entry.AvatarUrl))
                    {
                        await upsert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                    }

                    await using (var delete = c.Command("DELETE FROM user_directory_search WHERE user_id = @user", t)
                        .With("@user", entry.UserId))
                    {
                        await delete.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                    }

                    await using var insert = c.Command(
                        "INSERT INTO user_directory_search (word, user_id) VALUES (@word, @user) ON CONFLICT (word, user_id) DO NOTHING", t)
                        .With("@word", "").With("@user", entry.UserId);
                    foreach (string word in entry.Words)
                    {
                        insert.Parameters[0].Value = word;
                        await insert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                    }
                }

                return 0;
            }, cancellationToken);

    public Task RemoveUsersAsync(IReadOnlyCollection<string> userIds, CancellationToken cancellationToken) =>
        userIds.Count == 0
            ? Task.CompletedTask
            : _db.WriteAsync(async (c, t, ct) =>
            {
                foreach (string userId in userIds)
                {
                    foreach (string sql in (string[])[
                                 "DELETE FROM user_directory WHERE user_id = @user",
                                 "DELETE FROM user_directory_search WHERE user_id = @user",
                                 "DELETE FROM users_in_public_rooms WHERE user_id = @user",
                                 "DELETE FROM users_who_share_private_rooms WHERE user_id = @user OR other_user_id = @user"])
                    {
                        await using var delete = c.Command(sql, t).With("@user", userId);
                        await delete.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                    }
                }

                return 0;
            }, cancellationToken);

    public Task ReplaceRoomAsync(string roomId, IReadOnlyCollection<string> publicMembers,
        IReadOnlyCollection<(string UserId, string OtherUserId)> privatePairs, CancellationToken cancellationToken) =>
        _db.WriteAsync(async (c, t, ct) =>
        {
            foreach (string sql in (string[])[
                         "DELETE FROM users_in_public_rooms WHERE room_id = @room",
                         "DELETE FROM users_who_share_private_rooms WHERE room_id = @room"])
            {
                await using var delete = c.Command(sql, t).With("@room", roomId);
                await delete.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            await InsertRoomRowsAsync(c, t, roomId, publicMembers, privatePairs, ct).ConfigureAwait(false);
            return 0;
        }, cancellationToken);

    public Task AddRoomRowsAsync(string roomId, IReadOnlyCollection<string> publicMembers,
        IReadOnlyCollection<(string UserId, string OtherUserId)> privatePairs, CancellationToken cancellationToken) =>
        publicMembers.Count == 0 && privatePairs.Count == 0
            ? Task.CompletedTask
            : _db.WriteAsync(async (c, t, ct) =>
            {
                await InsertRoomRowsAsync(c, t, roomId, publicMembers, privatePairs, ct).ConfigureAwait(false);
                return 0;
            }, cancellationToken);

    public Task RemoveUserFromRoomAsync(string roomId, string userId, CancellationToken cancellationToken) =>
        _db.WriteAsync(async (c, t, ct) =>
        {
            foreach (string sql in (string[])[
                         "DELETE FROM users_in_public_rooms WHERE room_id = @room AND user_id = @user",
                         "DELETE FROM users_who_share_private_rooms WHERE room_id = @room AND (user_id = @user OR other_user_id = @user)"])
            {
                await using var delete = c.Command(sql, t).With("@room", roomId).With("@user", userId);
                await delete.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            return 0;
        }, cancellationToken);

    public Task<bool> IsInAnyRoomAsync(string userId, CancellationToken cancellationToken) =>
        _db.ReadAsync(async (c, ct) =>
        {
            await using var query = c.Command("""
                SELECT 1 WHERE EXISTS (SELECT 1 FROM users_in_public_rooms WHERE user_id = @user)
                            OR EXISTS (SELECT 1 FROM users_who_share_private_rooms WHERE user_id = @user OR other_user_id = @user)
                """).With("@user", userId);
            return await query.ExecuteScalarAsync(ct).ConfigureAwait(false) is not null;
        }, cancellationToken);

    public Task<IReadOnlyList<DirectoryEntry>> SearchAsync(DirectorySearch search, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(search);
        if (search.Words.Count == 0 || search.Limit <= 0)
        {
            return Task.FromResult<IReadOnlyList<DirectoryEntry>>([]);
        }

        bool postgres = _db.Engine == DatabaseEngine.Postgres;
        var sql = new StringBuilder("""
            SELECT d.user_id, d.display_name, d.avatar_url FROM user_directory d
            WHERE 1 = 1
            """);
        if (!search.AllUsers)
        {
            sql.Append("""

                AND (EXISTS (SELECT 1 FROM users_in_public_rooms pr WHERE pr.user_id = d.user_id)
                     OR EXISTS (SELECT 1 FROM users_who_share_private_rooms sp WHERE sp.user_id = @searcher AND sp.other_user_id = d.user_id))
                """);
        }

        for (int i = 0; i < search.Words.Count; i++)
        {
            string p = "@p" + i.ToString(CultureInfo.InvariantCulture);
            sql.Append(CultureInfo.InvariantCulture,
                $"\nAND EXISTS (SELECT 1 FROM user_directory_search s WHERE s.user_id = d.user_id AND s.word {(postgres ? "LIKE" : "GLOB")} {p})");
        }

        sql.Append(CultureInfo.InvariantCulture, $"""

            ORDER BY
                CASE WHEN EXISTS (SELECT 1 FROM users_who_share_private_rooms sp
                                  WHERE sp.user_id = @searcher AND sp.other_user_id = d.user_id) THEN 0 ELSE 1 END,
                (SELECT COUNT(*) FROM user_directory_search s WHERE s.user_id = d.user_id AND s.word IN ({Parameters("@w", search.Words.Count)})) DESC,
                CASE WHEN d.display_name IS NULL THEN 1 ELSE 0 END,
                d.user_id{(postgres ? " COLLATE \"C\"" : "")}
            LIMIT @limit
            """);

        return _db.ReadAsync<IReadOnlyList<DirectoryEntry>>(async (c, ct) =>
        {
            await using var query = c.Command(sql.ToString()).With("@searcher", search.Searcher).With("@limit", search.Limit);
            for (int i = 0; i < search.Words.Count; i++)
            {
                string word = search.Words[i];

                // Words are \w runs, so GLOB's * ? [ never occur in them; LIKE's _ does, and is escaped.
                query.With("@p" + i.ToString(CultureInfo.InvariantCulture), postgres ? EscapeLike(word) + "%" : word + "*");
            }

            BindAll(query, "@w", search.Words);
            await using var reader = await query.ExecuteReaderAsync(ct).ConfigureAwait(false);
            var entries = new List<DirectoryEntry>();
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                entries.Add(new DirectoryEntry(reader.GetString(0), reader.GetNullableString(1), reader.GetNullableString(2), []));
            }

            return entries;
        }, cancellationToken);
    }

    private static async Task InsertRoomRowsAsync(DbConnection c, DbTransaction t, string roomId, IReadOnlyCollection<string> publicMembers,
        IReadOnlyCollection<(string UserId, string OtherUserId)> privatePairs, CancellationToken ct)
    {
        if (publicMembers.Count > 0)
        {
            await using var insert = c.Command(
                "INSERT INTO users_in_public_rooms (user_id, room_id) VALUES (@user, @room) ON CONFLICT (user_id, room_id) DO NOTHING", t)
                .With("@user", "").With("@room", roomId);
            foreach (string user in publicMembers)
            {
                insert.Parameters[0].Value = user;
                await insert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }
        }

        if (privatePairs.Count > 0)
        {
            await using var insert = c.Command("""
                INSERT INTO users_who_share_private_rooms (user_id, other_user_id, room_id) VALUES (@user, @other, @room)
                ON CONFLICT (user_id, other_user_id, room_id) DO NOTHING
                """, t).With("@user", "").With("@other", "").With("@room", roomId);
            foreach (var (user, other) in privatePairs)
            {
                insert.Parameters[0].Value = user;
                insert.Parameters[1].Value = other;
                await insert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }
        }
    }

    private static string EscapeLike(string word) =>
        word.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("%", "\\%", StringComparison.Ordinal)
            .Replace("_", "\\_", StringComparison.Ordinal);

    private static string Parameters(string prefix, int count) =>
        string.Join(", ", Enumerable.Range(0, count).Select(i => prefix + i.ToString(CultureInfo.InvariantCulture)));

    private static void BindAll(DbCommand command, string prefix, IEnumerable<string> values)
    {
        int i = 0;
        foreach (string value in values)
        {
            command.With(prefix + i++.ToString(CultureInfo.InvariantCulture), value);
        }
    }
}
