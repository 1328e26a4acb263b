using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Synapse.Accounts;
using Synapse.Configuration;
using Synapse.Http;
using Synapse.Identifiers;
using Synapse.Replication;
using Synapse.Replication.Http;
using Synapse.Replication.Tcp;
using Synapse.Rooms;
using Synapse.Storage;
using Synapse.Streams;
using Synapse.Tests.Infrastructure;

namespace Synapse.Tests.Replication;

/// <summary>
/// HTTP replication between a real main process (Kestrel, TCP replication listener, database) and a worker's
/// replication clients in this process, over loopback.
/// </summary>
public sealed class HttpReplicationTests
{
    private const string V3 = "/_matrix/client/v3";
    private const string Secret = ReplicationMain.Secret;

    [Theory, ClassData(typeof(Engines))]
    public async Task SendEvent_FromWorker_IsOnMainAndInTheWorkersStreamWhenTheCallReturns(DatabaseEngine engine)
    {
        await using var main = await StartMainAsync(engine);
        var alice = await main.RegisterAsync("alice");
        string roomId = await CreateRoomAsync(main, alice);
        await using var worker = await ReplicationWorker.StartAsync(main);

        var writer = new RemoteRoomEventWriter(worker.Http);
        var draft = new EventDraft(roomId, "m.room.message", null, alice.UserId, new JsonObject { ["body"] = "via a worker", ["msgtype"] = "m.text" })
        {
            Transaction = new TransactionKey(alice.UserId, alice.DeviceId, "client-txn-1"),
        };
        var written = await writer.WriteAsync([draft], CancellationToken.None);

        // Read-after-write: no waiting here; the worker's stream already has the event when the call returns.
        var stored = await main.Services.GetRequiredService<IEventStore>().GetEventsAsync([written[0].EventId], CancellationToken.None);
        Assert.True(worker.Streams[StreamNames.Events].Current >= stored[0].StreamOrdering);
        Assert.Contains(worker.Applied(StreamNames.Events), row => row.Data["event_id"]?.GetValue<string>() == written[0].EventId);
        Assert.Equal("via a worker", written[0].Content.GetProperty("body").GetString());

        // The client transaction travels along: a retry of the client's send is answered with the same event.
        var again = await writer.WriteAsync([draft], CancellationToken.None);
        Assert.Equal(written[0].EventId, again[0].EventId);
        Assert.Equal(1, await CountMessagesAsync(main, alice, roomId, "via a worker"));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task SendEvent_RetriedWithTheSameTxnAfterMainRestarted_WritesTheEventOnce(DatabaseEngine engine)
    {
        await using var main = await StartMainAsync(engine);
        var alice = await main.RegisterAsync("alice");
        string roomId = await CreateRoomAsync(main, alice);
        var drafts = TopicDraft(roomId, alice.UserId, "once");

        var (status, first) = await ReplicationPostAsync(main, "send_event/txn-A", drafts, Secret);
        Assert.Equal(200, status);
        string eventId = first.GetProperty("events")[0].GetProperty("event_id").GetString()!;
        Assert.True(first.GetProperty(ReplicationJson.PositionsKey).GetProperty(StreamNames.Events).GetInt64() > 0);

        // The answer was lost and main restarted: the worker retries with the same transaction ID.
        await main.RestartAsync();
        var (retryStatus, retry) = await ReplicationPostAsync(main, "send_event/txn-A", drafts, Secret);
        Assert.Equal(200, retryStatus);
        Assert.Equal(eventId, retry.GetProperty("events")[0].GetProperty("event_id").GetString());

        // Another transaction is another write (so the check above can fail).
        var (_, other) = await ReplicationPostAsync(main, "send_event/txn-B", drafts, Secret);
        Assert.NotEqual(eventId, other.GetProperty("events")[0].GetProperty("event_id").GetString());
        Assert.Equal(2, await CountTopicChangesAsync(main, alice, roomId));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Endpoints_WithoutOrWithAWrongSecret_AreRefusedWith401Or403AndWriteNothing(DatabaseEngine engine)
    {
        await using var main = await StartMainAsync(engine);
        var alice = await main.RegisterAsync("alice");
        string roomId = await CreateRoomAsync(main, alice);
        var drafts = TopicDraft(roomId, alice.UserId, "forged");

        var (missing, missingBody) = await ReplicationPostAsync(main, "send_event/t1", drafts, secret: null);
        Assert.Equal(401, missing);
        Assert.Equal("M_MISSING_TOKEN", missingBody.GetProperty("errcode").GetString());
        var (wrong, wrongBody) = await ReplicationPostAsync(main, "send_event/t2", drafts, "not-the-secret");
        Assert.Equal(403, wrong);
        Assert.Equal("M_FORBIDDEN", wrongBody.GetProperty("errcode").GetString());
        var (prefix, _) = await ReplicationPostAsync(main, "send_event/t3", drafts, Secret + "-and-more");
        Assert.Equal(403, prefix);
        var (get, _) = await main.SendAsync(HttpMethod.Get, $"{ReplicationHttpEndpoints.Prefix}/get_repl_stream_updates/typing?from_token=0&upto_token=1");
        Assert.Equal(401, get);

        Assert.Equal(0, await CountTopicChangesAsync(main, alice, roomId));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Endpoints_BadInput_AnswerTheMatrixErrorAndWriteNothing(DatabaseEngine engine)
    {
        await using var main = await StartMainAsync(engine);
        var alice = await main.RegisterAsync("alice");
        string roomId = await CreateRoomAsync(main, alice);
        string other = await CreateRoomAsync(main, alice);

        Assert.Equal((400, "M_NOT_JSON"), await RawPostAsync(main, "send_event/b1", "{not json"));
        Assert.Equal((400, "M_MISSING_PARAM"), await RawPostAsync(main, "send_event/b2", "{}"));
        Assert.Equal((400, "M_MISSING_PARAM"), await RawPostAsync(main, "send_event/b3", """{"drafts":[]}"""));
        Assert.Equal((400, "M_BAD_JSON"), await RawPostAsync(main, "send_event/b4",
            $$"""{"drafts":[{"room_id":"{{roomId}}","type":"m.room.topic","state_key":"","sender":"{{alice.UserId}}"}]}"""));
        Assert.Equal((400, "M_MISSING_PARAM"), await RawPostAsync(main, "send_event/b5",
            $$$"""{"drafts":[{"type":"m.room.topic","state_key":"","sender":"{{{alice.UserId}}}","content":{}}]}"""));
        var twoRooms = TopicDraft(roomId, alice.UserId, "split");
        twoRooms["drafts"]!.AsArray().Add(TopicDraft(other, alice.UserId, "split")["drafts"]![0]!.DeepClone());
        Assert.Equal((400, "M_INVALID_PARAM"), await RawPostAsync(main, "send_event/b6", twoRooms.ToJsonString()));
        Assert.Equal((400, "M_UNSUPPORTED_ROOM_VERSION"), await RawPostAsync(main, "send_event/b7",
            $$$"""{"drafts":[{"room_id":"!new:test.local","type":"m.room.create","state_key":"","sender":"{{{alice.UserId}}}","content":{},"new_room_version":"999"}]}"""));

        // A room main does not know, and a body over the JSON limit.
        Assert.Equal((404, "M_NOT_FOUND"), await RawPostAsync(main, "send_event/b8", TopicDraft("!nowhere:test.local", alice.UserId, "x").ToJsonString()));
        var huge = TopicDraft(roomId, alice.UserId, new string('x', 11 * 1024 * 1024));
        Assert.Equal((413, "M_TOO_LARGE"), await RawPostAsync(main, "send_event/b9", huge.ToJsonString()));

        // Forwarded writes need the requester and the client's body, and a valid user ID.
        Assert.Equal((400, "M_MISSING_PARAM"), await RawPostAsync(main, $"typing/{Uri.EscapeDataString(roomId)}/{Uri.EscapeDataString(alice.UserId)}/b10",
            """{"body":{"typing":true}}"""));
        Assert.Equal((400, "M_MISSING_PARAM"), await RawPostAsync(main, $"typing/{Uri.EscapeDataString(roomId)}/{Uri.EscapeDataString(alice.UserId)}/b11",
            $$$"""{"requester":{"user_id":"{{{alice.UserId}}}","device_id":"D"}}"""));
        Assert.Equal((400, "M_INVALID_PARAM"), await RawPostAsync(main, $"typing/{Uri.EscapeDataString(roomId)}/{Uri.EscapeDataString(alice.UserId)}/b12",
            """{"requester":{"user_id":"not a user","device_id":"D"},"body":{"typing":true}}"""));

        Assert.Equal(0, await CountTopicChangesAsync(main, alice, roomId));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Endpoints_OnAListenerWithoutTheReplicationResource_AreUnrecognized(DatabaseEngine engine)
    {
        await using var main = await TestHomeserver.StartAsync(engine, o => WithReplication(o, httpResources: ["client"]));
        var (status, body) = await ReplicationPostAsync(main, "send_event/t1", new JsonObject { ["drafts"] = new JsonArray() }, Secret);
        Assert.Equal(404, status);
        Assert.Equal("M_UNRECOGNIZED", body.GetProperty("errcode").GetString());
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task SendEvent_RefusedByMain_ComesBackAsTheSameMatrixErrorWithoutRetry(DatabaseEngine engine)
    {
        await using var main = await StartMainAsync(engine);
        var alice = await main.RegisterAsync("alice");
        var mallory = await main.RegisterAsync("mallory");
        string roomId = await CreateRoomAsync(main, alice);
        await using var worker = await ReplicationWorker.StartAsync(main);

        var writer = new RemoteRoomEventWriter(worker.Http);
        var draft = new EventDraft(roomId, "m.room.message", null, mallory.UserId, new JsonObject { ["body"] = "not a member" });
        var error = await Assert.ThrowsAsync<MatrixException>(() => writer.WriteAsync([draft], CancellationToken.None));

        Assert.Equal(HttpStatusCode.Forbidden, error.Status);
        Assert.Equal("M_FORBIDDEN", error.ErrorCode);
        Assert.Equal(0, await CountMessagesAsync(main, alice, roomId, "not a member"));
    }

    /// <summary>
    /// §5.8 (matrix-org/synapse#3365): main's answer comes after the worker's attempt timed out, while main did persist.
    /// The worker retries with the same transaction, and the end user retries with the same client txn: one event.
    /// </summary>
    [Theory, ClassData(typeof(Engines))]
    public async Task SendEvent_AnswerLaterThanTheAttemptTimeout_RetriesAndClientRetry_WriteOneEvent(DatabaseEngine engine)
    {
        await using var main = await StartMainAsync(engine);
        var alice = await main.RegisterAsync("alice");
        string roomId = await CreateRoomAsync(main, alice);
        using var late = new LateFirstAnswer(TimeSpan.FromSeconds(30));
        using var http = new HttpClient(late);
        var client = new ReplicationHttpClient(http, new ReplicationHttpClientOptions
        {
            MainUri = main.BaseAddress, Secret = Secret, AttemptTimeout = TimeSpan.FromSeconds(1),
            FirstRetryDelay = TimeSpan.FromMilliseconds(10),
        }, null, NullLogger<ReplicationHttpClient>.Instance);
        var writer = new RemoteRoomEventWriter(client);
        var draft = new EventDraft(roomId, "m.room.message", null, alice.UserId, new JsonObject { ["body"] = "slow", ["msgtype"] = "m.text" });

        // No client transaction: only the replication transaction protects this one.
        var first = await writer.WriteAsync([draft], CancellationToken.None);
        Assert.Equal(2, late.Calls);
        Assert.Equal(1, await CountMessagesAsync(main, alice, roomId, "slow"));

        // With a client transaction, the client's own retry (a new replication call) is answered with the same event.
        var withTxn = draft with { Content = new JsonObject { ["body"] = "slow txn", ["msgtype"] = "m.text" },
            Transaction = new TransactionKey(alice.UserId, alice.DeviceId, "client-1") };
        var once = await writer.WriteAsync([withTxn], CancellationToken.None);
        var twice = await writer.WriteAsync([withTxn], CancellationToken.None);
        Assert.Equal(once[0].EventId, twice[0].EventId);
        Assert.NotEqual(first[0].EventId, once[0].EventId);
        Assert.Equal(1, await CountMessagesAsync(main, alice, roomId, "slow txn"));
    }

    /// <summary>§5.9 (matrix-org/synapse#12178): main restarts during a send; the call succeeds within its retry bound.</summary>
    [Theory, ClassData(typeof(Engines))]
    public async Task SendEvent_DuringARestartOfMain_SucceedsOnceMainIsBack(DatabaseEngine engine)
    {
        int port = FreePort();
        await using var main = await TestHomeserver.StartAsync(engine, o => WithReplication(o, ["client", "replication"], port));
        var alice = await main.RegisterAsync("alice");
        string roomId = await CreateRoomAsync(main, alice);
        using var http = new HttpClient();
        var client = new ReplicationHttpClient(http, new ReplicationHttpClientOptions
        {
            MainUri = main.BaseAddress, Secret = Secret, MaxAttempts = 12,
            FirstRetryDelay = TimeSpan.FromMilliseconds(50), MaxRetryDelay = TimeSpan.FromSeconds(2),
        }, null, NullLogger<ReplicationHttpClient>.Instance);
        var writer = new RemoteRoomEventWriter(client);

        var restart = main.RestartAsync();
        var draft = new EventDraft(roomId, "m.room.message", null, alice.UserId, new JsonObject { ["body"] = "across a restart", ["msgtype"] = "m.text" });
        var written = await writer.WriteAsync([draft], CancellationToken.None);
        await restart;

        Assert.StartsWith("$", written[0].EventId, StringComparison.Ordinal);
        Assert.Equal(1, await CountMessagesAsync(main, alice, roomId, "across a restart"));
    }

    /// <summary>
    /// USER_SYNC drives presence on main; a restart of main loses nothing because the worker announces its syncing users
    /// again on reconnect (§5.18); a worker that goes away ends its users' syncs instead of leaving them online.
    /// </summary>
    [Theory, ClassData(typeof(Engines))]
    public async Task UserSync_FromAWorker_SurvivesAMainRestart_AndEndsWhenTheWorkerGoesAway(DatabaseEngine engine)
    {
        int replicationPort = FreePort();
        await using var main = await TestHomeserver.StartAsync(engine, o => WithReplication(o, ["client", "replication"], httpPort: FreePort(), replicationPort: replicationPort));
        var alice = await main.RegisterAsync("alice");
        var worker = await ReplicationWorker.StartAsync(main);
        try
        {
            worker.Stream.SetUserSyncing(alice.UserId, alice.DeviceId, syncing: true);
            await Eventually.TrueAsync(() => SyncingOnMain(main).Contains(alice.UserId), "main saw alice syncing");
            var (_, presence) = await main.SendAsync(HttpMethod.Get, $"{V3}/presence/{Uri.EscapeDataString(alice.UserId)}/status", alice.AccessToken);
            Assert.Equal("online", presence.GetProperty("presence").GetString());

            await main.RestartAsync();
            await Eventually.TrueAsync(() => SyncingOnMain(main).Contains(alice.UserId), "the worker announced alice again after main restarted");

            // USER_IP lands in the device's last-seen fields.
            // Send refuses while the worker is still catching up after the restart; USER_IP is advisory, sent again.
            var userIp = new Synapse.Replication.Protocol.UserIpCommand(alice.UserId, "token", "10.1.2.3", "worker-agent", alice.DeviceId, 0);
            await Eventually.TrueAsync(() => worker.Stream.Send(userIp), "the worker is connected again");
            await Eventually.TrueAsync(() => LastSeenIpAsync(main, alice).GetAwaiter().GetResult() == "10.1.2.3", "main recorded the worker's USER_IP");
        }
        finally
        {
            await worker.DisposeAsync();
        }

        await Eventually.TrueAsync(() => SyncingOnMain(main).Count == 0, "main ended the syncs of the worker that went away");
    }

    [Fact]
    public async Task Client_MainDropsConnections_RetriesWithTheSameTxnAndBackOff_ThenGetsTheAnswer()
    {
        await using var fake = FlakyMain.Start(failFirst: 2);
        var client = NewClient(fake.Uri, maxAttempts: 5);

        var typingBody = JsonDocument.Parse("""{"typing":true}""").RootElement;
        await client.SetTypingAsync(Alice, "!r:test.local", "@alice:test.local", typingBody, CancellationToken.None);

        Assert.Equal(3, fake.Requests.Count);
        Assert.Single(fake.Requests.Distinct());
        Assert.StartsWith("POST /_synapse/replication/typing/%21r%3Atest.local/%40alice%3Atest.local/", fake.Requests.First(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Client_MainUnreachable_GivesUpAfterTheBoundWith502()
    {
        await using var fake = FlakyMain.Start(failFirst: int.MaxValue);
        var client = NewClient(fake.Uri, maxAttempts: 3);

        var typingBody = JsonDocument.Parse("""{"typing":true}""").RootElement;
        var error = await Assert.ThrowsAsync<MatrixException>(
            () => client.SetTypingAsync(Alice, "!r:test.local", "@alice:test.local", typingBody, CancellationToken.None));

        Assert.Equal(HttpStatusCode.BadGateway, error.Status);
        Assert.Equal(3, fake.Requests.Count);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Typing_ForwardedByAWorker_IsSetOnMainAndInTheWorkersStreamWhenTheCallReturns(DatabaseEngine engine)
    {
        await using var main = await StartMainAsync(engine);
        var alice = await main.RegisterAsync("alice");
        string roomId = await CreateRoomAsync(main, alice);
        await using var worker = await ReplicationWorker.StartAsync(main);

        var body = JsonDocument.Parse("""{"typing":true,"timeout":30000}""").RootElement;
        await worker.Http.SetTypingAsync(RequesterOf(alice), roomId, alice.UserId, body, CancellationToken.None);

        Assert.Contains(worker.Applied(StreamNames.Typing), row => row.Data.ToJsonString().Contains(alice.UserId, StringComparison.Ordinal));
        var typing = main.Services.GetRequiredService<Synapse.Sync.TypingService>();
        Assert.Contains(typing.GetTyping([roomId], 0, typing.CurrentPosition, full: true), room => room.UserIds.Contains(alice.UserId));

        // Main's checks run on main: typing in a room one is not in is refused as it would be on main.
        var bob = await main.RegisterAsync("bob");
        var refused = await Assert.ThrowsAsync<MatrixException>(
            () => worker.Http.SetTypingAsync(RequesterOf(bob), roomId, bob.UserId, body, CancellationToken.None));
        Assert.Equal(HttpStatusCode.Forbidden, refused.Status);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Typing_SetBeforeTheWorkerConnected_IsPulledFromMainsMemoryOverHttp(DatabaseEngine engine)
    {
        await using var main = await StartMainAsync(engine);
        var alice = await main.RegisterAsync("alice");
        string roomId = await CreateRoomAsync(main, alice);
        var (status, _) = await main.SendAsync(HttpMethod.Put, $"{V3}/rooms/{Uri.EscapeDataString(roomId)}/typing/{Uri.EscapeDataString(alice.UserId)}",
            alice.AccessToken, new { typing = true, timeout = 30000 });
        Assert.Equal(200, status);

        await using var worker = await ReplicationWorker.StartAsync(main);

        long mainTyping = main.Services.GetRequiredService<StreamRegistry>()[StreamNames.Typing].Current;
        await Eventually.TrueAsync(() => worker.Streams[StreamNames.Typing].Current == mainTyping, "the worker caught up on typing");
        Assert.Contains(worker.Applied(StreamNames.Typing), row => row.Data.ToJsonString().Contains(alice.UserId, StringComparison.Ordinal));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task ReceiptAndPresence_ForwardedByAWorker_AreOnMainAndInTheWorkersStreams(DatabaseEngine engine)
    {
        await using var main = await StartMainAsync(engine);
        var alice = await main.RegisterAsync("alice");
        string roomId = await CreateRoomAsync(main, alice);
        var (_, sent) = await main.SendAsync(HttpMethod.Put, $"{V3}/rooms/{Uri.EscapeDataString(roomId)}/send/m.room.message/t1",
            alice.AccessToken, new { msgtype = "m.text", body = "read me" });
        string eventId = sent.GetProperty("event_id").GetString()!;
        await using var worker = await ReplicationWorker.StartAsync(main);

        var empty = JsonDocument.Parse("{}").RootElement;
        await worker.Http.SendReceiptAsync(RequesterOf(alice), roomId, "m.read", eventId, empty, CancellationToken.None);
        Assert.Contains(worker.Applied(StreamNames.Receipts), row => row.Data.ToJsonString().Contains(eventId, StringComparison.Ordinal));

        var presence = JsonDocument.Parse("""{"presence":"unavailable","status_msg":"from a worker"}""").RootElement;
        await worker.Http.SetPresenceAsync(RequesterOf(alice), alice.UserId, presence, CancellationToken.None);
        Assert.Contains(worker.Applied(StreamNames.Presence), row => row.Data.ToJsonString().Contains("from a worker", StringComparison.Ordinal));
        var (_, status) = await main.SendAsync(HttpMethod.Get, $"{V3}/presence/{Uri.EscapeDataString(alice.UserId)}/status", alice.AccessToken);
        Assert.Equal("unavailable", status.GetProperty("presence").GetString());
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task GetReplStreamUpdates_UnknownStreamOrMissingTokens_Are400(DatabaseEngine engine)
    {
        await using var main = await StartMainAsync(engine);
        var (unknown, body) = await ReplicationGetAsync(main, "get_repl_stream_updates/no_such_stream?from_token=0&upto_token=1");
        Assert.Equal(400, unknown);
        Assert.Equal("M_INVALID_PARAM", body.GetProperty("errcode").GetString());
        var (missing, _) = await ReplicationGetAsync(main, "get_repl_stream_updates/typing?from_token=0");
        Assert.Equal(400, missing);
        var (ok, page) = await ReplicationGetAsync(main, "get_repl_stream_updates/typing?from_token=0&upto_token=0");
        Assert.Equal(200, ok);
        Assert.Equal(0, page.GetProperty("updates").GetArrayLength());
        Assert.False(page.GetProperty("limited").GetBoolean());
    }

    private static readonly Requester Alice = new(UserId.Parse("@alice:test.local"), DeviceId.Parse("D"), 0, false);

    private static Requester RequesterOf(Session session) =>
        new(UserId.Parse(session.UserId), DeviceId.Parse(session.DeviceId), 0, false);

    private static Task<TestHomeserver> StartMainAsync(DatabaseEngine engine) => ReplicationMain.StartAsync(engine);

    private static HomeserverOptions WithReplication(HomeserverOptions o, string[] httpResources, int httpPort = 0, int replicationPort = 0) =>
        ReplicationMain.Options(o, httpResources, httpPort, replicationPort);

    private static IReadOnlyCollection<string> SyncingOnMain(TestHomeserver main) =>
        main.Services.GetRequiredService<WorkerCommandHandler>().SyncingUsers.TryGetValue("worker1", out var users) ? users : [];

    /// <summary>Read from the store: a client request by the same device would record its own address over it.</summary>
    private static async Task<string?> LastSeenIpAsync(TestHomeserver main, Session session)
    {
        await main.Services.GetRequiredService<DeviceActivityRecorder>().FlushAsync(CancellationToken.None);
        var device = await main.Services.GetRequiredService<IAccountStore>()
            .GetDeviceAsync(UserId.Parse(session.UserId), DeviceId.Parse(session.DeviceId), CancellationToken.None);
        return device?.LastSeenIp;
    }

    /// <summary>A <c>send_event</c> body with one topic change.</summary>
    private static JsonObject TopicDraft(string roomId, string sender, string topic) => new()
    {
        ["drafts"] = new JsonArray(new JsonObject
        {
            ["room_id"] = roomId, ["type"] = "m.room.topic", ["state_key"] = "", ["sender"] = sender,
            ["content"] = new JsonObject { ["topic"] = topic },
        }),
    };

    private static int FreePort()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        return port;
    }

    private static ReplicationHttpClient NewClient(Uri main, int maxAttempts) => new(
        new HttpClient(),
        new ReplicationHttpClientOptions
        {
            MainUri = main, Secret = Secret, MaxAttempts = maxAttempts,
            FirstRetryDelay = TimeSpan.FromMilliseconds(10), MaxRetryDelay = TimeSpan.FromMilliseconds(40),
        },
        null, NullLogger<ReplicationHttpClient>.Instance);

    private static async Task<string> CreateRoomAsync(TestHomeserver main, Session creator)
    {
        var (status, created) = await main.SendAsync(HttpMethod.Post, $"{V3}/createRoom", creator.AccessToken, new { preset = "public_chat" });
        Assert.Equal(200, status);
        return created.GetProperty("room_id").GetString()!;
    }

    private static async Task<int> CountMessagesAsync(TestHomeserver main, Session reader, string roomId, string body)
    {
        var chunk = await TimelineAsync(main, reader, roomId);
        return chunk.Count(e => e.GetProperty("type").GetString() == "m.room.message"
            && e.GetProperty("content").TryGetProperty("body", out var b) && b.GetString() == body);
    }

    private static async Task<int> CountTopicChangesAsync(TestHomeserver main, Session reader, string roomId)
    {
        var chunk = await TimelineAsync(main, reader, roomId);
        return chunk.Count(e => e.GetProperty("type").GetString() == "m.room.topic");
    }

    private static async Task<List<JsonElement>> TimelineAsync(TestHomeserver main, Session reader, string roomId)
    {
        var (status, page) = await main.SendAsync(HttpMethod.Get, $"{V3}/rooms/{Uri.EscapeDataString(roomId)}/messages?dir=b&limit=100", reader.AccessToken);
        Assert.Equal(200, status);
        return [.. page.GetProperty("chunk").EnumerateArray()];
    }

    private static async Task<(int Status, JsonElement Body)> ReplicationPostAsync(TestHomeserver main, string path, JsonObject body, string? secret)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"{ReplicationHttpEndpoints.Prefix}/{path}")
        {
            Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"),
        };
        if (secret is not null)
        {
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", secret);
        }

        using var response = await main.Client.SendAsync(request);
        return ((int)response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    /// <summary>Posts raw text (possibly not JSON) with the secret; returns the status and the errcode.</summary>
    private static async Task<(int Status, string? ErrorCode)> RawPostAsync(TestHomeserver main, string path, string body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"{ReplicationHttpEndpoints.Prefix}/{path}")
        {
            Content = new StringContent(body, Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", Secret);
        using var response = await main.Client.SendAsync(request);
        var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        return ((int)response.StatusCode, json.TryGetProperty("errcode", out var code) ? code.GetString() : null);
    }

    private static async Task<(int Status, JsonElement Body)> ReplicationGetAsync(TestHomeserver main, string path)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"{ReplicationHttpEndpoints.Prefix}/{path}");
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", Secret);
        using var response = await main.Client.SendAsync(request);
        return ((int)response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    /// <summary>Passes requests to main for real, but holds main's first answer back (a slow persist or network).</summary>
    private sealed class LateFirstAnswer(TimeSpan delay) : DelegatingHandler(new SocketsHttpHandler())
    {
        private int _calls;

        public int Calls => Volatile.Read(ref _calls);

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = await base.SendAsync(request, cancellationToken);
            if (Interlocked.Increment(ref _calls) == 1)
            {
                response.Dispose();
                await Task.Delay(delay, cancellationToken);
            }

            return response;
        }
    }

    /// <summary>
    /// A main that drops the first connections it gets after reading their request (as a main that crashed while
    /// handling it would), then answers <c>{}</c>; it records each request line.
    /// </summary>
    private sealed class FlakyMain : IAsyncDisposable
    {
        private readonly TcpListener _listener;
        private readonly Task _serving;
        private readonly int _failFirst;

        private FlakyMain(TcpListener listener, int failFirst)
        {
            _listener = listener;
            _failFirst = failFirst;
            _serving = Task.Run(ServeAsync);
        }

        public ConcurrentQueue<string> Requests { get; } = new();

        public Uri Uri => new($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/");

        public static FlakyMain Start(int failFirst)
        {
            var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            return new FlakyMain(listener, failFirst);
        }

        private async Task ServeAsync()
        {
            try
            {
                while (true)
                {
                    using var client = await _listener.AcceptTcpClientAsync();
                    var stream = client.GetStream();
                    using var reader = new StreamReader(stream, Encoding.ASCII, leaveOpen: true);
                    string? line = await reader.ReadLineAsync();
                    if (line is null)
                    {
                        continue;
                    }

                    Requests.Enqueue(line);
                    if (Requests.Count <= _failFirst)
                    {
                        client.Client.LingerState = new LingerOption(true, 0);
                        continue;
                    }

                    // Read the rest of the request head and its body before answering.
                    int length = 0;
                    while (await reader.ReadLineAsync() is { Length: > 0 } header)
                    {
                        if (header.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
                        {
                            length = int.Parse(header[15..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
                        }
                    }

                    var body = new char[length];
                    await reader.ReadBlockAsync(body, 0, length);
                    await stream.WriteAsync("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"u8.ToArray());
                }
            }
            catch (Exception e) when (e is ObjectDisposedException or SocketException)
            {
            }
        }

        public async ValueTask DisposeAsync()
        {
            _listener.Stop();
            await _serving;
        }
    }
}
