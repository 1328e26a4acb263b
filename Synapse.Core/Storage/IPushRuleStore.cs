namespace Synapse.Storage;

/// <summary>
/// Push rules (Spec: Client-Server API, "Push Rules"): a user's own rules, in order per kind, and their changes to the
/// server-default rules. Every change carries the <c>push_rules</c> stream position it was allocated; a change that
/// finds nothing to change writes nothing (and leaves the user's stream position alone).
/// </summary>
public interface IPushRuleStore
{
    /// <summary>The user's own rules (by kind, most important first) and their changes to server-default rules.</summary>
    Task<StoredPushRules> GetForUserAsync(string userId, CancellationToken cancellationToken);

    /// <summary>
    /// Creates or replaces a user rule (keeping its enabled state when it exists) and orders the user's rules of its
    /// kind as <paramref name="kindOrder"/> (every rule ID of the kind, the new one included, most important first).
    /// </summary>
    Task PutRuleAsync(string userId, StoredPushRule rule, IReadOnlyList<string> kindOrder, long streamId,
        CancellationToken cancellationToken);

    /// <summary>Deletes a user rule; false when it does not exist.</summary>
    Task<bool> DeleteRuleAsync(string userId, string kind, string ruleId, long streamId, CancellationToken cancellationToken);

    /// <summary>Changes the enabled state and/or actions (null: unchanged) of a user rule; false when it does not exist.</summary>
    Task<bool> UpdateRuleAsync(string userId, string kind, string ruleId, bool? enabled, string? actions, long streamId,
        CancellationToken cancellationToken);

    /// <summary>Records a change to a server-default rule: enabled state and/or actions (null: keep what was recorded).</summary>
    Task SetDefaultOverrideAsync(string userId, string ruleId, bool? enabled, string? actions, long streamId,
        CancellationToken cancellationToken);

    /// <summary>The <c>push_rules</c> position of the user's last change; 0 when they never changed anything.</summary>
    Task<long> GetLastChangeAsync(string userId, CancellationToken cancellationToken);

    /// <summary>Users whose last change is in (<paramref name="after"/>, <paramref name="upTo"/>], at most <paramref name="limit"/>, by position.</summary>
    Task<IReadOnlyList<PushRulesChange>> GetUpdatesAsync(long after, long upTo, int limit, CancellationToken cancellationToken);
}

/// <summary>A user's stored push rules.</summary>
/// <param name="Rules">Their own rules, grouped by kind, most important first within a kind.</param>
/// <param name="Defaults">Their changes to server-default rules.</param>
public sealed record StoredPushRules(IReadOnlyList<StoredPushRule> Rules, IReadOnlyList<PushRuleDefaultOverride> Defaults);

/// <summary>One user-defined push rule.</summary>
/// <param name="Kind"><c>override</c>, <c>content</c>, <c>room</c>, <c>sender</c> or <c>underride</c>.</param>
/// <param name="RuleId">Unique within the user's rules of the kind.</param>
/// <param name="Conditions">JSON array text (override and underride rules), else null.</param>
/// <param name="Pattern">The glob of a content rule, else null.</param>
/// <param name="Actions">JSON array text.</param>
/// <param name="Enabled">Whether the rule is enabled.</param>
public sealed record StoredPushRule(string Kind, string RuleId, string? Conditions, string? Pattern, string Actions, bool Enabled);

/// <summary>A user's change to a server-default rule.</summary>
/// <param name="RuleId">The default rule's ID.</param>
/// <param name="Enabled">The enabled state, or null for the default's.</param>
/// <param name="Actions">JSON array text, or null for the default's.</param>
public sealed record PushRuleDefaultOverride(string RuleId, bool? Enabled, string? Actions);

/// <summary>A user's last push rules change.</summary>
/// <param name="UserId">The user.</param>
/// <param name="StreamId">Its <c>push_rules</c> stream position.</param>
public sealed record PushRulesChange(string UserId, long StreamId);
