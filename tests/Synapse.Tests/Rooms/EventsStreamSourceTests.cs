using Microsoft.Extensions.DependencyInjection;
using Synapse.Configuration;
using Synapse.Streams;
using Synapse.Tests.Infrastructure;

namespace Synapse.Tests.Rooms;

/// <summary>
/// The events stream read back for replication catch-up: every page must equal, update for update, what the live
/// path published on the bus (same positions, same row JSON, same notifier keys in the same order).
/// </summary>
public sealed class EventsStreamSourceTests
{
    private const string V3 = "/_matrix/client/v3";

    /// <summary>A real server whose bus is recorded from the start, and the events it holds after a varied history.</summary>
    private sealed class Recorded : IAsyncDisposable
    {
        private readonly List<StreamUpdate> _published = [];

        private Recorded(TestHomeserver server)
        {
            Server = server;
            server.Services.GetRequiredService<StreamBus>().Subscribe(u =>
            {
                if (u.Stream == StreamNames.Events)
                {
                    lock (_published)
                    {
                        _published.Add(u);
                    }
                }
            });
        }

        public TestHomeserver Server { get; }

        public IStreamSource Source => Server.Services.GetServices<IStreamSource>().Single(s => s.Stream == StreamNames.Events);

        /// <summary>Every events update the bus delivered, rows or not, in delivery order.</summary>
        public IReadOnlyList<StreamUpdate> Published
        {
            get
            {
                lock (_published)
                {
                    return [.. _published];
                }
            }
        }

        /// <summary>What the source must return: the published updates that carry rows (a failed write stores nothing).</summary>
        public IReadOnlyList<string> Expected => [.. Published.Where(u => u.Rows.Count > 0).Select(Describe)];

        public static async Task<Recorded> StartAsync(DatabaseEngine engine)
        {
            var recorded = new Recorded(await TestHomeserver.StartAsync(engine));
            await recorded.RunHistoryAsync();
            return recorded;
        }

        public ValueTask DisposeAsync() => Server.DisposeAsync();

        private async Task RunHistoryAsync()
        {
            var server = Server;
            var alice = await server.RegisterAsync("alice");
            var bob = await server.RegisterAsync("bob");

            string roomId = Created(await server.SendAsync(HttpMethod.Post, $"{V3}/createRoom", alice.AccessToken,
                new { preset = "public_chat", name = "Stream", topic = "first" }));

            // Refused after several of its events were built: their positions are published with no rows.
            var (refused, _) = await server.SendAsync(HttpMethod.Post, $"{V3}/createRoom", alice.AccessToken,
                new { initial_state = new[] { new { type = new string('x', 300), state_key = "", content = new { } } } });
            Assert.Equal(400, refused);

            Ok(await server.SendAsync(HttpMethod.Post, $"{V3}/join/{roomId}", bob.AccessToken, new { }));
            string first = await SendAsync(alice, roomId, "m.room.message", new { msgtype = "m.text", body = "one" });
            string second = await SendAsync(bob, roomId, "m.room.message", new { msgtype = "m.text", body = "two" });
            Ok(await server.SendAsync(HttpMethod.Put, $"{V3}/rooms/{roomId}/state/m.room.topic/", alice.AccessToken,
                new { topic = "second" }));
            await SendAsync(bob, roomId, "m.reaction",
                new Dictionary<string, object> { ["m.relates_to"] = new { rel_type = "m.annotation", event_id = first, key = "👍" } });
            await SendAsync(alice, roomId, "m.room.message", new Dictionary<string, object>
            {
                ["msgtype"] = "m.text",
                ["body"] = "* one!",
                ["m.new_content"] = new { msgtype = "m.text", body = "one!" },
                ["m.relates_to"] = new { rel_type = "m.replace", event_id = first },
            });
            Ok(await server.SendAsync(HttpMethod.Put, $"{V3}/rooms/{roomId}/redact/{second}/{Guid.NewGuid():N}",
                alice.AccessToken, new { reason = "spam" }));
            Ok(await server.SendAsync(HttpMethod.Post, $"{V3}/rooms/{roomId}/leave", bob.AccessToken, new { }));

            // Version 11 carries "redacts" in the content rather than at the top level.
            string v11 = Created(await server.SendAsync(HttpMethod.Post, $"{V3}/createRoom", alice.AccessToken,
                new { room_version = "11", invite = new[] { bob.UserId } }));
            string doomed = await SendAsync(alice, v11, "m.room.message", new { msgtype = "m.text", body = "gone" });
            Ok(await server.SendAsync(HttpMethod.Put, $"{V3}/rooms/{v11}/redact/{doomed}/{Guid.NewGuid():N}",
                alice.AccessToken, new { }));
        }

        private async Task<string> SendAsync(Session who, string roomId, string type, object content)
        {
            var (status, body) = await Server.SendAsync(HttpMethod.Put, $"{V3}/rooms/{roomId}/send/{type}/{Guid.NewGuid():N}",
                who.AccessToken, content);
            Assert.True(status == 200, $"send failed: {status} {body}");
            return body.GetProperty("event_id").GetString()!;
        }

        private static string Created((int Status, System.Text.Json.JsonElement Body) response)
        {
            Ok(response);
            return response.Body.GetProperty("room_id").GetString()!;
        }

        private static void Ok((int Status, System.Text.Json.JsonElement Body) response) =>
            Assert.True(response.Status == 200, $"{response.Status} {response.Body}");
    }

    /// <summary>An update as text: positions, the rows' exact JSON and their keys in order.</summary>
    private static string Describe(StreamUpdate update) =>
        $"{update.Stream} {update.Position}: "
        + string.Join(" | ", update.Rows.Select(r => r.Data.ToJsonString() + " " + string.Join(",", r.NotifierKeys)));

    /// <summary>Reads (after, upTo] page by page, checking each page against the contract, and returns all updates.</summary>
    private static async Task<List<StreamUpdate>> ReadAllAsync(IStreamSource source, long after, long upTo, int limit)
    {
        var all = new List<StreamUpdate>();
        var sizes = new List<int>();
        while (true)
        {
            var page = await source.GetUpdatesAsync(after, upTo, limit, default);
            Assert.InRange(page.Count, 0, limit);
            if (page.Count == 0)
            {
                break;
            }

            sizes.Add(page.Count);
            Assert.All(page, u => Assert.InRange(u.Position, after + 1, upTo));
            Assert.Equal(page.Select(u => u.Position).Order(), page.Select(u => u.Position));
            all.AddRange(page);
            after = page[^1].Position;
        }

        // Only the last page may be short: the source fills each page while there is more to read.
        Assert.All(sizes.SkipLast(1), size => Assert.Equal(limit, size));
        return all;
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task GetUpdates_WholeStreamInPagesOfAnySize_EqualsWhatTheBusPublished(DatabaseEngine engine)
    {
        await using var recorded = await Recorded.StartAsync(engine);
        var source = recorded.Source;
        long current = source.CurrentPosition;
        Assert.Equal(current, recorded.Published[^1].Position);
        Assert.Contains(recorded.Published, u => u.Rows.Count == 0);

        foreach (int limit in new[] { 1, 2, 7, 1000 })
        {
            var read = await ReadAllAsync(source, 0, current, limit);
            Assert.Equal(recorded.Expected, read.Select(Describe));
        }
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task GetUpdates_HistoryWithRelationsRedactionsAndMemberships_CarriesTheirFieldsAndKeys(DatabaseEngine engine)
    {
        await using var recorded = await Recorded.StartAsync(engine);
        var updates = await recorded.Source.GetUpdatesAsync(0, recorded.Source.CurrentPosition, 1000, default);
        var rows = updates.Select(u => Assert.Single(u.Rows)).ToList();

        var reaction = rows.Single(r => (string?)r.Data["type"] == "m.reaction");
        Assert.Equal("m.annotation", (string?)reaction.Data["rel_type"]);
        var edit = rows.Single(r => (string?)r.Data["rel_type"] == "m.replace");
        Assert.Equal(reaction.Data["relates_to"]!.ToJsonString(), edit.Data["relates_to"]!.ToJsonString());
        Assert.Equal(2, rows.Count(r => (string?)r.Data["type"] == "m.room.redaction" && r.Data["redacts"] is not null));

        var leave = rows.Single(r => (string?)r.Data["membership"] == "leave");
        string bob = (string)leave.Data["state_key"]!;
        Assert.Equal([NotifierKey.Room((string)leave.Data["room_id"]!), NotifierKey.User(bob)], leave.NotifierKeys);
        Assert.Contains(rows, r => (string?)r.Data["membership"] == "invite" && (string?)r.Data["state_key"] == bob);
        var topic = rows.Last(r => (string?)r.Data["type"] == "m.room.topic");
        Assert.Equal([NotifierKey.Room((string)topic.Data["room_id"]!)], topic.NotifierKeys);
        Assert.Equal("", (string?)topic.Data["state_key"]);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task GetUpdates_PartialRanges_ReturnExactlyThePublishedUpdatesInThem(DatabaseEngine engine)
    {
        await using var recorded = await Recorded.StartAsync(engine);
        var source = recorded.Source;
        long current = source.CurrentPosition;
        var published = recorded.Published;
        var stored = published.Where(u => u.Rows.Count > 0).ToList();

        List<string> Expected(long after, long upTo) =>
            [.. stored.Where(u => u.Position > after && u.Position <= upTo).Select(Describe)];

        // From the middle, to below current, and both.
        long middle = stored[stored.Count / 2].Position;
        long lower = stored[stored.Count / 3].Position;
        foreach (int limit in new[] { 1, 2, 7, 1000 })
        {
            Assert.Equal(Expected(middle, current), (await ReadAllAsync(source, middle, current, limit)).Select(Describe));
            Assert.Equal(Expected(0, middle), (await ReadAllAsync(source, 0, middle, limit)).Select(Describe));
            Assert.Equal(Expected(lower, middle), (await ReadAllAsync(source, lower, middle, limit)).Select(Describe));
        }

        // Starting at, or ending on, a position that stored nothing.
        long empty = published.First(u => u.Rows.Count == 0).Position;
        Assert.Equal(Expected(empty, current), (await ReadAllAsync(source, empty, current, 3)).Select(Describe));
        Assert.Equal(Expected(0, empty), (await ReadAllAsync(source, 0, empty, 3)).Select(Describe));
        Assert.Equal(Expected(empty - 1, empty), (await ReadAllAsync(source, empty - 1, empty, 3)).Select(Describe));

        // An empty range, one position, and the limit.
        Assert.Empty(await source.GetUpdatesAsync(middle, middle, 10, default));
        Assert.Empty(await source.GetUpdatesAsync(current, current, 10, default));
        Assert.Empty(await source.GetUpdatesAsync(middle, lower, 10, default));
        Assert.Equal([Describe(stored[stored.Count / 2])],
            (await source.GetUpdatesAsync(middle - 1, middle, 10, default)).Select(Describe));
        Assert.Equal(stored.Take(3).Select(Describe), (await source.GetUpdatesAsync(0, current, 3, default)).Select(Describe));
        Assert.Equal(stored.Skip(4).Take(5).Select(Describe),
            (await source.GetUpdatesAsync(stored[3].Position, current, 5, default)).Select(Describe));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => source.GetUpdatesAsync(0, current, 0, default));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task GetUpdates_AfterRestart_ReplaysWhatTheEarlierProcessPublished(DatabaseEngine engine)
    {
        await using var recorded = await Recorded.StartAsync(engine);
        var expected = recorded.Expected;
        long before = recorded.Source.CurrentPosition;

        await recorded.Server.RestartAsync();

        var source = recorded.Source;
        Assert.Equal(before, source.CurrentPosition);
        Assert.Equal(expected, (await ReadAllAsync(source, 0, source.CurrentPosition, 4)).Select(Describe));
    }
}
