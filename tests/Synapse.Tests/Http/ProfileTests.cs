using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Synapse.Accounts;
using Synapse.Configuration;
using Synapse.Events;
using Synapse.Identifiers;
using Synapse.Rooms;
using Synapse.Storage;
using Synapse.Tests.Infrastructure;

namespace Synapse.Tests.Http;

/// <summary>Profiles over real HTTP, and their propagation into joined rooms, on each engine.</summary>
public sealed class ProfileTests
{
    private const string V3 = "/_matrix/client/v3";

    private static async Task<string> CreateRoomAsync(TestHomeserver server, Session who, object? body = null)
    {
        var (status, created) = await server.SendAsync(HttpMethod.Post, $"{V3}/createRoom", who.AccessToken, body ?? new { });
        Assert.True(status == 200, $"createRoom failed: {status} {created}");
        return created.GetProperty("room_id").GetString()!;
    }

    private static async Task<JsonElement> MemberContentAsync(TestHomeserver server, Session reader, string roomId, string userId)
    {
        var (status, content) = await server.SendAsync(HttpMethod.Get, $"{V3}/rooms/{roomId}/state/m.room.member/{userId}", reader.AccessToken);
        Assert.True(status == 200, $"member state failed: {status} {content}");
        return content;
    }

    private static async Task<JsonElement> MemberInListAsync(TestHomeserver server, Session reader, string roomId, string userId)
    {
        var (status, members) = await server.SendAsync(HttpMethod.Get, $"{V3}/rooms/{roomId}/members", reader.AccessToken);
        Assert.True(status == 200, $"members failed: {status} {members}");
        return members.GetProperty("chunk").EnumerateArray().Single(m => m.GetProperty("state_key").GetString() == userId)
            .GetProperty("content");
    }

    private static string? Field(JsonElement content, string name) =>
        content.TryGetProperty(name, out var value) ? value.GetString() : null;

    [Theory, ClassData(typeof(Engines))]
    public async Task Profile_SetAndClearFields_ReadsBackAndUpdatesEveryJoinedRoom(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");

        // Registration gives the localpart as display name; lookups need no access token.
        var (initialStatus, initial) = await server.SendAsync(HttpMethod.Get, $"{V3}/profile/{alice.UserId}");
        Assert.Equal(200, initialStatus);
        Assert.Equal("alice", Field(initial, "displayname"));
        Assert.False(initial.TryGetProperty("avatar_url", out _));
        var (noAvatarStatus, noAvatar) = await server.SendAsync(HttpMethod.Get, $"{V3}/profile/{alice.UserId}/avatar_url");
        Assert.Equal(404, noAvatarStatus);
        Assert.Equal("M_NOT_FOUND", noAvatar.GetProperty("errcode").GetString());

        // Alice is joined to two rooms (one shared with Bob, with a reason on her join), invited to a third, and left a fourth.
        string shared = await CreateRoomAsync(server, alice, new { preset = "public_chat" });
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"{V3}/join/{shared}", bob.AccessToken, new { })).Status);
        string own = await CreateRoomAsync(server, bob, new { preset = "public_chat" });
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"{V3}/join/{own}", alice.AccessToken, new { reason = "hello" })).Status);
        string invited = await CreateRoomAsync(server, bob, new { invite = new[] { alice.UserId } });
        string left = await CreateRoomAsync(server, alice);
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"{V3}/rooms/{left}/leave", alice.AccessToken, new { })).Status);

        var (setStatus, setBody) = await server.SendAsync(HttpMethod.Put, $"{V3}/profile/{alice.UserId}/displayname", alice.AccessToken,
            new { displayname = "Alice Liddell" });
        Assert.Equal(200, setStatus);
        Assert.Empty(setBody.EnumerateObject());
        var (avatarStatus, _) = await server.SendAsync(HttpMethod.Put, $"{V3}/profile/{alice.UserId}/avatar_url", alice.AccessToken,
            new { avatar_url = "mxc://test.local/Abc_12-z" });
        Assert.Equal(200, avatarStatus);

        var (profileStatus, profile) = await server.SendAsync(HttpMethod.Get, $"{V3}/profile/{alice.UserId}", bob.AccessToken);
        Assert.Equal(200, profileStatus);
        Assert.Equal("Alice Liddell", Field(profile, "displayname"));
        Assert.Equal("mxc://test.local/Abc_12-z", Field(profile, "avatar_url"));
        var (_, name) = await server.SendAsync(HttpMethod.Get, $"{V3}/profile/{alice.UserId}/displayname");
        Assert.Equal("Alice Liddell", Field(name, "displayname"));
        Assert.Single(name.EnumerateObject());
        var (_, avatar) = await server.SendAsync(HttpMethod.Get, $"{V3}/profile/{alice.UserId}/avatar_url");
        Assert.Equal("mxc://test.local/Abc_12-z", Field(avatar, "avatar_url"));

        foreach (string roomId in new[] { shared, own })
        {
            foreach (var content in new[]
            {
                await MemberContentAsync(server, bob, roomId, alice.UserId),
                await MemberInListAsync(server, bob, roomId, alice.UserId),
            })
            {
                Assert.Equal("join", Field(content, "membership"));
                Assert.Equal("Alice Liddell", Field(content, "displayname"));
                Assert.Equal("mxc://test.local/Abc_12-z", Field(content, "avatar_url"));
            }

            var (_, joined) = await server.SendAsync(HttpMethod.Get, $"{V3}/rooms/{roomId}/joined_members", bob.AccessToken);
            Assert.Equal("Alice Liddell", joined.GetProperty("joined").GetProperty(alice.UserId).GetProperty("display_name").GetString());
        }

        // The rest of the join content is kept.
        Assert.Equal("hello", Field(await MemberContentAsync(server, bob, own, alice.UserId), "reason"));

        // Rooms she is not joined to are left alone.
        var invite = await MemberContentAsync(server, bob, invited, alice.UserId);
        Assert.Equal("invite", Field(invite, "membership"));
        Assert.Equal("alice", Field(invite, "displayname"));
        var leave = await MemberContentAsync(server, alice, left, alice.UserId);
        Assert.Equal("leave", Field(leave, "membership"));
        Assert.Null(Field(leave, "displayname"));

        // Setting the same value again sends nothing new.
        var (_, before) = await server.SendAsync(HttpMethod.Get, $"{V3}/rooms/{shared}/messages?dir=b&limit=100", bob.AccessToken);
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Put, $"{V3}/profile/{alice.UserId}/displayname", alice.AccessToken,
            new { displayname = "Alice Liddell" })).Status);
        var (_, after) = await server.SendAsync(HttpMethod.Get, $"{V3}/rooms/{shared}/messages?dir=b&limit=100", bob.AccessToken);
        Assert.Equal(before.GetProperty("chunk").GetArrayLength(), after.GetProperty("chunk").GetArrayLength());

        // The empty string removes a field, from the profile and from the rooms.
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Put, $"{V3}/profile/{alice.UserId}/displayname", alice.AccessToken,
            new { displayname = "" })).Status);
        var (_, cleared) = await server.SendAsync(HttpMethod.Get, $"{V3}/profile/{alice.UserId}");
        Assert.False(cleared.TryGetProperty("displayname", out _));
        Assert.Equal("mxc://test.local/Abc_12-z", Field(cleared, "avatar_url"));
        Assert.Equal(404, (await server.SendAsync(HttpMethod.Get, $"{V3}/profile/{alice.UserId}/displayname")).Status);
        var afterClear = await MemberInListAsync(server, alice, shared, alice.UserId);
        Assert.Null(Field(afterClear, "displayname"));
        Assert.Equal("mxc://test.local/Abc_12-z", Field(afterClear, "avatar_url"));

        // A room joined after the change gets the current profile in the join itself.
        string later = await CreateRoomAsync(server, alice);
        var laterContent = await MemberContentAsync(server, alice, later, alice.UserId);
        Assert.Null(Field(laterContent, "displayname"));
        Assert.Equal("mxc://test.local/Abc_12-z", Field(laterContent, "avatar_url"));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Profile_OneRoomRefusesTheUpdate_OtherRoomsStillUpdated(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        string first = await CreateRoomAsync(server, alice);
        string failing = await CreateRoomAsync(server, alice);
        string last = await CreateRoomAsync(server, alice);

        var services = server.Services;
        var writer = new FailingWriter(services.GetRequiredService<IRoomEventWriter>(), failing);
        var profiles = new ProfileService(services.GetRequiredService<HomeserverOptions>(), services.GetRequiredService<IAccountStore>(),
            services.GetRequiredService<IEventStore>(), writer, NullLogger<ProfileService>.Instance);
        var requester = new Requester(UserId.Parse(alice.UserId), DeviceId.Parse(alice.DeviceId), 0, false);
        using var body = JsonDocument.Parse("""{"displayname": "Renamed"}""");
        await profiles.SetFieldAsync(requester, alice.UserId, "displayname", body.RootElement, CancellationToken.None);

        Assert.Equal(3, writer.Attempts);
        Assert.Equal("Renamed", Field(await MemberContentAsync(server, alice, first, alice.UserId), "displayname"));
        Assert.Equal("alice", Field(await MemberContentAsync(server, alice, failing, alice.UserId), "displayname"));
        Assert.Equal("Renamed", Field(await MemberContentAsync(server, alice, last, alice.UserId), "displayname"));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Profile_ChangeAnotherUsersProfile_Forbidden(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");

        foreach (var (target, field, body) in new (string, string, object)[]
        {
            (bob.UserId, "displayname", new { displayname = "Not Bob" }),
            (bob.UserId, "avatar_url", new { avatar_url = "mxc://test.local/abc" }),
            ("@carol:elsewhere.example", "displayname", new { displayname = "Carol" }),
            ("@nobody:test.local", "displayname", new { displayname = "Nobody" }),
        })
        {
            var (status, error) = await server.SendAsync(HttpMethod.Put, $"{V3}/profile/{target}/{field}", alice.AccessToken, body);
            Assert.True(status == 403, $"{target} {field}: {status} {error}");
            Assert.Equal("M_FORBIDDEN", error.GetProperty("errcode").GetString());
        }

        var (_, profile) = await server.SendAsync(HttpMethod.Get, $"{V3}/profile/{bob.UserId}");
        Assert.Equal("bob", Field(profile, "displayname"));
        Assert.False(profile.TryGetProperty("avatar_url", out _));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Profile_UnknownOrRemoteUser_NotFound(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");

        foreach (string path in new[]
        {
            "/profile/@nobody:test.local", "/profile/@nobody:test.local/displayname", "/profile/@nobody:test.local/avatar_url",
            "/profile/@carol:elsewhere.example", "/profile/@carol:elsewhere.example/displayname",
        })
        {
            var (status, error) = await server.SendAsync(HttpMethod.Get, V3 + path, alice.AccessToken);
            Assert.True(status == 404, $"{path}: {status} {error}");
            Assert.Equal("M_NOT_FOUND", error.GetProperty("errcode").GetString());
        }
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Profile_BadInput_AnswersSpecErrors(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        string displayname = $"{V3}/profile/{alice.UserId}/displayname";
        string avatar = $"{V3}/profile/{alice.UserId}/avatar_url";

        var cases = new (HttpMethod Method, string Path, string? Token, string? Body, int Status, string ErrCode)[]
        {
            (HttpMethod.Get, $"{V3}/profile/not-a-user", null, null, 400, "M_INVALID_PARAM"),
            (HttpMethod.Get, $"{V3}/profile/@alice/displayname", null, null, 400, "M_INVALID_PARAM"),
            (HttpMethod.Put, $"{V3}/profile/alice/displayname", alice.AccessToken, """{"displayname": "x"}""", 400, "M_INVALID_PARAM"),
            (HttpMethod.Put, displayname, null, """{"displayname": "x"}""", 401, "M_MISSING_TOKEN"),
            (HttpMethod.Put, displayname, "not-a-token", """{"displayname": "x"}""", 401, "M_UNKNOWN_TOKEN"),
            (HttpMethod.Put, displayname, alice.AccessToken, "", 400, "M_NOT_JSON"),
            (HttpMethod.Put, displayname, alice.AccessToken, "{not json", 400, "M_NOT_JSON"),
            (HttpMethod.Put, displayname, alice.AccessToken, "[\"x\"]", 400, "M_BAD_JSON"),
            (HttpMethod.Put, displayname, alice.AccessToken, "{}", 400, "M_MISSING_PARAM"),
            (HttpMethod.Put, displayname, alice.AccessToken, """{"avatar_url": "mxc://test.local/a"}""", 400, "M_MISSING_PARAM"),
            (HttpMethod.Put, displayname, alice.AccessToken, """{"displayname": 5}""", 400, "M_BAD_JSON"),
            (HttpMethod.Put, displayname, alice.AccessToken, """{"displayname": null}""", 400, "M_BAD_JSON"),
            (HttpMethod.Put, displayname, alice.AccessToken, $$"""{"displayname": "{{new string('a', 257)}}"}""", 400, "M_INVALID_PARAM"),
            (HttpMethod.Put, avatar, alice.AccessToken, "{}", 400, "M_MISSING_PARAM"),
            (HttpMethod.Put, avatar, alice.AccessToken, """{"avatar_url": ["mxc://test.local/a"]}""", 400, "M_BAD_JSON"),
            (HttpMethod.Put, avatar, alice.AccessToken, """{"avatar_url": "https://example.org/a.png"}""", 400, "M_INVALID_PARAM"),
            (HttpMethod.Put, avatar, alice.AccessToken, """{"avatar_url": "mxc://test.local/"}""", 400, "M_INVALID_PARAM"),
            (HttpMethod.Put, avatar, alice.AccessToken, """{"avatar_url": "mxc://test.local/a/b"}""", 400, "M_INVALID_PARAM"),
            (HttpMethod.Put, avatar, alice.AccessToken, """{"avatar_url": "mxc:///abc"}""", 400, "M_INVALID_PARAM"),
            (HttpMethod.Put, avatar, alice.AccessToken, $$"""{"avatar_url": "mxc://test.local/{{new string('a', 1000)}}"}""", 400, "M_INVALID_PARAM"),
        };

        foreach (var c in cases)
        {
            var (status, body) = await server.SendAsync(c.Method, c.Path, c.Token, c.Body);
            Assert.True(c.Status == status, $"{c.Method} {c.Path} {c.Body}: expected {c.Status}, got {status} {body}");
            Assert.True(c.ErrCode == body.GetProperty("errcode").GetString(), $"{c.Method} {c.Path} {c.Body}: got {body}");
        }

        // Nothing changed; a 256-character name is fine.
        var (_, profile) = await server.SendAsync(HttpMethod.Get, $"{V3}/profile/{alice.UserId}");
        Assert.Equal("alice", Field(profile, "displayname"));
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Put, displayname, alice.AccessToken,
            new { displayname = new string('b', 256) })).Status);
    }

    /// <summary>Lets every write through except those to one room.</summary>
    private sealed class FailingWriter(IRoomEventWriter inner, string failingRoom) : IRoomEventWriter
    {
        public int Attempts { get; private set; }

        public Task<IReadOnlyList<Pdu>> WriteAsync(IReadOnlyList<EventDraft> drafts, CancellationToken cancellationToken)
        {
            Attempts++;
            return drafts[0].RoomId == failingRoom
                ? throw MatrixException.Forbidden("refused for the test")
                : inner.WriteAsync(drafts, cancellationToken);
        }
    }
}
