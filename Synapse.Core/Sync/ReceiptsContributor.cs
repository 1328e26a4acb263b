using System.Text.Json.Nodes;
using Synapse.Storage;
using Synapse.Streams;

namespace Synapse.Sync;

/// <summary>
/// <c>m.receipt</c> ephemeral events of the joined rooms: every current receipt for an initial or full-state sync,
/// else the receipts written in (since, now] (and every receipt of a room joined in that range). Private receipts go only to their owner. The filter's
/// <c>room.ephemeral</c> part applies (rooms, types, and senders as the receipts' users).
/// </summary>
/// <remarks>
/// Content shape (Spec: "m.receipt"): <c>{eventId: {receiptType: {userId: {ts, thread_id?}}}}</c>. One event per room
/// and thread (Spec: "receipts SHOULD be batched into one event per room and thread"), so that a user's unthreaded
/// and threaded receipts on the same event never collide under one user key.
/// </remarks>
internal sealed class ReceiptsContributor : ISyncContributor
{
    private const string ReceiptEventType = "m.receipt";

    private readonly IReceiptStore _store;
    private readonly IEventStore _events;

    public ReceiptsContributor(IReceiptStore store, IEventStore events)
    {
        _store = store;
        _events = events;
    }

    public async Task ContributeAsync(SyncContext context, SyncResponseBuilder response, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(response);
        var filter = context.Filter.Ephemeral;
        bool everything = context.IsInitial || context.FullState;
        long after = everything ? 0 : context.From(StreamNames.Receipts);
        long upTo = context.Now[StreamNames.Receipts];
        var rooms = context.JoinedRoomIds.Where(filter.MatchesRoom).ToList();
        if (rooms.Count == 0 || !filter.Matches(ReceiptEventType, null))
        {
            return;
        }

        var newlyJoined = await NewlyJoinedRooms.FindAsync(_events, context, cancellationToken).ConfigureAwait(false);
        var receipts = new List<ReceiptRecord>();
        var known = rooms.Where(r => !newlyJoined.Contains(r)).ToList();
        if (after < upTo && known.Count > 0)
        {
            receipts.AddRange(await _store.GetForRoomsAsync(known, after, upTo, cancellationToken).ConfigureAwait(false));
        }

        var fresh = rooms.Where(newlyJoined.Contains).ToList();
        if (fresh.Count > 0)
        {
            receipts.AddRange(await _store.GetForRoomsAsync(fresh, 0, upTo, cancellationToken).ConfigureAwait(false));
        }

        string me = context.Requester.UserId.Value;

        // room → thread ("" = unthreaded, first) → content.
        var events = new Dictionary<string, SortedDictionary<string, JsonObject>>(StringComparer.Ordinal);
        foreach (var receipt in receipts)
        {
            if ((receipt.ReceiptType == ReceiptService.ReadPrivateType && receipt.UserId != me)
                || !filter.Matches(ReceiptEventType, receipt.UserId))
            {
                continue;
            }

            if (!events.TryGetValue(receipt.RoomId, out var threads))
            {
                events[receipt.RoomId] = threads = new SortedDictionary<string, JsonObject>(StringComparer.Ordinal);
            }

            string thread = receipt.ThreadId ?? "";
            if (!threads.TryGetValue(thread, out var content))
            {
                threads[thread] = content = [];
            }

            var byType = Child(content, receipt.EventId);
            var byUser = Child(byType, receipt.ReceiptType);
            byUser[receipt.UserId] = JsonNode.Parse(receipt.Data);
        }

        foreach (string roomId in rooms)
        {
            if (events.TryGetValue(roomId, out var threads))
            {
                foreach (var content in threads.Values)
                {
                    response.AddEphemeral(roomId, new JsonObject { ["type"] = ReceiptEventType, ["content"] = content });
                }
            }
        }
    }

    private static JsonObject Child(JsonObject parent, string key)
    {
        if (parent[key] is JsonObject existing)
        {
            return existing;
        }

        var created = new JsonObject();
        parent[key] = created;
        return created;
    }
}
