using System.Text.Json.Nodes;

namespace Synapse.Push;

/// <summary>The kinds of push rule, in the order a server checks them (Spec: Client-Server API, "Push Rules").</summary>
internal static class PushRuleKinds
{
    public const string Override = "override";
    public const string Content = "content";
    public const string Room = "room";
    public const string Sender = "sender";
    public const string Underride = "underride";

    /// <summary>Every kind, in priority order (the order of the keys of a ruleset).</summary>
    public static readonly IReadOnlyList<string> All = [Override, Content, Room, Sender, Underride];

    public static bool IsKnown(string kind) => All.Contains(kind, StringComparer.Ordinal);
}

/// <summary>One push rule of a user's ruleset, server-default or user-defined.</summary>
/// <param name="Kind">One of <see cref="PushRuleKinds"/>.</param>
/// <param name="RuleId">The rule ID; server-default rule IDs start with a dot.</param>
/// <param name="IsDefault">True for a server-default rule.</param>
/// <param name="Enabled">Disabled rules never match.</param>
/// <param name="Conditions">The conditions of an override or underride rule, else null.</param>
/// <param name="Pattern">The glob of a content rule, else null.</param>
/// <param name="Actions">What to do when the rule matches.</param>
internal sealed record PushRule(string Kind, string RuleId, bool IsDefault, bool Enabled, JsonArray? Conditions, string? Pattern,
    JsonArray Actions)
{
    /// <summary>The rule as the API and the <c>m.push_rules</c> event show it.</summary>
    public JsonObject ToJson()
    {
        var json = new JsonObject
        {
            ["rule_id"] = RuleId,
            ["default"] = IsDefault,
            ["enabled"] = Enabled,
            ["actions"] = Actions.DeepClone(),
        };
        if (Conditions is not null)
        {
            json["conditions"] = Conditions.DeepClone();
        }

        if (Pattern is not null)
        {
            json["pattern"] = Pattern;
        }

        return json;
    }
}
