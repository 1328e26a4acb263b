using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Synapse.Accounts;
using Synapse.Configuration;
using Synapse.Identifiers;
using Synapse.Streams;
using Synapse.Sync;
using Synapse.Tests.Infrastructure;

namespace Synapse.Tests.Sync;

/// <summary>Shared set-up of the account data and receipt tests: a server, two users, a room both joined.</summary>
internal static class AccountDataAndReceiptsTestKit
{
    public const string V3 = "/_matrix/client/v3";

    public static async Task<(TestHomeserver Server, Session Alice, Session Bob, string RoomId)> RoomAsync(DatabaseEngine engine,
        bool bobJoins = true)
    {
        var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");
        string roomId = await CreateRoomAsync(server, alice);
        if (bobJoins)
        {
            await JoinAsync(server, bob, roomId);
        }

        return (server, alice, bob, roomId);
    }

    public static async Task<string> CreateRoomAsync(TestHomeserver server, Session creator)
    {
        var (status, created) = await server.SendAsync(HttpMethod.Post, $"{V3}/createRoom", creator.AccessToken, new { preset = "public_chat" });
        Assert.True(status == 200, $"createRoom: {status} {created}");
        return created.GetProperty("room_id").GetString()!;
    }

    public static async Task JoinAsync(TestHomeserver server, Session who, string roomId)
    {
        var (status, body) = await server.SendAsync(HttpMethod.Post, $"{V3}/join/{roomId}", who.AccessToken, new { });
        Assert.True(status == 200, $"join: {status} {body}");
    }

    public static async Task<string> SendAsync(TestHomeserver server, Session who, string roomId, object content, string type = "m.room.message")
    {
        var (status, body) = await server.SendAsync(HttpMethod.Put, $"{V3}/rooms/{roomId}/send/{type}/{Guid.NewGuid():N}", who.AccessToken, content);
        Assert.True(status == 200, $"send: {status} {body}");
        return body.GetProperty("event_id").GetString()!;
    }

    public static Task<string> SendTextAsync(TestHomeserver server, Session who, string roomId, string text) =>
        SendAsync(server, who, roomId, new { msgtype = "m.text", body = text });

    public static Task<string> SendThreadReplyAsync(TestHomeserver server, Session who, string roomId, string rootId, string text) =>
        SendAsync(server, who, roomId, new Dictionary<string, object>
        {
            ["msgtype"] = "m.text",
            ["body"] = text,
            ["m.relates_to"] = new { rel_type = "m.thread", event_id = rootId },
        });

    public static async Task<(int Status, JsonElement Body)> ReceiptAsync(TestHomeserver server, Session who, string roomId, string type,
        string eventId, object? body = null) =>
        await server.SendAsync(HttpMethod.Post, $"{V3}/rooms/{Uri.EscapeDataString(roomId)}/receipt/{type}/{Uri.EscapeDataString(eventId)}",
            who.AccessToken, body ?? new { });

    public static void AssertError(int expectedStatus, string expectedCode, (int Status, JsonElement Body) response)
    {
        Assert.True(response.Status == expectedStatus, $"expected {expectedStatus} {expectedCode}, got {response.Status} {response.Body}");
        Assert.Equal(expectedCode, response.Body.GetProperty("errcode").GetString());
    }

    public static void AssertOk((int Status, JsonElement Body) response) =>
        Assert.True(response.Status == 200, $"expected 200, got {response.Status} {response.Body}");

    /// <summary>The sync context a /sync request of <paramref name="who"/> would build.</summary>
    public static SyncContext Context(Session who, SyncToken? since, SyncToken now, IReadOnlyList<string> joinedRooms,
        string? filter = null, bool fullState = false) => new()
    {
        Requester = new Requester(UserId.Parse(who.UserId), DeviceId.Parse(who.DeviceId), 0, false),
        Since = since,
        Now = now,
        FullState = fullState,
        Filter = filter is null ? SyncFilter.Default : SyncFilter.FromJson(JsonDocument.Parse(filter).RootElement),
        JoinedRoomIds = joinedRooms,
    };

    public static SyncToken Now(TestHomeserver server) => server.Services.GetRequiredService<StreamRegistry>().CurrentToken();

    /// <summary>Runs one contributor of type <typeparamref name="T"/> and returns the response JSON.</summary>
    public static async Task<JsonObject> ContributeAsync<T>(TestHomeserver server, SyncContext context)
        where T : ISyncContributor
    {
        var contributor = server.Services.GetServices<ISyncContributor>().OfType<T>().Single();
        var response = new SyncResponseBuilder();
        await contributor.ContributeAsync(context, response, default);
        return response.Build(context.Now.ToString());
    }

    /// <summary>Waits until a waiter registered on <paramref name="key"/> wakes (true) or 300 ms pass (false).</summary>
    public static async Task<bool> WakesAsync(TestHomeserver server, string key, Func<Task> action, int timeoutMs = 10_000)
    {
        var notifier = server.Services.GetRequiredService<SyncNotifier>();
        using var waiter = notifier.Register([key]);
        var waiting = waiter.WaitAsync(TimeSpan.FromMilliseconds(timeoutMs), default);
        await action();
        return await waiting;
    }

    public static JsonArray? RoomEvents(JsonObject response, string roomId, string part) =>
        response["rooms"]?["join"]?[roomId]?[part]?["events"] as JsonArray;

    public static JsonArray GlobalAccountData(JsonObject response) => (JsonArray)response["account_data"]!["events"]!;
}

/// <summary>/sync helpers for the /sync-level account data and receipt tests.</summary>
internal static class AccountDataAndReceiptsSync
{
    public static async Task<JsonElement> SyncAsync(TestHomeserver server, Session who, string? since = null, int timeout = 0, string? filter = null)
    {
        string path = $"{AccountDataAndReceiptsTestKit.V3}/sync?timeout={timeout}" + (since is null ? "" : "&since=" + Uri.EscapeDataString(since))
            + (filter is null ? "" : "&filter=" + Uri.EscapeDataString(filter));
        var (status, body) = await server.SendAsync(HttpMethod.Get, path, who.AccessToken);
        Assert.True(status == 200, $"sync: {status} {body}");
        return body;
    }

    public static string NextBatch(JsonElement sync) => sync.GetProperty("next_batch").GetString()!;

    public static List<JsonElement> GlobalAccountData(JsonElement sync) =>
        [.. sync.GetProperty("account_data").GetProperty("events").EnumerateArray()];

    public static List<JsonElement> RoomPart(JsonElement sync, string roomId, string part) =>
        sync.GetProperty("rooms").GetProperty("join").TryGetProperty(roomId, out var room) && room.TryGetProperty(part, out var section)
            ? [.. section.GetProperty("events").EnumerateArray()]
            : [];

    public static List<JsonElement> ReceiptEvents(JsonElement sync, string roomId) =>
        [.. RoomPart(sync, roomId, "ephemeral").Where(e => e.GetProperty("type").GetString() == "m.receipt").Select(e => e.GetProperty("content"))];
}
