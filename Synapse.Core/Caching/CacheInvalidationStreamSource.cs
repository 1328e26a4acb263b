using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Synapse.Storage;
using Synapse.Streams;

namespace Synapse.Caching;

/// <summary>The caches stream read back from the database, for a worker catching up after a reconnect.</summary>
internal sealed class CacheInvalidationStreamSource : IStreamSource
{
    private readonly StreamRegistry _streams;
    private readonly ICacheInvalidationStore _store;

    public CacheInvalidationStreamSource(StreamRegistry streams, ICacheInvalidationStore store)
    {
        _streams = streams;
        _store = store;
    }

    public string Stream => StreamNames.Caches;

    public long CurrentPosition => _streams[StreamNames.Caches].Current;

    public async Task<IReadOnlyList<StreamUpdate>> GetUpdatesAsync(long after, long upTo, int limit, CancellationToken cancellationToken)
    {
        var rows = await _store.GetAsync(after, upTo, limit, cancellationToken).ConfigureAwait(false);
        return [.. rows.GroupBy(r => r.StreamId).Select(position => new StreamUpdate(Stream, position.Key,
            [.. position.Select(r => CacheInvalidationService.Row(r.CacheName, r.Keys))]))];
    }
}

/// <summary>
/// Prunes the caches stream: a process that was away longer than <see cref="Retention"/> has restarted with empty caches
/// (or follows a stream it cannot catch up on anyway), so older invalidations serve nobody.
/// </summary>
internal sealed partial class CacheInvalidationCleaner : BackgroundService
{
    /// <summary>How long invalidations are kept.</summary>
    public static readonly TimeSpan Retention = TimeSpan.FromDays(1);

    private readonly ICacheInvalidationStore _store;
    private readonly TimeProvider _time;
    private readonly ILogger<CacheInvalidationCleaner> _logger;

    public CacheInvalidationCleaner(ICacheInvalidationStore store, TimeProvider time, ILogger<CacheInvalidationCleaner> logger)
    {
        _store = store;
        _time = time;
        _logger = logger;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromHours(1), _time);
        try
        {
            do
            {
                try
                {
                    await _store.DeleteBeforeAsync((_time.GetUtcNow() - Retention).ToUnixTimeMilliseconds(), stoppingToken)
                        .ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // A failed clean-up only delays the next one; it must not stop the host.
                    Log.CleanupFailed(_logger, e);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4702, Level = LogLevel.Warning, Message = "Pruning the caches stream failed")]
        public static partial void CleanupFailed(ILogger logger, Exception exception);
    }
}
