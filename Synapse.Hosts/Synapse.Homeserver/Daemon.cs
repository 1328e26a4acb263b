using System.Diagnostics;
using System.Globalization;

namespace Synapse.Homeserver;

/// <summary>
/// <c>daemonize</c> / <c>worker_daemonize</c> / <c>--daemonize</c>. .NET cannot fork, so the process starts itself
/// again, detached (a new session through <c>setsid</c>, stdin from <c>/dev/null</c>, stdout and stderr appended to the
/// log file beside the pid file), waits until that copy has written its pid file — which it does once every listener is
/// up — and exits 0. When the copy exits first, or is not ready in time, it says so with the log file's location.
/// </summary>
internal static class Daemon
{
    /// <summary>Set in the detached copy's environment, so that it serves instead of starting yet another copy.</summary>
    public const string ChildMarker = "SYNAPSE_DAEMON_CHILD";

    /// <summary>Seconds to wait for the detached copy to be ready (default 60).</summary>
    public const string TimeoutVariable = "SYNAPSE_DAEMONIZE_TIMEOUT";

    private const int TailLines = 20;

    // The redirections are the shell's: .NET can hand a child only pipes, and a daemon must not hold its starter's pipes
    // open (whoever reads them, synctl or a test, would wait for the daemon's exit). Without setsid (busybox systems
    // lack it) the copy ignores SIGHUP instead, which is what a closing terminal sends.
    private const string Launcher = """
        if command -v setsid >/dev/null 2>&1; then
          exec setsid "$0" "$@" </dev/null >>"$SYNAPSE_DAEMON_LOG" 2>&1
        fi
        trap '' HUP
        exec "$0" "$@" </dev/null >>"$SYNAPSE_DAEMON_LOG" 2>&1
        """;

    /// <summary>Whether this process is the detached copy.</summary>
    public static bool IsChild => Environment.GetEnvironmentVariable(ChildMarker) == "1";

    /// <summary>Starts the detached copy with the same arguments and waits for it; returns this process's exit code.</summary>
    public static async Task<int> StartAsync(string[] args, string pidFile, TextWriter stdout, TextWriter stderr)
    {
        if (OperatingSystem.IsWindows())
        {
            await stderr.WriteLineAsync("Error: daemonize is for Unix; on Windows run the homeserver as a service").ConfigureAwait(false);
            return 1;
        }

        string log = PidFiles.LogPathFor(pidFile);
        if (PidFiles.ReadLivePid(pidFile) is { } running)
        {
            await stderr.WriteLineAsync($"Error: already running (pid {running}, pid file {pidFile})").ConfigureAwait(false);
            return 1;
        }

        // A stale pid file (a crash, a kill -9) does not block the start; removing it means any pid found next is the copy's.
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(pidFile))!);
        File.Delete(pidFile);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(log))!);
        long logStart = File.Exists(log) ? new FileInfo(log).Length : 0;

        var info = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add(Launcher);
        foreach (string part in SelfCommand())
        {
            info.ArgumentList.Add(part);
        }

        foreach (string arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment[ChildMarker] = "1";
        info.Environment["SYNAPSE_DAEMON_LOG"] = Path.GetFullPath(log);

        using var child = Process.Start(info)!;
        var deadline = Stopwatch.StartNew();
        var timeout = Timeout();
        while (true)
        {
            if (PidFiles.ReadLivePid(pidFile) is { } pid)
            {
                await stdout.WriteLineAsync($"Started in the background (pid {pid}); log: {log}").ConfigureAwait(false);
                return 0;
            }

            if (child.HasExited)
            {
                await stderr.WriteLineAsync($"Error: failed to start (exit code {child.ExitCode}); see {log}").ConfigureAwait(false);
                foreach (string line in PidFiles.Tail(log, logStart, TailLines))
                {
                    await stderr.WriteLineAsync("  " + line).ConfigureAwait(false);
                }

                return 1;
            }

            if (deadline.Elapsed > timeout)
            {
                await stderr.WriteLineAsync(
                        $"Error: not ready after {timeout.TotalSeconds:0} s (no pid in {pidFile}; still running as pid {child.Id}); see {log}")
                    .ConfigureAwait(false);
                return 1;
            }

            await Task.Delay(100).ConfigureAwait(false);
        }
    }

    /// <summary>How to start this program again: the apphost alone, or the <c>dotnet</c> muxer and this assembly.</summary>
    private static string[] SelfCommand()
    {
        string host = Environment.ProcessPath ?? throw new InvalidOperationException("the path of this process is unknown");
        if (!string.Equals(Path.GetFileNameWithoutExtension(host), "dotnet", StringComparison.OrdinalIgnoreCase))
        {
            return [host];
        }

        // The entry assembly, not this one: an application that embeds the homeserver (HomeserverProgram) starts itself again,
        // with the worker types it registers.
        string assembly = (System.Reflection.Assembly.GetEntryAssembly() ?? typeof(Daemon).Assembly).Location;
        return [host, assembly.Length > 0 ? assembly : Environment.GetCommandLineArgs()[0]];
    }

    private static TimeSpan Timeout() =>
        double.TryParse(Environment.GetEnvironmentVariable(TimeoutVariable), NumberStyles.Float, CultureInfo.InvariantCulture, out double seconds)
        && seconds > 0
            ? TimeSpan.FromSeconds(seconds)
            : TimeSpan.FromSeconds(60);
}
