using Synapse.Storage;
using Synapse.Streams;

namespace Synapse.Rooms;

/// <summary>
/// The <c>events</c> stream read back from the <c>events</c> table (replication catch-up): for every stored event,
/// the update the persister published live at its position, built by the same <see cref="EventStreamRows.Build"/>
/// from the stored PDU and the relation stored with it.
/// </summary>
/// <remarks>
/// <para>
/// Every position holds at most one event: <see cref="RoomEventPipeline"/> allocates one position per event, and
/// <c>stream_ordering</c> is the table's primary key. So <c>limit</c> events are <c>limit</c> positions,
/// read in one query per page.
/// </para>
/// <para>
/// A position allocated to an event that was then not written (a multi-event write refused part way, or a failed
/// transaction) was published live as an update with no rows; it has nothing stored, so it is left out here and a
/// reader advances over it to <c>upTo</c> as for any gap. Every stored event was published with its row: there
/// are no rejected or outlier events yet (only the local persister writes events, and only after authorizing them);
/// when federation stores such events, this source must leave out whatever the live path does not publish.
/// </para>
/// </remarks>
internal sealed class EventsStreamSource : IStreamSource
{
    private readonly IEventStore _store;
    private readonly StreamRegistry _streams;

    public EventsStreamSource(IEventStore store, StreamRegistry streams)
    {
        _store = store;
        _streams = streams;
    }

    public string Stream => StreamNames.Events;

    public long CurrentPosition => _streams[Stream].Current;

    public async Task<IReadOnlyList<StreamUpdate>> GetUpdatesAsync(long after, long upTo, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        if (upTo <= after)
        {
            return [];
        }

        var events = await _store.GetEventsByStreamAsync(after, upTo, limit, cancellationToken).ConfigureAwait(false);
        return StreamUpdates.ByPosition(Stream, events, e => e.StreamOrdering, e => EventStreamRows.Build(e.Pdu, e.Relation));
    }
}
