using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Synapse.Accounts;
using Synapse.Identifiers;
using Synapse.Rooms;
using Synapse.Storage;
using Synapse.Streams;
using Synapse.Sync;

namespace Synapse.Push;

/// <summary>
/// A user's push rules (Spec: Client-Server API, "Push Rules" and "Push Rules: API"): the server-default rules with the
/// user's changes to them, and the user's own rules. Every change advances the <c>push_rules</c> stream with a row that
/// wakes the user's syncs, which then carry the whole ruleset as the <c>m.push_rules</c> account data event.
/// </summary>
internal sealed partial class PushRuleService
{
    /// <summary>The only scope: device-specific rules were removed from the spec.</summary>
    public const string GlobalScope = "global";

    private readonly IPushRuleStore _store;
    private readonly StreamRegistry _streams;

    // Read-modify-write (ordering among a kind, "does the rule exist") is serialised per user. Push rule writes happen on
    // the main process only, so an in-process lock is enough.
    private readonly UserWriteLocks _locks = new();

    public PushRuleService(IPushRuleStore store, StreamRegistry streams)
    {
        _store = store;
        _streams = streams;
    }

    /// <summary>GET /pushrules/: <c>{"global": ruleset}</c>.</summary>
    public async Task<JsonObject> GetAllAsync(Requester requester, CancellationToken cancellationToken) =>
        new() { [GlobalScope] = await GetRulesetAsync(requester.UserId, cancellationToken).ConfigureAwait(false) };

    /// <summary>GET /pushrules/{scope}/: the ruleset of the scope.</summary>
    public Task<JsonObject> GetScopeAsync(Requester requester, string scope, CancellationToken cancellationToken)
    {
        ValidateScope(scope);
        return GetRulesetAsync(requester.UserId, cancellationToken);
    }

    /// <summary>GET /pushrules/{scope}/{kind}/: the rules of one kind, in priority order.</summary>
    public async Task<JsonArray> GetKindAsync(Requester requester, string scope, string kind, CancellationToken cancellationToken)
    {
        ValidateScope(scope);
        ValidateKind(kind);
        var rules = await LoadAsync(requester.UserId, cancellationToken).ConfigureAwait(false);
        return new JsonArray([.. rules.Where(r => r.Kind == kind).Select(r => (JsonNode)r.ToJson())]);
    }

    /// <summary>GET /pushrules/{scope}/{kind}/{ruleId}.</summary>
    public async Task<JsonObject> GetRuleAsync(Requester requester, string scope, string kind, string ruleId, CancellationToken cancellationToken)
    {
        var rule = await FindAsync(requester.UserId, scope, kind, ruleId, cancellationToken).ConfigureAwait(false);
        return rule.ToJson();
    }

    /// <summary>GET /pushrules/{scope}/{kind}/{ruleId}/enabled.</summary>
    public async Task<bool> GetEnabledAsync(Requester requester, string scope, string kind, string ruleId, CancellationToken cancellationToken) =>
        (await FindAsync(requester.UserId, scope, kind, ruleId, cancellationToken).ConfigureAwait(false)).Enabled;

    /// <summary>GET /pushrules/{scope}/{kind}/{ruleId}/actions.</summary>
    public async Task<JsonArray> GetActionsAsync(Requester requester, string scope, string kind, string ruleId, CancellationToken cancellationToken) =>
        (JsonArray)(await FindAsync(requester.UserId, scope, kind, ruleId, cancellationToken).ConfigureAwait(false)).Actions.DeepClone();

    /// <summary>
    /// PUT /pushrules/{scope}/{kind}/{ruleId}: creates or replaces a user-defined rule. <paramref name="before"/> places it
    /// just above (more important than) a user rule of the kind, else <paramref name="after"/> just below one; with neither
    /// a new rule becomes the most important user rule of its kind and a replaced rule keeps its place.
    /// </summary>
    public async Task PutRuleAsync(Requester requester, string scope, string kind, string ruleId, JsonElement body, string? before,
        string? after, CancellationToken cancellationToken)
    {
        ValidateScope(scope);
        ValidateKind(kind);
        ValidateNewRuleId(kind, ruleId);
        var actions = ParseActions(body);
        string? conditions = null;
        string? pattern = null;
        switch (kind)
        {
            case PushRuleKinds.Override or PushRuleKinds.Underride:
                // Spec: override and underride rules "MAY have a list of 'conditions'"; none means the rule always matches.
                conditions = ParseConditions(body).ToJsonString();
                break;
            case PushRuleKinds.Content:
                pattern = ParsePattern(body);
                break;
        }

        var user = requester.UserId;
        using var held = await _locks.AcquireAsync(user.Value, cancellationToken).ConfigureAwait(false);
        var stored = await _store.GetForUserAsync(user.Value, cancellationToken).ConfigureAwait(false);
        var order = stored.Rules.Where(r => r.Kind == kind).Select(r => r.RuleId).ToList();
        int existing = order.IndexOf(ruleId);
        order.Remove(ruleId);
        int index = before is not null ? Anchor(order, before)
            : after is not null ? Anchor(order, after) + 1
            : existing >= 0 ? existing
            : 0;
        order.Insert(index, ruleId);

        var rule = new StoredPushRule(kind, ruleId, conditions, pattern, actions.ToJsonString(), Enabled: true);
        await WriteAsync(user, position => _store.PutRuleAsync(user.Value, rule, order, position, cancellationToken)).ConfigureAwait(false);
    }

    /// <summary>DELETE /pushrules/{scope}/{kind}/{ruleId}: user-defined rules only.</summary>
    public async Task DeleteRuleAsync(Requester requester, string scope, string kind, string ruleId, CancellationToken cancellationToken)
    {
        var user = requester.UserId;
        using var held = await _locks.AcquireAsync(user.Value, cancellationToken).ConfigureAwait(false);
        var rule = await FindAsync(user, scope, kind, ruleId, cancellationToken).ConfigureAwait(false);
        if (rule.IsDefault)
        {
            // The spec gives no error for this; a server-default rule can only be disabled.
            throw MatrixException.InvalidParam($"Cannot delete the server-default rule {ruleId}; disable it instead.");
        }

        bool deleted = false;
        await WriteAsync(user, async position =>
            deleted = await _store.DeleteRuleAsync(user.Value, kind, ruleId, position, cancellationToken).ConfigureAwait(false))
            .ConfigureAwait(false);
        if (!deleted)
        {
            throw RuleNotFound();
        }
    }

    /// <summary>PUT /pushrules/{scope}/{kind}/{ruleId}/enabled: body <c>{"enabled": bool}</c>; server-default rules too.</summary>
    public async Task SetEnabledAsync(Requester requester, string scope, string kind, string ruleId, JsonElement body,
        CancellationToken cancellationToken)
    {
        if (!body.TryGetProperty("enabled", out var value) || value.ValueKind == JsonValueKind.Null)
        {
            throw MatrixException.MissingParam("enabled");
        }

        bool enabled = value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw MatrixException.BadJson("'enabled' must be a boolean"),
        };
        await UpdateAsync(requester.UserId, scope, kind, ruleId, enabled, null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>PUT /pushrules/{scope}/{kind}/{ruleId}/actions: body <c>{"actions": [...]}</c>; server-default rules too.</summary>
    public async Task SetActionsAsync(Requester requester, string scope, string kind, string ruleId, JsonElement body,
        CancellationToken cancellationToken)
    {
        var actions = ParseActions(body);
        await UpdateAsync(requester.UserId, scope, kind, ruleId, null, actions.ToJsonString(), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The <c>global</c> ruleset: every kind, each rule in priority order.</summary>
    public async Task<JsonObject> GetRulesetAsync(UserId user, CancellationToken cancellationToken)
    {
        var rules = await LoadAsync(user, cancellationToken).ConfigureAwait(false);
        var ruleset = new JsonObject();
        foreach (string kind in PushRuleKinds.All)
        {
            ruleset[kind] = new JsonArray([.. rules.Where(r => r.Kind == kind).Select(r => (JsonNode)r.ToJson())]);
        }

        return ruleset;
    }

    /// <summary>The <c>push_rules</c> position of the user's last change (0: never changed).</summary>
    public Task<long> GetLastChangeAsync(UserId user, CancellationToken cancellationToken) =>
        _store.GetLastChangeAsync(user.Value, cancellationToken);

    /// <summary>The stream row of a change: it wakes only the owner's syncs.</summary>
    internal static StreamRow Row(string userId) => new(new JsonObject { ["user_id"] = userId }, [NotifierKey.User(userId)]);

    /// <summary>
    /// Every rule of the user in evaluation order: <c>.m.rule.master</c> first, then per kind the user's rules before the
    /// server-default ones (Spec: server-default rules "operate at a lower priority than user-defined rules, except for the
    /// .m.rule.master rule").
    /// </summary>
    private async Task<List<PushRule>> LoadAsync(UserId user, CancellationToken cancellationToken)
    {
        var stored = await _store.GetForUserAsync(user.Value, cancellationToken).ConfigureAwait(false);
        var changes = stored.Defaults.ToDictionary(d => d.RuleId, StringComparer.Ordinal);
        var defaults = DefaultPushRules.For(user).Select(rule => changes.TryGetValue(rule.RuleId, out var change)
            ? rule with
            {
                Enabled = change.Enabled ?? rule.Enabled,
                Actions = change.Actions is null ? rule.Actions : (JsonArray)JsonNode.Parse(change.Actions)!,
            }
            : rule).ToList();

        var rules = new List<PushRule>();
        foreach (string kind in PushRuleKinds.All)
        {
            if (kind == PushRuleKinds.Override)
            {
                rules.AddRange(defaults.Where(r => r.RuleId == DefaultPushRules.Master));
            }

            rules.AddRange(stored.Rules.Where(r => r.Kind == kind).Select(r => new PushRule(r.Kind, r.RuleId, IsDefault: false, r.Enabled,
                r.Conditions is null ? null : (JsonArray)JsonNode.Parse(r.Conditions)!, r.Pattern, (JsonArray)JsonNode.Parse(r.Actions)!)));
            rules.AddRange(defaults.Where(r => r.Kind == kind && r.RuleId != DefaultPushRules.Master));
        }

        return rules;
    }

    private async Task<PushRule> FindAsync(UserId user, string scope, string kind, string ruleId, CancellationToken cancellationToken)
    {
        ValidateScope(scope);
        ValidateKind(kind);
        var rules = await LoadAsync(user, cancellationToken).ConfigureAwait(false);
        return rules.Find(r => r.Kind == kind && r.RuleId == ruleId) ?? throw RuleNotFound();
    }

    private async Task UpdateAsync(UserId user, string scope, string kind, string ruleId, bool? enabled, string? actions,
        CancellationToken cancellationToken)
    {
        using var held = await _locks.AcquireAsync(user.Value, cancellationToken).ConfigureAwait(false);
        var rule = await FindAsync(user, scope, kind, ruleId, cancellationToken).ConfigureAwait(false);
        bool found = true;
        await WriteAsync(user, async position =>
        {
            if (rule.IsDefault)
            {
                await _store.SetDefaultOverrideAsync(user.Value, ruleId, enabled, actions, position, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                found = await _store.UpdateRuleAsync(user.Value, kind, ruleId, enabled, actions, position, cancellationToken)
                    .ConfigureAwait(false);
            }
        }).ConfigureAwait(false);
        if (!found)
        {
            throw RuleNotFound();
        }
    }

    /// <summary>Runs one store write at a freshly allocated <c>push_rules</c> position and publishes it.</summary>
    private async Task WriteAsync(UserId user, Func<long, Task> write)
    {
        var stream = _streams[StreamNames.PushRules];
        long position = stream.Allocate();
        IReadOnlyList<StreamRow> rows = [];
        try
        {
            await write(position).ConfigureAwait(false);
            rows = [Row(user.Value)];
        }
        finally
        {
            // Every allocated position is completed, with no rows when the write failed, or the stream would stall.
            stream.Complete(position, rows);
        }
    }

    private static int Anchor(List<string> order, string anchor)
    {
        // Spec: "It is not possible to add a rule relative to a predefined server rule"; the spec's example error for an
        // unknown before/after rule is 400 M_UNKNOWN.
        if (anchor.StartsWith('.'))
        {
            throw new MatrixException(HttpStatusCode.BadRequest, ErrorCodes.Unknown,
                $"Cannot add a rule relative to the server-default rule {anchor}");
        }

        int index = order.IndexOf(anchor);
        return index >= 0
            ? index
            : throw new MatrixException(HttpStatusCode.BadRequest, ErrorCodes.Unknown, $"before/after rule not found: {anchor}");
    }

    private static void ValidateScope(string scope)
    {
        if (scope != GlobalScope)
        {
            throw MatrixException.InvalidParam($"Unknown push rule scope '{scope}': only 'global' exists");
        }
    }

    private static void ValidateKind(string kind)
    {
        if (!PushRuleKinds.IsKnown(kind))
        {
            throw MatrixException.InvalidParam($"Unknown push rule kind '{kind}'");
        }
    }

    private static void ValidateNewRuleId(string kind, string ruleId)
    {
        // Spec: a rule ID starting with "." "MUST be rejected as this is reserved for server-default rules".
        if (ruleId.StartsWith('.'))
        {
            throw MatrixException.InvalidParam("Rule IDs starting with '.' are reserved for server-default rules");
        }

        if (ruleId.Length == 0 || Encoding.UTF8.GetByteCount(ruleId) > 255)
        {
            throw MatrixException.InvalidParam("Rule IDs must be 1-255 bytes");
        }

        switch (kind)
        {
            // Spec: "The rule_id of a room rule is always the ID of the room that it affects", and of a sender rule "the
            // Matrix user ID of the user whose messages they'd apply to".
            case PushRuleKinds.Room:
                RoomService.ValidateRoomId(ruleId);
                break;
            case PushRuleKinds.Sender:
                if (!UserId.TryParse(ruleId, out _))
                {
                    throw MatrixException.InvalidParam($"The rule ID of a sender rule must be a user ID, not '{ruleId}'");
                }

                break;
            default:
                // Spec: 'Slashes ("/") and backslashes ("\") are also not allowed.'
                if (ruleId.AsSpan().IndexOfAny('/', '\\') >= 0)
                {
                    throw MatrixException.InvalidParam("Rule IDs cannot contain '/' or '\\'");
                }

                break;
        }
    }

    /// <summary>
    /// The <c>actions</c> of a body: <c>notify</c>, or objects naming a tweak (<c>{"set_tweak": ..., "value": ...}</c>).
    /// Spec ("Historical Actions"): <c>dont_notify</c> and <c>coalesce</c> MUST be ignored, so they are stripped.
    /// </summary>
    private static JsonArray ParseActions(JsonElement body)
    {
        if (!body.TryGetProperty("actions", out var actions) || actions.ValueKind == JsonValueKind.Null)
        {
            throw MatrixException.MissingParam("actions");
        }

        if (actions.ValueKind != JsonValueKind.Array)
        {
            throw MatrixException.BadJson("'actions' must be an array");
        }

        var parsed = new JsonArray();
        foreach (var action in actions.EnumerateArray())
        {
            switch (action.ValueKind)
            {
                case JsonValueKind.String when action.GetString() is "notify":
                    parsed.Add("notify");
                    break;
                case JsonValueKind.String when action.GetString() is "dont_notify" or "coalesce":
                    break;
                case JsonValueKind.String:
                    throw MatrixException.InvalidParam($"Unknown push rule action '{action.GetString()}'");
                case JsonValueKind.Object:
                    if (!action.TryGetProperty("set_tweak", out var tweak) || tweak.ValueKind != JsonValueKind.String)
                    {
                        throw MatrixException.InvalidParam("An action object must name a tweak in 'set_tweak'");
                    }

                    parsed.Add(JsonNode.Parse(action.GetRawText()));
                    break;
                default:
                    throw MatrixException.BadJson("Each action must be a string or an object");
            }
        }

        return parsed;
    }

    /// <summary>
    /// The <c>conditions</c> of an override or underride rule. The spec's kinds are checked for their parameters; other
    /// kinds are kept as they are (Spec: "Unrecognised conditions MUST NOT match any events").
    /// </summary>
    private static JsonArray ParseConditions(JsonElement body)
    {
        if (!body.TryGetProperty("conditions", out var conditions) || conditions.ValueKind == JsonValueKind.Null)
        {
            return [];
        }

        if (conditions.ValueKind != JsonValueKind.Array)
        {
            throw MatrixException.BadJson("'conditions' must be an array");
        }

        var parsed = new JsonArray();
        foreach (var condition in conditions.EnumerateArray())
        {
            if (condition.ValueKind != JsonValueKind.Object)
            {
                throw MatrixException.BadJson("Each condition must be an object");
            }

            string kind = RequiredString(condition, "kind");
            switch (kind)
            {
                case "event_match":
                    RequiredString(condition, "key");
                    RequiredString(condition, "pattern");
                    break;
                case "event_property_is" or "event_property_contains":
                    RequiredString(condition, "key");
                    ValidateScalar(condition);
                    break;
                case "sender_notification_permission":
                    RequiredString(condition, "key");
                    break;
                case "room_member_count":
                    if (!MemberCountPattern().IsMatch(RequiredString(condition, "is")))
                    {
                        throw MatrixException.InvalidParam("'is' must be a number, optionally prefixed by ==, <, >, >= or <=");
                    }

                    break;
            }

            parsed.Add(JsonNode.Parse(condition.GetRawText()));
        }

        return parsed;
    }

    private static string ParsePattern(JsonElement body)
    {
        if (!body.TryGetProperty("pattern", out var pattern) || pattern.ValueKind == JsonValueKind.Null)
        {
            throw MatrixException.MissingParam("pattern");
        }

        return pattern.ValueKind == JsonValueKind.String ? pattern.GetString()! : throw MatrixException.BadJson("'pattern' must be a string");
    }

    private static string RequiredString(JsonElement condition, string name)
    {
        if (!condition.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            throw MatrixException.MissingParam(name);
        }

        return value.ValueKind == JsonValueKind.String ? value.GetString()! : throw MatrixException.BadJson($"'{name}' must be a string");
    }

    /// <summary>
    /// Spec: event_property_is/contains match "non-compound canonical JSON values: strings, integers in the range of
    /// [-(2**53)+1, (2**53)-1], booleans, and null".
    /// </summary>
    private static void ValidateScalar(JsonElement condition)
    {
        if (!condition.TryGetProperty("value", out var value))
        {
            throw MatrixException.MissingParam("value");
        }

        const long limit = (1L << 53) - 1;
        bool valid = value.ValueKind switch
        {
            JsonValueKind.String or JsonValueKind.True or JsonValueKind.False or JsonValueKind.Null => true,
            JsonValueKind.Number => value.TryGetInt64(out long number) && number is >= -limit and <= limit,
            _ => false,
        };
        if (!valid)
        {
            throw MatrixException.BadJson("'value' must be a string, an integer, a boolean or null");
        }
    }

    private static MatrixException RuleNotFound() => MatrixException.NotFound("The push rule was not found.");

    [GeneratedRegex("^(==|<=|>=|<|>)?[0-9]+$", RegexOptions.CultureInvariant)]
    private static partial Regex MemberCountPattern();
}
