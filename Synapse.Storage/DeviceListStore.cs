using System.Data.Common;
using System.Text.Json;
using Npgsql;
using Synapse.Identifiers;

namespace Synapse.Storage;

/// <summary>
/// <see cref="IDeviceListStore"/> over both engines. The membership questions read the events tables directly: they are
/// about who shares a room with whom at two stream positions, which only the sync of device lists asks.
/// </summary>
internal sealed class DeviceListStore : IDeviceListStore
{
    private readonly SynapseDatabase _db;

    public DeviceListStore(SynapseDatabase db) => _db = db;

    public Task AddChangesAsync(long streamId, UserId userId, IReadOnlyCollection<DeviceId> deviceIds,
        CancellationToken cancellationToken) =>
        _db.WriteAsync(async (c, t, ct) =>
        {
            await InsertRowsAsync(c, t, streamId, userId.Value, [.. deviceIds.Select(d => d.Value)], ct).ConfigureAwait(false);
            return 0;
        }, cancellationToken);

    public Task<IReadOnlyList<string>> GetChangedUsersSharingRoomsAsync(UserId userId, long after, long upTo,
        CancellationToken cancellationToken) =>
        _db.ReadAsync<IReadOnlyList<string>>(async (c, ct) =>
        {
            // Filtered here, not by the caller: on a busy server most changes in a range are strangers', and a user in large
            // rooms has tens of thousands of room-mates who changed nothing. Neither list leaves the database.
            await using var query = c.Command($"""
                SELECT u.user_id FROM (SELECT DISTINCT user_id FROM device_lists_stream
                                       WHERE stream_id > @after AND stream_id <= @upto) u
                WHERE u.user_id = @me OR {SharesRoomWithMe("u.user_id")}
                """).With("@me", userId.Value).With("@after", after).With("@upto", upTo);
            return await ReadStringsAsync(query, ct).ConfigureAwait(false);
        }, cancellationToken);

    public Task<IReadOnlyList<(long StreamId, string UserId, string DeviceId)>> GetRowsAsync(long after, long upTo, int limit,
        CancellationToken cancellationToken) =>
        _db.ReadAsync<IReadOnlyList<(long, string, string)>>(async (c, ct) =>
        {
            await using var query = c.Command("""
                SELECT stream_id, user_id, device_id FROM device_lists_stream
                WHERE stream_id IN (SELECT DISTINCT stream_id FROM device_lists_stream
                                    WHERE stream_id > @after AND stream_id <= @upto ORDER BY stream_id LIMIT @limit)
                ORDER BY stream_id, user_id, device_id
                """).With("@after", after).With("@upto", upTo).With("@limit", limit);
            await using var reader = await query.ExecuteReaderAsync(ct).ConfigureAwait(false);
            var rows = new List<(long, string, string)>();
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                rows.Add((reader.GetInt64(0), reader.GetString(1), reader.GetString(2)));
            }

            return rows;
        }, cancellationToken);

    public Task<IReadOnlySet<string>> GetUsersSharingRoomsAsync(UserId userId, IReadOnlyCollection<string> candidates,
        CancellationToken cancellationToken)
    {
        if (candidates.Count == 0)
        {
            return Task.FromResult<IReadOnlySet<string>>(new HashSet<string>(StringComparer.Ordinal));
        }

        return _db.ReadAsync<IReadOnlySet<string>>(async (c, ct) =>
        {
            await using var query = c.Command($"""
                SELECT w.c0 FROM {SqlJsonRows.Table(c, "@users", 1)} w WHERE {SharesRoomWithMe("w.c0")}
                """).With("@me", userId.Value).With("@users", SqlJsonRows.Json(candidates.Distinct(StringComparer.Ordinal)));
            return (await ReadStringsAsync(query, ct).ConfigureAwait(false)).ToHashSet(StringComparer.Ordinal);
        }, cancellationToken);
    }

    public Task<IReadOnlySet<string>> GetJoinedMembersAsync(IReadOnlyCollection<string> roomIds, CancellationToken cancellationToken)
    {
        if (roomIds.Count == 0)
        {
            return Task.FromResult<IReadOnlySet<string>>(new HashSet<string>(StringComparer.Ordinal));
        }

        return _db.ReadAsync<IReadOnlySet<string>>(async (c, ct) =>
        {
            await using var query = c.Command($"""
                SELECT DISTINCT state_key FROM current_state_events
                WHERE room_id IN (SELECT c0 FROM {SqlJsonRows.Table(c, "@rooms", 1)} w)
                  AND type = 'm.room.member' AND membership = 'join'
                """).With("@rooms", SqlJsonRows.Json(roomIds));
            return (await ReadStringsAsync(query, ct).ConfigureAwait(false)).ToHashSet(StringComparer.Ordinal);
        }, cancellationToken);
    }

    public Task<IReadOnlyList<MembershipTransition>> GetMembershipTransitionsAsync(UserId userId, long afterEvent, long upToEvent,
        CancellationToken cancellationToken) =>
        _db.ReadAsync<IReadOnlyList<MembershipTransition>>(async (c, ct) =>
        {
            // One row per (room, member) changed in the range: its last membership event in the range, and its last one at or
            // before the start. Local rooms never fork, so stream order is the order in which the state changed.
            await using var query = c.Command("""
                SELECT r.room_id, r.state_key, r.json,
                    (SELECT p.json FROM events p
                     WHERE p.room_id = r.room_id AND p.type = 'm.room.member' AND p.state_key = r.state_key
                       AND p.stream_ordering <= @after
                     ORDER BY p.stream_ordering DESC LIMIT 1)
                FROM events r
                WHERE r.type = 'm.room.member' AND r.stream_ordering > @after AND r.stream_ordering <= @upto
                  AND r.room_id IN (
                      SELECT room_id FROM current_state_events
                      WHERE type = 'm.room.member' AND state_key = @me AND membership = 'join'
                      UNION
                      SELECT room_id FROM events
                      WHERE type = 'm.room.member' AND state_key = @me AND stream_ordering > @after AND stream_ordering <= @upto)
                  AND NOT EXISTS (
                      SELECT 1 FROM events l
                      WHERE l.room_id = r.room_id AND l.type = 'm.room.member' AND l.state_key = r.state_key
                        AND l.stream_ordering > r.stream_ordering AND l.stream_ordering <= @upto)
                ORDER BY r.stream_ordering
                """).With("@me", userId.Value).With("@after", afterEvent).With("@upto", upToEvent);
            await using var reader = await query.ExecuteReaderAsync(ct).ConfigureAwait(false);
            var transitions = new List<MembershipTransition>();
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                bool wasJoined = !reader.IsDBNull(3) && IsJoin(reader.GetString(3));
                bool isJoined = IsJoin(reader.GetString(2));
                if (wasJoined != isJoined)
                {
                    transitions.Add(new MembershipTransition(reader.GetString(0), reader.GetString(1), wasJoined, isJoined));
                }
            }

            return transitions;
        }, cancellationToken);

    /// <summary>
    /// Writes device-list rows inside a caller's transaction (the account, key and cross-signing stores' device changes use
    /// it too): one statement for any number of devices.
    /// </summary>
    internal static async Task InsertRowsAsync(DbConnection c, DbTransaction t, long streamId, string userId,
        IReadOnlyCollection<string> deviceIds, CancellationToken ct)
    {
        if (deviceIds.Count == 0)
        {
            return;
        }

        await using var insert = c.Command($"""
            INSERT INTO device_lists_stream (stream_id, user_id, device_id)
            SELECT @stream, @user, w.c0 FROM {SqlJsonRows.Table(c, "@devices", 1)} w
            """, t).With("@stream", streamId).With("@user", userId).With("@devices", SqlJsonRows.Json(deviceIds));
        await insert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    /// <summary>
    /// An SQL condition: the user in <paramref name="userColumn"/> is joined now to a room <c>@me</c> is joined to now.
    /// </summary>
    /// <remarks>
    /// Evaluated per user, as index lookups over the rooms of the two users, whatever the size of the rooms. <c>OFFSET 0</c>
    /// keeps PostgreSQL from turning the test into a semi-join or a hashed subplan, which would first list every member of
    /// every room of <c>@me</c> (tens of thousands for a user in large rooms) to keep a handful of them.
    /// </remarks>
    private static string SharesRoomWithMe(string userColumn) => $"""
        EXISTS (SELECT 1 FROM current_state_events mine
                JOIN current_state_events theirs ON theirs.room_id = mine.room_id
                WHERE mine.type = 'm.room.member' AND mine.state_key = @me AND mine.membership = 'join'
                  AND theirs.type = 'm.room.member' AND theirs.state_key = {userColumn} AND theirs.membership = 'join'
                LIMIT 1 OFFSET 0)
        """;

    private static bool IsJoin(string pduJson)
    {
        using var document = JsonDocument.Parse(pduJson);
        return document.RootElement.TryGetProperty("content", out var content)
            && content.ValueKind == JsonValueKind.Object
            && content.TryGetProperty("membership", out var membership)
            && membership.ValueKind == JsonValueKind.String
            && membership.ValueEquals("join");
    }

    private static async Task<IReadOnlyList<string>> ReadStringsAsync(DbCommand query, CancellationToken ct)
    {
        await using var reader = await query.ExecuteReaderAsync(ct).ConfigureAwait(false);
        var values = new List<string>();
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            values.Add(reader.GetString(0));
        }

        return values;
    }
}

/// <summary>
/// Lists of any length as one statement parameter: a JSON array of arrays that the SQL unpacks into rows, so that a
/// statement about a thousand devices is one statement with one parameter, not a thousand (nor a chunked IN list).
/// </summary>
/// <remarks>
/// The device-list, account and cross-signing stores share it (the engine comes from the connection, so that helpers running
/// inside another store's transaction need no engine); <see cref="E2eKeyStore"/> has the same SQL privately.
/// </remarks>
internal static class SqlJsonRows
{
    /// <summary>
    /// A derived table of <paramref name="columns"/> text columns <c>c0</c>, <c>c1</c>... unpacked from
    /// <paramref name="parameter"/>, which holds <see cref="Json(IEnumerable{string[]})"/>, in the SQL of
    /// <paramref name="connection"/>'s engine.
    /// </summary>
    public static string Table(DbConnection connection, string parameter, int columns)
    {
        var names = Enumerable.Range(0, columns);
        return connection is NpgsqlConnection
            ? $"(SELECT {string.Join(", ", names.Select(i => $"value->>{i} AS c{i}"))} FROM json_array_elements(CAST({parameter} AS json)))"
            : $"(SELECT {string.Join(", ", names.Select(i => $"json_extract(value, '$[{i}]') AS c{i}"))} FROM json_each({parameter}))";
    }

    /// <summary>The parameter value for rows of several columns.</summary>
    public static string Json(IEnumerable<string[]> rows) => JsonSerializer.Serialize(rows.ToArray());

    /// <summary>The parameter value for rows of one column (<c>c0</c>).</summary>
    public static string Json(IEnumerable<string> values) => Json(values.Select(v => new[] { v }));
}
