using Microsoft.Extensions.DependencyInjection;
using Synapse.Auth;
using Synapse.Configuration;
using Synapse.Crypto;
using Synapse.Events;
using Synapse.Identifiers;
using Synapse.Storage;
using Synapse.Tests.Infrastructure;

namespace Synapse.Tests.Http;

/// <summary>
/// Every event we create must be a PDU a federating server accepts: the checks of the Server-Server API,
/// "Checks performed on receipt of a PDU", applied to what the server stored.
/// </summary>
public sealed class PduConformanceTests
{
    [Theory]
    [InlineData("1")]
    [InlineData("3")]
    [InlineData("6")]
    [InlineData("10")]
    [InlineData("11")]
    public async Task CreatedEvents_PassReceiptChecks_HashSignatureEventIdAndAuth(string roomVersion)
    {
        await using var server = await TestHomeserver.StartAsync(DatabaseEngine.Sqlite);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");
        var (_, created) = await server.SendAsync(HttpMethod.Post, "/_matrix/client/v3/createRoom", alice.AccessToken,
            new { room_version = roomVersion, preset = "public_chat", name = "Conformance", topic = "pdus" });
        string roomId = created.GetProperty("room_id").GetString()!;
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Post, $"/_matrix/client/v3/join/{roomId}", bob.AccessToken, new { })).Status);
        var (_, sent) = await server.SendAsync(HttpMethod.Put, $"/_matrix/client/v3/rooms/{roomId}/send/m.room.message/t1", bob.AccessToken,
            new { msgtype = "m.text", body = "hello" });
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Put,
            $"/_matrix/client/v3/rooms/{roomId}/redact/{Uri.EscapeDataString(sent.GetProperty("event_id").GetString()!)}/r1", alice.AccessToken, new { })).Status);

        var (_, keys) = await server.SendAsync(HttpMethod.Get, "/_matrix/key/v2/server");
        var key = keys.GetProperty("verify_keys").EnumerateObject().Single();
        byte[] publicKey = UnpaddedBase64.Decode(key.Value.GetProperty("key").GetString()!);
        var store = server.Services.GetRequiredService<IEventStore>();
        var events = await store.GetRoomEventsAsync(roomId, TopologicalPosition.Start, backwards: false, null, 100, default);
        var byId = events.ToDictionary(e => e.Pdu.EventId, e => e.Pdu);
        Assert.True(events.Count >= 10);

        foreach (var stored in events)
        {
            var pdu = stored.Pdu;
            Assert.Equal(roomVersion, pdu.RoomVersion.Identifier);
            Assert.True(EventHashing.HasValidContentHash(pdu.Json, pdu.RoomVersion), $"content hash of {pdu}");
            Assert.True(EventHashing.VerifySignature(pdu.Json, pdu.RoomVersion, ServerName.Parse(TestHomeserver.ServerName), key.Name, publicKey),
                $"signature of {pdu}");
            Assert.Equal(pdu.EventId, EventHashing.GetEventId(pdu.Json, pdu.RoomVersion));
            Assert.Equal(pdu.RoomVersion.HasEventIdInPdu, pdu.Json.TryGetProperty("event_id", out _));
            Assert.Equal(!pdu.RoomVersion.V11Rules, pdu.Json.TryGetProperty("origin", out _));
            Assert.False(pdu.Json.TryGetProperty("unsigned", out _));

            // The event passes the auth rules against exactly its auth events, which must be well formed.
            var authEvents = pdu.AuthEvents.Select(id => byId[id]).ToList();
            Assert.True(EventAuthorizer.CheckAuthEvents(pdu, authEvents).Allowed, $"auth events of {pdu}");
            var authState = authEvents.ToDictionary(e => new TypeStateKey(e.Type, e.StateKey!), e => e);
            var result = EventAuthorizer.Check(pdu, authState);
            Assert.True(result.Allowed, $"{pdu}: {result.Reason}");

            // Depth grows along prev_events; every prev event is known.
            Assert.All(pdu.PrevEvents, id => Assert.True(byId[id].Depth < pdu.Depth));
        }
    }
}
