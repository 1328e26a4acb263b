using System.Data.Common;
using System.Globalization;
using System.Text.Json;
using Synapse.Identifiers;

namespace Synapse.Storage;

/// <summary>
/// <see cref="IDeviceListStore"/> over both engines. The membership questions read the events tables directly: they are
/// about who shares a room with whom at two stream positions, which only the sync of device lists asks.
/// </summary>
internal sealed class DeviceListStore : IDeviceListStore
{
    private const int InListChunk = 500;

    private readonly SynapseDatabase _db;

    public DeviceListStore(SynapseDatabase db) => _db = db;

    public Task AddChangesAsync(long streamId, UserId userId, IReadOnlyCollection<DeviceId> deviceIds,
        CancellationToken cancellationToken) =>
        _db.WriteAsync(async (c, t, ct) =>
        {
            await InsertRowsAsync(c, t, streamId, userId.Value, [.. deviceIds.Select(d => d.Value)], ct).ConfigureAwait(false);
            return 0;
        }, cancellationToken);

    public Task<IReadOnlyList<string>> GetChangedUsersAsync(long after, long upTo, CancellationToken cancellationToken) =>
        _db.ReadAsync<IReadOnlyList<string>>(async (c, ct) =>
        {
            await using var query = c.Command("""
                SELECT DISTINCT user_id FROM device_lists_stream WHERE stream_id > @after AND stream_id <= @upto
                """).With("@after", after).With("@upto", upTo);
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

    public Task<IReadOnlySet<string>> GetUsersSharingRoomsAsync(UserId userId, CancellationToken cancellationToken) =>
        _db.ReadAsync<IReadOnlySet<string>>(async (c, ct) =>
        {
            await using var query = c.Command("""
                SELECT DISTINCT b.state_key FROM current_state_events a
                JOIN current_state_events b ON b.room_id = a.room_id
                WHERE a.type = 'm.room.member' AND a.state_key = @me AND a.membership = 'join'
                  AND b.type = 'm.room.member' AND b.membership = 'join'
                """).With("@me", userId.Value);
            return (await ReadStringsAsync(query, ct).ConfigureAwait(false)).ToHashSet(StringComparer.Ordinal);
        }, cancellationToken);

    public Task<IReadOnlySet<string>> GetJoinedMembersAsync(IReadOnlyCollection<string> roomIds, CancellationToken cancellationToken) =>
        _db.ReadAsync<IReadOnlySet<string>>(async (c, ct) =>
        {
            var members = new HashSet<string>(StringComparer.Ordinal);
            foreach (var chunk in roomIds.Chunk(InListChunk))
            {
                await using var query = c.Command($"""
                    SELECT DISTINCT state_key FROM current_state_events
                    WHERE room_id IN ({InList(chunk.Length)}) AND type = 'm.room.member' AND membership = 'join'
                    """);
                for (int i = 0; i < chunk.Length; i++)
                {
                    query.With("@p" + i.ToString(CultureInfo.InvariantCulture), chunk[i]);
                }

                members.UnionWith(await ReadStringsAsync(query, ct).ConfigureAwait(false));
            }

            return members;
        }, cancellationToken);

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

    /// <summary>Writes device-list rows inside a caller's transaction (the account store's device changes use it too).</summary>
    internal static async Task InsertRowsAsync(DbConnection c, DbTransaction t, long streamId, string userId,
        IReadOnlyCollection<string> deviceIds, CancellationToken ct)
    {
        if (deviceIds.Count == 0)
        {
            return;
        }

        await using var insert = c.Command("""
            INSERT INTO device_lists_stream (stream_id, user_id, device_id) VALUES (@stream, @user, @device)
            """, t).With("@stream", streamId).With("@user", userId).With("@device", "");
        foreach (string deviceId in deviceIds)
        {
            insert.Parameters["@device"].Value = deviceId;
            await insert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
    }

    private static bool IsJoin(string pduJson)
    {
        using var document = JsonDocument.Parse(pduJson);
        return document.RootElement.TryGetProperty("content", out var content)
            && content.ValueKind == JsonValueKind.Object
            && content.TryGetProperty("membership", out var membership)
            && membership.ValueKind == JsonValueKind.String
            && membership.ValueEquals("join");
    }

    private static string InList(int count) =>
        string.Join(",", Enumerable.Range(0, count).Select(i => "@p" + i.ToString(CultureInfo.InvariantCulture)));

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
