using System.Text.Json;
using Synapse.Configuration;
using Synapse.Tests.Infrastructure;

namespace Synapse.Tests.Http;

/// <summary>Event relationships (edits, reactions, threads, references), /relations, /threads and /timestamp_to_event.</summary>
public sealed class RelationsTests
{
    private const string V1 = "/_matrix/client/v1";
    private const string V3 = "/_matrix/client/v3";

    private static async Task<(TestHomeserver Server, Session Alice, Session Bob, string RoomId)> StartAsync(DatabaseEngine engine)
    {
        var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");
        var (status, created) = await server.SendAsync(HttpMethod.Post, $"{V3}/createRoom", alice.AccessToken,
            new { preset = "public_chat" });
        Assert.Equal(200, status);
        string roomId = created.GetProperty("room_id").GetString()!;
        await JoinAsync(server, bob, roomId);
        return (server, alice, bob, roomId);
    }

    private static async Task JoinAsync(TestHomeserver server, Session who, string roomId)
    {
        var (status, body) = await server.SendAsync(HttpMethod.Post, $"{V3}/join/{roomId}", who.AccessToken, new { });
        Assert.True(status == 200, $"join failed: {status} {body}");
    }

    private static async Task<string> SendAsync(TestHomeserver server, Session who, string roomId, string type, object content)
    {
        var (status, body) = await server.SendAsync(HttpMethod.Put,
            $"{V3}/rooms/{roomId}/send/{type}/{Guid.NewGuid():N}", who.AccessToken, content);
        Assert.True(status == 200, $"send failed: {status} {body}");
        return body.GetProperty("event_id").GetString()!;
    }

    private static Task<string> TextAsync(TestHomeserver server, Session who, string roomId, string text) =>
        SendAsync(server, who, roomId, "m.room.message", new { msgtype = "m.text", body = text });

    private static Task<string> RelateAsync(TestHomeserver server, Session who, string roomId, string type, string relType,
        string target, string? key = null, object? newContent = null, string body = "related")
    {
        var relatesTo = new Dictionary<string, object> { ["rel_type"] = relType, ["event_id"] = target };
        if (key is not null)
        {
            relatesTo["key"] = key;
        }

        var content = new Dictionary<string, object> { ["m.relates_to"] = relatesTo };
        if (type == "m.room.message")
        {
            content["msgtype"] = "m.text";
            content["body"] = body;
        }

        if (newContent is not null)
        {
            content["m.new_content"] = newContent;
        }

        return SendAsync(server, who, roomId, type, content);
    }

    /// <summary>Consecutive events get distinct origin_server_ts, so "most recent" is decided by time, not by event ID.</summary>
    private static Task TickAsync() => Task.Delay(15);

    private static async Task<JsonElement> GetOkAsync(TestHomeserver server, string path, Session who)
    {
        var (status, body) = await server.SendAsync(HttpMethod.Get, path, who.AccessToken);
        Assert.True(status == 200, $"GET {path}: {status} {body}");
        return body;
    }

    private static Task<JsonElement> GetEventAsync(TestHomeserver server, Session who, string roomId, string eventId) =>
        GetOkAsync(server, $"{V3}/rooms/{roomId}/event/{eventId}", who);

    private static List<string> Ids(JsonElement chunk) =>
        chunk.EnumerateArray().Select(e => e.GetProperty("event_id").GetString()!).ToList();

    private static bool HasRelations(JsonElement clientEvent, out JsonElement relations)
    {
        relations = default;
        return clientEvent.TryGetProperty("unsigned", out var unsigned) && unsigned.TryGetProperty("m.relations", out relations);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Edits_TwoOwnEditsAndForeignEdit_LatestValidEditBundledContentUntouched(DatabaseEngine engine)
    {
        var (server, alice, bob, roomId) = await StartAsync(engine);
        await using var serverScope = server;

        string original = await TextAsync(server, alice, roomId, "I like cake");
        await TickAsync();
        string edit1 = await RelateAsync(server, alice, roomId, "m.room.message", "m.replace", original,
            newContent: new { msgtype = "m.text", body = "I like chocolate cake" }, body: "* I like chocolate cake");
        await TickAsync();
        string edit2 = await RelateAsync(server, alice, roomId, "m.room.message", "m.replace", original,
            newContent: new { msgtype = "m.text", body = "I love chocolate cake" }, body: "* I love chocolate cake");
        await TickAsync();

        // Invalid replacements, all newer: another sender, no m.new_content, another event type.
        await RelateAsync(server, bob, roomId, "m.room.message", "m.replace", original,
            newContent: new { msgtype = "m.text", body = "Bob was here" });
        await RelateAsync(server, alice, roomId, "m.room.message", "m.replace", original);
        await RelateAsync(server, alice, roomId, "org.example.other", "m.replace", original,
            newContent: new { body = "other type" });

        var served = await GetEventAsync(server, bob, roomId, original);
        Assert.Equal("I like cake", served.GetProperty("content").GetProperty("body").GetString());
        Assert.True(HasRelations(served, out var relations));
        var replace = relations.GetProperty("m.replace");
        Assert.Equal(edit2, replace.GetProperty("event_id").GetString());
        Assert.Equal(alice.UserId, replace.GetProperty("sender").GetString());
        Assert.Equal(roomId, replace.GetProperty("room_id").GetString());
        Assert.True(replace.GetProperty("origin_server_ts").GetInt64() > 0);
        Assert.Equal("I love chocolate cake", replace.GetProperty("content").GetProperty("m.new_content").GetProperty("body").GetString());

        // /messages and /context bundle the same way; the edits themselves carry no aggregation.
        var messages = await GetOkAsync(server, $"{V3}/rooms/{roomId}/messages?dir=b&limit=50", bob);
        foreach (var e in messages.GetProperty("chunk").EnumerateArray())
        {
            string id = e.GetProperty("event_id").GetString()!;
            if (id == original)
            {
                Assert.True(HasRelations(e, out var fromMessages));
                Assert.Equal(edit2, fromMessages.GetProperty("m.replace").GetProperty("event_id").GetString());
            }
            else
            {
                Assert.False(HasRelations(e, out _), $"{id} should have no bundled aggregation");
            }
        }

        var context = await GetOkAsync(server, $"{V3}/rooms/{roomId}/context/{original}?limit=2", bob);
        Assert.True(HasRelations(context.GetProperty("event"), out var fromContext));
        Assert.Equal(edit2, fromContext.GetProperty("m.replace").GetProperty("event_id").GetString());

        // Redacting the latest edit reverts to the one before it.
        var (redactStatus, _) = await server.SendAsync(HttpMethod.Put, $"{V3}/rooms/{roomId}/redact/{edit2}/r1", alice.AccessToken, new { });
        Assert.Equal(200, redactStatus);
        served = await GetEventAsync(server, bob, roomId, original);
        Assert.True(HasRelations(served, out relations));
        Assert.Equal(edit1, relations.GetProperty("m.replace").GetProperty("event_id").GetString());

        // A redacted original bundles no replacement.
        (redactStatus, _) = await server.SendAsync(HttpMethod.Put, $"{V3}/rooms/{roomId}/redact/{original}/r2", alice.AccessToken, new { });
        Assert.Equal(200, redactStatus);
        served = await GetEventAsync(server, bob, roomId, original);
        Assert.False(HasRelations(served, out relations) && relations.TryGetProperty("m.replace", out _));

        // The edits remain listed by /relations; the redacted one does not (its relation is broken).
        var listed = await GetOkAsync(server, $"{V1}/rooms/{roomId}/relations/{original}/m.replace?limit=10", bob);
        var ids = Ids(listed.GetProperty("chunk"));
        Assert.Contains(edit1, ids);
        Assert.DoesNotContain(edit2, ids);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Reactions_ListedByRelTypeAndEventType_NotBundled(DatabaseEngine engine)
    {
        var (server, alice, bob, roomId) = await StartAsync(engine);
        await using var serverScope = server;

        string message = await TextAsync(server, alice, roomId, "lunch?");
        string thumbs = await RelateAsync(server, bob, roomId, "m.reaction", "m.annotation", message, key: "👍");
        string party = await RelateAsync(server, alice, roomId, "m.reaction", "m.annotation", message, key: "🎉");
        string custom = await RelateAsync(server, bob, roomId, "org.example.vote", "m.annotation", message, key: "yes");
        string reply = await RelateAsync(server, bob, roomId, "m.room.message", "m.thread", message);

        var all = await GetOkAsync(server, $"{V1}/rooms/{roomId}/relations/{message}?limit=10", alice);
        Assert.Equal([reply, custom, party, thumbs], Ids(all.GetProperty("chunk")));
        Assert.False(all.TryGetProperty("next_batch", out _));
        Assert.False(all.TryGetProperty("prev_batch", out _));
        Assert.False(all.TryGetProperty("recursion_depth", out _));

        var annotations = await GetOkAsync(server, $"{V1}/rooms/{roomId}/relations/{message}/m.annotation?limit=10", alice);
        Assert.Equal([custom, party, thumbs], Ids(annotations.GetProperty("chunk")));
        var first = annotations.GetProperty("chunk")[0];
        Assert.Equal("org.example.vote", first.GetProperty("type").GetString());
        Assert.Equal("yes", first.GetProperty("content").GetProperty("m.relates_to").GetProperty("key").GetString());

        var reactions = await GetOkAsync(server, $"{V1}/rooms/{roomId}/relations/{message}/m.annotation/m.reaction?limit=10", alice);
        Assert.Equal([party, thumbs], Ids(reactions.GetProperty("chunk")));

        var none = await GetOkAsync(server, $"{V1}/rooms/{roomId}/relations/{message}/m.reference", alice);
        Assert.Empty(none.GetProperty("chunk").EnumerateArray());

        // Spec v1.7: m.annotation has no server-side aggregation.
        var served = await GetEventAsync(server, alice, roomId, message);
        Assert.True(HasRelations(served, out var relations));
        Assert.False(relations.TryGetProperty("m.annotation", out _));

        // A redacted reaction leaves the list.
        var (redactStatus, _) = await server.SendAsync(HttpMethod.Put, $"{V3}/rooms/{roomId}/redact/{thumbs}/r1", bob.AccessToken, new { });
        Assert.Equal(200, redactStatus);
        reactions = await GetOkAsync(server, $"{V1}/rooms/{roomId}/relations/{message}/m.annotation/m.reaction", alice);
        Assert.Equal([party], Ids(reactions.GetProperty("chunk")));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Threads_Replies_BundledSummaryListAndRecursion(DatabaseEngine engine)
    {
        var (server, alice, bob, roomId) = await StartAsync(engine);
        await using var serverScope = server;
        var carol = await server.RegisterAsync("carol");
        await JoinAsync(server, carol, roomId);

        string root = await TextAsync(server, alice, roomId, "thread root");
        string reply1 = await RelateAsync(server, bob, roomId, "m.room.message", "m.thread", root, body: "first");
        string reply2 = await RelateAsync(server, bob, roomId, "m.room.message", "m.thread", root, body: "second");
        string reaction = await RelateAsync(server, alice, roomId, "m.reaction", "m.annotation", reply1, key: "👀");
        await TickAsync();
        string edit = await RelateAsync(server, bob, roomId, "m.room.message", "m.replace", reply2,
            newContent: new { msgtype = "m.text", body = "second, edited" });
        string other = await TextAsync(server, carol, roomId, "unthreaded");

        // Bob replied, Alice sent the root, Carol neither.
        foreach (var (who, participated) in new[] { (bob, true), (alice, true), (carol, false) })
        {
            var served = await GetEventAsync(server, who, roomId, root);
            Assert.True(HasRelations(served, out var relations));
            var thread = relations.GetProperty("m.thread");
            Assert.Equal(2, thread.GetProperty("count").GetInt32());
            Assert.Equal(participated, thread.GetProperty("current_user_participated").GetBoolean());
            var latest = thread.GetProperty("latest_event");
            Assert.Equal(reply2, latest.GetProperty("event_id").GetString());
            Assert.Equal("second", latest.GetProperty("content").GetProperty("body").GetString());

            // The latest event carries its own aggregations (its edit).
            Assert.True(HasRelations(latest, out var nested));
            Assert.Equal(edit, nested.GetProperty("m.replace").GetProperty("event_id").GetString());
        }

        var threadEvents = await GetOkAsync(server, $"{V1}/rooms/{roomId}/relations/{root}/m.thread", carol);
        Assert.Equal([reply2, reply1], Ids(threadEvents.GetProperty("chunk")));

        // recurse follows relations of relations (the reaction to reply1) and reports its depth; filters apply per hop.
        var recursive = await GetOkAsync(server, $"{V1}/rooms/{roomId}/relations/{root}?recurse=true&limit=10", carol);
        Assert.Equal([edit, reaction, reply2, reply1], Ids(recursive.GetProperty("chunk")));
        Assert.Equal(3, recursive.GetProperty("recursion_depth").GetInt32());
        var direct = await GetOkAsync(server, $"{V1}/rooms/{roomId}/relations/{root}?recurse=false&limit=10", carol);
        Assert.Equal([reply2, reply1], Ids(direct.GetProperty("chunk")));
        Assert.Equal(1, direct.GetProperty("recursion_depth").GetInt32());
        var threadOnly = await GetOkAsync(server, $"{V1}/rooms/{roomId}/relations/{root}/m.thread?recurse=true", carol);
        Assert.Equal([reply2, reply1], Ids(threadOnly.GetProperty("chunk")));

        // A second thread, more recent: /threads orders by latest reply.
        string root2 = await TextAsync(server, carol, roomId, "another root");
        await RelateAsync(server, carol, roomId, "m.room.message", "m.thread", root2);
        var threads = await GetOkAsync(server, $"{V1}/rooms/{roomId}/threads", carol);
        Assert.Equal([root2, root], Ids(threads.GetProperty("chunk")));
        Assert.True(HasRelations(threads.GetProperty("chunk")[1], out var listed));
        Assert.Equal(2, listed.GetProperty("m.thread").GetProperty("count").GetInt32());

        var paged = await GetOkAsync(server, $"{V1}/rooms/{roomId}/threads?limit=1", carol);
        Assert.Equal([root2], Ids(paged.GetProperty("chunk")));
        string next = paged.GetProperty("next_batch").GetString()!;
        paged = await GetOkAsync(server, $"{V1}/rooms/{roomId}/threads?limit=1&from={Uri.EscapeDataString(next)}", carol);
        Assert.Equal([root], Ids(paged.GetProperty("chunk")));
        Assert.False(paged.TryGetProperty("next_batch", out _));

        var bobs = await GetOkAsync(server, $"{V1}/rooms/{roomId}/threads?include=participated", bob);
        Assert.Equal([root], Ids(bobs.GetProperty("chunk")));
        var carols = await GetOkAsync(server, $"{V1}/rooms/{roomId}/threads?include=participated", carol);
        Assert.Equal([root2], Ids(carols.GetProperty("chunk")));

        // Events that are not thread roots get no thread summary.
        Assert.False(HasRelations(await GetEventAsync(server, carol, roomId, other), out _));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task References_TwoReferences_BundledAsChunkOfIds(DatabaseEngine engine)
    {
        var (server, alice, bob, roomId) = await StartAsync(engine);
        await using var serverScope = server;

        string start = await SendAsync(server, alice, roomId, "org.example.poll", new { question = "tea or coffee?" });
        string vote1 = await RelateAsync(server, bob, roomId, "org.example.response", "m.reference", start);
        string vote2 = await RelateAsync(server, alice, roomId, "org.example.response", "m.reference", start);

        var served = await GetEventAsync(server, bob, roomId, start);
        Assert.True(HasRelations(served, out var relations));
        var chunk = relations.GetProperty("m.reference").GetProperty("chunk");
        Assert.Equal([vote1, vote2], Ids(chunk));
        Assert.All(chunk.EnumerateArray(), item => Assert.Single(item.EnumerateObject()));
        Assert.False(relations.TryGetProperty("m.thread", out _));

        var listed = await GetOkAsync(server, $"{V1}/rooms/{roomId}/relations/{start}/m.reference/org.example.response", alice);
        Assert.Equal([vote2, vote1], Ids(listed.GetProperty("chunk")));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Relations_Paginated_NextBatchBothDirectionsAndTo(DatabaseEngine engine)
    {
        var (server, alice, bob, roomId) = await StartAsync(engine);
        await using var serverScope = server;

        string message = await TextAsync(server, alice, roomId, "react to me");
        var reactions = new List<string>();
        for (int i = 0; i < 7; i++)
        {
            reactions.Add(await RelateAsync(server, i % 2 == 0 ? bob : alice, roomId, "m.reaction", "m.annotation", message,
                key: $"k{i}"));
        }

        // Backwards (the default), three at a time.
        var seen = new List<string>();
        string? from = null;
        var pages = new List<int>();
        do
        {
            var page = await GetOkAsync(server, $"{V1}/rooms/{roomId}/relations/{message}/m.annotation?limit=3"
                + (from is null ? "" : "&from=" + Uri.EscapeDataString(from)), alice);
            if (from is not null)
            {
                Assert.Equal(from, page.GetProperty("prev_batch").GetString());
            }

            var ids = Ids(page.GetProperty("chunk"));
            pages.Add(ids.Count);
            seen.AddRange(ids);
            from = page.TryGetProperty("next_batch", out var next) ? next.GetString() : null;
        }
        while (from is not null);

        Assert.Equal([3, 3, 1], pages);
        Assert.Equal(Enumerable.Reverse(reactions), seen);

        // Forwards, oldest first.
        var forward = await GetOkAsync(server, $"{V1}/rooms/{roomId}/relations/{message}?dir=f&limit=4", alice);
        Assert.Equal(reactions.Take(4), Ids(forward.GetProperty("chunk")));
        string forwardNext = forward.GetProperty("next_batch").GetString()!;
        var rest = await GetOkAsync(server, $"{V1}/rooms/{roomId}/relations/{message}?dir=f&limit=10&from={Uri.EscapeDataString(forwardNext)}", alice);
        Assert.Equal(reactions.Skip(4), Ids(rest.GetProperty("chunk")));
        Assert.False(rest.TryGetProperty("next_batch", out _));

        // `to` stops the walk: from the newest to the boundary after the fourth reaction.
        var bounded = await GetOkAsync(server, $"{V1}/rooms/{roomId}/relations/{message}?limit=10&to={Uri.EscapeDataString(forwardNext)}", alice);
        Assert.Equal(Enumerable.Reverse(reactions.Skip(4)), Ids(bounded.GetProperty("chunk")));

        // A token from /messages works too.
        var messages = await GetOkAsync(server, $"{V3}/rooms/{roomId}/messages?dir=b&limit=3", alice);
        string messagesEnd = messages.GetProperty("end").GetString()!;
        var fromMessages = await GetOkAsync(server, $"{V1}/rooms/{roomId}/relations/{message}?limit=10&from={Uri.EscapeDataString(messagesEnd)}", alice);
        Assert.Equal(Enumerable.Reverse(reactions.Take(4)), Ids(fromMessages.GetProperty("chunk")));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Relations_Visibility_OutsiderGets404AndLeaverSeesOnlyEarlierChildren(DatabaseEngine engine)
    {
        var (server, alice, bob, roomId) = await StartAsync(engine);
        await using var serverScope = server;
        var eve = await server.RegisterAsync("eve");
        var dave = await server.RegisterAsync("dave");

        // Private history: only members see events ("shared" from their join on, plus what was sent while joined).
        var (stateStatus, _) = await server.SendAsync(HttpMethod.Put, $"{V3}/rooms/{roomId}/state/m.room.history_visibility",
            alice.AccessToken, new { history_visibility = "joined" });
        Assert.Equal(200, stateStatus);
        await JoinAsync(server, eve, roomId);
        string root = await TextAsync(server, alice, roomId, "root");
        string seenByEve = await RelateAsync(server, bob, roomId, "m.room.message", "m.thread", root, body: "eve sees this");
        var (leaveStatus, _) = await server.SendAsync(HttpMethod.Post, $"{V3}/rooms/{roomId}/leave", eve.AccessToken, new { });
        Assert.Equal(200, leaveStatus);
        string hidden = await RelateAsync(server, bob, roomId, "m.room.message", "m.thread", root, body: "after eve left");

        var (outsiderStatus, outsider) = await server.SendAsync(HttpMethod.Get, $"{V1}/rooms/{roomId}/relations/{root}", dave.AccessToken);
        Assert.Equal(404, outsiderStatus);
        Assert.Equal("M_NOT_FOUND", outsider.GetProperty("errcode").GetString());

        var forEve = await GetOkAsync(server, $"{V1}/rooms/{roomId}/relations/{root}", eve);
        Assert.Equal([seenByEve], Ids(forEve.GetProperty("chunk")));
        var forBob = await GetOkAsync(server, $"{V1}/rooms/{roomId}/relations/{root}", bob);
        Assert.Equal([hidden, seenByEve], Ids(forBob.GetProperty("chunk")));

        // Eve's bundle names the latest reply she can see.
        var served = await GetEventAsync(server, eve, roomId, root);
        Assert.True(HasRelations(served, out var relations));
        Assert.Equal(seenByEve, relations.GetProperty("m.thread").GetProperty("latest_event").GetProperty("event_id").GetString());

        // Neither may an outsider list threads or look up timestamps.
        var (threadsStatus, threads) = await server.SendAsync(HttpMethod.Get, $"{V1}/rooms/{roomId}/threads", dave.AccessToken);
        Assert.Equal(403, threadsStatus);
        Assert.Equal("M_FORBIDDEN", threads.GetProperty("errcode").GetString());
        var (tsStatus, ts) = await server.SendAsync(HttpMethod.Get, $"{V1}/rooms/{roomId}/timestamp_to_event?ts=0&dir=f", dave.AccessToken);
        Assert.Equal(403, tsStatus);
        Assert.Equal("M_FORBIDDEN", ts.GetProperty("errcode").GetString());
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task TimestampToEvent_BothDirections_ClosestEventOrNotFound(DatabaseEngine engine)
    {
        var (server, alice, bob, roomId) = await StartAsync(engine);
        await using var serverScope = server;

        await TickAsync();
        string first = await TextAsync(server, alice, roomId, "one");
        await TickAsync();
        string second = await TextAsync(server, bob, roomId, "two");
        await TickAsync();
        string third = await TextAsync(server, alice, roomId, "three");
        long secondTs = (await GetEventAsync(server, alice, roomId, second)).GetProperty("origin_server_ts").GetInt64();
        long thirdTs = (await GetEventAsync(server, alice, roomId, third)).GetProperty("origin_server_ts").GetInt64();

        async Task<string> LookupAsync(long ts, string dir)
        {
            var body = await GetOkAsync(server, $"{V1}/rooms/{roomId}/timestamp_to_event?ts={ts}&dir={dir}", bob);
            Assert.True(body.GetProperty("origin_server_ts").GetInt64() > 0);
            return body.GetProperty("event_id").GetString()!;
        }

        Assert.Equal(second, await LookupAsync(secondTs, "f"));
        Assert.Equal(second, await LookupAsync(secondTs, "b"));
        Assert.Equal(third, await LookupAsync(secondTs + 1, "f"));
        Assert.Equal(second, await LookupAsync(thirdTs - 1, "b"));
        Assert.Equal(first, await LookupAsync(secondTs - 1, "b"));
        Assert.Equal(third, await LookupAsync(long.MaxValue, "b"));

        // The first event of the room is its creation.
        var create = await GetEventAsync(server, bob, roomId, await LookupAsync(0, "f"));
        Assert.Equal("m.room.create", create.GetProperty("type").GetString());

        var timestamp = await GetOkAsync(server, $"{V1}/rooms/{roomId}/timestamp_to_event?ts={secondTs}&dir=f", bob);
        Assert.Equal(secondTs, timestamp.GetProperty("origin_server_ts").GetInt64());

        foreach (string query in new[] { $"ts={thirdTs + 1}&dir=f", "ts=0&dir=b" })
        {
            var (status, body) = await server.SendAsync(HttpMethod.Get, $"{V1}/rooms/{roomId}/timestamp_to_event?{query}", bob.AccessToken);
            Assert.Equal(404, status);
            Assert.Equal("M_NOT_FOUND", body.GetProperty("errcode").GetString());
        }
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Endpoints_BadInput_SpecErrors(DatabaseEngine engine)
    {
        var (server, alice, bob, roomId) = await StartAsync(engine);
        await using var serverScope = server;
        string message = await TextAsync(server, alice, roomId, "hello");
        var (otherStatus, otherRoom) = await server.SendAsync(HttpMethod.Post, $"{V3}/createRoom", alice.AccessToken, new { });
        Assert.Equal(200, otherStatus);
        string elsewhere = await TextAsync(server, alice, otherRoom.GetProperty("room_id").GetString()!, "elsewhere");

        string relations = $"{V1}/rooms/{roomId}/relations/{message}";
        string threads = $"{V1}/rooms/{roomId}/threads";
        string timestamp = $"{V1}/rooms/{roomId}/timestamp_to_event";
        var cases = new (string Path, string? Token, int Status, string ErrCode)[]
        {
            (relations, null, 401, "M_MISSING_TOKEN"),
            (relations, "not-a-token", 401, "M_UNKNOWN_TOKEN"),
            ($"{relations}?dir=x", alice.AccessToken, 400, "M_INVALID_PARAM"),
            ($"{relations}?limit=-1", alice.AccessToken, 400, "M_INVALID_PARAM"),
            ($"{relations}?limit=ten", alice.AccessToken, 400, "M_INVALID_PARAM"),
            ($"{relations}?from=garbage", alice.AccessToken, 400, "M_INVALID_PARAM"),
            ($"{relations}?to=garbage", alice.AccessToken, 400, "M_INVALID_PARAM"),
            ($"{relations}?recurse=maybe", alice.AccessToken, 400, "M_INVALID_PARAM"),
            ($"{relations}/m.annotation?dir=sideways", alice.AccessToken, 400, "M_INVALID_PARAM"),
            ($"{relations}/m.annotation/m.reaction?limit=x", alice.AccessToken, 400, "M_INVALID_PARAM"),
            ($"{V1}/rooms/{roomId}/relations/$unknown:test.local", alice.AccessToken, 404, "M_NOT_FOUND"),
            ($"{V1}/rooms/{roomId}/relations/{elsewhere}", alice.AccessToken, 404, "M_NOT_FOUND"),
            ($"{V1}/rooms/!nowhere:test.local/relations/{message}", alice.AccessToken, 404, "M_NOT_FOUND"),
            ($"{V1}/rooms/not-a-room/relations/{message}", alice.AccessToken, 400, "M_INVALID_PARAM"),
            (threads, null, 401, "M_MISSING_TOKEN"),
            ($"{threads}?include=some", alice.AccessToken, 400, "M_INVALID_PARAM"),
            ($"{threads}?limit=0", alice.AccessToken, 400, "M_INVALID_PARAM"),
            ($"{threads}?limit=-5", alice.AccessToken, 400, "M_INVALID_PARAM"),
            ($"{threads}?from=garbage", alice.AccessToken, 400, "M_INVALID_PARAM"),
            ($"{V1}/rooms/!nowhere:test.local/threads", alice.AccessToken, 403, "M_FORBIDDEN"),
            ($"{V1}/rooms/not-a-room/threads", alice.AccessToken, 400, "M_INVALID_PARAM"),
            ($"{timestamp}?ts=1&dir=f", null, 401, "M_MISSING_TOKEN"),
            ($"{timestamp}?dir=f", alice.AccessToken, 400, "M_MISSING_PARAM"),
            ($"{timestamp}?ts=1", alice.AccessToken, 400, "M_MISSING_PARAM"),
            ($"{timestamp}?ts=yesterday&dir=f", alice.AccessToken, 400, "M_INVALID_PARAM"),
            ($"{timestamp}?ts=1.5&dir=f", alice.AccessToken, 400, "M_INVALID_PARAM"),
            ($"{timestamp}?ts=1&dir=up", alice.AccessToken, 400, "M_INVALID_PARAM"),
            ($"{V1}/rooms/!nowhere:test.local/timestamp_to_event?ts=1&dir=f", alice.AccessToken, 403, "M_FORBIDDEN"),
            ($"{V1}/rooms/not-a-room/timestamp_to_event?ts=1&dir=f", alice.AccessToken, 400, "M_INVALID_PARAM"),
        };

        foreach (var (path, token, expectedStatus, errcode) in cases)
        {
            var (status, body) = await server.SendAsync(HttpMethod.Get, path, token);
            Assert.True(status == expectedStatus, $"GET {path}: expected {expectedStatus}, got {status} {body}");
            Assert.Equal(errcode, body.GetProperty("errcode").GetString());
        }

        // The endpoints exist only under v1.
        var (v3Status, v3Body) = await server.SendAsync(HttpMethod.Get, $"{V3}/rooms/{roomId}/relations/{message}", bob.AccessToken);
        Assert.Equal(404, v3Status);
        Assert.Equal("M_UNRECOGNIZED", v3Body.GetProperty("errcode").GetString());

        // limit=0 on /relations is accepted (clamped to one event).
        var clamped = await GetOkAsync(server, $"{relations}?limit=0", bob);
        Assert.Empty(clamped.GetProperty("chunk").EnumerateArray());
    }
}
