using System.Diagnostics;
using Synapse.LoadTest.Scenarios;

namespace Synapse.LoadTest;

/// <summary>The whole command: parse, run one scenario within its limits, print the table, write the JSON, choose the exit code.</summary>
internal static class LoadTestCommand
{
    public const int Ok = 0;
    public const int Failed = 1;
    public const int BadArguments = 2;
    public const int Stopped = 3;

    public static async Task<int> RunAsync(IReadOnlyList<string> args, TextWriter output, TextWriter error, CancellationToken interrupt)
    {
        if (args.Count == 1 && args[0] is "-h" or "--help" or "help")
        {
            await output.WriteLineAsync(LoadTestOptions.UsageText);
            return Ok;
        }

        LoadTestOptions options;
        try
        {
            options = LoadTestOptions.Parse(args);
        }
        catch (UsageException e)
        {
            await error.WriteLineAsync($"synapse-loadtest: {e.Message}");
            await error.WriteLineAsync();
            await error.WriteLineAsync(LoadTestOptions.UsageText);
            return BadArguments;
        }

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(interrupt);
        deadline.CancelAfter(options.MaxDuration);
        int connections = Math.Max(64, options.Sizes.GetValueOrDefault("listeners") + options.Sizes.GetValueOrDefault("concurrency") + 32);
        using var api = new MatrixApi(options.MaxRequests, connections, deadline.Token);
        var report = new Report(options.Scenario, options.Describe());
        var run = new RunContext(options, api, report, error);
        var startedAt = DateTimeOffset.UtcNow;
        var elapsed = Stopwatch.StartNew();
        await using var sampler = options.ServerPid is { } pid ? new ProcessSampler(pid) : null;
        using var stopProgress = new CancellationTokenSource();
        var progress = run.ShowProgressAsync(stopProgress.Token);
        int exitCode = Ok;
        try
        {
            await (options.Scenario switch
            {
                "send" => SendScenario.RunAsync(run),
                "fanout" or "lag" => FanoutScenario.RunAsync(run),
                "initial-sync" => InitialSyncScenario.RunAsync(run),
                "join" => JoinScenario.RunAsync(run),
                _ => throw new UsageException($"unknown scenario '{options.Scenario}'"),
            });
        }
        catch (RunStoppedException e)
        {
            report.StoppedBy = e.Message;
            exitCode = Stopped;
        }
        catch (Exception e) when (e is MatrixRequestException or HttpRequestException or System.Text.Json.JsonException or KeyNotFoundException)
        {
            report.Fail($"the run failed: {e.Message}");
        }
        finally
        {
            await stopProgress.CancelAsync();
            await progress;
        }

        if (sampler is not null)
        {
            await sampler.ReportAsync(report);
        }

        report.Add("requests", api.Requests, "requests");
        report.Add("throttled_429", api.Throttled, "responses");
        report.WriteTable(output);
        if (options.JsonPath is { } path)
        {
            report.WriteJson(path, startedAt, elapsed.Elapsed);
        }

        return report.Failures.Count > 0 ? Failed : exitCode;
    }
}
