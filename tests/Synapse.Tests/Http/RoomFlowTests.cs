using System.Text.Json;
using Synapse.Configuration;
using Synapse.Tests.Infrastructure;

namespace Synapse.Tests.Http;

/// <summary>Two local users in rooms over real HTTP, on each engine.</summary>
public sealed class RoomFlowTests
{
    private const string V3 = "/_matrix/client/v3";

    private static async Task<(TestHomeserver Server, Session Alice, Session Bob)> StartAsync(DatabaseEngine engine)
    {
        var server = await TestHomeserver.StartAsync(engine);
        return (server, await server.RegisterAsync("alice"), await server.RegisterAsync("bob"));
    }

    private static async Task<string> SendTextAsync(TestHomeserver server, Session who, string roomId, string text, string? txn = null)
    {
        var (status, body) = await server.SendAsync(HttpMethod.Put,
            $"{V3}/rooms/{roomId}/send/m.room.message/{txn ?? Guid.NewGuid().ToString("N")}", who.AccessToken,
            new { msgtype = "m.text", body = text });
        Assert.True(status == 200, $"send failed: {status} {body}");
        return body.GetProperty("event_id").GetString()!;
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Conversation_CreateInviteJoinTalkEditReactRedact_HistoryReadsBack(DatabaseEngine engine)
    {
        var (server, alice, bob) = await StartAsync(engine);
        await using var serverScope = server;

        var (createStatus, created) = await server.SendAsync(HttpMethod.Post, $"{V3}/createRoom", alice.AccessToken, new
        {
            name = "Planning", topic = "Q3", preset = "private_chat", invite = new[] { bob.UserId },
        });
        Assert.Equal(200, createStatus);
        string roomId = created.GetProperty("room_id").GetString()!;
        Assert.StartsWith("!", roomId, StringComparison.Ordinal);
        Assert.EndsWith(":test.local", roomId, StringComparison.Ordinal);

        // Bob is invited, not joined; he cannot send yet.
        var (earlyStatus, early) = await server.SendAsync(HttpMethod.Put, $"{V3}/rooms/{roomId}/send/m.room.message/early",
            bob.AccessToken, new { msgtype = "m.text", body = "too early" });
        Assert.Equal(403, earlyStatus);
        Assert.Equal("M_FORBIDDEN", early.GetProperty("errcode").GetString());

        var (joinStatus, joined) = await server.SendAsync(HttpMethod.Post, $"{V3}/join/{roomId}", bob.AccessToken, new { });
        Assert.Equal(200, joinStatus);
        Assert.Equal(roomId, joined.GetProperty("room_id").GetString());

        string hello = await SendTextAsync(server, alice, roomId, "hello bob", "txn1");
        string reply = await SendTextAsync(server, bob, roomId, "hi alice");

        // A retried transaction returns the same event.
        Assert.Equal(hello, await SendTextAsync(server, alice, roomId, "hello bob", "txn1"));

        // Edit (m.replace), reaction (m.annotation), redaction.
        var (editStatus, _) = await server.SendAsync(HttpMethod.Put, $"{V3}/rooms/{roomId}/send/m.room.message/edit1", alice.AccessToken, new Dictionary<string, object>
        {
            ["msgtype"] = "m.text",
            ["body"] = "* hello Bob",
            ["m.new_content"] = new { msgtype = "m.text", body = "hello Bob" },
            ["m.relates_to"] = new { rel_type = "m.replace", event_id = hello },
        });
        Assert.Equal(200, editStatus);
        var (reactStatus, _) = await server.SendAsync(HttpMethod.Put, $"{V3}/rooms/{roomId}/send/m.reaction/r1", bob.AccessToken, new Dictionary<string, object>
        {
            ["m.relates_to"] = new { rel_type = "m.annotation", event_id = hello, key = "👍" },
        });
        Assert.Equal(200, reactStatus);
        var (redactStatus, redaction) = await server.SendAsync(HttpMethod.Put, $"{V3}/rooms/{roomId}/redact/{reply}/red1", bob.AccessToken,
            new { reason = "typo" });
        Assert.Equal(200, redactStatus);

        // Alice (power 100) may redact Bob's events; Bob (power 0) may not redact Alice's.
        var (forbiddenStatus, _) = await server.SendAsync(HttpMethod.Put, $"{V3}/rooms/{roomId}/redact/{hello}/red2", bob.AccessToken, new { });
        Assert.Equal(403, forbiddenStatus);

        // History, newest first, paginated two at a time until the start of the room.
        var seen = new List<JsonElement>();
        string? from = null;
        for (int page = 0; page < 20; page++)
        {
            string path = $"{V3}/rooms/{roomId}/messages?dir=b&limit=2" + (from is null ? "" : "&from=" + Uri.EscapeDataString(from));
            var (status, body) = await server.SendAsync(HttpMethod.Get, path, bob.AccessToken);
            Assert.Equal(200, status);
            seen.AddRange(body.GetProperty("chunk").EnumerateArray());
            if (!body.TryGetProperty("end", out var end))
            {
                break;
            }

            from = end.GetString();
        }

        var types = seen.Select(e => e.GetProperty("type").GetString()).ToList();
        Assert.Equal("m.room.redaction", types[0]);
        Assert.Equal("m.room.create", types[^1]);
        Assert.Equal(seen.Count, seen.Select(e => e.GetProperty("event_id").GetString()).Distinct().Count());
        var redacted = seen.Single(e => e.GetProperty("event_id").GetString() == reply);
        Assert.Empty(redacted.GetProperty("content").EnumerateObject());
        Assert.Equal(redaction.GetProperty("event_id").GetString(),
            redacted.GetProperty("unsigned").GetProperty("redacted_because").GetProperty("event_id").GetString());
        var helloEvent = seen.Single(e => e.GetProperty("event_id").GetString() == hello);
        Assert.Equal("hello bob", helloEvent.GetProperty("content").GetProperty("body").GetString());
        Assert.True(helloEvent.GetProperty("unsigned").GetProperty("age").GetInt64() >= 0);

        // Forward pagination from the start returns the same events in the opposite order.
        var (forwardStatus, forward) = await server.SendAsync(HttpMethod.Get, $"{V3}/rooms/{roomId}/messages?dir=f&limit=100", alice.AccessToken);
        Assert.Equal(200, forwardStatus);
        Assert.Equal(seen.Select(e => e.GetProperty("event_id").GetString()).Reverse(),
            forward.GetProperty("chunk").EnumerateArray().Select(e => e.GetProperty("event_id").GetString()));

        // The sender's own device sees its transaction ID; the other user does not.
        var (ownStatus, own) = await server.SendAsync(HttpMethod.Get, $"{V3}/rooms/{roomId}/event/{hello}", alice.AccessToken);
        Assert.Equal(200, ownStatus);
        Assert.Equal("txn1", own.GetProperty("unsigned").GetProperty("transaction_id").GetString());
        var (_, theirs) = await server.SendAsync(HttpMethod.Get, $"{V3}/rooms/{roomId}/event/{hello}", bob.AccessToken);
        Assert.False(theirs.GetProperty("unsigned").TryGetProperty("transaction_id", out _));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task State_PutGetAndMembers_ReflectChanges(DatabaseEngine engine)
    {
        var (server, alice, bob) = await StartAsync(engine);
        await using var _ = server;
        var (_, created) = await server.SendAsync(HttpMethod.Post, $"{V3}/createRoom", alice.AccessToken, new { preset = "public_chat", name = "Lobby" });
        string roomId = created.GetProperty("room_id").GetString()!;

        var (nameStatus, name) = await server.SendAsync(HttpMethod.Get, $"{V3}/rooms/{roomId}/state/m.room.name", alice.AccessToken);
        Assert.Equal(200, nameStatus);
        Assert.Equal("Lobby", name.GetProperty("name").GetString());

        var (topicStatus, topic) = await server.SendAsync(HttpMethod.Put, $"{V3}/rooms/{roomId}/state/m.room.topic", alice.AccessToken, new { topic = "new" });
        Assert.Equal(200, topicStatus);
        var (_, topicEvent) = await server.SendAsync(HttpMethod.Get, $"{V3}/rooms/{roomId}/state/m.room.topic/?format=event", alice.AccessToken);
        Assert.Equal(topic.GetProperty("event_id").GetString(), topicEvent.GetProperty("event_id").GetString());

        // Public room: Bob joins without an invite, but cannot change the name (power 0 < 50).
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"{V3}/rooms/{roomId}/join", bob.AccessToken, new { })).Status);
        var (renameStatus, rename) = await server.SendAsync(HttpMethod.Put, $"{V3}/rooms/{roomId}/state/m.room.name", bob.AccessToken, new { name = "Mine" });
        Assert.Equal(403, renameStatus);
        Assert.Contains("power", rename.GetProperty("error").GetString(), StringComparison.OrdinalIgnoreCase);

        var (_, members) = await server.SendAsync(HttpMethod.Get, $"{V3}/rooms/{roomId}/members", alice.AccessToken);
        Assert.Equal([alice.UserId, bob.UserId], members.GetProperty("chunk").EnumerateArray().Select(m => m.GetProperty("state_key").GetString()).Order());
        var (_, joinedMembers) = await server.SendAsync(HttpMethod.Get, $"{V3}/rooms/{roomId}/joined_members", bob.AccessToken);
        Assert.Equal("bob", joinedMembers.GetProperty("joined").GetProperty(bob.UserId).GetProperty("display_name").GetString());
        var (_, rooms) = await server.SendAsync(HttpMethod.Get, $"{V3}/joined_rooms", bob.AccessToken);
        Assert.Equal([roomId], rooms.GetProperty("joined_rooms").EnumerateArray().Select(r => r.GetString()));

        // Full state contains create, members, power levels, join rules, name, topic...
        var (_, state) = await server.SendAsync(HttpMethod.Get, $"{V3}/rooms/{roomId}/state", bob.AccessToken);
        var stateTypes = state.EnumerateArray().Select(e => e.GetProperty("type").GetString()).ToHashSet();
        Assert.Superset(new HashSet<string?> { "m.room.create", "m.room.member", "m.room.power_levels", "m.room.join_rules", "m.room.name", "m.room.topic" }, stateTypes);

        // A replaced state event carries what it replaced.
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Put, $"{V3}/rooms/{roomId}/state/m.room.topic", alice.AccessToken, new { topic = "newer" })).Status);
        var (_, newer) = await server.SendAsync(HttpMethod.Get, $"{V3}/rooms/{roomId}/state/m.room.topic?format=event", bob.AccessToken);
        Assert.Equal("new", newer.GetProperty("unsigned").GetProperty("prev_content").GetProperty("topic").GetString());

        // Bob leaves; members?membership=join shows only Alice; Bob still sees state as of his leave.
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"{V3}/rooms/{roomId}/leave", bob.AccessToken, new { })).Status);
        var (_, joinedOnly) = await server.SendAsync(HttpMethod.Get, $"{V3}/rooms/{roomId}/members?membership=join", alice.AccessToken);
        Assert.Equal([alice.UserId], joinedOnly.GetProperty("chunk").EnumerateArray().Select(m => m.GetProperty("state_key").GetString()));
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Get, $"{V3}/rooms/{roomId}/state", bob.AccessToken)).Status);
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"{V3}/rooms/{roomId}/forget", bob.AccessToken, new { })).Status);
        var (_, after) = await server.SendAsync(HttpMethod.Get, $"{V3}/joined_rooms", bob.AccessToken);
        Assert.Empty(after.GetProperty("joined_rooms").EnumerateArray());
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Moderation_KickBanUnban_FollowPowerLevels(DatabaseEngine engine)
    {
        var (server, alice, bob) = await StartAsync(engine);
        await using var _ = server;
        var (_, created) = await server.SendAsync(HttpMethod.Post, $"{V3}/createRoom", alice.AccessToken, new { preset = "public_chat" });
        string roomId = created.GetProperty("room_id").GetString()!;
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"{V3}/join/{roomId}", bob.AccessToken, new { })).Status);

        Assert.Equal(403, (await server.SendAsync(HttpMethod.Post, $"{V3}/rooms/{roomId}/kick", bob.AccessToken, new { user_id = alice.UserId })).Status);
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"{V3}/rooms/{roomId}/kick", alice.AccessToken, new { user_id = bob.UserId, reason = "spam" })).Status);
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"{V3}/join/{roomId}", bob.AccessToken, new { })).Status);
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"{V3}/rooms/{roomId}/ban", alice.AccessToken, new { user_id = bob.UserId })).Status);
        var (bannedJoin, bannedBody) = await server.SendAsync(HttpMethod.Post, $"{V3}/join/{roomId}", bob.AccessToken, new { });
        Assert.Equal(403, bannedJoin);
        Assert.Equal("M_FORBIDDEN", bannedBody.GetProperty("errcode").GetString());
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"{V3}/rooms/{roomId}/unban", alice.AccessToken, new { user_id = bob.UserId })).Status);
        Assert.Equal(403, (await server.SendAsync(HttpMethod.Post, $"{V3}/rooms/{roomId}/unban", alice.AccessToken, new { user_id = bob.UserId })).Status);
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"{V3}/join/{roomId}", bob.AccessToken, new { })).Status);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Context_AroundAnEvent_ReturnsNeighboursAndState(DatabaseEngine engine)
    {
        var (server, alice, _) = await StartAsync(engine);
        await using var __ = server;
        var (_, created) = await server.SendAsync(HttpMethod.Post, $"{V3}/createRoom", alice.AccessToken, new { });
        string roomId = created.GetProperty("room_id").GetString()!;
        var ids = new List<string>();
        for (int i = 0; i < 5; i++)
        {
            ids.Add(await SendTextAsync(server, alice, roomId, $"m{i}"));
        }

        var (status, context) = await server.SendAsync(HttpMethod.Get, $"{V3}/rooms/{roomId}/context/{ids[2]}?limit=4", alice.AccessToken);

        Assert.Equal(200, status);
        Assert.Equal(ids[2], context.GetProperty("event").GetProperty("event_id").GetString());
        Assert.Equal([ids[1], ids[0]], context.GetProperty("events_before").EnumerateArray().Select(e => e.GetProperty("event_id").GetString()));
        Assert.Equal([ids[3], ids[4]], context.GetProperty("events_after").EnumerateArray().Select(e => e.GetProperty("event_id").GetString()));
        Assert.Contains(context.GetProperty("state").EnumerateArray(), e => e.GetProperty("type").GetString() == "m.room.create");

        // Paginating forwards from the context's end continues after the last event.
        var (_, rest) = await server.SendAsync(HttpMethod.Get,
            $"{V3}/rooms/{roomId}/messages?dir=f&from={Uri.EscapeDataString(context.GetProperty("end").GetString()!)}", alice.AccessToken);
        Assert.Empty(rest.GetProperty("chunk").EnumerateArray());
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Rooms_BadInput_AnswerSpecErrors(DatabaseEngine engine)
    {
        var (server, alice, bob) = await StartAsync(engine);
        await using var _ = server;
        var (_, created) = await server.SendAsync(HttpMethod.Post, $"{V3}/createRoom", alice.AccessToken, new { });
        string roomId = created.GetProperty("room_id").GetString()!;

        var cases = new (HttpMethod Method, string Path, string? Token, object? Body, int Status, string ErrCode)[]
        {
            (HttpMethod.Post, $"{V3}/createRoom", null, new { }, 401, "M_MISSING_TOKEN"),
            (HttpMethod.Post, $"{V3}/createRoom", alice.AccessToken, new { room_version = "99" }, 400, "M_UNSUPPORTED_ROOM_VERSION"),
            (HttpMethod.Post, $"{V3}/createRoom", alice.AccessToken, new { preset = "party" }, 400, "M_INVALID_PARAM"),
            (HttpMethod.Post, $"{V3}/createRoom", alice.AccessToken, new { invite = new[] { "not-a-user" } }, 400, "M_INVALID_PARAM"),
            (HttpMethod.Post, $"{V3}/createRoom", alice.AccessToken, new { name = 5 }, 400, "M_BAD_JSON"),
            (HttpMethod.Post, $"{V3}/createRoom", alice.AccessToken, "[]", 400, "M_BAD_JSON"),
            (HttpMethod.Put, $"{V3}/rooms/{roomId}/send/m.room.message/t1", alice.AccessToken, "not json", 400, "M_NOT_JSON"),
            (HttpMethod.Put, $"{V3}/rooms/{roomId}/send/m.room.message/t2", alice.AccessToken, "{\"n\": 1.5}", 400, "M_BAD_JSON"),
            (HttpMethod.Put, $"{V3}/rooms/{roomId}/send/m.room.message/t3", alice.AccessToken, new { body = new string('x', 70_000) }, 413, "M_TOO_LARGE"),
            (HttpMethod.Put, $"{V3}/rooms/!nope:test.local/send/m.room.message/t4", alice.AccessToken, new { }, 404, "M_NOT_FOUND"),
            (HttpMethod.Put, $"{V3}/rooms/not-a-room/send/m.room.message/t5", alice.AccessToken, new { }, 400, "M_INVALID_PARAM"),
            (HttpMethod.Get, $"{V3}/rooms/{roomId}/messages", bob.AccessToken, null, 403, "M_FORBIDDEN"),
            (HttpMethod.Get, $"{V3}/rooms/{roomId}/messages?dir=x", alice.AccessToken, null, 400, "M_INVALID_PARAM"),
            (HttpMethod.Get, $"{V3}/rooms/{roomId}/messages?from=garbage", alice.AccessToken, null, 400, "M_INVALID_PARAM"),
            (HttpMethod.Get, $"{V3}/rooms/{roomId}/messages?filter=%7Bnope", alice.AccessToken, null, 400, "M_NOT_JSON"),
            (HttpMethod.Get, $"{V3}/rooms/{roomId}/state", bob.AccessToken, null, 403, "M_FORBIDDEN"),
            (HttpMethod.Get, $"{V3}/rooms/{roomId}/state/m.room.name", alice.AccessToken, null, 404, "M_NOT_FOUND"),
            (HttpMethod.Get, $"{V3}/rooms/{roomId}/event/$nope", alice.AccessToken, null, 404, "M_NOT_FOUND"),
            (HttpMethod.Get, $"{V3}/rooms/{roomId}/members?membership=party", alice.AccessToken, null, 400, "M_INVALID_PARAM"),
            (HttpMethod.Get, $"{V3}/rooms/{roomId}/joined_members", bob.AccessToken, null, 403, "M_FORBIDDEN"),
            (HttpMethod.Post, $"{V3}/rooms/{roomId}/invite", alice.AccessToken, new { }, 400, "M_MISSING_PARAM"),
            (HttpMethod.Post, $"{V3}/rooms/{roomId}/invite", alice.AccessToken, new { user_id = "@ghost:test.local" }, 404, "M_NOT_FOUND"),
            (HttpMethod.Post, $"{V3}/rooms/{roomId}/join", bob.AccessToken, new { }, 403, "M_FORBIDDEN"),
            (HttpMethod.Post, $"{V3}/join/%23nowhere:test.local", bob.AccessToken, new { }, 404, "M_NOT_FOUND"),
            (HttpMethod.Post, $"{V3}/rooms/{roomId}/forget", alice.AccessToken, new { }, 400, "M_UNKNOWN"),
            (HttpMethod.Put, $"{V3}/rooms/{roomId}/redact/$nope/r1", alice.AccessToken, new { }, 404, "M_NOT_FOUND"),
        };

        foreach (var c in cases)
        {
            var (status, body) = await server.SendAsync(c.Method, c.Path, c.Token, c.Body);
            Assert.True(c.Status == status, $"{c.Method} {c.Path}: expected {c.Status}, got {status} {body}");
            Assert.True(c.ErrCode == body.GetProperty("errcode").GetString(), $"{c.Method} {c.Path}: got {body}");
        }
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task RedactedPowerLevels_AuthUsesRedactedContent_InviteLevelFallsToDefault(DatabaseEngine engine)
    {
        var (server, alice, bob) = await StartAsync(engine);
        await using var serverScope = server;
        var carol = await server.RegisterAsync("carol");
        var (_, created) = await server.SendAsync(HttpMethod.Post, $"{V3}/createRoom", alice.AccessToken, new { preset = "public_chat", room_version = "10" });
        string roomId = created.GetProperty("room_id").GetString()!;
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"{V3}/join/{roomId}", bob.AccessToken, new { })).Status);

        // public_chat sets invite to 50; Bob has 0.
        var (denied, deniedBody) = await server.SendAsync(HttpMethod.Post, $"{V3}/rooms/{roomId}/invite", bob.AccessToken, new { user_id = carol.UserId });
        Assert.Equal(403, denied);
        Assert.Contains("invite", deniedBody.GetProperty("error").GetString(), StringComparison.OrdinalIgnoreCase);

        // In v10 redaction keeps users/ban/kick/redact/... but strips "invite", which falls back to its default 0.
        var (_, powerLevels) = await server.SendAsync(HttpMethod.Get, $"{V3}/rooms/{roomId}/state/m.room.power_levels?format=event", alice.AccessToken);
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Put,
            $"{V3}/rooms/{roomId}/redact/{powerLevels.GetProperty("event_id").GetString()}/r1", alice.AccessToken, new { })).Status);

        var (allowed, allowedBody) = await server.SendAsync(HttpMethod.Post, $"{V3}/rooms/{roomId}/invite", bob.AccessToken, new { user_id = carol.UserId });
        Assert.True(allowed == 200, allowedBody.ToString());
        var (_, served) = await server.SendAsync(HttpMethod.Get, $"{V3}/rooms/{roomId}/state/m.room.power_levels", alice.AccessToken);
        Assert.False(served.TryGetProperty("invite", out _));
        Assert.Equal(100, served.GetProperty("users").GetProperty(alice.UserId).GetInt32());
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task RestrictedRoom_MemberOfAllowedRoomJoins_OthersRefused(DatabaseEngine engine)
    {
        var (server, alice, bob) = await StartAsync(engine);
        await using var serverScope = server;
        var carol = await server.RegisterAsync("carol");
        var (_, space) = await server.SendAsync(HttpMethod.Post, $"{V3}/createRoom", alice.AccessToken, new { preset = "public_chat" });
        string spaceId = space.GetProperty("room_id").GetString()!;
        var (_, restricted) = await server.SendAsync(HttpMethod.Post, $"{V3}/createRoom", alice.AccessToken, new
        {
            room_version = "10",
            initial_state = new[]
            {
                new
                {
                    type = "m.room.join_rules", state_key = "",
                    content = new { join_rule = "restricted", allow = new[] { new { type = "m.room_membership", room_id = spaceId } } },
                },
            },
        });
        string roomId = restricted.GetProperty("room_id").GetString()!;
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"{V3}/join/{spaceId}", bob.AccessToken, new { })).Status);

        var (bobStatus, bobBody) = await server.SendAsync(HttpMethod.Post, $"{V3}/join/{roomId}", bob.AccessToken, new { });
        var (carolStatus, _) = await server.SendAsync(HttpMethod.Post, $"{V3}/join/{roomId}", carol.AccessToken, new { });

        Assert.True(bobStatus == 200, bobBody.ToString());
        Assert.Equal(403, carolStatus);
        var (_, member) = await server.SendAsync(HttpMethod.Get, $"{V3}/rooms/{roomId}/state/m.room.member/{bob.UserId}", bob.AccessToken);
        Assert.Equal(alice.UserId, member.GetProperty("join_authorised_via_users_server").GetString());
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Knock_InKnockRoom_ThenInvitedAndJoined_RefusedInV6(DatabaseEngine engine)
    {
        var (server, alice, bob) = await StartAsync(engine);
        await using var serverScope = server;
        var knockRule = new[] { new { type = "m.room.join_rules", state_key = "", content = new { join_rule = "knock" } } };
        var (_, created) = await server.SendAsync(HttpMethod.Post, $"{V3}/createRoom", alice.AccessToken, new { room_version = "7", initial_state = knockRule });
        string roomId = created.GetProperty("room_id").GetString()!;

        var (knockStatus, knocked) = await server.SendAsync(HttpMethod.Post, $"{V3}/knock/{roomId}", bob.AccessToken, new { reason = "let me in" });
        Assert.True(knockStatus == 200, knocked.ToString());
        Assert.Equal(roomId, knocked.GetProperty("room_id").GetString());
        var (_, member) = await server.SendAsync(HttpMethod.Get, $"{V3}/rooms/{roomId}/state/m.room.member/{bob.UserId}", alice.AccessToken);
        Assert.Equal("knock", member.GetProperty("membership").GetString());
        Assert.Equal("let me in", member.GetProperty("reason").GetString());
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"{V3}/rooms/{roomId}/invite", alice.AccessToken, new { user_id = bob.UserId })).Status);
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"{V3}/join/{roomId}", bob.AccessToken, new { })).Status);

        // Room version 6 has no knocking: the join rule is not "knock" there, so the knock is refused.
        var (_, old) = await server.SendAsync(HttpMethod.Post, $"{V3}/createRoom", alice.AccessToken, new { room_version = "6", initial_state = knockRule });
        var (oldStatus, _) = await server.SendAsync(HttpMethod.Post, $"{V3}/knock/{old.GetProperty("room_id").GetString()}", bob.AccessToken, new { });
        Assert.Equal(403, oldStatus);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task MembersAt_EarlierToken_ShowsMembershipOfThatTime(DatabaseEngine engine)
    {
        var (server, alice, bob) = await StartAsync(engine);
        await using var serverScope = server;
        var (_, created) = await server.SendAsync(HttpMethod.Post, $"{V3}/createRoom", alice.AccessToken, new { preset = "public_chat" });
        string roomId = created.GetProperty("room_id").GetString()!;
        string beforeBob = await SendTextAsync(server, alice, roomId, "before bob");
        var (_, context) = await server.SendAsync(HttpMethod.Get, $"{V3}/rooms/{roomId}/context/{beforeBob}?limit=0", alice.AccessToken);
        string at = context.GetProperty("end").GetString()!;
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"{V3}/join/{roomId}", bob.AccessToken, new { })).Status);

        var (_, now) = await server.SendAsync(HttpMethod.Get, $"{V3}/rooms/{roomId}/members", alice.AccessToken);
        var (atStatus, then) = await server.SendAsync(HttpMethod.Get, $"{V3}/rooms/{roomId}/members?at={Uri.EscapeDataString(at)}", alice.AccessToken);

        Assert.Equal(2, now.GetProperty("chunk").GetArrayLength());
        Assert.Equal(200, atStatus);
        Assert.Equal([alice.UserId], then.GetProperty("chunk").EnumerateArray().Select(m => m.GetProperty("state_key").GetString()));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Messages_LazyLoadMembers_ReturnsOnlySendersMemberEvents(DatabaseEngine engine)
    {
        var (server, alice, bob) = await StartAsync(engine);
        await using var serverScope = server;
        var carol = await server.RegisterAsync("carol");
        var (_, created) = await server.SendAsync(HttpMethod.Post, $"{V3}/createRoom", alice.AccessToken, new { preset = "public_chat" });
        string roomId = created.GetProperty("room_id").GetString()!;
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"{V3}/join/{roomId}", bob.AccessToken, new { })).Status);
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"{V3}/join/{roomId}", carol.AccessToken, new { })).Status);
        await SendTextAsync(server, bob, roomId, "only bob speaks");

        string filter = Uri.EscapeDataString("""{"lazy_load_members":true,"types":["m.room.message"]}""");
        var (status, page) = await server.SendAsync(HttpMethod.Get, $"{V3}/rooms/{roomId}/messages?dir=b&limit=1&filter={filter}", alice.AccessToken);

        Assert.Equal(200, status);
        Assert.Equal("only bob speaks", page.GetProperty("chunk")[0].GetProperty("content").GetProperty("body").GetString());
        var state = page.GetProperty("state").EnumerateArray().ToList();
        Assert.Equal([bob.UserId], state.Select(e => e.GetProperty("state_key").GetString()));
        Assert.All(state, e => Assert.Equal("m.room.member", e.GetProperty("type").GetString()));
    }
}
