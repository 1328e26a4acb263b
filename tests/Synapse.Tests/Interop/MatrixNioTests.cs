using System.Diagnostics;
using System.Globalization;
using System.Text;
using Synapse.Configuration;
using Synapse.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Synapse.Tests.Interop;

/// <summary>
/// A second, independent client library against the real server: matrix-nio (the Debian package
/// python3-matrix-nio, run with the system /usr/bin/python3) over HTTP to our homeserver on a loopback port.
/// The scenario lives in tests/interop/nio.
/// </summary>
public sealed class MatrixNioTests(ITestOutputHelper output)
{
    [Theory, ClassData(typeof(Engines))]
    public async Task MatrixNio_TwoUsersRoomLifecycle_EverySyncAndPaginationCheckPasses(DatabaseEngine engine)
    {
        await PythonInterop.RequireNioAsync();
        await using var server = await TestHomeserver.StartAsync(engine);

        var run = await PythonInterop.RunScenarioAsync("scenario_basics.py", server.BaseAddress, output);

        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"scenario_basics.py on {engine}: {run.Elapsed.TotalSeconds:F1} s"));
        Assert.True(run.ExitCode == 0, $"The matrix-nio scenario exited with {run.ExitCode}:\n{run.Output}");
    }
}

/// <summary>Runs the Python scenarios of tests/interop/nio with the system Python and Debian's matrix-nio.</summary>
internal static class PythonInterop
{
    public const string Python = "/usr/bin/python3";

    private const string InstallHint = "Install it with `sudo apt-get install -y python3-matrix-nio` (which also " +
        "brings /usr/bin/python3), or run the suite with `bash scripts/test.sh`, which installs it when missing.";

    /// <summary>The scenario's own deadline is 120 s (INTEROP_TIMEOUT_MS); this one only catches a hung process.</summary>
    private static readonly TimeSpan ProcessTimeout = TimeSpan.FromSeconds(150);

    public static string ProjectDirectory { get; } = Path.Combine(FindRepositoryRoot(), "tests", "interop", "nio");

    /// <summary>Fails, never skips, when the system Python or its nio module is missing.</summary>
    public static async Task RequireNioAsync()
    {
        if (!File.Exists(Python))
        {
            Assert.Fail($"{Python} is missing, so the matrix-nio interop scenario cannot run. {InstallHint}");
        }

        var start = new ProcessStartInfo(Python)
        {
            // Not the scenario directory: a folder named "nio" there must not stand in for the package.
            WorkingDirectory = Path.GetTempPath(),
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add("import nio");
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        if (process.ExitCode != 0)
        {
            Assert.Fail($"`{Python} -c 'import nio'` failed (exit {process.ExitCode}): {(await stderr).Trim()} " +
                $"{(await stdout).Trim()}\nThe matrix-nio interop scenario needs the python3-matrix-nio package. {InstallHint}");
        }
    }

    public static async Task<(int ExitCode, string Output, TimeSpan Elapsed)> RunScenarioAsync(string script, Uri baseAddress,
        ITestOutputHelper output)
    {
        var start = new ProcessStartInfo(Python)
        {
            WorkingDirectory = ProjectDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("-u");
        start.ArgumentList.Add(Path.Combine(ProjectDirectory, script));
        start.ArgumentList.Add(baseAddress.ToString().TrimEnd('/'));
        start.Environment["INTEROP_TIMEOUT_MS"] = "120000";
        start.Environment["PYTHONDONTWRITEBYTECODE"] = "1";

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
            return (-1, Snapshot(transcript), stopwatch.Elapsed);
        }

        // The parameterless wait drains the redirected streams, so the transcript is complete.
        await process.WaitForExitAsync();
        return (process.ExitCode, Snapshot(transcript), stopwatch.Elapsed);
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
