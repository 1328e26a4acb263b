namespace Synapse.Storage;

/// <summary>
/// The caches stream (DESIGN.md §3): entries that processes must drop from their in-memory caches because another
/// process changed what they hold. Workers read it to follow main's writes.
/// </summary>
public interface ICacheInvalidationStore
{
    /// <summary>Stores one invalidation (one or more entries of one cache) at <paramref name="streamId"/>.</summary>
    Task AddAsync(long streamId, string cacheName, IReadOnlyList<IReadOnlyList<string>> entries, long ts,
        CancellationToken cancellationToken);

    /// <summary>
    /// The invalidations with stream ID in (<paramref name="after"/>, <paramref name="upTo"/>], oldest first, at most
    /// <paramref name="limit"/> positions.
    /// </summary>
    Task<IReadOnlyList<CacheInvalidation>> GetAsync(long after, long upTo, int limit, CancellationToken cancellationToken);

    /// <summary>
    /// Deletes invalidations made before <paramref name="beforeTs"/> (ms since the epoch), except the newest, which
    /// keeps the stream's position; returns how many rows went.
    /// </summary>
    Task<int> DeleteBeforeAsync(long beforeTs, CancellationToken cancellationToken);
}

/// <summary>One stored cache entry to drop.</summary>
/// <param name="StreamId">The caches stream position.</param>
/// <param name="CacheName">The cache.</param>
/// <param name="Keys">The parts of the entry's key.</param>
public sealed record CacheInvalidation(long StreamId, string CacheName, IReadOnlyList<string> Keys);
