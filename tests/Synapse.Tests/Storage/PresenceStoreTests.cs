using Synapse.Configuration;
using Synapse.Storage;
using Synapse.Tests.Infrastructure;
using Synapse.Tests.Sync;
using static Synapse.Tests.Sync.PresenceTestHost;

namespace Synapse.Tests.Storage;

public sealed class PresenceStoreTests
{
    private const string Room = "!room:test.local";
    private const string Dave = "@dave:test.local";

    private static PresenceRecord Record(string user, string state, long stream, string? status = null, bool active = false) =>
        new(user, state, status, 1000 + stream, 2000 + stream, active, stream);

    [Theory, ClassData(typeof(Engines))]
    public async Task Upsert_ThenGet_RoundTripsAndNeverGoesBackwards(DatabaseEngine engine)
    {
        await using var host = await PresenceTestHost.StartAsync(engine);
        var store = host.Store;
        Assert.Null(await store.GetAsync(Alice, default));

        await store.UpsertAsync([Record(Alice, "online", 5, "hello", active: true), Record(Bob, "unavailable", 6)], default);
        Assert.Equal(Record(Alice, "online", 5, "hello", active: true), await store.GetAsync(Alice, default));
        Assert.Equal(Record(Bob, "unavailable", 6), await store.GetAsync(Bob, default));

        // Same position (a batched write of newer times) replaces; an older position does not.
        await store.UpsertAsync([Record(Alice, "online", 5) with { LastActiveTs = 9999 }], default);
        Assert.Equal(9999, (await store.GetAsync(Alice, default))!.LastActiveTs);
        await store.UpsertAsync([Record(Alice, "offline", 4)], default);
        Assert.Equal("online", (await store.GetAsync(Alice, default))!.State);
        await store.UpsertAsync([Record(Alice, "offline", 7)], default);
        Assert.Equal(Record(Alice, "offline", 7), await store.GetAsync(Alice, default));

        Assert.Equal([Bob], (await store.GetNotOfflineAsync(default)).Select(r => r.UserId));
        await store.UpsertAsync([], default);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task GetUpdates_RangeOrderAndLimit(DatabaseEngine engine)
    {
        await using var host = await PresenceTestHost.StartAsync(engine);
        var store = host.Store;
        await store.UpsertAsync([Record(Carol, "online", 3), Record(Alice, "online", 1), Record(Bob, "online", 2)], default);

        Assert.Equal([Alice, Bob, Carol], (await store.GetUpdatesAsync(0, 3, 10, default)).Select(r => r.UserId));
        Assert.Equal([Bob], (await store.GetUpdatesAsync(1, 2, 10, default)).Select(r => r.UserId));
        Assert.Equal([Bob, Carol], (await store.GetUpdatesAsync(1, 10, 10, default)).Select(r => r.UserId));
        Assert.Equal([Alice], (await store.GetUpdatesAsync(0, 3, 1, default)).Select(r => r.UserId));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Visibility_FollowsJoinedRooms(DatabaseEngine engine)
    {
        await using var host = await PresenceTestHost.StartAsync(engine);
        var store = host.Store;
        await host.SetMembershipAsync(Room, Alice, "join");
        await host.SetMembershipAsync(Room, Bob, "join");
        await host.SetMembershipAsync(Room, Carol, "invite");
        await host.SetMembershipAsync("!other:test.local", Alice, "join");
        await host.SetMembershipAsync("!other:test.local", Dave, "join");
        await store.UpsertAsync([Record(Alice, "online", 1), Record(Bob, "offline", 2), Record(Carol, "online", 3), Record(Dave, "online", 4)], default);

        Assert.True(await store.SharesRoomAsync(Bob, Alice, default));
        Assert.False(await store.SharesRoomAsync(Bob, Carol, default));
        Assert.False(await store.SharesRoomAsync(Bob, Dave, default));

        // Offline rows are left out of the snapshot but not out of the changes.
        Assert.Equal([Alice], (await store.GetVisibleAsync(Bob, default)).Select(r => r.UserId));
        Assert.Equal([Alice, Dave], (await store.GetVisibleAsync(Alice, default)).Select(r => r.UserId));
        Assert.Equal([Alice, Bob], (await store.GetVisibleChangesAsync(Bob, 0, 4, default)).Select(r => r.UserId));
        Assert.Equal([Bob], (await store.GetVisibleChangesAsync(Bob, 1, 4, default)).Select(r => r.UserId));
        Assert.Equal([Carol], (await store.GetVisibleChangesAsync(Carol, 0, 4, default)).Select(r => r.UserId));

        // Carol joins (membership event 6): Bob and Alice learn of her; she learns of Alice (Bob is offline).
        long before = host.Token()[Synapse.Streams.StreamNames.Events];
        await host.SetMembershipAsync(Room, Carol, "join");
        long after = host.Token()[Synapse.Streams.StreamNames.Events];
        Assert.Equal([Carol], (await store.GetNewlySharedAsync(Bob, before, after, default)).Select(r => r.UserId));
        Assert.Equal([Alice], (await store.GetNewlySharedAsync(Carol, before, after, default)).Select(r => r.UserId));
        Assert.Empty(await store.GetNewlySharedAsync(Dave, before, after, default));
        Assert.Empty(await store.GetNewlySharedAsync(Bob, after, after, default));
    }
}
