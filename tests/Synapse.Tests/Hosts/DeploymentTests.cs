using System.Globalization;
using System.Text.Json;
using Synapse.Replication.Workers;
using Synapse.Router;

namespace Synapse.Tests.Hosts;

/// <summary>
/// A worker deployment as an operator runs it — main, workers and the router as real processes on PostgreSQL and
/// 127.0.0.1 — used by a client that only knows the router's address.
/// </summary>
public sealed class DeploymentTests : IAsyncLifetime
{
    private const string Server = "deploy.test";

    private TestDeployment _deployment = null!;

    private string Shared => _deployment.Shared;

    private string Workers => _deployment.Workers;

    public async Task InitializeAsync() => _deployment = await TestDeployment.CreateAsync(Server);

    public async Task DisposeAsync() => await _deployment.DisposeAsync();

    [Fact]
    public async Task BehindTheRouter_RegisterLoginSendSyncTypingReceiptsMessagesKeysAndUserDirectory_WorkAsOnOneProcess()
    {
        await StartAsync(("sync1", "synapse.app.synchrotron"), ("sync2", "synapse.app.synchrotron"), ("reader1", "synapse.app.client_reader"),
            ("creator1", "synapse.app.event_creator"), ("proxy1", "synapse.app.frontend_proxy"), ("userdir1", "synapse.app.user_dir"));
        var router = Client(_deployment.RouterPort);

        // Registration and login go to the client_reader.
        string alice = await RegisterAsync(router, "alice");
        await RegisterAsync(router, "bob");
        var (status, login) = await SendAsync(router, HttpMethod.Post, "/_matrix/client/v3/login", null,
            new { type = "m.login.password", identifier = new { type = "m.id.user", user = "bob" }, password = "a password" });
        Assert.Equal(200, status);
        string bob = login.GetProperty("access_token").GetString()!;

        // The room is made on the event_creator; bob joins there and at once syncs on his synchrotron: the room is there.
        (status, var created) = await SendAsync(router, HttpMethod.Post, "/_matrix/client/v3/createRoom", alice, new { preset = "public_chat", name = "deployed" });
        Assert.Equal(200, status);
        string roomId = created.GetProperty("room_id").GetString()!;
        string room = Uri.EscapeDataString(roomId);
        string before = (await SyncAsync(router, bob, null, 0)).GetProperty("next_batch").GetString()!;
        (status, _) = await SendAsync(router, HttpMethod.Post, $"/_matrix/client/v3/join/{room}", bob, new { });
        Assert.Equal(200, status);
        string since = await FollowAsync(router, bob, before, s => Joined(s, roomId) is not null, "bob's join in his sync");

        // A message sent through the event_creator wakes bob's long poll.
        var poll = FollowAsync(router, bob, since, s => Messages(s, roomId).Contains("hello deployment"), "the message in bob's long poll");
        (status, var sent) = await SendAsync(router, HttpMethod.Put, $"/_matrix/client/v3/rooms/{room}/send/m.room.message/m1", alice,
            new { msgtype = "m.text", body = "hello deployment" });
        Assert.Equal(200, status);
        since = await poll;
        string eventId = sent.GetProperty("event_id").GetString()!;

        // Typing and receipts are written on main and followed by the synchrotrons.
        (status, _) = await SendAsync(router, HttpMethod.Put, $"/_matrix/client/v3/rooms/{room}/typing/{Uri.EscapeDataString($"@alice:{Server}")}", alice,
            new { typing = true, timeout = 60000 });
        Assert.Equal(200, status);
        (status, _) = await SendAsync(router, HttpMethod.Post, $"/_matrix/client/v3/rooms/{room}/receipt/m.read/{Uri.EscapeDataString(eventId)}", alice, new { });
        Assert.Equal(200, status);
        await FollowAsync(router, bob, since, s => Ephemeral(s, roomId, "m.typing").Any(e => e.GetRawText().Contains("@alice:", StringComparison.Ordinal)),
            "alice typing in bob's sync");
        await FollowAsync(router, bob, since, s => Ephemeral(s, roomId, "m.receipt").Any(e => e.GetRawText().Contains(eventId, StringComparison.Ordinal)),
            "alice's receipt in bob's sync");

        // History through the client_reader; key uploads through the frontend_proxy, stored by main.
        (status, var messages) = await SendAsync(router, HttpMethod.Get, $"/_matrix/client/v3/rooms/{room}/messages?dir=b&limit=10", bob);
        Assert.Equal(200, status);
        Assert.Contains(messages.GetProperty("chunk").EnumerateArray(), e => e.GetProperty("event_id").GetString() == eventId);
        (status, var keys) = await SendAsync(router, HttpMethod.Post, "/_matrix/client/v3/keys/upload", bob,
            new { one_time_keys = new Dictionary<string, string> { ["curve25519:AAAAAQ"] = "b25lIHRpbWUga2V5" } });
        Assert.Equal(200, status);
        Assert.Equal(1, keys.GetProperty("one_time_key_counts").GetProperty("curve25519").GetInt32());

        // The user_dir worker keeps the directory: alice finds her room-mate.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            (status, var found) = await SendAsync(router, HttpMethod.Post, "/_matrix/client/v3/user_directory/search", alice, new { search_term = "bob" });
            Assert.Equal(200, status);
            if (found.GetProperty("results").EnumerateArray().Any(r => r.GetProperty("user_id").GetString() == $"@bob:{Server}"))
            {
                break;
            }

            Assert.True(DateTime.UtcNow < deadline, "the user directory never found bob: " + found);
            await Task.Delay(200);
        }

        // What no worker serves goes to main.
        (status, var whoami) = await SendAsync(router, HttpMethod.Get, "/_matrix/client/v3/account/whoami", bob);
        Assert.Equal((200, $"@bob:{Server}"), (status, whoami.GetProperty("user_id").GetString()));
    }

    [Fact]
    public async Task KilledSynchrotron_ItsUserFollowsOnTheOther_ThenBack_MissingNothing()
    {
        await StartAsync(("sync1", "synapse.app.synchrotron"), ("sync2", "synapse.app.synchrotron"), ("creator1", "synapse.app.event_creator"));
        var router = Client(_deployment.RouterPort);
        string alice = await RegisterAsync(router, "alice");
        string bob = await RegisterAsync(router, "bob");
        string roomId = await SharedRoomAsync(router, alice, bob);

        // The synchrotron bob's syncs go to, as the router orders them.
        var table = new WorkerRouteTable(WorkerDeployment.Load(Shared, WorkerDeployment.WorkerFilesIn(Workers), WorkerTypes.Default));
        var choice = table.Find("GET", "/_matrix/client/v3/sync");
        string bobs = table.Order(choice, "/_matrix/client/v3/sync", $"@bob:{Server}")[0].Name;

        var received = new List<string>();
        string since = (await SyncAsync(router, bob, null, 0)).GetProperty("next_batch").GetString()!;
        var poll = SyncAsync(router, bob, since, 30_000);
        await Task.Delay(500);
        await _deployment.StopAsync(bobs);

        // His long poll moves to the other synchrotron; sends go on meanwhile, and again once his is back.
        await SendMessagesAsync(router, alice, roomId, 0, 10);
        var woken = await poll;
        since = Collect(woken, roomId, received);
        since = await CollectUntilAsync(router, bob, since, roomId, received, 10);
        StartWorker(bobs, "synapse.app.synchrotron");
        await WaitUntilListeningAsync(WorkerPort(bobs));
        await Task.Delay(RouterApp.DownFor + TimeSpan.FromSeconds(1));
        await SendMessagesAsync(router, alice, roomId, 10, 20);
        await CollectUntilAsync(router, bob, since, roomId, received, 20);

        Assert.Equal(Enumerable.Range(0, 20).Select(i => $"message {i}"), received);
    }

    [Fact]
    public async Task MainRestart_WorkersReconnectAndCatchUp_NoEventLostOrDuplicated()
    {
        await StartAsync(("sync1", "synapse.app.synchrotron"), ("creator1", "synapse.app.event_creator"));
        var router = Client(_deployment.RouterPort);
        string alice = await RegisterAsync(router, "alice");
        string bob = await RegisterAsync(router, "bob");
        string roomId = await SharedRoomAsync(router, alice, bob);
        var received = new List<string>();
        string since = (await SyncAsync(router, bob, null, 0)).GetProperty("next_batch").GetString()!;
        await SendMessagesAsync(router, alice, roomId, 0, 5);
        since = await CollectUntilAsync(router, bob, since, roomId, received, 5);

        // Main dies without warning and comes back; a send retried with its transaction ID lands once.
        await _deployment.StopAsync("main");
        Start("main", HostProcess.Homeserver, "-c", Shared);
        await SendMessagesAsync(router, alice, roomId, 5, 15);
        await CollectUntilAsync(router, bob, since, roomId, received, 15);

        Assert.Equal(Enumerable.Range(0, 15).Select(i => $"message {i}"), received);
    }

    [Fact]
    public async Task LoadGeneratorLag_SendThroughTheRouter_ReadOnASynchrotron_EveryEventOnce()
    {
        await StartAsync(("sync1", "synapse.app.synchrotron"), ("creator1", "synapse.app.event_creator"));
        string json = Path.Combine(_deployment.Root, "lag.json");
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();

        int code = await Synapse.LoadTest.LoadTestCommand.RunAsync(
            ["lag", "--base-url", $"http://127.0.0.1:{_deployment.RouterPort}/", "--read-url", $"http://127.0.0.1:{WorkerPort("sync1")}/",
             "--listeners", "3", "--senders", "2", "--messages", "10", "--rate", "40", "--json", json, "--no-progress", "--max-seconds", "120"],
            stdout, stderr, CancellationToken.None);

        Assert.True(code == Synapse.LoadTest.LoadTestCommand.Ok, stdout + "\n" + stderr);
        using var report = JsonDocument.Parse(await File.ReadAllTextAsync(json));
        var results = report.RootElement.GetProperty("results");
        Assert.Equal((30, 0, 0), (results.GetProperty("deliveries").GetInt32(), results.GetProperty("missing").GetInt32(),
            results.GetProperty("duplicates").GetInt32()));
        Assert.Equal(JsonValueKind.Number, results.GetProperty("replication_lag_p99_ms").ValueKind);
    }

    private async Task StartAsync(params (string Name, string App)[] workers)
    {
        Start("main", HostProcess.Homeserver, "-c", Shared);
        await WaitUntilListeningAsync(_deployment.ClientPort);
        foreach (var (name, app) in workers)
        {
            StartWorker(name, app);
        }

        foreach (var (name, _) in workers)
        {
            await WaitUntilListeningAsync(WorkerPort(name));
        }

        Start("router", HostProcess.Router, "-c", Shared, "-a", Workers, "--listen", $"http://127.0.0.1:{_deployment.RouterPort}");
        await WaitUntilListeningAsync(_deployment.RouterPort);
    }

    private int WorkerPort(string name) => _deployment.WorkerPort(name);

    private void StartWorker(string name, string app) =>
        Start(name, HostProcess.Homeserver, "-c", Shared, "-c", _deployment.WorkerFile(name, app));

    private void Start(string name, string host, params string[] args) => _deployment.Start(name, host, args);

    private HttpClient Client(int port) => _deployment.Client(port);

    private Task WaitUntilListeningAsync(int port) => _deployment.WaitUntilListeningAsync(port);

    private static Task<string> RegisterAsync(HttpClient router, string user) => TestDeployment.RegisterAsync(router, user);

    private static async Task<string> SharedRoomAsync(HttpClient router, string alice, string bob)
    {
        var (status, created) = await SendAsync(router, HttpMethod.Post, "/_matrix/client/v3/createRoom", alice, new { preset = "public_chat" });
        Assert.Equal(200, status);
        string roomId = created.GetProperty("room_id").GetString()!;
        (status, _) = await SendAsync(router, HttpMethod.Post, $"/_matrix/client/v3/join/{Uri.EscapeDataString(roomId)}", bob, new { });
        Assert.Equal(200, status);
        return roomId;
    }

    /// <summary>Sends <c>message i</c> for i in [from, to), each retried with its transaction ID until main answers.</summary>
    private static async Task SendMessagesAsync(HttpClient router, string token, string roomId, int from, int to)
    {
        for (int i = from; i < to; i++)
        {
            var deadline = DateTime.UtcNow.AddSeconds(60);
            while (true)
            {
                try
                {
                    var (status, body) = await SendAsync(router, HttpMethod.Put,
                        $"/_matrix/client/v3/rooms/{Uri.EscapeDataString(roomId)}/send/m.room.message/txn{i}", token,
                        new { msgtype = "m.text", body = $"message {i}" });
                    if (status == 200)
                    {
                        break;
                    }

                    Assert.True(status >= 500 && DateTime.UtcNow < deadline, $"send {i}: {status} {body}");
                }
                catch (HttpRequestException) when (DateTime.UtcNow < deadline)
                {
                }

                await Task.Delay(250);
            }
        }
    }

    /// <summary>Follows bob's sync tokens, collecting the room's messages, until <paramref name="count"/> arrived.</summary>
    private static async Task<string> CollectUntilAsync(HttpClient router, string token, string since, string roomId, List<string> received, int count)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (received.Count < count)
        {
            Assert.True(DateTime.UtcNow < deadline, $"only {received.Count} of {count} messages arrived: {string.Join(", ", received)}");
            JsonElement sync;
            try
            {
                sync = await SyncAsync(router, token, since, 5000);
            }
            catch (HttpRequestException)
            {
                await Task.Delay(250);
                continue;
            }

            since = Collect(sync, roomId, received);
        }

        return since;
    }

    private static string Collect(JsonElement sync, string roomId, List<string> received)
    {
        received.AddRange(Messages(sync, roomId));
        return sync.GetProperty("next_batch").GetString()!;
    }

    private static async Task<string> FollowAsync(HttpClient router, string token, string since, Func<JsonElement, bool> done, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var sync = await SyncAsync(router, token, since, 10_000);
            since = sync.GetProperty("next_batch").GetString()!;
            if (done(sync))
            {
                return since;
            }

            Assert.True(DateTime.UtcNow < deadline, what + " never came");
        }
    }

    private static async Task<JsonElement> SyncAsync(HttpClient router, string token, string? since, int timeout)
    {
        var (status, body) = await SendAsync(router, HttpMethod.Get,
            $"/_matrix/client/v3/sync?timeout={timeout.ToString(CultureInfo.InvariantCulture)}" + (since is null ? "" : "&since=" + Uri.EscapeDataString(since)), token);
        if (status >= 500)
        {
            throw new HttpRequestException($"sync answered {status}: {body}");
        }

        Assert.True(status == 200, body.ToString());
        return body;
    }

    private static JsonElement? Joined(JsonElement sync, string roomId) =>
        sync.GetProperty("rooms").TryGetProperty("join", out var join) && join.TryGetProperty(roomId, out var room) ? room : null;

    private static List<string> Messages(JsonElement sync, string roomId) =>
        Joined(sync, roomId) is { } room && room.TryGetProperty("timeline", out var timeline)
            ? [.. timeline.GetProperty("events").EnumerateArray()
                .Where(e => e.GetProperty("type").GetString() == "m.room.message")
                .Select(e => e.GetProperty("content").GetProperty("body").GetString()!)]
            : [];

    private static List<JsonElement> Ephemeral(JsonElement sync, string roomId, string type) =>
        Joined(sync, roomId) is { } room && room.TryGetProperty("ephemeral", out var ephemeral)
            ? [.. ephemeral.GetProperty("events").EnumerateArray().Where(e => e.GetProperty("type").GetString() == type)]
            : [];

    private static Task<(int Status, JsonElement Body)> SendAsync(HttpClient http, HttpMethod method, string path, string? token, object? body = null) =>
        TestDeployment.SendAsync(http, method, path, token, body);
}
