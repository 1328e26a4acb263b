using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Synapse.Configuration;
using Synapse.Sync;
using Synapse.Tests.Infrastructure;
using static Synapse.Tests.Sync.ToDeviceContributorTests;

namespace Synapse.Tests.Sync;

/// <summary>to_device and device_lists through GET /sync over real HTTP, on each engine.</summary>
public sealed class ToDeviceSyncTests
{
    private const string V3 = "/_matrix/client/v3";

    private static async Task<JsonElement> SyncAsync(TestHomeserver server, Session who, string? since = null, int timeout = 0)
    {
        string path = $"{V3}/sync?timeout={timeout}" + (since is null ? "" : "&since=" + Uri.EscapeDataString(since));
        var (status, body) = await server.SendAsync(HttpMethod.Get, path, who.AccessToken);
        Assert.True(status == 200, $"sync: {status} {body}");
        return body;
    }

    private static string Next(JsonElement sync) => sync.GetProperty("next_batch").GetString()!;

    private static List<string?> ToDevice(JsonElement sync) =>
        [.. sync.GetProperty("to_device").GetProperty("events").EnumerateArray().Select(e => e.GetProperty("content").GetProperty("n").GetString())];

    private static List<string?> DeviceLists(JsonElement sync, string part) =>
        [.. sync.GetProperty("device_lists").GetProperty(part).EnumerateArray().Select(u => u.GetString())];

    private static async Task SendToDeviceAsync(TestHomeserver server, Session from, Session to, string n)
    {
        var (status, body) = await server.SendAsync(HttpMethod.Put, $"{V3}/sendToDevice/m.test/{Guid.NewGuid():N}", from.AccessToken, new
        {
            messages = new Dictionary<string, object> { [to.UserId] = new Dictionary<string, object> { [to.DeviceId] = new { n } } },
        });
        Assert.True(status == 200, $"sendToDevice: {status} {body}");
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task ToDevice_LongPollWakesRetryRepeatsNextBatchAcknowledges(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");
        string since = Next(await SyncAsync(server, bob));

        var waiting = SyncAsync(server, bob, since, timeout: 60_000);
        await Task.Delay(200);
        Assert.False(waiting.IsCompleted, "nothing to deliver yet: the sync must wait");
        await SendToDeviceAsync(server, alice, bob, "hello");
        var woken = await waiting;
        Assert.Equal(["hello"], ToDevice(woken));
        var message = woken.GetProperty("to_device").GetProperty("events")[0];
        Assert.Equal(alice.UserId, message.GetProperty("sender").GetString());
        Assert.Equal("m.test", message.GetProperty("type").GetString());

        // The response was lost: the same since brings the same message again.
        Assert.Equal(["hello"], ToDevice(await SyncAsync(server, bob, since)));

        // next_batch proves delivery; the message is gone for good.
        Assert.Empty(ToDevice(await SyncAsync(server, bob, Next(woken))));
        Assert.Empty(ToDevice(await SyncAsync(server, bob, since)));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task ToDevice_LargeQueue_PagedThroughNextBatch(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");
        string since = Next(await SyncAsync(server, bob));
        var toDevice = server.Services.GetRequiredService<ToDeviceService>();
        for (int i = 0; i < 120; i++)
        {
            using var body = JsonDocument.Parse(JsonSerializer.Serialize(new
            {
                messages = new Dictionary<string, object> { [bob.UserId] = new Dictionary<string, object> { ["*"] = new { n = $"{i:D3}" } } },
            }));
            await toDevice.SendAsync(RequesterOf(alice), "m.test", "t" + i, body.RootElement, default);
        }

        var first = await SyncAsync(server, bob, since);
        Assert.Equal(Enumerable.Range(0, 100).Select(i => $"{i:D3}"), ToDevice(first));
        var second = await SyncAsync(server, bob, Next(first), timeout: 10_000);
        Assert.Equal(Enumerable.Range(100, 20).Select(i => $"{i:D3}"), ToDevice(second));
        Assert.Empty(ToDevice(await SyncAsync(server, bob, Next(second))));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task ToDevice_AfterRestartWithEveryInboxEmpty_PositionKeepsGrowing(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");
        string since = Next(await SyncAsync(server, bob));
        await SendToDeviceAsync(server, alice, bob, "before");
        var delivered = await SyncAsync(server, bob, since);
        Assert.Equal(["before"], ToDevice(delivered));
        Assert.Empty(ToDevice(await SyncAsync(server, bob, Next(delivered))));

        await server.RestartAsync();
        await SendToDeviceAsync(server, alice, bob, "after");

        // A position reused after the restart would sit at or below the token bob holds, and be deleted unseen.
        Assert.Equal(["after"], ToDevice(await SyncAsync(server, bob, Next(delivered))));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task DeviceLists_RoomMateLogsInAndLeaves_ChangedThenLeft(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");
        var (_, created) = await server.SendAsync(HttpMethod.Post, $"{V3}/createRoom", alice.AccessToken, new { preset = "public_chat" });
        string roomId = created.GetProperty("room_id").GetString()!;
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"{V3}/join/{roomId}", bob.AccessToken, new { })).Status);
        var initial = await SyncAsync(server, alice);
        Assert.Empty(DeviceLists(initial, "changed"));

        var waiting = SyncAsync(server, alice, Next(initial), timeout: 60_000);
        await Task.Delay(200);
        Assert.False(waiting.IsCompleted);
        await LoginAsync(server, "bob", "BOB2");
        var woken = await waiting;
        Assert.Equal([bob.UserId], DeviceLists(woken, "changed"));

        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"{V3}/rooms/{roomId}/leave", bob.AccessToken, new { })).Status);
        var afterLeave = await SyncAsync(server, alice, Next(woken));
        Assert.Equal([bob.UserId], DeviceLists(afterLeave, "left"));
        Assert.Empty(DeviceLists(afterLeave, "changed"));
    }
}
