using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Synapse.Accounts;
using Synapse.Configuration;
using Synapse.E2e;
using Synapse.Identifiers;
using Synapse.Storage;
using Synapse.Tests.Infrastructure;

namespace Synapse.Tests.E2e;

/// <summary>
/// The seams of <see cref="KeyQueryService"/>: <see cref="IKeyQueryContributor"/> (cross-signing keys and signatures) and
/// <see cref="IE2eKeyFederationClient"/> (remote servers), with stand-ins for both.
/// </summary>
public sealed class KeyQueryExtensionTests
{
    private sealed class CrossSigningStandIn : IKeyQueryContributor
    {
        public List<KeyQueryContext> Seen { get; } = [];

        public Task ContributeAsync(KeyQueryContext context, KeyQueryResponse response, CancellationToken cancellationToken)
        {
            Seen.Add(context);
            foreach (var userId in context.LocalUsers.Keys)
            {
                response.SetMasterKey(userId.Value, new JsonObject { ["user_id"] = userId.Value, ["usage"] = new JsonArray("master") });
                foreach (var (deviceId, _) in response.DeviceKeys[userId.Value]!.AsObject())
                {
                    response.AddDeviceSignature(userId.Value, deviceId, userId.Value, "ed25519:selfsigning", "cross-signature");
                }
            }

            response.AddDeviceSignature("@nobody:test.local", "NONE", "@x:test.local", "ed25519:k", "ignored");
            return Task.CompletedTask;
        }
    }

    private sealed class RemoteStandIn : IE2eKeyFederationClient
    {
        public Task<RemoteKeysResult> QueryKeysAsync(string server, JsonObject deviceKeys, TimeSpan timeout, CancellationToken cancellationToken) =>
            server switch
            {
                // Answers for its own user, and tries to slip in keys for a user of another server and one it was not asked about.
                "good.example" => Task.FromResult(RemoteKeysResult.Success(new JsonObject
                {
                    ["device_keys"] = new JsonObject
                    {
                        ["@carol:good.example"] = new JsonObject { ["CDEV"] = new JsonObject { ["device_id"] = "CDEV" } },
                        ["@zed:good.example"] = new JsonObject { ["ZDEV"] = new JsonObject() },
                        ["@alice:test.local"] = new JsonObject { ["EVIL"] = new JsonObject() },
                    },
                    ["master_keys"] = new JsonObject { ["@carol:good.example"] = new JsonObject { ["usage"] = new JsonArray("master") } },
                })),
                "slow.example" => NeverAsync(cancellationToken),
                _ => throw new HttpRequestException("connection refused"),
            };

        private static async Task<RemoteKeysResult> NeverAsync(CancellationToken cancellationToken)
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
            return RemoteKeysResult.Failed(500, "never");
        }

        public Task<RemoteKeysResult> ClaimKeysAsync(string server, JsonObject oneTimeKeys, TimeSpan timeout, CancellationToken cancellationToken) =>
            throw new NotSupportedException();
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Query_ContributorAndRemoteServers_MergedIntoResponse(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");
        await E2eKeysKit.UploadAsync(server, alice, new { device_keys = E2eKeysKit.DeviceKeys(alice) });

        var contributor = new CrossSigningStandIn();
        var service = new KeyQueryService(server.Services.GetRequiredService<HomeserverOptions>(),
            server.Services.GetRequiredService<IE2eKeyStore>(), new RemoteStandIn(), [contributor]);
        var requester = new Requester(UserId.Parse(bob.UserId), DeviceId.Parse(bob.DeviceId), 0, false);
        var body = JsonSerializer.SerializeToElement(new
        {
            timeout = 300,
            device_keys = new Dictionary<string, string[]>
            {
                [alice.UserId] = [], ["@carol:good.example"] = ["CDEV"], ["@dan:slow.example"] = [], ["@erin:down.example"] = [],
            },
        });

        var response = await service.QueryAsync(requester, body, default);

        // The contributor saw the local users only, and its keys and signatures are in.
        var context = Assert.Single(contributor.Seen);
        Assert.Equal([alice.UserId], context.LocalUsers.Keys.Select(u => u.Value));
        Assert.Equal(bob.UserId, context.Requester.UserId.Value);
        var device = response["device_keys"]![alice.UserId]![alice.DeviceId]!;
        Assert.Equal("cross-signature", (string?)device["signatures"]![alice.UserId]!["ed25519:selfsigning"]);
        Assert.Equal("sigAAAA", (string?)device["signatures"]![alice.UserId]!["ed25519:" + alice.DeviceId]);
        Assert.NotNull(response["master_keys"]![alice.UserId]);
        Assert.Null(response["device_keys"]!["@nobody:test.local"]);

        // Remote answers count only for the users asked of that server; the others are failures.
        Assert.Equal(["CDEV"], response["device_keys"]!["@carol:good.example"]!.AsObject().Select(d => d.Key));
        Assert.Null(response["device_keys"]!["@zed:good.example"]);
        Assert.Null(response["device_keys"]![alice.UserId]!["EVIL"]);
        Assert.NotNull(response["master_keys"]!["@carol:good.example"]);
        var failures = response["failures"]!.AsObject();
        Assert.Equal(["down.example", "slow.example"], failures.Select(f => f.Key).Order(StringComparer.Ordinal));
        Assert.Equal(504, (int)failures["slow.example"]!["status"]!);
        Assert.Equal(503, (int)failures["down.example"]!["status"]!);
    }
}
