using System.Text.Json;
using System.Text.Json.Nodes;
using Synapse.Accounts;
using Synapse.Events;
using Synapse.Storage;

namespace Synapse.Rooms;

/// <summary>
/// Turns stored PDUs into the client event format: the client-visible fields plus <c>unsigned</c>
/// (<c>age</c>, <c>transaction_id</c> for the sending device, <c>prev_content</c>/<c>replaces_state</c>,
/// <c>redacted_because</c>); redacted events are served redacted.
/// </summary>
/// <remarks>Spec: Client-Server API, "Room Event Format" and "Redactions".</remarks>
internal sealed class ClientEventFormatter
{
    private readonly IEventStore _store;
    private readonly TimeProvider _time;

    public ClientEventFormatter(IEventStore store, TimeProvider time)
    {
        _store = store;
        _time = time;
    }

    public async Task<List<JsonObject>> FormatAsync(IReadOnlyList<StoredEvent> events, Requester? requester,
        CancellationToken cancellationToken)
    {
        var related = new HashSet<string>(StringComparer.Ordinal);
        foreach (var e in events)
        {
            if (e.ReplacesState is { } replaces)
            {
                related.Add(replaces);
            }

            if (e.RedactedBy is { } redactedBy)
            {
                related.Add(redactedBy);
            }
        }

        var byId = (await _store.GetEventsAsync(related, cancellationToken).ConfigureAwait(false))
            .ToDictionary(e => e.Pdu.EventId, StringComparer.Ordinal);
        var ownIds = requester is null
            ? []
            : events.Where(e => e.Pdu.Sender == requester.UserId.Value).Select(e => e.Pdu.EventId).ToList();
        var txnIds = requester is null
            ? new Dictionary<string, string>()
            : await _store.GetTransactionIdsAsync(ownIds, requester.UserId.Value, requester.DeviceId.Value, cancellationToken)
                .ConfigureAwait(false);

        long now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var result = new List<JsonObject>(events.Count);
        foreach (var e in events)
        {
            var json = Format(e, now);
            var unsigned = (JsonObject)json["unsigned"]!;
            if (txnIds.TryGetValue(e.Pdu.EventId, out string? txnId))
            {
                unsigned["transaction_id"] = txnId;
            }

            if (e.ReplacesState is { } replaces && byId.TryGetValue(replaces, out var previous))
            {
                unsigned["replaces_state"] = replaces;
                unsigned["prev_sender"] = previous.Pdu.Sender;
                unsigned["prev_content"] = ContentOf(previous);
            }

            if (e.RedactedBy is { } redactedBy && byId.TryGetValue(redactedBy, out var redaction))
            {
                unsigned["redacted_because"] = Format(redaction, now);
            }

            result.Add(json);
        }

        return result;
    }

    /// <summary>The client format of one event, without the parts that need other events.</summary>
    private static JsonObject Format(StoredEvent e, long now)
    {
        var pdu = e.Pdu;
        var json = new JsonObject
        {
            ["content"] = ContentOf(e),
            ["event_id"] = pdu.EventId,
            ["origin_server_ts"] = pdu.OriginServerTs,
            ["room_id"] = pdu.RoomId,
            ["sender"] = pdu.Sender,
            ["type"] = pdu.Type,
        };
        if (pdu.StateKey is not null)
        {
            json["state_key"] = pdu.StateKey;
        }

        // Clients of every room version read `redacts` at the top level; v11 keeps it in content as well.
        if (pdu.Redacts is not null)
        {
            json["redacts"] = pdu.Redacts;
        }

        json["unsigned"] = new JsonObject { ["age"] = Math.Max(0, now - pdu.OriginServerTs) };
        return json;
    }

    private static JsonNode ContentOf(StoredEvent e)
    {
        if (e.RedactedBy is null)
        {
            return JsonNode.Parse(e.Pdu.Content.GetRawText())!;
        }

        var redacted = Redaction.Redact(e.Pdu.Json, e.Pdu.RoomVersion);
        return redacted["content"]?.DeepClone() ?? new JsonObject();
    }

    /// <summary>A stripped JSON element for tests and simple callers.</summary>
    public static JsonElement ToElement(JsonObject json) => JsonSerializer.SerializeToElement(json);
}
