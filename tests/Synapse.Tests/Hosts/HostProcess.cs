using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Synapse.Tests.Hosts;

/// <summary>The homeserver executable started as an operator starts it, with its output collected.</summary>
internal static class HostProcess
{
    private static readonly string Dll = Path.Combine(AppContext.BaseDirectory, "Synapse.Homeserver.dll");

    /// <summary>A <c>dotnet Synapse.Homeserver.dll ARGS</c> start in <paramref name="directory"/>, output redirected.</summary>
    public static ProcessStartInfo Info(string directory, IEnumerable<string> args)
    {
        var info = new ProcessStartInfo("dotnet") { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(Dll);
        foreach (string arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        return info;
    }

    /// <summary>Starts the executable; stdout and stderr are collected, interleaved, into the returned builder.</summary>
    public static (Process Process, StringBuilder Output) Start(string directory, IEnumerable<string> args)
    {
        var process = Process.Start(Info(directory, args))!;
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return (process, output);
    }

    /// <summary>A loopback port free at the time of asking.</summary>
    public static int FreePort()
    {
        using var socket = new TcpListener(IPAddress.Loopback, 0);
        socket.Start();
        return ((IPEndPoint)socket.LocalEndpoint).Port;
    }
}
