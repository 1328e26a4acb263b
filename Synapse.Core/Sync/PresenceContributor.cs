namespace Synapse.Sync;

/// <summary>
/// Adds <c>m.presence</c> events of the requester and of the users sharing a room with them (Spec: Client-Server API,
/// "Presence"), through the <c>presence</c> filter. Nothing when presence is disabled.
/// </summary>
internal sealed class PresenceContributor : ISyncContributor
{
    private readonly PresenceService _presence;

    public PresenceContributor(PresenceService presence) => _presence = presence;

    public async Task ContributeAsync(SyncContext context, SyncResponseBuilder response, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(response);
        var filter = context.Filter.Presence;
        if (!_presence.Enabled || !filter.Matches("m.presence", null))
        {
            return;
        }

        var events = await _presence.GetSyncEventsAsync(context, cancellationToken).ConfigureAwait(false);
        int limit = filter.Limit ?? int.MaxValue;
        foreach (var presenceEvent in events.Where(e => filter.Matches("m.presence", (string?)e["sender"])).Take(limit))
        {
            response.AddPresence(presenceEvent);
        }
    }
}
