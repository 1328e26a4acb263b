using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Synapse.Tests.Hosts;

/// <summary>The homeserver executable (or another host: the router) started as an operator starts it, with its output collected.</summary>
internal static class HostProcess
{
    /// <summary>The homeserver's assembly name.</summary>
    public const string Homeserver = "Synapse.Homeserver";

    /// <summary>The router's assembly name.</summary>
    public const string Router = "Synapse.Router";

    /// <summary>A <c>dotnet HOST.dll ARGS</c> start in <paramref name="directory"/>, output redirected.</summary>
    public static ProcessStartInfo Info(string directory, IEnumerable<string> args, string host = Homeserver)
    {
        var info = new ProcessStartInfo("dotnet") { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, host + ".dll"));
        foreach (string arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        return info;
    }

    /// <summary>Starts the executable; stdout and stderr are collected, interleaved, into the returned builder.</summary>
    public static (Process Process, StringBuilder Output) Start(string directory, IEnumerable<string> args, string host = Homeserver)
    {
        var process = Process.Start(Info(directory, args, host))!;
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
