using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Synapse.Configuration;
using Synapse.Streams;
using Synapse.Tests.Infrastructure;
using static Synapse.Tests.Sync.AccountDataAndReceiptsTestKit;

namespace Synapse.Tests.Sync;

/// <summary>Account data and tag endpoints over real HTTP, on each engine.</summary>
public sealed class AccountDataEndpointTests
{
    private static string Global(Session who, string type) => $"{V3}/user/{Uri.EscapeDataString(who.UserId)}/account_data/{type}";

    private static string PerRoom(Session who, string roomId, string type) =>
        $"{V3}/user/{Uri.EscapeDataString(who.UserId)}/rooms/{Uri.EscapeDataString(roomId)}/account_data/{type}";

    private static string Tags(Session who, string roomId, string? tag = null) =>
        $"{V3}/user/{Uri.EscapeDataString(who.UserId)}/rooms/{Uri.EscapeDataString(roomId)}/tags" + (tag is null ? "" : "/" + Uri.EscapeDataString(tag));

    [Theory, ClassData(typeof(Engines))]
    public async Task GlobalAccountData_PutThenGet_ReturnsContentOnBothPrefixes(DatabaseEngine engine)
    {
        var (server, alice, _, _) = await RoomAsync(engine, bobJoins: false);
        await using var _ = server;

        AssertError(404, "M_NOT_FOUND", await server.SendAsync(HttpMethod.Get, Global(alice, "org.example.config"), alice.AccessToken));
        AssertOk(await server.SendAsync(HttpMethod.Put, Global(alice, "org.example.config"), alice.AccessToken,
            new { theme = "dark", nested = new { n = 1 } }));

        var (status, body) = await server.SendAsync(HttpMethod.Get, Global(alice, "org.example.config"), alice.AccessToken);
        Assert.Equal(200, status);
        Assert.Equal("""{"theme":"dark","nested":{"n":1}}""", body.GetRawText());

        // Replaced whole on the next PUT, and the same under r0.
        AssertOk(await server.SendAsync(HttpMethod.Put, Global(alice, "org.example.config").Replace("/v3/", "/r0/", StringComparison.Ordinal),
            alice.AccessToken, new { theme = "light" }));
        var (_, replaced) = await server.SendAsync(HttpMethod.Get, Global(alice, "org.example.config"), alice.AccessToken);
        Assert.Equal("""{"theme":"light"}""", replaced.GetRawText());
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task RoomAccountData_PutThenGet_IsSeparateFromGlobalAndOtherRooms(DatabaseEngine engine)
    {
        var (server, alice, _, roomId) = await RoomAsync(engine, bobJoins: false);
        await using var _ = server;
        string otherRoom = await CreateRoomAsync(server, alice);

        AssertOk(await server.SendAsync(HttpMethod.Put, PerRoom(alice, roomId, "org.example.room"), alice.AccessToken, new { pinned = true }));

        var (status, body) = await server.SendAsync(HttpMethod.Get, PerRoom(alice, roomId, "org.example.room"), alice.AccessToken);
        Assert.Equal(200, status);
        Assert.True(body.GetProperty("pinned").GetBoolean());
        AssertError(404, "M_NOT_FOUND", await server.SendAsync(HttpMethod.Get, Global(alice, "org.example.room"), alice.AccessToken));
        AssertError(404, "M_NOT_FOUND", await server.SendAsync(HttpMethod.Get, PerRoom(alice, otherRoom, "org.example.room"), alice.AccessToken));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task RoomAccountData_RoomNotJoinedOrUnknown_IsAllowed(DatabaseEngine engine)
    {
        // Clients keep per-room data (tags, markers) for invites and rooms they left; only the room ID's syntax is checked.
        var (server, alice, bob, roomId) = await RoomAsync(engine, bobJoins: false);
        await using var _ = server;

        AssertOk(await server.SendAsync(HttpMethod.Put, PerRoom(bob, roomId, "org.example"), bob.AccessToken, new { a = 1 }));
        AssertOk(await server.SendAsync(HttpMethod.Put, PerRoom(bob, "!unknown:test.local", "org.example"), bob.AccessToken, new { a = 2 }));
        AssertOk(await server.SendAsync(HttpMethod.Put, Tags(bob, "!unknown:test.local", "u.later"), bob.AccessToken, new { }));
        Assert.Equal(2, (await server.SendAsync(HttpMethod.Get, PerRoom(bob, "!unknown:test.local", "org.example"), bob.AccessToken))
            .Body.GetProperty("a").GetInt32());
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task AccountData_NoAccessToken_Answers401OnEveryEndpoint(DatabaseEngine engine)
    {
        var (server, alice, _, roomId) = await RoomAsync(engine, bobJoins: false);
        await using var _ = server;

        foreach (var (method, path) in new[]
        {
            (HttpMethod.Put, Global(alice, "a")), (HttpMethod.Get, Global(alice, "a")),
            (HttpMethod.Put, PerRoom(alice, roomId, "a")), (HttpMethod.Get, PerRoom(alice, roomId, "a")),
            (HttpMethod.Get, Tags(alice, roomId)), (HttpMethod.Put, Tags(alice, roomId, "u.x")), (HttpMethod.Delete, Tags(alice, roomId, "u.x")),
        })
        {
            AssertError(401, "M_MISSING_TOKEN", await server.SendAsync(method, path, null, method == HttpMethod.Put ? new { } : null));
        }
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task AccountData_AnotherUsersData_Answers403OnEveryEndpoint(DatabaseEngine engine)
    {
        var (server, alice, bob, roomId) = await RoomAsync(engine);
        await using var _ = server;
        AssertOk(await server.SendAsync(HttpMethod.Put, Global(alice, "secret"), alice.AccessToken, new { s = 1 }));

        foreach (var (method, path) in new[]
        {
            (HttpMethod.Put, Global(alice, "secret")), (HttpMethod.Get, Global(alice, "secret")),
            (HttpMethod.Put, PerRoom(alice, roomId, "a")), (HttpMethod.Get, PerRoom(alice, roomId, "a")),
            (HttpMethod.Get, Tags(alice, roomId)), (HttpMethod.Put, Tags(alice, roomId, "u.x")), (HttpMethod.Delete, Tags(alice, roomId, "u.x")),
        })
        {
            AssertError(403, "M_FORBIDDEN", await server.SendAsync(method, path, bob.AccessToken, method == HttpMethod.Put ? new { } : null));
        }

        // Alice's data is untouched.
        Assert.Equal(1, (await server.SendAsync(HttpMethod.Get, Global(alice, "secret"), alice.AccessToken)).Body.GetProperty("s").GetInt32());
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task AccountData_ServerManagedTypes_Answer405BadJsonButReadNormally(DatabaseEngine engine)
    {
        var (server, alice, _, roomId) = await RoomAsync(engine, bobJoins: false);
        await using var _ = server;

        foreach (string type in new[] { "m.fully_read", "m.push_rules" })
        {
            AssertError(405, "M_BAD_JSON", await server.SendAsync(HttpMethod.Put, Global(alice, type), alice.AccessToken, new { event_id = "$x" }));
            AssertError(405, "M_BAD_JSON", await server.SendAsync(HttpMethod.Put, PerRoom(alice, roomId, type), alice.AccessToken, new { event_id = "$x" }));
        }

        // Reading is allowed: unset here, so 404.
        AssertError(404, "M_NOT_FOUND", await server.SendAsync(HttpMethod.Get, PerRoom(alice, roomId, "m.fully_read"), alice.AccessToken));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task AccountData_BadBodiesAndIds_AnswerTheSpecErrors(DatabaseEngine engine)
    {
        var (server, alice, _, roomId) = await RoomAsync(engine, bobJoins: false);
        await using var _ = server;

        AssertError(400, "M_NOT_JSON", await server.SendAsync(HttpMethod.Put, Global(alice, "a"), alice.AccessToken, "{not json"));
        AssertError(400, "M_NOT_JSON", await server.SendAsync(HttpMethod.Put, Global(alice, "a"), alice.AccessToken, ""));
        AssertError(400, "M_BAD_JSON", await server.SendAsync(HttpMethod.Put, Global(alice, "a"), alice.AccessToken, "[1,2]"));
        AssertError(400, "M_BAD_JSON", await server.SendAsync(HttpMethod.Put, PerRoom(alice, roomId, "a"), alice.AccessToken, "\"text\""));
        AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Put, PerRoom(alice, "not-a-room", "a"), alice.AccessToken, new { }));
        AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Get, PerRoom(alice, "@alice:test.local", "a"), alice.AccessToken));
        AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Put, Global(alice, new string('t', 256)), alice.AccessToken, new { }));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Tags_PutGetDelete_KeepsEveryTagInMTag(DatabaseEngine engine)
    {
        var (server, alice, _, roomId) = await RoomAsync(engine, bobJoins: false);
        await using var _ = server;

        Assert.Equal("""{"tags":{}}""", (await server.SendAsync(HttpMethod.Get, Tags(alice, roomId), alice.AccessToken)).Body.GetRawText());
        AssertOk(await server.SendAsync(HttpMethod.Put, Tags(alice, roomId, "m.favourite"), alice.AccessToken, new { order = 0.25 }));
        AssertOk(await server.SendAsync(HttpMethod.Put, Tags(alice, roomId, "u.Work"), alice.AccessToken, new { }));
        AssertOk(await server.SendAsync(HttpMethod.Put, Tags(alice, roomId, "u.edge"), alice.AccessToken, new { order = 1 }));

        var (status, body) = await server.SendAsync(HttpMethod.Get, Tags(alice, roomId), alice.AccessToken);
        Assert.Equal(200, status);
        var tags = body.GetProperty("tags");
        Assert.Equal(0.25, tags.GetProperty("m.favourite").GetProperty("order").GetDouble());
        Assert.Equal(JsonValueKind.Object, tags.GetProperty("u.Work").ValueKind);
        Assert.False(tags.GetProperty("u.Work").TryGetProperty("order", out JsonElement _));

        // The tags live in the room account data m.tag.
        var (_, mTag) = await server.SendAsync(HttpMethod.Get, PerRoom(alice, roomId, "m.tag"), alice.AccessToken);
        Assert.Equal(tags.GetRawText(), mTag.GetProperty("tags").GetRawText());

        // Re-tagging replaces the tag's content; deleting removes it; deleting an absent tag is fine.
        AssertOk(await server.SendAsync(HttpMethod.Put, Tags(alice, roomId, "m.favourite"), alice.AccessToken, new { order = 0.5 }));
        AssertOk(await server.SendAsync(HttpMethod.Delete, Tags(alice, roomId, "u.Work"), alice.AccessToken));
        AssertOk(await server.SendAsync(HttpMethod.Delete, Tags(alice, roomId, "u.never"), alice.AccessToken));
        var after = (await server.SendAsync(HttpMethod.Get, Tags(alice, roomId), alice.AccessToken)).Body.GetProperty("tags");
        Assert.Equal(["m.favourite", "u.edge"], after.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
        Assert.Equal(0.5, after.GetProperty("m.favourite").GetProperty("order").GetDouble());
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Tags_BadOrderNameOrBody_AnswerTheSpecErrorsAndChangeNothing(DatabaseEngine engine)
    {
        var (server, alice, _, roomId) = await RoomAsync(engine, bobJoins: false);
        await using var _ = server;

        AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Put, Tags(alice, roomId, "u.a"), alice.AccessToken, new { order = 1.5 }));
        AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Put, Tags(alice, roomId, "u.a"), alice.AccessToken, new { order = -0.1 }));
        AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Put, Tags(alice, roomId, "u.a"), alice.AccessToken, """{"order": 1e400}"""));
        AssertError(400, "M_BAD_JSON", await server.SendAsync(HttpMethod.Put, Tags(alice, roomId, "u.a"), alice.AccessToken, new { order = "high" }));
        AssertError(400, "M_BAD_JSON", await server.SendAsync(HttpMethod.Put, Tags(alice, roomId, "u.a"), alice.AccessToken, new { order = true }));
        AssertError(400, "M_BAD_JSON", await server.SendAsync(HttpMethod.Put, Tags(alice, roomId, "u.a"), alice.AccessToken, "[0.5]"));
        AssertError(400, "M_NOT_JSON", await server.SendAsync(HttpMethod.Put, Tags(alice, roomId, "u.a"), alice.AccessToken, "{"));
        AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Put, Tags(alice, roomId, "u." + new string('x', 254)), alice.AccessToken, new { }));
        AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Put, Tags(alice, "!bad", "u.a"), alice.AccessToken, new { }));
        AssertError(400, "M_INVALID_PARAM", await server.SendAsync(HttpMethod.Get, Tags(alice, "#alias:test.local"), alice.AccessToken));

        Assert.Equal("""{"tags":{}}""", (await server.SendAsync(HttpMethod.Get, Tags(alice, roomId), alice.AccessToken)).Body.GetRawText());
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Tags_ConcurrentPuts_LoseNoTag(DatabaseEngine engine)
    {
        var (server, alice, _, roomId) = await RoomAsync(engine, bobJoins: false);
        await using var _ = server;

        var puts = Enumerable.Range(0, 12).Select(i => server.SendAsync(HttpMethod.Put, Tags(alice, roomId, $"u.t{i}"), alice.AccessToken, new { order = i / 20.0 }));
        foreach (var put in await Task.WhenAll(puts))
        {
            AssertOk(put);
        }

        var tags = (await server.SendAsync(HttpMethod.Get, Tags(alice, roomId), alice.AccessToken)).Body.GetProperty("tags");
        Assert.Equal(12, tags.EnumerateObject().Count());
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task AccountDataWrite_AdvancesStreamAndWakesOnlyTheOwner(DatabaseEngine engine)
    {
        var (server, alice, bob, roomId) = await RoomAsync(engine);
        await using var _ = server;
        var stream = server.Services.GetRequiredService<StreamRegistry>()[StreamNames.AccountData];
        long before = stream.Current;

        Assert.True(await WakesAsync(server, NotifierKey.User(alice.UserId),
            async () => AssertOk(await server.SendAsync(HttpMethod.Put, Global(alice, "a"), alice.AccessToken, new { }))));
        Assert.Equal(before + 1, stream.Current);

        Assert.True(await WakesAsync(server, NotifierKey.User(alice.UserId),
            async () => AssertOk(await server.SendAsync(HttpMethod.Put, Tags(alice, roomId, "u.x"), alice.AccessToken, new { }))));
        Assert.Equal(before + 2, stream.Current);

        // Neither Bob nor the room hear about Alice's account data.
        Assert.False(await WakesAsync(server, NotifierKey.User(bob.UserId),
            async () => AssertOk(await server.SendAsync(HttpMethod.Put, PerRoom(alice, roomId, "b"), alice.AccessToken, new { })), 300));
        Assert.False(await WakesAsync(server, NotifierKey.Room(roomId),
            async () => AssertOk(await server.SendAsync(HttpMethod.Put, Global(alice, "c"), alice.AccessToken, new { })), 300));
        Assert.Equal(before + 4, stream.Current);

        // A rejected write and a tag removal that changes nothing allocate no position.
        AssertError(405, "M_BAD_JSON", await server.SendAsync(HttpMethod.Put, Global(alice, "m.push_rules"), alice.AccessToken, new { }));
        AssertOk(await server.SendAsync(HttpMethod.Delete, Tags(alice, roomId, "u.absent"), alice.AccessToken));
        Assert.Equal(before + 4, stream.Current);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task AccountDataStreamSource_AfterWrites_ReplaysTheLatestRowOfEachEntry(DatabaseEngine engine)
    {
        var (server, alice, bob, roomId) = await RoomAsync(engine);
        await using var _ = server;
        var source = server.Services.GetServices<IStreamSource>().Single(s => s.Stream == StreamNames.AccountData);
        long start = source.CurrentPosition;

        AssertOk(await server.SendAsync(HttpMethod.Put, Global(alice, "a"), alice.AccessToken, new { v = 1 }));
        AssertOk(await server.SendAsync(HttpMethod.Put, PerRoom(bob, roomId, "b"), bob.AccessToken, new { }));
        AssertOk(await server.SendAsync(HttpMethod.Put, Global(alice, "a"), alice.AccessToken, new { v = 2 }));
        Assert.Equal(start + 3, source.CurrentPosition);

        var updates = await source.GetUpdatesAsync(start, source.CurrentPosition, 100, default);
        Assert.Equal([start + 2, start + 3], updates.Select(u => u.Position));
        var bobRow = Assert.Single(updates[0].Rows);
        Assert.Equal(bob.UserId, (string?)bobRow.Data["user_id"]);
        Assert.Equal(roomId, (string?)bobRow.Data["room_id"]);
        Assert.Equal([NotifierKey.User(bob.UserId)], bobRow.NotifierKeys);
        Assert.Equal("a", (string?)Assert.Single(updates[1].Rows).Data["type"]);
        Assert.Single(await source.GetUpdatesAsync(start, source.CurrentPosition, 1, default));
    }
}
