using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Synapse.Sync;

/// <summary>
/// Runs the presence timers on main: loads the users who are not offline at start, applies the idle and offline
/// timeouts every <see cref="CheckInterval"/>, writes the times kept in memory every <see cref="FlushInterval"/> and at
/// shutdown.
/// </summary>
internal sealed partial class PresenceTimerService : BackgroundService
{
    /// <summary>How often the timeouts are applied: a transition happens at most this late.</summary>
    public static readonly TimeSpan CheckInterval = TimeSpan.FromSeconds(5);

    /// <summary>How often last-active and last-sync times are written (what a crash can lose).</summary>
    public static readonly TimeSpan FlushInterval = TimeSpan.FromMinutes(1);

    private readonly PresenceService _presence;
    private readonly TimeProvider _time;
    private readonly ILogger<PresenceTimerService> _logger;

    public PresenceTimerService(PresenceService presence, TimeProvider time, ILogger<PresenceTimerService> logger)
    {
        _presence = presence;
        _time = time;
        _logger = logger;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!_presence.Enabled)
        {
            return;
        }

        try
        {
            await _presence.LoadAsync(stoppingToken).ConfigureAwait(false);
            using var timer = new PeriodicTimer(CheckInterval, _time);
            var lastFlush = _time.GetUtcNow();
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                try
                {
                    await _presence.CheckTimeoutsAsync(stoppingToken).ConfigureAwait(false);
                    if (_time.GetUtcNow() - lastFlush >= FlushInterval)
                    {
                        lastFlush = _time.GetUtcNow();
                        await _presence.FlushAsync(stoppingToken).ConfigureAwait(false);
                    }
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    Log.TimersFailed(_logger, e);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        if (!_presence.Enabled)
        {
            return;
        }

        try
        {
            await _presence.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Log.FlushFailed(_logger, e);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4401, Level = LogLevel.Error, Message = "Presence timers failed; retrying at the next tick")]
        public static partial void TimersFailed(ILogger logger, Exception exception);

        [LoggerMessage(EventId = 4402, Level = LogLevel.Warning, Message = "Could not write presence times at shutdown")]
        public static partial void FlushFailed(ILogger logger, Exception exception);
    }
}
