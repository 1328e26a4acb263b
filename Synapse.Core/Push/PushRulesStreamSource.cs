using Synapse.Storage;
using Synapse.Streams;

namespace Synapse.Push;

/// <summary>
/// The <c>push_rules</c> stream read back from the store. Only each user's last change is kept, so positions a later
/// change of the same user superseded come back empty (left out): a reader catching up still learns every user whose
/// rules changed, and reads their current rules.
/// </summary>
internal sealed class PushRulesStreamSource : IStreamSource
{
    private readonly IPushRuleStore _store;
    private readonly StreamRegistry _streams;

    public PushRulesStreamSource(IPushRuleStore store, StreamRegistry streams)
    {
        _store = store;
        _streams = streams;
    }

    public string Stream => StreamNames.PushRules;

    public long CurrentPosition => _streams[Stream].Current;

    public async Task<IReadOnlyList<StreamUpdate>> GetUpdatesAsync(long after, long upTo, int limit, CancellationToken cancellationToken)
    {
        var changes = await _store.GetUpdatesAsync(after, upTo, limit, cancellationToken).ConfigureAwait(false);
        return StreamUpdates.ByPosition(Stream, changes, c => c.StreamId, c => PushRuleService.Row(c.UserId));
    }
}
