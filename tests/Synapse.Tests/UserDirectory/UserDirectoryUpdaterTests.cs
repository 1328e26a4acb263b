using Microsoft.Extensions.DependencyInjection;
using Synapse.Configuration;
using Synapse.Storage;
using Synapse.Tests.Infrastructure;
using Synapse.Tests.Replication;
using Synapse.UserDirectory;
using static Synapse.Tests.UserDirectory.UserDirectorySearchTests;

namespace Synapse.Tests.UserDirectory;

/// <summary>
/// The updater driven by hand on a server whose main does not run it (<c>update_user_directory: false</c>, as when a
/// user_dir worker does): first fill of an existing database, stop, and resumption from the stored position.
/// </summary>
public sealed class UserDirectoryUpdaterTests
{
    private static Task<TestHomeserver> StartWithoutUpdaterAsync(DatabaseEngine engine, bool searchAllUsers = false) =>
        TestHomeserver.StartAsync(engine, o => CopyWith(o, new UserDirectoryOptions { SearchAllUsers = searchAllUsers }, updateUserDirectory: false));

    private static UserDirectoryUpdater NewUpdater(TestHomeserver server) =>
        ActivatorUtilities.CreateInstance<UserDirectoryUpdater>(server.Services);

    [Theory, ClassData(typeof(Engines))]
    public async Task AddSynapseHomeserver_UpdateUserDirectoryOff_RegistersNoUpdater(DatabaseEngine engine)
    {
        await using var server = await StartWithoutUpdaterAsync(engine);
        var alice = await server.RegisterAsync("alice");
        await CreateRoomAsync(server, alice, "public_chat");

        Assert.DoesNotContain(server.Services.GetServices<Microsoft.Extensions.Hosting.IHostedService>(), s => s is UserDirectoryUpdater);
        Assert.Null(await server.Services.GetRequiredService<IUserDirectoryStore>().GetStreamPositionAsync(default));
        Assert.Empty(UserIds(await SearchAsync(server, alice, "alice")));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task FirstStart_ExistingDatabase_FillsFromRoomsAndUsers(DatabaseEngine engine)
    {
        await using var server = await StartWithoutUpdaterAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");
        var carol = await server.RegisterAsync("carol");
        string room = await CreateRoomAsync(server, alice, "private_chat");
        await JoinAsync(server, alice, bob, room);
        await CreateRoomAsync(server, carol, "public_chat");

        var updater = NewUpdater(server);
        await updater.RunOnceAsync(default);

        Assert.Equal([bob.UserId], UserIds(await SearchAsync(server, alice, "bob")));
        Assert.Equal([carol.UserId], UserIds(await SearchAsync(server, bob, "carol")));
        Assert.Empty(UserIds(await SearchAsync(server, carol, "bob")));
        Assert.NotNull(await server.Services.GetRequiredService<IUserDirectoryStore>().GetStreamPositionAsync(default));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Restart_ResumesFromTheStoredPosition_AndAppliesWhatHappenedWhileStopped(DatabaseEngine engine)
    {
        await using var server = await StartWithoutUpdaterAsync(engine, searchAllUsers: true);
        var store = server.Services.GetRequiredService<IUserDirectoryStore>();
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");
        string room = await CreateRoomAsync(server, alice, "private_chat");
        await JoinAsync(server, alice, bob, room);

        var first = NewUpdater(server);
        first.PollInterval = TimeSpan.FromMilliseconds(100);
        await first.StartAsync(default);
        await UntilFoundAsync(server, alice, "bob", bob.UserId);
        await first.StopAsync(default);
        long? stoppedAt = await store.GetStreamPositionAsync(default);
        Assert.NotNull(stoppedAt);

        // An entry no real user has: a second full fill would clear it; resuming from the stored position keeps it.
        await store.UpsertEntriesAsync([new DirectoryEntry("@sentinel:test.local", null, null, ["sentinel"])], default);

        // While stopped: Bob renames himself in the room, Carol registers.
        await SetDisplayNameAsync(server, bob, "Barnaby");
        var carol = await server.RegisterAsync("carol");
        Assert.Equal(stoppedAt, await store.GetStreamPositionAsync(default));
        Assert.Empty(UserIds(await SearchAsync(server, alice, "barnaby")));

        var second = NewUpdater(server);
        second.PollInterval = TimeSpan.FromMilliseconds(100);
        await second.StartAsync(default);
        try
        {
            await UntilFoundAsync(server, alice, "barnaby", bob.UserId);
            await UntilFoundAsync(server, alice, "carol", carol.UserId);
            Assert.Equal(["@sentinel:test.local"], UserIds(await SearchAsync(server, alice, "sentinel")));
            Assert.True(await store.GetStreamPositionAsync(default) > stoppedAt);

            // One entry per user, whatever was applied twice; Bob, who shares a room with Alice, first.
            Assert.Equal([bob.UserId, alice.UserId, carol.UserId], UserIds(await SearchAsync(server, alice, "test")));
        }
        finally
        {
            await second.StopAsync(default);
        }
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Poll_ProfileChangeOfUserInNoRoom_IsPickedUpWithoutAnyEvent(DatabaseEngine engine)
    {
        await using var server = await StartWithoutUpdaterAsync(engine, searchAllUsers: true);
        var alice = await server.RegisterAsync("alice");
        var loner = await server.RegisterAsync("loner");
        var updater = NewUpdater(server);
        updater.PollInterval = TimeSpan.FromMilliseconds(100);
        await updater.StartAsync(default);
        try
        {
            await UntilFoundAsync(server, alice, "loner", loner.UserId);

            await SetDisplayNameAsync(server, loner, "Hermit");

            await UntilFoundAsync(server, alice, "hermit", loner.UserId);
        }
        finally
        {
            await updater.StopAsync(default);
        }
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task JoinRulesChange_RoomTurnsPublic_MembersBecomeFindable(DatabaseEngine engine)
    {
        await using var server = await StartWithoutUpdaterAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");
        var carol = await server.RegisterAsync("carol");
        string room = await CreateRoomAsync(server, alice, "private_chat");
        await JoinAsync(server, alice, bob, room);
        var updater = NewUpdater(server);
        await updater.RunOnceAsync(default);
        Assert.Empty(UserIds(await SearchAsync(server, carol, "bob")));

        var (status, body) = await server.SendAsync(HttpMethod.Put, $"{V3}/rooms/{room}/state/m.room.join_rules/", alice.AccessToken,
            new { join_rule = "public" });
        Assert.True(status == 200, $"join rules change failed: {status} {body}");
        await updater.RunOnceAsync(default);

        Assert.Equal([bob.UserId], UserIds(await SearchAsync(server, carol, "bob")));
        Assert.Equal([alice.UserId], UserIds(await SearchAsync(server, carol, "alice")));

        (status, body) = await server.SendAsync(HttpMethod.Put, $"{V3}/rooms/{room}/state/m.room.join_rules/", alice.AccessToken,
            new { join_rule = "invite" });
        Assert.True(status == 200, $"join rules change failed: {status} {body}");
        await updater.RunOnceAsync(default);

        Assert.Empty(UserIds(await SearchAsync(server, carol, "bob")));
        Assert.Equal([bob.UserId], UserIds(await SearchAsync(server, alice, "bob")));
    }
}
