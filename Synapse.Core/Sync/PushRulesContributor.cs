using System.Text.Json.Nodes;
using Synapse.Push;
using Synapse.Streams;

namespace Synapse.Sync;

/// <summary>
/// The user's push rules as the global account data event <c>m.push_rules</c> (Spec: "Push Rules: Events"): always in an
/// initial or full-state sync (clients read their rules from it), and in an incremental sync when the user's rules changed
/// in (since, now]. The filter's <c>account_data</c> part applies.
/// </summary>
internal sealed class PushRulesContributor : ISyncContributor
{
    private readonly PushRuleService _pushRules;

    public PushRulesContributor(PushRuleService pushRules) => _pushRules = pushRules;

    public async Task ContributeAsync(SyncContext context, SyncResponseBuilder response, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(response);
        if (!context.Filter.AccountData.Matches(AccountDataService.PushRulesType, null))
        {
            return;
        }

        var user = context.Requester.UserId;
        if (!context.IsInitial && !context.FullState)
        {
            long after = context.From(StreamNames.PushRules);
            if (after >= context.Now[StreamNames.PushRules])
            {
                return;
            }

            // Only the user's last change is recorded: one after `now` hides earlier ones, which the next sync delivers.
            long last = await _pushRules.GetLastChangeAsync(user, cancellationToken).ConfigureAwait(false);
            if (last <= after || last > context.Now[StreamNames.PushRules])
            {
                return;
            }
        }

        var ruleset = await _pushRules.GetRulesetAsync(user, cancellationToken).ConfigureAwait(false);
        response.AddAccountData(new JsonObject
        {
            ["type"] = AccountDataService.PushRulesType,
            ["content"] = new JsonObject { [PushRuleService.GlobalScope] = ruleset },
        });
    }
}
