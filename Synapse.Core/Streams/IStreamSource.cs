namespace Synapse.Streams;

/// <summary>
/// Reads the rows of one stream between two positions, from wherever the stream lives (the database, or main's
/// memory for typing). Replication uses it to fill a gap after a reconnect; nothing is lost across a restart.
/// </summary>
public interface IStreamSource
{
    /// <summary>The stream this source reads.</summary>
    string Stream { get; }

    /// <summary>The position up to which rows can be read (the writer's persisted-up-to).</summary>
    long CurrentPosition { get; }

    /// <summary>
    /// Updates with positions in (<paramref name="after"/>, <paramref name="upTo"/>], in order, at most
    /// <paramref name="limit"/> positions; a caller pages by asking again from the last position returned.
    /// </summary>
    Task<IReadOnlyList<StreamUpdate>> GetUpdatesAsync(long after, long upTo, int limit, CancellationToken cancellationToken);
}
