using System.Diagnostics;
using Synapse.Configuration;
using Synapse.Replication.Workers;
using Synapse.Router;

namespace Synapse.Tests.Hosts;

/// <summary>
/// The router's table as an operator's files make it: which process gets a request, how instances share the load, the
/// mistakes only visible across files, and the equivalent nginx configuration.
/// </summary>
public sealed class RouterTableTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("synapse-router-").FullName;

    public RouterTableTests()
    {
        File.WriteAllText(Shared, """
            server_name: router.test
            signing_key_path: signing.key
            worker_replication_secret: secret
            listeners:
              - port: 8008
                type: http
                bind_addresses: ['0.0.0.0']
                resources: [{names: [client]}]
            database:
              name: psycopg2
              args: {host: 127.0.0.1, port: 5432, user: synapse, password: x, database: synapse}
            """);
        Directory.CreateDirectory(Workers);
    }

    private string Shared => Path.Combine(_directory, "homeserver.yaml");

    private string Workers => Path.Combine(_directory, "workers");

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void Find_SendsEachRequestToTheTypeThatServesIt_AndTheRestToMain()
    {
        var table = new WorkerRouteTable(Deploy(("sync1", "synapse.app.synchrotron", 8101), ("reader1", "synapse.app.client_reader", 8201),
            ("creator1", "synapse.app.event_creator", 8301)));

        Assert.Equal(["sync1"], Names(table.Find("GET", "/_matrix/client/v3/sync")));
        Assert.Equal(["reader1"], Names(table.Find("GET", "/_matrix/client/v3/rooms/!r:x/messages")));
        Assert.Equal(["creator1"], Names(table.Find("PUT", "/_matrix/client/v3/rooms/!r:x/send/m.room.message/1")));
        Assert.True(table.Find("PUT", "/_matrix/client/v3/pushrules/global/override/x").ToMain);
        Assert.True(table.Find("PUT", "/_matrix/client/v3/rooms/!r:x/typing/@a:x").ToMain);
        Assert.Equal(new Uri("http://127.0.0.1:8008/"), table.Deployment.MainClientUri);
        Assert.Equal(["creator1", "reader1", "sync1"], Names(table.Deployment.Workers));
        Assert.Equal(new Uri("http://127.0.0.1:8101/"), table.Deployment.Workers[2].ClientUri);
    }

    [Fact]
    public void Order_OneUsersSyncs_AlwaysGoToTheSameSynchrotron_AndUsersSpreadOverAll()
    {
        var table = new WorkerRouteTable(Deploy(("sync1", "synapse.app.synchrotron", 8101), ("sync2", "synapse.app.synchrotron", 8102),
            ("sync3", "synapse.app.synchrotron", 8103)));
        var choice = table.Find("GET", "/_matrix/client/v3/sync");
        var firsts = new Dictionary<string, int>();
        for (int u = 0; u < 300; u++)
        {
            string user = $"@user{u}:router.test";
            var order = table.Order(choice, "/_matrix/client/v3/sync", user);
            Assert.Equal(Names(order), Names(table.Order(choice, "/_matrix/client/v3/sync", user)));
            Assert.Equal(3, order.Distinct().Count());
            firsts[order[0].Name] = firsts.GetValueOrDefault(order[0].Name) + 1;
        }

        // Each synchrotron is some users' first choice, none takes almost everybody.
        Assert.Equal(3, firsts.Count);
        Assert.All(firsts.Values, n => Assert.InRange(n, 50, 150));
    }

    [Fact]
    public void Order_RoomsStickTogether_RegistrationUsesTheFirstInstance_AndTheRestRotates()
    {
        var table = new WorkerRouteTable(Deploy(("reader1", "synapse.app.client_reader", 8201), ("reader2", "synapse.app.client_reader", 8202)));

        string messages = "/_matrix/client/v3/rooms/%21abc%3Arouter.test/messages";
        var byRoom = table.Order(table.Find("GET", messages), messages, null);
        Assert.Equal(Names(byRoom), Names(table.Order(table.Find("GET", messages), messages, "@someone:else")));
        Assert.Equal("!abc:router.test", WorkerRouteTable.RoomIdOf(messages));

        var register = table.Find("POST", "/_matrix/client/v3/register");
        Assert.Equal(["reader1", "reader2"], Names(table.Order(register, "/_matrix/client/v3/register", null)));
        Assert.Equal(["reader1", "reader2"], Names(table.Order(register, "/_matrix/client/v3/register", null)));

        var login = table.Find("POST", "/_matrix/client/v3/login");
        var first = table.Order(login, "/_matrix/client/v3/login", null)[0].Name;
        var second = table.Order(login, "/_matrix/client/v3/login", null)[0].Name;
        Assert.NotEqual(first, second);
    }

    [Fact]
    public void Load_MistakesAcrossFiles_AreConfigurationErrorsNamingTheFile()
    {
        Write("a.yaml", "synapse.app.synchrotron", "same", 8101);
        Write("b.yaml", "synapse.app.client_reader", "same", 8201);
        var duplicate = Assert.Throws<ConfigurationException>(Load);
        Assert.Contains("'same' is also the name of the worker in", duplicate.Message, StringComparison.Ordinal);
        Assert.EndsWith("b.yaml", duplicate.File, StringComparison.Ordinal);

        File.Delete(Path.Combine(Workers, "b.yaml"));
        Write("c.yaml", "synapse.app.nope", "c", 8301);
        Assert.Contains("unknown worker type 'synapse.app.nope'", Assert.Throws<ConfigurationException>(Load).Message, StringComparison.Ordinal);

        File.WriteAllText(Path.Combine(Workers, "c.yaml"), "worker_name: c\n");
        Assert.Contains("worker_app is missing", Assert.Throws<ConfigurationException>(Load).Message, StringComparison.Ordinal);

        File.WriteAllText(Path.Combine(Workers, "c.yaml"), """
            worker_app: synapse.app.client_reader
            worker_name: c
            worker_replication_host: 127.0.0.1
            worker_replication_port: 9092
            worker_replication_http_port: 9093
            worker_listeners:
              - port: 8301
                type: http
                resources: [{names: [federation]}]
            """);
        Assert.Contains("no http listener serves the client resource", Assert.Throws<ConfigurationException>(Load).Message, StringComparison.Ordinal);

        Assert.Throws<ConfigurationException>(() => WorkerDeployment.WorkerFilesIn(Path.Combine(_directory, "missing")));
    }

    [Fact]
    public async Task Nginx_TheSameTableAsTheRouter_AcceptedByNginx()
    {
        var deployment = Deploy(("sync1", "synapse.app.synchrotron", 8101), ("sync2", "synapse.app.synchrotron", 8102),
            ("reader1", "synapse.app.client_reader", 8201), ("proxy1", "synapse.app.frontend_proxy", 8401));
        string config = NginxConfig.Generate(deployment, "127.0.0.1:18080");

        Assert.Contains("upstream synapse_main {\n    server 127.0.0.1:8008;\n}", config, StringComparison.Ordinal);
        Assert.Contains("upstream synapse_synchrotron_by_user {\n    hash $synapse_token consistent;\n    server 127.0.0.1:8101;  # sync1\n    server 127.0.0.1:8102;  # sync2\n}",
            config, StringComparison.Ordinal);
        Assert.Contains("\"~^[A-Z]+ /_matrix/client/(v2_alpha|r0|v3)/sync$\" synapse_synchrotron_by_user;", config, StringComparison.Ordinal);
        Assert.Contains("\"~^(GET|HEAD|OPTIONS) /_matrix/client/(api/v1|r0|v3|unstable)/pushrules/.*$\" synapse_client_reader;", config, StringComparison.Ordinal);
        Assert.Contains("/register$\" synapse_client_reader_first;", config, StringComparison.Ordinal);
        Assert.Contains("/keys/upload(/[^/]+)?$\" synapse_frontend_proxy;", config, StringComparison.Ordinal);
        Assert.DoesNotContain("presence", config, StringComparison.Ordinal);

        // nginx itself checks it (the test script installs nginx-light).
        string root = Path.Combine(_directory, "nginx");
        Directory.CreateDirectory(root);
        await File.WriteAllTextAsync(Path.Combine(root, "synapse.conf"), config);
        await File.WriteAllTextAsync(Path.Combine(root, "nginx.conf"), $$"""
            pid {{root}}/nginx.pid;
            error_log {{root}}/error.log;
            events {}
            http {
                access_log off;
                include {{root}}/synapse.conf;
            }
            """);
        var info = new ProcessStartInfo(File.Exists("/usr/sbin/nginx") ? "/usr/sbin/nginx" : "nginx", ["-t", "-p", root, "-c", Path.Combine(root, "nginx.conf")])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        using var nginx = Process.Start(info)!;
        string output = await nginx.StandardError.ReadToEndAsync() + await nginx.StandardOutput.ReadToEndAsync();
        await nginx.WaitForExitAsync();
        Assert.True(nginx.ExitCode == 0, output);
    }

    [Fact]
    public async Task SynctlNginx_PrintsTheConfigurationOfTheFolder_AndRefusesBadArguments()
    {
        var deployment = Deploy(("sync1", "synapse.app.synchrotron", 8101), ("creator1", "synapse.app.event_creator", 8301));
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        Assert.Equal(0, await Synapse.Synctl.SynctlCommand.RunAsync(["nginx", Shared, "-a", Workers, "--listen", "8443"], stdout, stderr));
        Assert.Equal(NginxConfig.Generate(deployment, "8443"), stdout.ToString());

        using var usage = new StringWriter();
        Assert.Equal(2, await Synapse.Synctl.SynctlCommand.RunAsync(["nginx", "--frobnicate"], stdout, usage));
        Assert.Contains("synctl nginx", usage.ToString(), StringComparison.Ordinal);
        using var missing = new StringWriter();
        Assert.Equal(1, await Synapse.Synctl.SynctlCommand.RunAsync(["nginx", Path.Combine(_directory, "nope.yaml")], stdout, missing));
        Assert.Contains("nope.yaml", missing.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--listen")]
    [InlineData("--listen", "ftp://x")]
    [InlineData("--frobnicate")]
    public async Task Router_BadArguments_PrintUsageAndExit2(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        Assert.Equal(2, await RouterCommand.RunAsync(args, stdout, stderr));
        Assert.Contains("Usage:", stderr.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Router_ABadDeployment_ExitsWithTheConfigurationError()
    {
        Write("a.yaml", "synapse.app.synchrotron", "same", 8101);
        Write("b.yaml", "synapse.app.synchrotron", "same", 8102);
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        Assert.Equal(1, await RouterCommand.RunAsync(["-c", Shared, "-a", Workers], stdout, stderr));
        Assert.Contains("worker_name", stderr.ToString(), StringComparison.Ordinal);
    }

    private static string[] Names(RouteChoice choice) => Names(choice.Instances);

    private static string[] Names(IEnumerable<WorkerInstance> instances) => [.. instances.Select(i => i.Name)];

    private WorkerDeployment Load() =>
        WorkerDeployment.Load(Shared, WorkerDeployment.WorkerFilesIn(Workers), WorkerTypes.Default);

    private WorkerDeployment Deploy(params (string Name, string App, int Port)[] workers)
    {
        foreach (var (name, app, port) in workers)
        {
            Write(name + ".yaml", app, name, port);
        }

        return Load();
    }

    private void Write(string file, string app, string name, int port) =>
        File.WriteAllText(Path.Combine(Workers, file), $"""
            worker_app: {app}
            worker_name: {name}
            worker_replication_host: 127.0.0.1
            worker_replication_port: 9092
            worker_replication_http_port: 9093
            worker_main_http_uri: http://127.0.0.1:8008
            worker_listeners:
              - port: {port}
                type: http
                bind_addresses: ['127.0.0.1']
                resources: [{"{"}names: [client]{"}"}]
            """);
}
