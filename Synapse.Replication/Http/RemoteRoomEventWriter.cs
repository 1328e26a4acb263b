using Synapse.Events;
using Synapse.Rooms;

namespace Synapse.Replication.Http;

/// <summary>
/// A worker's <see cref="IRoomEventWriter"/>: the drafts go to main's <c>send_event</c>, where the room's persist queue
/// builds, authorizes and writes them, so one process orders each room's graph. Returns once this worker's events
/// stream has the events (read-after-write); a retried call never writes an event twice.
/// </summary>
public sealed class RemoteRoomEventWriter(ReplicationHttpClient main) : IRoomEventWriter
{
    /// <inheritdoc />
    public Task<IReadOnlyList<Pdu>> WriteAsync(IReadOnlyList<EventDraft> drafts, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(drafts);
        if (drafts.Count == 0 || drafts.Any(d => d.RoomId != drafts[0].RoomId))
        {
            throw new ArgumentException("Drafts must be non-empty and all for one room.", nameof(drafts));
        }

        return main.SendEventsAsync(drafts, cancellationToken);
    }
}
