using System.Globalization;

namespace Synapse.Storage;

/// <summary><see cref="IRoomDirectoryStore"/> over both engines.</summary>
internal sealed class RoomDirectoryStore : IRoomDirectoryStore
{
    private readonly SynapseDatabase _db;

    public RoomDirectoryStore(SynapseDatabase db) => _db = db;

    public Task<bool> CreateAliasAsync(string alias, string roomId, string creator, CancellationToken cancellationToken) =>
        _db.WriteAsync(async (c, t, ct) =>
        {
            await using var insert = c.Command("""
                INSERT INTO room_aliases (room_alias, room_id, creator) VALUES (@alias, @room, @creator)
                ON CONFLICT (room_alias) DO NOTHING
                """, t).With("@alias", alias).With("@room", roomId).With("@creator", creator);
            return await insert.ExecuteNonQueryAsync(ct).ConfigureAwait(false) > 0;
        }, cancellationToken);

    public Task<(string RoomId, string Creator)?> GetAliasAsync(string alias, CancellationToken cancellationToken) =>
        _db.ReadAsync(async (c, ct) =>
        {
            await using var query = c.Command("SELECT room_id, creator FROM room_aliases WHERE room_alias = @alias")
                .With("@alias", alias);
            await using var reader = await query.ExecuteReaderAsync(ct).ConfigureAwait(false);
            return await reader.ReadAsync(ct).ConfigureAwait(false)
                ? (reader.GetString(0), reader.GetString(1))
                : ((string, string)?)null;
        }, cancellationToken);

    public Task<bool> DeleteAliasAsync(string alias, CancellationToken cancellationToken) =>
        _db.WriteAsync(async (c, t, ct) =>
        {
            await using var delete = c.Command("DELETE FROM room_aliases WHERE room_alias = @alias", t).With("@alias", alias);
            return await delete.ExecuteNonQueryAsync(ct).ConfigureAwait(false) > 0;
        }, cancellationToken);

    public Task<IReadOnlyList<string>> GetAliasesForRoomAsync(string roomId, CancellationToken cancellationToken) =>
        _db.ReadAsync<IReadOnlyList<string>>(async (c, ct) =>
        {
            await using var query = c.Command("SELECT room_alias FROM room_aliases WHERE room_id = @room ORDER BY room_alias")
                .With("@room", roomId);
            await using var reader = await query.ExecuteReaderAsync(ct).ConfigureAwait(false);
            var aliases = new List<string>();
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                aliases.Add(reader.GetString(0));
            }

            return aliases;
        }, cancellationToken);

    public Task SetRoomPublicAsync(string roomId, bool isPublic, CancellationToken cancellationToken) =>
        _db.WriteAsync(async (c, t, ct) =>
        {
            await using var update = c.Command("UPDATE rooms SET is_public = @public WHERE room_id = @room", t)
                .With("@public", isPublic).With("@room", roomId);
            return await update.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }, cancellationToken);

    public Task<IReadOnlyList<string>> GetPublicRoomIdsAsync(CancellationToken cancellationToken) =>
        _db.ReadAsync<IReadOnlyList<string>>(async (c, ct) =>
        {
            await using var query = c.Command("""
                SELECT r.room_id FROM rooms r
                LEFT JOIN current_state_events m ON m.room_id = r.room_id AND m.type = 'm.room.member' AND m.membership = 'join'
                WHERE r.is_public = @yes
                GROUP BY r.room_id
                ORDER BY COUNT(m.state_key) DESC, r.room_id
                """).With("@yes", true);
            await using var reader = await query.ExecuteReaderAsync(ct).ConfigureAwait(false);
            var rooms = new List<string>();
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                rooms.Add(reader.GetString(0));
            }

            return rooms;
        }, cancellationToken);

    public Task<IReadOnlyList<PublishedRoom>> GetPublishedRoomsAsync(IReadOnlyCollection<string> stateTypes,
        CancellationToken cancellationToken) =>
        _db.ReadAsync<IReadOnlyList<PublishedRoom>>(async (c, ct) =>
        {
            // One row per (room, shown state event); rooms without any of those events still appear once.
            string types = stateTypes.Count == 0
                ? "NULL"
                : string.Join(", ", Enumerable.Range(0, stateTypes.Count).Select(i => "@t" + i.ToString(CultureInfo.InvariantCulture)));
            await using var query = c.Command($"""
                SELECT r.room_id,
                       (SELECT COUNT(*) FROM current_state_events m
                        WHERE m.room_id = r.room_id AND m.type = 'm.room.member' AND m.membership = 'join'),
                       s.type, s.event_id
                FROM rooms r
                LEFT JOIN current_state_events s ON s.room_id = r.room_id AND s.state_key = '' AND s.type IN ({types})
                WHERE r.is_public = @yes
                ORDER BY r.room_id
                """).With("@yes", true);
            int index = 0;
            foreach (string type in stateTypes)
            {
                query.With("@t" + index++.ToString(CultureInfo.InvariantCulture), type);
            }

            await using var reader = await query.ExecuteReaderAsync(ct).ConfigureAwait(false);
            var rooms = new List<PublishedRoom>();
            Dictionary<string, string>? state = null;
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                string roomId = reader.GetString(0);
                if (rooms.Count == 0 || rooms[^1].RoomId != roomId)
                {
                    state = new Dictionary<string, string>(StringComparer.Ordinal);
                    rooms.Add(new PublishedRoom(roomId, reader.GetInt64(1), state));
                }

                if (!reader.IsDBNull(2))
                {
                    state![reader.GetString(2)] = reader.GetString(3);
                }
            }

            return rooms;
        }, cancellationToken);

    public Task SetForgottenAsync(string userId, string roomId, bool forgotten, CancellationToken cancellationToken) =>
        _db.WriteAsync(async (c, t, ct) =>
        {
            await using var command = forgotten
                ? c.Command("INSERT INTO room_forgotten (user_id, room_id) VALUES (@user, @room) ON CONFLICT (user_id, room_id) DO NOTHING", t)
                : c.Command("DELETE FROM room_forgotten WHERE user_id = @user AND room_id = @room", t);
            command.With("@user", userId).With("@room", roomId);
            return await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }, cancellationToken);

    public Task<bool> IsForgottenAsync(string userId, string roomId, CancellationToken cancellationToken) =>
        _db.ReadAsync(async (c, ct) =>
        {
            await using var query = c.Command("SELECT 1 FROM room_forgotten WHERE user_id = @user AND room_id = @room")
                .With("@user", userId).With("@room", roomId);
            return await query.ExecuteScalarAsync(ct).ConfigureAwait(false) is not null;
        }, cancellationToken);
}
