using Microsoft.Extensions.DependencyInjection;
using Synapse.Configuration;
using Synapse.Storage;
using Synapse.Streams;
using Synapse.Sync;
using Synapse.Tests.Infrastructure;
using static Synapse.Tests.Sync.AccountDataAndReceiptsTestKit;

namespace Synapse.Tests.Sync;

/// <summary>Receipts and read markers over real HTTP, on each engine.</summary>
public sealed class ReceiptEndpointTests
{
    private static string ReadMarkers(string roomId) => $"{V3}/rooms/{Uri.EscapeDataString(roomId)}/read_markers";

    private static string FullyRead(Session who, string roomId) =>
        $"{V3}/user/{Uri.EscapeDataString(who.UserId)}/rooms/{Uri.EscapeDataString(roomId)}/account_data/m.fully_read";

    private static Task<ReceiptRecord?> StoredAsync(TestHomeserver server, string roomId, string type, Session who, string? thread = null) =>
        server.Services.GetRequiredService<IReceiptStore>().GetAsync(roomId, type, who.UserId, thread, default);

    [Theory, ClassData(typeof(Engines))]
    public async Task Receipt_Read_IsStoredAdvancesStreamAndWakesTheRoom(DatabaseEngine engine)
    {
        var (server, alice, bob, roomId) = await RoomAsync(engine);
        await using var _ = server;
        string message = await SendTextAsync(server, alice, roomId, "hello");
        var stream = server.Services.GetRequiredService<StreamRegistry>()[StreamNames.Receipts];
        long before = stream.Current;

        Assert.True(await WakesAsync(server, NotifierKey.Room(roomId), async () => AssertOk(await ReceiptAsync(server, bob, roomId, "m.read", message))));

        Assert.Equal(before + 1, stream.Current);
        var stored = await StoredAsync(server, roomId, "m.read", bob);
        Assert.NotNull(stored);
        Assert.Equal(message, stored.EventId);
        Assert.Null(stored.ThreadId);
        Assert.Contains("\"ts\":", stored.Data, StringComparison.Ordinal);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Receipt_ReadPrivate_WakesOnlyItsOwner(DatabaseEngine engine)
    {
        var (server, alice, bob, roomId) = await RoomAsync(engine);
        await using var _ = server;
        string message = await SendTextAsync(server, alice, roomId, "hello");

        // Bob is already online and active (he syncs): the receipt then changes nothing room-mates hear about.
        AssertOk(await server.SendAsync(HttpMethod.Get, $"{V3}/sync?timeout=0", bob.AccessToken));
        await server.Services.GetRequiredService<PresenceService>().WhenWrittenAsync();
        Assert.False(await WakesAsync(server, NotifierKey.Room(roomId),
            async () => AssertOk(await ReceiptAsync(server, bob, roomId, "m.read.private", message)), 300));
        Assert.NotNull(await StoredAsync(server, roomId, "m.read.private", bob));

        string next = await SendTextAsync(server, alice, roomId, "again");
        Assert.True(await WakesAsync(server, NotifierKey.User(bob.UserId),
            async () => AssertOk(await ReceiptAsync(server, bob, roomId, "m.read.private", next))));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Receipt_FullyReadType_MovesTheMarkerNotAReceipt(DatabaseEngine engine)
    {
        var (server, alice, bob, roomId) = await RoomAsync(engine);
        await using var _ = server;
        string message = await SendTextAsync(server, alice, roomId, "hello");
        var registry = server.Services.GetRequiredService<StreamRegistry>();
        long receiptsBefore = registry[StreamNames.Receipts].Current;

        Assert.True(await WakesAsync(server, NotifierKey.User(bob.UserId), async () => AssertOk(await ReceiptAsync(server, bob, roomId, "m.fully_read", message))));

        var (status, marker) = await server.SendAsync(HttpMethod.Get, FullyRead(bob, roomId), bob.AccessToken);
        Assert.Equal(200, status);
        Assert.Equal(message, marker.GetProperty("event_id").GetString());
        Assert.Equal(receiptsBefore, registry[StreamNames.Receipts].Current);
        Assert.Null(await StoredAsync(server, roomId, "m.fully_read", bob));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Receipt_EmptyBodyOrNone_IsUnthreaded(DatabaseEngine engine)
    {
        var (server, alice, bob, roomId) = await RoomAsync(engine);
        await using var _ = server;
        string message = await SendTextAsync(server, alice, roomId, "hello");

        AssertOk(await server.SendAsync(HttpMethod.Post, $"{V3}/rooms/{roomId}/receipt/m.read/{message}", bob.AccessToken));
        Assert.Equal(message, (await StoredAsync(server, roomId, "m.read", bob))?.EventId);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Receipt_OlderEventAfterNewer_KeepsTheNewerAndDoesNotAdvance(DatabaseEngine engine)
    {
        var (server, alice, bob, roomId) = await RoomAsync(engine);
        await using var _ = server;
        string first = await SendTextAsync(server, alice, roomId, "one");
        string second = await SendTextAsync(server, alice, roomId, "two");
        var stream = server.Services.GetRequiredService<StreamRegistry>()[StreamNames.Receipts];

        AssertOk(await ReceiptAsync(server, bob, roomId, "m.read", second));
        long afterSecond = stream.Current;
        AssertOk(await ReceiptAsync(server, bob, roomId, "m.read", first));
        AssertOk(await ReceiptAsync(server, bob, roomId, "m.read", second));

        Assert.Equal(second, (await StoredAsync(server, roomId, "m.read", bob))?.EventId);
        Assert.Equal(afterSecond, stream.Current);

        // Other types and threads move independently: a private receipt may lag behind the public one.
        AssertOk(await ReceiptAsync(server, bob, roomId, "m.read.private", first));
        Assert.Equal(first, (await StoredAsync(server, roomId, "m.read.private", bob))?.EventId);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Receipt_BadInput_AnswersTheSpecErrors(DatabaseEngine engine)
    {
        var (server, alice, bob, roomId) = await RoomAsync(engine);
        await using var _ = server;
        string message = await SendTextAsync(server, alice, roomId, "hello");
        string otherRoom = await CreateRoomAsync(server, alice);
        string elsewhere = await SendTextAsync(server, alice, otherRoom, "elsewhere");
        var carol = await server.RegisterAsync("carol");

        AssertError(401, "M_MISSING_TOKEN", await server.SendAsync(HttpMethod.Post, $"{V3}/rooms/{roomId}/receipt/m.read/{message}", null, new { }));
        AssertError(400, "M_INVALID_PARAM", await ReceiptAsync(server, bob, roomId, "m.unread", message));
        AssertError(400, "M_INVALID_PARAM", await ReceiptAsync(server, bob, roomId, "m.read", "not-an-event"));
        AssertError(400, "M_INVALID_PARAM", await ReceiptAsync(server, bob, "not-a-room", "m.read", message));
        AssertError(404, "M_NOT_FOUND", await ReceiptAsync(server, bob, roomId, "m.read", "$unknown:test.local"));
        AssertError(404, "M_NOT_FOUND", await ReceiptAsync(server, bob, roomId, "m.read", elsewhere));
        AssertError(403, "M_FORBIDDEN", await ReceiptAsync(server, carol, roomId, "m.read", message));
        AssertError(403, "M_FORBIDDEN", await ReceiptAsync(server, carol, "!unknown:test.local", "m.read", message));
        AssertError(400, "M_NOT_JSON", await ReceiptAsync(server, bob, roomId, "m.read", message, "{oops"));
        AssertError(400, "M_BAD_JSON", await ReceiptAsync(server, bob, roomId, "m.read", message, "[]"));
        AssertError(400, "M_INVALID_PARAM", await ReceiptAsync(server, bob, roomId, "m.read", message, new { thread_id = 5 }));
        AssertError(400, "M_INVALID_PARAM", await ReceiptAsync(server, bob, roomId, "m.read", message, new { thread_id = "" }));
        AssertError(400, "M_INVALID_PARAM", await ReceiptAsync(server, bob, roomId, "m.read", message, new { thread_id = "thread" }));
        AssertError(400, "M_INVALID_PARAM", await ReceiptAsync(server, bob, roomId, "m.fully_read", message, new { thread_id = "main" }));

        // After leaving, receipts are refused.
        AssertOk(await server.SendAsync(HttpMethod.Post, $"{V3}/rooms/{roomId}/leave", bob.AccessToken, new { }));
        AssertError(403, "M_FORBIDDEN", await ReceiptAsync(server, bob, roomId, "m.read", message));
        Assert.Null(await StoredAsync(server, roomId, "m.read", bob));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Receipt_Threaded_AcceptsEventsOfTheThreadOnly(DatabaseEngine engine)
    {
        var (server, alice, bob, roomId) = await RoomAsync(engine);
        await using var _ = server;
        string root = await SendTextAsync(server, alice, roomId, "root");
        string reply = await SendThreadReplyAsync(server, alice, roomId, root, "in thread");
        string reaction = await SendAsync(server, alice, roomId, new Dictionary<string, object>
        {
            ["m.relates_to"] = new { rel_type = "m.annotation", event_id = reply, key = "👍" },
        }, "m.reaction");
        string otherRoot = await SendTextAsync(server, alice, roomId, "other root");
        string mainMessage = await SendTextAsync(server, alice, roomId, "main");

        AssertOk(await ReceiptAsync(server, bob, roomId, "m.read", reply, new { thread_id = root }));
        AssertOk(await ReceiptAsync(server, bob, roomId, "m.read", reaction, new { thread_id = root }));
        AssertOk(await ReceiptAsync(server, bob, roomId, "m.read", root, new { thread_id = "main" }));
        AssertOk(await ReceiptAsync(server, bob, roomId, "m.read.private", mainMessage, new { thread_id = "main" }));
        AssertOk(await ReceiptAsync(server, bob, roomId, "m.read", mainMessage));

        AssertError(400, "M_INVALID_PARAM", await ReceiptAsync(server, bob, roomId, "m.read", reply, new { thread_id = "main" }));
        AssertError(400, "M_INVALID_PARAM", await ReceiptAsync(server, bob, roomId, "m.read", reply, new { thread_id = otherRoot }));
        AssertError(400, "M_INVALID_PARAM", await ReceiptAsync(server, bob, roomId, "m.read", mainMessage, new { thread_id = root }));

        // One receipt per (type, thread): the thread's, main's and the unthreaded one coexist.
        Assert.Equal(reaction, (await StoredAsync(server, roomId, "m.read", bob, root))?.EventId);
        Assert.Equal(root, (await StoredAsync(server, roomId, "m.read", bob, "main"))?.EventId);
        Assert.Equal(mainMessage, (await StoredAsync(server, roomId, "m.read", bob))?.EventId);
        Assert.Equal(mainMessage, (await StoredAsync(server, roomId, "m.read.private", bob, "main"))?.EventId);
        Assert.Contains("\"thread_id\":\"main\"", (await StoredAsync(server, roomId, "m.read", bob, "main"))!.Data, StringComparison.Ordinal);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task ReadMarkers_AllThree_MoveMarkerAndBothReceipts(DatabaseEngine engine)
    {
        var (server, alice, bob, roomId) = await RoomAsync(engine);
        await using var _ = server;
        string first = await SendTextAsync(server, alice, roomId, "one");
        string second = await SendTextAsync(server, alice, roomId, "two");
        var registry = server.Services.GetRequiredService<StreamRegistry>();
        long receipts = registry[StreamNames.Receipts].Current;
        long accountData = registry[StreamNames.AccountData].Current;

        AssertOk(await server.SendAsync(HttpMethod.Post, ReadMarkers(roomId), bob.AccessToken, new Dictionary<string, string>
        {
            ["m.fully_read"] = first, ["m.read"] = second, ["m.read.private"] = second,
        }));

        Assert.Equal(first, (await server.SendAsync(HttpMethod.Get, FullyRead(bob, roomId), bob.AccessToken)).Body.GetProperty("event_id").GetString());
        Assert.Equal(second, (await StoredAsync(server, roomId, "m.read", bob))?.EventId);
        Assert.Equal(second, (await StoredAsync(server, roomId, "m.read.private", bob))?.EventId);
        Assert.Equal(receipts + 2, registry[StreamNames.Receipts].Current);
        Assert.Equal(accountData + 1, registry[StreamNames.AccountData].Current);

        // The marker moves forward only; only the marker, or nothing at all, is fine too.
        AssertOk(await server.SendAsync(HttpMethod.Post, ReadMarkers(roomId), bob.AccessToken, new Dictionary<string, string> { ["m.fully_read"] = second }));
        AssertOk(await server.SendAsync(HttpMethod.Post, ReadMarkers(roomId), bob.AccessToken, new Dictionary<string, string> { ["m.fully_read"] = first }));
        AssertOk(await server.SendAsync(HttpMethod.Post, ReadMarkers(roomId), bob.AccessToken, new { }));
        Assert.Equal(second, (await server.SendAsync(HttpMethod.Get, FullyRead(bob, roomId), bob.AccessToken)).Body.GetProperty("event_id").GetString());
        Assert.Equal(accountData + 2, registry[StreamNames.AccountData].Current);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task ReadMarkers_BadInput_AnswersTheSpecErrorsAndWritesNothing(DatabaseEngine engine)
    {
        var (server, alice, bob, roomId) = await RoomAsync(engine);
        await using var _ = server;
        string message = await SendTextAsync(server, alice, roomId, "hello");
        var carol = await server.RegisterAsync("carol");

        AssertError(401, "M_MISSING_TOKEN", await server.SendAsync(HttpMethod.Post, ReadMarkers(roomId), null, new { }));
        AssertError(400, "M_NOT_JSON", await server.SendAsync(HttpMethod.Post, ReadMarkers(roomId), bob.AccessToken, "nope"));
        AssertError(400, "M_BAD_JSON", await server.SendAsync(HttpMethod.Post, ReadMarkers(roomId), bob.AccessToken, "[]"));
        AssertError(400, "M_BAD_JSON", await server.SendAsync(HttpMethod.Post, ReadMarkers(roomId), bob.AccessToken, """{"m.read": 1}"""));
        AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Post, ReadMarkers(roomId), bob.AccessToken, """{"m.fully_read": "x"}"""));
        AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Post, ReadMarkers("bad-room"), bob.AccessToken, new { }));
        AssertError(403, "M_FORBIDDEN", await server.SendAsync(HttpMethod.Post, ReadMarkers(roomId), carol.AccessToken,
            new Dictionary<string, string> { ["m.fully_read"] = message }));
        AssertError(403, "M_FORBIDDEN", await server.SendAsync(HttpMethod.Post, ReadMarkers("!unknown:test.local"), bob.AccessToken, new { }));

        // One unknown event fails the whole request before anything is written.
        AssertError(404, "M_NOT_FOUND", await server.SendAsync(HttpMethod.Post, ReadMarkers(roomId), bob.AccessToken, new Dictionary<string, string>
        {
            ["m.fully_read"] = message, ["m.read"] = "$missing:test.local",
        }));
        AssertError(404, "M_NOT_FOUND", await server.SendAsync(HttpMethod.Get, FullyRead(bob, roomId), bob.AccessToken));
        Assert.Null(await StoredAsync(server, roomId, "m.read", bob));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task ReceiptsStreamSource_AfterWrites_ReplaysRowsWithTheirNotifierKeys(DatabaseEngine engine)
    {
        var (server, alice, bob, roomId) = await RoomAsync(engine);
        await using var _ = server;
        string message = await SendTextAsync(server, alice, roomId, "hello");
        var source = server.Services.GetServices<IStreamSource>().Single(s => s.Stream == StreamNames.Receipts);
        long start = source.CurrentPosition;

        AssertOk(await ReceiptAsync(server, bob, roomId, "m.read", message, new { thread_id = "main" }));
        AssertOk(await ReceiptAsync(server, bob, roomId, "m.read.private", message));

        var updates = await source.GetUpdatesAsync(start, source.CurrentPosition, 10, default);
        Assert.Equal([start + 1, start + 2], updates.Select(u => u.Position));
        var read = Assert.Single(updates[0].Rows);
        Assert.Equal("main", (string?)read.Data["thread_id"]);
        Assert.Equal(message, (string?)read.Data["event_id"]);
        Assert.Equal([NotifierKey.Room(roomId)], read.NotifierKeys);
        Assert.Equal([NotifierKey.User(bob.UserId)], Assert.Single(updates[1].Rows).NotifierKeys);
    }
}
