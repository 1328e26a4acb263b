using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Synapse.Configuration;
using Synapse.Events;
using Synapse.RoomVersions;
using Synapse.Storage;
using Synapse.Tests.Infrastructure;

namespace Synapse.Tests.Storage;

public sealed class EventStoreTests
{
    private const string Room = "!room:test.local";
    private const string Alice = "@alice:test.local";

    private static Pdu Event(string id, string type, string? stateKey, long depth, string content = "{}", long ts = 1000, string? redacts = null)
    {
        string json = JsonSerializer.Serialize(new Dictionary<string, object?>
        {
            ["room_id"] = Room,
            ["sender"] = Alice,
            ["type"] = type,
            ["state_key"] = stateKey,
            ["depth"] = depth,
            ["origin_server_ts"] = ts,
            ["prev_events"] = Array.Empty<string>(),
            ["auth_events"] = Array.Empty<string>(),
            ["redacts"] = redacts,
            ["content"] = JsonDocument.Parse(content).RootElement,
        }.Where(kv => kv.Value is not null).ToDictionary());
        return Pdu.Create(JsonDocument.Parse(json).RootElement.Clone(), KnownRoomVersions.V10, id);
    }

    private static async Task<(ServiceProvider Services, TestDatabase Database, IEventStore Store)> OpenAsync(DatabaseEngine engine)
    {
        var (services, database) = await AccountStoreTests.OpenAsync(engine);
        return (services, database, services.GetRequiredService<IEventStore>());
    }

    private static EventBatch Batch(IReadOnlyList<EventToPersist> events, IReadOnlyList<NewStateGroup>? groups = null,
        IReadOnlyList<CurrentStateChange>? state = null, RoomRecord? newRoom = null) => new()
    {
        RoomId = Room,
        NewRoom = newRoom,
        Events = events,
        StateGroups = groups ?? [],
        CurrentState = state ?? [],
        ForwardExtremities = [events[^1].Pdu.EventId],
    };

    private static readonly TypeStateKey CreateKey = new("m.room.create", "");
    private static readonly TypeStateKey TopicKey = new("m.room.topic", "");

    [Theory, ClassData(typeof(Engines))]
    public async Task StateGroups_DeltaChains_RebuildFullStateAtEveryGroup(DatabaseEngine engine)
    {
        var (services, database, store) = await OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;
        var create = Event("$create", "m.room.create", "", 1);
        var topic1 = Event("$t1", "m.room.topic", "", 2, """{"topic":"one"}""");
        var topic2 = Event("$t2", "m.room.topic", "", 3, """{"topic":"two"}""");
        var message = Event("$m", "m.room.message", null, 4, """{"body":"hi"}""");

        await store.PersistBatchAsync(Batch(
            [
                new EventToPersist(create, 1, 1, null, 1, null, null),
                new EventToPersist(topic1, 2, 2, null, 1, null, null),
                new EventToPersist(topic2, 3, 3, "$t1", 1, null, null),
                new EventToPersist(message, 4, 3, null, 1, new TransactionKey(Alice, "DEV", "txn"), null),
            ],
            [
                new NewStateGroup(1, "$create", null, 0, new Dictionary<TypeStateKey, string> { [CreateKey] = "$create" }),
                new NewStateGroup(2, "$t1", 1, 1, new Dictionary<TypeStateKey, string> { [TopicKey] = "$t1" }),
                new NewStateGroup(3, "$t2", 2, 2, new Dictionary<TypeStateKey, string> { [TopicKey] = "$t2" }),
            ],
            [new CurrentStateChange(CreateKey, "$create", null), new CurrentStateChange(TopicKey, "$t2", null)],
            new RoomRecord(Room, "10", Alice, false)), default);

        Assert.Equal(new Dictionary<TypeStateKey, string> { [CreateKey] = "$create" }, await store.GetStateGroupAsync(1, default));
        Assert.Equal(new Dictionary<TypeStateKey, string> { [CreateKey] = "$create", [TopicKey] = "$t1" }, await store.GetStateGroupAsync(2, default));
        Assert.Equal(new Dictionary<TypeStateKey, string> { [CreateKey] = "$create", [TopicKey] = "$t2" }, await store.GetStateGroupAsync(3, default));
        Assert.Equal(await store.GetStateGroupAsync(3, default), await store.GetCurrentStateIdsAsync(Room, default));
        Assert.Equal((4, 3), await store.GetMaxIdsAsync(default));
        Assert.Equal(["$m"], await store.GetForwardExtremitiesAsync(Room, default));
        Assert.Equal("$m", await store.FindTransactionAsync(Alice, "DEV", "txn", default));
        Assert.Null(await store.FindTransactionAsync(Alice, "OTHER", "txn", default));
        Assert.Equal(new Dictionary<string, string> { ["$m"] = "txn" },
            await store.GetTransactionIdsAsync(["$m", "$t1"], Alice, "DEV", default));

        var stored = await store.GetEventsAsync(["$t2", "$m", "$missing"], default);
        Assert.Equal(2, stored.Count);
        var t2 = stored.Single(e => e.Pdu.EventId == "$t2");
        Assert.Equal("$t1", t2.ReplacesState);
        Assert.Equal("two", t2.Pdu.ContentString("topic"));
        Assert.Equal(3, t2.StreamOrdering);
        Assert.Equal(KnownRoomVersions.V10, t2.Pdu.RoomVersion);
        Assert.Equal(new RoomRecord(Room, "10", Alice, false), await store.GetRoomAsync(Room, default));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task RoomEvents_PaginateBothWaysWithBounds_AndFindByTimestamp(DatabaseEngine engine)
    {
        var (services, database, store) = await OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;
        var events = Enumerable.Range(1, 6)
            .Select(i => new EventToPersist(Event($"$e{i}", i == 1 ? "m.room.create" : "m.room.message", i == 1 ? "" : null, i, ts: 1000 * i), i, 1, null, 1, null, null))
            .ToList();
        await store.PersistBatchAsync(Batch(events,
            [new NewStateGroup(1, "$e1", null, 0, new Dictionary<TypeStateKey, string> { [CreateKey] = "$e1" })],
            newRoom: new RoomRecord(Room, "10", Alice, false)), default);

        var newest = await store.GetRoomEventsAsync(Room, TopologicalPosition.End, backwards: true, null, 2, default);
        Assert.Equal(["$e6", "$e5"], newest.Select(e => e.Pdu.EventId));
        var older = await store.GetRoomEventsAsync(Room, newest[^1].Position, backwards: true, null, 10, default);
        Assert.Equal(["$e4", "$e3", "$e2", "$e1"], older.Select(e => e.Pdu.EventId));
        var bounded = await store.GetRoomEventsAsync(Room, TopologicalPosition.End, backwards: true, new TopologicalPosition(4, 4), 10, default);
        Assert.Equal(["$e6", "$e5", "$e4"], bounded.Select(e => e.Pdu.EventId));
        var forwards = await store.GetRoomEventsAsync(Room, new TopologicalPosition(3, 3), backwards: false, new TopologicalPosition(5, 5), 10, default);
        Assert.Equal(["$e3", "$e4"], forwards.Select(e => e.Pdu.EventId));

        Assert.Equal(new TopologicalPosition(3, 3), await store.GetPositionAsync("$e3", default));
        Assert.Equal(new TopologicalPosition(4, 4), await store.GetPositionAtStreamAsync(Room, 4, default));
        Assert.Equal(["$e3", "$e4"], (await store.GetEventsByTimestampAsync(Room, 2500, 0, forwards: true, 2, default)).Select(e => e.Pdu.EventId));
        Assert.Equal(["$e2", "$e1"], (await store.GetEventsByTimestampAsync(Room, 2500, long.MaxValue, forwards: false, 5, default)).Select(e => e.Pdu.EventId));
        Assert.Empty(await store.GetEventsByTimestampAsync(Room, 99_000, 0, forwards: true, 5, default));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task RedactionsRelationsAndMemberships_AreQueryable(DatabaseEngine engine)
    {
        var (services, database, store) = await OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;
        var memberKey = new TypeStateKey("m.room.member", Alice);
        await store.PersistBatchAsync(Batch(
            [
                new EventToPersist(Event("$create", "m.room.create", "", 1), 1, 1, null, 1, null, null),
                new EventToPersist(Event("$join", "m.room.member", Alice, 2, """{"membership":"join"}"""), 2, 2, null, 1, null, null),
                new EventToPersist(Event("$msg", "m.room.message", null, 3), 3, 2, null, 1, null, null),
                new EventToPersist(Event("$edit", "m.room.message", null, 4), 4, 2, null, 1, null, new EventRelation("$msg", "m.replace", null)),
                new EventToPersist(Event("$like", "m.reaction", null, 5), 5, 2, null, 1, null, new EventRelation("$msg", "m.annotation", "👍")),
                new EventToPersist(Event("$redaction", "m.room.redaction", null, 6, redacts: "$edit"), 6, 2, null, 1, null, null),
            ],
            [
                new NewStateGroup(1, "$create", null, 0, new Dictionary<TypeStateKey, string> { [CreateKey] = "$create" }),
                new NewStateGroup(2, "$join", 1, 1, new Dictionary<TypeStateKey, string> { [memberKey] = "$join" }),
            ],
            [new CurrentStateChange(CreateKey, "$create", null), new CurrentStateChange(memberKey, "$join", "join")],
            new RoomRecord(Room, "10", Alice, false)), default);

        Assert.Equal("$redaction", (await store.GetEventsAsync(["$edit"], default))[0].RedactedBy);
        Assert.Null((await store.GetEventsAsync(["$msg"], default))[0].RedactedBy);
        // The redacted edit no longer counts as a relation.
        Assert.Equal(["$like"], (await store.GetRelationsPageAsync(Room, "$msg", null, null, TopologicalPosition.End, true, null, 10, 1, default)).Select(e => e.Pdu.EventId));
        Assert.Equal(["$like"], (await store.GetRelationsPageAsync(Room, "$msg", "m.annotation", "m.reaction", TopologicalPosition.End, true, null, 10, 1, default)).Select(e => e.Pdu.EventId));
        Assert.Empty(await store.GetRelationsPageAsync(Room, "$msg", "m.annotation", "m.room.message", TopologicalPosition.End, true, null, 10, 1, default));
        Assert.Equal(["$like"], (await store.GetRelationChildrenAsync(["$msg"], ["m.annotation", "m.replace"], default)).Select(e => e.Pdu.EventId));
        Assert.Equal([Room], await store.GetRoomsForUserAsync(Alice, ["join"], default));
        Assert.Empty(await store.GetRoomsForUserAsync(Alice, ["invite", "leave"], default));
        Assert.Equal(["$join"], (await store.GetStateHistoryAsync(Room, "m.room.member", Alice, default)).Select(e => e.Pdu.EventId));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task EventsByStream_RangeAcrossRoomsWithGaps_ReturnsEventsInOrderWithTheirRelations(DatabaseEngine engine)
    {
        var (services, database, store) = await OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;
        const string Other = "!other:test.local";
        await store.PersistBatchAsync(Batch(
            [
                new EventToPersist(Event("$create", "m.room.create", "", 1), 1, 1, null, 1, null, null),
                new EventToPersist(Event("$msg", "m.room.message", null, 2), 2, 1, null, 1, null, null),
                // Position 3 was allocated and never written (a failed write): a gap.
                new EventToPersist(Event("$like", "m.reaction", null, 3), 4, 1, null, 1, null, new EventRelation("$msg", "m.annotation", "👍")),
                new EventToPersist(Event("$edit", "m.room.message", null, 4), 6, 1, null, 1, null, new EventRelation("$msg", "m.replace", null)),
                new EventToPersist(Event("$redaction", "m.room.redaction", null, 5, redacts: "$edit"), 7, 1, null, 1, null, null),
            ],
            [new NewStateGroup(1, "$create", null, 0, new Dictionary<TypeStateKey, string> { [CreateKey] = "$create" })],
            newRoom: new RoomRecord(Room, "10", Alice, false)), default);
        var otherCreate = Pdu.Create(JsonDocument.Parse($$$"""
            {"room_id":"{{{Other}}}","sender":"{{{Alice}}}","type":"m.room.create","state_key":"","depth":1,
             "origin_server_ts":1,"prev_events":[],"auth_events":[],"content":{}}
            """).RootElement.Clone(), KnownRoomVersions.V11, "$othercreate");
        await store.PersistBatchAsync(new EventBatch
        {
            RoomId = Other,
            NewRoom = new RoomRecord(Other, "11", Alice, false),
            Events = [new EventToPersist(otherCreate, 5, 2, null, 1, null, null)],
            StateGroups = [new NewStateGroup(2, "$othercreate", null, 0, new Dictionary<TypeStateKey, string> { [CreateKey] = "$othercreate" })],
            CurrentState = [],
            ForwardExtremities = ["$othercreate"],
        }, default);

        var all = await store.GetEventsByStreamAsync(0, 7, 100, default);
        Assert.Equal([("$create", 1L), ("$msg", 2L), ("$like", 4L), ("$othercreate", 5L), ("$edit", 6L), ("$redaction", 7L)],
            all.Select(e => (e.Pdu.EventId, e.StreamOrdering)));
        Assert.Equal(new EventRelation("$msg", "m.annotation", "👍"), all[2].Relation);
        Assert.Equal(new EventRelation("$msg", "m.replace", null), all[4].Relation);
        Assert.Null(all[1].Relation);
        // The redacted edit comes back as it was stored, with its relation: the stream does not change after the fact.
        Assert.Equal("$edit", all[5].Pdu.Redacts);
        Assert.Equal(KnownRoomVersions.V11, all[3].Pdu.RoomVersion);
        Assert.Equal(KnownRoomVersions.V10, all[2].Pdu.RoomVersion);

        Assert.Equal(["$like", "$othercreate"], (await store.GetEventsByStreamAsync(2, 7, 2, default)).Select(e => e.Pdu.EventId));
        Assert.Equal(["$like"], (await store.GetEventsByStreamAsync(2, 4, 10, default)).Select(e => e.Pdu.EventId));
        Assert.Equal(["$like"], (await store.GetEventsByStreamAsync(3, 4, 10, default)).Select(e => e.Pdu.EventId));
        Assert.Empty(await store.GetEventsByStreamAsync(2, 3, 10, default));
        Assert.Empty(await store.GetEventsByStreamAsync(4, 4, 10, default));
        Assert.Empty(await store.GetEventsByStreamAsync(7, 100, 10, default));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task PersistBatch_DuplicateEventId_RollsBackTheWholeBatch(DatabaseEngine engine)
    {
        var (services, database, store) = await OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;
        var create = new EventToPersist(Event("$create", "m.room.create", "", 1), 1, 1, null, 1, null, null);
        await store.PersistBatchAsync(Batch([create],
            [new NewStateGroup(1, "$create", null, 0, new Dictionary<TypeStateKey, string> { [CreateKey] = "$create" })],
            newRoom: new RoomRecord(Room, "10", Alice, false)), default);

        var batch = Batch(
            [new EventToPersist(Event("$new", "m.room.message", null, 2), 2, 1, null, 1, null, null),
             new EventToPersist(Event("$create", "m.room.message", null, 3), 3, 1, null, 1, null, null)]);
        await Assert.ThrowsAnyAsync<System.Data.Common.DbException>(() => store.PersistBatchAsync(batch, default));

        Assert.Empty(await store.GetEventsAsync(["$new"], default));
        Assert.Equal(["$create"], await store.GetForwardExtremitiesAsync(Room, default));
    }
}
