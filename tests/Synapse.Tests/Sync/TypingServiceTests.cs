using System.Text.Json;
using System.Text.Json.Nodes;
using Synapse.Configuration;
using Synapse.Streams;
using Synapse.Sync;
using Synapse.Tests.Infrastructure;
using static Synapse.Tests.Sync.PresenceTestHost;

namespace Synapse.Tests.Sync;

/// <summary>The typing service and its sync contributor, with a manual clock, on each engine.</summary>
public sealed class TypingServiceTests
{
    private const string Room = "!room:test.local";
    private const string Other = "!other:test.local";

    private static JsonElement Body(string json) => JsonDocument.Parse(json).RootElement.Clone();

    private static async Task<PresenceTestHost> StartAsync(DatabaseEngine engine)
    {
        var host = await PresenceTestHost.StartAsync(engine);
        await host.SetMembershipAsync(Room, Alice, "join");
        await host.SetMembershipAsync(Room, Bob, "join");
        await host.SetMembershipAsync(Other, Alice, "join");
        return host;
    }

    /// <summary>Runs the contributor and returns room ID → the user_ids of its m.typing event.</summary>
    internal static async Task<Dictionary<string, string[]>> TypingAsync(PresenceTestHost host, SyncContext context)
    {
        var response = new SyncResponseBuilder();
        await host.Get<TypingContributor>().ContributeAsync(context, response, default);
        var join = (JsonObject)response.Build("next")["rooms"]!["join"]!;
        return join.ToDictionary(
            kv => kv.Key,
            kv => ((JsonArray)kv.Value!["ephemeral"]!["events"]!).Single(e => (string?)e!["type"] == "m.typing")!["content"]!["user_ids"]!
                .AsArray().Select(u => (string)u!).ToArray());
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task SetTyping_JoinedUser_AdvancesStreamWakesRoomAndShowsInSync(DatabaseEngine engine)
    {
        await using var host = await StartAsync(engine);
        var before = host.Token();
        using var roomWaiter = host.Notifier.Register([NotifierKey.Room(Room)]);
        using var otherWaiter = host.Notifier.Register([NotifierKey.Room(Other)]);

        // Bob is only in Room; Alice is in both.
        await host.Typing.SetTypingAsync(RequesterOf(Bob), Room, Bob, Body("""{"typing": true, "timeout": 10000}"""), default);

        Assert.Equal(before[StreamNames.Typing] + 1, host.Streams[StreamNames.Typing].Current);
        Assert.True(await roomWaiter.WaitAsync(TimeSpan.FromSeconds(5), default));
        Assert.False(await otherWaiter.WaitAsync(TimeSpan.FromMilliseconds(50), default));

        var after = host.Token();
        var incremental = await TypingAsync(host, Context(Alice, before, after, [Room, Other]));
        Assert.Equal([Room], incremental.Keys);
        Assert.Equal([Bob], incremental[Room]);
        var initial = await TypingAsync(host, Context(Alice, null, after, [Room, Other]));
        Assert.Equal([Room], initial.Keys);
        Assert.Empty(await TypingAsync(host, Context(Alice, after, after, [Room, Other])));

        // Typing again only extends the timeout: no new position, nothing new to sync.
        await host.Typing.SetTypingAsync(RequesterOf(Bob), Room, Bob, Body("""{"typing": true}"""), default);
        Assert.Equal(after[StreamNames.Typing], host.Streams[StreamNames.Typing].Current);

        // Typing is activity: Bob is online.
        Assert.Equal("online", (string?)(await host.Presence.GetPresenceAsync(RequesterOf(Bob), Bob, default))["presence"]);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task SetTyping_TimeoutPasses_UserDisappears(DatabaseEngine engine)
    {
        await using var host = await StartAsync(engine);
        await host.Typing.SetTypingAsync(RequesterOf(Alice), Room, Alice, Body("""{"typing": true, "timeout": 10000}"""), default);
        await host.Typing.SetTypingAsync(RequesterOf(Bob), Room, Bob, Body("""{"typing": true}"""), default);
        var typing = host.Token();

        host.Clock.Advance(TimeSpan.FromSeconds(9));
        host.Typing.ExpireDue();
        Assert.Equal(typing[StreamNames.Typing], host.Streams[StreamNames.Typing].Current);

        host.Clock.Advance(TimeSpan.FromSeconds(2));
        host.Typing.ExpireDue();
        var afterAlice = host.Token();
        Assert.Equal([Bob], (await TypingAsync(host, Context(Alice, typing, afterAlice, [Room])))[Room]);

        // Bob got the default 30 s.
        host.Clock.Advance(TimeSpan.FromSeconds(20));
        host.Typing.ExpireDue();
        Assert.Empty((await TypingAsync(host, Context(Alice, afterAlice, host.Token(), [Room])))[Room]);
        Assert.Empty(await TypingAsync(host, Context(Alice, null, host.Token(), [Room])));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task SetTyping_LongTimeout_CappedAtTwoMinutes(DatabaseEngine engine)
    {
        await using var host = await StartAsync(engine);
        await host.Typing.SetTypingAsync(RequesterOf(Alice), Room, Alice, Body("""{"typing": true, "timeout": 3600000}"""), default);
        host.Clock.Advance(TimeSpan.FromMilliseconds(TypingService.MaxTimeoutMs + 1));
        host.Typing.ExpireDue();
        Assert.Empty(await TypingAsync(host, Context(Bob, null, host.Token(), [Room])));
    }

    [Fact]
    public async Task SetTyping_RealTimer_ExpiresWithoutAnyCall()
    {
        await using var host = await StartAsync(DatabaseEngine.Sqlite);
        var typing = new TypingService(host.Streams, host.Get<StreamBus>(), host.Get<Synapse.Storage.IEventStore>(), host.Presence, TimeProvider.System,
            Microsoft.Extensions.Logging.Abstractions.NullLogger<TypingService>.Instance);
        using var _ = typing;
        using var waiter = host.Notifier.Register([NotifierKey.Room(Room)]);
        typing.Start(Room, Alice, 150);
        long started = host.Streams[StreamNames.Typing].Current;
        Assert.Equal([Alice], typing.GetTyping([Room], 0, started, full: true).Single().UserIds);

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (host.Streams[StreamNames.Typing].Current == started && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        Assert.Empty(typing.GetTyping([Room], 0, host.Streams[StreamNames.Typing].Current, full: true));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task SetTyping_StopTyping_RemovesAtOnce(DatabaseEngine engine)
    {
        await using var host = await StartAsync(engine);
        await host.Typing.SetTypingAsync(RequesterOf(Alice), Room, Alice, Body("""{"typing": true}"""), default);
        var typing = host.Token();
        await host.Typing.SetTypingAsync(RequesterOf(Alice), Room, Alice, Body("""{"typing": false}"""), default);
        Assert.Empty((await TypingAsync(host, Context(Bob, typing, host.Token(), [Room])))[Room]);

        // Stopping when not typing changes nothing.
        var stopped = host.Token();
        await host.Typing.SetTypingAsync(RequesterOf(Alice), Room, Alice, Body("""{"typing": false}"""), default);
        Assert.Equal(stopped[StreamNames.Typing], host.Streams[StreamNames.Typing].Current);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task SetTyping_ForAnotherUserOrOutsideTheRoom_Forbidden(DatabaseEngine engine)
    {
        await using var host = await StartAsync(engine);
        var forOther = await Assert.ThrowsAsync<MatrixException>(() =>
            host.Typing.SetTypingAsync(RequesterOf(Alice), Room, Bob, Body("""{"typing": true}"""), default));
        Assert.Equal((403, "M_FORBIDDEN"), ((int)forOther.Status, forOther.ErrorCode));

        var notMember = await Assert.ThrowsAsync<MatrixException>(() =>
            host.Typing.SetTypingAsync(RequesterOf(Carol), Room, Carol, Body("""{"typing": true}"""), default));
        Assert.Equal((403, "M_FORBIDDEN"), ((int)notMember.Status, notMember.ErrorCode));

        await host.SetMembershipAsync(Room, Bob, "leave");
        var left = await Assert.ThrowsAsync<MatrixException>(() =>
            host.Typing.SetTypingAsync(RequesterOf(Bob), Room, Bob, Body("""{"typing": true}"""), default));
        Assert.Equal(403, (int)left.Status);
        Assert.Equal(0, host.Streams[StreamNames.Typing].Current);
    }

    [Theory]
    [InlineData("""{}""", 400, "M_MISSING_PARAM")]
    [InlineData("""{"typing": "yes"}""", 400, "M_BAD_JSON")]
    [InlineData("""{"typing": true, "timeout": "30000"}""", 400, "M_BAD_JSON")]
    [InlineData("""{"typing": true, "timeout": 1.5}""", 400, "M_BAD_JSON")]
    [InlineData("""{"typing": true, "timeout": -1}""", 400, "M_INVALID_PARAM")]
    public async Task SetTyping_BadBody_Refused(string body, int status, string errcode)
    {
        await using var host = await StartAsync(DatabaseEngine.Sqlite);
        var error = await Assert.ThrowsAsync<MatrixException>(() =>
            host.Typing.SetTypingAsync(RequesterOf(Alice), Room, Alice, Body(body), default));
        Assert.Equal((status, errcode), ((int)error.Status, error.ErrorCode));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Contributor_TokenAheadOfStream_SendsEveryJoinedRoomsCurrentSet(DatabaseEngine engine)
    {
        await using var host = await StartAsync(engine);
        await host.Typing.SetTypingAsync(RequesterOf(Bob), Room, Bob, Body("""{"typing": true}"""), default);
        var now = host.Token();

        // A token from before a restart: its typing position is beyond the restarted stream's.
        var positions = StreamRegistry.TokenStreams.Select(s => s == StreamNames.Typing ? now[s] + 50 : now[s]).ToArray();
        var rooms = await TypingAsync(host, Context(Alice, new SyncToken(positions), now, [Room, Other]));
        Assert.Equal([Bob], rooms[Room]);
        Assert.Empty(rooms[Other]);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Contributor_EphemeralFilter_Honoured(DatabaseEngine engine)
    {
        await using var host = await StartAsync(engine);
        await host.Typing.SetTypingAsync(RequesterOf(Alice), Room, Alice, Body("""{"typing": true}"""), default);
        await host.Typing.SetTypingAsync(RequesterOf(Alice), Other, Alice, Body("""{"typing": true}"""), default);
        var now = host.Token();

        Assert.Empty(await TypingAsync(host, Context(Alice, null, now, [Room, Other],
            Filter("""{"room": {"ephemeral": {"not_types": ["m.typing"]}}}"""))));
        Assert.Empty(await TypingAsync(host, Context(Alice, null, now, [Room, Other],
            Filter("""{"room": {"ephemeral": {"types": ["m.receipt"]}}}"""))));
        Assert.Equal([Other], (await TypingAsync(host, Context(Alice, null, now, [Room, Other],
            Filter("""{"room": {"ephemeral": {"not_rooms": ["!room:test.local"]}}}""")))).Keys);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task StreamSource_ReturnsLatestChangePerRoomInRange(DatabaseEngine engine)
    {
        await using var host = await StartAsync(engine);
        host.Typing.Start(Room, Alice, 30_000);  // 1
        host.Typing.Start(Other, Alice, 30_000); // 2
        host.Typing.Start(Room, Bob, 30_000);    // 3
        Assert.Equal(3, host.Typing.CurrentPosition);

        var all = await host.Typing.GetUpdatesAsync(0, 3, 100, default);
        Assert.Equal([2L, 3L], all.Select(u => u.Position));
        var room = all[1].Rows.Single();
        Assert.Equal(Room, (string?)room.Data["room_id"]);
        Assert.Equal([Alice, Bob], room.Data["user_ids"]!.AsArray().Select(u => (string)u!));
        Assert.Equal([NotifierKey.Room(Room)], room.NotifierKeys);

        Assert.Equal([2L], (await host.Typing.GetUpdatesAsync(1, 2, 100, default)).Select(u => u.Position));
        Assert.Single(await host.Typing.GetUpdatesAsync(0, 3, 1, default));
    }
}
