using System.Text.Json.Nodes;
using Synapse.Configuration;
using Synapse.Sync;
using Synapse.Tests.Infrastructure;
using static Synapse.Tests.Sync.AccountDataAndReceiptsTestKit;

namespace Synapse.Tests.Sync;

/// <summary><see cref="AccountDataContributor"/> at service level: the sync context is built by hand.</summary>
public sealed class AccountDataContributorTests
{
    private static string Global(Session who, string type) => $"{V3}/user/{who.UserId}/account_data/{type}";

    private static string PerRoom(Session who, string roomId, string type) => $"{V3}/user/{who.UserId}/rooms/{roomId}/account_data/{type}";

    private static string Tag(Session who, string roomId, string tag) => $"{V3}/user/{who.UserId}/rooms/{roomId}/tags/{tag}";

    private static List<string> Types(JsonArray? events) => events is null ? [] : [.. events.Select(e => (string)e!["type"]!)];

    [Theory, ClassData(typeof(Engines))]
    public async Task Initial_GlobalAndJoinedRooms_AllCurrentEntries(DatabaseEngine engine)
    {
        var (server, alice, _, roomId) = await RoomAsync(engine);
        await using var _ = server;
        string notJoined = "!elsewhere:test.local";
        AssertOk(await server.SendAsync(HttpMethod.Put, Global(alice, "org.example.a"), alice.AccessToken, new { v = 1 }));
        AssertOk(await server.SendAsync(HttpMethod.Put, Global(alice, "org.example.a"), alice.AccessToken, new { v = 2 }));
        AssertOk(await server.SendAsync(HttpMethod.Put, PerRoom(alice, roomId, "org.example.r"), alice.AccessToken, new { r = true }));
        AssertOk(await server.SendAsync(HttpMethod.Put, Tag(alice, roomId, "m.favourite"), alice.AccessToken, new { order = 0.5 }));
        AssertOk(await server.SendAsync(HttpMethod.Put, PerRoom(alice, notJoined, "org.example.r"), alice.AccessToken, new { }));

        var response = await ContributeAsync<AccountDataContributor>(server, Context(alice, null, Now(server), [roomId]));

        var global = Assert.Single(GlobalAccountData(response));
        Assert.Equal("""{"type":"org.example.a","content":{"v":2}}""", global!.ToJsonString());
        var room = RoomEvents(response, roomId, "account_data");
        Assert.Equal(["org.example.r", "m.tag"], Types(room));
        Assert.Equal(0.5, (double)room![1]!["content"]!["tags"]!["m.favourite"]!["order"]!);
        Assert.Null(RoomEvents(response, notJoined, "account_data"));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Incremental_OnlyEntriesWrittenSinceTheToken(DatabaseEngine engine)
    {
        var (server, alice, bob, roomId) = await RoomAsync(engine);
        await using var _ = server;
        AssertOk(await server.SendAsync(HttpMethod.Put, Global(alice, "old"), alice.AccessToken, new { }));
        AssertOk(await server.SendAsync(HttpMethod.Put, PerRoom(alice, roomId, "old.room"), alice.AccessToken, new { }));
        var since = Now(server);

        var nothing = new SyncResponseBuilder();
        await new AccountDataContributor(Store(server), Events(server)).ContributeAsync(Context(alice, since, since, [roomId]), nothing, default);
        Assert.False(nothing.HasUpdates);

        AssertOk(await server.SendAsync(HttpMethod.Put, Global(alice, "new"), alice.AccessToken, new { }));
        AssertOk(await server.SendAsync(HttpMethod.Put, Tag(alice, roomId, "u.x"), alice.AccessToken, new { }));
        AssertOk(await server.SendAsync(HttpMethod.Put, Global(bob, "bobs"), bob.AccessToken, new { }));

        var response = await ContributeAsync<AccountDataContributor>(server, Context(alice, since, Now(server), [roomId]));
        Assert.Equal(["new"], Types(GlobalAccountData(response)));
        Assert.Equal(["m.tag"], Types(RoomEvents(response, roomId, "account_data")));

        // full_state sends everything again.
        var full = await ContributeAsync<AccountDataContributor>(server, Context(alice, since, Now(server), [roomId], fullState: true));
        Assert.Equal(["old", "new"], Types(GlobalAccountData(full)));
        Assert.Equal(["old.room", "m.tag"], Types(RoomEvents(full, roomId, "account_data")));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Incremental_EntryWrittenAfterNow_WaitsForTheNextResponse(DatabaseEngine engine)
    {
        var (server, alice, _, roomId) = await RoomAsync(engine);
        await using var _ = server;
        var since = Now(server);
        AssertOk(await server.SendAsync(HttpMethod.Put, Global(alice, "first"), alice.AccessToken, new { }));
        var now = Now(server);
        AssertOk(await server.SendAsync(HttpMethod.Put, Global(alice, "second"), alice.AccessToken, new { }));

        Assert.Equal(["first"], Types(GlobalAccountData(await ContributeAsync<AccountDataContributor>(server, Context(alice, since, now, [roomId])))));
        Assert.Equal(["second"], Types(GlobalAccountData(await ContributeAsync<AccountDataContributor>(server, Context(alice, now, Now(server), [roomId])))));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Filters_AccountDataAndRoomAccountDataParts_AreRespected(DatabaseEngine engine)
    {
        var (server, alice, _, roomId) = await RoomAsync(engine);
        await using var _ = server;
        string otherRoom = await CreateRoomAsync(server, alice);
        AssertOk(await server.SendAsync(HttpMethod.Put, Global(alice, "org.keep.one"), alice.AccessToken, new { }));
        AssertOk(await server.SendAsync(HttpMethod.Put, Global(alice, "org.drop"), alice.AccessToken, new { }));
        AssertOk(await server.SendAsync(HttpMethod.Put, Tag(alice, roomId, "u.x"), alice.AccessToken, new { }));
        AssertOk(await server.SendAsync(HttpMethod.Put, PerRoom(alice, roomId, "org.room"), alice.AccessToken, new { }));
        AssertOk(await server.SendAsync(HttpMethod.Put, PerRoom(alice, otherRoom, "org.room"), alice.AccessToken, new { }));

        string filter = """{"account_data": {"types": ["org.keep.*"]}, "room": {"account_data": {"not_types": ["m.tag"], "not_rooms": ["ROOM"]}}}"""
            .Replace("ROOM", otherRoom, StringComparison.Ordinal);
        var response = await ContributeAsync<AccountDataContributor>(server, Context(alice, null, Now(server), [roomId, otherRoom], filter));

        Assert.Equal(["org.keep.one"], Types(GlobalAccountData(response)));
        Assert.Equal(["org.room"], Types(RoomEvents(response, roomId, "account_data")));
        Assert.Null(RoomEvents(response, otherRoom, "account_data"));

        var none = await ContributeAsync<AccountDataContributor>(server,
            Context(alice, null, Now(server), [roomId], """{"account_data": {"types": []}, "room": {"account_data": {"types": []}}}"""));
        Assert.Empty(GlobalAccountData(none));
        Assert.Null(RoomEvents(none, roomId, "account_data"));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Incremental_RoomJoinedSinceTheToken_SendsItsEarlierEntries(DatabaseEngine engine)
    {
        var (server, alice, bob, roomId) = await RoomAsync(engine, bobJoins: false);
        await using var _ = server;
        string joinedBefore = await CreateRoomAsync(server, bob);
        AssertOk(await server.SendAsync(HttpMethod.Put, Tag(bob, roomId, "u.later"), bob.AccessToken, new { }));
        AssertOk(await server.SendAsync(HttpMethod.Put, Tag(bob, joinedBefore, "u.old"), bob.AccessToken, new { }));
        AssertOk(await server.SendAsync(HttpMethod.Put, Global(bob, "old.global"), bob.AccessToken, new { }));
        var since = Now(server);

        await JoinAsync(server, bob, roomId);
        // A display name change re-sends Bob's join in the room he was already in: not a new join.
        AssertOk(await server.SendAsync(HttpMethod.Put, $"{V3}/profile/{bob.UserId}/displayname", bob.AccessToken, new { displayname = "Bobby" }));

        var response = await ContributeAsync<AccountDataContributor>(server, Context(bob, since, Now(server), [roomId, joinedBefore]));
        Assert.Equal(["m.tag"], Types(RoomEvents(response, roomId, "account_data")));
        Assert.Null(RoomEvents(response, joinedBefore, "account_data"));
        Assert.Empty(GlobalAccountData(response));
    }

    private static Synapse.Storage.IAccountDataStore Store(TestHomeserver server) =>
        (Synapse.Storage.IAccountDataStore)server.Services.GetService(typeof(Synapse.Storage.IAccountDataStore))!;

    private static Synapse.Storage.IEventStore Events(TestHomeserver server) =>
        (Synapse.Storage.IEventStore)server.Services.GetService(typeof(Synapse.Storage.IEventStore))!;
}
