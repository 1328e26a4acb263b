using System.Collections.Concurrent;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Synapse.Storage;

namespace Synapse.Accounts;

/// <summary>
/// Where recorded device activity (last-seen address, user agent and time) goes: the database on main and the
/// monolith; on a worker, to main as <c>USER_IP</c>.
/// </summary>
public interface IDeviceActivitySink
{
    /// <summary>Takes one batch: the latest activity of each device since the previous batch.</summary>
    Task WriteAsync(IReadOnlyCollection<DeviceActivity> activity, CancellationToken cancellationToken);
}

/// <summary>Writes device activity to the database.</summary>
internal sealed class StoreDeviceActivitySink(IAccountStore store) : IDeviceActivitySink
{
    public Task WriteAsync(IReadOnlyCollection<DeviceActivity> activity, CancellationToken cancellationToken) =>
        store.RecordDeviceActivityAsync(activity, cancellationToken);
}

/// <summary>
/// Remembers the latest address, user agent and time per device in memory and hands them on in one
/// batch every few seconds (and at shutdown), instead of one write per request.
/// </summary>
internal sealed partial class DeviceActivityRecorder : BackgroundService
{
    private static readonly TimeSpan FlushInterval = TimeSpan.FromSeconds(5);

    private readonly IDeviceActivitySink _store;
    private readonly TimeProvider _time;
    private readonly ILogger<DeviceActivityRecorder> _logger;
    private ConcurrentDictionary<(string, string), DeviceActivity> _pending = new();

    public DeviceActivityRecorder(IDeviceActivitySink store, TimeProvider time, ILogger<DeviceActivityRecorder> logger)
    {
        _store = store;
        _time = time;
        _logger = logger;
    }

    public void Record(Requester requester, string? ip, string? userAgent)
    {
        var activity = new DeviceActivity(requester.UserId, requester.DeviceId, ip, userAgent,
            _time.GetUtcNow().ToUnixTimeMilliseconds());
        _pending[(requester.UserId.Value, requester.DeviceId.Value)] = activity;
    }

    /// <summary>Writes what has been recorded so far.</summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        var batch = Interlocked.Exchange(ref _pending, new ConcurrentDictionary<(string, string), DeviceActivity>());
        if (batch.IsEmpty)
        {
            return;
        }

        try
        {
            await _store.WriteAsync(batch.Values.ToList(), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Last-seen data is advisory: losing one batch must not take the server down.
            Log.FlushFailed(_logger, batch.Count, e);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(FlushInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                await FlushAsync(stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        await FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1101, Level = LogLevel.Warning, Message = "Could not record last-seen data for {Count} devices")]
        public static partial void FlushFailed(ILogger logger, int count, Exception exception);
    }
}
