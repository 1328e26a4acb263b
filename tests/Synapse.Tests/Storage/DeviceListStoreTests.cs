using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Synapse.Configuration;
using Synapse.Events;
using Synapse.Identifiers;
using Synapse.RoomVersions;
using Synapse.Storage;
using Synapse.Streams;
using Synapse.Tests.Infrastructure;

namespace Synapse.Tests.Storage;

public sealed class DeviceListStoreTests
{
    private const string Alice = "@alice:test.local";
    private const string Bob = "@bob:test.local";
    private const string Carol = "@carol:test.local";
    private static readonly DeviceId Phone = DeviceId.Parse("PHONE");
    private static readonly DeviceId Laptop = DeviceId.Parse("LAPTOP");

    private static async Task<(ServiceProvider Services, TestDatabase Database, IDeviceListStore Store)> OpenAsync(DatabaseEngine engine)
    {
        var (services, database) = await AccountStoreTests.OpenAsync(engine);
        return (services, database, services.GetRequiredService<IDeviceListStore>());
    }

    private static async Task<IReadOnlyList<(long, string, string)>> RowsAsync(IDeviceListStore store) =>
        await store.GetRowsAsync(0, long.MaxValue, 1000, default);

    [Theory, ClassData(typeof(Engines))]
    public async Task AccountStore_DeviceChanges_WriteRowsInTheirTransactions(DatabaseEngine engine)
    {
        var (services, database, store) = await OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;
        var accounts = services.GetRequiredService<IAccountStore>();
        var alice = UserId.Parse(Alice);
        await accounts.CreateUserAsync(new NewUser(alice, "hash", false, false, null, null, 0), default);

        Assert.True((await accounts.AddDeviceAndTokenAsync(alice, Phone, null, "t1", 1, default)).DeviceCreated);
        Assert.False((await accounts.AddDeviceAndTokenAsync(alice, Phone, null, "t2", 2, default)).DeviceCreated);
        await accounts.AddDeviceAndTokenAsync(alice, Laptop, null, "t3", 3, default);
        Assert.True(await accounts.SetDeviceDisplayNameAsync(alice, Laptop, "Work", 4, default));
        Assert.False(await accounts.SetDeviceDisplayNameAsync(alice, DeviceId.Parse("GONE"), "x", 5, default));
        var removed = await accounts.DeleteDevicesAsync(alice, [Laptop, DeviceId.Parse("GONE")], 6, default);
        Assert.Equal([Laptop], removed.DeviceIds);
        await accounts.AddDeviceAndTokenAsync(alice, Laptop, null, "t4", 7, default);
        Assert.Equal([Laptop], (await accounts.DeleteOtherDevicesAndTokensAsync(alice, Phone, null, 8, default)).DeviceIds);
        Assert.Equal([Phone], (await accounts.DeactivateUserAsync(alice, 9, default)).DeviceIds);

        Assert.Equal(
            [(1L, Alice, "PHONE"), (3L, Alice, "LAPTOP"), (4L, Alice, "LAPTOP"), (6L, Alice, "LAPTOP"), (7L, Alice, "LAPTOP"),
             (8L, Alice, "LAPTOP"), (9L, Alice, "PHONE")],
            await RowsAsync(store));
        var loader = services.GetServices<IStreamPositionLoader>().Single(l => l.Stream == StreamNames.DeviceLists);
        Assert.Equal(9, await loader.LoadCurrentAsync(default));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task AddChanges_ChangedUsersInRange_DistinctAndPaged(DatabaseEngine engine)
    {
        var (services, database, store) = await OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;

        await store.AddChangesAsync(1, UserId.Parse(Alice), [Phone, Laptop], default);
        await store.AddChangesAsync(2, UserId.Parse(Bob), [Phone], default);
        await store.AddChangesAsync(3, UserId.Parse(Alice), [Phone], default);

        // Nobody shares a room: each user sees only their own changes.
        Assert.Equal([Alice], await store.GetChangedUsersSharingRoomsAsync(UserId.Parse(Alice), 0, 3, default));
        Assert.Equal([Bob], await store.GetChangedUsersSharingRoomsAsync(UserId.Parse(Bob), 1, 2, default));
        Assert.Empty(await store.GetChangedUsersSharingRoomsAsync(UserId.Parse(Alice), 1, 2, default));
        Assert.Empty(await store.GetChangedUsersSharingRoomsAsync(UserId.Parse(Alice), 3, 3, default));
        Assert.Equal([(1L, Alice, "LAPTOP"), (1L, Alice, "PHONE"), (2L, Bob, "PHONE")], await store.GetRowsAsync(0, 3, 2, default));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task MembershipQueries_JoinsLeavesAndProfileChanges_TransitionsAndSharing(DatabaseEngine engine)
    {
        var (services, database, store) = await OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;
        var events = services.GetRequiredService<IEventStore>();
        const string room = "!room:test.local";
        const string other = "!other:test.local";

        // Stream 1-3: alice, bob and carol join; 4: bob leaves; 5: carol changes her name (join to join); 6: bob joins the
        // other room, 7: alice too.
        await PersistAsync(events, room, 1, Alice, "join", newRoom: true);
        await PersistAsync(events, room, 2, Bob, "join");
        await PersistAsync(events, room, 3, Carol, "join");
        await PersistAsync(events, room, 4, Bob, "leave");
        await PersistAsync(events, room, 5, Carol, "join");
        await PersistAsync(events, other, 6, Bob, "join", newRoom: true);
        await PersistAsync(events, other, 7, Alice, "join");

        const string Dave = "@dave:test.local";
        string[] everyone = [Alice, Bob, Carol, Dave, Alice];
        Assert.Equal([Alice, Bob, Carol], (await store.GetUsersSharingRoomsAsync(UserId.Parse(Alice), everyone, default)).Order(StringComparer.Ordinal));
        Assert.Equal([Bob], await store.GetUsersSharingRoomsAsync(UserId.Parse(Alice), [Bob, Dave], default));
        Assert.Empty(await store.GetUsersSharingRoomsAsync(UserId.Parse(Alice), [], default));
        Assert.Equal([Alice, Carol], (await store.GetJoinedMembersAsync([room], default)).Order(StringComparer.Ordinal));
        Assert.Equal([Alice, Bob, Carol], (await store.GetJoinedMembersAsync([room, other], default)).Order(StringComparer.Ordinal));
        Assert.Empty(await store.GetUsersSharingRoomsAsync(UserId.Parse("@nobody:test.local"), everyone, default));

        // Device-list changes of room-mates and of oneself, not of strangers.
        await store.AddChangesAsync(1, UserId.Parse(Dave), [Phone], default);
        await store.AddChangesAsync(2, UserId.Parse(Carol), [Phone, Laptop], default);
        await store.AddChangesAsync(3, UserId.Parse(Alice), [Phone], default);
        await store.AddChangesAsync(4, UserId.Parse(Bob), [Phone], default);
        Assert.Equal([Alice, Bob, Carol],
            (await store.GetChangedUsersSharingRoomsAsync(UserId.Parse(Alice), 0, 4, default)).Order(StringComparer.Ordinal));
        Assert.Equal([Carol], await store.GetChangedUsersSharingRoomsAsync(UserId.Parse(Alice), 0, 2, default));
        Assert.Equal([Dave], await store.GetChangedUsersSharingRoomsAsync(UserId.Parse(Dave), 0, 4, default));

        // Alice's view of (2, 7]: carol's join, bob's leave, carol's rename is no transition; alice joined the other room.
        var transitions = await store.GetMembershipTransitionsAsync(UserId.Parse(Alice), 2, 7, default);
        Assert.Equal(
            [
                new MembershipTransition(room, Bob, true, false),
                new MembershipTransition(room, Carol, false, true),
                new MembershipTransition(other, Bob, false, true),
                new MembershipTransition(other, Alice, false, true),
            ],
            transitions);

        // Bob left `room` in (3, 4]: the room is still reported to him, although he is no longer joined.
        Assert.Equal([new MembershipTransition(room, Bob, true, false)], await store.GetMembershipTransitionsAsync(UserId.Parse(Bob), 3, 5, default));
    }

    private static async Task PersistAsync(IEventStore events, string roomId, long stream, string userId, string membership,
        bool newRoom = false)
    {
        string json = JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["room_id"] = roomId,
            ["sender"] = userId,
            ["type"] = "m.room.member",
            ["state_key"] = userId,
            ["depth"] = stream,
            ["origin_server_ts"] = 1000 + stream,
            ["prev_events"] = Array.Empty<string>(),
            ["auth_events"] = Array.Empty<string>(),
            ["content"] = new Dictionary<string, object> { ["membership"] = membership, ["displayname"] = "n" + stream },
        });
        string eventId = "$e" + stream;
        var pdu = Pdu.Create(JsonDocument.Parse(json).RootElement.Clone(), KnownRoomVersions.V10, eventId);
        var key = new TypeStateKey("m.room.member", userId);
        await events.PersistBatchAsync(new EventBatch
        {
            RoomId = roomId,
            NewRoom = newRoom ? new RoomRecord(roomId, "10", userId, false) : null,
            Events = [new EventToPersist(pdu, stream, stream, null, 1000, null, null)],
            StateGroups = [new NewStateGroup(stream, eventId, null, 0, new Dictionary<TypeStateKey, string> { [key] = eventId })],
            CurrentState = [new CurrentStateChange(key, eventId, membership)],
            ForwardExtremities = [eventId],
        }, default);
    }
}
