using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Synapse.Accounts;
using Synapse.Configuration;
using Synapse.Identifiers;
using Synapse.Storage;
using Synapse.Streams;
using Synapse.Sync;
using Synapse.Tests.Infrastructure;

namespace Synapse.Tests.Sync;

/// <summary>A clock the test moves by hand. Timers it creates are real ones; the services under test are driven directly.</summary>
internal sealed class ManualClock : TimeProvider
{
    private DateTimeOffset _now = new(2025, 1, 1, 12, 0, 0, TimeSpan.Zero);

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;
}

/// <summary>
/// The presence and typing services over a fresh database of one engine, with a manual clock, three local users and
/// room memberships written straight into the current state (what the services read).
/// </summary>
internal sealed class PresenceTestHost : IAsyncDisposable
{
    public const string Alice = "@alice:test.local";
    public const string Bob = "@bob:test.local";
    public const string Carol = "@carol:test.local";

    private readonly ServiceProvider _services;
    private readonly TestDatabase _database;

    private PresenceTestHost(ServiceProvider services, TestDatabase database, ManualClock clock)
    {
        _services = services;
        _database = database;
        Clock = clock;
    }

    public ManualClock Clock { get; }

    public PresenceService Presence => _services.GetRequiredService<PresenceService>();

    public TypingService Typing => _services.GetRequiredService<TypingService>();

    public IPresenceStore Store => _services.GetRequiredService<IPresenceStore>();

    public StreamRegistry Streams => _services.GetRequiredService<StreamRegistry>();

    public SyncNotifier Notifier => _services.GetRequiredService<SyncNotifier>();

    public static async Task<PresenceTestHost> StartAsync(DatabaseEngine engine, bool presenceEnabled = true)
    {
        var database = await TestDatabase.CreateAsync(engine);
        var clock = new ManualClock();
        var options = new HomeserverOptions
        {
            ServerName = "test.local",
            Listeners = [],
            Database = database.Options,
            SigningKeyPath = "unused.key",
            PresenceEnabled = presenceEnabled,
        };
        var services = new ServiceCollection()
            .AddSingleton<ILoggerFactory>(NullLoggerFactory.Instance)
            .AddSingleton(typeof(ILogger<>), typeof(NullLogger<>))
            .AddSynapseStorage(database.Options)
            .AddSingleton(options)
            .AddSingleton<TimeProvider>(clock)
            .AddSingleton<StreamBus>()
            .AddSingleton<StreamRegistry>()
            .AddSingleton<SyncNotifier>()
            .AddSingleton<PresenceService>()
            .AddSingleton<TypingService>()
            .AddSingleton<TypingContributor>()
            .AddSingleton<PresenceContributor>()
            .BuildServiceProvider();
        await services.MigrateSynapseDatabaseAsync();
        await services.InitializeSynapseStreamsAsync();
        var host = new PresenceTestHost(services, database, clock);
        var accounts = services.GetRequiredService<IAccountStore>();
        foreach (string user in (string[])[Alice, Bob, Carol])
        {
            await accounts.CreateUserAsync(new NewUser(UserId.Parse(user), null, false, false, null, null, 0), default);
        }

        return host;
    }

    public T Get<T>() where T : notnull => _services.GetRequiredService<T>();

    public static Requester RequesterOf(string userId) => new(UserId.Parse(userId), DeviceId.Parse("DEVICE"), 1, false);

    /// <summary>
    /// Sets the user's current membership and writes its event at the next events stream position, published as the
    /// persister would.
    /// </summary>
    public async Task SetMembershipAsync(string roomId, string userId, string membership)
    {
        var stream = Streams[StreamNames.Events];
        long ordering = stream.Allocate();
        string eventId = $"$member{ordering}";
        await _services.GetRequiredService<SynapseDatabase>().WriteAsync(async (c, t, ct) =>
        {
            await using (var state = c.Command("""
                INSERT INTO current_state_events (room_id, type, state_key, event_id, membership)
                VALUES (@room, 'm.room.member', @user, @event, @membership)
                ON CONFLICT (room_id, type, state_key) DO UPDATE SET event_id = excluded.event_id, membership = excluded.membership
                """, t).With("@room", roomId).With("@user", userId).With("@event", eventId).With("@membership", membership))
            {
                await state.ExecuteNonQueryAsync(ct);
            }

            await using var insert = c.Command("""
                INSERT INTO events (stream_ordering, event_id, room_id, type, state_key, sender, depth, origin_server_ts,
                                    received_ts, state_group, json)
                VALUES (@ordering, @event, @room, 'm.room.member', @user, @user, 1, 0, 0, 0, '{}')
                """, t).With("@ordering", ordering).With("@event", eventId).With("@room", roomId).With("@user", userId);
            return await insert.ExecuteNonQueryAsync(ct);
        }, default);
        stream.Complete(ordering, [new StreamRow(
            new System.Text.Json.Nodes.JsonObject
            {
                ["event_id"] = eventId, ["room_id"] = roomId, ["type"] = "m.room.member", ["sender"] = userId,
                ["state_key"] = userId, ["membership"] = membership,
            },
            [NotifierKey.Room(roomId), NotifierKey.User(userId)])]);
    }

    /// <summary>The current sync token.</summary>
    public SyncToken Token() => Streams.CurrentToken();

    public static SyncContext Context(string userId, SyncToken? since, SyncToken now, IReadOnlyList<string> joinedRooms,
        SyncFilter? filter = null, bool fullState = false) => new()
    {
        Requester = RequesterOf(userId),
        Since = since,
        Now = now,
        FullState = fullState,
        Filter = filter ?? SyncFilter.Default,
        JoinedRoomIds = joinedRooms,
    };

    public static SyncFilter Filter(string json) => SyncFilter.FromJson(System.Text.Json.JsonDocument.Parse(json).RootElement);

    public async ValueTask DisposeAsync()
    {
        await _services.DisposeAsync();
        await _database.DisposeAsync();
    }
}
