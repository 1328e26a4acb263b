using System.Diagnostics;
using System.Globalization;

namespace Synapse.Homeserver;

/// <summary>
/// Pid files and the log file beside them, shared by the daemonizing homeserver and synctl (one rule, one place).
/// </summary>
internal static class PidFiles
{
    /// <summary>
    /// A daemon's log file: the pid file with its extension replaced by <c>.log</c>
    /// (<c>data/homeserver.pid</c> → <c>data/homeserver.log</c>); <c>.log</c> is appended when the pid file already ends so.
    /// </summary>
    public static string LogPathFor(string pidFile)
    {
        string log = Path.ChangeExtension(pidFile, ".log");
        return string.Equals(log, pidFile, StringComparison.Ordinal) ? pidFile + ".log" : log;
    }

    /// <summary>The pid in <paramref name="pidFile"/> when that process is alive; null for no file, no number, or a dead process.</summary>
    public static int? ReadLivePid(string pidFile)
    {
        string text;
        try
        {
            text = File.ReadAllText(pidFile).Trim();
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }

        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int pid) && pid > 0 && IsAlive(pid) ? pid : null;
    }

    /// <summary>Whether the process runs. A zombie (exited, not yet reaped by its parent) counts as gone.</summary>
    public static bool IsAlive(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            if (process.HasExited)
            {
                return false;
            }
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            return false;
        }

        // A daemon's parent is init or a container's first process, which may never reap it: read the state on Linux.
        string stat = $"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat";
        if (OperatingSystem.IsLinux() && File.Exists(stat))
        {
            try
            {
                string text = File.ReadAllText(stat);
                int close = text.LastIndexOf(')');
                return close < 0 || close + 2 >= text.Length || text[close + 2] is not ('Z' or 'X');
            }
            catch (IOException)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The last <paramref name="count"/> lines of <paramref name="path"/> written after byte <paramref name="from"/>.</summary>
    public static IReadOnlyList<string> Tail(string path, long from, int count)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            stream.Seek(Math.Min(from, stream.Length), SeekOrigin.Begin);
            using var reader = new StreamReader(stream);
            var lines = new Queue<string>();
            while (reader.ReadLine() is { } line)
            {
                lines.Enqueue(line);
                if (lines.Count > count)
                {
                    lines.Dequeue();
                }
            }

            return [.. lines];
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return [];
        }
    }
}
