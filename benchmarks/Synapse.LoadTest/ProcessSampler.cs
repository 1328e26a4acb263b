using System.Globalization;

namespace Synapse.LoadTest;

/// <summary>
/// Follows a local server process during the run through /proc: CPU seconds used (user + system, from
/// <c>/proc/PID/stat</c>) and the largest resident set seen (<c>VmRSS</c> sampled every 250 ms; <c>VmHWM</c>, the
/// process's all-time peak, is reported too).
/// </summary>
internal sealed class ProcessSampler : IAsyncDisposable
{
    /// <summary>USER_HZ: the unit of /proc/PID/stat times; 100 on every mainstream Linux build.</summary>
    private const double ClockTicksPerSecond = 100;

    private readonly string _proc;
    private readonly double _cpuAtStart;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private long _peakRssKib;

    public ProcessSampler(int pid)
    {
        _proc = $"/proc/{pid.ToString(CultureInfo.InvariantCulture)}";
        _cpuAtStart = CpuSeconds();
        _peakRssKib = StatusKib("VmRSS:") ?? 0;
        _loop = SampleAsync();
    }

    private async Task SampleAsync()
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(250));
        try
        {
            while (await timer.WaitForNextTickAsync(_stop.Token))
            {
                if (StatusKib("VmRSS:") is { } rss && rss > _peakRssKib)
                {
                    _peakRssKib = rss;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Stops sampling and adds the figures to <paramref name="report"/>.</summary>
    public async Task ReportAsync(Report report)
    {
        await _stop.CancelAsync();
        await _loop;
        report.Add("server_cpu_seconds", CpuSeconds() - _cpuAtStart, "s");
        report.Add("server_rss_peak_mib", _peakRssKib / 1024.0, "MiB");
        if (StatusKib("VmHWM:") is { } hwm)
        {
            report.Add("server_vmhwm_mib", hwm / 1024.0, "MiB");
        }
    }

    private double CpuSeconds()
    {
        try
        {
            // The command name (field 2) may hold spaces and parentheses: fields are counted after its closing ')'.
            string stat = File.ReadAllText(_proc + "/stat");
            string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            // After ')': state is field 3, so utime (14) and stime (15) are at indexes 11 and 12.
            return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture))
                / ClockTicksPerSecond;
        }
        catch (IOException)
        {
            return double.NaN;
        }
    }

    private long? StatusKib(string field)
    {
        try
        {
            foreach (string line in File.ReadLines(_proc + "/status"))
            {
                if (line.StartsWith(field, StringComparison.Ordinal))
                {
                    return long.Parse(line[field.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
                }
            }
        }
        catch (IOException)
        {
        }

        return null;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop;
        _stop.Dispose();
    }
}
