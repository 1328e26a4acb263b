using System.Diagnostics;
using System.Globalization;
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

    public static string ProjectDirectory { get; } = Path.Combine(InteropProcess.RepositoryRoot, "tests", "interop", "nio");

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

    public static Task<InteropRun> RunScenarioAsync(string script, Uri baseAddress, ITestOutputHelper output) =>
        InteropProcess.RunAsync(Python, ProjectDirectory,
            ["-u", Path.Combine(ProjectDirectory, script), baseAddress.ToString().TrimEnd('/')],
            new Dictionary<string, string> { ["PYTHONDONTWRITEBYTECODE"] = "1" }, output);
}
