using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Synapse.Configuration;
using Synapse.Identifiers;
using Synapse.Storage;
using Synapse.Tests.Infrastructure;

namespace Synapse.Tests.Sync;

/// <summary>
/// /sync answers what it can from memory (which rooms changed, the user's memberships, whether to-device messages are
/// left to delete): these check that the answers stay right as rooms, memberships and devices change.
/// </summary>
public sealed class SyncCacheTests
{
    private const string V3 = "/_matrix/client/v3";

    private static async Task<JsonElement> SyncAsync(TestHomeserver server, Session who, string? since = null, string? filter = null)
    {
        string path = $"{V3}/sync?timeout=0" + (since is null ? "" : "&since=" + Uri.EscapeDataString(since))
            + (filter is null ? "" : "&filter=" + Uri.EscapeDataString(filter));
        var (status, body) = await server.SendAsync(HttpMethod.Get, path, who.AccessToken);
        Assert.True(status == 200, $"sync: {status} {body}");
        return body;
    }

    private static async Task<string> CreateRoomAsync(TestHomeserver server, Session who, object? body = null)
    {
        var (status, created) = await server.SendAsync(HttpMethod.Post, $"{V3}/createRoom", who.AccessToken, body ?? new { preset = "public_chat" });
        Assert.True(status == 200, $"createRoom: {status} {created}");
        return created.GetProperty("room_id").GetString()!;
    }

    private static async Task<string> SendAsync(TestHomeserver server, Session who, string roomId, string text)
    {
        var (status, body) = await server.SendAsync(HttpMethod.Put, $"{V3}/rooms/{roomId}/send/m.room.message/{Guid.NewGuid():N}",
            who.AccessToken, new { msgtype = "m.text", body = text });
        Assert.True(status == 200, $"send: {status} {body}");
        return body.GetProperty("event_id").GetString()!;
    }

    private static async Task PostAsync(TestHomeserver server, Session who, string path, object body)
    {
        var (status, response) = await server.SendAsync(HttpMethod.Post, V3 + path, who.AccessToken, body);
        Assert.True(status == 200, $"{path}: {status} {response}");
    }

    private static List<string> Rooms(JsonElement sync, string section) =>
        [.. sync.GetProperty("rooms").GetProperty(section).EnumerateObject().Select(p => p.Name)];

    private static List<string?> Bodies(JsonElement sync, string roomId) =>
        sync.GetProperty("rooms").GetProperty("join").TryGetProperty(roomId, out var room)
            ? [.. room.GetProperty("timeline").GetProperty("events").EnumerateArray()
                .Where(e => e.GetProperty("type").GetString() == "m.room.message")
                .Select(e => e.GetProperty("content").GetProperty("body").GetString())]
            : [];

    [Theory, ClassData(typeof(Engines))]
    public async Task IncrementalSync_OnlyRoomsWithNewEvents_Appear(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");
        string first = await CreateRoomAsync(server, alice);
        string second = await CreateRoomAsync(server, alice);
        await PostAsync(server, bob, $"/join/{first}", new { });
        await PostAsync(server, bob, $"/join/{second}", new { });
        string since = (await SyncAsync(server, bob)).GetProperty("next_batch").GetString()!;

        await SendAsync(server, alice, first, "one");
        var afterFirst = await SyncAsync(server, bob, since);
        Assert.Equal([first], Rooms(afterFirst, "join"));
        Assert.Equal(["one"], Bodies(afterFirst, first));

        await SendAsync(server, alice, second, "two");
        var afterSecond = await SyncAsync(server, bob, afterFirst.GetProperty("next_batch").GetString());
        Assert.Equal([second], Rooms(afterSecond, "join"));
        Assert.Equal(["two"], Bodies(afterSecond, second));

        // From the first token, both rooms changed.
        var both = await SyncAsync(server, bob, since);
        Assert.Equal(new[] { first, second }.Order(StringComparer.Ordinal), Rooms(both, "join").Order(StringComparer.Ordinal));
        Assert.Equal(["one"], Bodies(both, first));
        Assert.Equal(["two"], Bodies(both, second));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task MembershipChanges_BetweenSyncs_AreSeenEachTime(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");
        string roomId = await CreateRoomAsync(server, alice, new { preset = "private_chat" });
        var initial = await SyncAsync(server, bob);
        Assert.DoesNotContain(roomId, Rooms(initial, "invite"));

        await PostAsync(server, alice, $"/rooms/{roomId}/invite", new { user_id = bob.UserId });
        var invited = await SyncAsync(server, bob, initial.GetProperty("next_batch").GetString());
        Assert.Equal([roomId], Rooms(invited, "invite"));

        await PostAsync(server, bob, $"/join/{roomId}", new { });
        await SendAsync(server, alice, roomId, "welcome");
        var joined = await SyncAsync(server, bob, invited.GetProperty("next_batch").GetString());
        Assert.Equal([roomId], Rooms(joined, "join"));
        Assert.Equal(["welcome"], Bodies(joined, roomId));

        await PostAsync(server, bob, $"/rooms/{roomId}/leave", new { });
        var left = await SyncAsync(server, bob, joined.GetProperty("next_batch").GetString());
        Assert.Equal([roomId], Rooms(left, "leave"));
        Assert.Empty(Rooms(left, "join"));

        // Messages after the leave reach nobody who left.
        await SendAsync(server, alice, roomId, "after you left");
        var later = await SyncAsync(server, bob, left.GetProperty("next_batch").GetString());
        Assert.Empty(Rooms(later, "join"));
        Assert.Empty(Rooms(later, "leave"));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task NewlyJoinedRoom_WithJoinedVisibility_HidesHistoryBeforeTheJoin(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");
        string roomId = await CreateRoomAsync(server, alice, new
        {
            preset = "public_chat",
            initial_state = new[] { new { type = "m.room.history_visibility", state_key = "", content = new { history_visibility = "joined" } } },
        });
        await SendAsync(server, alice, roomId, "before bob");
        string since = (await SyncAsync(server, bob)).GetProperty("next_batch").GetString()!;

        await PostAsync(server, bob, $"/join/{roomId}", new { });
        await SendAsync(server, alice, roomId, "after bob");
        var sync = await SyncAsync(server, bob, since, """{"room":{"timeline":{"limit":50}}}""");
        Assert.Equal(["after bob"], Bodies(sync, roomId));

        // An incremental sync in an already-joined room shows the new message without looking at history again.
        await SendAsync(server, alice, roomId, "later");
        var next = await SyncAsync(server, bob, sync.GetProperty("next_batch").GetString());
        Assert.Equal(["later"], Bodies(next, roomId));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task ToDevice_AcknowledgedMessages_AreDeletedEachTime(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");
        var store = server.Services.GetRequiredService<IToDeviceStore>();
        var bobId = UserId.Parse(bob.UserId);
        var bobDevice = DeviceId.Parse(bob.DeviceId);
        string since = (await SyncAsync(server, bob)).GetProperty("next_batch").GetString()!;

        async Task SendToBobAsync(int n)
        {
            var messages = new Dictionary<string, object> { [bob.UserId] = new Dictionary<string, object> { [bob.DeviceId] = new { n } } };
            var (status, body) = await server.SendAsync(HttpMethod.Put, $"{V3}/sendToDevice/m.test/{Guid.NewGuid():N}", alice.AccessToken,
                new { messages });
            Assert.True(status == 200, $"sendToDevice: {status} {body}");
        }

        async Task<int> StoredAsync() => (await store.GetMessagesAsync(bobId, bobDevice, 0, long.MaxValue, 100, default)).Count;

        for (int n = 1; n <= 3; n++)
        {
            await SendToBobAsync(n);
            var delivered = await SyncAsync(server, bob, since);
            var events = delivered.GetProperty("to_device").GetProperty("events");
            Assert.Equal(1, events.GetArrayLength());
            Assert.Equal(n, events[0].GetProperty("content").GetProperty("n").GetInt32());
            since = delivered.GetProperty("next_batch").GetString()!;

            // Stored until the next sync acknowledges it, then gone.
            Assert.Equal(1, await StoredAsync());
            var acknowledged = await SyncAsync(server, bob, since);
            Assert.Equal(0, acknowledged.GetProperty("to_device").GetProperty("events").GetArrayLength());
            Assert.Equal(0, await StoredAsync());
            since = acknowledged.GetProperty("next_batch").GetString()!;
        }
    }
}
