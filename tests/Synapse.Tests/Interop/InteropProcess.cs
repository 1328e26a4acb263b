using System.Diagnostics;
using System.Globalization;
using System.Text;
using Xunit.Abstractions;

namespace Synapse.Tests.Interop;

/// <summary>What a scenario process did: its exit code (-1 when killed), everything it printed, and how long it ran.</summary>
internal sealed record InteropRun(int ExitCode, string Output, TimeSpan Elapsed);

/// <summary>
/// Runs an interop scenario program (Node or Python) and streams its lines, timestamped, into the test output. The scenario's
/// own deadline is 120 s (INTEROP_TIMEOUT_MS); the 150 s here only catches a hung process.
/// </summary>
internal static class InteropProcess
{
    private static readonly TimeSpan ProcessTimeout = TimeSpan.FromSeconds(150);

    public static string RepositoryRoot { get; } = FindRepositoryRoot();

    public static async Task<InteropRun> RunAsync(string fileName, string workingDirectory, IEnumerable<string> arguments,
        IReadOnlyDictionary<string, string> environment, ITestOutputHelper output)
    {
        var start = new ProcessStartInfo(fileName)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["INTEROP_TIMEOUT_MS"] = "120000";
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        var transcript = new StringBuilder();
        var stopwatch = Stopwatch.StartNew();
        void Line(string? line)
        {
            if (line is null)
            {
                return;
            }

            lock (transcript)
            {
                transcript.AppendLine(line);
                output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{stopwatch.Elapsed.TotalSeconds,6:F1}s] {line}"));
            }
        }

        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => Line(e.Data);
        process.ErrorDataReceived += (_, e) => Line(e.Data is null ? null : $"stderr: {e.Data}");
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        using var timeout = new CancellationTokenSource(ProcessTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            Line($"killed: no exit within {ProcessTimeout.TotalSeconds} s");
            return new InteropRun(-1, Snapshot(transcript), stopwatch.Elapsed);
        }

        // The parameterless wait drains the redirected streams, so the transcript is complete.
        await process.WaitForExitAsync();
        return new InteropRun(process.ExitCode, Snapshot(transcript), stopwatch.Elapsed);
    }

    private static string Snapshot(StringBuilder transcript)
    {
        lock (transcript)
        {
            return transcript.ToString();
        }
    }

    private static string FindRepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Synapse.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No Synapse.sln above {AppContext.BaseDirectory}");
    }
}
