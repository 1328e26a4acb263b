using System.Data.Common;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Synapse.Events;
using Synapse.Json;
using Synapse.RoomVersions;

namespace Synapse.Storage;

/// <summary><see cref="IEventStore"/> over both engines (docs/events-and-state.md).</summary>
internal sealed class EventStore : IEventStore
{
    private const string EventColumns = """
        e.json, r.room_version, e.event_id, e.stream_ordering, e.state_group, e.replaces_state,
        (SELECT MIN(x.event_id) FROM redactions x WHERE x.redacts = e.event_id)
        FROM events e JOIN rooms r ON r.room_id = e.room_id
        """;

    private readonly SynapseDatabase _db;
    private readonly StateGroupCache _stateGroups = new();

    public EventStore(SynapseDatabase db) => _db = db;

    public Task PersistBatchAsync(EventBatch batch, CancellationToken cancellationToken) =>
        _db.WriteAsync(async (c, t, ct) =>
        {
            if (batch.NewRoom is { } room)
            {
                await using var insertRoom = c.Command("""
                    INSERT INTO rooms (room_id, room_version, creator, is_public, created_ts)
                    VALUES (@id, @version, @creator, @public, @ts)
                    """, t)
                    .With("@id", room.RoomId).With("@version", room.RoomVersion).With("@creator", room.Creator)
                    .With("@public", room.IsPublic).With("@ts", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
                await insertRoom.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            foreach (var group in batch.StateGroups)
            {
                await using (var insertGroup = c.Command("""
                    INSERT INTO state_groups (id, room_id, event_id, prev_group, chain_length)
                    VALUES (@id, @room, @event, @prev, @chain)
                    """, t)
                    .With("@id", group.Id).With("@room", batch.RoomId).With("@event", group.EventId)
                    .With("@prev", group.PrevGroup).With("@chain", group.ChainLength))
                {
                    await insertGroup.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }

                await using var entry = c.Command("""
                    INSERT INTO state_group_entries (state_group, type, state_key, event_id)
                    VALUES (@group, @type, @key, @event)
                    """, t).With("@group", group.Id).With("@type", "").With("@key", "").With("@event", "");
                foreach (var (key, eventId) in group.Entries)
                {
                    entry.Parameters["@type"].Value = key.Type;
                    entry.Parameters["@key"].Value = key.StateKey;
                    entry.Parameters["@event"].Value = eventId;
                    await entry.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }
            }

            foreach (var e in batch.Events)
            {
                await InsertEventAsync(c, t, batch.RoomId, e, ct).ConfigureAwait(false);
            }

            foreach (var change in batch.CurrentState)
            {
                await using var upsert = c.Command("""
                    INSERT INTO current_state_events (room_id, type, state_key, event_id, membership)
                    VALUES (@room, @type, @key, @event, @membership)
                    ON CONFLICT (room_id, type, state_key)
                    DO UPDATE SET event_id = excluded.event_id, membership = excluded.membership
                    """, t)
                    .With("@room", batch.RoomId).With("@type", change.Key.Type).With("@key", change.Key.StateKey)
                    .With("@event", change.EventId).With("@membership", change.Membership);
                await upsert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            await using (var clear = c.Command("DELETE FROM event_forward_extremities WHERE room_id = @room", t)
                .With("@room", batch.RoomId))
            {
                await clear.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            foreach (string extremity in batch.ForwardExtremities)
            {
                await using var insert = c.Command(
                    "INSERT INTO event_forward_extremities (room_id, event_id) VALUES (@room, @event)", t)
                    .With("@room", batch.RoomId).With("@event", extremity);
                await insert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }

            return 0;
        }, cancellationToken);

    private static async Task InsertEventAsync(DbConnection c, DbTransaction t, string roomId, EventToPersist e,
        CancellationToken ct)
    {
        var pdu = e.Pdu;
        await using (var insert = c.Command("""
            INSERT INTO events (stream_ordering, event_id, room_id, type, state_key, sender, depth, origin_server_ts,
                                received_ts, state_group, replaces_state, json)
            VALUES (@stream, @id, @room, @type, @key, @sender, @depth, @ts, @received, @group, @replaces, @json)
            """, t)
            .With("@stream", e.StreamOrdering).With("@id", pdu.EventId).With("@room", roomId).With("@type", pdu.Type)
            .With("@key", pdu.StateKey).With("@sender", pdu.Sender).With("@depth", pdu.Depth)
            .With("@ts", pdu.OriginServerTs).With("@received", e.ReceivedTs).With("@group", e.StateGroup)
            .With("@replaces", e.ReplacesState)
            .With("@json", Encoding.UTF8.GetString(CanonicalJson.Encode(pdu.Json, strict: false))))
        {
            await insert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        if (e.Transaction is { } txn)
        {
            await using var insertTxn = c.Command("""
                INSERT INTO event_txn_ids (user_id, device_id, txn_id, room_id, event_id, inserted_ts)
                VALUES (@user, @device, @txn, @room, @event, @ts)
                """, t)
                .With("@user", txn.UserId).With("@device", txn.DeviceId).With("@txn", txn.TxnId).With("@room", roomId)
                .With("@event", pdu.EventId).With("@ts", e.ReceivedTs);
            await insertTxn.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        if (pdu.Type == "m.room.redaction" && pdu.Redacts is { } redacts)
        {
            await using var insertRedaction = c.Command("INSERT INTO redactions (event_id, redacts) VALUES (@id, @redacts)", t)
                .With("@id", pdu.EventId).With("@redacts", redacts);
            await insertRedaction.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }

        if (e.Relation is { } relation)
        {
            await using var insertRelation = c.Command("""
                INSERT INTO event_relations (event_id, relates_to_id, relation_type, aggregation_key)
                VALUES (@id, @target, @type, @key)
                """, t)
                .With("@id", pdu.EventId).With("@target", relation.RelatesToId).With("@type", relation.RelationType)
                .With("@key", relation.AggregationKey);
            await insertRelation.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
    }

    public Task<(long StreamOrdering, long StateGroup)> GetMaxIdsAsync(CancellationToken cancellationToken) =>
        _db.ReadAsync(async (c, ct) =>
        {
            await using var query = c.Command(
                "SELECT (SELECT COALESCE(MAX(stream_ordering), 0) FROM events), (SELECT COALESCE(MAX(id), 0) FROM state_groups)");
            await using var reader = await query.ExecuteReaderAsync(ct).ConfigureAwait(false);
            await reader.ReadAsync(ct).ConfigureAwait(false);
            return (reader.GetInt64(0), reader.GetInt64(1));
        }, cancellationToken);

    public Task<RoomRecord?> GetRoomAsync(string roomId, CancellationToken cancellationToken) =>
        _db.ReadAsync(async (c, ct) =>
        {
            await using var query = c.Command("SELECT room_version, creator, is_public FROM rooms WHERE room_id = @id")
                .With("@id", roomId);
            await using var reader = await query.ExecuteReaderAsync(ct).ConfigureAwait(false);
            return await reader.ReadAsync(ct).ConfigureAwait(false)
                ? new RoomRecord(roomId, reader.GetString(0), reader.GetString(1), reader.GetBoolean(2))
                : null;
        }, cancellationToken);

    public Task<IReadOnlyList<StoredEvent>> GetEventsAsync(IReadOnlyCollection<string> eventIds,
        CancellationToken cancellationToken)
    {
        if (eventIds.Count == 0)
        {
            return Task.FromResult<IReadOnlyList<StoredEvent>>([]);
        }

        return _db.ReadAsync<IReadOnlyList<StoredEvent>>(async (c, ct) =>
        {
            var result = new List<StoredEvent>(eventIds.Count);
            foreach (var chunk in eventIds.Chunk(200))
            {
                await using var query = c.Command("SELECT " + EventColumns + " WHERE e.event_id IN (" +
                    string.Join(",", chunk.Select((_, i) => "@e" + i.ToString(CultureInfo.InvariantCulture))) + ")");
                for (int i = 0; i < chunk.Length; i++)
                {
                    query.With("@e" + i.ToString(CultureInfo.InvariantCulture), chunk[i]);
                }

                result.AddRange(await ReadEventsAsync(query, ct).ConfigureAwait(false));
            }

            return result;
        }, cancellationToken);
    }

    public Task<IReadOnlyDictionary<TypeStateKey, string>> GetCurrentStateIdsAsync(string roomId,
        CancellationToken cancellationToken) =>
        _db.ReadAsync<IReadOnlyDictionary<TypeStateKey, string>>(async (c, ct) =>
        {
            await using var query = c.Command("SELECT type, state_key, event_id FROM current_state_events WHERE room_id = @room")
                .With("@room", roomId);
            await using var reader = await query.ExecuteReaderAsync(ct).ConfigureAwait(false);
            var state = new Dictionary<TypeStateKey, string>();
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                state[new TypeStateKey(reader.GetString(0), reader.GetString(1))] = reader.GetString(2);
            }

            return state;
        }, cancellationToken);

    public async Task<IReadOnlyDictionary<TypeStateKey, string>> GetStateGroupAsync(long stateGroup,
        CancellationToken cancellationToken)
    {
        // Walk prev_group links to the snapshot, from memory as far as the deltas are cached, then apply them oldest first.
        var chain = new List<StateGroupDelta>();
        long? group = stateGroup;
        while (group is { } cached && _stateGroups.TryGet(cached, out var delta))
        {
            chain.Add(delta);
            group = delta.PrevGroup;
        }

        if (group is { } missing)
        {
            chain.AddRange(await LoadStateGroupChainAsync(missing, cancellationToken).ConfigureAwait(false));
        }

        var state = new Dictionary<TypeStateKey, string>();
        for (int i = chain.Count - 1; i >= 0; i--)
        {
            foreach (var (key, eventId) in chain[i].Entries)
            {
                state[key] = eventId;
            }
        }

        return state;
    }

    /// <summary>The deltas from <paramref name="stateGroup"/> back to its snapshot, newest first, in one query; each is cached.</summary>
    private Task<List<StateGroupDelta>> LoadStateGroupChainAsync(long stateGroup, CancellationToken cancellationToken) =>
        _db.ReadAsync(async (c, ct) =>
        {
            await using var query = c.Command("""
                WITH RECURSIVE chain(id, prev_group, n) AS (
                    SELECT id, prev_group, 0 FROM state_groups WHERE id = @id
                    UNION ALL
                    SELECT g.id, g.prev_group, chain.n + 1 FROM state_groups g JOIN chain ON g.id = chain.prev_group)
                SELECT chain.id, chain.prev_group, e.type, e.state_key, e.event_id
                FROM chain LEFT JOIN state_group_entries e ON e.state_group = chain.id
                ORDER BY chain.n
                """).With("@id", stateGroup);
            await using var reader = await query.ExecuteReaderAsync(ct).ConfigureAwait(false);
            var chain = new List<StateGroupDelta>();
            long current = -1;
            long? prev = null;
            var entries = new List<KeyValuePair<TypeStateKey, string>>();
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                long id = reader.GetInt64(0);
                if (id != current)
                {
                    if (current != -1)
                    {
                        chain.Add(_stateGroups.Add(current, prev, entries));
                        entries = [];
                    }

                    current = id;
                    prev = reader.IsDBNull(1) ? null : reader.GetInt64(1);
                }

                if (!reader.IsDBNull(2))
                {
                    entries.Add(new(new TypeStateKey(reader.GetString(2), reader.GetString(3)), reader.GetString(4)));
                }
            }

            if (current != -1)
            {
                chain.Add(_stateGroups.Add(current, prev, entries));
            }

            return chain;
        }, cancellationToken);

    public Task<IReadOnlyList<string>> GetForwardExtremitiesAsync(string roomId, CancellationToken cancellationToken) =>
        _db.ReadAsync<IReadOnlyList<string>>(async (c, ct) =>
        {
            await using var query = c.Command("SELECT event_id FROM event_forward_extremities WHERE room_id = @room ORDER BY event_id")
                .With("@room", roomId);
            return await ReadStringsAsync(query, ct).ConfigureAwait(false);
        }, cancellationToken);

    public Task<string?> FindTransactionAsync(string userId, string deviceId, string txnId, CancellationToken cancellationToken) =>
        _db.ReadAsync(async (c, ct) =>
        {
            await using var query = c.Command(
                "SELECT event_id FROM event_txn_ids WHERE user_id = @user AND device_id = @device AND txn_id = @txn")
                .With("@user", userId).With("@device", deviceId).With("@txn", txnId);
            return await query.ExecuteScalarAsync(ct).ConfigureAwait(false) as string;
        }, cancellationToken);

    public Task<IReadOnlyDictionary<string, string>> GetTransactionIdsAsync(IReadOnlyCollection<string> eventIds,
        string userId, string deviceId, CancellationToken cancellationToken)
    {
        if (eventIds.Count == 0)
        {
            return Task.FromResult<IReadOnlyDictionary<string, string>>(new Dictionary<string, string>());
        }

        return _db.ReadAsync<IReadOnlyDictionary<string, string>>(async (c, ct) =>
        {
            var result = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var chunk in eventIds.Chunk(200))
            {
                await using var query = c.Command(
                    "SELECT event_id, txn_id FROM event_txn_ids WHERE user_id = @user AND device_id = @device AND event_id IN (" +
                    string.Join(",", chunk.Select((_, i) => "@e" + i.ToString(CultureInfo.InvariantCulture))) + ")")
                    .With("@user", userId).With("@device", deviceId);
                for (int i = 0; i < chunk.Length; i++)
                {
                    query.With("@e" + i.ToString(CultureInfo.InvariantCulture), chunk[i]);
                }

                await using var reader = await query.ExecuteReaderAsync(ct).ConfigureAwait(false);
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    result[reader.GetString(0)] = reader.GetString(1);
                }
            }

            return result;
        }, cancellationToken);
    }

    public Task<IReadOnlyList<StoredEvent>> GetRoomEventsAsync(string roomId, TopologicalPosition from, bool backwards,
        TopologicalPosition? until, int limit, CancellationToken cancellationToken) =>
        _db.ReadAsync(async (c, ct) =>
        {
            string range = TopologicalRange(backwards, until is not null);

            string order = backwards ? "DESC" : "ASC";
            await using var query = c.Command("SELECT " + EventColumns + " WHERE e.room_id = @room AND " + range +
                $" ORDER BY e.depth {order}, e.stream_ordering {order} LIMIT @limit")
                .With("@room", roomId).With("@fd", from.Depth).With("@fs", from.StreamOrdering).With("@limit", limit);
            if (until is { } u)
            {
                query.With("@td", u.Depth).With("@ts", u.StreamOrdering);
            }

            return await ReadEventsAsync(query, ct).ConfigureAwait(false);
        }, cancellationToken);

    public Task<TopologicalPosition?> GetPositionAsync(string eventId, CancellationToken cancellationToken) =>
        _db.ReadAsync(async (c, ct) =>
        {
            await using var query = c.Command("SELECT depth, stream_ordering FROM events WHERE event_id = @id").With("@id", eventId);
            await using var reader = await query.ExecuteReaderAsync(ct).ConfigureAwait(false);
            return await reader.ReadAsync(ct).ConfigureAwait(false)
                ? new TopologicalPosition(reader.GetInt64(0), reader.GetInt64(1))
                : (TopologicalPosition?)null;
        }, cancellationToken);

    public Task<TopologicalPosition?> GetPositionAtStreamAsync(string roomId, long streamOrdering,
        CancellationToken cancellationToken) =>
        _db.ReadAsync(async (c, ct) =>
        {
            await using var query = c.Command("""
                SELECT depth, stream_ordering FROM events WHERE room_id = @room AND stream_ordering <= @s
                ORDER BY stream_ordering DESC LIMIT 1
                """).With("@room", roomId).With("@s", streamOrdering);
            await using var reader = await query.ExecuteReaderAsync(ct).ConfigureAwait(false);
            return await reader.ReadAsync(ct).ConfigureAwait(false)
                ? new TopologicalPosition(reader.GetInt64(0), reader.GetInt64(1))
                : (TopologicalPosition?)null;
        }, cancellationToken);

    public Task<IReadOnlyList<string>> GetRoomsForUserAsync(string userId, IReadOnlyCollection<string> memberships,
        CancellationToken cancellationToken) =>
        _db.ReadAsync<IReadOnlyList<string>>(async (c, ct) =>
        {
            var names = memberships.Select((_, i) => "@m" + i.ToString(CultureInfo.InvariantCulture)).ToList();
            await using var query = c.Command($"""
                SELECT room_id FROM current_state_events
                WHERE state_key = @user AND type = 'm.room.member' AND membership IN ({string.Join(",", names)})
                ORDER BY room_id
                """).With("@user", userId);
            int i = 0;
            foreach (string membership in memberships)
            {
                query.With(names[i++], membership);
            }

            return await ReadStringsAsync(query, ct).ConfigureAwait(false);
        }, cancellationToken);

    public Task<IReadOnlyList<UserMembership>> GetMembershipsForUserAsync(string userId, CancellationToken cancellationToken) =>
        _db.ReadAsync(async (c, ct) =>
        {
            await using var query = c.Command("""
                SELECT s.room_id, s.membership, s.event_id, e.stream_ordering, e.depth
                FROM current_state_events s JOIN events e ON e.event_id = s.event_id
                WHERE s.state_key = @user AND s.type = 'm.room.member'
                ORDER BY s.room_id
                """).With("@user", userId);
            return await ReadMembershipsAsync(query, ct).ConfigureAwait(false);
        }, cancellationToken);

    public Task<IReadOnlyList<UserMembership>> GetMembershipChangesAsync(string userId, long after, long upTo,
        CancellationToken cancellationToken) =>
        _db.ReadAsync<IReadOnlyList<UserMembership>>(async (c, ct) =>
        {
            await using var query = c.Command("""
                SELECT room_id, json, event_id, stream_ordering, depth FROM events
                WHERE state_key = @user AND type = 'm.room.member' AND stream_ordering > @after AND stream_ordering <= @upTo
                ORDER BY stream_ordering
                """).With("@user", userId).With("@after", after).With("@upTo", upTo);
            await using var reader = await query.ExecuteReaderAsync(ct).ConfigureAwait(false);
            var changes = new List<UserMembership>();
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                using var json = JsonDocument.Parse(reader.GetString(1));
                string membership = json.RootElement.GetProperty("content").TryGetProperty("membership", out var m)
                    && m.ValueKind == JsonValueKind.String ? m.GetString()! : "leave";
                changes.Add(new UserMembership(reader.GetString(0), membership, reader.GetString(2), reader.GetInt64(3), reader.GetInt64(4)));
            }

            return changes;
        }, cancellationToken);

    public Task<IReadOnlyList<StoredEvent>> GetRoomEventsByStreamAsync(string roomId, long after, long upTo, int limit,
        CancellationToken cancellationToken) =>
        _db.ReadAsync<IReadOnlyList<StoredEvent>>(async (c, ct) =>
        {
            await using var query = c.Command("SELECT " + EventColumns + """
                 WHERE e.room_id = @room AND e.stream_ordering > @after AND e.stream_ordering <= @upTo
                ORDER BY e.stream_ordering DESC LIMIT @limit
                """).With("@room", roomId).With("@after", after).With("@upTo", upTo).With("@limit", limit);
            var newestFirst = await ReadEventsAsync(query, ct).ConfigureAwait(false);
            return newestFirst.Reverse().ToList();
        }, cancellationToken);

    public Task<IReadOnlyList<StreamedEvent>> GetEventsByStreamAsync(long after, long upTo, int limit,
        CancellationToken cancellationToken) =>
        _db.ReadAsync<IReadOnlyList<StreamedEvent>>(async (c, ct) =>
        {
            await using var query = c.Command("""
                SELECT e.json, r.room_version, e.event_id, e.stream_ordering, rel.relates_to_id, rel.relation_type,
                       rel.aggregation_key
                FROM events e JOIN rooms r ON r.room_id = e.room_id
                LEFT JOIN event_relations rel ON rel.event_id = e.event_id
                WHERE e.stream_ordering > @after AND e.stream_ordering <= @upTo
                ORDER BY e.stream_ordering LIMIT @limit
                """).With("@after", after).With("@upTo", upTo).With("@limit", limit);
            await using var reader = await query.ExecuteReaderAsync(ct).ConfigureAwait(false);
            var events = new List<StreamedEvent>();
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                var version = KnownRoomVersions.Find(reader.GetString(1))
                    ?? throw new InvalidOperationException($"Unknown room version '{reader.GetString(1)}' in the database.");
                using var document = JsonDocument.Parse(reader.GetString(0));
                var pdu = Pdu.Create(document.RootElement.Clone(), version, reader.GetString(2));
                var relation = reader.IsDBNull(4)
                    ? null
                    : new EventRelation(reader.GetString(4), reader.GetString(5), reader.GetNullableString(6));
                events.Add(new StreamedEvent(pdu, reader.GetInt64(3), relation));
            }

            return events;
        }, cancellationToken);

    private static async Task<IReadOnlyList<UserMembership>> ReadMembershipsAsync(DbCommand query, CancellationToken ct)
    {
        await using var reader = await query.ExecuteReaderAsync(ct).ConfigureAwait(false);
        var memberships = new List<UserMembership>();
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            memberships.Add(new UserMembership(reader.GetString(0), reader.GetNullableString(1) ?? "leave", reader.GetString(2),
                reader.GetInt64(3), reader.GetInt64(4)));
        }

        return memberships;
    }

    public Task<IReadOnlyList<StoredEvent>> GetStateHistoryAsync(string roomId, string type, string stateKey,
        CancellationToken cancellationToken) =>
        _db.ReadAsync(async (c, ct) =>
        {
            await using var query = c.Command("SELECT " + EventColumns +
                " WHERE e.state_key = @key AND e.type = @type AND e.room_id = @room ORDER BY e.depth, e.stream_ordering")
                .With("@key", stateKey).With("@type", type).With("@room", roomId);
            return await ReadEventsAsync(query, ct).ConfigureAwait(false);
        }, cancellationToken);

    /// <summary>
    /// The SQL condition for a page in topological order. Positions are boundaries: backwards selects events before
    /// <c>@fd/@fs</c> (and at or after <c>@td/@ts</c>), forwards events at or after it (and before the bound).
    /// </summary>
    private static string TopologicalRange(bool backwards, bool bounded)
    {
        string range = backwards
            ? "(e.depth < @fd OR (e.depth = @fd AND e.stream_ordering < @fs))"
            : "(e.depth > @fd OR (e.depth = @fd AND e.stream_ordering >= @fs))";
        if (bounded)
        {
            range += backwards
                ? " AND (e.depth > @td OR (e.depth = @td AND e.stream_ordering >= @ts))"
                : " AND (e.depth < @td OR (e.depth = @td AND e.stream_ordering < @ts))";
        }

        return range;
    }

    private static async Task<IReadOnlyList<StoredEvent>> ReadEventsAsync(DbCommand query, CancellationToken ct)
    {
        await using var reader = await query.ExecuteReaderAsync(ct).ConfigureAwait(false);
        var events = new List<StoredEvent>();
        while (await reader.ReadAsync(ct).ConfigureAwait(false))
        {
            var version = KnownRoomVersions.Find(reader.GetString(1))
                ?? throw new InvalidOperationException($"Unknown room version '{reader.GetString(1)}' in the database.");
            using var document = JsonDocument.Parse(reader.GetString(0));
            var pdu = Pdu.Create(document.RootElement.Clone(), version, reader.GetString(2));
            events.Add(new StoredEvent(pdu, reader.GetInt64(3), reader.GetInt64(4), reader.GetNullableString(5),
                reader.GetNullableString(6)));
        }

        return events;
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

    /// <summary>The condition "the event under <paramref name="alias"/> is not redacted".</summary>
    private static string NotRedacted(string alias) =>
        $"NOT EXISTS (SELECT 1 FROM redactions x WHERE x.redacts = {alias}.event_id)";

    public Task<IReadOnlyList<StoredEvent>> GetRelationChildrenAsync(IReadOnlyCollection<string> parentIds,
        IReadOnlyCollection<string> relationTypes, CancellationToken cancellationToken)
    {
        if (parentIds.Count == 0 || relationTypes.Count == 0)
        {
            return Task.FromResult<IReadOnlyList<StoredEvent>>([]);
        }

        return _db.ReadAsync<IReadOnlyList<StoredEvent>>(async (c, ct) =>
        {
            var result = new List<StoredEvent>();
            foreach (var chunk in parentIds.Chunk(200))
            {
                await using var query = c.Command("SELECT " + EventColumns + $"""
                     JOIN event_relations rel ON rel.event_id = e.event_id
                     JOIN events p ON p.event_id = rel.relates_to_id
                    WHERE rel.relates_to_id IN ({InList(chunk.Length, "p")}) AND rel.relation_type IN ({InList(relationTypes.Count, "t")})
                      AND p.room_id = e.room_id AND {NotRedacted("e")}
                    ORDER BY e.depth, e.stream_ordering
                    """);
                WithList(query, "p", chunk);
                WithList(query, "t", relationTypes);
                result.AddRange(await ReadEventsAsync(query, ct).ConfigureAwait(false));
            }

            return result;
        }, cancellationToken);
    }

    public Task<IReadOnlyDictionary<string, (long Count, bool Participated, string LatestEventId)>> GetThreadSummariesAsync(
        IReadOnlyCollection<string> rootIds, string? userId, CancellationToken cancellationToken)
    {
        if (rootIds.Count == 0)
        {
            return Task.FromResult<IReadOnlyDictionary<string, (long, bool, string)>>(
                new Dictionary<string, (long, bool, string)>());
        }

        return _db.ReadAsync<IReadOnlyDictionary<string, (long Count, bool Participated, string LatestEventId)>>(async (c, ct) =>
        {
            var result = new Dictionary<string, (long, bool, string)>(StringComparer.Ordinal);
            foreach (var chunk in rootIds.Chunk(200))
            {
                await using var query = c.Command($"""
                    SELECT rel.relates_to_id, COUNT(*), SUM(CASE WHEN e.sender = @user THEN 1 ELSE 0 END),
                           (SELECT r2.event_id FROM event_relations r2 JOIN events e2 ON e2.event_id = r2.event_id
                             WHERE r2.relates_to_id = rel.relates_to_id AND r2.relation_type = 'm.thread'
                               AND e2.room_id = p.room_id AND {NotRedacted("e2")}
                             ORDER BY e2.depth DESC, e2.stream_ordering DESC LIMIT 1)
                      FROM event_relations rel
                      JOIN events e ON e.event_id = rel.event_id
                      JOIN events p ON p.event_id = rel.relates_to_id
                     WHERE rel.relates_to_id IN ({InList(chunk.Length, "p")}) AND rel.relation_type = 'm.thread'
                       AND e.room_id = p.room_id AND {NotRedacted("e")}
                     GROUP BY rel.relates_to_id, p.room_id
                    """).With("@user", userId ?? "");
                WithList(query, "p", chunk);
                await using var reader = await query.ExecuteReaderAsync(ct).ConfigureAwait(false);
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    result[reader.GetString(0)] = (reader.GetInt64(1), reader.GetInt64(2) > 0, reader.GetString(3));
                }
            }

            return result;
        }, cancellationToken);
    }

    public Task<IReadOnlyList<StoredEvent>> GetRelationsPageAsync(string roomId, string parentId, string? relationType,
        string? eventType, TopologicalPosition from, bool backwards, TopologicalPosition? until, int limit, int maxDepth,
        CancellationToken cancellationToken) =>
        _db.ReadAsync(async (c, ct) =>
        {
            // Every hop of the walk obeys the same filters: a matching event reached only through a non-matching one is
            // not a relation of the parent (Spec: Client-Server API, "Relationships API").
            string hop = " AND c.room_id = @room AND " + NotRedacted("c")
                + (relationType is null ? "" : " AND rel.relation_type = @relType")
                + (eventType is null ? "" : " AND c.type = @eventType");
            string range = TopologicalRange(backwards, until is not null);

            string order = backwards ? "DESC" : "ASC";
            await using var query = c.Command($"""
                WITH RECURSIVE tree (event_id, hops) AS (
                    SELECT rel.event_id, 1 FROM event_relations rel JOIN events c ON c.event_id = rel.event_id
                     WHERE rel.relates_to_id = @parent{hop}
                    UNION ALL
                    SELECT rel.event_id, t.hops + 1 FROM tree t
                      JOIN event_relations rel ON rel.relates_to_id = t.event_id
                      JOIN events c ON c.event_id = rel.event_id
                     WHERE t.hops < @maxDepth{hop}
                )
                SELECT {EventColumns}
                 WHERE e.event_id IN (SELECT event_id FROM tree) AND {range}
                 ORDER BY e.depth {order}, e.stream_ordering {order} LIMIT @limit
                """)
                .With("@parent", parentId).With("@room", roomId).With("@maxDepth", maxDepth)
                .With("@fd", from.Depth).With("@fs", from.StreamOrdering).With("@limit", limit);
            if (relationType is not null)
            {
                query.With("@relType", relationType);
            }

            if (eventType is not null)
            {
                query.With("@eventType", eventType);
            }

            if (until is { } u)
            {
                query.With("@td", u.Depth).With("@ts", u.StreamOrdering);
            }

            return await ReadEventsAsync(query, ct).ConfigureAwait(false);
        }, cancellationToken);

    public Task<IReadOnlyList<(string RootId, TopologicalPosition Latest)>> GetThreadRootsAsync(string roomId, string? participant,
        TopologicalPosition before, int limit, CancellationToken cancellationToken) =>
        _db.ReadAsync<IReadOnlyList<(string, TopologicalPosition)>>(async (c, ct) =>
        {
            string participated = participant is null ? "" : """
                 AND (p.sender = @user OR EXISTS (
                      SELECT 1 FROM event_relations r2 JOIN events e2 ON e2.event_id = r2.event_id
                       WHERE r2.relates_to_id = t.root AND r2.relation_type = 'm.thread' AND e2.sender = @user
                         AND e2.room_id = @room))
                """;
            await using var query = c.Command($"""
                SELECT t.root, t.depth, t.stream FROM (
                    SELECT rel.relates_to_id AS root, e.depth AS depth, e.stream_ordering AS stream,
                           ROW_NUMBER() OVER (PARTITION BY rel.relates_to_id ORDER BY e.depth DESC, e.stream_ordering DESC) AS n
                      FROM event_relations rel JOIN events e ON e.event_id = rel.event_id
                     WHERE rel.relation_type = 'm.thread' AND e.room_id = @room
                       AND {NotRedacted("e")}
                ) t JOIN events p ON p.event_id = t.root
                WHERE t.n = 1 AND p.room_id = @room AND (t.depth < @fd OR (t.depth = @fd AND t.stream < @fs)){participated}
                ORDER BY t.depth DESC, t.stream DESC LIMIT @limit
                """)
                .With("@room", roomId).With("@fd", before.Depth).With("@fs", before.StreamOrdering).With("@limit", limit);
            if (participant is not null)
            {
                query.With("@user", participant);
            }

            await using var reader = await query.ExecuteReaderAsync(ct).ConfigureAwait(false);
            var roots = new List<(string, TopologicalPosition)>();
            while (await reader.ReadAsync(ct).ConfigureAwait(false))
            {
                roots.Add((reader.GetString(0), new TopologicalPosition(reader.GetInt64(1), reader.GetInt64(2))));
            }

            return roots;
        }, cancellationToken);

    public Task<IReadOnlyList<StoredEvent>> GetEventsByTimestampAsync(string roomId, long timestamp, long streamOrdering,
        bool forwards, int limit, CancellationToken cancellationToken) =>
        _db.ReadAsync(async (c, ct) =>
        {
            string sql = "SELECT " + EventColumns + (forwards
                ? " WHERE e.room_id = @room AND (e.origin_server_ts > @ts OR (e.origin_server_ts = @ts AND e.stream_ordering > @s))"
                  + " ORDER BY e.origin_server_ts ASC, e.stream_ordering ASC LIMIT @limit"
                : " WHERE e.room_id = @room AND (e.origin_server_ts < @ts OR (e.origin_server_ts = @ts AND e.stream_ordering < @s))"
                  + " ORDER BY e.origin_server_ts DESC, e.stream_ordering DESC LIMIT @limit");
            await using var query = c.Command(sql).With("@room", roomId).With("@ts", timestamp).With("@s", streamOrdering)
                .With("@limit", limit);
            return await ReadEventsAsync(query, ct).ConfigureAwait(false);
        }, cancellationToken);

    /// <summary>Parameter names <c>@{prefix}0, @{prefix}1, …</c> for an <c>IN (…)</c> list.</summary>
    private static string InList(int count, string prefix) =>
        string.Join(",", Enumerable.Range(0, count).Select(i => "@" + prefix + i.ToString(CultureInfo.InvariantCulture)));

    private static void WithList(DbCommand query, string prefix, IEnumerable<string> values)
    {
        int i = 0;
        foreach (string value in values)
        {
            query.With("@" + prefix + i.ToString(CultureInfo.InvariantCulture), value);
            i++;
        }
    }
}
