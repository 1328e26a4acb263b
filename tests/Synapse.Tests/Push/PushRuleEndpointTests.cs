using System.Text.Json;
using Synapse.Configuration;
using Synapse.Tests.Infrastructure;
using static Synapse.Tests.Sync.AccountDataAndReceiptsTestKit;

namespace Synapse.Tests.Push;

/// <summary>The push rules API over real HTTP on each engine.</summary>
public sealed class PushRuleEndpointTests
{
    private const string Rules = V3 + "/pushrules";

    private static readonly string[] DefaultOverrides =
    [
        ".m.rule.master", ".m.rule.suppress_notices", ".m.rule.invite_for_me", ".m.rule.member_event", ".m.rule.is_user_mention",
        ".m.rule.contains_display_name", ".m.rule.is_room_mention", ".m.rule.roomnotif", ".m.rule.tombstone", ".m.rule.reaction",
        ".m.rule.room.server_acl", ".m.rule.suppress_edits",
    ];

    private static readonly string[] DefaultUnderrides =
    [
        ".m.rule.call", ".m.rule.encrypted_room_one_to_one", ".m.rule.room_one_to_one", ".m.rule.message", ".m.rule.encrypted",
    ];

    [Theory, ClassData(typeof(Engines))]
    public async Task GetPushRules_NewUser_ReturnsTheSpecDefaultsFilledInForTheUser(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");

        var (status, body) = await server.SendAsync(HttpMethod.Get, Rules + "/", alice.AccessToken);
        Assert.Equal(200, status);
        var global = body.GetProperty("global");
        Assert.Equal(["override", "content", "room", "sender", "underride"], global.EnumerateObject().Select(p => p.Name));
        Assert.Equal(DefaultOverrides, Ids(global, "override"));
        Assert.Equal([".m.rule.contains_user_name"], Ids(global, "content"));
        Assert.Empty(Ids(global, "room"));
        Assert.Empty(Ids(global, "sender"));
        Assert.Equal(DefaultUnderrides, Ids(global, "underride"));
        Assert.All(global.EnumerateObject().SelectMany(k => k.Value.EnumerateArray()), r => Assert.True(r.GetProperty("default").GetBoolean()));

        var master = global.GetProperty("override")[0];
        Assert.False(master.GetProperty("enabled").GetBoolean());
        Assert.Empty(master.GetProperty("conditions").EnumerateArray());
        Assert.Empty(master.GetProperty("actions").EnumerateArray());

        var userName = global.GetProperty("content")[0];
        Assert.Equal("alice", userName.GetProperty("pattern").GetString());
        Assert.True(userName.GetProperty("enabled").GetBoolean());
        Assert.False(userName.TryGetProperty("conditions", out _));

        var invite = Rule(global, "override", ".m.rule.invite_for_me");
        Assert.Equal(alice.UserId, invite.GetProperty("conditions")[2].GetProperty("pattern").GetString());
        var mention = Rule(global, "override", ".m.rule.is_user_mention");
        Assert.Equal("content.m\\.mentions.user_ids", mention.GetProperty("conditions")[0].GetProperty("key").GetString());
        Assert.Equal(alice.UserId, mention.GetProperty("conditions")[0].GetProperty("value").GetString());
        Assert.Equal(
            """[{"kind":"event_property_is","key":"content.m\\.mentions.room","value":true},{"kind":"sender_notification_permission","key":"room"}]""",
            Rule(global, "override", ".m.rule.is_room_mention").GetProperty("conditions").GetRawText());
        Assert.Equal("""["notify",{"set_tweak":"sound","value":"ring"}]""",
            Rule(global, "underride", ".m.rule.call").GetProperty("actions").GetRawText());

        // The same under /pushrules/global/, without the trailing slash, and under r0.
        var (scopeStatus, scope) = await server.SendAsync(HttpMethod.Get, Rules + "/global/", alice.AccessToken);
        Assert.Equal(200, scopeStatus);
        Assert.Equal(global.GetRawText(), scope.GetRawText());
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Get, Rules, alice.AccessToken)).Status);
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Get, "/_matrix/client/r0/pushrules/", alice.AccessToken)).Status);
        var (kindStatus, kind) = await server.SendAsync(HttpMethod.Get, Rules + "/global/underride/", alice.AccessToken);
        Assert.Equal(200, kindStatus);
        Assert.Equal(DefaultUnderrides, kind.EnumerateArray().Select(r => r.GetProperty("rule_id").GetString()));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task PutRule_BeforeAndAfter_OrdersUserRulesAboveTheDefaults(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        object Content(string pattern) => new { pattern, actions = new object[] { "notify" } };

        AssertOk(await server.SendAsync(HttpMethod.Put, Rules + "/global/content/b", alice.AccessToken, Content("b")));
        AssertOk(await server.SendAsync(HttpMethod.Put, Rules + "/global/content/a", alice.AccessToken, Content("a")));      // newest first
        AssertOk(await server.SendAsync(HttpMethod.Put, Rules + "/global/content/c?after=b", alice.AccessToken, Content("c")));
        AssertOk(await server.SendAsync(HttpMethod.Put, Rules + "/global/content/x?before=b", alice.AccessToken, Content("x")));
        AssertOk(await server.SendAsync(HttpMethod.Put, Rules + "/global/content/y?before=a&after=c", alice.AccessToken, Content("y")));
        Assert.Equal(["y", "a", "x", "b", "c", ".m.rule.contains_user_name"], await IdsAsync(server, alice, "content"));

        // Replacing a rule keeps its place (and its enabled state) unless before/after moves it.
        AssertOk(await server.SendAsync(HttpMethod.Put, Rules + "/global/content/x/enabled", alice.AccessToken, new { enabled = false }));
        AssertOk(await server.SendAsync(HttpMethod.Put, Rules + "/global/content/x", alice.AccessToken, Content("x2")));
        Assert.Equal(["y", "a", "x", "b", "c", ".m.rule.contains_user_name"], await IdsAsync(server, alice, "content"));
        var (_, x) = await server.SendAsync(HttpMethod.Get, Rules + "/global/content/x", alice.AccessToken);
        Assert.Equal("x2", x.GetProperty("pattern").GetString());
        Assert.False(x.GetProperty("enabled").GetBoolean());
        Assert.False(x.GetProperty("default").GetBoolean());
        AssertOk(await server.SendAsync(HttpMethod.Put, Rules + "/global/content/x?after=c", alice.AccessToken, Content("x3")));
        Assert.Equal(["y", "a", "b", "c", "x", ".m.rule.contains_user_name"], await IdsAsync(server, alice, "content"));

        // Override rules go between .m.rule.master and the other defaults; room and sender rules are keyed by their ID.
        AssertOk(await server.SendAsync(HttpMethod.Put, Rules + "/global/override/mine", alice.AccessToken, new
        {
            conditions = new object[] { new { kind = "event_match", key = "content.body", pattern = "beer" }, new { kind = "room_member_count", @is = "<=10" } },
            actions = new object[] { "notify", new { set_tweak = "sound", value = "beeroclock.wav" } },
        }));
        Assert.Equal([".m.rule.master", "mine", .. DefaultOverrides[1..]], await IdsAsync(server, alice, "override"));
        AssertOk(await server.SendAsync(HttpMethod.Put, $"{Rules}/global/room/{Uri.EscapeDataString("!room:test.local")}", alice.AccessToken,
            new { actions = Array.Empty<object>() }));
        AssertOk(await server.SendAsync(HttpMethod.Put, $"{Rules}/global/sender/{Uri.EscapeDataString("@spam:test.local")}", alice.AccessToken,
            new { actions = new object[] { "dont_notify" } }));
        var (_, sender) = await server.SendAsync(HttpMethod.Get, $"{Rules}/global/sender/{Uri.EscapeDataString("@spam:test.local")}", alice.AccessToken);
        Assert.Equal("""{"rule_id":"@spam:test.local","default":false,"enabled":true,"actions":[]}""", sender.GetRawText());
        Assert.Equal(["!room:test.local"], await IdsAsync(server, alice, "room"));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task DefaultRule_EnabledAndActions_CanBeChangedAndReadBack(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        string master = Rules + "/global/override/.m.rule.master";

        var (status, enabled) = await server.SendAsync(HttpMethod.Get, master + "/enabled", alice.AccessToken);
        Assert.Equal(200, status);
        Assert.Equal("""{"enabled":false}""", enabled.GetRawText());
        AssertOk(await server.SendAsync(HttpMethod.Put, master + "/enabled", alice.AccessToken, new { enabled = true }));
        Assert.True((await server.SendAsync(HttpMethod.Get, master + "/enabled", alice.AccessToken)).Body.GetProperty("enabled").GetBoolean());

        string message = Rules + "/global/underride/.m.rule.message";
        AssertOk(await server.SendAsync(HttpMethod.Put, message + "/actions", alice.AccessToken,
            new { actions = new object[] { "notify", new { set_tweak = "highlight", value = false }, "coalesce" } }));
        var (_, actions) = await server.SendAsync(HttpMethod.Get, message + "/actions", alice.AccessToken);
        Assert.Equal("""{"actions":["notify",{"set_tweak":"highlight","value":false}]}""", actions.GetRawText());

        // Changing the actions kept the enabled state and the rule's place; the rule is still a default one.
        AssertOk(await server.SendAsync(HttpMethod.Put, message + "/enabled", alice.AccessToken, new { enabled = false }));
        var (_, rule) = await server.SendAsync(HttpMethod.Get, message, alice.AccessToken);
        Assert.False(rule.GetProperty("enabled").GetBoolean());
        Assert.True(rule.GetProperty("default").GetBoolean());
        Assert.Equal("""["notify",{"set_tweak":"highlight","value":false}]""", rule.GetProperty("actions").GetRawText());
        Assert.Equal(DefaultUnderrides, await IdsAsync(server, alice, "underride"));

        // Another user's defaults are untouched.
        var bob = await server.RegisterAsync("bob");
        Assert.False((await server.SendAsync(HttpMethod.Get, master + "/enabled", bob.AccessToken)).Body.GetProperty("enabled").GetBoolean());
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task DeleteRule_UserRuleGoesButDefaultsStay(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        AssertOk(await server.SendAsync(HttpMethod.Put, Rules + "/global/underride/mine", alice.AccessToken, new { actions = new[] { "notify" } }));
        var (_, created) = await server.SendAsync(HttpMethod.Get, Rules + "/global/underride/mine", alice.AccessToken);
        Assert.Equal("""{"rule_id":"mine","default":false,"enabled":true,"actions":["notify"],"conditions":[]}""", created.GetRawText());

        AssertOk(await server.SendAsync(HttpMethod.Delete, Rules + "/global/underride/mine", alice.AccessToken));
        AssertError(404, "M_NOT_FOUND", await server.SendAsync(HttpMethod.Get, Rules + "/global/underride/mine", alice.AccessToken));
        AssertError(404, "M_NOT_FOUND", await server.SendAsync(HttpMethod.Delete, Rules + "/global/underride/mine", alice.AccessToken));
        Assert.Equal(DefaultUnderrides, await IdsAsync(server, alice, "underride"));

        AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Delete, Rules + "/global/underride/.m.rule.message", alice.AccessToken));
        Assert.Equal(DefaultUnderrides, await IdsAsync(server, alice, "underride"));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task PushRules_UnknownRules_AreNotFound(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");
        AssertOk(await server.SendAsync(HttpMethod.Put, Rules + "/global/content/bobs", bob.AccessToken, new { pattern = "x", actions = new[] { "notify" } }));

        foreach (string path in new[]
        {
            "/global/content/nope", "/global/content/bobs", "/global/underride/.m.rule.master", "/global/override/.m.rule.nope",
        })
        {
            AssertError(404, "M_NOT_FOUND", await server.SendAsync(HttpMethod.Get, Rules + path, alice.AccessToken));
            AssertError(404, "M_NOT_FOUND", await server.SendAsync(HttpMethod.Get, Rules + path + "/enabled", alice.AccessToken));
            AssertError(404, "M_NOT_FOUND", await server.SendAsync(HttpMethod.Get, Rules + path + "/actions", alice.AccessToken));
            AssertError(404, "M_NOT_FOUND", await server.SendAsync(HttpMethod.Put, Rules + path + "/enabled", alice.AccessToken, new { enabled = true }));
            AssertError(404, "M_NOT_FOUND", await server.SendAsync(HttpMethod.Put, Rules + path + "/actions", alice.AccessToken, new { actions = Array.Empty<object>() }));
            AssertError(404, "M_NOT_FOUND", await server.SendAsync(HttpMethod.Delete, Rules + path, alice.AccessToken));
        }
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task PushRules_BadInput_AnswersTheSpecErrors(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        string token = alice.AccessToken;
        var notify = new[] { "notify" };
        AssertOk(await server.SendAsync(HttpMethod.Put, Rules + "/global/override/mine", token, new { actions = notify }));

        // No token.
        AssertError(401, "M_MISSING_TOKEN", await server.SendAsync(HttpMethod.Get, Rules + "/"));
        AssertError(401, "M_MISSING_TOKEN", await server.SendAsync(HttpMethod.Put, Rules + "/global/override/x", null, new { actions = notify }));

        // Unknown scope or kind, on every endpoint.
        AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Get, Rules + "/device/", token));
        foreach (string prefix in new[] { "/device/override", "/global/nokind" })
        {
            AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Get, Rules + prefix + "/", token));
            AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Get, Rules + prefix + "/mine", token));
            AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Put, Rules + prefix + "/mine", token, new { actions = notify }));
            AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Delete, Rules + prefix + "/mine", token));
            AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Get, Rules + prefix + "/mine/enabled", token));
            AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Put, Rules + prefix + "/mine/enabled", token, new { enabled = true }));
            AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Get, Rules + prefix + "/mine/actions", token));
            AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Put, Rules + prefix + "/mine/actions", token, new { actions = notify }));
        }

        // PUT rule: reserved and malformed rule IDs.
        string put = Rules + "/global/override/";
        AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Put, put + ".mine", token, new { actions = notify }));
        AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Put, put + ".m.rule.master", token, new { actions = notify }));
        AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Put, put + "a%2Fb", token, new { actions = notify }));
        AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Put, put + "a%5Cb", token, new { actions = notify }));
        AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Put, Rules + "/global/room/not-a-room", token, new { actions = notify }));
        AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Put, Rules + "/global/sender/not-a-user", token, new { actions = notify }));

        // PUT rule: body.
        AssertError(400, "M_NOT_JSON", await server.SendAsync(HttpMethod.Put, put + "x", token, "{not json"));
        AssertError(400, "M_BAD_JSON", await server.SendAsync(HttpMethod.Put, put + "x", token, "[]"));
        AssertError(400, "M_MISSING_PARAM", await server.SendAsync(HttpMethod.Put, put + "x", token, new { }));
        AssertError(400, "M_BAD_JSON", await server.SendAsync(HttpMethod.Put, put + "x", token, new { actions = "notify" }));
        AssertError(400, "M_BAD_JSON", await server.SendAsync(HttpMethod.Put, put + "x", token, new { actions = new object[] { 1 } }));
        AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Put, put + "x", token, new { actions = new[] { "shout" } }));
        AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Put, put + "x", token, new { actions = new object[] { new { value = 1 } } }));
        AssertError(400, "M_BAD_JSON", await server.SendAsync(HttpMethod.Put, put + "x", token, new { actions = notify, conditions = new { } }));
        AssertError(400, "M_BAD_JSON", await server.SendAsync(HttpMethod.Put, put + "x", token, new { actions = notify, conditions = new[] { "x" } }));
        AssertError(400, "M_MISSING_PARAM", await server.SendAsync(HttpMethod.Put, put + "x", token, new { actions = notify, conditions = new[] { new { key = "type" } } }));
        AssertError(400, "M_MISSING_PARAM", await server.SendAsync(HttpMethod.Put, put + "x", token,
            new { actions = notify, conditions = new[] { new { kind = "event_match", key = "type" } } }));
        AssertError(400, "M_BAD_JSON", await server.SendAsync(HttpMethod.Put, put + "x", token,
            new { actions = notify, conditions = new object[] { new { kind = "event_match", key = "type", pattern = 5 } } }));
        AssertError(400, "M_BAD_JSON", await server.SendAsync(HttpMethod.Put, put + "x", token,
            new { actions = notify, conditions = new object[] { new { kind = "event_property_is", key = "type", value = new[] { 1 } } } }));
        AssertError(400, "M_BAD_JSON", await server.SendAsync(HttpMethod.Put, put + "x", token,
            new { actions = notify, conditions = new object[] { new { kind = "event_property_is", key = "type", value = 1.5 } } }));
        AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Put, put + "x", token,
            new { actions = notify, conditions = new object[] { new { kind = "room_member_count", @is = "about 3" } } }));
        AssertError(400, "M_MISSING_PARAM", await server.SendAsync(HttpMethod.Put, Rules + "/global/content/x", token, new { actions = notify }));
        AssertError(400, "M_BAD_JSON", await server.SendAsync(HttpMethod.Put, Rules + "/global/content/x", token, new { actions = notify, pattern = 1 }));

        // PUT rule: before/after must name a user rule of the kind (Spec example: 400 M_UNKNOWN).
        AssertError(400, "M_UNKNOWN", await server.SendAsync(HttpMethod.Put, put + "x?before=nope", token, new { actions = notify }));
        AssertError(400, "M_UNKNOWN", await server.SendAsync(HttpMethod.Put, put + "x?after=nope", token, new { actions = notify }));
        AssertError(400, "M_UNKNOWN", await server.SendAsync(HttpMethod.Put, put + "x?before=.m.rule.master", token, new { actions = notify }));
        AssertError(400, "M_UNKNOWN", await server.SendAsync(HttpMethod.Put, Rules + "/global/underride/x?after=mine", token, new { actions = notify }));

        // /enabled and /actions bodies.
        string mine = Rules + "/global/override/mine";
        AssertError(400, "M_NOT_JSON", await server.SendAsync(HttpMethod.Put, mine + "/enabled", token, "nope"));
        AssertError(400, "M_BAD_JSON", await server.SendAsync(HttpMethod.Put, mine + "/enabled", token, "true"));
        AssertError(400, "M_MISSING_PARAM", await server.SendAsync(HttpMethod.Put, mine + "/enabled", token, new { }));
        AssertError(400, "M_BAD_JSON", await server.SendAsync(HttpMethod.Put, mine + "/enabled", token, new { enabled = "yes" }));
        AssertError(400, "M_NOT_JSON", await server.SendAsync(HttpMethod.Put, mine + "/actions", token, "nope"));
        AssertError(400, "M_MISSING_PARAM", await server.SendAsync(HttpMethod.Put, mine + "/actions", token, new { }));
        AssertError(400, "M_BAD_JSON", await server.SendAsync(HttpMethod.Put, mine + "/actions", token, new { actions = new { } }));
        AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Put, mine + "/actions", token, new { actions = new[] { "shout" } }));

        // Nothing was created or changed by the refused requests.
        Assert.Equal([".m.rule.master", "mine", .. DefaultOverrides[1..]], await IdsAsync(server, alice, "override"));
        Assert.Equal(DefaultUnderrides, await IdsAsync(server, alice, "underride"));
        Assert.Equal([".m.rule.contains_user_name"], await IdsAsync(server, alice, "content"));
        var (_, rule) = await server.SendAsync(HttpMethod.Get, mine, token);
        Assert.True(rule.GetProperty("enabled").GetBoolean());
        Assert.Equal("""["notify"]""", rule.GetProperty("actions").GetRawText());
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task PushRules_AfterRestart_AreKept(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        AssertOk(await server.SendAsync(HttpMethod.Put, Rules + "/global/content/b", alice.AccessToken, new { pattern = "b", actions = new[] { "notify" } }));
        AssertOk(await server.SendAsync(HttpMethod.Put, Rules + "/global/content/a?after=b", alice.AccessToken, new { pattern = "a", actions = new[] { "notify" } }));
        AssertOk(await server.SendAsync(HttpMethod.Put, Rules + "/global/override/.m.rule.master/enabled", alice.AccessToken, new { enabled = true }));
        AssertOk(await server.SendAsync(HttpMethod.Put, Rules + "/global/override/.m.rule.reaction/actions", alice.AccessToken, new { actions = new[] { "notify" } }));
        var (_, before) = await server.SendAsync(HttpMethod.Get, Rules + "/", alice.AccessToken);

        await server.RestartAsync();

        var (status, after) = await server.SendAsync(HttpMethod.Get, Rules + "/", alice.AccessToken);
        Assert.Equal(200, status);
        Assert.Equal(before.GetRawText(), after.GetRawText());
        Assert.Equal(["b", "a", ".m.rule.contains_user_name"], await IdsAsync(server, alice, "content"));
        Assert.True(Rule(after.GetProperty("global"), "override", ".m.rule.master").GetProperty("enabled").GetBoolean());
        Assert.Equal("""["notify"]""", Rule(after.GetProperty("global"), "override", ".m.rule.reaction").GetProperty("actions").GetRawText());
    }

    internal static IEnumerable<string?> Ids(JsonElement ruleset, string kind) =>
        ruleset.GetProperty(kind).EnumerateArray().Select(r => r.GetProperty("rule_id").GetString()).ToList();

    internal static JsonElement Rule(JsonElement ruleset, string kind, string ruleId) =>
        ruleset.GetProperty(kind).EnumerateArray().Single(r => r.GetProperty("rule_id").GetString() == ruleId);

    private static async Task<IEnumerable<string?>> IdsAsync(TestHomeserver server, Session who, string kind)
    {
        var (status, body) = await server.SendAsync(HttpMethod.Get, Rules + "/", who.AccessToken);
        Assert.Equal(200, status);
        return Ids(body.GetProperty("global"), kind);
    }
}
