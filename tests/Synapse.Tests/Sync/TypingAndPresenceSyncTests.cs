using System.Text.Json;
using Synapse.Configuration;
using Synapse.Tests.Infrastructure;

namespace Synapse.Tests.Sync;

/// <summary>Typing and presence as /sync delivers them, over real HTTP on each engine.</summary>
public sealed class TypingAndPresenceSyncTests
{
    private const string V3 = "/_matrix/client/v3";

    private static async Task<(TestHomeserver Server, Session Alice, Session Bob, string RoomId)> RoomAsync(DatabaseEngine engine,
        bool presenceEnabled = true)
    {
        var server = await TestHomeserver.StartAsync(engine, o => new HomeserverOptions
        {
            ServerName = o.ServerName, Listeners = o.Listeners, Database = o.Database, SigningKeyPath = o.SigningKeyPath,
            Password = o.Password, RcLogin = o.RcLogin, RcRegistration = o.RcRegistration, EnableRegistration = true,
            EnableRegistrationWithoutVerification = true, PresenceEnabled = presenceEnabled,
        });
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");
        var (_, created) = await server.SendAsync(HttpMethod.Post, $"{V3}/createRoom", alice.AccessToken, new { preset = "public_chat" });
        string roomId = created.GetProperty("room_id").GetString()!;
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"{V3}/join/{roomId}", bob.AccessToken, new { })).Status);
        return (server, alice, bob, roomId);
    }

    private static async Task<JsonElement> SyncAsync(TestHomeserver server, Session who, string? since = null, int timeout = 0,
        string? filter = null, string? setPresence = null)
    {
        string path = $"{V3}/sync?timeout={timeout}" + (since is null ? "" : "&since=" + Uri.EscapeDataString(since))
            + (filter is null ? "" : "&filter=" + Uri.EscapeDataString(filter))
            + (setPresence is null ? "" : "&set_presence=" + setPresence);
        var (status, body) = await server.SendAsync(HttpMethod.Get, path, who.AccessToken);
        Assert.True(status == 200, $"sync: {status} {body}");
        return body;
    }

    private static string Next(JsonElement sync) => sync.GetProperty("next_batch").GetString()!;

    /// <summary>The user_ids of the room's m.typing event, or null when the response has none.</summary>
    private static string[]? Typing(JsonElement sync, string roomId) =>
        sync.GetProperty("rooms").GetProperty("join").TryGetProperty(roomId, out var room)
        && room.TryGetProperty("ephemeral", out var ephemeral)
        && ephemeral.GetProperty("events").EnumerateArray().FirstOrDefault(e => e.GetProperty("type").GetString() == "m.typing") is
            { ValueKind: JsonValueKind.Object } typing
            ? [.. typing.GetProperty("content").GetProperty("user_ids").EnumerateArray().Select(u => u.GetString()!)]
            : null;

    private static void AssertTyping(string[] expected, JsonElement sync, string roomId)
    {
        var actual = Typing(sync, roomId);
        Assert.True(actual is not null, $"no m.typing for {roomId} in {sync}");
        Assert.Equal(expected, actual);
    }

    private static Dictionary<string, JsonElement> Presence(JsonElement sync) =>
        sync.GetProperty("presence").GetProperty("events").EnumerateArray()
            .ToDictionary(e => e.GetProperty("sender").GetString()!, e => e.GetProperty("content"));

    private static Task<(int Status, JsonElement Body)> TypeAsync(TestHomeserver server, Session who, string roomId, bool typing, int? timeout = null) =>
        server.SendAsync(HttpMethod.Put, $"{V3}/rooms/{roomId}/typing/{Uri.EscapeDataString(who.UserId)}", who.AccessToken,
            timeout is null ? new { typing } : new { typing, timeout });

    [Theory, ClassData(typeof(Engines))]
    public async Task Typing_LongPollWakes_ThenTheTyperExpires(DatabaseEngine engine)
    {
        var (server, alice, bob, roomId) = await RoomAsync(engine);
        await using var _ = server;
        string since = Next(await SyncAsync(server, bob, setPresence: "offline"));

        var waiting = SyncAsync(server, bob, since, timeout: 30_000, setPresence: "offline");
        await Task.Delay(200);
        Assert.False(waiting.IsCompleted);
        Assert.Equal(200, (await TypeAsync(server, alice, roomId, true, timeout: 3000)).Status);
        var woken = await waiting;
        AssertTyping([alice.UserId], woken, roomId);

        // Nobody sends "stopped": the timeout does, and wakes the long poll again.
        // (Typing also made Alice online, which may wake Bob first.)
        var expired = await SyncAsync(server, bob, Next(woken), timeout: 30_000, setPresence: "offline");
        for (int i = 0; i < 5 && Typing(expired, roomId) is null; i++)
        {
            expired = await SyncAsync(server, bob, Next(expired), timeout: 30_000, setPresence: "offline");
        }

        AssertTyping([], expired, roomId);

        // An initial sync shows only current typers.
        Assert.Equal(200, (await TypeAsync(server, bob, roomId, true)).Status);
        AssertTyping([bob.UserId], await SyncAsync(server, alice, setPresence: "offline"), roomId);
        Assert.Null(Typing(await SyncAsync(server, alice, filter: """{"room": {"ephemeral": {"not_types": ["m.typing"]}}}""",
            setPresence: "offline"), roomId));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Typing_NewlyJoinedRoom_CurrentTypersIncluded(DatabaseEngine engine)
    {
        var (server, alice, _, roomId) = await RoomAsync(engine);
        await using var __ = server;
        var carol = await server.RegisterAsync("carol");
        Assert.Equal(200, (await TypeAsync(server, alice, roomId, true)).Status);
        string since = Next(await SyncAsync(server, carol, setPresence: "offline"));

        // Alice started typing before Carol's token; Carol joins and still learns of it.
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"{V3}/join/{roomId}", carol.AccessToken, new { })).Status);
        AssertTyping([alice.UserId], await SyncAsync(server, carol, since, setPresence: "offline"), roomId);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Typing_TokenFromBeforeRestart_GetsCurrentState(DatabaseEngine engine)
    {
        var (server, alice, bob, roomId) = await RoomAsync(engine);
        await using var _ = server;
        Assert.Equal(200, (await TypeAsync(server, alice, roomId, true)).Status);
        var before = await SyncAsync(server, bob, setPresence: "offline");
        AssertTyping([alice.UserId], before, roomId);

        // Typing lived in memory: after the restart Alice no longer types, and Bob's token is ahead of the new stream.
        await server.RestartAsync();
        var after = await SyncAsync(server, bob, Next(before), setPresence: "offline");
        AssertTyping([], after, roomId);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Presence_RoomMateComesOnline_LongPollWakes(DatabaseEngine engine)
    {
        var (server, alice, bob, _) = await RoomAsync(engine);
        await using var __ = server;

        // Bob's own sync makes him online, in this very response; Alice never synced, so she is not listed.
        var initial = await SyncAsync(server, bob);
        var seen = Presence(initial);
        Assert.Equal([bob.UserId], seen.Keys);
        Assert.Equal("online", seen[bob.UserId].GetProperty("presence").GetString());
        Assert.True(seen[bob.UserId].GetProperty("currently_active").GetBoolean());

        var waiting = SyncAsync(server, bob, Next(initial), timeout: 30_000);
        await Task.Delay(200);
        Assert.False(waiting.IsCompleted);
        await SyncAsync(server, alice);
        var woken = Presence(await waiting);
        Assert.Equal("online", woken[alice.UserId].GetProperty("presence").GetString());
        Assert.False(woken.ContainsKey(bob.UserId));

        // A status message reaches room-mates; set_presence=offline syncs do not change presence.
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Put, $"{V3}/presence/{Uri.EscapeDataString(alice.UserId)}/status",
            alice.AccessToken, new { presence = "unavailable", status_msg = "brb" })).Status);
        var status = Presence(await SyncAsync(server, bob, Next(await waiting), timeout: 30_000));
        Assert.Equal("brb", status[alice.UserId].GetProperty("status_msg").GetString());
        Assert.Equal("unavailable", status[alice.UserId].GetProperty("presence").GetString());
        await SyncAsync(server, alice, setPresence: "offline");
        var (_, still) = await server.SendAsync(HttpMethod.Get, $"{V3}/presence/{Uri.EscapeDataString(alice.UserId)}/status", bob.AccessToken);
        Assert.Equal("unavailable", still.GetProperty("presence").GetString());

        // The presence filter applies.
        Assert.Empty(Presence(await SyncAsync(server, bob, filter: """{"presence": {"types": []}}""")));
        Assert.Equal([alice.UserId], Presence(await SyncAsync(server, bob, filter: "{\"presence\": {\"senders\": [\"" + alice.UserId + "\"]}}")).Keys);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Presence_Disabled_SyncCarriesNoneButEndpointsAnswer(DatabaseEngine engine)
    {
        var (server, alice, bob, _) = await RoomAsync(engine, presenceEnabled: false);
        await using var __ = server;
        await SyncAsync(server, alice);
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Put, $"{V3}/presence/{Uri.EscapeDataString(alice.UserId)}/status",
            alice.AccessToken, new { presence = "online" })).Status);
        Assert.Empty(Presence(await SyncAsync(server, bob)));
        var (status, body) = await server.SendAsync(HttpMethod.Get, $"{V3}/presence/{Uri.EscapeDataString(alice.UserId)}/status", bob.AccessToken);
        Assert.Equal(200, status);
        Assert.Equal("offline", body.GetProperty("presence").GetString());
    }
}
