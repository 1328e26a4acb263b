using Synapse.Storage;
using Synapse.Streams;

namespace Synapse.Sync;

/// <summary>
/// The <c>account_data</c> stream read back from the store. An entry keeps only its last write, so positions whose
/// entry was written again later come back empty (left out): a reader catching up still ends with every final value.
/// </summary>
internal sealed class AccountDataStreamSource : IStreamSource
{
    private readonly IAccountDataStore _store;
    private readonly StreamRegistry _streams;

    public AccountDataStreamSource(IAccountDataStore store, StreamRegistry streams)
    {
        _store = store;
        _streams = streams;
    }

    public string Stream => StreamNames.AccountData;

    public long CurrentPosition => _streams[Stream].Current;

    public async Task<IReadOnlyList<StreamUpdate>> GetUpdatesAsync(long after, long upTo, int limit, CancellationToken cancellationToken)
    {
        var entries = await _store.GetUpdatesAsync(after, upTo, limit, cancellationToken).ConfigureAwait(false);
        return StreamUpdates.ByPosition(Stream, entries, e => e.StreamId, e => AccountDataService.Row(e.UserId, e.RoomId, e.Type));
    }
}
