using Microsoft.Extensions.DependencyInjection;
using Synapse.Configuration;
using Synapse.Storage;
using Synapse.Streams;
using Synapse.Sync;
using Synapse.Tests.Infrastructure;

namespace Synapse.Tests.Sync;

/// <summary>The shared room timeline cache answers exactly what the store answers, and never serves redacted events unredacted.</summary>
public sealed class RoomTimelineCacheTests
{
    private const string V3 = "/_matrix/client/v3";

    private static async Task<string> SendAsync(TestHomeserver server, Session who, string roomId, string text)
    {
        var (status, body) = await server.SendAsync(HttpMethod.Put, $"{V3}/rooms/{roomId}/send/m.room.message/{Guid.NewGuid():N}",
            who.AccessToken, new { msgtype = "m.text", body = text });
        Assert.True(status == 200, $"send: {status} {body}");
        return body.GetProperty("event_id").GetString()!;
    }

    private static long EventsPosition(TestHomeserver server) =>
        server.Services.GetRequiredService<StreamRegistry>()[StreamNames.Events].Current;

    [Theory, ClassData(typeof(Engines))]
    public async Task GetNewest_AnyRangeAndLimit_MatchesTheStore(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var (_, created) = await server.SendAsync(HttpMethod.Post, $"{V3}/createRoom", alice.AccessToken, new { preset = "public_chat" });
        string roomId = created.GetProperty("room_id").GetString()!;
        var cache = server.Services.GetRequiredService<RoomTimelineCache>();
        var store = server.Services.GetRequiredService<IEventStore>();
        var random = new Random(4242);
        var positions = new List<long> { 0 };

        // Grow the room past the cache's size, asking after every send with ranges old and new.
        for (int i = 0; i < 3 * RoomTimelineCache.EventsPerRoom; i++)
        {
            await SendAsync(server, alice, roomId, $"m{i}");
            long now = EventsPosition(server);
            positions.Add(now);
            for (int q = 0; q < 6; q++)
            {
                long after = q == 0 ? positions[^2] : positions[random.Next(positions.Count)];
                long upTo = q < 2 ? now : Math.Max(after, positions[random.Next(positions.Count)]);
                int limit = random.Next(1, RoomTimelineCache.EventsPerRoom + 4);
                var expected = await store.GetRoomEventsByStreamAsync(roomId, after, upTo, limit, default);
                var actual = await cache.GetNewestAsync(roomId, after, upTo, limit, default);
                Assert.True(expected.Select(e => e.Pdu.EventId).SequenceEqual(actual.Select(e => e.Pdu.EventId)),
                    $"after {after} upTo {upTo} limit {limit}: expected [{string.Join(",", expected.Select(e => e.StreamOrdering))}]"
                    + $" got [{string.Join(",", actual.Select(e => e.StreamOrdering))}]");
            }
        }
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Redaction_DropsTheCachedCopy(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var (_, created) = await server.SendAsync(HttpMethod.Post, $"{V3}/createRoom", alice.AccessToken, new { preset = "public_chat" });
        string roomId = created.GetProperty("room_id").GetString()!;
        var cache = server.Services.GetRequiredService<RoomTimelineCache>();
        string secret = await SendAsync(server, alice, roomId, "oops, a password");
        var before = await cache.GetNewestAsync(roomId, 0, EventsPosition(server), 11, default);
        Assert.Null(before.Single(e => e.Pdu.EventId == secret).RedactedBy);

        var (status, body) = await server.SendAsync(HttpMethod.Put, $"{V3}/rooms/{roomId}/redact/{Uri.EscapeDataString(secret)}/{Guid.NewGuid():N}",
            alice.AccessToken, new { reason = "leaked" });
        Assert.True(status == 200, $"redact: {status} {body}");

        // Asked up to a position before the redaction, the event is still served redacted: the copy is gone.
        var after = await cache.GetNewestAsync(roomId, 0, before.Max(e => e.StreamOrdering), 11, default);
        Assert.NotNull(after.Single(e => e.Pdu.EventId == secret).RedactedBy);

        // And /sync shows the redacted content.
        var (syncStatus, sync) = await server.SendAsync(HttpMethod.Get, $"{V3}/sync?timeout=0", alice.AccessToken);
        Assert.Equal(200, syncStatus);
        var message = sync.GetProperty("rooms").GetProperty("join").GetProperty(roomId).GetProperty("timeline").GetProperty("events")
            .EnumerateArray().Single(e => e.GetProperty("event_id").GetString() == secret);
        Assert.False(message.GetProperty("content").TryGetProperty("body", out _));
    }
}
