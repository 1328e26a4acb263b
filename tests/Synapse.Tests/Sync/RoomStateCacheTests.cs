using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using Synapse.Configuration;
using Synapse.Tests.Infrastructure;

namespace Synapse.Tests.Sync;

/// <summary>
/// Lazy-loading syncs of a busy room (the load generator's <c>fanout</c>): the woken syncs after the first share the room's
/// current state, its lazy-loaded member events and its summary from memory, and what they share follows every state
/// change and redaction.
/// </summary>
public sealed class RoomStateCacheTests
{
    private const string V3 = "/_matrix/client/v3";

    /// <summary>What the load generator's listeners ask for: a timeline larger than the timeline cache holds, lazy members.</summary>
    private const string LazyFilter = """{"room":{"timeline":{"limit":200},"state":{"lazy_load_members":true}}}""";

    private static async Task<(TestHomeserver Server, Session Alice, Session Bob, Session Carol, string RoomId)> RoomAsync(
        DatabaseEngine engine, string? name, Func<HomeserverOptions, HomeserverOptions>? configure = null)
    {
        var server = await TestHomeserver.StartAsync(engine, configure);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");
        var carol = await server.RegisterAsync("carol");
        object request = name is null ? new { preset = "public_chat" } : new { preset = "public_chat", name };
        var (_, created) = await server.SendAsync(HttpMethod.Post, $"{V3}/createRoom", alice.AccessToken, request);
        string roomId = created.GetProperty("room_id").GetString()!;
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"{V3}/join/{roomId}", bob.AccessToken, new { })).Status);
        return (server, alice, bob, carol, roomId);
    }

    private static async Task<JsonElement> SyncAsync(TestHomeserver server, Session who, string? since)
    {
        string path = $"{V3}/sync?timeout=0&filter={Uri.EscapeDataString(LazyFilter)}"
            + (since is null ? "" : "&since=" + Uri.EscapeDataString(since));
        var (status, body) = await server.SendAsync(HttpMethod.Get, path, who.AccessToken);
        Assert.True(status == 200, $"sync: {status} {body}");
        return body;
    }

    private static async Task<string> SendAsync(TestHomeserver server, Session who, string roomId, string text)
    {
        var (status, body) = await server.SendAsync(HttpMethod.Put, $"{V3}/rooms/{roomId}/send/m.room.message/{Guid.NewGuid():N}",
            who.AccessToken, new { msgtype = "m.text", body = text });
        Assert.True(status == 200, $"send: {status} {body}");
        return body.GetProperty("event_id").GetString()!;
    }

    private static string NextBatch(JsonElement sync) => sync.GetProperty("next_batch").GetString()!;

    private static JsonElement Room(JsonElement sync, string roomId) => sync.GetProperty("rooms").GetProperty("join").GetProperty(roomId);

    private static JsonElement StateMember(JsonElement sync, string roomId, string userId) =>
        Room(sync, roomId).GetProperty("state").GetProperty("events").EnumerateArray()
            .Single(e => e.GetProperty("type").GetString() == "m.room.member" && e.GetProperty("state_key").GetString() == userId);

    private static List<string> Heroes(JsonElement sync, string roomId) =>
        Room(sync, roomId).GetProperty("summary").TryGetProperty("m.heroes", out var heroes)
            ? [.. heroes.EnumerateArray().Select(h => h.GetString()!)]
            : [];

    [Fact]
    public async Task WokenSyncs_LazyLoadingListeners_OnlyTheFirstReadsTheRoom()
    {
        // Statements are recorded for the whole database: the user directory's updater, another reader of it, stays off.
        var (server, alice, bob, carol, roomId) = await RoomAsync(DatabaseEngine.Postgres, "Busy room",
            o => UserDirectory.UserDirectorySearchTests.CopyWith(o, o.UserDirectory, updateUserDirectory: false));
        await using var _ = server;
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"{V3}/join/{roomId}", carol.AccessToken, new { })).Status);
        string bobSince = NextBatch(await SyncAsync(server, bob, null));
        string carolSince = NextBatch(await SyncAsync(server, carol, null));
        await SendAsync(server, alice, roomId, "first");
        bobSince = NextBatch(await SyncAsync(server, bob, bobSince));
        carolSince = NextBatch(await SyncAsync(server, carol, carolSince));

        using var statements = new StatementRecorder(server.Options.Database.DatabaseName!);
        string eventId = await SendAsync(server, alice, roomId, "second");
        statements.Take();

        // The first sync after the message reads the new event once (the timeline cache's extension) and nothing else of
        // the room: its current state, alice's member event and the summary are held since the first message.
        var bobSync = await SyncAsync(server, bob, bobSince);
        var bobReads = statements.Take().Where(IsRoomRead).ToList();
        Assert.True(bobReads.Count <= 1, $"{bobReads.Count} reads:\n" + string.Join("\n----\n", bobReads));

        var carolSync = await SyncAsync(server, carol, carolSince);
        var carolReads = statements.Take().Where(IsRoomRead).ToList();
        Assert.True(carolReads.Count == 0, $"{carolReads.Count} reads:\n" + string.Join("\n----\n", carolReads));

        foreach (var (sync, self) in new[] { (bobSync, bob), (carolSync, carol) })
        {
            var room = Room(sync, roomId);
            Assert.Equal([eventId], room.GetProperty("timeline").GetProperty("events").EnumerateArray()
                .Select(e => e.GetProperty("event_id").GetString()));
            Assert.Equal([alice.UserId, self.UserId], room.GetProperty("state").GetProperty("events").EnumerateArray()
                .Select(e => e.GetProperty("state_key").GetString()).Order(StringComparer.Ordinal));
            Assert.Equal(3, room.GetProperty("summary").GetProperty("m.joined_member_count").GetInt32());
            Assert.Empty(Heroes(sync, roomId));
        }

        static bool IsRoomRead(string sql) =>
            sql.Contains("FROM events", StringComparison.Ordinal) || sql.Contains("current_state_events", StringComparison.Ordinal)
            || sql.Contains("event_txn_ids", StringComparison.Ordinal);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task LazyLoadedMember_SenderChangesDisplayName_StateCarriesTheNewMemberEvent(DatabaseEngine engine)
    {
        var (server, alice, bob, _, roomId) = await RoomAsync(engine, "Profiles");
        await using var __ = server;
        string since = NextBatch(await SyncAsync(server, bob, null));
        await SendAsync(server, alice, roomId, "before");
        var before = await SyncAsync(server, bob, since);
        string oldMember = StateMember(before, roomId, alice.UserId).GetProperty("event_id").GetString()!;
        since = NextBatch(before);

        Assert.Equal(200, (await server.SendAsync(HttpMethod.Put, $"{V3}/profile/{Uri.EscapeDataString(alice.UserId)}/displayname",
            alice.AccessToken, new { displayname = "Alice Renamed" })).Status);
        since = NextBatch(await SyncAsync(server, bob, since));
        await SendAsync(server, alice, roomId, "after");
        var after = await SyncAsync(server, bob, since);

        var member = StateMember(after, roomId, alice.UserId);
        Assert.NotEqual(oldMember, member.GetProperty("event_id").GetString());
        Assert.Equal("Alice Renamed", member.GetProperty("content").GetProperty("displayname").GetString());
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task LazyLoadedMember_Redacted_IsServedRedacted(DatabaseEngine engine)
    {
        var (server, alice, bob, _, roomId) = await RoomAsync(engine, "Redactions");
        await using var __ = server;
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Put, $"{V3}/profile/{Uri.EscapeDataString(alice.UserId)}/displayname",
            alice.AccessToken, new { displayname = "Alice" })).Status);
        string since = NextBatch(await SyncAsync(server, bob, null));
        await SendAsync(server, alice, roomId, "one");
        var first = await SyncAsync(server, bob, since);
        var member = StateMember(first, roomId, alice.UserId);
        Assert.Equal("Alice", member.GetProperty("content").GetProperty("displayname").GetString());
        since = NextBatch(first);

        string memberId = member.GetProperty("event_id").GetString()!;
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Put, $"{V3}/rooms/{roomId}/redact/{Uri.EscapeDataString(memberId)}/r1",
            alice.AccessToken, new { })).Status);
        since = NextBatch(await SyncAsync(server, bob, since));
        await SendAsync(server, alice, roomId, "two");
        var second = await SyncAsync(server, bob, since);

        var redacted = StateMember(second, roomId, alice.UserId);
        Assert.Equal(memberId, redacted.GetProperty("event_id").GetString());
        Assert.False(redacted.GetProperty("content").TryGetProperty("displayname", out JsonElement _));
        Assert.Equal("join", redacted.GetProperty("content").GetProperty("membership").GetString());
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Summary_MembersJoinAndTheNameGoes_FollowsEveryChange(DatabaseEngine engine)
    {
        var (server, alice, bob, carol, roomId) = await RoomAsync(engine, "Named");
        await using var __ = server;
        string since = NextBatch(await SyncAsync(server, bob, null));
        await SendAsync(server, alice, roomId, "one");
        var named = await SyncAsync(server, bob, since);
        Assert.Equal(2, Room(named, roomId).GetProperty("summary").GetProperty("m.joined_member_count").GetInt32());
        Assert.Empty(Heroes(named, roomId));
        since = NextBatch(named);

        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"{V3}/join/{roomId}", carol.AccessToken, new { })).Status);
        var joined = await SyncAsync(server, bob, since);
        Assert.Equal(3, Room(joined, roomId).GetProperty("summary").GetProperty("m.joined_member_count").GetInt32());
        since = NextBatch(joined);

        // A redacted name names nothing: the heroes appear.
        var (_, nameEvent) = await server.SendAsync(HttpMethod.Get, $"{V3}/rooms/{roomId}/state", alice.AccessToken);
        string nameId = nameEvent.EnumerateArray().Single(e => e.GetProperty("type").GetString() == "m.room.name")
            .GetProperty("event_id").GetString()!;
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Put, $"{V3}/rooms/{roomId}/redact/{Uri.EscapeDataString(nameId)}/r1",
            alice.AccessToken, new { })).Status);
        since = NextBatch(await SyncAsync(server, bob, since));
        await SendAsync(server, alice, roomId, "two");
        var unnamed = await SyncAsync(server, bob, since);
        Assert.Equal([alice.UserId, carol.UserId], Heroes(unnamed, roomId));
        since = NextBatch(unnamed);

        // Named again, then the name emptied by a state event.
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Put, $"{V3}/rooms/{roomId}/state/m.room.name", alice.AccessToken,
            new { name = "Named again" })).Status);
        await SendAsync(server, alice, roomId, "three");
        var renamed = await SyncAsync(server, bob, since);
        Assert.Empty(Heroes(renamed, roomId));
        since = NextBatch(renamed);

        Assert.Equal(200, (await server.SendAsync(HttpMethod.Put, $"{V3}/rooms/{roomId}/state/m.room.name", alice.AccessToken,
            new { name = "" })).Status);
        since = NextBatch(await SyncAsync(server, bob, since));
        await SendAsync(server, alice, roomId, "four");
        var emptied = await SyncAsync(server, bob, since);
        Assert.Equal([alice.UserId, carol.UserId], Heroes(emptied, roomId));
    }
}
