using System.Text.Json;
using Synapse.Configuration;
using Synapse.Tests.Infrastructure;
using Synapse.Tests.Replication;

namespace Synapse.Tests.UserDirectory;

/// <summary>POST /user_directory/search over real HTTP on each engine, with the updater running on "main".</summary>
public sealed class UserDirectorySearchTests
{
    internal const string V3 = "/_matrix/client/v3";

    internal static async Task<string> CreateRoomAsync(TestHomeserver server, Session who, string preset)
    {
        var (status, created) = await server.SendAsync(HttpMethod.Post, $"{V3}/createRoom", who.AccessToken, new { preset });
        Assert.True(status == 200, $"createRoom failed: {status} {created}");
        return created.GetProperty("room_id").GetString()!;
    }

    /// <summary>Invites (unless the room is public) and joins <paramref name="who"/>.</summary>
    internal static async Task JoinAsync(TestHomeserver server, Session inviter, Session who, string roomId, bool invite = true)
    {
        if (invite)
        {
            var (invited, body) = await server.SendAsync(HttpMethod.Post, $"{V3}/rooms/{roomId}/invite", inviter.AccessToken,
                new { user_id = who.UserId });
            Assert.True(invited == 200, $"invite failed: {invited} {body}");
        }

        var (status, joined) = await server.SendAsync(HttpMethod.Post, $"{V3}/join/{Uri.EscapeDataString(roomId)}", who.AccessToken, new { });
        Assert.True(status == 200, $"join failed: {status} {joined}");
    }

    internal static async Task SetDisplayNameAsync(TestHomeserver server, Session who, string name)
    {
        var (status, body) = await server.SendAsync(HttpMethod.Put, $"{V3}/profile/{Uri.EscapeDataString(who.UserId)}/displayname",
            who.AccessToken, new { displayname = name });
        Assert.True(status == 200, $"setting the display name failed: {status} {body}");
    }

    internal static async Task<JsonElement> SearchAsync(TestHomeserver server, Session who, string term, int? limit = null)
    {
        object body = limit is null ? new { search_term = term } : new { search_term = term, limit };
        var (status, result) = await server.SendAsync(HttpMethod.Post, $"{V3}/user_directory/search", who.AccessToken, body);
        Assert.True(status == 200, $"search failed: {status} {result}");
        return result;
    }

    internal static List<string> UserIds(JsonElement result) =>
        [.. result.GetProperty("results").EnumerateArray().Select(r => r.GetProperty("user_id").GetString()!)];

    internal static Task UntilFoundAsync(TestHomeserver server, Session who, string term, string userId) =>
        Eventually.TrueAsync(async () => UserIds(await SearchAsync(server, who, term)).Contains(userId),
            $"a search by {who.UserId} for '{term}' finds {userId}");

    internal static Task UntilNotFoundAsync(TestHomeserver server, Session who, string term, string userId) =>
        Eventually.TrueAsync(async () => !UserIds(await SearchAsync(server, who, term)).Contains(userId),
            $"a search by {who.UserId} for '{term}' no longer finds {userId}");

    private static void AssertError(int status, string errcode, (int Status, JsonElement Body) response)
    {
        Assert.True(response.Status == status, $"expected {status} {errcode}, got {response.Status} {response.Body}");
        Assert.Equal(errcode, response.Body.GetProperty("errcode").GetString());
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Search_RoomMate_FoundByDisplayNameAndByUserId(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");
        await SetDisplayNameAsync(server, bob, "Bobby Tablés");
        string room = await CreateRoomAsync(server, alice, "private_chat");
        await JoinAsync(server, alice, bob, room);

        await UntilFoundAsync(server, alice, "TABLÉS", bob.UserId);
        var result = await SearchAsync(server, alice, "bobby tab");
        var entry = Assert.Single(result.GetProperty("results").EnumerateArray());
        Assert.Equal(bob.UserId, entry.GetProperty("user_id").GetString());
        Assert.Equal("Bobby Tablés", entry.GetProperty("display_name").GetString());
        Assert.False(entry.TryGetProperty("avatar_url", out _));
        Assert.False(result.GetProperty("limited").GetBoolean());

        Assert.Equal([bob.UserId], UserIds(await SearchAsync(server, alice, "bo")));
        Assert.Equal([bob.UserId], UserIds(await SearchAsync(server, alice, "@bob:test.local")));
        Assert.Empty(UserIds(await SearchAsync(server, alice, "bobby xavier")));

        // r0 serves it too.
        var (r0, r0Body) = await server.SendAsync(HttpMethod.Post, "/_matrix/client/r0/user_directory/search", alice.AccessToken,
            new { search_term = "bob" });
        Assert.Equal(200, r0);
        Assert.Equal([bob.UserId], UserIds(r0Body));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Search_StrangerInAnotherPrivateRoom_NotFound(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");
        var carol = await server.RegisterAsync("carol");
        var dave = await server.RegisterAsync("dave");
        string carols = await CreateRoomAsync(server, carol, "private_chat");
        await JoinAsync(server, carol, dave, carols);
        string shared = await CreateRoomAsync(server, alice, "private_chat");
        await JoinAsync(server, alice, bob, shared);

        // Bob's join comes after Carol's room in the events stream: once he is found, Carol's room has been applied too.
        await UntilFoundAsync(server, alice, "bob", bob.UserId);
        Assert.Empty(UserIds(await SearchAsync(server, alice, "carol")));
        Assert.Empty(UserIds(await SearchAsync(server, alice, "dave")));

        // Carol and Dave find each other, and not Alice; nobody finds themselves through a private room.
        Assert.Equal([dave.UserId], UserIds(await SearchAsync(server, carol, "dave")));
        Assert.Empty(UserIds(await SearchAsync(server, carol, "alice")));
        Assert.Empty(UserIds(await SearchAsync(server, carol, "carol")));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Search_UserInPublicRoom_FoundByAnyone_AndRoomMatesRankFirst(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var smith = await server.RegisterAsync("bobsmith");
        var jones = await server.RegisterAsync("bobjones");
        await CreateRoomAsync(server, jones, "public_chat");
        string shared = await CreateRoomAsync(server, alice, "private_chat");
        await JoinAsync(server, alice, smith, shared);

        await UntilFoundAsync(server, alice, "bob", smith.UserId);
        await UntilFoundAsync(server, alice, "bob", jones.UserId);

        // By user ID alone bobjones would come first; sharing a private room ranks bobsmith above.
        Assert.Equal([smith.UserId, jones.UserId], UserIds(await SearchAsync(server, alice, "bob")));

        // Jones is in a public room: he finds himself, and Smith finds him without sharing a room.
        Assert.Equal([jones.UserId], UserIds(await SearchAsync(server, jones, "bobjones")));
        Assert.Equal([jones.UserId], UserIds(await SearchAsync(server, smith, "bobjones")));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task SearchAllUsers_FindsRegisteredUserInNoRoom(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine,
            o => CopyWith(o, new UserDirectoryOptions { SearchAllUsers = true }));
        var alice = await server.RegisterAsync("alice");
        var zed = await server.RegisterAsync("zed");

        await UntilFoundAsync(server, alice, "zed", zed.UserId);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Search_Limit_CutsTheListAndSaysSo(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine,
            o => CopyWith(o, new UserDirectoryOptions { SearchAllUsers = true }));
        var alice = await server.RegisterAsync("alice");
        string[] sams = [.. await Task.WhenAll(Enumerable.Range(1, 4).Select(async i => (await server.RegisterAsync($"sam{i}")).UserId))];
        await UntilFoundAsync(server, alice, "sam", "@sam4:test.local");
        await UntilFoundAsync(server, alice, "sam", "@sam1:test.local");

        var all = await SearchAsync(server, alice, "sam");
        Assert.Equal(sams.Order(StringComparer.Ordinal), UserIds(all));
        Assert.False(all.GetProperty("limited").GetBoolean());

        var two = await SearchAsync(server, alice, "sam", limit: 2);
        Assert.Equal(["@sam1:test.local", "@sam2:test.local"], UserIds(two));
        Assert.True(two.GetProperty("limited").GetBoolean());

        var four = await SearchAsync(server, alice, "sam", limit: 4);
        Assert.Equal(4, UserIds(four).Count);
        Assert.False(four.GetProperty("limited").GetBoolean());

        var none = await SearchAsync(server, alice, "sam", limit: 0);
        Assert.Empty(UserIds(none));
        Assert.True(none.GetProperty("limited").GetBoolean());
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Leave_RoomMateWhoLeft_NoLongerFound(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");
        string room = await CreateRoomAsync(server, alice, "private_chat");
        await JoinAsync(server, alice, bob, room);
        await UntilFoundAsync(server, alice, "bob", bob.UserId);

        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"{V3}/rooms/{room}/leave", bob.AccessToken, new { })).Status);

        await UntilNotFoundAsync(server, alice, "bob", bob.UserId);
        Assert.Empty(UserIds(await SearchAsync(server, bob, "alice")));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task DisplayNameChange_IsSearchable_AndTheOldNameIsNot(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");
        await SetDisplayNameAsync(server, bob, "Robert");
        string room = await CreateRoomAsync(server, alice, "private_chat");
        await JoinAsync(server, alice, bob, room);
        await UntilFoundAsync(server, alice, "robert", bob.UserId);

        await SetDisplayNameAsync(server, bob, "Zebedee");

        await UntilFoundAsync(server, alice, "zebedee", bob.UserId);
        Assert.Empty(UserIds(await SearchAsync(server, alice, "robert")));
        var entry = Assert.Single((await SearchAsync(server, alice, "bob")).GetProperty("results").EnumerateArray());
        Assert.Equal("Zebedee", entry.GetProperty("display_name").GetString());
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Deactivate_UserInPublicRoom_NoLongerFound(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var frank = await server.RegisterAsync("frank", "frank's password");
        await CreateRoomAsync(server, frank, "public_chat");
        await UntilFoundAsync(server, alice, "frank", frank.UserId);

        var (status, body) = await server.SendAsync(HttpMethod.Post, $"{V3}/account/deactivate", frank.AccessToken, new
        {
            auth = new { type = "m.login.password", identifier = new { type = "m.id.user", user = "frank" }, password = "frank's password" },
        });
        Assert.True(status == 200, $"deactivate failed: {status} {body}");

        await UntilNotFoundAsync(server, alice, "frank", frank.UserId);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Disabled_ReturnsNothing_ThoughTheDirectoryIsKept(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine,
            o => CopyWith(o, new UserDirectoryOptions { Enabled = false, SearchAllUsers = true }));
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");
        var store = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions
            .GetRequiredService<Synapse.Storage.IUserDirectoryStore>(server.Services);
        await Eventually.TrueAsync(
            async () => (await store.SearchAsync(new Synapse.Storage.DirectorySearch(alice.UserId, ["bob"], 10, true), default)).Count == 1,
            "the updater has added bob");

        var result = await SearchAsync(server, alice, "bob");

        Assert.Empty(UserIds(result));
        Assert.False(result.GetProperty("limited").GetBoolean());
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Search_BadInput_IsRefusedWithTheSpecError(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        const string path = $"{V3}/user_directory/search";

        AssertError(400, "M_MISSING_PARAM", await server.SendAsync(HttpMethod.Post, path, alice.AccessToken, new { limit = 3 }));
        AssertError(400, "M_BAD_JSON", await server.SendAsync(HttpMethod.Post, path, alice.AccessToken, new { search_term = 5 }));
        AssertError(400, "M_BAD_JSON", await server.SendAsync(HttpMethod.Post, path, alice.AccessToken, new { search_term = "a", limit = "ten" }));
        AssertError(400, "M_BAD_JSON", await server.SendAsync(HttpMethod.Post, path, alice.AccessToken, new { search_term = "a", limit = 1.5 }));
        AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Post, path, alice.AccessToken, new { search_term = "a", limit = -1 }));
        AssertError(400, "M_BAD_JSON", await server.SendAsync(HttpMethod.Post, path, alice.AccessToken, "[\"a\"]"));
        AssertError(400, "M_NOT_JSON", await server.SendAsync(HttpMethod.Post, path, alice.AccessToken, "search_term=a"));
        AssertError(401, "M_MISSING_TOKEN", await server.SendAsync(HttpMethod.Post, path, body: new { search_term = "a" }));
        AssertError(401, "M_UNKNOWN_TOKEN", await server.SendAsync(HttpMethod.Post, path, "not-a-token", new { search_term = "a" }));

        // A term with no word characters matches nobody rather than everybody.
        var empty = await SearchAsync(server, alice, " @:! ");
        Assert.Empty(UserIds(empty));
        Assert.False(empty.GetProperty("limited").GetBoolean());
    }

    internal static HomeserverOptions CopyWith(HomeserverOptions o, UserDirectoryOptions directory, bool updateUserDirectory = true) => new()
    {
        ServerName = o.ServerName,
        Listeners = o.Listeners,
        Database = o.Database,
        EnableRegistration = o.EnableRegistration,
        EnableRegistrationWithoutVerification = o.EnableRegistrationWithoutVerification,
        RegistrationSharedSecret = o.RegistrationSharedSecret,
        SigningKeyPath = o.SigningKeyPath,
        Password = o.Password,
        RcLogin = o.RcLogin,
        RcRegistration = o.RcRegistration,
        UpdateUserDirectory = updateUserDirectory,
        UserDirectory = directory,
    };
}
