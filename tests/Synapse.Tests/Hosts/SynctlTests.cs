using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Synapse.Configuration;
using Synapse.Homeserver;
using Synapse.Tests.Infrastructure;

namespace Synapse.Tests.Hosts;

/// <summary>synctl managing main and a synchrotron as real daemons on PostgreSQL and 127.0.0.1.</summary>
public sealed class SynctlTests : IAsyncLifetime
{
    private const string Secret = "synctl-test-secret";

    private readonly string _directory = Directory.CreateTempSubdirectory("synapse-synctl-").FullName;
    private TestDatabase _database = null!;
    private int _clientPort;
    private int _replicationHttpPort;
    private int _replicationPort;
    private int _workerPort;

    private string Shared => Path.Combine(_directory, "homeserver.yaml");

    private string Workers => Path.Combine(_directory, "workers");

    private string Worker => Path.Combine(Workers, "synchrotron1.yaml");

    private string MainPidFile => Path.Combine(_directory, "homeserver.pid");

    private string WorkerPidFile => Path.Combine(Workers, "synchrotron1.pid");

    public async Task InitializeAsync()
    {
        _database = await TestDatabase.CreateAsync(DatabaseEngine.Postgres);
        (_clientPort, _replicationHttpPort, _replicationPort, _workerPort) =
            (HostProcess.FreePort(), HostProcess.FreePort(), HostProcess.FreePort(), HostProcess.FreePort());
        var db = _database.Options;
        await File.WriteAllTextAsync(Shared, $$"""
            server_name: synctl.test
            signing_key_path: '{{Path.Combine(_directory, "signing.key")}}'
            pid_file: '{{MainPidFile}}'
            worker_replication_secret: {{Secret}}
            listeners:
              - {port: {{_clientPort}}, type: http, bind_addresses: ['127.0.0.1'], resources: [{names: [client]}]}
              - {port: {{_replicationHttpPort}}, type: http, bind_addresses: ['127.0.0.1'], resources: [{names: [replication]}]}
              - {port: {{_replicationPort}}, type: replication, bind_addresses: ['127.0.0.1']}
            database:
              name: psycopg2
              args: {host: '{{db.Host}}', port: {{db.Port}}, user: '{{db.User}}', password: '{{db.Password}}', database: '{{db.DatabaseName}}'}
            """);
        Directory.CreateDirectory(Workers);
        await File.WriteAllTextAsync(Worker, WorkerConfig("synchrotron1", "synapse.app.synchrotron", _workerPort, $"worker_pid_file: '{WorkerPidFile}'"));
    }

    public async Task DisposeAsync()
    {
        HostProcess.KillEverythingUnder(_directory);
        await _database.DisposeAsync();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [Fact]
    public async Task StartAll_AgainIsANoOp_RestartWorkerOnly_StopAll()
    {
        var start = await SynctlAsync("start", Shared, "-a", Workers);
        Assert.True(start.ExitCode == 0, start.Output);
        int main = LivePid(MainPidFile);
        int worker = LivePid(WorkerPidFile);
        Assert.Contains($"started main (pid {main})", start.Output, StringComparison.Ordinal);
        Assert.Contains($"started synchrotron1 (pid {worker})", start.Output, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, await GetAsync(_clientPort, "/_matrix/client/versions"));
        Assert.Equal(HttpStatusCode.Unauthorized, await GetAsync(_workerPort, "/_matrix/client/v3/sync"));

        // Already running: reported, and no second process.
        var again = await SynctlAsync("start", Shared, "-a", Workers);
        Assert.True(again.ExitCode == 0, again.Output);
        Assert.Contains($"main already running (pid {main})", again.Output, StringComparison.Ordinal);
        Assert.Contains($"synchrotron1 already running (pid {worker})", again.Output, StringComparison.Ordinal);
        Assert.Equal((main, worker), (LivePid(MainPidFile), LivePid(WorkerPidFile)));

        var restart = await SynctlAsync("restart", Shared, "-w", Worker);
        Assert.True(restart.ExitCode == 0, restart.Output);
        int newWorker = LivePid(WorkerPidFile);
        Assert.NotEqual(worker, newWorker);
        Assert.False(PidFiles.IsAlive(worker));
        Assert.Equal(main, LivePid(MainPidFile));
        Assert.DoesNotContain("main", restart.Output, StringComparison.Ordinal);
        Assert.Contains($"stopped synchrotron1 (pid {worker})", restart.Output, StringComparison.Ordinal);
        Assert.Contains($"started synchrotron1 (pid {newWorker})", restart.Output, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Unauthorized, await GetAsync(_workerPort, "/_matrix/client/v3/sync"));

        var stop = await SynctlAsync("stop", Shared, "-a", Workers);
        Assert.True(stop.ExitCode == 0, stop.Output);
        Assert.True(
            stop.Output.IndexOf("stopped synchrotron1", StringComparison.Ordinal) < stop.Output.IndexOf("stopped main", StringComparison.Ordinal),
            "workers stop before main: " + stop.Output);
        Assert.False(PidFiles.IsAlive(main) || PidFiles.IsAlive(newWorker));
        Assert.False(File.Exists(MainPidFile) || File.Exists(WorkerPidFile));

        var stopped = await SynctlAsync("stop", Shared, "-a", Workers);
        Assert.Equal(0, stopped.ExitCode);
        Assert.Contains("main not running", stopped.Output, StringComparison.Ordinal);
        Assert.Contains("synchrotron1 not running", stopped.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_WorkerCannotListen_ExitsOneWithItsLogFile_MainStillStarts()
    {
        using var taken = new TcpListener(IPAddress.Loopback, _workerPort);
        taken.Start();

        var start = await SynctlAsync("start", Shared, "-a", Workers);

        Assert.Equal(1, start.ExitCode);
        Assert.Contains($"started main (pid {LivePid(MainPidFile)})", start.Output, StringComparison.Ordinal);
        Assert.Contains($"failed to start synchrotron1; see {Path.Combine(Workers, "synchrotron1.log")}", start.Output, StringComparison.Ordinal);
        Assert.Contains("cannot open a listener", start.Output, StringComparison.Ordinal);
        Assert.False(File.Exists(WorkerPidFile));

        var stop = await SynctlAsync("stop", Shared, "-a", Workers);
        Assert.Equal(0, stop.ExitCode);
        Assert.Contains("synchrotron1 not running", stop.Output, StringComparison.Ordinal);
        Assert.Contains("stopped main", stop.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConfigurationMistakes_ExitOneBeforeStartingAnything()
    {
        string unknown = Path.Combine(_directory, "unknown.yaml");
        await File.WriteAllTextAsync(unknown, WorkerConfig("w1", "synapse.app.no_such_worker", HostProcess.FreePort(), "worker_pid_file: w1.pid"));
        var result = await SynctlAsync("start", Shared, "-w", unknown);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("unknown worker type 'synapse.app.no_such_worker'", result.Output, StringComparison.Ordinal);

        string noPid = Path.Combine(_directory, "nopid.yaml");
        await File.WriteAllTextAsync(noPid, WorkerConfig("w2", "synapse.app.synchrotron", HostProcess.FreePort(), ""));
        result = await SynctlAsync("start", Shared, "-w", noPid);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("set worker_pid_file", result.Output, StringComparison.Ordinal);

        string mainNoPid = Path.Combine(_directory, "main-nopid.yaml");
        await File.WriteAllLinesAsync(mainNoPid, (await File.ReadAllLinesAsync(Shared)).Where(l => !l.StartsWith("pid_file", StringComparison.Ordinal)));
        result = await SynctlAsync("start", mainNoPid);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("set pid_file", result.Output, StringComparison.Ordinal);

        string twins = Path.Combine(_directory, "twins");
        Directory.CreateDirectory(twins);
        await File.WriteAllTextAsync(Path.Combine(twins, "a.yaml"), WorkerConfig("same", "synapse.app.synchrotron", HostProcess.FreePort(), "worker_pid_file: a.pid"));
        await File.WriteAllTextAsync(Path.Combine(twins, "b.yaml"), WorkerConfig("same", "synapse.app.synchrotron", HostProcess.FreePort(), "worker_pid_file: b.pid"));
        result = await SynctlAsync("start", Shared, "-a", twins);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("'same' is also the name of the worker in", result.Output, StringComparison.Ordinal);

        result = await SynctlAsync("start", Shared, "-a", Path.Combine(_directory, "no-such-dir"));
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("no such directory", result.Output, StringComparison.Ordinal);

        Assert.False(File.Exists(MainPidFile));
    }

    private async Task<(int ExitCode, string Output)> SynctlAsync(params string[] args) =>
        await HostProcess.RunAsync(_directory, args, HostProcess.Synctl);

    private string WorkerConfig(string name, string app, int port, string extra) => $$"""
        worker_app: {{app}}
        worker_name: {{name}}
        worker_replication_host: 127.0.0.1
        worker_replication_port: {{_replicationPort}}
        worker_replication_http_port: {{_replicationHttpPort}}
        worker_listeners:
          - {port: {{port}}, type: http, bind_addresses: ['127.0.0.1'], resources: [{names: [client]}]}
        {{extra}}

        """;

    private static int LivePid(string pidFile) =>
        PidFiles.ReadLivePid(pidFile) ?? throw new Xunit.Sdk.XunitException($"no live process in {pidFile}");

    private static async Task<HttpStatusCode> GetAsync(int port, string path)
    {
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}") };
        using var response = await http.GetAsync(path);
        return response.StatusCode;
    }
}
