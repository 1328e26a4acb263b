using Synapse.Configuration;

namespace Synapse.Tests.Configuration;

/// <summary>A worker's file on top of the shared homeserver file, and the mistakes that must stop it with a clear error.</summary>
public sealed class WorkerConfigTests : IDisposable
{
    private const string Postgres = "database:\n  name: psycopg2\n  args:\n    database: synapse\n    host: 127.0.0.1\n";

    private readonly TempDirectory temp = new();

    public void Dispose() => temp.Dispose();

    [Fact]
    public void Load_WorkerFileOnTopOfTheSharedOne_BindsTheWorkerKeys_AndItsOwnListeners()
    {
        string shared = Shared();
        string worker = temp.Write("synchrotron1.yaml", """
            worker_app: synapse.app.synchrotron
            worker_name: synchrotron1
            worker_replication_host: 127.0.0.1
            worker_replication_port: 9092
            worker_replication_http_port: 9093
            worker_main_http_uri: http://127.0.0.1:8008
            worker_pid_file: /run/synapse/synchrotron1.pid
            worker_daemonize: true
            worker_listeners:
              - port: 8083
                type: http
                bind_addresses: ['127.0.0.1']
                resources:
                  - names: [client]
            """);

        var options = HomeserverConfigLoader.Load([shared, worker], out var unknown);

        Assert.Empty(unknown);
        var w = options.Worker!;
        Assert.Equal(("synapse.app.synchrotron", "synchrotron1", "127.0.0.1", 9092, 9093), (w.App, w.Name, w.ReplicationHost, w.ReplicationPort, w.ReplicationHttpPort));
        Assert.Equal(new Uri("http://127.0.0.1:8008"), w.MainHttpUri);
        Assert.True(w.Daemonize);
        Assert.Equal("/run/synapse/synchrotron1.pid", options.PidFile);
        var listener = Assert.Single(options.Listeners);
        Assert.Equal((8083, "http"), (listener.Port, listener.Type));
        Assert.Equal("s3cret", options.WorkerReplicationSecret);
        Assert.Equal("example.com", options.ServerName);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("worker_app: synapse.app.homeserver")]
    public void Load_MainFile_HasNoWorker(string? app)
    {
        var options = HomeserverConfigLoader.Load([app is null ? Shared() : Shared(app)]);
        Assert.Null(options.Worker);
        Assert.True(options.UpdateUserDirectory);
    }

    [Fact]
    public void Load_UpdateUserDirectoryOff_IsRead()
    {
        Assert.False(HomeserverConfigLoader.Load([Shared("update_user_directory: false")]).UpdateUserDirectory);
    }

    [Theory]
    [InlineData("worker_name: synchrotron1\nworker_replication_host: 127.0.0.1", "worker_name", "worker_app is missing")]
    [InlineData("worker_app: synapse.app.homeserver\nworker_listeners: []", "worker_listeners", "takes no worker_* keys")]
    [InlineData("worker_app: synapse.app.synchrotron\nworker_replication_host: 127.0.0.1\nworker_replication_port: 9092\nworker_replication_http_port: 9093", "worker_name", "missing")]
    [InlineData("worker_app: synapse.app.synchrotron\nworker_name: 'two words'\nworker_replication_host: h\nworker_replication_port: 1\nworker_replication_http_port: 2", "worker_name", "letters, digits")]
    [InlineData("worker_app: synapse.app.synchrotron\nworker_name: s1\nworker_replication_port: 9092\nworker_replication_http_port: 9093", "worker_replication_host", "missing")]
    [InlineData("worker_app: synapse.app.synchrotron\nworker_name: s1\nworker_replication_host: h\nworker_replication_http_port: 9093", "worker_replication_port", "missing")]
    [InlineData("worker_app: synapse.app.synchrotron\nworker_name: s1\nworker_replication_host: h\nworker_replication_port: 9092", "worker_replication_http_port", "missing")]
    [InlineData("worker_app: synapse.app.synchrotron\nworker_name: s1\nworker_replication_host: h\nworker_replication_port: 1\nworker_replication_http_port: 2\nworker_main_http_uri: not-a-url", "worker_main_http_uri", "absolute http")]
    [InlineData("worker_app: synapse.app.synchrotron\nworker_name: s1\nworker_replication_host: h\nworker_replication_port: 1\nworker_replication_http_port: 2\nworker_listeners:\n  - port: 9\n    type: replication", "worker_listeners", "belongs on main")]
    public void Load_WorkerMistakes_NameTheKey(string workerFile, string key, string message)
    {
        var error = Assert.Throws<ConfigurationException>(() => HomeserverConfigLoader.Load([Shared(), temp.Write("worker.yaml", workerFile)]));
        Assert.Contains(key, error.Message, StringComparison.Ordinal);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_WorkerOnSqlite_RefusedWithTheReason()
    {
        string shared = temp.Write("homeserver.yaml", Base($"database:\n  name: sqlite3\n  args:\n    database: '{temp.Combine("homeserver.db")}'\n"));
        var error = Assert.Throws<ConfigurationException>(() => HomeserverConfigLoader.Load([shared, temp.Write("worker.yaml", WorkerKeys())]));
        Assert.Contains("workers need PostgreSQL", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_WorkerWithoutTheSecret_Refused()
    {
        string shared = temp.Write("homeserver.yaml", Base(Postgres, secret: false));
        var error = Assert.Throws<ConfigurationException>(() => HomeserverConfigLoader.Load([shared, temp.Write("worker.yaml", WorkerKeys())]));
        Assert.Contains("worker_replication_secret", error.Message, StringComparison.Ordinal);
    }

    private static string WorkerKeys() =>
        "worker_app: synapse.app.synchrotron\nworker_name: s1\nworker_replication_host: h\nworker_replication_port: 1\nworker_replication_http_port: 2\n";

    private string Shared(params string[] extra) => temp.Write("homeserver.yaml", Base(Postgres) + string.Join('\n', extra) + "\n");

    private string Base(string database, bool secret = true) =>
        "server_name: example.com\n"
        + $"signing_key_path: '{temp.Combine("example.com.signing.key")}'\n"
        + "listeners:\n  - port: 8008\n    type: http\n    resources:\n      - names: [client]\n"
        + "  - port: 9092\n    type: replication\n    bind_addresses: ['127.0.0.1']\n"
        + (secret ? "worker_replication_secret: s3cret\n" : "")
        + database;
}
