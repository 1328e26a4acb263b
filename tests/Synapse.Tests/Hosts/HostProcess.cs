using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Synapse.Tests.Hosts;

/// <summary>The homeserver executable (synctl, the router) started as an operator starts it, with its output collected.</summary>
internal static class HostProcess
{
    /// <summary>The homeserver, the default program.</summary>
    public static readonly string Homeserver = Path.Combine(AppContext.BaseDirectory, "Synapse.Homeserver.dll");

    /// <summary>synctl.</summary>
    public static readonly string Synctl = Path.Combine(AppContext.BaseDirectory, "Synapse.Synctl.dll");

    /// <summary>The router.</summary>
    public static readonly string Router = Path.Combine(AppContext.BaseDirectory, "Synapse.Router.dll");

    /// <summary>The sample application with its own worker type (<c>homeserver ARGS</c> or <c>router ARGS</c>).</summary>
    public static readonly string SampleWorker = Path.Combine(AppContext.BaseDirectory, "Synapse.SampleWorker.dll");

    /// <summary>A <c>dotnet PROGRAM ARGS</c> start in <paramref name="directory"/>, output redirected.</summary>
    public static ProcessStartInfo Info(string directory, IEnumerable<string> args, string? program = null)
    {
        var info = new ProcessStartInfo("dotnet") { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(program ?? Homeserver);
        foreach (string arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        return info;
    }

    /// <summary>Starts the executable; stdout and stderr are collected, interleaved, into the returned builder.</summary>
    public static (Process Process, StringBuilder Output) Start(string directory, IEnumerable<string> args, string? program = null)
    {
        var process = Process.Start(Info(directory, args, program))!;
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return (process, output);
    }

    /// <summary>Runs the program to its end (killed after <paramref name="timeout"/>, 3 minutes by default); output interleaved.</summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(string directory, IEnumerable<string> args, string? program = null,
        TimeSpan? timeout = null)
    {
        var (process, output) = Start(directory, args, program);
        using (process)
        {
            using var cancel = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(3));
            try
            {
                await process.WaitForExitAsync(cancel.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
                lock (output)
                {
                    Assert.Fail("timed out: " + output);
                }
            }

            // WaitForExit without a timeout also waits for the redirected streams to be read to their end.
            await process.WaitForExitAsync();
            lock (output)
            {
                return (process.ExitCode, output.ToString());
            }
        }
    }

    /// <summary>
    /// Kills (SIGKILL) every process whose command line mentions <paramref name="directory"/>: daemons are no child of the
    /// test, and one left behind by a failed test would hold its ports and database.
    /// </summary>
    public static void KillEverythingUnder(string directory)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        foreach (string proc in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(proc), out int pid) || pid == Environment.ProcessId)
            {
                continue;
            }

            try
            {
                string commandLine = File.ReadAllText(Path.Combine(proc, "cmdline")).Replace('\0', ' ');
                if (commandLine.Contains(directory, StringComparison.Ordinal))
                {
                    using var process = Process.GetProcessById(pid);
                    process.Kill();
                    for (int i = 0; i < 100 && Synapse.Homeserver.PidFiles.IsAlive(pid); i++)
                    {
                        Thread.Sleep(50);
                    }
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or InvalidOperationException
                                           or System.ComponentModel.Win32Exception)
            {
            }
        }
    }

    /// <summary>A loopback port free at the time of asking.</summary>
    public static int FreePort()
    {
        using var socket = new TcpListener(IPAddress.Loopback, 0);
        socket.Start();
        return ((IPEndPoint)socket.LocalEndpoint).Port;
    }
}
