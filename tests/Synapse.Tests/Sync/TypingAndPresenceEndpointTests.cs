using System.Text.Json;
using Synapse.Configuration;
using Synapse.Tests.Infrastructure;

namespace Synapse.Tests.Sync;

/// <summary>PUT /typing, PUT and GET /presence over real HTTP on each engine: success and every refusal.</summary>
public sealed class TypingAndPresenceEndpointTests
{
    private const string V3 = "/_matrix/client/v3";

    private static string TypingPath(string roomId, string userId) => $"{V3}/rooms/{roomId}/typing/{Uri.EscapeDataString(userId)}";

    private static string PresencePath(string userId) => $"{V3}/presence/{Uri.EscapeDataString(userId)}/status";

    private static void AssertError(int status, string errcode, (int Status, JsonElement Body) response)
    {
        Assert.True(response.Status == status, $"expected {status}, got {response.Status} {response.Body}");
        Assert.Equal(errcode, response.Body.GetProperty("errcode").GetString());
    }

    private static async Task<(TestHomeserver Server, Session Alice, Session Bob, Session Carol, string RoomId)> StartAsync(
        DatabaseEngine engine)
    {
        var server = await TestHomeserver.StartAsync(engine, o => new HomeserverOptions
        {
            ServerName = o.ServerName, Listeners = o.Listeners, Database = o.Database, SigningKeyPath = o.SigningKeyPath,
            Password = o.Password, RcLogin = o.RcLogin, RcRegistration = o.RcRegistration, EnableRegistration = true,
            EnableRegistrationWithoutVerification = true, AllowGuestAccess = true,
        });
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");
        var carol = await server.RegisterAsync("carol");
        var (_, created) = await server.SendAsync(HttpMethod.Post, $"{V3}/createRoom", alice.AccessToken, new { preset = "public_chat" });
        string roomId = created.GetProperty("room_id").GetString()!;
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"{V3}/join/{roomId}", bob.AccessToken, new { })).Status);
        return (server, alice, bob, carol, roomId);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Typing_ValidAndInvalidRequests(DatabaseEngine engine)
    {
        var (server, alice, bob, carol, roomId) = await StartAsync(engine);
        await using var _ = server;

        var (ok, body) = await server.SendAsync(HttpMethod.Put, TypingPath(roomId, alice.UserId), alice.AccessToken, new { typing = true, timeout = 5000 });
        Assert.Equal(200, ok);
        Assert.Empty(body.EnumerateObject());
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Put, TypingPath(roomId, alice.UserId), alice.AccessToken, new { typing = false })).Status);

        AssertError(401, "M_MISSING_TOKEN", await server.SendAsync(HttpMethod.Put, TypingPath(roomId, alice.UserId), null, new { typing = true }));
        AssertError(403, "M_FORBIDDEN", await server.SendAsync(HttpMethod.Put, TypingPath(roomId, alice.UserId), bob.AccessToken, new { typing = true }));
        AssertError(403, "M_FORBIDDEN", await server.SendAsync(HttpMethod.Put, TypingPath(roomId, carol.UserId), carol.AccessToken, new { typing = true }));
        AssertError(403, "M_FORBIDDEN", await server.SendAsync(HttpMethod.Put, TypingPath("!nowhere:test.local", alice.UserId), alice.AccessToken,
            new { typing = true }));
        AssertError(400, "M_MISSING_PARAM", await server.SendAsync(HttpMethod.Put, TypingPath(roomId, alice.UserId), alice.AccessToken, new { timeout = 1 }));
        AssertError(400, "M_BAD_JSON", await server.SendAsync(HttpMethod.Put, TypingPath(roomId, alice.UserId), alice.AccessToken, new { typing = 1 }));
        AssertError(400, "M_BAD_JSON", await server.SendAsync(HttpMethod.Put, TypingPath(roomId, alice.UserId), alice.AccessToken,
            new { typing = true, timeout = "soon" }));
        AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Put, TypingPath(roomId, alice.UserId), alice.AccessToken,
            new { typing = true, timeout = -5 }));
        AssertError(400, "M_NOT_JSON", await server.SendAsync(HttpMethod.Put, TypingPath(roomId, alice.UserId), alice.AccessToken, "not json"));
        AssertError(400, "M_BAD_JSON", await server.SendAsync(HttpMethod.Put, TypingPath(roomId, alice.UserId), alice.AccessToken, "[true]"));
        AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Put, TypingPath(roomId, "alice"), alice.AccessToken, new { typing = true }));

        var (_, guestBody) = await server.SendAsync(HttpMethod.Post, $"{V3}/register?kind=guest", body: "{}");
        string guest = guestBody.GetProperty("access_token").GetString()!;
        string guestId = guestBody.GetProperty("user_id").GetString()!;
        AssertError(403, "M_GUEST_ACCESS_FORBIDDEN", await server.SendAsync(HttpMethod.Put, TypingPath(roomId, guestId), guest, new { typing = true }));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Presence_SetAndGet_WithEveryRefusal(DatabaseEngine engine)
    {
        var (server, alice, bob, carol, _) = await StartAsync(engine);
        await using var __ = server;

        var (setStatus, setBody) = await server.SendAsync(HttpMethod.Put, PresencePath(alice.UserId), alice.AccessToken,
            new { presence = "unavailable", status_msg = "in a meeting" });
        Assert.Equal(200, setStatus);
        Assert.Empty(setBody.EnumerateObject());

        var (getStatus, seen) = await server.SendAsync(HttpMethod.Get, PresencePath(alice.UserId), bob.AccessToken);
        Assert.Equal(200, getStatus);
        Assert.Equal("unavailable", seen.GetProperty("presence").GetString());
        Assert.Equal("in a meeting", seen.GetProperty("status_msg").GetString());
        Assert.False(seen.TryGetProperty("currently_active", out _));

        Assert.Equal(200, (await server.SendAsync(HttpMethod.Put, PresencePath(alice.UserId), alice.AccessToken, new { presence = "online" })).Status);
        var (_, own) = await server.SendAsync(HttpMethod.Get, PresencePath(alice.UserId), alice.AccessToken);
        Assert.Equal("online", own.GetProperty("presence").GetString());
        Assert.True(own.GetProperty("currently_active").GetBoolean());
        Assert.True(own.GetProperty("last_active_ago").GetInt64() >= 0);
        Assert.False(own.TryGetProperty("status_msg", out _));

        // Carol never shared a room with Alice; nobody is called @ghost.
        var (_, carolOwn) = await server.SendAsync(HttpMethod.Get, PresencePath(carol.UserId), carol.AccessToken);
        Assert.Equal("offline", carolOwn.GetProperty("presence").GetString());
        AssertError(403, "M_FORBIDDEN", await server.SendAsync(HttpMethod.Get, PresencePath(alice.UserId), carol.AccessToken));
        AssertError(404, "M_NOT_FOUND", await server.SendAsync(HttpMethod.Get, PresencePath("@ghost:test.local"), carol.AccessToken));
        AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Get, PresencePath("ghost"), carol.AccessToken));
        AssertError(401, "M_MISSING_TOKEN", await server.SendAsync(HttpMethod.Get, PresencePath(alice.UserId)));

        AssertError(403, "M_FORBIDDEN", await server.SendAsync(HttpMethod.Put, PresencePath(alice.UserId), bob.AccessToken, new { presence = "offline" }));
        AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Put, PresencePath(alice.UserId), alice.AccessToken, new { presence = "away" }));
        AssertError(400, "M_MISSING_PARAM", await server.SendAsync(HttpMethod.Put, PresencePath(alice.UserId), alice.AccessToken, new { status_msg = "x" }));
        AssertError(400, "M_BAD_JSON", await server.SendAsync(HttpMethod.Put, PresencePath(alice.UserId), alice.AccessToken,
            new { presence = "online", status_msg = 3 }));
        AssertError(400, "M_NOT_JSON", await server.SendAsync(HttpMethod.Put, PresencePath(alice.UserId), alice.AccessToken, "{"));
        AssertError(401, "M_MISSING_TOKEN", await server.SendAsync(HttpMethod.Put, PresencePath(alice.UserId), null, new { presence = "online" }));

        var (_, guestBody) = await server.SendAsync(HttpMethod.Post, $"{V3}/register?kind=guest", body: "{}");
        string guest = guestBody.GetProperty("access_token").GetString()!;
        AssertError(403, "M_GUEST_ACCESS_FORBIDDEN", await server.SendAsync(HttpMethod.Get, PresencePath(alice.UserId), guest));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Presence_SendingOrReadReceipt_MarksTheUserActiveAgain(DatabaseEngine engine)
    {
        var (server, alice, bob, _, roomId) = await StartAsync(engine);
        await using var __ = server;

        async Task<JsonElement> AliceAsSeenByBobAsync()
        {
            var (status, seen) = await server.SendAsync(HttpMethod.Get, PresencePath(alice.UserId), bob.AccessToken);
            Assert.Equal(200, status);
            return seen;
        }

        async Task GoIdleAsync()
        {
            Assert.Equal(200, (await server.SendAsync(HttpMethod.Put, PresencePath(alice.UserId), alice.AccessToken,
                new { presence = "unavailable" })).Status);
            Assert.Equal("unavailable", (await AliceAsSeenByBobAsync()).GetProperty("presence").GetString());
        }

        await GoIdleAsync();
        var (sent, message) = await server.SendAsync(HttpMethod.Put, $"{V3}/rooms/{roomId}/send/m.room.message/t1", alice.AccessToken,
            new { msgtype = "m.text", body = "back" });
        Assert.Equal(200, sent);
        var afterSend = await AliceAsSeenByBobAsync();
        Assert.Equal("online", afterSend.GetProperty("presence").GetString());
        Assert.True(afterSend.GetProperty("currently_active").GetBoolean());

        await GoIdleAsync();
        string eventId = message.GetProperty("event_id").GetString()!;
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"{V3}/rooms/{roomId}/receipt/m.read/{Uri.EscapeDataString(eventId)}",
            alice.AccessToken, new { })).Status);
        Assert.Equal("online", (await AliceAsSeenByBobAsync()).GetProperty("presence").GetString());

        await GoIdleAsync();
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"{V3}/rooms/{roomId}/read_markers", alice.AccessToken,
            new Dictionary<string, string> { ["m.fully_read"] = eventId })).Status);
        Assert.Equal("online", (await AliceAsSeenByBobAsync()).GetProperty("presence").GetString());
    }
}
