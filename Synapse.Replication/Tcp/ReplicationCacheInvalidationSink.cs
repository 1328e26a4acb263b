using Synapse.Caching;

namespace Synapse.Replication.Tcp;

/// <summary>
/// A worker's <see cref="ICacheInvalidationSink"/>: main is the caches stream's writer, so a worker sends it each entry
/// as <c>INVALIDATE_CACHE</c> and main stores it on the stream, from where every process (this one included) drops it.
/// </summary>
internal sealed class ReplicationCacheInvalidationSink(ReplicationClient main) : ICacheInvalidationSink
{
    public Task PublishAsync(string cache, IReadOnlyList<IReadOnlyList<string>> entries, CancellationToken cancellationToken)
    {
        foreach (var keys in entries)
        {
            main.InvalidateCache(cache, keys);
        }

        return Task.CompletedTask;
    }
}
