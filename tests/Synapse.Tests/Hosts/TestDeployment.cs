using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Synapse.Configuration;
using Synapse.Tests.Infrastructure;

namespace Synapse.Tests.Hosts;

/// <summary>
/// A worker deployment's files and processes, as an operator lays them out: a shared <c>homeserver.yaml</c> on a fresh
/// PostgreSQL database (client, replication HTTP and replication TCP listeners on free loopback ports), worker files in
/// <c>workers/</c>, and the processes started from them. Disposing kills every process and removes the files.
/// </summary>
internal sealed class TestDeployment : IAsyncDisposable
{
    private const string Secret = "deployment-secret";

    private readonly Dictionary<string, int> _workerPorts = [];
    private readonly List<HttpClient> _clients = [];
    private readonly TestDatabase _database;

    private TestDeployment(TestDatabase database, string serverName)
    {
        _database = database;
        ServerName = serverName;
        Directory.CreateDirectory(Workers);
        (ClientPort, ReplicationHttpPort, ReplicationPort, RouterPort) =
            (HostProcess.FreePort(), HostProcess.FreePort(), HostProcess.FreePort(), HostProcess.FreePort());
    }

    public string ServerName { get; }

    public string Root { get; } = Directory.CreateTempSubdirectory("synapse-deployment-").FullName;

    /// <summary>The shared homeserver.yaml.</summary>
    public string Shared => Path.Combine(Root, "homeserver.yaml");

    /// <summary>The folder of worker files (the router's and synctl's <c>-a</c>).</summary>
    public string Workers => Path.Combine(Root, "workers");

    public int ClientPort { get; }

    public int ReplicationHttpPort { get; }

    public int ReplicationPort { get; }

    /// <summary>A free port for the router.</summary>
    public int RouterPort { get; }

    /// <summary>The processes started, by name, with their output.</summary>
    public Dictionary<string, (Process Process, StringBuilder Output)> Processes { get; } = [];

    public static async Task<TestDeployment> CreateAsync(string serverName)
    {
        var deployment = new TestDeployment(await TestDatabase.CreateAsync(DatabaseEngine.Postgres), serverName);
        var db = deployment._database.Options;
        await File.WriteAllTextAsync(deployment.Shared, $$"""
            server_name: {{serverName}}
            signing_key_path: '{{Path.Combine(deployment.Root, "signing.key")}}'
            enable_registration: true
            enable_registration_without_verification: true
            worker_replication_secret: {{Secret}}
            update_user_directory: false
            rc_registration: {per_second: 1000, burst_count: 1000}
            rc_message: {per_second: 1000, burst_count: 1000}
            rc_login:
              address: {per_second: 1000, burst_count: 1000}
              account: {per_second: 1000, burst_count: 1000}
              failed_attempts: {per_second: 1000, burst_count: 1000}
            listeners:
              - port: {{deployment.ClientPort}}
                type: http
                x_forwarded: true
                bind_addresses: ['127.0.0.1']
                resources: [{names: [client]}]
              - port: {{deployment.ReplicationHttpPort}}
                type: http
                bind_addresses: ['127.0.0.1']
                resources: [{names: [replication]}]
              - port: {{deployment.ReplicationPort}}
                type: replication
                bind_addresses: ['127.0.0.1']
            database:
              name: psycopg2
              args: {host: '{{db.Host}}', port: {{db.Port}}, user: '{{db.User}}', password: '{{db.Password}}', database: '{{db.DatabaseName}}'}
            """);
        return deployment;
    }

    /// <summary>The worker's file <c>workers/NAME.yaml</c>, written on first use with a client listener on a free port.</summary>
    public string WorkerFile(string name, string app)
    {
        string path = Path.Combine(Workers, name + ".yaml");
        if (!_workerPorts.TryGetValue(name, out int port))
        {
            _workerPorts[name] = port = HostProcess.FreePort();
            File.WriteAllText(path, $$"""
                worker_app: {{app}}
                worker_name: {{name}}
                worker_replication_host: 127.0.0.1
                worker_replication_port: {{ReplicationPort}}
                worker_replication_http_port: {{ReplicationHttpPort}}
                worker_main_http_uri: http://127.0.0.1:{{ClientPort}}
                worker_listeners:
                  - port: {{port}}
                    type: http
                    bind_addresses: ['127.0.0.1']
                    resources: [{names: [client]}]
                """);
        }

        return path;
    }

    /// <summary>The client port of a worker whose file was written.</summary>
    public int WorkerPort(string name) => _workerPorts[name];

    /// <summary>Starts <c>dotnet PROGRAM ARGS</c> in the deployment's folder as process <paramref name="name"/> (replacing one stopped).</summary>
    public void Start(string name, string program, params string[] args)
    {
        if (Processes.TryGetValue(name, out var previous))
        {
            Assert.True(previous.Process.HasExited, $"{name} is still running");
            previous.Process.Dispose();
        }

        Processes[name] = HostProcess.Start(Root, args, program);
    }

    /// <summary>Kills the process <paramref name="name"/> if it runs (it stays listed with its output).</summary>
    public async Task StopAsync(string name)
    {
        var process = Processes[name].Process;
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    /// <summary>An HTTP client for a local port, disposed with the deployment.</summary>
    public HttpClient Client(int port)
    {
        var client = new HttpClient
        {
            BaseAddress = new Uri($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}"),
            Timeout = TimeSpan.FromSeconds(90),
        };
        _clients.Add(client);
        return client;
    }

    /// <summary>Waits until the port answers HTTP (any status: a worker may not serve the probe's path); fails when a process exited.</summary>
    public async Task WaitUntilListeningAsync(int port)
    {
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}") };
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            if (Processes.FirstOrDefault(p => p.Value.Process.HasExited) is { Value.Process: not null } exited)
            {
                Assert.Fail($"{exited.Key} exited with {exited.Value.Process.ExitCode}: {exited.Value.Output}");
            }

            try
            {
                using var response = await http.GetAsync("/_matrix/client/versions");
                if (response.StatusCode is HttpStatusCode.OK or HttpStatusCode.NotFound)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(100);
        }

        Assert.Fail($"Nothing answered on port {port}: " + Output());
    }

    /// <summary>Every process's output so far, for a failure message.</summary>
    public string Output() => string.Join("\n---\n", Processes.Select(p =>
    {
        lock (p.Value.Output)
        {
            return p.Key + ": " + p.Value.Output;
        }
    }));

    public async ValueTask DisposeAsync()
    {
        foreach (var client in _clients)
        {
            client.Dispose();
        }

        foreach (string name in Processes.Keys)
        {
            await StopAsync(name);
            Processes[name].Process.Dispose();
        }

        // A process that escaped (a daemonized copy) would hold the ports and the database.
        HostProcess.KillEverythingUnder(Root);
        await _database.DisposeAsync();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>Registers <paramref name="user"/> (password "a password") and returns the access token.</summary>
    public static async Task<string> RegisterAsync(HttpClient http, string user)
    {
        var (status, body) = await SendAsync(http, HttpMethod.Post, "/_matrix/client/v3/register", null,
            new { username = user, password = "a password", auth = new { type = "m.login.dummy" } });
        Assert.True(status == 200, body.ToString());
        return body.GetProperty("access_token").GetString()!;
    }

    /// <summary>Sends a request with an optional token and JSON body; the status and the JSON object answered (default when not one).</summary>
    public static async Task<(int Status, JsonElement Body)> SendAsync(HttpClient http, HttpMethod method, string path, string? token, object? body = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (token is not null)
        {
            request.Headers.Authorization = new("Bearer", token);
        }

        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }

        using var response = await http.SendAsync(request);
        string text = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, text.Length == 0 || text[0] != '{' ? default : JsonDocument.Parse(text).RootElement.Clone());
    }
}
