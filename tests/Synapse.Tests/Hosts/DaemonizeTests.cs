using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Synapse.Configuration;
using Synapse.Homeserver;

namespace Synapse.Tests.Hosts;

/// <summary><c>daemonize</c>: the pid-file and log-file rules, and the homeserver detaching itself (SQLite, real processes).</summary>
public sealed class DaemonizeTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("synapse-daemon-").FullName;

    public void Dispose()
    {
        HostProcess.KillEverythingUnder(_directory);
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [Theory]
    [InlineData("data/homeserver.pid", "data/homeserver.log")]
    [InlineData("workers/synchrotron1.pid", "workers/synchrotron1.log")]
    [InlineData("/run/synapse/main", "/run/synapse/main.log")]
    [InlineData("odd.log", "odd.log.log")]
    public void LogPathFor_ReplacesThePidFileExtension(string pidFile, string log) =>
        Assert.Equal(log, PidFiles.LogPathFor(pidFile));

    [Fact]
    public async Task ReadLivePid_MissingGarbageOrDeadProcess_IsNull_ALiveProcessIsItsPid()
    {
        string pidFile = Path.Combine(_directory, "x.pid");
        Assert.Null(PidFiles.ReadLivePid(pidFile));
        Assert.Null(PidFiles.ReadLivePid(Path.Combine(_directory, "no", "such", "dir.pid")));

        await File.WriteAllTextAsync(pidFile, "not a pid");
        Assert.Null(PidFiles.ReadLivePid(pidFile));

        await File.WriteAllTextAsync(pidFile, (await DeadPidAsync()).ToString(CultureInfo.InvariantCulture));
        Assert.Null(PidFiles.ReadLivePid(pidFile));

        await File.WriteAllTextAsync(pidFile, Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "\n");
        Assert.Equal(Environment.ProcessId, PidFiles.ReadLivePid(pidFile));
    }

    [Fact]
    public async Task Loader_DaemonizeWithoutPidFile_IsAConfigurationErrorNamingTheKey()
    {
        string main = await WriteAsync("main.yaml", Config(HostProcess.FreePort(), pidFile: null) + "daemonize: true\n");
        var error = Assert.Throws<ConfigurationException>(() => HomeserverConfigLoader.Load([main]));
        Assert.Equal("daemonize", error.Key);
        Assert.Contains("needs pid_file", error.Message, StringComparison.Ordinal);

        string shared = await WriteAsync("shared.yaml", """
            server_name: d.test
            signing_key_path: signing.key
            database: {name: psycopg2, args: {database: synapse}}
            worker_replication_secret: s
            """);
        string worker = await WriteAsync("worker.yaml", """
            worker_app: synapse.app.synchrotron
            worker_name: s1
            worker_replication_host: 127.0.0.1
            worker_replication_port: 9092
            worker_replication_http_port: 9093
            worker_daemonize: true
            """);
        error = Assert.Throws<ConfigurationException>(() => HomeserverConfigLoader.Load([shared, worker]));
        Assert.Equal("worker_daemonize", error.Key);

        await File.AppendAllTextAsync(worker, "\nworker_pid_file: s1.pid\n");
        var options = HomeserverConfigLoader.Load([shared, worker]);
        Assert.True(options.Daemonize);
        Assert.Equal(Path.GetFullPath("s1.pid"), options.PidFile);
    }

    [Fact]
    public async Task Daemonize_WithoutPidFile_ExitsOneWithAConfigurationError()
    {
        string config = await WriteAsync("homeserver.yaml", Config(HostProcess.FreePort(), pidFile: null));

        var result = await HostProcess.RunAsync(_directory, ["-c", config, "--daemonize"]);

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("--daemonize needs a pid file", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Daemonize_StalePidFile_StartsDetachedAndAnswers_ASecondStartSaysAlreadyRunning()
    {
        int port = HostProcess.FreePort();
        string pidFile = Path.Combine(_directory, "run", "homeserver.pid");
        string config = await WriteAsync("homeserver.yaml", Config(port, pidFile) + "daemonize: true\n");
        Directory.CreateDirectory(Path.GetDirectoryName(pidFile)!);
        await File.WriteAllTextAsync(pidFile, (await DeadPidAsync()).ToString(CultureInfo.InvariantCulture));

        // The starter returns (its output pipe closes) while the daemon keeps running.
        var started = await HostProcess.RunAsync(_directory, ["-c", config], timeout: TimeSpan.FromSeconds(90));
        Assert.True(started.ExitCode == 0, started.Output);
        int pid = Assert.IsType<int>(PidFiles.ReadLivePid(pidFile));
        Assert.Contains($"pid {pid}", started.Output, StringComparison.Ordinal);
        Assert.Contains(Path.Combine(_directory, "run", "homeserver.log"), started.Output, StringComparison.Ordinal);

        using (var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") })
        using (var versions = await http.GetAsync("/_matrix/client/versions"))
        {
            Assert.Equal(HttpStatusCode.OK, versions.StatusCode);
        }

        var again = await HostProcess.RunAsync(_directory, ["-c", config]);
        Assert.Equal(1, again.ExitCode);
        Assert.Contains($"already running (pid {pid}", again.Output, StringComparison.Ordinal);
        Assert.Equal(pid, PidFiles.ReadLivePid(pidFile));

        // SIGTERM stops it cleanly: the pid file goes with it.
        using (var kill = Process.Start("kill", ["-TERM", pid.ToString(CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }

        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (PidFiles.IsAlive(pid) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        Assert.False(PidFiles.IsAlive(pid));
        Assert.False(File.Exists(pidFile));
        Assert.Contains("versions", await File.ReadAllTextAsync(Path.Combine(_directory, "run", "homeserver.log")), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Daemonize_DaemonCannotListen_StarterExitsOneWithTheLogFileAndItsTail()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        int port = ((IPEndPoint)taken.LocalEndpoint).Port;
        string pidFile = Path.Combine(_directory, "homeserver.pid");
        string config = await WriteAsync("homeserver.yaml", Config(port, pidFile));

        var result = await HostProcess.RunAsync(_directory, ["-c", config, "-D"], timeout: TimeSpan.FromSeconds(90));

        Assert.Equal(1, result.ExitCode);
        Assert.Contains($"failed to start (exit code 1); see {Path.Combine(_directory, "homeserver.log")}", result.Output, StringComparison.Ordinal);
        Assert.Contains("cannot open a listener", result.Output, StringComparison.Ordinal);
        Assert.False(File.Exists(pidFile));
    }

    private string Config(int port, string? pidFile) => $$"""
        server_name: d.test
        signing_key_path: '{{Path.Combine(_directory, "signing.key")}}'
        database:
          name: sqlite3
          args: {database: '{{Path.Combine(_directory, "homeserver.db")}}'}
        listeners:
          - {port: {{port}}, type: http, bind_addresses: ['127.0.0.1'], resources: [{names: [client]}]}
        {{PidFileLine(pidFile)}}

        """;

    private static string PidFileLine(string? pidFile) => pidFile is null ? "" : $"pid_file: '{pidFile}'";

    private async Task<string> WriteAsync(string name, string text)
    {
        string path = Path.Combine(_directory, name);
        await File.WriteAllTextAsync(path, text);
        return path;
    }

    /// <summary>The pid of a process that has exited: what a crash leaves in a pid file.</summary>
    internal static async Task<int> DeadPidAsync()
    {
        using var process = Process.Start("true")!;
        await process.WaitForExitAsync();
        return process.Id;
    }
}
