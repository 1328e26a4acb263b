using System.Text.Json;
using System.Text.Json.Nodes;
using Synapse.Configuration;
using Synapse.Storage;
using Synapse.Streams;
using Synapse.Sync;
using Synapse.Tests.Infrastructure;
using static Synapse.Tests.Sync.PresenceTestHost;

namespace Synapse.Tests.Sync;

/// <summary>The presence service, its timers and its sync contributor, with a manual clock, on each engine.</summary>
public sealed class PresenceServiceTests
{
    private const string Room = "!room:test.local";

    private static JsonElement Body(string json) => JsonDocument.Parse(json).RootElement.Clone();

    private static async Task<PresenceTestHost> StartAsync(DatabaseEngine engine, bool enabled = true)
    {
        var host = await PresenceTestHost.StartAsync(engine, enabled);
        await host.SetMembershipAsync(Room, Alice, "join");
        await host.SetMembershipAsync(Room, Bob, "join");
        return host;
    }

    /// <summary>Runs a change and waits until its write (batched, not awaited by syncs) is done.</summary>
    private static async Task WrittenAsync(PresenceTestHost host, Task change)
    {
        await change;
        await host.Presence.WhenWrittenAsync();
    }

    private static async Task<JsonObject> GetAsync(PresenceTestHost host, string observer, string user) =>
        await host.Presence.GetPresenceAsync(RequesterOf(observer), user, default);

    /// <summary>Runs the contributor and returns sender → content of the m.presence events, in order.</summary>
    internal static async Task<List<(string Sender, JsonObject Content)>> PresenceAsync(PresenceTestHost host, SyncContext context)
    {
        var response = new SyncResponseBuilder();
        await host.Get<PresenceContributor>().ContributeAsync(context, response, default);
        return [.. ((JsonArray)response.Build("next")["presence"]!["events"]!).Select(e =>
        {
            Assert.Equal("m.presence", (string?)e!["type"]);
            return ((string)e["sender"]!, (JsonObject)e["content"]!);
        })];
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Sync_Online_MarksOnlineActiveAndWakesRoomMates(DatabaseEngine engine)
    {
        await using var host = await StartAsync(engine);
        Assert.Equal("offline", (string?)(await GetAsync(host, Bob, Alice))["presence"]);
        using var roomWaiter = host.Notifier.Register([NotifierKey.Room(Room)]);
        using var selfWaiter = host.Notifier.Register([NotifierKey.User(Alice)]);
        long before = host.Streams[StreamNames.Presence].Current;

        await WrittenAsync(host, host.Presence.OnSyncAsync(RequesterOf(Alice), null, default));

        Assert.Equal(before + 1, host.Streams[StreamNames.Presence].Current);
        Assert.True(await roomWaiter.WaitAsync(TimeSpan.FromSeconds(5), default));
        Assert.True(await selfWaiter.WaitAsync(TimeSpan.FromSeconds(5), default));
        var seen = await GetAsync(host, Bob, Alice);
        Assert.Equal("online", (string?)seen["presence"]);
        Assert.True((bool)seen["currently_active"]!);
        Assert.Equal(0, (long)seen["last_active_ago"]!);

        // Syncing again while active is not news: no new position.
        host.Clock.Advance(TimeSpan.FromSeconds(10));
        await WrittenAsync(host, host.Presence.OnSyncAsync(RequesterOf(Alice), "online", default));
        Assert.Equal(before + 1, host.Streams[StreamNames.Presence].Current);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Timers_OnlineThenIdleThenOffline(DatabaseEngine engine)
    {
        await using var host = await StartAsync(engine);
        var alice = RequesterOf(Alice);

        // A long poll that has not returned yet keeps Alice syncing.
        await WrittenAsync(host, host.Presence.OnSyncAsync(alice, null, default));
        long online = host.Streams[StreamNames.Presence].Current;

        host.Clock.Advance(TimeSpan.FromSeconds(61));
        await host.Presence.CheckTimeoutsAsync(default);
        var lapsed = await GetAsync(host, Bob, Alice);
        Assert.Equal("online", (string?)lapsed["presence"]);
        Assert.False((bool)lapsed["currently_active"]!);
        Assert.Equal(61_000, (long)lapsed["last_active_ago"]!);
        Assert.Equal(online + 1, host.Streams[StreamNames.Presence].Current);

        host.Clock.Advance(TimeSpan.FromMinutes(4));
        await host.Presence.CheckTimeoutsAsync(default);
        var idle = await GetAsync(host, Bob, Alice);
        Assert.Equal("unavailable", (string?)idle["presence"]);
        Assert.False(idle.ContainsKey("currently_active"));
        Assert.Equal(online + 2, host.Streams[StreamNames.Presence].Current);

        // The long poll ends; 30 s without another sync means offline.
        await WrittenAsync(host, host.Presence.OnSyncEndedAsync(alice, null, default));
        host.Clock.Advance(TimeSpan.FromSeconds(29));
        await host.Presence.CheckTimeoutsAsync(default);
        Assert.Equal("unavailable", (string?)(await GetAsync(host, Bob, Alice))["presence"]);
        host.Clock.Advance(TimeSpan.FromSeconds(2));
        await host.Presence.CheckTimeoutsAsync(default);
        Assert.Equal("offline", (string?)(await GetAsync(host, Bob, Alice))["presence"]);
        Assert.Equal("offline", (await host.Store.GetAsync(Alice, default))!.State);

        // Activity brings her back.
        await WrittenAsync(host, host.Presence.BumpActiveAsync(alice.UserId, default));
        Assert.Equal("online", (string?)(await GetAsync(host, Bob, Alice))["presence"]);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Timers_SyncsWithoutReportedEnd_OfflineAfterMaxSyncDuration(DatabaseEngine engine)
    {
        await using var host = await StartAsync(engine);
        await WrittenAsync(host, host.Presence.OnSyncAsync(RequesterOf(Alice), null, default));
        host.Clock.Advance(PresenceService.MaxSyncDuration - TimeSpan.FromSeconds(1));
        await host.Presence.CheckTimeoutsAsync(default);
        Assert.Equal("unavailable", (string?)(await GetAsync(host, Alice, Alice))["presence"]);
        host.Clock.Advance(TimeSpan.FromSeconds(2));
        await host.Presence.CheckTimeoutsAsync(default);
        Assert.Equal("offline", (string?)(await GetAsync(host, Alice, Alice))["presence"]);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Timers_ManyTransitions_WrittenAsOneBatchWithOnePosition(DatabaseEngine engine)
    {
        await using var host = await StartAsync(engine);
        foreach (string user in (string[])[Alice, Bob, Carol])
        {
            await WrittenAsync(host, host.Presence.OnSyncAsync(RequesterOf(user), null, default));
            await WrittenAsync(host, host.Presence.OnSyncEndedAsync(RequesterOf(user), null, default));
        }

        long before = host.Streams[StreamNames.Presence].Current;
        var published = new List<Synapse.Streams.StreamUpdate>();
        host.Get<StreamBus>().Subscribe(u =>
        {
            if (u.Stream == StreamNames.Presence)
            {
                lock (published)
                {
                    published.Add(u);
                }
            }
        });
        host.Clock.Advance(TimeSpan.FromSeconds(31));
        await host.Presence.CheckTimeoutsAsync(default);

        // Their room-mates' syncs wake once, not once per user.
        Assert.Equal(before + 1, host.Streams[StreamNames.Presence].Current);
        var update = Assert.Single(published);
        Assert.Equal([Alice, Bob, Carol], update.Rows.Select(r => (string)r.Data["user_id"]!).Order(StringComparer.Ordinal));
        Assert.All(update.Rows, r => Assert.Equal("offline", (string?)r.Data["presence"]));
        foreach (string user in (string[])[Alice, Bob, Carol])
        {
            Assert.Equal(before + 1, (await host.Store.GetAsync(user, default))!.StreamId);
        }
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Sync_SetPresenceUnavailableOrOffline(DatabaseEngine engine)
    {
        await using var host = await StartAsync(engine);
        await WrittenAsync(host, host.Presence.OnSyncAsync(RequesterOf(Alice), "offline", default));
        Assert.Equal("offline", (string?)(await GetAsync(host, Bob, Alice))["presence"]);
        Assert.Equal(0, host.Streams[StreamNames.Presence].Current);

        await WrittenAsync(host, host.Presence.OnSyncAsync(RequesterOf(Alice), "unavailable", default));
        var away = await GetAsync(host, Bob, Alice);
        Assert.Equal("unavailable", (string?)away["presence"]);
        Assert.False(away.ContainsKey("last_active_ago"));

        // offline leaves the state alone.
        await WrittenAsync(host, host.Presence.OnSyncAsync(RequesterOf(Alice), "offline", default));
        Assert.Equal("unavailable", (string?)(await GetAsync(host, Bob, Alice))["presence"]);

        var error = await Assert.ThrowsAsync<MatrixException>(() => host.Presence.OnSyncAsync(RequesterOf(Alice), "busy", default));
        Assert.Equal((400, "M_INVALID_PARAM"), ((int)error.Status, error.ErrorCode));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task SetPresence_StatusMessage_SetAndCleared(DatabaseEngine engine)
    {
        await using var host = await StartAsync(engine);
        await host.Presence.SetPresenceAsync(RequesterOf(Alice), Alice, Body("""{"presence": "unavailable", "status_msg": "lunch"}"""), default);
        var away = await GetAsync(host, Bob, Alice);
        Assert.Equal("unavailable", (string?)away["presence"]);
        Assert.Equal("lunch", (string?)away["status_msg"]);

        host.Clock.Advance(TimeSpan.FromSeconds(5));
        await host.Presence.SetPresenceAsync(RequesterOf(Alice), Alice, Body("""{"presence": "online"}"""), default);
        var back = await GetAsync(host, Alice, Alice);
        Assert.Equal("online", (string?)back["presence"]);
        Assert.False(back.ContainsKey("status_msg"));
        Assert.True((bool)back["currently_active"]!);
        Assert.Equal(2, host.Streams[StreamNames.Presence].Current);
    }

    [Theory]
    [InlineData("""{}""", 400, "M_MISSING_PARAM")]
    [InlineData("""{"presence": 1}""", 400, "M_BAD_JSON")]
    [InlineData("""{"presence": "busy"}""", 400, "M_INVALID_PARAM")]
    [InlineData("""{"presence": "online", "status_msg": 5}""", 400, "M_BAD_JSON")]
    public async Task SetPresence_BadBody_Refused(string body, int status, string errcode)
    {
        await using var host = await StartAsync(DatabaseEngine.Sqlite);
        var error = await Assert.ThrowsAsync<MatrixException>(() =>
            host.Presence.SetPresenceAsync(RequesterOf(Alice), Alice, Body(body), default));
        Assert.Equal((status, errcode), ((int)error.Status, error.ErrorCode));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task SetAndGetPresence_Permissions(DatabaseEngine engine)
    {
        await using var host = await StartAsync(engine);
        var foreign = await Assert.ThrowsAsync<MatrixException>(() =>
            host.Presence.SetPresenceAsync(RequesterOf(Alice), Bob, Body("""{"presence": "online"}"""), default));
        Assert.Equal((403, "M_FORBIDDEN"), ((int)foreign.Status, foreign.ErrorCode));

        var stranger = await Assert.ThrowsAsync<MatrixException>(() => GetAsync(host, Carol, Alice));
        Assert.Equal((403, "M_FORBIDDEN"), ((int)stranger.Status, stranger.ErrorCode));
        var unknown = await Assert.ThrowsAsync<MatrixException>(() => GetAsync(host, Alice, "@nobody:test.local"));
        Assert.Equal((404, "M_NOT_FOUND"), ((int)unknown.Status, unknown.ErrorCode));
        var remote = await Assert.ThrowsAsync<MatrixException>(() => GetAsync(host, Alice, "@someone:elsewhere.example"));
        Assert.Equal(404, (int)remote.Status);
        var invalid = await Assert.ThrowsAsync<MatrixException>(() => GetAsync(host, Alice, "not-a-user"));
        Assert.Equal((400, "M_INVALID_PARAM"), ((int)invalid.Status, invalid.ErrorCode));

        Assert.Equal("offline", (string?)(await GetAsync(host, Carol, Carol))["presence"]);
        await host.SetMembershipAsync(Room, Carol, "join");
        Assert.Equal("offline", (string?)(await GetAsync(host, Carol, Alice))["presence"]);
        await host.SetMembershipAsync(Room, Carol, "leave");
        await Assert.ThrowsAsync<MatrixException>(() => GetAsync(host, Carol, Alice));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Disabled_NothingTrackedNothingSynced(DatabaseEngine engine)
    {
        await using var host = await StartAsync(engine, enabled: false);
        await host.Presence.SetPresenceAsync(RequesterOf(Alice), Alice, Body("""{"presence": "online", "status_msg": "hi"}"""), default);
        await WrittenAsync(host, host.Presence.OnSyncAsync(RequesterOf(Alice), null, default));
        await WrittenAsync(host, host.Presence.BumpActiveAsync(RequesterOf(Alice).UserId, default));

        Assert.Equal(0, host.Streams[StreamNames.Presence].Current);
        Assert.Equal("offline", (string?)(await GetAsync(host, Bob, Alice))["presence"]);
        Assert.Empty(await PresenceAsync(host, Context(Bob, null, host.Token(), [Room])));

        // Bad input is still refused.
        await Assert.ThrowsAsync<MatrixException>(() =>
            host.Presence.SetPresenceAsync(RequesterOf(Alice), Alice, Body("""{"presence": "busy"}"""), default));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Contributor_InitialAndIncremental(DatabaseEngine engine)
    {
        await using var host = await StartAsync(engine);
        await WrittenAsync(host, host.Presence.OnSyncAsync(RequesterOf(Alice), null, default));
        await WrittenAsync(host, host.Presence.OnSyncAsync(RequesterOf(Carol), null, default));
        await host.Presence.SetPresenceAsync(RequesterOf(Bob), Bob, Body("""{"presence": "offline"}"""), default);
        var first = host.Token();

        // Initial: Bob himself is offline (left out), Alice shares the room, Carol does not.
        var initial = await PresenceAsync(host, Context(Bob, null, first, [Room]));
        Assert.Equal([Alice], initial.Select(p => p.Sender));
        Assert.Equal("online", (string?)initial[0].Content["presence"]);
        Assert.True((bool)initial[0].Content["currently_active"]!);
        Assert.Empty(await PresenceAsync(host, Context(Bob, first, first, [Room])));

        await host.Presence.SetPresenceAsync(RequesterOf(Alice), Alice, Body("""{"presence": "unavailable", "status_msg": "away"}"""), default);
        await host.Presence.SetPresenceAsync(RequesterOf(Carol), Carol, Body("""{"presence": "unavailable"}"""), default);
        var second = host.Token();
        var incremental = await PresenceAsync(host, Context(Bob, first, second, [Room]));
        Assert.Equal([Alice], incremental.Select(p => p.Sender));
        Assert.Equal("away", (string?)incremental[0].Content["status_msg"]);

        // Changes to offline are sent incrementally; the requester sees their own presence.
        await host.Presence.SetPresenceAsync(RequesterOf(Alice), Alice, Body("""{"presence": "offline"}"""), default);
        await host.Presence.SetPresenceAsync(RequesterOf(Bob), Bob, Body("""{"presence": "online"}"""), default);
        var third = host.Token();
        var changes = await PresenceAsync(host, Context(Bob, second, third, [Room]));
        Assert.Equal([Alice, Bob], changes.Select(p => p.Sender));
        Assert.Equal("offline", (string?)changes[0].Content["presence"]);

        // Carol joins: Bob now hears of her (unchanged) presence, and she of his.
        await host.SetMembershipAsync(Room, Carol, "join");
        var fourth = host.Token();
        Assert.Equal([Carol], (await PresenceAsync(host, Context(Bob, third, fourth, [Room]))).Select(p => p.Sender));
        Assert.Equal([Bob], (await PresenceAsync(host, Context(Carol, third, fourth, [Room]))).Select(p => p.Sender));

        // full_state behaves as an initial sync.
        Assert.Equal([Bob, Carol], (await PresenceAsync(host, Context(Bob, third, fourth, [Room], fullState: true)))
            .Select(p => p.Sender).Order(StringComparer.Ordinal));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task NewRoomMates_JoinBeforeTheServiceStarted_StillFound(DatabaseEngine engine)
    {
        await using var host = await StartAsync(engine);
        await WrittenAsync(host, host.Presence.OnSyncAsync(RequesterOf(Carol), null, default));
        var before = host.Token();
        await host.SetMembershipAsync(Room, Carol, "join");
        var after = host.Token();

        // A service that did not see the join (as after a restart) asks the database for the whole range.
        using var restarted = new PresenceService(host.Get<HomeserverOptions>(), host.Store, host.Get<IEventStore>(),
            host.Get<IAccountStore>(), host.Streams, host.Get<StreamBus>(), host.Clock,
            Microsoft.Extensions.Logging.Abstractions.NullLogger<PresenceService>.Instance);
        var events = await restarted.GetSyncEventsAsync(Context(Bob, before, after, [Room]), default);
        Assert.Equal([Carol], events.Select(e => (string?)e["sender"]));

        // The running service saw it, and finds nothing for a range without joins.
        Assert.Equal([Carol], (await PresenceAsync(host, Context(Bob, before, after, [Room]))).Select(p => p.Sender));
        await host.SetMembershipAsync("!elsewhere:test.local", Alice, "join");
        Assert.Empty(await PresenceAsync(host, Context(Bob, after, host.Token(), [Room])));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Contributor_PresenceFilter_Honoured(DatabaseEngine engine)
    {
        await using var host = await StartAsync(engine);
        await WrittenAsync(host, host.Presence.OnSyncAsync(RequesterOf(Alice), null, default));
        await WrittenAsync(host, host.Presence.OnSyncAsync(RequesterOf(Bob), null, default));
        var now = host.Token();

        Assert.Empty(await PresenceAsync(host, Context(Bob, null, now, [Room], Filter("""{"presence": {"not_types": ["m.presence"]}}"""))));
        Assert.Equal([Alice], (await PresenceAsync(host, Context(Bob, null, now, [Room],
            Filter("""{"presence": {"senders": ["@alice:test.local"]}}""")))).Select(p => p.Sender));
        Assert.Equal([Bob], (await PresenceAsync(host, Context(Bob, null, now, [Room],
            Filter("""{"presence": {"not_senders": ["@alice:test.local"]}}""")))).Select(p => p.Sender));
        Assert.Single(await PresenceAsync(host, Context(Bob, null, now, [Room], Filter("""{"presence": {"limit": 1}}"""))));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Restart_LoadsOnlineUsersAndTimesThemOut(DatabaseEngine engine)
    {
        await using var host = await StartAsync(engine);
        await WrittenAsync(host, host.Presence.OnSyncAsync(RequesterOf(Alice), null, default));
        host.Clock.Advance(TimeSpan.FromSeconds(20));
        await WrittenAsync(host, host.Presence.OnSyncAsync(RequesterOf(Alice), null, default));
        await host.Presence.FlushAsync(default);
        Assert.Equal(host.Clock.GetUtcNow().ToUnixTimeMilliseconds(), (await host.Store.GetAsync(Alice, default))!.LastUserSyncTs);

        // A new service over the same database, as after a restart: Alice stops syncing and goes offline.
        using var restarted = new PresenceService(host.Get<HomeserverOptions>(), host.Store, host.Get<IEventStore>(),
            host.Get<IAccountStore>(), host.Streams, host.Get<StreamBus>(), host.Clock,
            Microsoft.Extensions.Logging.Abstractions.NullLogger<PresenceService>.Instance);
        await restarted.LoadAsync(default);
        host.Clock.Advance(TimeSpan.FromSeconds(31));
        await restarted.CheckTimeoutsAsync(default);
        Assert.Equal("offline", (await host.Store.GetAsync(Alice, default))!.State);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task StreamSource_RowsCarryRoomAndUserKeys(DatabaseEngine engine)
    {
        await using var host = await StartAsync(engine);
        await WrittenAsync(host, host.Presence.OnSyncAsync(RequesterOf(Alice), null, default));
        await WrittenAsync(host, host.Presence.OnSyncAsync(RequesterOf(Carol), null, default));
        var updates = await host.Presence.GetUpdatesAsync(0, host.Presence.CurrentPosition, 10, default);
        Assert.Equal([1L, 2L], updates.Select(u => u.Position));
        var alice = updates[0].Rows.Single();
        Assert.Equal(Alice, (string?)alice.Data["user_id"]);
        Assert.Equal("online", (string?)alice.Data["presence"]);
        Assert.Equal([NotifierKey.User(Alice), NotifierKey.Room(Room)], alice.NotifierKeys);
        Assert.Equal([NotifierKey.User(Carol)], updates[1].Rows.Single().NotifierKeys);
    }
}
