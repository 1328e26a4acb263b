using Microsoft.Extensions.DependencyInjection;
using Synapse.Configuration;
using Synapse.Storage;
using Synapse.Streams;
using Synapse.Tests.Infrastructure;

namespace Synapse.Tests.Storage;

public sealed class AccountDataStoreTests
{
    private const string Alice = "@alice:test.local";
    private const string Bob = "@bob:test.local";
    private const string Room = "!room:test.local";

    [Theory, ClassData(typeof(Engines))]
    public async Task Set_GlobalAndRoomOfSameType_AreSeparateEntries(DatabaseEngine engine)
    {
        var (services, database) = await AccountStoreTests.OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;
        var store = services.GetRequiredService<IAccountDataStore>();

        await store.SetAsync(Alice, null, "org.example", """{"scope":"global"}""", 1, default);
        await store.SetAsync(Alice, Room, "org.example", """{"scope":"room"}""", 2, default);

        Assert.Equal("""{"scope":"global"}""", await store.GetAsync(Alice, null, "org.example", default));
        Assert.Equal("""{"scope":"room"}""", await store.GetAsync(Alice, Room, "org.example", default));
        Assert.Null(await store.GetAsync(Bob, null, "org.example", default));
        Assert.Null(await store.GetAsync(Alice, "!other:test.local", "org.example", default));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Set_SameEntryTwice_ReplacesContentAndPosition(DatabaseEngine engine)
    {
        var (services, database) = await AccountStoreTests.OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;
        var store = services.GetRequiredService<IAccountDataStore>();

        await store.SetAsync(Alice, null, "m.direct", """{"v":1}""", 1, default);
        await store.SetAsync(Alice, null, "m.direct", """{"v":2}""", 5, default);

        var all = await store.GetForUserAsync(Alice, 0, long.MaxValue, default);
        var entry = Assert.Single(all);
        Assert.Equal(new AccountDataEntry(Alice, null, "m.direct", """{"v":2}""", 5), entry);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Set_LowerPositionCommittedLater_KeepsTheLaterPosition(DatabaseEngine engine)
    {
        var (services, database) = await AccountStoreTests.OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;
        var store = services.GetRequiredService<IAccountDataStore>();

        // Position 7 was allocated after 6 but committed first: 6 must not overwrite it.
        await store.SetAsync(Alice, Room, "m.tag", """{"tags":{"b":{}}}""", 7, default);
        await store.SetAsync(Alice, Room, "m.tag", """{"tags":{"a":{}}}""", 6, default);

        Assert.Equal("""{"tags":{"b":{}}}""", await store.GetAsync(Alice, Room, "m.tag", default));
        Assert.Equal(7, Assert.Single(await store.GetForUserAsync(Alice, 0, 10, default)).StreamId);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task GetForUser_Range_ReturnsOnlyThatUsersEntriesInPositionOrder(DatabaseEngine engine)
    {
        var (services, database) = await AccountStoreTests.OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;
        var store = services.GetRequiredService<IAccountDataStore>();

        await store.SetAsync(Alice, null, "a", "{}", 1, default);
        await store.SetAsync(Bob, null, "b", "{}", 2, default);
        await store.SetAsync(Alice, Room, "c", "{}", 4, default);
        await store.SetAsync(Alice, null, "d", "{}", 3, default);
        await store.SetAsync(Alice, null, "e", "{}", 6, default);

        var range = await store.GetForUserAsync(Alice, 1, 4, default);
        Assert.Equal(["d", "c"], range.Select(e => e.Type));
        Assert.Equal(Room, range[1].RoomId);
        Assert.Equal(["a", "d", "c", "e"], (await store.GetForUserAsync(Alice, 0, 6, default)).Select(e => e.Type));
        Assert.Empty(await store.GetForUserAsync(Alice, 6, 10, default));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task GetUpdates_AcrossUsers_PagesByPosition(DatabaseEngine engine)
    {
        var (services, database) = await AccountStoreTests.OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;
        var store = services.GetRequiredService<IAccountDataStore>();

        await store.SetAsync(Alice, null, "a", "{}", 1, default);
        await store.SetAsync(Bob, Room, "b", "{}", 2, default);
        await store.SetAsync(Alice, null, "c", "{}", 3, default);

        var page = await store.GetUpdatesAsync(0, 3, 2, default);
        Assert.Equal([1L, 2L], page.Select(e => e.StreamId));
        Assert.Equal([3L], (await store.GetUpdatesAsync(2, 3, 2, default)).Select(e => e.StreamId));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task StreamLoader_AfterWrites_StartsAtTheHighestStoredPosition(DatabaseEngine engine)
    {
        var (services, database) = await AccountStoreTests.OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;
        var store = services.GetRequiredService<IAccountDataStore>();
        await store.SetAsync(Alice, null, "a", "{}", 41, default);
        await store.SetAsync(Bob, null, "b", "{}", 42, default);

        var loader = services.GetServices<IStreamPositionLoader>().Single(l => l.Stream == StreamNames.AccountData);
        Assert.Equal(42, await loader.LoadCurrentAsync(default));
    }
}
