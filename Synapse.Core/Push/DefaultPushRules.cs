using System.Text.Json.Nodes;
using Synapse.Identifiers;

namespace Synapse.Push;

/// <summary>
/// The server-default rules of the spec (Client-Server API, "Predefined Rules"), in the spec's order, filled in for one
/// user: <c>.m.rule.invite_for_me</c> and <c>.m.rule.is_user_mention</c> carry the user's Matrix ID,
/// <c>.m.rule.contains_user_name</c> their localpart. The display name needs no filling in: the
/// <c>contains_display_name</c> condition takes no parameters.
/// </summary>
internal static class DefaultPushRules
{
    /// <summary>The rule that, once enabled, silences everything; it outranks even user-defined override rules.</summary>
    public const string Master = ".m.rule.master";

    /// <summary>Every server-default rule for <paramref name="user"/>, by kind, in the spec's order within each kind.</summary>
    public static IReadOnlyList<PushRule> For(UserId user)
    {
        string userId = user.Value;
        return
        [
            Override(Master, [], [], enabled: false),
            Override(".m.rule.suppress_notices", [EventMatch("content.msgtype", "m.notice")], []),
            Override(".m.rule.invite_for_me",
                [EventMatch("type", "m.room.member"), EventMatch("content.membership", "invite"), EventMatch("state_key", userId)],
                [Notify(), Sound("default")]),
            Override(".m.rule.member_event", [EventMatch("type", "m.room.member")], []),
            Override(".m.rule.is_user_mention", [PropertyContains("content.m\\.mentions.user_ids", userId)],
                [Notify(), Sound("default"), Highlight()]),
            Override(".m.rule.contains_display_name", [new JsonObject { ["kind"] = "contains_display_name" }],
                [Notify(), Sound("default"), Highlight()]),
            Override(".m.rule.is_room_mention", [PropertyIs("content.m\\.mentions.room", true), SenderPermission("room")],
                [Notify(), Highlight()]),
            Override(".m.rule.roomnotif", [EventMatch("content.body", "@room"), SenderPermission("room")], [Notify(), Highlight()]),
            Override(".m.rule.tombstone", [EventMatch("type", "m.room.tombstone"), EventMatch("state_key", "")], [Notify(), Highlight()]),
            Override(".m.rule.reaction", [EventMatch("type", "m.reaction")], []),
            Override(".m.rule.room.server_acl", [EventMatch("type", "m.room.server_acl"), EventMatch("state_key", "")], []),
            Override(".m.rule.suppress_edits", [PropertyIs("content.m\\.relates_to.rel_type", "m.replace")], []),

            new PushRule(PushRuleKinds.Content, ".m.rule.contains_user_name", IsDefault: true, Enabled: true, Conditions: null,
                Pattern: user.Localpart, [Notify(), Sound("default"), Highlight()]),

            Underride(".m.rule.call", [EventMatch("type", "m.call.invite")], [Notify(), Sound("ring")]),
            Underride(".m.rule.encrypted_room_one_to_one", [MemberCount("2"), EventMatch("type", "m.room.encrypted")],
                [Notify(), Sound("default")]),
            Underride(".m.rule.room_one_to_one", [MemberCount("2"), EventMatch("type", "m.room.message")], [Notify(), Sound("default")]),
            Underride(".m.rule.message", [EventMatch("type", "m.room.message")], [Notify()]),
            Underride(".m.rule.encrypted", [EventMatch("type", "m.room.encrypted")], [Notify()]),
        ];
    }

    private static PushRule Override(string ruleId, JsonNode[] conditions, JsonNode[] actions, bool enabled = true) =>
        new(PushRuleKinds.Override, ruleId, IsDefault: true, enabled, new JsonArray(conditions), Pattern: null, new JsonArray(actions));

    private static PushRule Underride(string ruleId, JsonNode[] conditions, JsonNode[] actions) =>
        new(PushRuleKinds.Underride, ruleId, IsDefault: true, Enabled: true, new JsonArray(conditions), Pattern: null, new JsonArray(actions));

    private static JsonObject EventMatch(string key, string pattern) =>
        new() { ["kind"] = "event_match", ["key"] = key, ["pattern"] = pattern };

    private static JsonObject PropertyIs(string key, JsonNode value) =>
        new() { ["kind"] = "event_property_is", ["key"] = key, ["value"] = value };

    private static JsonObject PropertyContains(string key, string value) =>
        new() { ["kind"] = "event_property_contains", ["key"] = key, ["value"] = value };

    private static JsonObject SenderPermission(string key) => new() { ["kind"] = "sender_notification_permission", ["key"] = key };

    private static JsonObject MemberCount(string @is) => new() { ["kind"] = "room_member_count", ["is"] = @is };

    private static JsonValue Notify() => JsonValue.Create("notify");

    private static JsonObject Sound(string sound) => new() { ["set_tweak"] = "sound", ["value"] = sound };

    private static JsonObject Highlight() => new() { ["set_tweak"] = "highlight" };
}
