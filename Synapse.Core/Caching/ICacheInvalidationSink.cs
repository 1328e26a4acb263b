using Synapse.Storage;
using Synapse.Streams;

namespace Synapse.Caching;

/// <summary>
/// Where a process's cache invalidations go so that the other processes hear of them: the caches stream on main (and in
/// a monolith); main, over replication, on a worker.
/// </summary>
internal interface ICacheInvalidationSink
{
    /// <summary>Publishes the invalidation of <paramref name="entries"/> of <paramref name="cache"/>.</summary>
    Task PublishAsync(string cache, IReadOnlyList<IReadOnlyList<string>> entries, CancellationToken cancellationToken);
}

/// <summary>The writer of the caches stream: each invalidation is stored at a new position and published on the bus.</summary>
internal sealed class StreamCacheInvalidationSink : ICacheInvalidationSink
{
    private readonly StreamRegistry _streams;
    private readonly ICacheInvalidationStore _store;
    private readonly TimeProvider _time;

    public StreamCacheInvalidationSink(StreamRegistry streams, ICacheInvalidationStore store, TimeProvider time)
    {
        _streams = streams;
        _store = store;
        _time = time;
    }

    public async Task PublishAsync(string cache, IReadOnlyList<IReadOnlyList<string>> entries, CancellationToken cancellationToken)
    {
        var stream = _streams[StreamNames.Caches];
        long position = stream.Allocate();
        IReadOnlyList<StreamRow> rows = [];
        try
        {
            await _store.AddAsync(position, cache, entries, _time.GetUtcNow().ToUnixTimeMilliseconds(), cancellationToken)
                .ConfigureAwait(false);
            rows = [.. entries.Select(keys => CacheInvalidationService.Row(cache, keys))];
        }
        finally
        {
            stream.Complete(position, rows);
        }
    }
}
