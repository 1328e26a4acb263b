using System.Text.Json;
using Synapse.Configuration;
using Synapse.Tests.Infrastructure;

namespace Synapse.Tests.E2e;

/// <summary>Device-list changes from key uploads in room-mates' /sync and in GET /keys/changes, on each engine.</summary>
public sealed class KeyChangesTests
{
    private const string V3 = E2eKeysKit.V3;

    private static async Task<(string[] Changed, string[] Left)> ChangesAsync(TestHomeserver server, Session who, string from, string? to = null)
    {
        string path = $"{V3}/keys/changes?from={from}" + (to is null ? "" : $"&to={to}");
        var (status, body) = await server.SendAsync(HttpMethod.Get, path, who.AccessToken);
        Assert.True(status == 200, $"keys/changes: {status} {body}");
        return (Strings(body.GetProperty("changed")), Strings(body.GetProperty("left")));
    }

    private static string[] Strings(JsonElement array) => [.. array.EnumerateArray().Select(e => e.GetString()!)];

    private static string[] SyncChanged(JsonElement sync) => Strings(sync.GetProperty("device_lists").GetProperty("changed"));

    [Theory, ClassData(typeof(Engines))]
    public async Task KeyUpload_RoomMateSyncAndKeysChanges_SeeIt(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");
        var carol = await server.RegisterAsync("carol");
        await E2eKeysKit.CreateRoomAsync(server, alice, bob);
        string bobSince = (await E2eKeysKit.SyncAsync(server, bob)).GetProperty("next_batch").GetString()!;
        string carolSince = (await E2eKeysKit.SyncAsync(server, carol)).GetProperty("next_batch").GetString()!;

        // Bob's long poll is woken by alice's new device keys.
        var waiting = E2eKeysKit.SyncAsync(server, bob, bobSince, timeoutMs: 30_000);
        await Task.Delay(100);
        await E2eKeysKit.UploadAsync(server, alice, new { device_keys = E2eKeysKit.DeviceKeys(alice) });
        var woken = await waiting.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Contains(alice.UserId, SyncChanged(woken));
        string bobNext = woken.GetProperty("next_batch").GetString()!;

        var (changed, left) = await ChangesAsync(server, bob, bobSince, bobNext);
        Assert.Equal([alice.UserId], changed);
        Assert.Empty(left);
        Assert.Equal([alice.UserId], (await ChangesAsync(server, bob, bobSince)).Changed);     // "to" defaults to now
        Assert.Empty((await ChangesAsync(server, bob, bobNext)).Changed);
        Assert.Empty((await ChangesAsync(server, carol, carolSince)).Changed);                   // shares no room with alice
        Assert.Empty(SyncChanged(await E2eKeysKit.SyncAsync(server, carol, carolSince)));

        // One-time keys and identical device keys are no device-list change.
        await E2eKeysKit.UploadAsync(server, alice, new
        {
            device_keys = E2eKeysKit.DeviceKeys(alice), one_time_keys = E2eKeysKit.OneTimeKeys(alice, 5),
        });
        Assert.Empty((await ChangesAsync(server, bob, bobNext)).Changed);
        Assert.Empty(SyncChanged(await E2eKeysKit.SyncAsync(server, bob, bobNext)));

        // A "to" beyond the present is capped; a "from" after "to" is an empty range.
        string far = "s999999_999999_999999_999999_999999_999999_999999_999999";
        Assert.Equal([alice.UserId], (await ChangesAsync(server, bob, bobSince, far)).Changed);
        Assert.Empty((await ChangesAsync(server, bob, bobNext, bobSince)).Changed);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task KeysChanges_NewlySharedAndNoLongerShared_ChangedAndLeft(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");
        var dave = await server.RegisterAsync("dave");
        string room = await E2eKeysKit.CreateRoomAsync(server, alice, bob);
        string from = E2eKeysKit.Current(server).ToString();

        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"{V3}/join/{room}", dave.AccessToken, new { })).Status);
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"{V3}/rooms/{room}/leave", bob.AccessToken, new { })).Status);
        var (changed, left) = await ChangesAsync(server, alice, from);
        Assert.Equal([dave.UserId], changed);
        Assert.Equal([bob.UserId], left);

        // The joiner's own view: everyone in the room it joined.
        Assert.Equal([alice.UserId], (await ChangesAsync(server, dave, from)).Changed);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task KeysChanges_BadInput_SpecErrors(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        string now = E2eKeysKit.Current(server).ToString();

        E2eKeysKit.AssertError(401, "M_MISSING_TOKEN", await server.SendAsync(HttpMethod.Get, $"{V3}/keys/changes?from={now}"));
        E2eKeysKit.AssertError(400, "M_MISSING_PARAM", await server.SendAsync(HttpMethod.Get, $"{V3}/keys/changes", alice.AccessToken));
        E2eKeysKit.AssertError(400, "M_MISSING_PARAM", await server.SendAsync(HttpMethod.Get, $"{V3}/keys/changes?to={now}", alice.AccessToken));
        E2eKeysKit.AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Get, $"{V3}/keys/changes?from=garbage", alice.AccessToken));
        E2eKeysKit.AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Get, $"{V3}/keys/changes?from={now}&to=s1_x", alice.AccessToken));
        E2eKeysKit.AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Get, $"{V3}/keys/changes?from=s-1", alice.AccessToken));
        E2eKeysKit.AssertError(405, "M_UNRECOGNIZED", await server.SendAsync(HttpMethod.Post, $"{V3}/keys/changes?from={now}", alice.AccessToken, new { }));
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Get, $"/_matrix/client/unstable/keys/changes?from={now}", alice.AccessToken)).Status);
    }
}
