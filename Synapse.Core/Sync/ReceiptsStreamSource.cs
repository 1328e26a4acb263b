using Synapse.Storage;
using Synapse.Streams;

namespace Synapse.Sync;

/// <summary>
/// The <c>receipts</c> stream read back from the store. A receipt keeps only its last write, so positions whose
/// receipt moved again later come back empty (left out): a reader catching up still ends with every final receipt.
/// </summary>
internal sealed class ReceiptsStreamSource : IStreamSource
{
    private readonly IReceiptStore _store;
    private readonly StreamRegistry _streams;

    public ReceiptsStreamSource(IReceiptStore store, StreamRegistry streams)
    {
        _store = store;
        _streams = streams;
    }

    public string Stream => StreamNames.Receipts;

    public long CurrentPosition => _streams[Stream].Current;

    public async Task<IReadOnlyList<StreamUpdate>> GetUpdatesAsync(long after, long upTo, int limit, CancellationToken cancellationToken)
    {
        var receipts = await _store.GetUpdatesAsync(after, upTo, limit, cancellationToken).ConfigureAwait(false);
        return StreamUpdates.ByPosition(Stream, receipts, r => r.StreamId, ReceiptService.Row);
    }
}
