using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Synapse.Configuration;
using Synapse.Storage;
using Synapse.Tests.Infrastructure;

namespace Synapse.Tests.Http;

/// <summary>POST /rooms/{roomId}/upgrade over real HTTP, on each engine.</summary>
public sealed class RoomUpgradeTests
{
    private const string V3 = "/_matrix/client/v3";

    private static async Task<string> CreateRoomAsync(TestHomeserver server, Session who, object body)
    {
        var (status, created) = await server.SendAsync(HttpMethod.Post, $"{V3}/createRoom", who.AccessToken, body);
        Assert.True(status == 200, $"createRoom failed: {status} {created}");
        return created.GetProperty("room_id").GetString()!;
    }

    private static async Task PutStateAsync(TestHomeserver server, Session who, string roomId, string type, string stateKey, object content)
    {
        var (status, body) = await server.SendAsync(HttpMethod.Put, $"{V3}/rooms/{roomId}/state/{type}/{stateKey}", who.AccessToken, content);
        Assert.True(status == 200, $"state {type} failed: {status} {body}");
    }

    private static async Task<string> UpgradeAsync(TestHomeserver server, Session who, string roomId, string version)
    {
        var (status, body) = await server.SendAsync(HttpMethod.Post, $"{V3}/rooms/{roomId}/upgrade", who.AccessToken, new { new_version = version });
        Assert.True(status == 200, $"upgrade failed: {status} {body}");
        return body.GetProperty("replacement_room").GetString()!;
    }

    private static async Task<Dictionary<(string Type, string StateKey), JsonElement>> StateAsync(TestHomeserver server, Session who, string roomId)
    {
        var (status, body) = await server.SendAsync(HttpMethod.Get, $"{V3}/rooms/{roomId}/state", who.AccessToken);
        Assert.True(status == 200, $"state failed: {status} {body}");
        return body.EnumerateArray().ToDictionary(
            e => (e.GetProperty("type").GetString()!, e.GetProperty("state_key").GetString()!),
            e => e.GetProperty("content"));
    }

    private static void AssertSameJson(JsonElement expected, JsonElement actual, string what) =>
        Assert.True(JsonElement.DeepEquals(expected, actual), $"{what}: expected {expected}, got {actual}");

    [Theory, ClassData(typeof(Engines))]
    public async Task Upgrade_PublishedSpace_ReplacementCarriesStateAliasesAndBans(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");
        var carol = await server.RegisterAsync("carol");

        // A v9 room, so the string power levels v9 allows must become integers for v10.
        string old = await CreateRoomAsync(server, alice, new
        {
            room_version = "9", preset = "public_chat", visibility = "public", name = "Old name", topic = "Old topic",
            room_alias_name = "upgraded", creation_content = new { type = "m.space" },
            power_level_content_override = new { kick = "60", users = new Dictionary<string, object> { [alice.UserId] = 100, [bob.UserId] = "10" } },
        });
        await PutStateAsync(server, alice, old, "m.room.avatar", "", new { url = "mxc://test.local/avatar" });
        await PutStateAsync(server, alice, old, "m.room.encryption", "", new { algorithm = "m.megolm.v1.aes-sha2" });
        await PutStateAsync(server, alice, old, "m.room.server_acl", "", new { allow = new[] { "*" }, deny = new[] { "evil.example" }, allow_ip_literals = false });
        await PutStateAsync(server, alice, old, "m.room.history_visibility", "", new { history_visibility = "world_readable" });
        await PutStateAsync(server, alice, old, "m.space.child", "!child:test.local", new { via = new[] { "test.local" } });
        await PutStateAsync(server, alice, old, "m.space.child", "!gone:test.local", new { });
        await PutStateAsync(server, alice, old, "org.example.custom", "", new { secret = true });
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"{V3}/join/{old}", bob.AccessToken, new { })).Status);
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"{V3}/join/{old}", carol.AccessToken, new { })).Status);
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"{V3}/rooms/{old}/ban", alice.AccessToken,
            new { user_id = carol.UserId, reason = "spam" })).Status);
        var oldState = await StateAsync(server, alice, old);

        string replacement = await UpgradeAsync(server, alice, old, "10");
        Assert.NotEqual(old, replacement);
        Assert.EndsWith(":test.local", replacement, StringComparison.Ordinal);
        var state = await StateAsync(server, alice, replacement);

        // The create event: version, predecessor (pointing at an event of the old room), type, creator.
        var create = state[("m.room.create", "")];
        Assert.Equal("10", create.GetProperty("room_version").GetString());
        Assert.Equal(old, create.GetProperty("predecessor").GetProperty("room_id").GetString());
        string lastOld = create.GetProperty("predecessor").GetProperty("event_id").GetString()!;
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Get, $"{V3}/rooms/{old}/event/{lastOld}", alice.AccessToken)).Status);
        Assert.Equal("m.space", create.GetProperty("type").GetString());
        Assert.Equal(alice.UserId, create.GetProperty("creator").GetString());

        foreach (string type in new[]
        {
            "m.room.name", "m.room.topic", "m.room.avatar", "m.room.encryption", "m.room.server_acl", "m.room.join_rules",
            "m.room.history_visibility", "m.room.guest_access", "m.room.canonical_alias",
        })
        {
            Assert.True(state.ContainsKey((type, "")), $"{type} was not copied");
            AssertSameJson(oldState[(type, "")], state[(type, "")], type);
        }

        Assert.Equal("#upgraded:test.local", state[("m.room.canonical_alias", "")].GetProperty("alias").GetString());
        Assert.True(state.ContainsKey(("m.space.child", "!child:test.local")));
        Assert.False(state.ContainsKey(("m.space.child", "!gone:test.local")));
        Assert.False(state.ContainsKey(("org.example.custom", "")));

        // Power levels: the same levels, as integers.
        var levels = state[("m.room.power_levels", "")];
        Assert.Equal(JsonValueKind.Number, levels.GetProperty("kick").ValueKind);
        Assert.Equal(60, levels.GetProperty("kick").GetInt32());
        Assert.Equal(10, levels.GetProperty("users").GetProperty(bob.UserId).GetInt32());
        Assert.Equal(100, levels.GetProperty("users").GetProperty(alice.UserId).GetInt32());
        Assert.Equal(50, levels.GetProperty("invite").GetInt32());

        // Only the upgrader joined; the ban carried over; nobody else's membership did.
        Assert.Equal("join", state[("m.room.member", alice.UserId)].GetProperty("membership").GetString());
        Assert.Equal("alice", state[("m.room.member", alice.UserId)].GetProperty("displayname").GetString());
        Assert.Equal("ban", state[("m.room.member", carol.UserId)].GetProperty("membership").GetString());
        Assert.Equal("spam", state[("m.room.member", carol.UserId)].GetProperty("reason").GetString());
        Assert.False(state.ContainsKey(("m.room.member", bob.UserId)));

        // The old room: tombstone, no canonical alias, events and invites restricted.
        var after = await StateAsync(server, alice, old);
        var tombstone = after[("m.room.tombstone", "")];
        Assert.Equal(replacement, tombstone.GetProperty("replacement_room").GetString());
        Assert.False(string.IsNullOrEmpty(tombstone.GetProperty("body").GetString()));
        Assert.Empty(after[("m.room.canonical_alias", "")].EnumerateObject());
        var restricted = after[("m.room.power_levels", "")];
        Assert.Equal(50, restricted.GetProperty("events_default").GetInt32());
        Assert.Equal(50, restricted.GetProperty("invite").GetInt32());
        Assert.Equal("60", restricted.GetProperty("kick").GetString());
        var (sendStatus, sendError) = await server.SendAsync(HttpMethod.Put, $"{V3}/rooms/{old}/send/m.room.message/t1", bob.AccessToken,
            new { msgtype = "m.text", body = "still here?" });
        Assert.Equal(403, sendStatus);
        Assert.Equal("M_FORBIDDEN", sendError.GetProperty("errcode").GetString());

        // The alias now leads to the replacement, which took the old room's place in the directory.
        var (joinStatus, joined) = await server.SendAsync(HttpMethod.Post, $"{V3}/join/%23upgraded:test.local", bob.AccessToken, new { });
        Assert.Equal(200, joinStatus);
        Assert.Equal(replacement, joined.GetProperty("room_id").GetString());
        var directory = server.Services.GetRequiredService<IRoomDirectoryStore>();
        Assert.Equal(["#upgraded:test.local"], await directory.GetAliasesForRoomAsync(replacement, CancellationToken.None));
        Assert.Empty(await directory.GetAliasesForRoomAsync(old, CancellationToken.None));
        var published = await directory.GetPublicRoomIdsAsync(CancellationToken.None);
        Assert.Contains(replacement, published);
        Assert.DoesNotContain(old, published);

        // Carol stays banned.
        Assert.Equal(403, (await server.SendAsync(HttpMethod.Post, $"{V3}/join/{replacement}", carol.AccessToken, new { })).Status);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Upgrade_UpgraderBelowStateLevels_RaisedForTheCopyThenRestored(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");

        // Alice may send tombstones (50) but not change history visibility or power levels (100).
        string old = await CreateRoomAsync(server, alice, new { name = "Named", topic = "Secret topic" });
        await PutStateAsync(server, alice, old, "m.room.power_levels", "", new
        {
            users = new Dictionary<string, int> { [alice.UserId] = 50 },
            events = new Dictionary<string, int>
            {
                ["m.room.tombstone"] = 50, ["m.room.power_levels"] = 100, ["m.room.history_visibility"] = 100, ["m.room.name"] = 50,
            },
        });
        var (topicStatus, topicEvent) = await server.SendAsync(HttpMethod.Get, $"{V3}/rooms/{old}/state/m.room.topic?format=event", alice.AccessToken);
        Assert.Equal(200, topicStatus);
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Put,
            $"{V3}/rooms/{old}/redact/{topicEvent.GetProperty("event_id").GetString()}/r1", alice.AccessToken, new { })).Status);

        string replacement = await UpgradeAsync(server, alice, old, "11");
        var state = await StateAsync(server, alice, replacement);
        Assert.False(state[("m.room.create", "")].TryGetProperty("creator", out _));
        Assert.Equal("shared", state[("m.room.history_visibility", "")].GetProperty("history_visibility").GetString());
        Assert.Equal("Named", state[("m.room.name", "")].GetProperty("name").GetString());

        // The redacted topic is not resurrected.
        Assert.False(state.ContainsKey(("m.room.topic", "")));

        var levels = state[("m.room.power_levels", "")];
        Assert.Equal(50, levels.GetProperty("users").GetProperty(alice.UserId).GetInt32());
        Assert.Equal(100, levels.GetProperty("events").GetProperty("m.room.power_levels").GetInt32());

        // The temporary raise happened: two power levels events, the first with Alice at 100.
        var (_, history) = await server.SendAsync(HttpMethod.Get, $"{V3}/rooms/{replacement}/messages?dir=f&limit=100", alice.AccessToken);
        var powerEvents = history.GetProperty("chunk").EnumerateArray()
            .Where(e => e.GetProperty("type").GetString() == "m.room.power_levels").ToList();
        Assert.Equal(2, powerEvents.Count);
        Assert.Equal(100, powerEvents[0].GetProperty("content").GetProperty("users").GetProperty(alice.UserId).GetInt32());

        // The old room is tombstoned; restricting it needed power Alice lacks, which does not fail the upgrade.
        var after = await StateAsync(server, alice, old);
        Assert.Equal(replacement, after[("m.room.tombstone", "")].GetProperty("replacement_room").GetString());
        Assert.False(after[("m.room.power_levels", "")].TryGetProperty("events_default", out _));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Upgrade_WithoutPowerOrMembership_Forbidden(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");
        var carol = await server.RegisterAsync("carol");
        string room = await CreateRoomAsync(server, alice, new { preset = "public_chat" });
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"{V3}/join/{room}", bob.AccessToken, new { })).Status);

        foreach (var who in new[] { bob, carol })
        {
            var (status, error) = await server.SendAsync(HttpMethod.Post, $"{V3}/rooms/{room}/upgrade", who.AccessToken, new { new_version = "10" });
            Assert.True(status == 403, $"{who.UserId}: {status} {error}");
            Assert.Equal("M_FORBIDDEN", error.GetProperty("errcode").GetString());
        }

        var (unknownStatus, unknown) = await server.SendAsync(HttpMethod.Post, $"{V3}/rooms/!nowhere:test.local/upgrade", alice.AccessToken,
            new { new_version = "10" });
        Assert.Equal(404, unknownStatus);
        Assert.Equal("M_NOT_FOUND", unknown.GetProperty("errcode").GetString());

        // Nothing happened to the room.
        var state = await StateAsync(server, alice, room);
        Assert.False(state.ContainsKey(("m.room.tombstone", "")));
        Assert.Equal(0, state[("m.room.power_levels", "")].GetProperty("events_default").GetInt32());
        var (_, joinedRooms) = await server.SendAsync(HttpMethod.Get, $"{V3}/joined_rooms", alice.AccessToken);
        Assert.Equal([room], joinedRooms.GetProperty("joined_rooms").EnumerateArray().Select(r => r.GetString()));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Upgrade_BadInput_AnswersSpecErrors(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        string room = await CreateRoomAsync(server, alice, new { });
        string path = $"{V3}/rooms/{room}/upgrade";

        var cases = new (string Path, string? Token, string Body, int Status, string ErrCode)[]
        {
            (path, null, """{"new_version": "10"}""", 401, "M_MISSING_TOKEN"),
            (path, alice.AccessToken, "", 400, "M_NOT_JSON"),
            (path, alice.AccessToken, "{nope", 400, "M_NOT_JSON"),
            (path, alice.AccessToken, "[]", 400, "M_BAD_JSON"),
            (path, alice.AccessToken, "{}", 400, "M_MISSING_PARAM"),
            (path, alice.AccessToken, """{"new_version": 10}""", 400, "M_BAD_JSON"),
            (path, alice.AccessToken, """{"new_version": "999"}""", 400, "M_UNSUPPORTED_ROOM_VERSION"),
            (path, alice.AccessToken, """{"new_version": ""}""", 400, "M_UNSUPPORTED_ROOM_VERSION"),
            ($"{V3}/rooms/not-a-room/upgrade", alice.AccessToken, """{"new_version": "10"}""", 400, "M_INVALID_PARAM"),
        };

        foreach (var c in cases)
        {
            var (status, body) = await server.SendAsync(HttpMethod.Post, c.Path, c.Token, c.Body);
            Assert.True(c.Status == status, $"{c.Path} {c.Body}: expected {c.Status}, got {status} {body}");
            Assert.True(c.ErrCode == body.GetProperty("errcode").GetString(), $"{c.Path} {c.Body}: got {body}");
        }

        var state = await StateAsync(server, alice, room);
        Assert.False(state.ContainsKey(("m.room.tombstone", "")));
    }
}
