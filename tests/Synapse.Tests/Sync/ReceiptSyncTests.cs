using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Synapse.Configuration;
using Synapse.Sync;
using Synapse.Tests.Infrastructure;
using static Synapse.Tests.Sync.AccountDataAndReceiptsSync;
using static Synapse.Tests.Sync.AccountDataAndReceiptsTestKit;

namespace Synapse.Tests.Sync;

/// <summary>Receipts through /sync, over real HTTP on each engine.</summary>
public sealed class ReceiptSyncTests
{
    [Theory, ClassData(typeof(Engines))]
    public async Task Sync_OtherUsersReceipt_WakesLongPollAndArrivesAsEphemeral(DatabaseEngine engine)
    {
        var (server, alice, bob, roomId) = await RoomAsync(engine);
        await using var _ = server;
        string message = await SendTextAsync(server, alice, roomId, "hello");

        // Bob comes online before the wait (syncing counts as activity), so the receipt is the only news.
        await SyncAsync(server, bob);
        await server.Services.GetRequiredService<PresenceService>().WhenWrittenAsync();
        string since = NextBatch(await SyncAsync(server, alice));

        var waiting = SyncAsync(server, alice, since, timeout: 60_000);
        await Task.Delay(200);
        Assert.False(waiting.IsCompleted, "nothing new: the sync must wait");
        AssertOk(await ReceiptAsync(server, bob, roomId, "m.read", message));

        var woken = await waiting;
        var content = Assert.Single(ReceiptEvents(woken, roomId));
        Assert.True(content.GetProperty(message).GetProperty("m.read").GetProperty(bob.UserId).GetProperty("ts").GetInt64() > 0);

        var next = await SyncAsync(server, alice, NextBatch(woken));
        Assert.Empty(ReceiptEvents(next, roomId));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Sync_PrivateReceipt_OnlyItsOwnerSeesIt(DatabaseEngine engine)
    {
        var (server, alice, bob, roomId) = await RoomAsync(engine);
        await using var _ = server;
        string message = await SendTextAsync(server, alice, roomId, "hello");
        string aliceSince = NextBatch(await SyncAsync(server, alice));
        string bobSince = NextBatch(await SyncAsync(server, bob));

        var aliceWaiting = SyncAsync(server, alice, aliceSince, timeout: 1_500);
        AssertOk(await ReceiptAsync(server, bob, roomId, "m.read.private", message));

        Assert.Empty(ReceiptEvents(await aliceWaiting, roomId));
        var bobSync = await SyncAsync(server, bob, bobSince);
        var content = Assert.Single(ReceiptEvents(bobSync, roomId));
        Assert.True(content.GetProperty(message).GetProperty("m.read.private").TryGetProperty(bob.UserId, out JsonElement _));
        Assert.Empty(ReceiptEvents(await SyncAsync(server, alice), roomId));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Sync_ThreadedReceipt_CarriesThreadId(DatabaseEngine engine)
    {
        var (server, alice, bob, roomId) = await RoomAsync(engine);
        await using var _ = server;
        string root = await SendTextAsync(server, alice, roomId, "root");
        string reply = await SendThreadReplyAsync(server, alice, roomId, root, "reply");
        string since = NextBatch(await SyncAsync(server, alice));
        AssertOk(await ReceiptAsync(server, bob, roomId, "m.read", reply, new { thread_id = root }));

        var content = Assert.Single(ReceiptEvents(await SyncAsync(server, alice, since), roomId));
        Assert.Equal(root, content.GetProperty(reply).GetProperty("m.read").GetProperty(bob.UserId).GetProperty("thread_id").GetString());
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Sync_RoomJoinedSinceToken_IncludesEarlierReceipts(DatabaseEngine engine)
    {
        var (server, alice, bob, roomId) = await RoomAsync(engine, bobJoins: false);
        await using var _ = server;
        string message = await SendTextAsync(server, alice, roomId, "hello");
        AssertOk(await ReceiptAsync(server, alice, roomId, "m.read", message));
        string since = NextBatch(await SyncAsync(server, bob));

        await JoinAsync(server, bob, roomId);

        var content = Assert.Single(ReceiptEvents(await SyncAsync(server, bob, since), roomId));
        Assert.True(content.GetProperty(message).GetProperty("m.read").TryGetProperty(alice.UserId, out JsonElement _));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Sync_AfterRestart_ReceiptsStreamResumesWithoutRepeats(DatabaseEngine engine)
    {
        var (server, alice, bob, roomId) = await RoomAsync(engine);
        await using var _ = server;
        string first = await SendTextAsync(server, alice, roomId, "one");
        AssertOk(await ReceiptAsync(server, bob, roomId, "m.read", first));
        string since = NextBatch(await SyncAsync(server, alice));

        await server.RestartAsync();
        string second = await SendTextAsync(server, alice, roomId, "two");
        AssertOk(await ReceiptAsync(server, bob, roomId, "m.read", second));

        var content = Assert.Single(ReceiptEvents(await SyncAsync(server, alice, since), roomId));
        Assert.Equal([second], content.EnumerateObject().Select(p => p.Name));
    }
}
