using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Synapse.Tests.Hosts;

/// <summary>The real executable as an operator runs it: separate processes, real ports, real files.</summary>
public sealed class HomeserverProcessTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("synapse-proc-").FullName;

    [Fact]
    public async Task GenerateConfig_ServeWithOverrideFile_RegisterUserThenLogin()
    {
        string config = Path.Combine(_directory, "homeserver.yaml");
        var generate = await RunAsync("--generate-config", "--server-name", "example.test", "--config-path", config,
            "--report-stats", "no");
        Assert.Equal(0, generate.ExitCode);
        Assert.Contains("Generated", generate.Stdout, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(_directory, "example.test.signing.key")));

        int port = HostProcess.FreePort();
        string overrideFile = Path.Combine(_directory, "override.yaml");
        await File.WriteAllTextAsync(overrideFile, $"""
            listeners:
              - port: {port}
                bind_addresses: ['127.0.0.1']
                type: http
                resources:
                  - names: [client]
            """);

        using var server = Start("-c", config, "-c", overrideFile);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        await WaitUntilServingAsync(http, server);

        var register = await RunAsync("register-user", "-c", config, "-c", overrideFile, "-u", "alice", "-p", "s3cret", "--admin");
        Assert.True(register.ExitCode == 0, register.Stderr);
        Assert.Contains("@alice:example.test", register.Stdout, StringComparison.Ordinal);

        using var login = await http.PostAsJsonAsync("/_matrix/client/v3/login", new
        {
            type = "m.login.password", identifier = new { type = "m.id.user", user = "alice" }, password = "s3cret",
        });
        Assert.Equal(HttpStatusCode.OK, login.StatusCode);
        var body = await login.Content.ReadFromJsonAsync<JsonElement>();
        using var whoami = new HttpRequestMessage(HttpMethod.Get, "/_matrix/client/v3/account/whoami");
        whoami.Headers.Authorization = new("Bearer", body.GetProperty("access_token").GetString());
        using var who = await http.SendAsync(whoami);
        Assert.Equal("@alice:example.test", (await who.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("user_id").GetString());

        // A second register-user for the same name fails cleanly.
        var again = await RunAsync("register-user", "-c", config, "-c", overrideFile, "-u", "alice", "-p", "x");
        Assert.NotEqual(0, again.ExitCode);
        Assert.Contains("already taken", again.Stderr, StringComparison.Ordinal);

        await StopGracefullyAsync(server);
        Assert.False(File.Exists(Path.Combine(_directory, "homeserver.pid")), "pid file removed at stop");
    }

    [Fact]
    public async Task Serve_WrongValue_ExitsNonZeroWithOneLineNamingKeyAndFile()
    {
        string config = Path.Combine(_directory, "bad.yaml");
        await File.WriteAllTextAsync(config, """
            server_name: example.test
            signing_key_path: key
            database: {name: sqlite3, args: {database: x.db}}
            listeners:
              - port: abc
                type: http
            """);

        var result = await RunAsync("-c", config);

        Assert.Equal(1, result.ExitCode);
        string line = Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("listeners[0].port", line, StringComparison.Ordinal);
        Assert.Contains(config, line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Serve_MissingConfigFile_ExitsNonZero()
    {
        var result = await RunAsync("-c", Path.Combine(_directory, "nope.yaml"));
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("nope.yaml", result.Stderr, StringComparison.Ordinal);
    }

    /// <summary>README command 1: no arguments, fresh directory, port 8008.</summary>
    [Fact]
    public async Task NoArguments_FirstRun_GeneratesDataDirectoryAndServesOn8008()
    {
        using var server = Start();
        using var http = new HttpClient { BaseAddress = new Uri("http://127.0.0.1:8008") };
        await WaitUntilServingAsync(http, server);

        Assert.True(File.Exists(Path.Combine(_directory, "data", "homeserver.yaml")));
        Assert.True(File.Exists(Path.Combine(_directory, "data", "homeserver.db")));
        Assert.True(File.Exists(Path.Combine(_directory, "data", "localhost.signing.key")));
        string yaml = await File.ReadAllTextAsync(Path.Combine(_directory, "data", "homeserver.yaml"));
        Assert.Contains("server_name: \"localhost\"", yaml.Replace('\'', '"'), StringComparison.Ordinal);

        await StopGracefullyAsync(server);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private Process Start(params string[] args)
    {
        var (process, output) = HostProcess.Start(_directory, args);
        _outputs[process] = output;
        return process;
    }

    private readonly Dictionary<Process, StringBuilder> _outputs = [];

    private async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(params string[] args)
    {
        var info = HostProcess.Info(_directory, args);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout, await stderr);
    }

    private async Task WaitUntilServingAsync(HttpClient http, Process server)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            if (server.HasExited)
            {
                Assert.Fail($"Server exited with {server.ExitCode}: {_outputs[server]}");
            }

            try
            {
                using var response = await http.GetAsync("/_matrix/client/versions");
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(100);
        }

        Assert.Fail("Server did not start serving: " + _outputs[server]);
    }

    private static async Task StopGracefullyAsync(Process server)
    {
        using (var kill = Process.Start("kill", ["-TERM", server.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await server.WaitForExitAsync(timeout.Token);
        Assert.Equal(0, server.ExitCode);
    }
}
