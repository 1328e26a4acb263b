using Microsoft.Extensions.Logging;
using Synapse.Streams;

namespace Synapse.Replication.Http;

/// <summary>
/// A worker's <see cref="IStreamSource"/> for a stream that lives in main's memory (typing): pages come from main's
/// <c>get_repl_stream_updates</c>, since the shared database does not have them.
/// </summary>
public sealed class HttpStreamSource : IStreamSource
{
    private readonly ReplicationHttpClient _main;
    private readonly StreamRegistry _streams;

    /// <summary>Creates the source; it reads with its own client, which never waits on the replication stream it feeds.</summary>
    public HttpStreamSource(string stream, HttpClient http, ReplicationHttpClientOptions options, StreamRegistry streams,
        ILogger<ReplicationHttpClient> logger)
    {
        Stream = stream;
        _main = new ReplicationHttpClient(http, options, null, logger);
        _streams = streams;
    }

    /// <inheritdoc />
    public string Stream { get; }

    /// <summary>The position this worker has applied: the replication client asks main for what lies beyond it.</summary>
    public long CurrentPosition => _streams[Stream].Current;

    /// <inheritdoc />
    public Task<IReadOnlyList<StreamUpdate>> GetUpdatesAsync(long after, long upTo, int limit, CancellationToken cancellationToken) =>
        _main.GetStreamUpdatesAsync(Stream, after, upTo, limit, cancellationToken);
}
