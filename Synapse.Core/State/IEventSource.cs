using Synapse.Events;

namespace Synapse.State;

/// <summary>
/// Where state resolution reads events: the event store, events received over federation and not yet persisted,
/// or both. State resolution asks for whole batches (every auth event of a frontier at once), so an implementation
/// should answer a batch with one query.
/// </summary>
public interface IEventSource
{
    /// <summary>
    /// The events with these IDs, keyed by event ID. IDs the source does not know are simply absent from the
    /// answer; state resolution then treats them as missing (see <see cref="StateResolverV2"/>).
    /// </summary>
    Task<IReadOnlyDictionary<string, Pdu>> GetEventsAsync(IReadOnlyCollection<string> eventIds, CancellationToken cancellationToken);

    /// <summary>
    /// Which of these events were rejected (failed the authorisation checks on receipt). The default answers none,
    /// which is right for a source holding only accepted events.
    /// </summary>
    /// <remarks>
    /// Spec: Room Versions v2, "Rejected events": rejected auth events are not used in the iterative auth checks.
    /// </remarks>
    Task<IReadOnlySet<string>> GetRejectedAsync(IReadOnlyCollection<string> eventIds, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlySet<string>>(new HashSet<string>(StringComparer.Ordinal));
}
