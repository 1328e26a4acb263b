using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Synapse.Configuration;
using Synapse.Storage;
using Synapse.Streams;
using Synapse.Sync;
using Synapse.Tests.Infrastructure;
using static Synapse.Tests.Sync.ToDeviceContributorTests;

namespace Synapse.Tests.Sync;

/// <summary>Device-list rows written by device changes, and the contributor's changed/left for room-mates.</summary>
public sealed class DeviceListsContributorTests
{
    private const string V3 = "/_matrix/client/v3";

    private static async Task<(List<string> Changed, List<string> Left)> ContributeAsync(TestHomeserver server, Session who, SyncToken? since)
    {
        var contributor = server.Services.GetServices<ISyncContributor>().OfType<DeviceListsContributor>().Single();
        var now = Current(server);
        var response = new SyncResponseBuilder();
        await contributor.ContributeAsync(Context(RequesterOf(who), since, now), response, default);
        var lists = response.Build(now.ToString())["device_lists"]!;
        return (lists["changed"]!.AsArray().Select(u => (string)u!).ToList(), lists["left"]!.AsArray().Select(u => (string)u!).ToList());
    }

    private static async Task<IReadOnlyList<(long, string, string)>> RowsAsync(TestHomeserver server, SyncToken since) =>
        await server.Services.GetRequiredService<IDeviceListStore>()
            .GetRowsAsync(since[StreamNames.DeviceLists], Current(server)[StreamNames.DeviceLists], 1000, default);

    private static async Task<string> CreateRoomAsync(TestHomeserver server, Session creator, params Session[] joiners)
    {
        var (status, created) = await server.SendAsync(HttpMethod.Post, $"{V3}/createRoom", creator.AccessToken, new { preset = "public_chat" });
        Assert.Equal(200, status);
        string roomId = created.GetProperty("room_id").GetString()!;
        foreach (var joiner in joiners)
        {
            await JoinAsync(server, joiner, roomId);
        }

        return roomId;
    }

    private static async Task JoinAsync(TestHomeserver server, Session who, string roomId) =>
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"{V3}/join/{roomId}", who.AccessToken, new { })).Status);

    private static async Task LeaveAsync(TestHomeserver server, Session who, string roomId) =>
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"{V3}/rooms/{roomId}/leave", who.AccessToken, new { })).Status);

    [Theory, ClassData(typeof(Engines))]
    public async Task DeviceChanges_LoginRenameDeleteLogout_WriteRowsWokeRoomMates(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var updates = new List<StreamUpdate>();
        server.Services.GetRequiredService<StreamBus>().Subscribe(u =>
        {
            if (u.Stream == StreamNames.DeviceLists)
            {
                lock (updates)
                {
                    updates.Add(u);
                }
            }
        });
        var t0 = Current(server);
        var alice = await server.RegisterAsync("alice", deviceId: "PHONE");
        var bob = await server.RegisterAsync("bob");
        string roomId = await CreateRoomAsync(server, alice, bob);
        Assert.Equal([(t0[StreamNames.DeviceLists] + 1, alice.UserId, "PHONE"), (t0[StreamNames.DeviceLists] + 2, bob.UserId, bob.DeviceId)],
            await RowsAsync(server, t0));

        var t1 = Current(server);
        await LoginAsync(server, "alice", "PHONE");                      // an existing device: no change
        var laptop = await LoginAsync(server, "alice", "LAPTOP");        // new
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Put, $"{V3}/devices/LAPTOP", alice.AccessToken, new { display_name = "Work" })).Status);
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"{V3}/logout", laptop.AccessToken, new { })).Status);

        var rows = await RowsAsync(server, t1);
        Assert.Equal(["LAPTOP", "LAPTOP", "LAPTOP"], rows.Select(r => r.Item3));
        Assert.All(rows, r => Assert.Equal(alice.UserId, r.Item2));
        Assert.Equal(3, rows.Select(r => r.Item1).Distinct().Count());

        // Every row wakes alice's own syncs and the syncs of her rooms; a login on an existing device allocated a position with
        // no rows.
        StreamUpdate[] seen;
        lock (updates)
        {
            seen = [.. updates];
        }

        var laptopRows = seen.SelectMany(u => u.Rows).Where(r => (string?)r.Data["device_id"] == "LAPTOP").ToList();
        Assert.Equal(3, laptopRows.Count);
        Assert.All(laptopRows, r => Assert.Equal([NotifierKey.User(alice.UserId), NotifierKey.Room(roomId)], r.NotifierKeys));
        Assert.Contains(seen, u => u.Rows.Count == 0);

        // Deleting devices through the devices API (with UIA) and deactivation write rows too.
        var tablet = await LoginAsync(server, "alice", "TABLET");
        var t2 = Current(server);
        var (deleteStatus, _) = await server.SendAsync(HttpMethod.Post, $"{V3}/delete_devices", alice.AccessToken, new
        {
            devices = new[] { "TABLET", "UNKNOWN" },
            auth = new { type = "m.login.password", identifier = new { type = "m.id.user", user = "alice" }, password = "correct horse battery" },
        });
        Assert.Equal(200, deleteStatus);
        Assert.Equal([(alice.UserId, "TABLET")], (await RowsAsync(server, t2)).Select(r => (r.Item2, r.Item3)));
        Assert.Equal(401, (await server.SendAsync(HttpMethod.Get, $"{V3}/account/whoami", tablet.AccessToken)).Status);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Changed_RoomMatesAndSelf_NotStrangers(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");
        var carol = await server.RegisterAsync("carol");
        await CreateRoomAsync(server, alice, bob);
        var since = Current(server);

        await LoginAsync(server, "bob", "BOB2");
        await LoginAsync(server, "carol", "CAROL2");
        await LoginAsync(server, "alice", "ALICE2");

        var (changed, left) = await ContributeAsync(server, alice, since);
        Assert.Equal([alice.UserId, bob.UserId], changed);
        Assert.Empty(left);

        // Carol shares no room with anyone: only her own change.
        Assert.Equal([carol.UserId], (await ContributeAsync(server, carol, since)).Changed);

        // Initial syncs carry no device list changes.
        Assert.Empty((await ContributeAsync(server, alice, null)).Changed);
        // Nothing new since now.
        Assert.Empty((await ContributeAsync(server, alice, Current(server))).Changed);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task JoinsAndLeaves_NewlySharedChanged_NoLongerSharedLeft(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");
        var carol = await server.RegisterAsync("carol");
        var dave = await server.RegisterAsync("dave");
        string room = await CreateRoomAsync(server, alice, bob);
        string davesRoom = await CreateRoomAsync(server, dave);
        var t1 = Current(server);

        // Carol joins alice's room; alice joins dave's room.
        await JoinAsync(server, carol, room);
        await JoinAsync(server, alice, davesRoom);
        Assert.Equal([carol.UserId, dave.UserId], (await ContributeAsync(server, alice, t1)).Changed);
        Assert.Equal([alice.UserId, bob.UserId], (await ContributeAsync(server, carol, t1)).Changed);
        Assert.Equal([alice.UserId], (await ContributeAsync(server, dave, t1)).Changed);

        // A profile change is a join-to-join membership event: not a newly shared room.
        var t2 = Current(server);
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Put, $"{V3}/profile/{Uri.EscapeDataString(bob.UserId)}/displayname",
            bob.AccessToken, new { displayname = "Robert" })).Status);
        Assert.Empty((await ContributeAsync(server, alice, t2)).Changed);

        // Bob leaves the only room he shares with alice and carol; alice leaves dave's room.
        var t3 = Current(server);
        await LeaveAsync(server, bob, room);
        await LeaveAsync(server, alice, davesRoom);
        var (changed, left) = await ContributeAsync(server, alice, t3);
        Assert.Empty(changed);
        Assert.Equal([bob.UserId, dave.UserId], left);
        Assert.Equal([alice.UserId, carol.UserId], (await ContributeAsync(server, bob, t3)).Left);
        Assert.Equal([alice.UserId], (await ContributeAsync(server, dave, t3)).Left);

        // Leaving one of two shared rooms is not "left"; a device change of someone who left is not reported.
        string second = await CreateRoomAsync(server, alice, carol);
        var t4 = Current(server);
        await LeaveAsync(server, carol, second);
        await LoginAsync(server, "bob", "BOB2");
        var (changedAfter, leftAfter) = await ContributeAsync(server, alice, t4);
        Assert.Empty(changedAfter);
        Assert.Empty(leftAfter);
    }
}
