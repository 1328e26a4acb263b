using Microsoft.Extensions.DependencyInjection;
using Synapse.Configuration;
using Synapse.Storage;
using Synapse.Streams;
using Synapse.Tests.Infrastructure;

namespace Synapse.Tests.Storage;

public sealed class ReceiptStoreTests
{
    private const string Alice = "@alice:test.local";
    private const string Bob = "@bob:test.local";
    private const string Room = "!room:test.local";
    private const string Other = "!other:test.local";

    private static ReceiptRecord Receipt(string room, string user, string eventId, long stream, string type = "m.read", string? thread = null) =>
        new(room, type, user, thread, eventId, $$"""{"ts":{{stream}}}""", stream);

    [Theory, ClassData(typeof(Engines))]
    public async Task Set_SameKeyTwice_MovesTheReceipt(DatabaseEngine engine)
    {
        var (services, database) = await AccountStoreTests.OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;
        var store = services.GetRequiredService<IReceiptStore>();

        await store.SetAsync(Receipt(Room, Alice, "$a", 1), default);
        await store.SetAsync(Receipt(Room, Alice, "$b", 2), default);

        Assert.Equal(Receipt(Room, Alice, "$b", 2), await store.GetAsync(Room, "m.read", Alice, null, default));
        Assert.Single(await store.GetForRoomsAsync([Room], 0, 10, default));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Set_ThreadsAndTypes_AreSeparateReceipts(DatabaseEngine engine)
    {
        var (services, database) = await AccountStoreTests.OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;
        var store = services.GetRequiredService<IReceiptStore>();

        await store.SetAsync(Receipt(Room, Alice, "$a", 1), default);
        await store.SetAsync(Receipt(Room, Alice, "$b", 2, thread: "main"), default);
        await store.SetAsync(Receipt(Room, Alice, "$c", 3, thread: "$root"), default);
        await store.SetAsync(Receipt(Room, Alice, "$d", 4, type: "m.read.private"), default);

        Assert.Equal("$a", (await store.GetAsync(Room, "m.read", Alice, null, default))?.EventId);
        Assert.Equal("$b", (await store.GetAsync(Room, "m.read", Alice, "main", default))?.EventId);
        Assert.Equal("$c", (await store.GetAsync(Room, "m.read", Alice, "$root", default))?.EventId);
        Assert.Equal("$d", (await store.GetAsync(Room, "m.read.private", Alice, null, default))?.EventId);
        Assert.Null(await store.GetAsync(Room, "m.read.private", Alice, "main", default));

        var all = await store.GetForRoomsAsync([Room], 0, 10, default);
        Assert.Equal([null, "main", "$root", null], all.Select(r => r.ThreadId));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Set_LowerPositionCommittedLater_KeepsTheLaterPosition(DatabaseEngine engine)
    {
        var (services, database) = await AccountStoreTests.OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;
        var store = services.GetRequiredService<IReceiptStore>();

        await store.SetAsync(Receipt(Room, Alice, "$later", 9), default);
        await store.SetAsync(Receipt(Room, Alice, "$earlier", 8), default);

        Assert.Equal("$later", (await store.GetAsync(Room, "m.read", Alice, null, default))?.EventId);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task GetForRooms_RangeAndRooms_ReturnsMatchingInPositionOrder(DatabaseEngine engine)
    {
        var (services, database) = await AccountStoreTests.OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;
        var store = services.GetRequiredService<IReceiptStore>();

        await store.SetAsync(Receipt(Room, Alice, "$1", 1), default);
        await store.SetAsync(Receipt(Other, Alice, "$2", 2), default);
        await store.SetAsync(Receipt(Room, Bob, "$3", 3), default);
        await store.SetAsync(Receipt("!third:test.local", Bob, "$4", 4), default);
        await store.SetAsync(Receipt(Other, Bob, "$5", 5), default);

        Assert.Equal(["$3", "$5"], (await store.GetForRoomsAsync([Room, Other], 2, 5, default)).Select(r => r.EventId));
        Assert.Equal(["$1", "$2", "$3"], (await store.GetForRoomsAsync([Room, Other], 0, 4, default)).Select(r => r.EventId));
        Assert.Empty(await store.GetForRoomsAsync([], 0, 10, default));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task GetForRooms_MoreRoomsThanOneQueryTakes_ReadsThemAll(DatabaseEngine engine)
    {
        var (services, database) = await AccountStoreTests.OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;
        var store = services.GetRequiredService<IReceiptStore>();

        var rooms = Enumerable.Range(0, 1200).Select(i => $"!r{i}:test.local").ToList();
        await store.SetAsync(Receipt(rooms[3], Alice, "$first", 1), default);
        await store.SetAsync(Receipt(rooms[1100], Alice, "$last", 2), default);

        Assert.Equal(["$first", "$last"], (await store.GetForRoomsAsync(rooms, 0, 2, default)).Select(r => r.EventId));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task GetUpdates_PagesByPosition_AndLoaderStartsAtTheHighest(DatabaseEngine engine)
    {
        var (services, database) = await AccountStoreTests.OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;
        var store = services.GetRequiredService<IReceiptStore>();

        await store.SetAsync(Receipt(Room, Alice, "$1", 1), default);
        await store.SetAsync(Receipt(Other, Bob, "$2", 2, type: "m.read.private"), default);
        await store.SetAsync(Receipt(Room, Bob, "$3", 3), default);

        Assert.Equal([1L, 2L], (await store.GetUpdatesAsync(0, 3, 2, default)).Select(r => r.StreamId));
        Assert.Equal([3L], (await store.GetUpdatesAsync(2, 10, 2, default)).Select(r => r.StreamId));
        var loader = services.GetServices<IStreamPositionLoader>().Single(l => l.Stream == StreamNames.Receipts);
        Assert.Equal(3, await loader.LoadCurrentAsync(default));
    }
}
