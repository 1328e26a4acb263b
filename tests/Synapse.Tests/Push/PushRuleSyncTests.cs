using System.Text.Json;
using Synapse.Configuration;
using Synapse.Tests.Infrastructure;
using static Synapse.Tests.Sync.AccountDataAndReceiptsSync;
using static Synapse.Tests.Sync.AccountDataAndReceiptsTestKit;

namespace Synapse.Tests.Push;

/// <summary>Push rules delivered as the <c>m.push_rules</c> account data event of /sync, over real HTTP on each engine.</summary>
public sealed class PushRuleSyncTests
{
    private const string Rules = V3 + "/pushrules";

    [Theory, ClassData(typeof(Engines))]
    public async Task Sync_Initial_AlwaysCarriesTheRuleset(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");

        var initial = await SyncAsync(server, alice);
        var content = PushRules(initial).GetProperty("content");
        var (_, api) = await server.SendAsync(HttpMethod.Get, Rules + "/", alice.AccessToken);
        Assert.Equal(api.GetRawText(), content.GetRawText());
        Assert.Equal("alice", content.GetProperty("global").GetProperty("content")[0].GetProperty("pattern").GetString());

        // Nothing changed: an incremental sync leaves it out; a full-state sync carries it again.
        Assert.Empty(GlobalAccountData(await SyncAsync(server, alice, NextBatch(initial))));
        var (status, full) = await server.SendAsync(HttpMethod.Get, $"{V3}/sync?since={NextBatch(initial)}&full_state=true", alice.AccessToken);
        Assert.Equal(200, status);
        Assert.Single(GlobalAccountData(full), e => e.GetProperty("type").GetString() == "m.push_rules");

        // The account data filter applies.
        var filtered = await SyncAsync(server, alice, filter: """{"account_data": {"not_types": ["m.push_rules"]}}""");
        Assert.DoesNotContain(GlobalAccountData(filtered), e => e.GetProperty("type").GetString() == "m.push_rules");
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Sync_RuleChanged_WakesTheOwnersLongPollWithTheNewRules(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");
        string aliceSince = NextBatch(await SyncAsync(server, alice));
        string bobSince = NextBatch(await SyncAsync(server, bob));

        var waiting = SyncAsync(server, alice, aliceSince, timeout: 60_000);
        var bobWaiting = SyncAsync(server, bob, bobSince, timeout: 1_000);
        await Task.Delay(200);
        Assert.False(waiting.IsCompleted, "nothing new: the sync must wait");
        AssertOk(await server.SendAsync(HttpMethod.Put, Rules + "/global/content/cake", alice.AccessToken,
            new { pattern = "cake", actions = new[] { "notify" } }));

        var woken = await waiting;
        var content = PushRules(woken).GetProperty("content").GetProperty("global").GetProperty("content");
        Assert.Equal(["cake", ".m.rule.contains_user_name"], content.EnumerateArray().Select(r => r.GetProperty("rule_id").GetString()));
        Assert.Empty(GlobalAccountData(await bobWaiting));

        // Changing a default rule's enabled state is a change too; then nothing more.
        var next = SyncAsync(server, alice, NextBatch(woken), timeout: 60_000);
        await Task.Delay(200);
        AssertOk(await server.SendAsync(HttpMethod.Put, Rules + "/global/override/.m.rule.master/enabled", alice.AccessToken, new { enabled = true }));
        var second = await next;
        Assert.True(PushRules(second).GetProperty("content").GetProperty("global").GetProperty("override")[0].GetProperty("enabled").GetBoolean());
        Assert.Empty(GlobalAccountData(await SyncAsync(server, alice, NextBatch(second))));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Sync_AfterRestart_PushRulesStreamResumesWithoutRepeats(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        AssertOk(await server.SendAsync(HttpMethod.Put, Rules + "/global/override/one", alice.AccessToken, new { actions = new[] { "notify" } }));
        string since = NextBatch(await SyncAsync(server, alice));

        await server.RestartAsync();
        Assert.Empty(GlobalAccountData(await SyncAsync(server, alice, since)));
        AssertOk(await server.SendAsync(HttpMethod.Delete, Rules + "/global/override/one", alice.AccessToken));

        var sync = await SyncAsync(server, alice, since);
        var overrides = PushRules(sync).GetProperty("content").GetProperty("global").GetProperty("override");
        Assert.DoesNotContain(overrides.EnumerateArray(), r => r.GetProperty("rule_id").GetString() == "one");
    }

    private static JsonElement PushRules(JsonElement sync) =>
        Assert.Single(GlobalAccountData(sync), e => e.GetProperty("type").GetString() == "m.push_rules");
}
