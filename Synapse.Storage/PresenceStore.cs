using System.Data.Common;

namespace Synapse.Storage;

/// <summary><see cref="IPresenceStore"/> over both engines.</summary>
internal sealed class PresenceStore : IPresenceStore
{
    private const string Columns = "p.user_id, p.state, p.status_msg, p.last_active_ts, p.last_user_sync_ts, p.currently_active, p.stream_id";

    // The users joined to a room @observer is joined to (the observer included). Uses the membership index for the
    // observer's rooms, then the primary key of current_state_events per room.
    private const string RoomMates = """
        SELECT b.state_key FROM current_state_events a
        JOIN current_state_events b ON b.room_id = a.room_id AND b.type = 'm.room.member' AND b.membership = 'join'
        WHERE a.type = 'm.room.member' AND a.state_key = @observer AND a.membership = 'join'
        """;

    private const string SharesRoomWithRow = """
        EXISTS (SELECT 1 FROM current_state_events a
                JOIN current_state_events b ON b.room_id = a.room_id AND b.type = 'm.room.member'
                     AND b.state_key = p.user_id AND b.membership = 'join'
                WHERE a.type = 'm.room.member' AND a.state_key = @observer AND a.membership = 'join')
        """;

    private readonly SynapseDatabase _db;

    public PresenceStore(SynapseDatabase db) => _db = db;

    public Task<PresenceRecord?> GetAsync(string userId, CancellationToken cancellationToken) =>
        _db.ReadAsync<PresenceRecord?>(async (c, ct) =>
        {
            await using var query = c.Command($"SELECT {Columns} FROM presence p WHERE p.user_id = @user").With("@user", userId);
            var rows = await ReadAllAsync(query, ct).ConfigureAwait(false);
            return rows.Count == 1 ? rows[0] : null;
        }, cancellationToken);

    public Task<IReadOnlyList<PresenceRecord>> GetNotOfflineAsync(CancellationToken cancellationToken) =>
        _db.ReadAsync<IReadOnlyList<PresenceRecord>>(async (c, ct) =>
        {
            await using var query = c.Command($"SELECT {Columns} FROM presence p WHERE p.state <> 'offline'");
            return await ReadAllAsync(query, ct).ConfigureAwait(false);
        }, cancellationToken);

    // A row is never replaced by one with an older stream position: the batched write of times kept in memory may
    // race with the write of a newer change.
    public Task UpsertAsync(IReadOnlyCollection<PresenceRecord> records, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(records);
        if (records.Count == 0)
        {
            return Task.CompletedTask;
        }

        return _db.WriteAsync(async (c, t, ct) =>
        {
            foreach (var record in records)
            {
                await using var upsert = c.Command("""
                    INSERT INTO presence (user_id, state, status_msg, last_active_ts, last_user_sync_ts, currently_active, stream_id)
                    VALUES (@user, @state, @status, @active, @sync, @current, @stream)
                    ON CONFLICT (user_id) DO UPDATE SET
                        state = excluded.state, status_msg = excluded.status_msg, last_active_ts = excluded.last_active_ts,
                        last_user_sync_ts = excluded.last_user_sync_ts, currently_active = excluded.currently_active,
                        stream_id = excluded.stream_id
                    WHERE presence.stream_id <= excluded.stream_id
                    """, t)
                    .With("@user", record.UserId).With("@state", record.State).With("@status", record.StatusMsg)
                    .With("@active", record.LastActiveTs).With("@sync", record.LastUserSyncTs)
                    .With("@current", record.CurrentlyActive).With("@stream", record.StreamId);
                await upsert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            return records.Count;
        }, cancellationToken);
    }

    public Task<IReadOnlyList<PresenceRecord>> GetUpdatesAsync(long after, long upTo, int limit, CancellationToken cancellationToken) =>
        _db.ReadAsync<IReadOnlyList<PresenceRecord>>(async (c, ct) =>
        {
            await using var query = c.Command($"""
                SELECT {Columns} FROM presence p WHERE p.stream_id > @after AND p.stream_id <= @upTo
                ORDER BY p.stream_id LIMIT @limit
                """).With("@after", after).With("@upTo", upTo).With("@limit", limit);
            return await ReadAllAsync(query, ct).ConfigureAwait(false);
        }, cancellationToken);

    public Task<IReadOnlyList<PresenceRecord>> GetVisibleChangesAsync(string observer, long after, long upTo,
        CancellationToken cancellationToken) =>
        _db.ReadAsync<IReadOnlyList<PresenceRecord>>(async (c, ct) =>
        {
            await using var query = c.Command($"""
                SELECT {Columns} FROM presence p
                WHERE p.stream_id > @after AND p.stream_id <= @upTo AND (p.user_id = @observer OR {SharesRoomWithRow})
                ORDER BY p.stream_id
                """).With("@after", after).With("@upTo", upTo).With("@observer", observer);
            return await ReadAllAsync(query, ct).ConfigureAwait(false);
        }, cancellationToken);

    public Task<IReadOnlyList<PresenceRecord>> GetVisibleAsync(string observer, CancellationToken cancellationToken) =>
        _db.ReadAsync<IReadOnlyList<PresenceRecord>>(async (c, ct) =>
        {
            await using var query = c.Command($"""
                SELECT {Columns} FROM presence p
                WHERE p.state <> 'offline' AND (p.user_id = @observer OR p.user_id IN ({RoomMates}))
                ORDER BY p.user_id
                """).With("@observer", observer);
            return await ReadAllAsync(query, ct).ConfigureAwait(false);
        }, cancellationToken);

    public Task<IReadOnlyList<PresenceRecord>> GetNewlySharedAsync(string observer, long afterEvent, long upToEvent,
        CancellationToken cancellationToken) =>
        _db.ReadAsync<IReadOnlyList<PresenceRecord>>(async (c, ct) =>
        {
            // Membership events in the range are few and found through the stream ordering primary key; the first
            // half finds users who joined the observer's rooms, the second the members of rooms the observer joined.
            await using var query = c.Command($"""
                SELECT {Columns} FROM presence p
                WHERE p.state <> 'offline' AND p.user_id <> @observer AND p.user_id IN (
                    SELECT e.state_key FROM events e
                    JOIN current_state_events m ON m.room_id = e.room_id AND m.type = 'm.room.member'
                         AND m.state_key = e.state_key AND m.membership = 'join'
                    JOIN current_state_events me ON me.room_id = e.room_id AND me.type = 'm.room.member'
                         AND me.state_key = @observer AND me.membership = 'join'
                    WHERE e.stream_ordering > @after AND e.stream_ordering <= @upTo AND e.type = 'm.room.member'
                    UNION
                    SELECT m.state_key FROM events e
                    JOIN current_state_events me ON me.room_id = e.room_id AND me.type = 'm.room.member'
                         AND me.state_key = @observer AND me.membership = 'join'
                    JOIN current_state_events m ON m.room_id = e.room_id AND m.type = 'm.room.member' AND m.membership = 'join'
                    WHERE e.stream_ordering > @after AND e.stream_ordering <= @upTo AND e.type = 'm.room.member'
                          AND e.state_key = @observer)
                ORDER BY p.user_id
                """).With("@after", afterEvent).With("@upTo", upToEvent).With("@observer", observer);
            return await ReadAllAsync(query, ct).ConfigureAwait(false);
        }, cancellationToken);

    public Task<bool> SharesRoomAsync(string userId, string otherUserId, CancellationToken cancellationToken) =>
        _db.ReadAsync(async (c, ct) =>
        {
            await using var query = c.Command("""
                SELECT 1 FROM current_state_events a
                JOIN current_state_events b ON b.room_id = a.room_id AND b.type = 'm.room.member'
                     AND b.state_key = @other AND b.membership = 'join'
                WHERE a.type = 'm.room.member' AND a.state_key = @user AND a.membership = 'join'
                LIMIT 1
                """).With("@user", userId).With("@other", otherUserId);
            return await query.ExecuteScalarAsync(ct).ConfigureAwait(false) is not null;
        }, cancellationToken);

    private static async Task<IReadOnlyList<PresenceRecord>> ReadAllAsync(DbCommand query, CancellationToken cancellationToken)
    {
        await using var reader = await query.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var rows = new List<PresenceRecord>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            rows.Add(new PresenceRecord(reader.GetString(0), reader.GetString(1), reader.GetNullableString(2), reader.GetInt64(3),
                reader.GetInt64(4), reader.GetBoolean(5), reader.GetInt64(6)));
        }

        return rows;
    }
}
