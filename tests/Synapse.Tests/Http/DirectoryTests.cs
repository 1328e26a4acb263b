using System.Text.Json;
using Synapse.Configuration;
using Synapse.Tests.Infrastructure;

namespace Synapse.Tests.Http;

/// <summary>Room aliases, directory visibility and /publicRooms over real HTTP, on each engine.</summary>
public sealed class DirectoryTests
{
    private const string V3 = "/_matrix/client/v3";
    private const string R0 = "/_matrix/client/r0";

    private static async Task<(TestHomeserver Server, Session Alice, Session Bob)> StartAsync(DatabaseEngine engine)
    {
        var server = await TestHomeserver.StartAsync(engine);
        return (server, await server.RegisterAsync("alice"), await server.RegisterAsync("bob"));
    }

    private static string AliasPath(string alias, string prefix = V3) => $"{prefix}/directory/room/{Uri.EscapeDataString(alias)}";

    private static async Task<string> CreateRoomAsync(TestHomeserver server, Session who, object body)
    {
        var (status, created) = await server.SendAsync(HttpMethod.Post, $"{V3}/createRoom", who.AccessToken, body);
        Assert.True(status == 200, $"createRoom failed: {status} {created}");
        return created.GetProperty("room_id").GetString()!;
    }

    private static async Task JoinAsync(TestHomeserver server, Session who, string roomId)
    {
        var (status, body) = await server.SendAsync(HttpMethod.Post, $"{V3}/join/{Uri.EscapeDataString(roomId)}", who.AccessToken, new { });
        Assert.True(status == 200, $"join failed: {status} {body}");
    }

    private static async Task<Session> RegisterAdminAsync(TestHomeserver server)
    {
        var (_, nonceBody) = await server.SendAsync(HttpMethod.Get, "/_synapse/admin/v1/register");
        string nonce = nonceBody.GetProperty("nonce").GetString()!;
        string mac = Synapse.Homeserver.RegisterUserCommand.Mac(TestHomeserver.SharedSecret, nonce, "root", "pw", true, null);
        var (status, body) = await server.SendAsync(HttpMethod.Post, "/_synapse/admin/v1/register", body: new
        {
            nonce, username = "root", password = "pw", admin = true, mac,
        });
        Assert.Equal(200, status);
        return new Session(body.GetProperty("user_id").GetString()!, body.GetProperty("access_token").GetString()!,
            body.GetProperty("device_id").GetString()!);
    }

    private static async Task<JsonElement> CanonicalAliasAsync(TestHomeserver server, Session who, string roomId)
    {
        var (status, content) = await server.SendAsync(HttpMethod.Get, $"{V3}/rooms/{roomId}/state/m.room.canonical_alias", who.AccessToken);
        Assert.Equal(200, status);
        return content;
    }

    private static void AssertError(int expectedStatus, string expectedCode, (int Status, JsonElement Body) response)
    {
        Assert.True(response.Status == expectedStatus, $"expected {expectedStatus} {expectedCode}, got {response.Status} {response.Body}");
        Assert.Equal(expectedCode, response.Body.GetProperty("errcode").GetString());
    }

    private static List<string> RoomIds(JsonElement page) =>
        page.GetProperty("chunk").EnumerateArray().Select(r => r.GetProperty("room_id").GetString()!).ToList();

    [Theory, ClassData(typeof(Engines))]
    public async Task Alias_CreateResolveJoinListDelete_RoundTrips(DatabaseEngine engine)
    {
        var (server, alice, bob) = await StartAsync(engine);
        await using var _ = server;
        string roomId = await CreateRoomAsync(server, alice, new { preset = "public_chat" });
        const string alias = "#lobby:test.local";

        var (putStatus, put) = await server.SendAsync(HttpMethod.Put, AliasPath(alias), alice.AccessToken, new { room_id = roomId });
        Assert.Equal(200, putStatus);
        Assert.Empty(put.EnumerateObject());

        // Resolving needs no access token, and works under r0 too.
        foreach (string prefix in new[] { V3, R0 })
        {
            var (getStatus, resolved) = await server.SendAsync(HttpMethod.Get, AliasPath(alias, prefix));
            Assert.Equal(200, getStatus);
            Assert.Equal(roomId, resolved.GetProperty("room_id").GetString());
            Assert.Equal(["test.local"], resolved.GetProperty("servers").EnumerateArray().Select(s => s.GetString()));
        }

        // Bob joins by alias.
        var (joinStatus, joined) = await server.SendAsync(HttpMethod.Post, $"{V3}/join/{Uri.EscapeDataString(alias)}", bob.AccessToken, new { });
        Assert.Equal(200, joinStatus);
        Assert.Equal(roomId, joined.GetProperty("room_id").GetString());

        // A second alias from Bob (any joined member may add one); both are listed, sorted.
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Put, AliasPath("#bobs-lobby:test.local"), bob.AccessToken, new { room_id = roomId })).Status);
        var (listStatus, list) = await server.SendAsync(HttpMethod.Get, $"{V3}/rooms/{roomId}/aliases", bob.AccessToken);
        Assert.Equal(200, listStatus);
        Assert.Equal(["#bobs-lobby:test.local", alias], list.GetProperty("aliases").EnumerateArray().Select(a => a.GetString()));

        // The creator deletes it; it no longer resolves, and deleting again is 404.
        var (deleteStatus, deleted) = await server.SendAsync(HttpMethod.Delete, AliasPath(alias), alice.AccessToken);
        Assert.Equal(200, deleteStatus);
        Assert.Empty(deleted.EnumerateObject());
        AssertError(404, "M_NOT_FOUND", await server.SendAsync(HttpMethod.Get, AliasPath(alias)));
        AssertError(404, "M_NOT_FOUND", await server.SendAsync(HttpMethod.Delete, AliasPath(alias), alice.AccessToken));
        AssertError(404, "M_NOT_FOUND", await server.SendAsync(HttpMethod.Post, $"{V3}/join/{Uri.EscapeDataString(alias)}", bob.AccessToken, new { }));
        var (_, after) = await server.SendAsync(HttpMethod.Get, $"{V3}/rooms/{roomId}/aliases", alice.AccessToken);
        Assert.Equal(["#bobs-lobby:test.local"], after.GetProperty("aliases").EnumerateArray().Select(a => a.GetString()));

        // A deleted alias can be taken again, even for another room.
        string other = await CreateRoomAsync(server, bob, new { });
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Put, AliasPath(alias), bob.AccessToken, new { room_id = other })).Status);
        Assert.Equal(other, (await server.SendAsync(HttpMethod.Get, AliasPath(alias))).Body.GetProperty("room_id").GetString());
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Alias_Taken_Answers409(DatabaseEngine engine)
    {
        var (server, alice, bob) = await StartAsync(engine);
        await using var _ = server;
        string roomId = await CreateRoomAsync(server, alice, new { preset = "public_chat", room_alias_name = "general" });
        string bobsRoom = await CreateRoomAsync(server, bob, new { });

        // The alias createRoom made resolves, and cannot be created again, by anyone, for any room.
        Assert.Equal(roomId, (await server.SendAsync(HttpMethod.Get, AliasPath("#general:test.local"))).Body.GetProperty("room_id").GetString());
        AssertError(409, "M_UNKNOWN", await server.SendAsync(HttpMethod.Put, AliasPath("#general:test.local"), alice.AccessToken, new { room_id = roomId }));
        AssertError(409, "M_UNKNOWN", await server.SendAsync(HttpMethod.Put, AliasPath("#general:test.local"), bob.AccessToken, new { room_id = bobsRoom }));
        Assert.Equal(roomId, (await server.SendAsync(HttpMethod.Get, AliasPath("#general:test.local"))).Body.GetProperty("room_id").GetString());

        // Concurrent creations of one alias: exactly one wins.
        var attempts = await Task.WhenAll(Enumerable.Range(0, 5).Select(_ =>
            server.SendAsync(HttpMethod.Put, AliasPath("#race:test.local"), alice.AccessToken, new { room_id = roomId })));
        Assert.Equal(1, attempts.Count(a => a.Status == 200));
        Assert.Equal(4, attempts.Count(a => a.Status == 409));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task DeleteAlias_ByOthers_NeedsCanonicalAliasPowerOrAdmin(DatabaseEngine engine)
    {
        var (server, alice, bob) = await StartAsync(engine);
        await using var _ = server;
        var carol = await server.RegisterAsync("carol");
        var admin = await RegisterAdminAsync(server);
        string roomId = await CreateRoomAsync(server, alice, new { preset = "public_chat" });
        await JoinAsync(server, bob, roomId);
        foreach (string name in new[] { "a1", "a2", "a3" })
        {
            Assert.Equal(200, (await server.SendAsync(HttpMethod.Put, AliasPath($"#{name}:test.local"), alice.AccessToken, new { room_id = roomId })).Status);
        }

        // Bob is joined with power 0 (< 50 for m.room.canonical_alias); Carol is not in the room.
        AssertError(403, "M_FORBIDDEN", await server.SendAsync(HttpMethod.Delete, AliasPath("#a1:test.local"), bob.AccessToken));
        AssertError(403, "M_FORBIDDEN", await server.SendAsync(HttpMethod.Delete, AliasPath("#a1:test.local"), carol.AccessToken));
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Get, AliasPath("#a1:test.local"))).Status);

        // A server admin may delete any alias, in the room or not.
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Delete, AliasPath("#a1:test.local"), admin.AccessToken)).Status);

        // With power 50 Bob may delete aliases he did not create.
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Put, $"{V3}/rooms/{roomId}/state/m.room.power_levels", alice.AccessToken, new
        {
            users = new Dictionary<string, int> { [alice.UserId] = 100, [bob.UserId] = 50 },
            events = new Dictionary<string, int> { ["m.room.canonical_alias"] = 50 },
        })).Status);
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Delete, AliasPath("#a2:test.local"), bob.AccessToken)).Status);

        // Once he leaves, that power no longer counts.
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"{V3}/rooms/{roomId}/leave", bob.AccessToken, new { })).Status);
        AssertError(403, "M_FORBIDDEN", await server.SendAsync(HttpMethod.Delete, AliasPath("#a3:test.local"), bob.AccessToken));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task DeleteAlias_InCanonicalAlias_IsTakenOutOfTheEvent(DatabaseEngine engine)
    {
        var (server, alice, bob) = await StartAsync(engine);
        await using var _ = server;
        string roomId = await CreateRoomAsync(server, alice, new { preset = "public_chat", room_alias_name = "main" });
        await JoinAsync(server, bob, roomId);
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Put, AliasPath("#alt:test.local"), alice.AccessToken, new { room_id = roomId })).Status);
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Put, AliasPath("#bobs:test.local"), bob.AccessToken, new { room_id = roomId })).Status);
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Put, $"{V3}/rooms/{roomId}/state/m.room.canonical_alias", alice.AccessToken, new
        {
            alias = "#main:test.local", alt_aliases = new[] { "#alt:test.local", "#bobs:test.local" }, custom = "kept",
        })).Status);

        // Bob created #bobs, so he may delete it; he may not change the canonical alias (power 0), so the event stays.
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Delete, AliasPath("#bobs:test.local"), bob.AccessToken)).Status);
        Assert.Equal(404, (await server.SendAsync(HttpMethod.Get, AliasPath("#bobs:test.local"))).Status);
        var unchanged = await CanonicalAliasAsync(server, alice, roomId);
        Assert.Equal(["#alt:test.local", "#bobs:test.local"], unchanged.GetProperty("alt_aliases").EnumerateArray().Select(a => a.GetString()));

        // Alice's deletions rewrite the event: first from alt_aliases, then the main alias; other keys stay.
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Delete, AliasPath("#alt:test.local"), alice.AccessToken)).Status);
        var withoutAlt = await CanonicalAliasAsync(server, alice, roomId);
        Assert.Equal("#main:test.local", withoutAlt.GetProperty("alias").GetString());
        Assert.Equal(["#bobs:test.local"], withoutAlt.GetProperty("alt_aliases").EnumerateArray().Select(a => a.GetString()));
        Assert.Equal("kept", withoutAlt.GetProperty("custom").GetString());

        Assert.Equal(200, (await server.SendAsync(HttpMethod.Delete, AliasPath("#main:test.local"), alice.AccessToken)).Status);
        var withoutMain = await CanonicalAliasAsync(server, alice, roomId);
        Assert.False(withoutMain.TryGetProperty("alias", out JsonElement _));
        Assert.Equal("kept", withoutMain.GetProperty("custom").GetString());

        // The room's published entry no longer shows a canonical alias.
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Put, $"{V3}/directory/list/room/{roomId}", alice.AccessToken, new { visibility = "public" })).Status);
        var (_, page) = await server.SendAsync(HttpMethod.Get, $"{V3}/publicRooms");
        Assert.False(page.GetProperty("chunk")[0].TryGetProperty("canonical_alias", out JsonElement _));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Alias_BadInput_AnswersSpecErrors(DatabaseEngine engine)
    {
        var (server, alice, bob) = await StartAsync(engine);
        await using var _ = server;
        string roomId = await CreateRoomAsync(server, alice, new { preset = "public_chat" });
        string privateRoom = await CreateRoomAsync(server, bob, new { preset = "private_chat" });

        // No access token: PUT and DELETE need one.
        AssertError(401, "M_MISSING_TOKEN", await server.SendAsync(HttpMethod.Put, AliasPath("#x:test.local"), body: new { room_id = roomId }));
        AssertError(401, "M_MISSING_TOKEN", await server.SendAsync(HttpMethod.Delete, AliasPath("#x:test.local")));
        AssertError(401, "M_UNKNOWN_TOKEN", await server.SendAsync(HttpMethod.Put, AliasPath("#x:test.local"), "not-a-token", new { room_id = roomId }));

        // Bad alias syntax, too long, or another server's alias.
        string tooLong = "#" + new string('a', 250) + ":test.local";
        string tooManyBytes = "#" + new string('\u00e9', 125) + ":test.local";
        foreach (string bad in new[] { "nosigil:test.local", "#nocolon", "#:test.local", "#white space:test.local", "#x:bad..server!", tooLong, tooManyBytes, "#x:other.example" })
        {
            AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Put, AliasPath(bad), alice.AccessToken, new { room_id = roomId }));
            AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Delete, AliasPath(bad), alice.AccessToken));
        }

        foreach (string bad in new[] { "nosigil:test.local", "#nocolon", tooLong })
        {
            AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Get, AliasPath(bad)));
        }

        // Another server's alias cannot be resolved without federation; the error says so.
        var remote = await server.SendAsync(HttpMethod.Get, AliasPath("#x:other.example"));
        AssertError(404, "M_NOT_FOUND", remote);
        Assert.Contains("federation", remote.Body.GetProperty("error").GetString(), StringComparison.Ordinal);

        // Body problems.
        AssertError(400, "M_NOT_JSON", await server.SendAsync(HttpMethod.Put, AliasPath("#x:test.local"), alice.AccessToken));
        AssertError(400, "M_NOT_JSON", await server.SendAsync(HttpMethod.Put, AliasPath("#x:test.local"), alice.AccessToken, "{not json"));
        AssertError(400, "M_BAD_JSON", await server.SendAsync(HttpMethod.Put, AliasPath("#x:test.local"), alice.AccessToken, "[]"));
        AssertError(400, "M_MISSING_PARAM", await server.SendAsync(HttpMethod.Put, AliasPath("#x:test.local"), alice.AccessToken, new { }));
        AssertError(400, "M_BAD_JSON", await server.SendAsync(HttpMethod.Put, AliasPath("#x:test.local"), alice.AccessToken, new { room_id = 42 }));
        AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Put, AliasPath("#x:test.local"), alice.AccessToken, new { room_id = "not-a-room" }));

        // Unknown room; a room the user is not joined to.
        AssertError(404, "M_NOT_FOUND", await server.SendAsync(HttpMethod.Put, AliasPath("#x:test.local"), alice.AccessToken, new { room_id = "!unknown:test.local" }));
        AssertError(403, "M_FORBIDDEN", await server.SendAsync(HttpMethod.Put, AliasPath("#x:test.local"), alice.AccessToken, new { room_id = privateRoom }));

        // Nothing above created the alias.
        AssertError(404, "M_NOT_FOUND", await server.SendAsync(HttpMethod.Get, AliasPath("#x:test.local")));
        AssertError(404, "M_NOT_FOUND", await server.SendAsync(HttpMethod.Delete, AliasPath("#x:test.local"), alice.AccessToken));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task RoomAliases_MembersAndWorldReadable_OthersForbidden(DatabaseEngine engine)
    {
        var (server, alice, bob) = await StartAsync(engine);
        await using var _ = server;
        string roomId = await CreateRoomAsync(server, alice, new { preset = "private_chat", room_alias_name = "secret" });

        var (memberStatus, member) = await server.SendAsync(HttpMethod.Get, $"{V3}/rooms/{roomId}/aliases", alice.AccessToken);
        Assert.Equal(200, memberStatus);
        Assert.Equal(["#secret:test.local"], member.GetProperty("aliases").EnumerateArray().Select(a => a.GetString()));

        AssertError(403, "M_FORBIDDEN", await server.SendAsync(HttpMethod.Get, $"{V3}/rooms/{roomId}/aliases", bob.AccessToken));
        AssertError(403, "M_FORBIDDEN", await server.SendAsync(HttpMethod.Get, $"{V3}/rooms/!unknown:test.local/aliases", bob.AccessToken));
        AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Get, $"{V3}/rooms/not-a-room/aliases", bob.AccessToken));
        AssertError(401, "M_MISSING_TOKEN", await server.SendAsync(HttpMethod.Get, $"{V3}/rooms/{roomId}/aliases"));

        // A room without aliases lists none; a world-readable room's aliases are visible to anyone.
        string readable = await CreateRoomAsync(server, alice, new
        {
            preset = "private_chat",
            initial_state = new[] { new { type = "m.room.history_visibility", content = new { history_visibility = "world_readable" } } },
        });
        var (emptyStatus, empty) = await server.SendAsync(HttpMethod.Get, $"{V3}/rooms/{readable}/aliases", bob.AccessToken);
        Assert.Equal(200, emptyStatus);
        Assert.Empty(empty.GetProperty("aliases").EnumerateArray());

        // A server admin may list any room's aliases.
        var admin = await RegisterAdminAsync(server);
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Get, $"{V3}/rooms/{roomId}/aliases", admin.AccessToken)).Status);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task DirectoryVisibility_GetAndSet_FollowPermissions(DatabaseEngine engine)
    {
        var (server, alice, bob) = await StartAsync(engine);
        await using var _ = server;
        var carol = await server.RegisterAsync("carol");
        string roomId = await CreateRoomAsync(server, alice, new { preset = "public_chat" });
        string listPath = $"{V3}/directory/list/room/{roomId}";
        await JoinAsync(server, bob, roomId);

        // A room created without visibility is private; reading it needs no token.
        var (getStatus, visibility) = await server.SendAsync(HttpMethod.Get, listPath);
        Assert.Equal(200, getStatus);
        Assert.Equal("private", visibility.GetProperty("visibility").GetString());

        Assert.Equal(200, (await server.SendAsync(HttpMethod.Put, listPath, alice.AccessToken, new { visibility = "public" })).Status);
        Assert.Equal("public", (await server.SendAsync(HttpMethod.Get, listPath)).Body.GetProperty("visibility").GetString());
        Assert.Equal("public", (await server.SendAsync(HttpMethod.Get, $"{R0}/directory/list/room/{roomId}")).Body.GetProperty("visibility").GetString());
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Put, listPath, alice.AccessToken, new { visibility = "public" })).Status);

        // Bob (joined, power 0) and Carol (not joined) may not change it; a server admin may.
        AssertError(403, "M_FORBIDDEN", await server.SendAsync(HttpMethod.Put, listPath, bob.AccessToken, new { visibility = "private" }));
        AssertError(403, "M_FORBIDDEN", await server.SendAsync(HttpMethod.Put, listPath, carol.AccessToken, new { visibility = "private" }));
        Assert.Equal("public", (await server.SendAsync(HttpMethod.Get, listPath)).Body.GetProperty("visibility").GetString());
        var admin = await RegisterAdminAsync(server);
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Put, listPath, admin.AccessToken, new { visibility = "private" })).Status);
        Assert.Equal("private", (await server.SendAsync(HttpMethod.Get, listPath)).Body.GetProperty("visibility").GetString());

        // Spec: visibility defaults to public.
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Put, listPath, alice.AccessToken, new { })).Status);
        Assert.Equal("public", (await server.SendAsync(HttpMethod.Get, listPath)).Body.GetProperty("visibility").GetString());

        // createRoom with visibility public publishes the room.
        string published = await CreateRoomAsync(server, alice, new { visibility = "public" });
        Assert.Equal("public", (await server.SendAsync(HttpMethod.Get, $"{V3}/directory/list/room/{published}")).Body.GetProperty("visibility").GetString());

        // Bad input.
        AssertError(401, "M_MISSING_TOKEN", await server.SendAsync(HttpMethod.Put, listPath, body: new { visibility = "public" }));
        AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Put, listPath, alice.AccessToken, new { visibility = "secret" }));
        AssertError(400, "M_BAD_JSON", await server.SendAsync(HttpMethod.Put, listPath, alice.AccessToken, new { visibility = 1 }));
        AssertError(400, "M_NOT_JSON", await server.SendAsync(HttpMethod.Put, listPath, alice.AccessToken));
        AssertError(404, "M_NOT_FOUND", await server.SendAsync(HttpMethod.Get, $"{V3}/directory/list/room/!unknown:test.local"));
        AssertError(404, "M_NOT_FOUND", await server.SendAsync(HttpMethod.Put, $"{V3}/directory/list/room/!unknown:test.local", alice.AccessToken, new { visibility = "public" }));
        AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Get, $"{V3}/directory/list/room/not-a-room"));
        AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Put, $"{V3}/directory/list/room/not-a-room", alice.AccessToken, new { visibility = "public" }));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task PublicRooms_Listing_ShowsJoinablePublishedRoomsWithTheirSummary(DatabaseEngine engine)
    {
        var (server, alice, bob) = await StartAsync(engine);
        await using var _ = server;
        var carol = await server.RegisterAsync("carol");

        string big = await CreateRoomAsync(server, alice, new
        {
            visibility = "public", name = "Big Room", topic = "Everything", room_alias_name = "big",
            initial_state = new object[]
            {
                new { type = "m.room.history_visibility", content = new { history_visibility = "world_readable" } },
                new { type = "m.room.guest_access", content = new { guest_access = "can_join" } },
                new { type = "m.room.avatar", content = new { url = "mxc://test.local/avatar" } },
            },
        });
        await JoinAsync(server, bob, big);
        await JoinAsync(server, carol, big);
        string space = await CreateRoomAsync(server, alice, new { visibility = "public", name = "A space", creation_content = new { type = "m.space" } });
        await JoinAsync(server, bob, space);
        string plain = await CreateRoomAsync(server, bob, new { visibility = "public" });

        // Not listed: unpublished; published but invite-only and not world-readable.
        await CreateRoomAsync(server, alice, new { preset = "public_chat", name = "Unpublished" });
        await CreateRoomAsync(server, alice, new { visibility = "public", preset = "private_chat", name = "Invite only" });

        // Listed although invite-only: world-readable history.
        string readable = await CreateRoomAsync(server, alice, new
        {
            visibility = "public", preset = "private_chat", name = "Readable",
            initial_state = new[] { new { type = "m.room.history_visibility", content = new { history_visibility = "world_readable" } } },
        });

        // GET needs no access token; most members first, then by room ID.
        var (status, page) = await server.SendAsync(HttpMethod.Get, $"{V3}/publicRooms");
        Assert.Equal(200, status);
        var ones = new[] { plain, readable }.Order(StringComparer.Ordinal);
        Assert.Equal([big, space, .. ones], RoomIds(page));
        Assert.Equal(4, page.GetProperty("total_room_count_estimate").GetInt32());
        Assert.False(page.TryGetProperty("next_batch", out JsonElement _));
        Assert.False(page.TryGetProperty("prev_batch", out JsonElement _));

        var entry = page.GetProperty("chunk")[0];
        Assert.Equal(3, entry.GetProperty("num_joined_members").GetInt32());
        Assert.Equal("Big Room", entry.GetProperty("name").GetString());
        Assert.Equal("Everything", entry.GetProperty("topic").GetString());
        Assert.Equal("#big:test.local", entry.GetProperty("canonical_alias").GetString());
        Assert.Equal("mxc://test.local/avatar", entry.GetProperty("avatar_url").GetString());
        Assert.True(entry.GetProperty("world_readable").GetBoolean());
        Assert.True(entry.GetProperty("guest_can_join").GetBoolean());
        Assert.Equal("public", entry.GetProperty("join_rule").GetString());
        Assert.False(entry.TryGetProperty("room_type", out JsonElement _));

        var spaceEntry = page.GetProperty("chunk")[1];
        Assert.Equal("m.space", spaceEntry.GetProperty("room_type").GetString());
        Assert.Equal(2, spaceEntry.GetProperty("num_joined_members").GetInt32());
        Assert.False(spaceEntry.GetProperty("world_readable").GetBoolean());
        Assert.False(spaceEntry.GetProperty("guest_can_join").GetBoolean());
        Assert.False(spaceEntry.TryGetProperty("topic", out JsonElement _));

        var plainEntry = page.GetProperty("chunk").EnumerateArray().Single(r => r.GetProperty("room_id").GetString() == plain);
        Assert.Equal(["guest_can_join", "join_rule", "num_joined_members", "room_id", "world_readable"],
            plainEntry.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));

        // The same with POST (authenticated), on r0, and with server set to this server.
        var (postStatus, posted) = await server.SendAsync(HttpMethod.Post, $"{R0}/publicRooms?server=test.local", alice.AccessToken, new { });
        Assert.Equal(200, postStatus);
        Assert.Equal(RoomIds(page), RoomIds(posted));

        // Unpublishing takes a room out; a renamed room shows its new name.
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Put, $"{V3}/directory/list/room/{readable}", alice.AccessToken, new { visibility = "private" })).Status);
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Put, $"{V3}/rooms/{space}/state/m.room.name", alice.AccessToken, new { name = "Renamed" })).Status);
        var (_, later) = await server.SendAsync(HttpMethod.Get, $"{V3}/publicRooms");
        Assert.Equal([big, space, plain], RoomIds(later));
        Assert.Equal("Renamed", later.GetProperty("chunk")[1].GetProperty("name").GetString());
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task PublicRooms_Pagination_WalksForwardAndBack(DatabaseEngine engine)
    {
        var (server, alice, bob) = await StartAsync(engine);
        await using var _ = server;
        var rooms = new List<string>();
        for (int i = 0; i < 5; i++)
        {
            rooms.Add(await CreateRoomAsync(server, alice, new { visibility = "public", name = $"Room {i}" }));
        }

        // Bob joins the last two, so they sort first.
        await JoinAsync(server, bob, rooms[3]);
        await JoinAsync(server, bob, rooms[4]);
        var expected = new[] { rooms[3], rooms[4] }.Order(StringComparer.Ordinal)
            .Concat(rooms.Take(3).Order(StringComparer.Ordinal)).ToList();

        foreach (bool post in new[] { false, true })
        {
            async Task<JsonElement> PageAsync(int limit, string? since)
            {
                var (status, body) = post
                    ? await server.SendAsync(HttpMethod.Post, $"{V3}/publicRooms", alice.AccessToken, new { limit, since })
                    : await server.SendAsync(HttpMethod.Get, $"{V3}/publicRooms?limit={limit}" + (since is null ? "" : "&since=" + Uri.EscapeDataString(since)));
                Assert.True(status == 200, $"{status} {body}");
                Assert.Equal(5, body.GetProperty("total_room_count_estimate").GetInt32());
                return body;
            }

            var first = await PageAsync(2, null);
            Assert.Equal(expected[..2], RoomIds(first));
            Assert.False(first.TryGetProperty("prev_batch", out JsonElement _));
            var second = await PageAsync(2, first.GetProperty("next_batch").GetString());
            Assert.Equal(expected[2..4], RoomIds(second));
            var third = await PageAsync(2, second.GetProperty("next_batch").GetString());
            Assert.Equal(expected[4..], RoomIds(third));
            Assert.False(third.TryGetProperty("next_batch", out JsonElement _));

            // Backwards from the last page.
            var back = await PageAsync(2, third.GetProperty("prev_batch").GetString());
            Assert.Equal(expected[2..4], RoomIds(back));
            Assert.True(back.TryGetProperty("next_batch", out JsonElement _));
            var backToStart = await PageAsync(2, back.GetProperty("prev_batch").GetString());
            Assert.Equal(expected[..2], RoomIds(backToStart));
            Assert.False(backToStart.TryGetProperty("prev_batch", out JsonElement _));

            // Limit 0 means no limit (as Synapse); a limit past the end returns everything without a next batch.
            Assert.Equal(expected, RoomIds(await PageAsync(0, null)));
            var all = await PageAsync(50, null);
            Assert.Equal(expected, RoomIds(all));
            Assert.False(all.TryGetProperty("next_batch", out JsonElement _));
        }

        // A token stays valid when the room it names is unpublished.
        var (_, firstPage) = await server.SendAsync(HttpMethod.Get, $"{V3}/publicRooms?limit=3");
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Put, $"{V3}/directory/list/room/{expected[2]}", alice.AccessToken, new { visibility = "private" })).Status);
        var (_, rest) = await server.SendAsync(HttpMethod.Get, $"{V3}/publicRooms?limit=3&since=" + Uri.EscapeDataString(firstPage.GetProperty("next_batch").GetString()!));
        Assert.Equal(expected[3..], RoomIds(rest));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task PublicRooms_Filter_SearchesNameTopicAliasAndRoomTypes(DatabaseEngine engine)
    {
        var (server, alice, _) = await StartAsync(engine);
        await using var __ = server;
        string byName = await CreateRoomAsync(server, alice, new { visibility = "public", name = "Cheese Lovers" });
        string byTopic = await CreateRoomAsync(server, alice, new { visibility = "public", topic = "all about CHEESE" });
        string byAlias = await CreateRoomAsync(server, alice, new { visibility = "public", room_alias_name = "cheeseboard" });
        string space = await CreateRoomAsync(server, alice, new { visibility = "public", name = "Dairy space", creation_content = new { type = "m.space" } });
        string other = await CreateRoomAsync(server, alice, new { visibility = "public", name = "Wine" });

        async Task<List<string>> SearchAsync(object body)
        {
            var (status, page) = await server.SendAsync(HttpMethod.Post, $"{V3}/publicRooms", alice.AccessToken, body);
            Assert.True(status == 200, $"{status} {page}");
            return RoomIds(page).Order(StringComparer.Ordinal).ToList();
        }

        Assert.Equal(new[] { byName, byTopic, byAlias }.Order(StringComparer.Ordinal), await SearchAsync(new { filter = new { generic_search_term = "cHeEsE" } }));
        Assert.Equal([other], await SearchAsync(new { filter = new { generic_search_term = "  wine " } }));
        Assert.Empty(await SearchAsync(new { filter = new { generic_search_term = "beer" } }));
        Assert.Equal(5, (await SearchAsync(new { filter = new { generic_search_term = "" } })).Count);

        Assert.Equal([space], await SearchAsync(new { filter = new { room_types = new[] { "m.space" } } }));
        Assert.Equal(new[] { byName, byTopic, byAlias, other }.Order(StringComparer.Ordinal),
            await SearchAsync(new { filter = new { room_types = new string?[] { null } } }));
        Assert.Equal(5, (await SearchAsync(new { filter = new { room_types = new string?[] { null, "m.space" } } })).Count);
        Assert.Equal(5, (await SearchAsync(new { filter = new { room_types = Array.Empty<string>() } })).Count);
        Assert.Empty(await SearchAsync(new { filter = new { generic_search_term = "cheese", room_types = new[] { "m.space" } } }));

        // The count follows the filter; no third-party networks publish rooms here.
        var (_, counted) = await server.SendAsync(HttpMethod.Post, $"{V3}/publicRooms", alice.AccessToken, new { limit = 1, filter = new { generic_search_term = "cheese" } });
        Assert.Equal(3, counted.GetProperty("total_room_count_estimate").GetInt32());
        Assert.Single(RoomIds(counted));
        Assert.Empty(await SearchAsync(new { third_party_instance_id = "irc" }));
        Assert.Equal(5, (await SearchAsync(new { include_all_networks = true })).Count);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task PublicRooms_BadInput_AnswersSpecErrors(DatabaseEngine engine)
    {
        var (server, alice, _) = await StartAsync(engine);
        await using var __ = server;
        await CreateRoomAsync(server, alice, new { visibility = "public" });
        string path = $"{V3}/publicRooms";

        AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Get, path + "?limit=abc"));
        AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Get, path + "?limit=-1"));
        AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Get, path + "?since=garbage!"));
        AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Get, path + "?since=" + Uri.EscapeDataString(Convert.ToBase64String("x\n1\n!a:b"u8))));
        AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Get, path + "?server=bad..name!"));
        var remote = await server.SendAsync(HttpMethod.Get, path + "?server=other.example");
        AssertError(404, "M_NOT_FOUND", remote);
        Assert.Contains("federation", remote.Body.GetProperty("error").GetString(), StringComparison.Ordinal);

        AssertError(401, "M_MISSING_TOKEN", await server.SendAsync(HttpMethod.Post, path, body: new { }));
        AssertError(401, "M_UNKNOWN_TOKEN", await server.SendAsync(HttpMethod.Post, path, "nope", new { }));
        AssertError(400, "M_NOT_JSON", await server.SendAsync(HttpMethod.Post, path, alice.AccessToken));
        AssertError(400, "M_NOT_JSON", await server.SendAsync(HttpMethod.Post, path, alice.AccessToken, "{"));
        AssertError(400, "M_BAD_JSON", await server.SendAsync(HttpMethod.Post, path, alice.AccessToken, "[]"));
        AssertError(400, "M_BAD_JSON", await server.SendAsync(HttpMethod.Post, path, alice.AccessToken, new { limit = "5" }));
        AssertError(400, "M_BAD_JSON", await server.SendAsync(HttpMethod.Post, path, alice.AccessToken, new { limit = 1.5 }));
        AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Post, path, alice.AccessToken, new { limit = -1 }));
        AssertError(400, "M_BAD_JSON", await server.SendAsync(HttpMethod.Post, path, alice.AccessToken, new { since = 3 }));
        AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Post, path, alice.AccessToken, new { since = "garbage" }));
        AssertError(400, "M_BAD_JSON", await server.SendAsync(HttpMethod.Post, path, alice.AccessToken, new { filter = "cheese" }));
        AssertError(400, "M_BAD_JSON", await server.SendAsync(HttpMethod.Post, path, alice.AccessToken, new { filter = new { generic_search_term = 1 } }));
        AssertError(400, "M_BAD_JSON", await server.SendAsync(HttpMethod.Post, path, alice.AccessToken, new { filter = new { room_types = "m.space" } }));
        AssertError(400, "M_BAD_JSON", await server.SendAsync(HttpMethod.Post, path, alice.AccessToken, new { filter = new { room_types = new[] { 1 } } }));
        AssertError(400, "M_BAD_JSON", await server.SendAsync(HttpMethod.Post, path, alice.AccessToken, new { include_all_networks = "yes" }));
        AssertError(400, "M_BAD_JSON", await server.SendAsync(HttpMethod.Post, path, alice.AccessToken, new { third_party_instance_id = false }));
        AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Post, path, alice.AccessToken, new { include_all_networks = true, third_party_instance_id = "irc" }));
        AssertError(404, "M_NOT_FOUND", await server.SendAsync(HttpMethod.Post, path + "?server=other.example", alice.AccessToken, new { }));

        // Null fields are absent fields.
        var (nulls, body) = await server.SendAsync(HttpMethod.Post, path, alice.AccessToken, "{\"limit\":null,\"since\":null,\"filter\":null}");
        Assert.Equal(200, nulls);
        Assert.Single(RoomIds(body));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Guest_MayReadTheDirectory_ButNotChangeIt(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine, o => new HomeserverOptions
        {
            ServerName = o.ServerName, Listeners = o.Listeners, Database = o.Database, SigningKeyPath = o.SigningKeyPath,
            Password = o.Password, RcLogin = o.RcLogin, RcRegistration = o.RcRegistration, EnableRegistration = true,
            EnableRegistrationWithoutVerification = true, AllowGuestAccess = true,
        });
        var alice = await server.RegisterAsync("alice");
        string roomId = await CreateRoomAsync(server, alice, new
        {
            visibility = "public", room_alias_name = "open",
            initial_state = new[] { new { type = "m.room.guest_access", content = new { guest_access = "can_join" } } },
        });
        var (_, guestBody) = await server.SendAsync(HttpMethod.Post, $"{V3}/register?kind=guest", body: "{}");
        string guest = guestBody.GetProperty("access_token").GetString()!;

        var (listStatus, list) = await server.SendAsync(HttpMethod.Post, $"{V3}/publicRooms", guest, new { });
        Assert.Equal(200, listStatus);
        Assert.Equal([roomId], RoomIds(list));
        Assert.True(list.GetProperty("chunk")[0].GetProperty("guest_can_join").GetBoolean());
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"{V3}/join/{Uri.EscapeDataString("#open:test.local")}", guest, new { })).Status);
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Get, $"{V3}/rooms/{roomId}/aliases", guest)).Status);

        AssertError(403, "M_GUEST_ACCESS_FORBIDDEN", await server.SendAsync(HttpMethod.Put, AliasPath("#guest:test.local"), guest, new { room_id = roomId }));
        AssertError(403, "M_GUEST_ACCESS_FORBIDDEN", await server.SendAsync(HttpMethod.Delete, AliasPath("#open:test.local"), guest));
        AssertError(403, "M_GUEST_ACCESS_FORBIDDEN", await server.SendAsync(HttpMethod.Put, $"{V3}/directory/list/room/{roomId}", guest, new { visibility = "private" }));
    }
}
