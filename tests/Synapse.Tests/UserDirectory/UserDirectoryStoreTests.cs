using Microsoft.Extensions.DependencyInjection;
using Synapse.Configuration;
using Synapse.Identifiers;
using Synapse.Storage;
using Synapse.Tests.Infrastructure;
using Synapse.Tests.Storage;

namespace Synapse.Tests.UserDirectory;

/// <summary><see cref="IUserDirectoryStore"/> on both engines, the same cases.</summary>
public sealed class UserDirectoryStoreTests
{
    private const string Me = "@me:test.local";
    private const string Room = "!room:test.local";

    private static DirectoryEntry Entry(string userId, string? name, params string[] words) => new(userId, name, null, words);

    private static DirectorySearch Search(params string[] words) => new(Me, words, 10, AllUsers: true);

    private static async Task<List<string>> FoundAsync(IUserDirectoryStore store, DirectorySearch search) =>
        [.. (await store.SearchAsync(search, default)).Select(e => e.UserId)];

    [Theory, ClassData(typeof(Engines))]
    public async Task Search_EveryWordMustPrefixAWord_AndUnderscoreIsNotAWildcard(DatabaseEngine engine)
    {
        var (services, database) = await AccountStoreTests.OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;
        var store = services.GetRequiredService<IUserDirectoryStore>();
        await store.UpsertEntriesAsync(
        [
            Entry("@ann:test.local", "Ann Lee", "ann", "lee"),
            Entry("@anna:test.local", "Anna Bell", "anna", "bell"),
            Entry("@a_b:test.local", null, "a_b"),
            Entry("@axb:test.local", null, "axb"),
        ], default);

        Assert.Equal(["@ann:test.local", "@anna:test.local"], await FoundAsync(store, Search("an")));
        Assert.Equal(["@anna:test.local"], await FoundAsync(store, Search("an", "be")));
        Assert.Empty(await FoundAsync(store, Search("nn")));
        Assert.Equal(["@a_b:test.local"], await FoundAsync(store, Search("a_")));
        Assert.Empty(await FoundAsync(store, Search()));

        var found = Assert.Single(await store.SearchAsync(Search("lee"), default));
        Assert.Equal(("@ann:test.local", "Ann Lee"), (found.UserId, found.DisplayName));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Search_Ranking_RoomMatesThenExactWordsThenNamedThenUserId(DatabaseEngine engine)
    {
        var (services, database) = await AccountStoreTests.OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;
        var store = services.GetRequiredService<IUserDirectoryStore>();
        await store.UpsertEntriesAsync(
        [
            Entry("@a:test.local", null, "samantha"),
            Entry("@b:test.local", null, "sam"),
            Entry("@c:test.local", "Sam", "samuel"),
            Entry("@d:test.local", null, "samuel"),
            Entry("@z:test.local", null, "samson"),
        ], default);
        await store.AddRoomRowsAsync(Room, [], [(Me, "@z:test.local")], default);

        Assert.Equal(["@z:test.local", "@b:test.local", "@c:test.local", "@a:test.local", "@d:test.local"],
            await FoundAsync(store, Search("sam")));
        Assert.Equal(["@z:test.local", "@b:test.local"], await FoundAsync(store, Search("sam") with { Limit = 2 }));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Search_NotAllUsers_OnlyPublicRoomMembersAndThoseSharingAPrivateRoom(DatabaseEngine engine)
    {
        var (services, database) = await AccountStoreTests.OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;
        var store = services.GetRequiredService<IUserDirectoryStore>();
        string[] users = ["@pub:test.local", "@mate:test.local", "@theirs:test.local", "@nobody:test.local"];
        await store.UpsertEntriesAsync([.. users.Select(u => Entry(u, null, "user"))], default);
        await store.AddRoomRowsAsync("!public:test.local", ["@pub:test.local"], [], default);
        await store.AddRoomRowsAsync(Room, [], [(Me, "@mate:test.local"), ("@mate:test.local", Me)], default);
        await store.AddRoomRowsAsync("!other:test.local", [], [("@theirs:test.local", "@mate:test.local")], default);

        Assert.Equal(["@mate:test.local", "@pub:test.local"], await FoundAsync(store, Search("user") with { AllUsers = false }));
        Assert.Equal(users.Order(StringComparer.Ordinal), await FoundAsync(store, Search("user")));

        await store.RemoveUserFromRoomAsync(Room, "@mate:test.local", default);
        Assert.Equal(["@pub:test.local"], await FoundAsync(store, Search("user") with { AllUsers = false }));
        Assert.True(await store.IsInAnyRoomAsync("@mate:test.local", default));

        await store.ReplaceRoomAsync("!other:test.local", [], [], default);
        Assert.False(await store.IsInAnyRoomAsync("@mate:test.local", default));
        Assert.True(await store.IsInAnyRoomAsync("@pub:test.local", default));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Upsert_Again_ReplacesNameAndWords(DatabaseEngine engine)
    {
        var (services, database) = await AccountStoreTests.OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;
        var store = services.GetRequiredService<IUserDirectoryStore>();

        await store.UpsertEntriesAsync([Entry("@u:test.local", "Old", "old")], default);
        await store.UpsertEntriesAsync([Entry("@u:test.local", "New", "new")], default);

        Assert.Empty(await FoundAsync(store, Search("old")));
        Assert.Equal("New", Assert.Single(await store.SearchAsync(Search("new"), default)).DisplayName);

        await store.RemoveUsersAsync(["@u:test.local"], default);
        Assert.Empty(await FoundAsync(store, Search("new")));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task GetStaleLocalUsers_NewChangedAndDeactivatedUsers(DatabaseEngine engine)
    {
        var (services, database) = await AccountStoreTests.OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;
        var store = services.GetRequiredService<IUserDirectoryStore>();
        var accounts = services.GetRequiredService<IAccountStore>();
        var alice = UserId.Parse("@alice:test.local");
        var bob = UserId.Parse("@bob:test.local");
        await accounts.CreateUserAsync(new NewUser(alice, null, false, false, null, "Alice", 1), default);
        await accounts.CreateUserAsync(new NewUser(bob, null, false, false, null, null, 1), default);

        var fresh = await store.GetStaleLocalUsersAsync(null, default);
        Assert.Equal([new DirectoryProfileChange(alice.Value, "Alice", null, true), new DirectoryProfileChange(bob.Value, null, null, true)],
            fresh);
        await store.UpsertEntriesAsync([.. fresh.Select(c => Entry(c.UserId, c.DisplayName))], default);
        Assert.Empty(await store.GetStaleLocalUsersAsync(null, default));

        await accounts.SetProfileFieldAsync(bob, "avatar_url", "mxc://test.local/b", default);
        await accounts.DeactivateUserAsync(alice, 1, default);

        Assert.Equal([new DirectoryProfileChange(alice.Value, "Alice", null, false), new DirectoryProfileChange(bob.Value, null, "mxc://test.local/b", true)],
            await store.GetStaleLocalUsersAsync(null, default));
        Assert.Equal([new DirectoryProfileChange(bob.Value, null, "mxc://test.local/b", true)],
            await store.GetStaleLocalUsersAsync([bob.Value, "@ghost:test.local"], default));
        Assert.Empty(await store.GetStaleLocalUsersAsync([], default));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task StreamPosition_NullUntilSet_ThenKept_AndClearForgetsEverything(DatabaseEngine engine)
    {
        var (services, database) = await AccountStoreTests.OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;
        var store = services.GetRequiredService<IUserDirectoryStore>();

        Assert.Null(await store.GetStreamPositionAsync(default));
        await store.SetStreamPositionAsync(5, default);
        await store.SetStreamPositionAsync(7, default);
        Assert.Equal(7, await store.GetStreamPositionAsync(default));

        await store.UpsertEntriesAsync([Entry("@u:test.local", null, "u")], default);
        await store.AddRoomRowsAsync(Room, ["@u:test.local"], [], default);
        await store.ClearAsync(default);

        Assert.Null(await store.GetStreamPositionAsync(default));
        Assert.Empty(await FoundAsync(store, Search("u")));
        Assert.False(await store.IsInAnyRoomAsync("@u:test.local", default));
    }
}
