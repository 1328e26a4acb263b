using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Synapse.Configuration;
using Synapse.Tests.Infrastructure;
using static Synapse.Tests.Hosts.TestDeployment;

namespace Synapse.Tests.Hosts;

/// <summary>Main and workers as real processes on PostgreSQL and 127.0.0.1, configured as an operator would.</summary>
public sealed class WorkerProcessTests : IAsyncLifetime
{
    private const string Secret = "worker-test-secret";

    private readonly string _directory = Directory.CreateTempSubdirectory("synapse-workers-").FullName;
    private readonly List<(Process Process, StringBuilder Output)> _processes = [];
    private TestDatabase _database = null!;
    private int _clientPort;
    private int _replicationHttpPort;
    private int _replicationPort;

    public async Task InitializeAsync()
    {
        _database = await TestDatabase.CreateAsync(DatabaseEngine.Postgres);
        (_clientPort, _replicationHttpPort, _replicationPort) = (HostProcess.FreePort(), HostProcess.FreePort(), HostProcess.FreePort());
        var db = _database.Options;
        await File.WriteAllTextAsync(Shared, $$"""
            server_name: workers.test
            signing_key_path: '{{Path.Combine(_directory, "signing.key")}}'
            enable_registration: true
            enable_registration_without_verification: true
            worker_replication_secret: {{Secret}}
            rc_registration: {per_second: 1000, burst_count: 1000}
            rc_login:
              address: {per_second: 1000, burst_count: 1000}
              account: {per_second: 1000, burst_count: 1000}
              failed_attempts: {per_second: 1000, burst_count: 1000}
            listeners:
              - port: {{_clientPort}}
                type: http
                bind_addresses: ['127.0.0.1']
                resources: [{names: [client]}]
              - port: {{_replicationHttpPort}}
                type: http
                bind_addresses: ['127.0.0.1']
                resources: [{names: [replication]}]
              - port: {{_replicationPort}}
                type: replication
                bind_addresses: ['127.0.0.1']
            database:
              name: psycopg2
              args: {host: '{{db.Host}}', port: {{db.Port}}, user: '{{db.User}}', password: '{{db.Password}}', database: '{{db.DatabaseName}}'}
            """);
    }

    public async Task DisposeAsync()
    {
        foreach (var (process, _) in _processes)
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }

            process.Dispose();
        }

        await _database.DisposeAsync();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private string Shared => Path.Combine(_directory, "homeserver.yaml");

    [Fact]
    public async Task SendThroughEventCreator_ArrivesInTheLongPollOnASynchrotron_AndWorkersRefuseWhatTheyDoNotServe()
    {
        using var main = await StartMainAsync();
        var (syncPort, creatorPort) = (HostProcess.FreePort(), HostProcess.FreePort());
        StartWorker("synchrotron1", "synapse.app.synchrotron", syncPort);
        StartWorker("creator1", "synapse.app.event_creator", creatorPort);
        using var synchrotron = await WaitUntilListeningAsync(syncPort);
        using var creator = await WaitUntilListeningAsync(creatorPort);

        string token = await RegisterAsync(main, "alice");
        var (status, created) = await SendAsync(creator, HttpMethod.Post, "/_matrix/client/v3/createRoom", token, new { name = "through a worker" });
        Assert.Equal(200, status);
        string roomId = created.GetProperty("room_id").GetString()!;

        // The room reaches the synchrotron over replication; then a long poll wakes for a send on the event creator.
        string since = await EventuallySyncAsync(synchrotron, token, null, s => s.GetProperty("rooms").GetProperty("join").TryGetProperty(roomId, out _));
        var poll = SendAsync(synchrotron, HttpMethod.Get, $"/_matrix/client/v3/sync?timeout=30000&since={since}", token);
        (status, _) = await SendAsync(creator, HttpMethod.Put,
            $"/_matrix/client/v3/rooms/{Uri.EscapeDataString(roomId)}/send/m.room.message/t1", token, new { msgtype = "m.text", body = "hello workers" });
        Assert.Equal(200, status);

        // The poll wakes for the first change it sees (alice's presence, which main set from the synchrotron's USER_SYNC,
        // may come first); following its token, the message arrives.
        var (pollStatus, woken) = await poll;
        Assert.Equal(200, pollStatus);
        if (!woken.GetRawText().Contains("hello workers", StringComparison.Ordinal))
        {
            await EventuallySyncAsync(synchrotron, token, woken.GetProperty("next_batch").GetString(),
                s => s.GetRawText().Contains("hello workers", StringComparison.Ordinal));
        }

        // Each process serves only its own endpoints.
        var (refused, error) = await SendAsync(synchrotron, HttpMethod.Post, "/_matrix/client/v3/createRoom", token, new { });
        Assert.Equal((404, "M_UNRECOGNIZED"), (refused, error.GetProperty("errcode").GetString()));
        (refused, error) = await SendAsync(creator, HttpMethod.Get, "/_matrix/client/v3/sync", token);
        Assert.Equal((404, "M_UNRECOGNIZED"), (refused, error.GetProperty("errcode").GetString()));
    }

    [Fact]
    public async Task TypingAndReceipts_SetOnMain_ArriveInASynchrotronsSync_AndTypingStopsThere()
    {
        using var main = await StartMainAsync();
        int syncPort = HostProcess.FreePort();
        StartWorker("synchrotron1", "synapse.app.synchrotron", syncPort);
        using var synchrotron = await WaitUntilListeningAsync(syncPort);

        string token = await RegisterAsync(main, "typist");
        var (status, created) = await SendAsync(main, HttpMethod.Post, "/_matrix/client/v3/createRoom", token, new { });
        Assert.Equal(200, status);
        string roomId = created.GetProperty("room_id").GetString()!;
        string room = Uri.EscapeDataString(roomId);
        (status, var sent) = await SendAsync(main, HttpMethod.Put, $"/_matrix/client/v3/rooms/{room}/send/m.room.message/t1", token,
            new { msgtype = "m.text", body = "read me" });
        Assert.Equal(200, status);
        string eventId = sent.GetProperty("event_id").GetString()!;
        string since = await EventuallySyncAsync(synchrotron, token, null, s => s.GetRawText().Contains(eventId, StringComparison.Ordinal));

        (status, _) = await SendAsync(main, HttpMethod.Put, $"/_matrix/client/v3/rooms/{room}/typing/@typist:workers.test", token,
            new { typing = true, timeout = 60000 });
        Assert.Equal(200, status);
        (status, _) = await SendAsync(main, HttpMethod.Post, $"/_matrix/client/v3/rooms/{room}/receipt/m.read/{Uri.EscapeDataString(eventId)}", token, new { });
        Assert.Equal(200, status);

        bool Typing(JsonElement sync, bool typing) => Ephemeral(sync, roomId).Any(e => e.GetProperty("type").GetString() == "m.typing"
            && e.GetProperty("content").GetProperty("user_ids").EnumerateArray().Any(u => u.GetString() == "@typist:workers.test") == typing);
        bool Receipt(JsonElement sync) => Ephemeral(sync, roomId).Any(e => e.GetProperty("type").GetString() == "m.receipt"
            && e.GetProperty("content").TryGetProperty(eventId, out _));

        // An initial sync on the synchrotron shows both; so does an incremental one from before they were set.
        await EventuallySyncAsync(synchrotron, token, null, s => Typing(s, true) && Receipt(s));
        await EventuallySyncAsync(synchrotron, token, since, s => Typing(s, true));

        (status, _) = await SendAsync(main, HttpMethod.Put, $"/_matrix/client/v3/rooms/{room}/typing/@typist:workers.test", token,
            new { typing = false });
        Assert.Equal(200, status);
        await EventuallySyncAsync(synchrotron, token, since, s => Typing(s, false));
    }

    [Fact]
    public async Task FrontendProxy_PassesKeyUploadsToMain_AndRefusesWhatItDoesNotServe()
    {
        using var main = await StartMainAsync();
        int proxyPort = HostProcess.FreePort();
        StartWorker("proxy1", "synapse.app.frontend_proxy", proxyPort, $"worker_main_http_uri: http://127.0.0.1:{_clientPort}");
        using var proxy = await WaitUntilListeningAsync(proxyPort);
        string token = await RegisterAsync(main, "uploader");

        var (status, uploaded) = await SendAsync(proxy, HttpMethod.Post, "/_matrix/client/v3/keys/upload", token,
            new { one_time_keys = new Dictionary<string, string> { ["curve25519:AAAAAQ"] = "b25lIHRpbWUga2V5" } });
        Assert.Equal(200, status);
        Assert.Equal(1, uploaded.GetProperty("one_time_key_counts").GetProperty("curve25519").GetInt32());

        // Main wrote it: main counts the key. Main's errors come back unchanged.
        (status, var counted) = await SendAsync(main, HttpMethod.Post, "/_matrix/client/v3/keys/upload", token, new { });
        Assert.Equal(200, status);
        Assert.Equal(1, counted.GetProperty("one_time_key_counts").GetProperty("curve25519").GetInt32());
        (status, var refused) = await SendAsync(proxy, HttpMethod.Post, "/_matrix/client/v3/keys/upload", "not-a-token", new { });
        Assert.Equal((401, "M_UNKNOWN_TOKEN"), (status, refused.GetProperty("errcode").GetString()));
        (status, refused) = await SendAsync(proxy, HttpMethod.Post, "/_matrix/client/v3/keys/query", token, new { device_keys = new { } });
        Assert.Equal((404, "M_UNRECOGNIZED"), (status, refused.GetProperty("errcode").GetString()));
    }

    [Fact]
    public async Task FrontendProxy_WithoutMainsUri_ExitsWithAClearError()
    {
        using var main = await StartMainAsync();
        var (exitCode, output) = await RunWorkerAsync("proxy2", "synapse.app.frontend_proxy", HostProcess.FreePort());
        Assert.Equal(1, exitCode);
        Assert.Contains("worker_main_http_uri", output, StringComparison.Ordinal);
    }

    private static List<JsonElement> Ephemeral(JsonElement sync, string roomId) =>
        sync.GetProperty("rooms").TryGetProperty("join", out var join) && join.TryGetProperty(roomId, out var room)
            && room.TryGetProperty("ephemeral", out var ephemeral)
            ? [.. ephemeral.GetProperty("events").EnumerateArray()]
            : [];

    [Fact]
    public async Task DeviceActivity_OnASynchrotron_ReachesMainAsUserIp()
    {
        using var main = await StartMainAsync();
        int syncPort = HostProcess.FreePort();
        StartWorker("synchrotron1", "synapse.app.synchrotron", syncPort);
        using var synchrotron = await WaitUntilListeningAsync(syncPort);
        string token = await RegisterAsync(main, "roamer");
        var (loggedIn, login) = await SendAsync(main, HttpMethod.Post, "/_matrix/client/v3/login", null,
            new { type = "m.login.password", identifier = new { type = "m.id.user", user = "roamer" }, password = "a password" });
        Assert.Equal(200, loggedIn);
        string other = login.GetProperty("access_token").GetString()!;

        using (var request = new HttpRequestMessage(HttpMethod.Get, "/_matrix/client/v3/sync?timeout=0"))
        {
            request.Headers.Authorization = new("Bearer", token);
            request.Headers.Add("X-Forwarded-For", "198.51.100.7");
            request.Headers.UserAgent.ParseAdd("RoamingClient/1.0");
            using var response = await synchrotron.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        // The synchrotron batches it (every 5 s) and sends USER_IP; main writes the device's last-seen data.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            // Asked with the other device: main records that request too, for that device.
            var (status, devices) = await SendAsync(main, HttpMethod.Get, "/_matrix/client/v3/devices", other);
            Assert.Equal(200, status);
            if (devices.GetProperty("devices").EnumerateArray().Any(d => d.TryGetProperty("last_seen_ip", out var ip) && ip.GetString() == "198.51.100.7"))
            {
                break;
            }

            Assert.True(DateTime.UtcNow < deadline, "main never recorded the synchrotron's request: " + devices);
            await Task.Delay(250);
        }
    }

    [Fact]
    public async Task UserDir_WhileMainKeepsTheDirectory_ExitsWithAClearError()
    {
        using var main = await StartMainAsync();
        var (exitCode, output) = await RunWorkerAsync("userdir1", "synapse.app.user_dir", HostProcess.FreePort());
        Assert.Equal(1, exitCode);
        Assert.Contains("update_user_directory: false", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Main_ReplicationPortTaken_ExitsWithAClearError()
    {
        using var taken = new TcpListener(IPAddress.Loopback, _replicationPort);
        taken.Start();
        var (exitCode, output) = await RunAsync("-c", Shared);
        Assert.Equal(1, exitCode);
        Assert.Contains("Error: cannot open a listener", output, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WorkerMistakes_ExitWithAClearError()
    {
        using var main = await StartMainAsync();

        var unknown = await RunWorkerAsync("w1", "synapse.app.no_such_worker", HostProcess.FreePort());
        Assert.Equal(1, unknown.ExitCode);
        Assert.Contains("unknown worker type 'synapse.app.no_such_worker'", unknown.Output, StringComparison.Ordinal);

        var wrongSecret = await RunWorkerAsync("w2", "synapse.app.synchrotron", HostProcess.FreePort(), "worker_replication_secret: not-the-secret");
        Assert.Equal(1, wrongSecret.ExitCode);
        Assert.Contains("refused this worker: authentication failed", wrongSecret.Output, StringComparison.Ordinal);

        var missingApp = await RunAsync("-c", Shared, "-c", await WriteAsync("noapp.yaml", "worker_name: w4\nworker_replication_host: 127.0.0.1\n"));
        Assert.Equal(1, missingApp.ExitCode);
        Assert.Contains("worker_app is missing", missingApp.Output, StringComparison.Ordinal);
    }

    private async Task<HttpClient> StartMainAsync()
    {
        Start("-c", Shared);
        return await WaitUntilListeningAsync(_clientPort);
    }

    private void StartWorker(string name, string app, int port, string extra = "") =>
        Start("-c", Shared, "-c", WorkerFile(name, app, port, extra));

    private async Task<(int ExitCode, string Output)> RunWorkerAsync(string name, string app, int port, string extra = "") =>
        await RunAsync("-c", Shared, "-c", WorkerFile(name, app, port, extra));

    private string WorkerFile(string name, string app, int port, string extra)
    {
        string path = Path.Combine(_directory, name + ".yaml");
        File.WriteAllText(path, $$"""
            worker_app: {{app}}
            worker_name: {{name}}
            worker_replication_host: 127.0.0.1
            worker_replication_port: {{_replicationPort}}
            worker_replication_http_port: {{_replicationHttpPort}}
            worker_listeners:
              - port: {{port}}
                type: http
                x_forwarded: true
                bind_addresses: ['127.0.0.1']
                resources: [{names: [client]}]
            {{extra}}
            """);
        return path;
    }

    private async Task<string> WriteAsync(string name, string text)
    {
        string path = Path.Combine(_directory, name);
        await File.WriteAllTextAsync(path, text);
        return path;
    }

    private static async Task<string> EventuallySyncAsync(HttpClient worker, string token, string? since, Func<JsonElement, bool> done)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var (status, body) = await SendAsync(worker, HttpMethod.Get,
                "/_matrix/client/v3/sync?timeout=1000" + (since is null ? "" : "&since=" + since), token);
            Assert.Equal(200, status);
            if (done(body))
            {
                return body.GetProperty("next_batch").GetString()!;
            }

            Assert.True(DateTime.UtcNow < deadline, "the worker's sync never showed it: " + body.GetRawText());
        }
    }

    private void Start(params string[] args) => _processes.Add(HostProcess.Start(_directory, args));

    private async Task<(int ExitCode, string Output)> RunAsync(params string[] args)
    {
        Start(args);
        var (process, output) = _processes[^1];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await process.WaitForExitAsync(timeout.Token);
        lock (output)
        {
            return (process.ExitCode, output.ToString());
        }
    }

    /// <summary>Waits until the port answers HTTP (any status: a worker may not serve the probe's path).</summary>
    private async Task<HttpClient> WaitUntilListeningAsync(int port)
    {
        var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}") };
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            if (_processes.FirstOrDefault(p => p.Process.HasExited) is { Process: not null } exited)
            {
                Assert.Fail($"A process exited with {exited.Process.ExitCode}: {exited.Output}");
            }

            try
            {
                using var response = await http.GetAsync("/_matrix/client/versions");
                if (response.StatusCode is HttpStatusCode.OK or HttpStatusCode.NotFound)
                {
                    return http;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(100);
        }

        http.Dispose();
        Assert.Fail($"Nothing answered on port {port}: " + string.Join("\n---\n", _processes.Select(p => p.Output.ToString())));
        return null!;
    }
}
