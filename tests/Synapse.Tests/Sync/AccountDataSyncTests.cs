using Synapse.Configuration;
using Synapse.Tests.Infrastructure;
using static Synapse.Tests.Sync.AccountDataAndReceiptsSync;
using static Synapse.Tests.Sync.AccountDataAndReceiptsTestKit;

namespace Synapse.Tests.Sync;

/// <summary>Account data, tags and the fully read marker through /sync, over real HTTP on each engine.</summary>
public sealed class AccountDataSyncTests
{
    [Theory, ClassData(typeof(Engines))]
    public async Task Sync_InitialThenLongPoll_DeliversAccountDataOnce(DatabaseEngine engine)
    {
        var (server, alice, _, roomId) = await RoomAsync(engine);
        await using var _ = server;
        AssertOk(await server.SendAsync(HttpMethod.Put, $"{V3}/user/{alice.UserId}/account_data/org.example.a", alice.AccessToken, new { a = 1 }));
        AssertOk(await server.SendAsync(HttpMethod.Put, $"{V3}/user/{alice.UserId}/rooms/{roomId}/tags/m.favourite", alice.AccessToken, new { order = 0.1 }));

        var initial = await SyncAsync(server, alice);
        var global = Assert.Single(GlobalAccountData(initial), e => e.GetProperty("type").GetString() == "org.example.a");
        Assert.Equal(1, global.GetProperty("content").GetProperty("a").GetInt32());
        var tag = Assert.Single(RoomPart(initial, roomId, "account_data"));
        Assert.Equal("m.tag", tag.GetProperty("type").GetString());
        Assert.Equal(0.1, tag.GetProperty("content").GetProperty("tags").GetProperty("m.favourite").GetProperty("order").GetDouble());

        var waiting = SyncAsync(server, alice, NextBatch(initial), timeout: 60_000);
        await Task.Delay(200);
        Assert.False(waiting.IsCompleted, "nothing new: the sync must wait");
        AssertOk(await server.SendAsync(HttpMethod.Put, $"{V3}/user/{alice.UserId}/account_data/org.example.b", alice.AccessToken, new { b = 2 }));

        var woken = await waiting;
        Assert.Equal(["org.example.b"], GlobalAccountData(woken).Select(e => e.GetProperty("type").GetString()));
        Assert.Empty(RoomPart(woken, roomId, "account_data"));

        var next = await SyncAsync(server, alice, NextBatch(woken));
        Assert.Empty(GlobalAccountData(next));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Sync_ReadMarkerMoved_DeliversMFullyReadInRoomAccountData(DatabaseEngine engine)
    {
        var (server, alice, bob, roomId) = await RoomAsync(engine);
        await using var _ = server;
        string message = await SendTextAsync(server, alice, roomId, "read me");
        string since = NextBatch(await SyncAsync(server, bob));

        var waiting = SyncAsync(server, bob, since, timeout: 60_000);
        await Task.Delay(200);
        AssertOk(await server.SendAsync(HttpMethod.Post, $"{V3}/rooms/{roomId}/read_markers", bob.AccessToken,
            new Dictionary<string, string> { ["m.fully_read"] = message }));

        var woken = await waiting;
        var marker = Assert.Single(RoomPart(woken, roomId, "account_data"));
        Assert.Equal("m.fully_read", marker.GetProperty("type").GetString());
        Assert.Equal(message, marker.GetProperty("content").GetProperty("event_id").GetString());
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Sync_AccountDataFilter_LeavesOutOtherTypes(DatabaseEngine engine)
    {
        var (server, alice, _, roomId) = await RoomAsync(engine);
        await using var _ = server;
        AssertOk(await server.SendAsync(HttpMethod.Put, $"{V3}/user/{alice.UserId}/account_data/org.keep", alice.AccessToken, new { }));
        AssertOk(await server.SendAsync(HttpMethod.Put, $"{V3}/user/{alice.UserId}/account_data/org.drop", alice.AccessToken, new { }));
        AssertOk(await server.SendAsync(HttpMethod.Put, $"{V3}/user/{alice.UserId}/rooms/{roomId}/tags/u.x", alice.AccessToken, new { }));

        var sync = await SyncAsync(server, alice, filter: """{"account_data": {"not_types": ["org.drop"]}, "room": {"account_data": {"types": []}}}""");
        Assert.Contains(GlobalAccountData(sync), e => e.GetProperty("type").GetString() == "org.keep");
        Assert.DoesNotContain(GlobalAccountData(sync), e => e.GetProperty("type").GetString() == "org.drop");
        Assert.Empty(RoomPart(sync, roomId, "account_data"));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Sync_AfterRestart_AccountDataStreamResumesWithoutRepeats(DatabaseEngine engine)
    {
        var (server, alice, _, _) = await RoomAsync(engine);
        await using var _ = server;
        AssertOk(await server.SendAsync(HttpMethod.Put, $"{V3}/user/{alice.UserId}/account_data/before", alice.AccessToken, new { }));
        string since = NextBatch(await SyncAsync(server, alice));

        await server.RestartAsync();
        AssertOk(await server.SendAsync(HttpMethod.Put, $"{V3}/user/{alice.UserId}/account_data/after", alice.AccessToken, new { }));

        var sync = await SyncAsync(server, alice, since);
        Assert.Equal(["after"], GlobalAccountData(sync).Select(e => e.GetProperty("type").GetString()));
    }
}
