using System.Text.Json.Nodes;
using Synapse.Storage;
using Synapse.Streams;

namespace Synapse.Sync;

/// <summary>
/// The to-device stream read back from the database (replication catch-up): the recipients of the messages still waiting.
/// Delivered messages are deleted, so positions whose messages were all delivered are left out; a reader catching up only
/// needs to wake the syncs of devices that still have something to receive.
/// </summary>
internal sealed class ToDeviceStreamSource : IStreamSource
{
    private readonly StreamRegistry _streams;
    private readonly IToDeviceStore _store;

    public ToDeviceStreamSource(StreamRegistry streams, IToDeviceStore store)
    {
        _streams = streams;
        _store = store;
    }

    public string Stream => StreamNames.ToDevice;

    public long CurrentPosition => _streams[StreamNames.ToDevice].Current;

    public async Task<IReadOnlyList<StreamUpdate>> GetUpdatesAsync(long after, long upTo, int limit, CancellationToken cancellationToken)
    {
        var rows = await _store.GetRecipientsAsync(after, upTo, limit, cancellationToken).ConfigureAwait(false);
        return [.. rows.GroupBy(r => r.StreamId).Select(position => new StreamUpdate(Stream, position.Key,
            [.. position.Select(r => r.Recipient.UserId).Distinct(StringComparer.Ordinal)
                .Select(u => new StreamRow(new JsonObject { ["user_id"] = u }, [NotifierKey.User(u)]))]))];
    }
}
