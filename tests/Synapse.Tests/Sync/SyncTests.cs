using System.Text.Json;
using Synapse.Configuration;
using Synapse.Tests.Infrastructure;

namespace Synapse.Tests.Sync;

/// <summary>/sync over real HTTP on each engine.</summary>
public sealed class SyncTests
{
    private const string V3 = "/_matrix/client/v3";

    private static async Task<(TestHomeserver Server, Session Alice, Session Bob, string RoomId)> RoomAsync(DatabaseEngine engine)
    {
        var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");
        var (_, created) = await server.SendAsync(HttpMethod.Post, $"{V3}/createRoom", alice.AccessToken, new { preset = "public_chat", name = "Sync room" });
        string roomId = created.GetProperty("room_id").GetString()!;
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"{V3}/join/{roomId}", bob.AccessToken, new { })).Status);
        return (server, alice, bob, roomId);
    }

    private static async Task<JsonElement> SyncAsync(TestHomeserver server, Session who, string? since = null, int timeout = 0, string? filter = null)
    {
        string path = $"{V3}/sync?timeout={timeout}" + (since is null ? "" : "&since=" + Uri.EscapeDataString(since))
            + (filter is null ? "" : "&filter=" + Uri.EscapeDataString(filter));
        var (status, body) = await server.SendAsync(HttpMethod.Get, path, who.AccessToken);
        Assert.True(status == 200, $"sync: {status} {body}");
        return body;
    }

    private static async Task<string> SendAsync(TestHomeserver server, Session who, string roomId, string text)
    {
        var (status, body) = await server.SendAsync(HttpMethod.Put, $"{V3}/rooms/{roomId}/send/m.room.message/{Guid.NewGuid():N}", who.AccessToken,
            new { msgtype = "m.text", body = text });
        Assert.Equal(200, status);
        return body.GetProperty("event_id").GetString()!;
    }

    private static List<string?> TimelineIds(JsonElement sync, string roomId) =>
        sync.GetProperty("rooms").GetProperty("join").TryGetProperty(roomId, out var room)
            ? room.GetProperty("timeline").GetProperty("events").EnumerateArray().Select(e => e.GetProperty("event_id").GetString()).ToList()
            : [];

    [Theory, ClassData(typeof(Engines))]
    public async Task LongPoll_OtherUserSends_WakesAndDeliversOnce(DatabaseEngine engine)
    {
        var (server, alice, bob, roomId) = await RoomAsync(engine);
        await using var _ = server;
        var initial = await SyncAsync(server, bob);
        string since = initial.GetProperty("next_batch").GetString()!;
        Assert.Contains(initial.GetProperty("rooms").GetProperty("join").EnumerateObject(), r => r.Name == roomId);

        var waiting = SyncAsync(server, bob, since, timeout: 60_000);
        await Task.Delay(200);
        Assert.False(waiting.IsCompleted, "an incremental sync with nothing new must wait");
        string eventId = await SendAsync(server, alice, roomId, "wake up");

        var woken = await waiting;
        Assert.Equal([eventId], TimelineIds(woken, roomId));
        var timeline = woken.GetProperty("rooms").GetProperty("join").GetProperty(roomId).GetProperty("timeline");
        Assert.False(timeline.GetProperty("limited").GetBoolean());
        var message = timeline.GetProperty("events")[0];
        Assert.False(message.TryGetProperty("room_id", out JsonElement _));
        Assert.Equal("wake up", message.GetProperty("content").GetProperty("body").GetString());

        // Nothing more: the same event is never delivered twice.
        var next = await SyncAsync(server, bob, woken.GetProperty("next_batch").GetString());
        Assert.Empty(TimelineIds(next, roomId));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Resume_AfterServerRestart_MissesNothingAndRepeatsNothing(DatabaseEngine engine)
    {
        var (server, alice, bob, roomId) = await RoomAsync(engine);
        await using var _ = server;
        string since = (await SyncAsync(server, bob)).GetProperty("next_batch").GetString()!;
        string before = await SendAsync(server, alice, roomId, "before restart");

        await server.RestartAsync();
        string after = await SendAsync(server, alice, roomId, "after restart");
        var resumed = await SyncAsync(server, bob, since);

        Assert.Equal([before, after], TimelineIds(resumed, roomId));
        Assert.Empty(TimelineIds(await SyncAsync(server, bob, resumed.GetProperty("next_batch").GetString()), roomId));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task LimitedTimeline_PrevBatchPaginatesBackWithoutGaps(DatabaseEngine engine)
    {
        var (server, alice, bob, roomId) = await RoomAsync(engine);
        await using var _ = server;
        string since = (await SyncAsync(server, bob)).GetProperty("next_batch").GetString()!;
        var sent = new List<string>();
        for (int i = 0; i < 8; i++)
        {
            if (i == 2)
            {
                var (_, topic) = await server.SendAsync(HttpMethod.Put, $"{V3}/rooms/{roomId}/state/m.room.topic", alice.AccessToken,
                    new { topic = "changed in the gap" });
                sent.Add(topic.GetProperty("event_id").GetString()!);
            }

            sent.Add(await SendAsync(server, alice, roomId, $"m{i}"));
        }

        sent.Add(await SendAsync(server, alice, roomId, "last"));
        var sync = await SyncAsync(server, bob, since, filter: """{"room":{"timeline":{"limit":3}}}""");
        var room = sync.GetProperty("rooms").GetProperty("join").GetProperty(roomId);

        Assert.True(room.GetProperty("timeline").GetProperty("limited").GetBoolean());
        var timeline = TimelineIds(sync, roomId);
        Assert.Equal(3, timeline.Count);
        Assert.Equal(sent[^1], timeline[^1]);

        // The state that changed in the gap is in `state`.
        Assert.Contains(room.GetProperty("state").GetProperty("events").EnumerateArray(), e => e.GetProperty("type").GetString() == "m.room.topic");

        // /messages from prev_batch returns exactly the events between `since` and the timeline.
        var (_, older) = await server.SendAsync(HttpMethod.Get,
            $"{V3}/rooms/{roomId}/messages?dir=b&limit=100&from={Uri.EscapeDataString(room.GetProperty("timeline").GetProperty("prev_batch").GetString()!)}",
            bob.AccessToken);
        var olderIds = older.GetProperty("chunk").EnumerateArray().Select(e => e.GetProperty("event_id").GetString()!).ToList();
        var all = olderIds.AsEnumerable().Reverse().Concat(timeline.Select(id => id!)).ToList();
        int firstSent = all.IndexOf(sent[0]);
        Assert.True(firstSent >= 0);
        Assert.Equal(sent.Where(id => all.Contains(id)), all.Skip(firstSent).Where(id => sent.Contains(id)));
        Assert.Equal(sent.Count, all.Count(id => sent.Contains(id)));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Filters_InlineAndUploaded_AreHonoured(DatabaseEngine engine)
    {
        var (server, alice, bob, roomId) = await RoomAsync(engine);
        await using var _ = server;
        await SendAsync(server, alice, roomId, "text");
        await server.SendAsync(HttpMethod.Put, $"{V3}/rooms/{roomId}/send/org.example.custom/t1", alice.AccessToken, new { x = 1 });

        var (filterStatus, created) = await server.SendAsync(HttpMethod.Post, $"{V3}/user/{Uri.EscapeDataString(bob.UserId)}/filter", bob.AccessToken,
            new { room = new { timeline = new { types = new[] { "org.example.*" }, limit = 5 } } });
        Assert.Equal(200, filterStatus);
        string filterId = created.GetProperty("filter_id").GetString()!;
        var (getStatus, stored) = await server.SendAsync(HttpMethod.Get, $"{V3}/user/{Uri.EscapeDataString(bob.UserId)}/filter/{filterId}", bob.AccessToken);
        Assert.Equal(200, getStatus);
        Assert.Equal(5, stored.GetProperty("room").GetProperty("timeline").GetProperty("limit").GetInt32());

        var byId = await SyncAsync(server, bob, filter: filterId);
        var types = byId.GetProperty("rooms").GetProperty("join").GetProperty(roomId).GetProperty("timeline").GetProperty("events")
            .EnumerateArray().Select(e => e.GetProperty("type").GetString()).ToList();
        Assert.Equal(["org.example.custom"], types);

        var excluded = await SyncAsync(server, bob, filter: "{\"room\":{\"not_rooms\":[\"" + roomId + "\"]}}");
        Assert.False(excluded.GetProperty("rooms").GetProperty("join").TryGetProperty(roomId, out JsonElement _));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task LazyLoadMembers_InitialSync_SendsOnlyTimelineSendersAndSelf(DatabaseEngine engine)
    {
        var (server, alice, bob, roomId) = await RoomAsync(engine);
        await using var _ = server;
        var carol = await server.RegisterAsync("carol");
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"{V3}/join/{roomId}", carol.AccessToken, new { })).Status);
        for (int i = 0; i < 3; i++)
        {
            await SendAsync(server, carol, roomId, $"carol {i}");
        }

        var sync = await SyncAsync(server, bob, filter: """{"room":{"timeline":{"limit":2},"state":{"lazy_load_members":true}}}""");
        var room = sync.GetProperty("rooms").GetProperty("join").GetProperty(roomId);
        var members = room.GetProperty("state").GetProperty("events").EnumerateArray()
            .Where(e => e.GetProperty("type").GetString() == "m.room.member").Select(e => e.GetProperty("state_key").GetString()).Order().ToList();

        Assert.Equal([bob.UserId, carol.UserId], members);
        Assert.Equal(3, room.GetProperty("summary").GetProperty("m.joined_member_count").GetInt32());
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task InviteAndLeave_AppearInTheirSections(DatabaseEngine engine)
    {
        var (server, alice, bob, roomId) = await RoomAsync(engine);
        await using var _ = server;
        var carol = await server.RegisterAsync("carol");
        string since = (await SyncAsync(server, carol)).GetProperty("next_batch").GetString()!;

        var waiting = SyncAsync(server, carol, since, timeout: 60_000);
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"{V3}/rooms/{roomId}/invite", alice.AccessToken, new { user_id = carol.UserId })).Status);
        var invited = await waiting;
        var inviteState = invited.GetProperty("rooms").GetProperty("invite").GetProperty(roomId).GetProperty("invite_state").GetProperty("events")
            .EnumerateArray().ToList();
        Assert.Contains(inviteState, e => e.GetProperty("type").GetString() == "m.room.name");
        Assert.Contains(inviteState, e => e.GetProperty("type").GetString() == "m.room.member" && e.GetProperty("state_key").GetString() == carol.UserId);

        string bobSince = (await SyncAsync(server, bob)).GetProperty("next_batch").GetString()!;
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"{V3}/rooms/{roomId}/leave", bob.AccessToken, new { })).Status);
        var left = await SyncAsync(server, bob, bobSince);
        var leftRoom = left.GetProperty("rooms").GetProperty("leave").GetProperty(roomId);
        Assert.Contains(leftRoom.GetProperty("timeline").GetProperty("events").EnumerateArray(),
            e => e.GetProperty("type").GetString() == "m.room.member" && e.GetProperty("content").GetProperty("membership").GetString() == "leave");
        Assert.False(left.GetProperty("rooms").GetProperty("join").TryGetProperty(roomId, out JsonElement _));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Sync_BadInput_AnswersSpecErrors(DatabaseEngine engine)
    {
        var (server, _, bob, _) = await RoomAsync(engine);
        await using var __ = server;
        string user = Uri.EscapeDataString(bob.UserId);
        var cases = new (HttpMethod Method, string Path, string? Token, object? Body, int Status, string ErrCode)[]
        {
            (HttpMethod.Get, $"{V3}/sync", null, null, 401, "M_MISSING_TOKEN"),
            (HttpMethod.Get, $"{V3}/sync?since=garbage", bob.AccessToken, null, 400, "M_INVALID_PARAM"),
            (HttpMethod.Get, $"{V3}/sync?since=s1_x", bob.AccessToken, null, 400, "M_INVALID_PARAM"),
            (HttpMethod.Get, $"{V3}/sync?timeout=-5", bob.AccessToken, null, 400, "M_INVALID_PARAM"),
            (HttpMethod.Get, $"{V3}/sync?full_state=maybe", bob.AccessToken, null, 400, "M_INVALID_PARAM"),
            (HttpMethod.Get, $"{V3}/sync?set_presence=busy", bob.AccessToken, null, 400, "M_INVALID_PARAM"),
            (HttpMethod.Get, $"{V3}/sync?filter=999", bob.AccessToken, null, 400, "M_INVALID_PARAM"),
            (HttpMethod.Get, $"{V3}/sync?filter=%7Bbad", bob.AccessToken, null, 400, "M_NOT_JSON"),
            (HttpMethod.Get, $"{V3}/sync?filter=%7B%22room%22%3A5%7D", bob.AccessToken, null, 400, "M_BAD_JSON"),
            (HttpMethod.Post, $"{V3}/user/{user}/filter", bob.AccessToken, "[]", 400, "M_BAD_JSON"),
            (HttpMethod.Post, $"{V3}/user/{user}/filter", bob.AccessToken, new { room = new { timeline = new { limit = "ten" } } }, 400, "M_BAD_JSON"),
            (HttpMethod.Post, $"{V3}/user/{Uri.EscapeDataString("@alice:test.local")}/filter", bob.AccessToken, new { }, 403, "M_FORBIDDEN"),
            (HttpMethod.Get, $"{V3}/user/{user}/filter/12345", bob.AccessToken, null, 404, "M_NOT_FOUND"),
            (HttpMethod.Get, $"{V3}/user/{user}/filter/abc", bob.AccessToken, null, 404, "M_NOT_FOUND"),
        };

        foreach (var c in cases)
        {
            var (status, body) = await server.SendAsync(c.Method, c.Path, c.Token, c.Body);
            Assert.True(c.Status == status, $"{c.Method} {c.Path}: expected {c.Status}, got {status} {body}");
            Assert.True(c.ErrCode == body.GetProperty("errcode").GetString(), $"{c.Method} {c.Path}: got {body}");
        }
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task DisplayNameChange_IsNotANewJoin_NoFullStateResent(DatabaseEngine engine)
    {
        var (server, _, bob, roomId) = await RoomAsync(engine);
        await using var _ = server;
        string since = (await SyncAsync(server, bob)).GetProperty("next_batch").GetString()!;
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Put, $"{V3}/profile/{Uri.EscapeDataString(bob.UserId)}/displayname", bob.AccessToken,
            new { displayname = "Robert" })).Status);

        var sync = await SyncAsync(server, bob, since);
        var room = sync.GetProperty("rooms").GetProperty("join").GetProperty(roomId);

        var member = Assert.Single(room.GetProperty("timeline").GetProperty("events").EnumerateArray());
        Assert.Equal("Robert", member.GetProperty("content").GetProperty("displayname").GetString());
        Assert.Empty(room.GetProperty("state").GetProperty("events").EnumerateArray());
    }
}
