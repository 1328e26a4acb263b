using System.Text.Json;
using Synapse.Configuration;
using Synapse.LoadTest;
using Synapse.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Synapse.Tests.LoadTest;

/// <summary>
/// The load generator's scenarios at tiny sizes against our own server over real HTTP: each must finish, report its figures
/// and find every event delivered exactly once. No timing is asserted.
/// </summary>
public sealed class LoadGeneratorTests(ITestOutputHelper output)
{
    [Theory, ClassData(typeof(Engines))]
    public async Task Send_TinyRun_ReportsThroughputAndLatencies(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);

        var (code, results, _) = await RunAsync(server, "send", "--users", "3", "--rooms", "2", "--messages", "12", "--concurrency", "3");

        Assert.Equal(LoadTestCommand.Ok, code);
        Assert.Equal(12, results.GetProperty("messages_sent").GetInt32());
        Assert.True(results.GetProperty("throughput").GetDouble() > 0);
        Assert.True(results.GetProperty("send_latency_p99_ms").GetDouble() >= results.GetProperty("send_latency_p50_ms").GetDouble());
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Fanout_TinyRun_EveryListenerGetsEveryEventOnce(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);

        var (code, results, _) = await RunAsync(server, "fanout", "--listeners", "4", "--senders", "2", "--rooms", "2", "--messages", "8",
            "--rate", "40");

        Assert.Equal(LoadTestCommand.Ok, code);
        Assert.Equal(32, results.GetProperty("deliveries").GetInt32());
        Assert.Equal(0, results.GetProperty("missing").GetInt32());
        Assert.Equal(0, results.GetProperty("duplicates").GetInt32());
        Assert.Equal(JsonValueKind.Number, results.GetProperty("delivery_latency_p99_ms").ValueKind);
    }

    [Fact]
    public async Task Lag_ReadThroughSecondUrl_MeasuresReplicationLag()
    {
        // The read URL is the same monolith under another loopback name: the scenario's plumbing (two base URLs, tokens valid
        // on both) is what this checks. DeploymentTests runs it against an event_creator and a synchrotron.
        await using var server = await TestHomeserver.StartAsync(DatabaseEngine.Sqlite);
        string readUrl = server.BaseAddress.ToString().Replace("127.0.0.1", "localhost", StringComparison.Ordinal);

        var (code, results, _) = await RunAsync(server, "lag", "--read-url", readUrl, "--listeners", "2", "--messages", "5", "--rate", "40");

        Assert.Equal(LoadTestCommand.Ok, code);
        Assert.Equal(10, results.GetProperty("deliveries").GetInt32());
        Assert.Equal(JsonValueKind.Number, results.GetProperty("replication_lag_p50_ms").ValueKind);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task InitialSync_TinyRun_ReportsTimeAndSize(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);

        var (code, results, _) = await RunAsync(server, "initial-sync", "--rooms", "3", "--events", "4", "--repeats", "2");

        Assert.Equal(LoadTestCommand.Ok, code);
        Assert.Equal(3, results.GetProperty("rooms_in_response").GetInt32());
        Assert.True(results.GetProperty("response_size_kib").GetDouble() > 0);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Join_TwiceWithReusedAccountsThroughSharedSecret_SecondRunLogsIn(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        string[] args = ["join", "--joiners", "4", "--concurrency", "2", "--shared-secret", TestHomeserver.SharedSecret,
            "--reuse-users", "--user-prefix", "reused"];

        var (first, results, _) = await RunAsync(server, args);
        var (second, again, _) = await RunAsync(server, args);

        Assert.Equal(LoadTestCommand.Ok, first);
        Assert.Equal(LoadTestCommand.Ok, second);
        Assert.Equal(5, results.GetProperty("joined_members").GetInt32());
        Assert.Equal(5, again.GetProperty("joined_members").GetInt32());
        var (status, _) = await server.SendAsync(HttpMethod.Get, "/_matrix/client/v3/profile/@reused-join-joiner3:test.local");
        Assert.Equal(200, status);
    }

    [Fact]
    public async Task RequestLimit_Reached_StopsWithExitCode3AndSaysSo()
    {
        await using var server = await TestHomeserver.StartAsync(DatabaseEngine.Sqlite);

        var (code, _, text) = await RunAsync(server, "send", "--users", "2", "--messages", "50", "--max-requests", "10");

        Assert.Equal(LoadTestCommand.Stopped, code);
        Assert.Contains("STOPPED: the request limit (10) was reached", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("bogus")]
    [InlineData("send --users")]
    [InlineData("send --users 0")]
    [InlineData("send --users many")]
    [InlineData("send --listeners 3")]
    [InlineData("send stray")]
    [InlineData("lag")]
    [InlineData("fanout --read-url http://127.0.0.1:1")]
    [InlineData("send --base-url https://matrix.org")]
    [InlineData("send --base-url ftp://127.0.0.1")]
    [InlineData("send --user-prefix Upper")]
    public async Task BadArguments_UsageAndExitCode2(string commandLine)
    {
        string[] args = commandLine.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var stdout = new StringWriter();
        var stderr = new StringWriter();

        int code = await LoadTestCommand.RunAsync(args, stdout, stderr, CancellationToken.None);

        Assert.Equal(LoadTestCommand.BadArguments, code);
        Assert.Contains("usage: synapse-loadtest <scenario> [options]", stderr.ToString(), StringComparison.Ordinal);
        Assert.Equal("", stdout.ToString());
    }

    [Fact]
    public async Task Help_PrintsUsageAndExits0()
    {
        var stdout = new StringWriter();

        int code = await LoadTestCommand.RunAsync(["--help"], stdout, new StringWriter(), CancellationToken.None);

        Assert.Equal(LoadTestCommand.Ok, code);
        Assert.Contains("usage: synapse-loadtest <scenario> [options]", stdout.ToString(), StringComparison.Ordinal);
    }

    private async Task<(int Code, JsonElement Results, string Output)> RunAsync(TestHomeserver server, params string[] args)
    {
        string json = Path.Combine(Directory.CreateTempSubdirectory("loadtest-").FullName, "report.json");
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        string[] all = [.. args, "--base-url", server.BaseAddress.ToString(), "--json", json, "--no-progress", "--max-seconds", "120"];

        int code = await LoadTestCommand.RunAsync(all, stdout, stderr, CancellationToken.None);

        output.WriteLine(stdout.ToString());
        output.WriteLine(stderr.ToString());
        using var report = JsonDocument.Parse(await File.ReadAllTextAsync(json));
        Assert.Equal(args[0], report.RootElement.GetProperty("scenario").GetString());
        return (code, report.RootElement.GetProperty("results").Clone(), stdout.ToString());
    }
}
