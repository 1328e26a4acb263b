using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Synapse.Accounts;
using Synapse.Caching;
using Synapse.Configuration;
using Synapse.E2e;
using Synapse.Identifiers;
using Synapse.Replication.Http;
using Synapse.Replication.Tcp;
using Synapse.Storage;
using Synapse.Streams;
using Synapse.Sync;
using Synapse.Tests.Infrastructure;

namespace Synapse.Tests.Replication;

/// <summary>
/// Registration and login on a worker (main writes users, devices and tokens over HTTP replication), and the caches
/// stream: what main invalidates, workers drop; what a worker invalidates (INVALIDATE_CACHE), main puts on the stream.
/// </summary>
public sealed class WorkerAccountsAndCachesTests
{
    private const string V3 = "/_matrix/client/v3";
    private static readonly JsonElement DummyAuth = JsonDocument.Parse("""{"type":"m.login.dummy"}""").RootElement;

    [Theory, ClassData(typeof(Engines))]
    public async Task RegisterAndLogin_OnAWorker_MainWritesUserDeviceAndToken_WhichWorkOnBoth(DatabaseEngine engine)
    {
        await using var main = await ReplicationMain.StartAsync(engine);
        await using var worker = await ReplicationWorker.StartAsync(main);
        var registration = worker.Services.GetRequiredService<RegistrationService>();

        var registered = await registration.RegisterAsync(
            new RegisterCommand("carol", "carol's password", null, "worker phone", false, false, DummyAuth, "127.0.0.1"), default);

        var (status, whoami) = await main.SendAsync(HttpMethod.Get, $"{V3}/account/whoami", registered.AccessToken);
        Assert.Equal(200, status);
        Assert.Equal("@carol:test.local", whoami.GetProperty("user_id").GetString());
        Assert.Equal(registered.DeviceId!.Value.Value, whoami.GetProperty("device_id").GetString());
        var onWorker = await worker.Services.GetRequiredService<AuthenticationService>()
            .AuthenticateAsync(registered.AccessToken!, null, null, default);
        Assert.Equal(registered.UserId, onWorker.UserId);

        // Read-after-write: the new device is on the worker's device-lists stream when the call returns.
        Assert.Contains(worker.Applied(StreamNames.DeviceLists), row => row.Data["user_id"]?.GetValue<string>() == "@carol:test.local");

        var login = await worker.Services.GetRequiredService<SessionService>().LoginAsync(JsonDocument.Parse("""
            {"type":"m.login.password","identifier":{"type":"m.id.user","user":"carol"},"password":"carol's password","device_id":"LAPTOP"}
            """).RootElement, "127.0.0.1", default);
        (status, whoami) = await main.SendAsync(HttpMethod.Get, $"{V3}/account/whoami", login.AccessToken);
        Assert.Equal(200, status);
        Assert.Equal("LAPTOP", whoami.GetProperty("device_id").GetString());
        var devices = await main.Services.GetRequiredService<IAccountStore>().GetDevicesAsync(registered.UserId, default);
        Assert.Equal(new[] { "LAPTOP", registered.DeviceId!.Value.Value }.Order(StringComparer.Ordinal),
            devices.Select(d => d.DeviceId.Value).Order(StringComparer.Ordinal));
        Assert.Equal("worker phone", devices.Single(d => d.DeviceId == registered.DeviceId).DisplayName);

        // The name is taken now, whoever asks.
        var taken = await Assert.ThrowsAsync<MatrixException>(() => registration.RegisterAsync(
            new RegisterCommand("carol", "another password", null, null, false, false, DummyAuth, "127.0.0.1"), default));
        Assert.Equal(ErrorCodes.UserInUse, taken.ErrorCode);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task RegisterUserAndDeviceCheckRegistered_RepeatedWithTheSameTxnOrHash_WriteOnce(DatabaseEngine engine)
    {
        await using var main = await ReplicationMain.StartAsync(engine);
        var accounts = main.Services.GetRequiredService<IAccountStore>();
        var dave = UserId.Parse("@dave:test.local");
        var user = new JsonObject { ["password_hash"] = "h", ["displayname"] = "Dave", ["created_ts"] = 1234 };

        Assert.Equal(200, (await ReplicationPostAsync(main, "register_user/@dave:test.local/txn-1", user)).Status);
        Assert.Equal(200, (await ReplicationPostAsync(main, "register_user/@dave:test.local/txn-1", user)).Status);
        var (status, body) = await ReplicationPostAsync(main, "register_user/@dave:test.local/txn-2", user);
        Assert.Equal(400, status);
        Assert.Equal(ErrorCodes.UserInUse, body.GetProperty("errcode").GetString());

        var session = new JsonObject { ["device_id"] = "PHONE", ["display_name"] = "Dave's phone", ["token_hash"] = "hash-1" };
        Assert.Equal(200, (await ReplicationPostAsync(main, "device_check_registered/@dave:test.local/t1", session)).Status);
        (status, body) = await ReplicationPostAsync(main, "device_check_registered/@dave:test.local/t1", session);
        Assert.Equal(200, status);
        Assert.True(body.GetProperty("stream_positions").GetProperty(StreamNames.DeviceLists).GetInt64() > 0);

        var device = Assert.Single(await accounts.GetDevicesAsync(dave, default));
        Assert.Equal("Dave's phone", device.DisplayName);
        var owner = await accounts.FindAccessTokenAsync("hash-1", default);
        Assert.Equal(("@dave:test.local", "PHONE"), (owner!.UserId.Value, owner.DeviceId.Value));
        Assert.Equal(1, await CountDeviceListRowsAsync(main, dave));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task RegisterUserAndDeviceCheckRegistered_BadInput_AnswerTheMatrixErrorAndWriteNothing(DatabaseEngine engine)
    {
        await using var main = await ReplicationMain.StartAsync(engine);
        var alice = await main.RegisterAsync("alice");
        var accounts = main.Services.GetRequiredService<IAccountStore>();
        var user = new JsonObject { ["created_ts"] = 1 };

        Assert.Equal((400, ErrorCodes.InvalidParam), await ErrorOfAsync(main, "register_user/@eve:elsewhere.example/t", user));
        Assert.Equal((400, ErrorCodes.InvalidParam), await ErrorOfAsync(main, "register_user/eve/t", user));
        Assert.Equal((400, ErrorCodes.MissingParam), await ErrorOfAsync(main, "register_user/@eve:test.local/t", new JsonObject { ["admin"] = true }));
        Assert.Equal((400, ErrorCodes.BadJson), await ErrorOfAsync(main, "register_user/@eve:test.local/t", new JsonObject { ["created_ts"] = 1, ["password_hash"] = 5 }));
        Assert.Equal((400, ErrorCodes.NotJson), await RawErrorOfAsync(main, "register_user/@eve:test.local/t", "{not json"));
        Assert.Null(await accounts.GetUserAsync(UserId.Parse("@eve:test.local"), default));
        Assert.Equal((400, ErrorCodes.InvalidParam), await ErrorOfAsync(main, "bump_presence_active_time/@eve:elsewhere.example/t", new JsonObject()));

        string check = $"device_check_registered/{alice.UserId}/t";
        Assert.Equal((404, ErrorCodes.NotFound), await ErrorOfAsync(main, "device_check_registered/@nobody:test.local/t",
            new JsonObject { ["device_id"] = "X", ["token_hash"] = "h" }));
        Assert.Equal((400, ErrorCodes.InvalidParam), await ErrorOfAsync(main, check, new JsonObject { ["device_id"] = "", ["token_hash"] = "h" }));
        Assert.Equal((400, ErrorCodes.MissingParam), await ErrorOfAsync(main, check, new JsonObject { ["device_id"] = "X" }));
        Assert.Equal((400, ErrorCodes.InvalidParam), await ErrorOfAsync(main, check, new JsonObject { ["device_id"] = "X", ["token_hash"] = "" }));

        // A hash another device holds is refused, not handed over (and not a 500).
        Assert.Equal(200, (await ReplicationPostAsync(main, check, new JsonObject { ["device_id"] = "X1", ["token_hash"] = "held" })).Status);
        Assert.Equal((400, ErrorCodes.InvalidParam), await ErrorOfAsync(main, check, new JsonObject { ["device_id"] = "X2", ["token_hash"] = "held" }));
        var devices = await accounts.GetDevicesAsync(UserId.Parse(alice.UserId), default);
        Assert.Equal(new[] { alice.DeviceId, "X1" }.Order(StringComparer.Ordinal), devices.Select(d => d.DeviceId.Value).Order(StringComparer.Ordinal));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Logout_OnMain_TheWorkerDropsItsCachedTokenFromTheCachesStream(DatabaseEngine engine)
    {
        await using var main = await ReplicationMain.StartAsync(engine);
        var alice = await main.RegisterAsync("alice");
        await using var worker = await ReplicationWorker.StartAsync(main);
        var auth = worker.Services.GetRequiredService<AuthenticationService>();
        await auth.AuthenticateAsync(alice.AccessToken, null, null, default);

        Assert.Equal(200, (await main.SendAsync(HttpMethod.Post, $"{V3}/logout", alice.AccessToken, new { })).Status);

        // Without the caches stream the worker would go on accepting the token from its cache for minutes.
        await EventuallyAsync(async () =>
        {
            try
            {
                await auth.AuthenticateAsync(alice.AccessToken, null, null, default);
                return false;
            }
            catch (MatrixException e) when (e.ErrorCode == ErrorCodes.UnknownToken)
            {
                return true;
            }
        }, "the worker refuses the token main deleted");
        Assert.Contains(worker.Applied(StreamNames.Caches), row => row.Data["cache_func"]?.GetValue<string>() == CacheNames.AccessTokens
            && row.Data["keys"]![0]!.GetValue<string>() == AuthenticationService.HashOf(alice.AccessToken));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task OneTimeKeys_ClaimedOnMain_TheWorkerReportsTheNewCount(DatabaseEngine engine)
    {
        await using var main = await ReplicationMain.StartAsync(engine);
        var alice = await main.RegisterAsync("alice");
        var bob = await main.RegisterAsync("bob");
        var upload = new { one_time_keys = Synapse.Tests.E2e.E2eKeysKit.OneTimeKeys(alice, 2) };
        Assert.Equal(200, (await main.SendAsync(HttpMethod.Post, $"{V3}/keys/upload", alice.AccessToken, upload)).Status);
        await using var worker = await ReplicationWorker.StartAsync(main);
        var requester = await worker.Services.GetRequiredService<AuthenticationService>().AuthenticateAsync(alice.AccessToken, null, null, default);
        var keys = worker.Services.GetRequiredService<E2eKeyService>();
        Assert.Equal(2, (await keys.GetKeyCountsAsync(requester, default)).OneTimeKeys["signed_curve25519"]);

        var claim = new { one_time_keys = new Dictionary<string, object> { [alice.UserId] = new Dictionary<string, string> { [alice.DeviceId] = "signed_curve25519" } } };
        Assert.Equal(200, (await main.SendAsync(HttpMethod.Post, $"{V3}/keys/claim", bob.AccessToken, claim)).Status);

        await EventuallyAsync(async () => (await keys.GetKeyCountsAsync(requester, default)).OneTimeKeys.GetValueOrDefault("signed_curve25519") == 1,
            "the worker's count follows the claim on main");
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task InvalidateCache_FromAWorker_MainStoresItOnTheCachesStreamAndDropsTheEntry(DatabaseEngine engine)
    {
        await using var main = await ReplicationMain.StartAsync(engine);
        var alice = await main.RegisterAsync("alice");
        await using var worker = await ReplicationWorker.StartAsync(main);

        // Main has the token cached; then it goes from the database behind main's back (as a worker's own write would).
        Assert.Equal(200, (await main.SendAsync(HttpMethod.Get, $"{V3}/account/whoami", alice.AccessToken)).Status);
        var user = UserId.Parse(alice.UserId);
        await main.Services.GetRequiredService<DeviceListService>().WriteAsync(user,
            position => main.Services.GetRequiredService<IAccountStore>().DeleteDevicesAsync(user, [DeviceId.Parse(alice.DeviceId)], position, default),
            r => r.DeviceIds, default);
        Assert.Equal(200, (await main.SendAsync(HttpMethod.Get, $"{V3}/account/whoami", alice.AccessToken)).Status);

        string hash = AuthenticationService.HashOf(alice.AccessToken);
        await worker.Services.GetRequiredService<CacheInvalidationService>().InvalidateAsync(CacheNames.AccessTokens, [[hash]]);

        await EventuallyAsync(async () => (await main.SendAsync(HttpMethod.Get, $"{V3}/account/whoami", alice.AccessToken)).Status == 401,
            "main drops the entry the worker invalidated");
        var stored = await main.Services.GetRequiredService<ICacheInvalidationStore>().GetAsync(0, long.MaxValue, 100, default);
        Assert.Contains(stored, r => r.CacheName == CacheNames.AccessTokens && r.Keys.SequenceEqual([hash]));
        await Eventually.TrueAsync(() => worker.Applied(StreamNames.Caches).Any(row => row.Data["keys"]![0]!.GetValue<string>() == hash),
            "the invalidation comes back to the worker on the caches stream");
    }

    [Theory]
    [InlineData("""["a","b"]""", "a|b")]
    [InlineData("""["only"]""", "only")]
    [InlineData("[]", null)]
    [InlineData("""{"a":1}""", null)]
    [InlineData("""["a",1]""", null)]
    [InlineData("not json", null)]
    public void InvalidateCacheKeys_MustBeANonEmptyArrayOfStrings(string json, string? expected)
    {
        var keys = WorkerCommandHandler.ReadKeys(System.Text.Encoding.UTF8.GetBytes(json));
        Assert.Equal(expected, keys is null ? null : string.Join('|', keys));
    }

    private static async Task<int> CountDeviceListRowsAsync(TestHomeserver main, UserId user)
    {
        var rows = await main.Services.GetRequiredService<IDeviceListStore>().GetRowsAsync(0, long.MaxValue, 1000, default);
        return rows.Count(r => r.UserId == user.Value);
    }

    private static async Task EventuallyAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"Timed out waiting until {what}");
            await Task.Delay(25);
        }
    }

    private static async Task<(int Status, string? ErrorCode)> ErrorOfAsync(TestHomeserver main, string path, JsonObject body)
    {
        var (status, json) = await ReplicationPostAsync(main, path, body);
        return (status, json.TryGetProperty("errcode", out var code) ? code.GetString() : null);
    }

    private static Task<(int Status, string? ErrorCode)> RawErrorOfAsync(TestHomeserver main, string path, string body) =>
        SendAsync(main, path, body).ContinueWith(t => (t.Result.Status,
            t.Result.Body.TryGetProperty("errcode", out var code) ? code.GetString() : null), TaskScheduler.Default);

    private static Task<(int Status, JsonElement Body)> ReplicationPostAsync(TestHomeserver main, string path, JsonObject body) =>
        SendAsync(main, path, body.ToJsonString());

    private static async Task<(int Status, JsonElement Body)> SendAsync(TestHomeserver main, string path, string body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"{ReplicationHttpEndpoints.Prefix}/{path}")
        {
            Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", ReplicationMain.Secret);
        using var response = await main.Client.SendAsync(request);
        return ((int)response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }
}
