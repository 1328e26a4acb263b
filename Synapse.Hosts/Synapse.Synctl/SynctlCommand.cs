using System.ComponentModel;
using System.Diagnostics;
using System.Runtime.InteropServices;
using Synapse.Configuration;
using Synapse.Homeserver;

namespace Synapse.Synctl;

/// <summary>
/// synctl: starts, stops and restarts main and workers through their pid files, as Synapse's synctl does. Each process
/// is the homeserver run with <c>--daemonize</c>, so it detaches and synctl returns once it is listening.
/// </summary>
internal static partial class SynctlCommand
{
    /// <summary>How long a process has to exit after SIGTERM.</summary>
    public static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(30);

    // Beyond the homeserver's own wait for its daemon (Daemon.TimeoutVariable, 60 s by default).
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(180);

    private const int SigTerm = 15;

    // Subcommands with arguments of their own dispatch here on the first word, before the process commands' parser.
    private static readonly Dictionary<string, Func<string[], TextWriter, TextWriter, Task<int>>> Subcommands = new(StringComparer.Ordinal)
    {
        ["nginx"] = NginxCommand.RunAsync,
    };

    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr)
    {
        if (args is ["-h" or "--help"])
        {
            await stdout.WriteLineAsync(SynctlArguments.Usage).ConfigureAwait(false);
            return 0;
        }

        if (args.Length > 0 && Subcommands.TryGetValue(args[0], out var subcommand))
        {
            return await subcommand(args[1..], stdout, stderr).ConfigureAwait(false);
        }

        SynctlArguments arguments;
        try
        {
            arguments = SynctlArguments.Parse(args);
        }
        catch (ArgumentException e)
        {
            await stderr.WriteLineAsync($"Error: {e.Message}").ConfigureAwait(false);
            await stderr.WriteLineAsync(SynctlArguments.Usage).ConfigureAwait(false);
            return 2;
        }

        IReadOnlyList<ManagedProcess> processes;
        try
        {
            processes = ManagedProcess.Resolve(arguments);
        }
        catch (ConfigurationException e)
        {
            await stderr.WriteLineAsync(e.Message).ConfigureAwait(false);
            return 1;
        }

        bool ok = true;
        if (arguments.Action is SynctlAction.Stop or SynctlAction.Restart)
        {
            // Workers first: main going away first would have them reconnecting, and refused, while they are told to stop.
            foreach (var process in processes.Reverse())
            {
                ok &= await StopAsync(process, stdout, stderr).ConfigureAwait(false);
            }
        }

        if (arguments.Action is SynctlAction.Start or SynctlAction.Restart)
        {
            string[] homeserver;
            try
            {
                homeserver = HomeserverCommandLine(arguments.Homeserver ?? Environment.GetEnvironmentVariable("SYNAPSE_HOMESERVER"));
            }
            catch (FileNotFoundException e)
            {
                await stderr.WriteLineAsync($"Error: {e.Message}").ConfigureAwait(false);
                return 1;
            }

            foreach (var process in processes)
            {
                ok &= await StartAsync(homeserver, process, stdout, stderr).ConfigureAwait(false);
            }
        }

        return ok ? 0 : 1;
    }

    private static async Task<bool> StartAsync(string[] homeserver, ManagedProcess process, TextWriter stdout, TextWriter stderr)
    {
        if (PidFiles.ReadLivePid(process.PidFile) is { } running)
        {
            await stdout.WriteLineAsync($"{process.Name} already running (pid {running})").ConfigureAwait(false);
            return true;
        }

        var info = new ProcessStartInfo(homeserver[0]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string arg in homeserver.Skip(1))
        {
            info.ArgumentList.Add(arg);
        }

        foreach (string file in process.ConfigFiles)
        {
            info.ArgumentList.Add("-c");
            info.ArgumentList.Add(file);
        }

        info.ArgumentList.Add("--daemonize");
        info.Environment.Remove(Daemon.ChildMarker);

        string output;
        int exitCode;
        try
        {
            using var starter = Process.Start(info)!;
            var stdoutText = starter.StandardOutput.ReadToEndAsync();
            var stderrText = starter.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(StartTimeout);
            try
            {
                await starter.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                starter.Kill(entireProcessTree: true);
                await starter.WaitForExitAsync().ConfigureAwait(false);
            }

            output = (await stdoutText.ConfigureAwait(false)) + (await stderrText.ConfigureAwait(false));
            exitCode = starter.ExitCode;
        }
        catch (Win32Exception e)
        {
            await stderr.WriteLineAsync($"failed to start {process.Name}: cannot run {homeserver[0]}: {e.Message}").ConfigureAwait(false);
            return false;
        }

        if (exitCode == 0 && PidFiles.ReadLivePid(process.PidFile) is { } pid)
        {
            await stdout.WriteLineAsync($"started {process.Name} (pid {pid})").ConfigureAwait(false);
            return true;
        }

        await stderr.WriteLineAsync($"failed to start {process.Name}; see {process.LogFile}").ConfigureAwait(false);
        foreach (string line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            await stderr.WriteLineAsync("  " + line).ConfigureAwait(false);
        }

        return false;
    }

    private static async Task<bool> StopAsync(ManagedProcess process, TextWriter stdout, TextWriter stderr)
    {
        if (PidFiles.ReadLivePid(process.PidFile) is not { } pid)
        {
            // A pid file without its process is what a crash leaves; it would only mislead.
            File.Delete(process.PidFile);
            await stdout.WriteLineAsync($"{process.Name} not running").ConfigureAwait(false);
            return true;
        }

        if (Kill(pid, SigTerm) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (PidFiles.IsAlive(pid))
            {
                await stderr.WriteLineAsync($"cannot stop {process.Name} (pid {pid}): kill failed with errno {errno}").ConfigureAwait(false);
                return false;
            }
        }

        var waited = Stopwatch.StartNew();
        while (PidFiles.IsAlive(pid))
        {
            if (waited.Elapsed > StopTimeout)
            {
                await stderr.WriteLineAsync($"{process.Name} (pid {pid}) did not stop within {StopTimeout.TotalSeconds:0} s")
                    .ConfigureAwait(false);
                return false;
            }

            await Task.Delay(100).ConfigureAwait(false);
        }

        // The process removes its pid file as it exits; one killed on the way out leaves it behind.
        File.Delete(process.PidFile);
        await stdout.WriteLineAsync($"stopped {process.Name} (pid {pid})").ConfigureAwait(false);
        return true;
    }

    /// <summary>
    /// The command that runs the homeserver: <paramref name="path"/> (an executable, or a <c>.dll</c> for the dotnet
    /// host), or else the one the build copied beside synctl — through the dotnet host synctl runs under, if any.
    /// </summary>
    internal static string[] HomeserverCommandLine(string? path)
    {
        string? host = Environment.ProcessPath is { } self
                       && string.Equals(Path.GetFileNameWithoutExtension(self), "dotnet", StringComparison.OrdinalIgnoreCase)
            ? self
            : null;
        if (path is null)
        {
            string appHost = Path.Combine(AppContext.BaseDirectory, OperatingSystem.IsWindows() ? "Synapse.Homeserver.exe" : "Synapse.Homeserver");
            path = host is null && File.Exists(appHost) ? appHost : Path.Combine(AppContext.BaseDirectory, "Synapse.Homeserver.dll");
        }

        path = Path.GetFullPath(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"the homeserver is not at {path} (--homeserver PATH or SYNAPSE_HOMESERVER names it)", path);
        }

        return path.EndsWith(".dll", StringComparison.OrdinalIgnoreCase)
            ? [host ?? Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet", path]
            : [path];
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
