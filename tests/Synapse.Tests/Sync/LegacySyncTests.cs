using Synapse.Configuration;
using Synapse.Tests.Infrastructure;

namespace Synapse.Tests.Sync;

public sealed class LegacySyncTests
{
    private const string V3 = "/_matrix/client/v3";

    [Theory, ClassData(typeof(Engines))]
    public async Task LegacyEndpoints_EventsInitialSyncRoomInitialSync_ReturnRoomData(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");
        var (_, created) = await server.SendAsync(HttpMethod.Post, $"{V3}/createRoom", alice.AccessToken, new { preset = "public_chat", name = "Old API" });
        string roomId = created.GetProperty("room_id").GetString()!;
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"{V3}/join/{roomId}", bob.AccessToken, new { })).Status);
        await server.SendAsync(HttpMethod.Put, $"{V3}/rooms/{roomId}/send/m.room.message/t1", alice.AccessToken, new { msgtype = "m.text", body = "first" });

        var (initialStatus, initial) = await server.SendAsync(HttpMethod.Get, $"{V3}/initialSync?limit=5", bob.AccessToken);
        Assert.Equal(200, initialStatus);
        var room = initial.GetProperty("rooms").EnumerateArray().Single(r => r.GetProperty("room_id").GetString() == roomId);
        Assert.Equal("join", room.GetProperty("membership").GetString());
        Assert.Equal("public", room.GetProperty("visibility").GetString());
        Assert.Equal("first", room.GetProperty("messages").GetProperty("chunk").EnumerateArray().Last().GetProperty("content").GetProperty("body").GetString());
        Assert.Contains(room.GetProperty("state").EnumerateArray(), e => e.GetProperty("type").GetString() == "m.room.name");

        // /events long-polls from `end` and returns the next message with its room ID.
        var waiting = server.SendAsync(HttpMethod.Get, $"{V3}/events?timeout=60000&from={Uri.EscapeDataString(initial.GetProperty("end").GetString()!)}", bob.AccessToken);
        await server.SendAsync(HttpMethod.Put, $"{V3}/rooms/{roomId}/send/m.room.message/t2", alice.AccessToken, new { msgtype = "m.text", body = "second" });
        var (eventsStatus, events) = await waiting;
        Assert.Equal(200, eventsStatus);
        var message = Assert.Single(events.GetProperty("chunk").EnumerateArray(), e => e.GetProperty("type").GetString() == "m.room.message");
        Assert.Equal(roomId, message.GetProperty("room_id").GetString());
        Assert.Equal("second", message.GetProperty("content").GetProperty("body").GetString());

        var (roomStatus, roomSync) = await server.SendAsync(HttpMethod.Get, $"{V3}/rooms/{roomId}/initialSync", bob.AccessToken);
        Assert.Equal(200, roomStatus);
        Assert.Equal("second", roomSync.GetProperty("messages").GetProperty("chunk").EnumerateArray().Last().GetProperty("content").GetProperty("body").GetString());

        var carol = await server.RegisterAsync("carol");
        var (strangerStatus, stranger) = await server.SendAsync(HttpMethod.Get, $"{V3}/rooms/{roomId}/initialSync", carol.AccessToken);
        Assert.Equal(403, strangerStatus);
        Assert.Equal("M_FORBIDDEN", stranger.GetProperty("errcode").GetString());
        Assert.Equal(400, (await server.SendAsync(HttpMethod.Get, $"{V3}/events?from=nonsense", bob.AccessToken)).Status);
        Assert.Equal(400, (await server.SendAsync(HttpMethod.Get, $"{V3}/initialSync?limit=abc", bob.AccessToken)).Status);
        Assert.Equal(401, (await server.SendAsync(HttpMethod.Get, $"{V3}/initialSync")).Status);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task LegacyEvents_CarryAccountData_GlobalWithoutRoomAndPerRoomWithIt(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var (_, created) = await server.SendAsync(HttpMethod.Post, $"{V3}/createRoom", alice.AccessToken, new { preset = "private_chat" });
        string roomId = created.GetProperty("room_id").GetString()!;
        var (_, start) = await server.SendAsync(HttpMethod.Get, $"{V3}/events?timeout=0", alice.AccessToken);
        string from = Uri.EscapeDataString(start.GetProperty("end").GetString()!);
        string user = Uri.EscapeDataString(alice.UserId);

        Assert.Equal(200, (await server.SendAsync(HttpMethod.Put, $"{V3}/user/{user}/account_data/org.example.global", alice.AccessToken,
            new { n = 1 })).Status);
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Put, $"{V3}/user/{user}/rooms/{roomId}/tags/u.work", alice.AccessToken,
            new { order = 0.5 })).Status);

        var (status, events) = await server.SendAsync(HttpMethod.Get, $"{V3}/events?timeout=0&from={from}", alice.AccessToken);
        Assert.Equal(200, status);
        var chunk = events.GetProperty("chunk").EnumerateArray().ToList();
        var global = Assert.Single(chunk, e => e.GetProperty("type").GetString() == "org.example.global");
        Assert.Equal(1, global.GetProperty("content").GetProperty("n").GetInt32());
        Assert.False(global.TryGetProperty("room_id", out _));
        var tags = Assert.Single(chunk, e => e.GetProperty("type").GetString() == "m.tag");
        Assert.Equal(roomId, tags.GetProperty("room_id").GetString());
        Assert.True(tags.GetProperty("content").GetProperty("tags").TryGetProperty("u.work", out _));
    }

    [Fact]
    public async Task LegacyEvents_DoNotAcknowledgeToDeviceMessages()
    {
        await using var server = await TestHomeserver.StartAsync(DatabaseEngine.Sqlite);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob", deviceId: "BOBPHONE");
        string since = (await server.SendAsync(HttpMethod.Get, $"{V3}/sync?timeout=0", bob.AccessToken)).Body.GetProperty("next_batch").GetString()!;
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Put, $"{V3}/sendToDevice/m.test/t1", alice.AccessToken,
            new Dictionary<string, object> { ["messages"] = new Dictionary<string, object> { [bob.UserId] = new Dictionary<string, object> { ["BOBPHONE"] = new { n = 1 } } } })).Status);

        var (eventsStatus, events) = await server.SendAsync(HttpMethod.Get, $"{V3}/events?timeout=0&from={Uri.EscapeDataString(since)}", bob.AccessToken);
        Assert.Equal(200, eventsStatus);
        var (_, afterEvents) = await server.SendAsync(HttpMethod.Get, $"{V3}/sync?timeout=0&since={Uri.EscapeDataString(events.GetProperty("end").GetString()!)}", bob.AccessToken);
        var (_, fromSince) = await server.SendAsync(HttpMethod.Get, $"{V3}/sync?timeout=0&since={Uri.EscapeDataString(since)}", bob.AccessToken);

        var delivered = afterEvents.GetProperty("to_device").GetProperty("events").EnumerateArray()
            .Concat(fromSince.GetProperty("to_device").GetProperty("events").EnumerateArray()).ToList();
        Assert.Contains(delivered, e => e.GetProperty("type").GetString() == "m.test" && e.GetProperty("sender").GetString() == alice.UserId);
    }
}
