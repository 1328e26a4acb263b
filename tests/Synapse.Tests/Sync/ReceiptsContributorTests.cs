using System.Text.Json.Nodes;
using Synapse.Configuration;
using Synapse.Sync;
using Synapse.Tests.Infrastructure;
using static Synapse.Tests.Sync.AccountDataAndReceiptsTestKit;

namespace Synapse.Tests.Sync;

/// <summary><see cref="ReceiptsContributor"/> at service level: the sync context is built by hand.</summary>
public sealed class ReceiptsContributorTests
{
    private static List<JsonObject> Receipts(JsonObject response, string roomId) =>
        RoomEvents(response, roomId, "ephemeral") is { } events
            ? [.. events.Select(e => e!.AsObject()).Where(e => (string?)e["type"] == "m.receipt").Select(e => e["content"]!.AsObject())]
            : [];

    [Theory, ClassData(typeof(Engines))]
    public async Task Initial_CurrentReceiptsOfJoinedRooms_InTheSpecShape(DatabaseEngine engine)
    {
        var (server, alice, bob, roomId) = await RoomAsync(engine);
        await using var _ = server;
        string first = await SendTextAsync(server, alice, roomId, "one");
        string second = await SendTextAsync(server, alice, roomId, "two");
        AssertOk(await ReceiptAsync(server, bob, roomId, "m.read", first));
        AssertOk(await ReceiptAsync(server, bob, roomId, "m.read", second));
        AssertOk(await ReceiptAsync(server, alice, roomId, "m.read", second));
        string otherRoom = await CreateRoomAsync(server, bob);
        string elsewhere = await SendTextAsync(server, bob, otherRoom, "elsewhere");
        AssertOk(await ReceiptAsync(server, bob, otherRoom, "m.read", elsewhere));

        var response = await ContributeAsync<ReceiptsContributor>(server, Context(alice, null, Now(server), [roomId]));

        var content = Assert.Single(Receipts(response, roomId));
        Assert.Equal([second], content.Select(p => p.Key));
        var readers = content[second]!["m.read"]!.AsObject();
        Assert.Equal([alice.UserId, bob.UserId], readers.Select(p => p.Key).Order(StringComparer.Ordinal));
        Assert.True((long)readers[bob.UserId]!["ts"]! > 0);
        Assert.Null(readers[bob.UserId]!["thread_id"]);
        Assert.Empty(Receipts(response, otherRoom));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task PrivateReceipt_VisibleOnlyToItsOwner(DatabaseEngine engine)
    {
        var (server, alice, bob, roomId) = await RoomAsync(engine);
        await using var _ = server;
        string message = await SendTextAsync(server, alice, roomId, "hello");
        var since = Now(server);
        AssertOk(await ReceiptAsync(server, bob, roomId, "m.read.private", message));

        foreach (var initial in new[] { true, false })
        {
            var forBob = await ContributeAsync<ReceiptsContributor>(server, Context(bob, initial ? null : since, Now(server), [roomId]));
            var bobs = Assert.Single(Receipts(forBob, roomId));
            Assert.NotNull(bobs[message]!["m.read.private"]![bob.UserId]!["ts"]);

            var forAlice = await ContributeAsync<ReceiptsContributor>(server, Context(alice, initial ? null : since, Now(server), [roomId]));
            Assert.Empty(Receipts(forAlice, roomId));
        }
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task ThreadedReceipts_OneEventPerThread_WithThreadIds(DatabaseEngine engine)
    {
        var (server, alice, bob, roomId) = await RoomAsync(engine);
        await using var _ = server;
        string root = await SendTextAsync(server, alice, roomId, "root");
        string reply = await SendThreadReplyAsync(server, alice, roomId, root, "reply");
        AssertOk(await ReceiptAsync(server, bob, roomId, "m.read", root));
        AssertOk(await ReceiptAsync(server, bob, roomId, "m.read", root, new { thread_id = "main" }));
        AssertOk(await ReceiptAsync(server, bob, roomId, "m.read", reply, new { thread_id = root }));

        var response = await ContributeAsync<ReceiptsContributor>(server, Context(alice, null, Now(server), [roomId]));

        var events = Receipts(response, roomId);
        Assert.Equal(3, events.Count);
        var unthreaded = events[0][root]!["m.read"]![bob.UserId]!.AsObject();
        Assert.False(unthreaded.ContainsKey("thread_id"));
        var threaded = events.Skip(1).Select(e => e.Single()).ToDictionary(p => p.Key, p => (string?)p.Value!["m.read"]![bob.UserId]!["thread_id"]);
        Assert.Equal("main", threaded[root]);
        Assert.Equal(root, threaded[reply]);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Incremental_OnlyReceiptsWrittenSinceTheToken(DatabaseEngine engine)
    {
        var (server, alice, bob, roomId) = await RoomAsync(engine);
        await using var _ = server;
        string first = await SendTextAsync(server, alice, roomId, "one");
        AssertOk(await ReceiptAsync(server, alice, roomId, "m.read", first));
        var since = Now(server);

        var nothing = new SyncResponseBuilder();
        await (await Contributor(server)).ContributeAsync(Context(bob, since, Now(server), [roomId]), nothing, default);
        Assert.False(nothing.HasUpdates);

        AssertOk(await ReceiptAsync(server, bob, roomId, "m.read", first));
        var response = await ContributeAsync<ReceiptsContributor>(server, Context(alice, since, Now(server), [roomId]));
        var content = Assert.Single(Receipts(response, roomId));
        Assert.Equal([bob.UserId], content[first]!["m.read"]!.AsObject().Select(p => p.Key));

        var full = await ContributeAsync<ReceiptsContributor>(server, Context(alice, since, Now(server), [roomId], fullState: true));
        Assert.Equal(2, Assert.Single(Receipts(full, roomId))[first]!["m.read"]!.AsObject().Count);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Filters_EphemeralPart_IsRespected(DatabaseEngine engine)
    {
        var (server, alice, bob, roomId) = await RoomAsync(engine);
        await using var _ = server;
        string message = await SendTextAsync(server, alice, roomId, "hello");
        AssertOk(await ReceiptAsync(server, alice, roomId, "m.read", message));
        AssertOk(await ReceiptAsync(server, bob, roomId, "m.read", message));

        async Task<List<JsonObject>> WithFilterAsync(string filter) =>
            Receipts(await ContributeAsync<ReceiptsContributor>(server, Context(alice, null, Now(server), [roomId], filter)), roomId);

        Assert.Empty(await WithFilterAsync("""{"room": {"ephemeral": {"not_types": ["m.receipt"]}}}"""));
        Assert.Empty(await WithFilterAsync("""{"room": {"ephemeral": {"types": ["m.typing"]}}}"""));
        Assert.Empty(await WithFilterAsync("""{"room": {"ephemeral": {"not_rooms": ["ROOM"]}}}""".Replace("ROOM", roomId, StringComparison.Ordinal)));
        Assert.Single(await WithFilterAsync("""{"room": {"ephemeral": {"types": ["m.*"]}}}"""));
        var onlyBob = Assert.Single(await WithFilterAsync("""{"room": {"ephemeral": {"senders": ["USER"]}}}""".Replace("USER", bob.UserId, StringComparison.Ordinal)));
        Assert.Equal([bob.UserId], onlyBob[message]!["m.read"]!.AsObject().Select(p => p.Key));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Incremental_RoomJoinedSinceTheToken_SendsItsEarlierReceipts(DatabaseEngine engine)
    {
        var (server, alice, bob, roomId) = await RoomAsync(engine, bobJoins: false);
        await using var _ = server;
        string message = await SendTextAsync(server, alice, roomId, "hello");
        AssertOk(await ReceiptAsync(server, alice, roomId, "m.read", message));
        var since = Now(server);

        await JoinAsync(server, bob, roomId);

        var response = await ContributeAsync<ReceiptsContributor>(server, Context(bob, since, Now(server), [roomId]));
        var content = Assert.Single(Receipts(response, roomId));
        Assert.Equal([alice.UserId], content[message]!["m.read"]!.AsObject().Select(p => p.Key));
    }

    private static Task<ReceiptsContributor> Contributor(TestHomeserver server) =>
        Task.FromResult(new ReceiptsContributor(
            (Synapse.Storage.IReceiptStore)server.Services.GetService(typeof(Synapse.Storage.IReceiptStore))!,
            (Synapse.Storage.IEventStore)server.Services.GetService(typeof(Synapse.Storage.IEventStore))!));
}
