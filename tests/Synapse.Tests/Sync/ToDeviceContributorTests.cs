using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Synapse.Accounts;
using Synapse.Configuration;
using Synapse.Identifiers;
using Synapse.Streams;
using Synapse.Sync;
using Synapse.Tests.Infrastructure;

namespace Synapse.Tests.Sync;

/// <summary>PUT /sendToDevice over HTTP, and the to-device contributor driven directly with built sync contexts.</summary>
public sealed class ToDeviceContributorTests
{
    private const string V3 = "/_matrix/client/v3";

    internal static Requester RequesterOf(Session session) =>
        new(UserId.Parse(session.UserId), DeviceId.Parse(session.DeviceId), 0, false);

    internal static SyncContext Context(Requester requester, SyncToken? since, SyncToken now) => new()
    {
        Requester = requester,
        Since = since,
        Now = now,
        FullState = false,
        Filter = SyncFilter.Default,
        JoinedRoomIds = [],
    };

    internal static SyncToken Current(TestHomeserver server) => server.Services.GetRequiredService<StreamRegistry>().CurrentToken();

    /// <summary>The token a response built into <paramref name="response"/> would name as next_batch.</summary>
    internal static SyncToken NextBatch(SyncToken now, SyncResponseBuilder response) =>
        new([.. StreamRegistry.TokenStreams.Select(s => response.PositionCaps.TryGetValue(s, out long cap) ? Math.Min(cap, now[s]) : now[s])]);

    private static async Task<(SyncResponseBuilder Response, List<JsonNode> Events, SyncToken Next)> ContributeAsync(
        TestHomeserver server, Session who, SyncToken? since)
    {
        var contributor = server.Services.GetServices<ISyncContributor>().OfType<ToDeviceContributor>().Single();
        var now = Current(server);
        var response = new SyncResponseBuilder();
        await contributor.ContributeAsync(Context(RequesterOf(who), since, now), response, default);
        var events = response.Build(now.ToString())["to_device"]!["events"]!.AsArray().Select(e => e!).ToList();
        return (response, events, NextBatch(now, response));
    }

    private static async Task SendToDeviceAsync(TestHomeserver server, Session from, object messages, string? txn = null,
        string type = "m.test")
    {
        var (status, body) = await server.SendAsync(HttpMethod.Put, $"{V3}/sendToDevice/{type}/{txn ?? Guid.NewGuid().ToString("N")}",
            from.AccessToken, new { messages });
        Assert.True(status == 200, $"sendToDevice: {status} {body}");
        Assert.Equal(JsonValueKind.Object, body.ValueKind);
    }

    private static Dictionary<string, object> To(Session who, string device, object content) =>
        new() { [who.UserId] = new Dictionary<string, object> { [device] = content } };

    private static IEnumerable<string?> Bodies(IEnumerable<JsonNode> events) => events.Select(e => (string?)e["content"]!["n"]);

    [Theory, ClassData(typeof(Engines))]
    public async Task Delivery_RetriedSince_SameMessagesThenAcknowledgedAndGone(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");
        var t0 = Current(server);
        await SendToDeviceAsync(server, alice, To(bob, bob.DeviceId, new { n = "1" }));
        await SendToDeviceAsync(server, alice, To(bob, bob.DeviceId, new { n = "2" }));

        var first = await ContributeAsync(server, bob, t0);
        Assert.Equal(["1", "2"], Bodies(first.Events));
        var message = first.Events[0]!;
        Assert.Equal(alice.UserId, (string?)message["sender"]);
        Assert.Equal("m.test", (string?)message["type"]);
        Assert.Empty(first.Response.PositionCaps);

        // The response was lost: the client retries with the same since and gets the same messages, not fewer or more.
        var retry = await ContributeAsync(server, bob, t0);
        Assert.Equal(["1", "2"], Bodies(retry.Events));

        // The next since proves delivery: the messages are deleted, and even an old token no longer brings them back.
        Assert.Empty((await ContributeAsync(server, bob, first.Next)).Events);
        Assert.Empty((await ContributeAsync(server, bob, t0)).Events);
        Assert.Empty((await ContributeAsync(server, bob, null)).Events);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Delivery_InitialSync_GetsEverythingPendingAndDeletesNothing(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");
        await SendToDeviceAsync(server, alice, To(bob, bob.DeviceId, new { n = "1" }));

        var initial = await ContributeAsync(server, bob, null);
        Assert.Equal(["1"], Bodies(initial.Events));
        Assert.Equal(["1"], Bodies((await ContributeAsync(server, bob, null)).Events));
        Assert.Empty((await ContributeAsync(server, bob, initial.Next)).Events);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Delivery_MoreThanOnePage_CapsPositionAndDeliversTheRestNext(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");
        var toDevice = server.Services.GetRequiredService<ToDeviceService>();
        var t0 = Current(server);
        for (int i = 0; i < 150; i++)
        {
            using var body = JsonDocument.Parse(JsonSerializer.Serialize(new { messages = To(bob, bob.DeviceId, new { n = i.ToString(System.Globalization.CultureInfo.InvariantCulture) }) }));
            await toDevice.SendAsync(RequesterOf(alice), "m.test", "t" + i, body.RootElement, default);
        }

        var first = await ContributeAsync(server, bob, t0);
        Assert.Equal(ToDeviceContributor.Limit, first.Events.Count);
        Assert.Equal(Enumerable.Range(0, 100).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)), Bodies(first.Events));
        Assert.True(first.Response.PositionCaps.TryGetValue(StreamNames.ToDevice, out long cap));
        Assert.True(cap < Current(server)[StreamNames.ToDevice]);
        Assert.Equal(cap, first.Next[StreamNames.ToDevice]);

        var second = await ContributeAsync(server, bob, first.Next);
        Assert.Equal(Enumerable.Range(100, 50).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)), Bodies(second.Events));
        Assert.Empty(second.Response.PositionCaps);
        Assert.Empty((await ContributeAsync(server, bob, second.Next)).Events);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Send_StarToEveryDevice_NamedDeviceGetsItsOwnMessage(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var bobPhone = await server.RegisterAsync("bob", deviceId: "PHONE");
        var bobLaptop = await LoginAsync(server, "bob", "LAPTOP");
        var bobTablet = await LoginAsync(server, "bob", "TABLET");

        await SendToDeviceAsync(server, alice, new Dictionary<string, object>
        {
            [bobPhone.UserId] = new Dictionary<string, object> { ["*"] = new { n = "all" }, ["TABLET"] = new { n = "tablet" } },
            ["@nobody:test.local"] = new Dictionary<string, object> { ["*"] = new { n = "lost" } },
            ["@someone:remote.example"] = new Dictionary<string, object> { ["DEV"] = new { n = "remote" } },
        });

        Assert.Equal(["all"], Bodies((await ContributeAsync(server, bobPhone, null)).Events));
        Assert.Equal(["all"], Bodies((await ContributeAsync(server, bobLaptop, null)).Events));
        Assert.Equal(["tablet"], Bodies((await ContributeAsync(server, bobTablet, null)).Events));
        Assert.Empty((await ContributeAsync(server, alice, null)).Events);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Send_SameTransactionIdTwice_DeliversOnce(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");

        await SendToDeviceAsync(server, alice, To(bob, bob.DeviceId, new { n = "once" }), txn: "same");
        await SendToDeviceAsync(server, alice, To(bob, bob.DeviceId, new { n = "once" }), txn: "same");
        // The transaction ID belongs to the sending device: another device of alice may use it.
        var aliceLaptop = await LoginAsync(server, "alice", "LAPTOP");
        await SendToDeviceAsync(server, aliceLaptop, To(bob, bob.DeviceId, new { n = "other device" }), txn: "same");

        Assert.Equal(["once", "other device"], Bodies((await ContributeAsync(server, bob, null)).Events));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task DeleteDevice_PendingMessages_AreGoneForAReusedDeviceId(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob", deviceId: "PHONE");
        await SendToDeviceAsync(server, alice, To(bob, "PHONE", new { n = "pending" }));

        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"{V3}/logout", bob.AccessToken, new { })).Status);
        var again = await LoginAsync(server, "bob", "PHONE");

        Assert.Empty((await ContributeAsync(server, again, null)).Events);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Send_BadInput_AnswersTheSpecErrors(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        string path = $"{V3}/sendToDevice/m.test/t1";

        async Task ExpectAsync(object? body, int status, string errcode, string? token = null)
        {
            var (actualStatus, response) = await server.SendAsync(HttpMethod.Put, path, token ?? alice.AccessToken, body);
            Assert.True(actualStatus == status, $"{body}: {actualStatus} {response}");
            Assert.Equal(errcode, response.GetProperty("errcode").GetString());
        }

        await ExpectAsync(new { }, 400, "M_MISSING_PARAM");
        await ExpectAsync(new { messages = (object?)null }, 400, "M_MISSING_PARAM");
        await ExpectAsync(new { messages = new[] { 1 } }, 400, "M_BAD_JSON");
        await ExpectAsync(new { messages = new Dictionary<string, object> { [alice.UserId] = "x" } }, 400, "M_BAD_JSON");
        await ExpectAsync(new { messages = To(alice, "DEV", "not an object") }, 400, "M_BAD_JSON");
        await ExpectAsync(new { messages = new Dictionary<string, object> { ["not-a-user"] = new { } } }, 400, "M_INVALID_PARAM");
        await ExpectAsync("{not json", 400, "M_NOT_JSON");
        await ExpectAsync("[]", 400, "M_BAD_JSON");
        await ExpectAsync(new { messages = To(alice, "DEV", new { big = new string('x', ToDeviceService.MaxMessageBytes) }) }, 413, "M_TOO_LARGE");
        // A too-large message is refused for remote users too, although it would be dropped.
        await ExpectAsync(new { messages = new Dictionary<string, object>
        {
            ["@x:remote.example"] = new Dictionary<string, object> { ["D"] = new { big = new string('x', ToDeviceService.MaxMessageBytes) } },
        } }, 413, "M_TOO_LARGE");
        await ExpectAsync(new { messages = new { } }, 401, "M_UNKNOWN_TOKEN", token: "nonsense");

        var (noToken, missing) = await server.SendAsync(HttpMethod.Put, path, null, new { messages = new { } });
        Assert.Equal(401, noToken);
        Assert.Equal("M_MISSING_TOKEN", missing.GetProperty("errcode").GetString());

        // Nothing to deliver is still a success.
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Put, path, alice.AccessToken, new { messages = new { } })).Status);
    }

    internal static async Task<Session> LoginAsync(TestHomeserver server, string user, string deviceId)
    {
        var (status, body) = await server.SendAsync(HttpMethod.Post, $"{V3}/login", null, new
        {
            type = "m.login.password",
            identifier = new { type = "m.id.user", user },
            password = "correct horse battery",
            device_id = deviceId,
        });
        Assert.True(status == 200, $"login: {status} {body}");
        return new Session(body.GetProperty("user_id").GetString()!, body.GetProperty("access_token").GetString()!,
            body.GetProperty("device_id").GetString()!);
    }
}
