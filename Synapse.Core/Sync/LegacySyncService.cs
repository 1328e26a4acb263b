using System.Text.Json.Nodes;
using Synapse.Accounts;
using Synapse.Rooms;
using Synapse.Streams;

namespace Synapse.Sync;

/// <summary>
/// The pre-/sync API that older clients and the worker routing docs still name: <c>GET /events</c>,
/// <c>GET /initialSync</c> and <c>GET /rooms/{roomId}/initialSync</c>, answered from the same machinery as /sync.
/// </summary>
/// <remarks>Spec: Client-Server API, "Legacy" (deprecated since r0, kept for compatibility).</remarks>
internal sealed class LegacySyncService
{
    private readonly SyncService _sync;
    private readonly RoomQueryService _rooms;
    private readonly ClientEventFormatter _formatter;
    private readonly StreamRegistry _streams;

    public LegacySyncService(SyncService sync, RoomQueryService rooms, ClientEventFormatter formatter, StreamRegistry streams)
    {
        _sync = sync;
        _rooms = rooms;
        _formatter = formatter;
        _streams = streams;
    }

    /// <summary>
    /// GET /events: everything new since <paramref name="from"/> as one flat chunk: room events, typing and receipts, and room
    /// account data with their room IDs; presence and global account data without.
    /// </summary>
    public async Task<JsonObject> EventsAsync(Requester requester, string? from, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var since = from is null ? _streams.CurrentToken() : SyncToken.Parse(from);
        var response = await _sync.SyncAsync(requester, since, timeout, false, SyncFilter.Default, null, cancellationToken,
            deliverToDevice: false).ConfigureAwait(false);
        var chunk = new JsonArray();
        if (response["rooms"]?["join"] is JsonObject joined)
        {
            foreach (var (roomId, room) in joined)
            {
                foreach (string part in new[] { "timeline", "ephemeral", "account_data" })
                {
                    if (room?[part]?["events"] is JsonArray events)
                    {
                        foreach (var e in events)
                        {
                            var copy = e!.DeepClone().AsObject();
                            copy["room_id"] = roomId;
                            chunk.Add(copy);
                        }
                    }
                }
            }
        }

        // Presence and the user's own account data are not about a room: they go as they are.
        foreach (string part in new[] { "presence", "account_data" })
        {
            if (response[part]?["events"] is JsonArray events)
            {
                foreach (var e in events)
                {
                    chunk.Add(e!.DeepClone());
                }
            }
        }

        return new JsonObject { ["chunk"] = chunk, ["start"] = since.ToString(), ["end"] = response["next_batch"]!.DeepClone() };
    }

    /// <summary>GET /initialSync: every room with its recent messages and current state.</summary>
    public async Task<JsonObject> InitialSyncAsync(Requester requester, int limit, bool archived, CancellationToken cancellationToken)
    {
        var filter = SyncFilter.FromJson(System.Text.Json.JsonSerializer.SerializeToElement(new
        {
            room = new { include_leave = archived, timeline = new { limit = Math.Max(limit, 1) } },
        }));
        var response = await _sync.SyncAsync(requester, null, TimeSpan.Zero, true, filter, null, cancellationToken).ConfigureAwait(false);
        var rooms = new JsonArray();
        foreach (var (section, membership) in new[] { ("join", "join"), ("invite", "invite"), ("leave", "leave") })
        {
            if (response["rooms"]?[section] is not JsonObject entries)
            {
                continue;
            }

            foreach (var (roomId, _) in entries)
            {
                rooms.Add(await RoomAsync(requester, roomId, membership, limit, cancellationToken).ConfigureAwait(false));
            }
        }

        return new JsonObject
        {
            ["end"] = response["next_batch"]!.DeepClone(),
            ["rooms"] = rooms,
            ["presence"] = response["presence"]?["events"]?.DeepClone() ?? new JsonArray(),
            ["account_data"] = response["account_data"]?["events"]?.DeepClone() ?? new JsonArray(),
        };
    }

    /// <summary>GET /rooms/{roomId}/initialSync: one room's recent messages and state (403 for non-members).</summary>
    public Task<JsonObject> RoomInitialSyncAsync(Requester requester, string roomId, int limit, CancellationToken cancellationToken) =>
        RoomAsync(requester, roomId, null, limit, cancellationToken);

    private async Task<JsonObject> RoomAsync(Requester requester, string roomId, string? membership, int limit, CancellationToken cancellationToken)
    {
        var state = await _rooms.GetStateAsync(requester, roomId, cancellationToken).ConfigureAwait(false);
        var page = await _rooms.GetMessagesAsync(requester, roomId, null, null, backwards: true, Math.Max(limit, 1), RoomEventFilter.Empty,
            cancellationToken).ConfigureAwait(false);
        var own = state.FirstOrDefault(e => e.Pdu.Type == "m.room.member" && e.Pdu.StateKey == requester.UserId.Value);
        var joinRules = state.FirstOrDefault(e => e.Pdu.Type == "m.room.join_rules");
        page.Chunk.Reverse();
        return new JsonObject
        {
            ["room_id"] = roomId,
            ["membership"] = membership ?? own?.Pdu.ContentString("membership") ?? "leave",
            ["visibility"] = joinRules?.Pdu.ContentString("join_rule") == "public" ? "public" : "private",
            ["messages"] = new JsonObject
            {
                ["chunk"] = new JsonArray([.. page.Chunk]),
                ["start"] = page.End ?? page.Start,
                ["end"] = page.Start,
            },
            ["state"] = new JsonArray([.. await _formatter.FormatAsync(state, requester, cancellationToken).ConfigureAwait(false)]),
            ["presence"] = new JsonArray(),
            ["account_data"] = new JsonArray(),
        };
    }
}
