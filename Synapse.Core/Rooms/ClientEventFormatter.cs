using System.Text.Json;
using System.Text.Json.Nodes;
using Synapse.Accounts;
using Synapse.Events;
using Synapse.Storage;

namespace Synapse.Rooms;

/// <summary>
/// Turns stored PDUs into the client event format: the client-visible fields plus <c>unsigned</c>
/// (<c>age</c>, <c>transaction_id</c> for the sending device, <c>prev_content</c>/<c>replaces_state</c>,
/// <c>redacted_because</c>, and the bundled aggregations <c>m.relations</c>); redacted events are served redacted.
/// </summary>
/// <remarks>
/// Spec: Client-Server API, "Room Event Format", "Redactions" and "Aggregations of child events". The aggregations of a
/// whole batch take three queries (children, thread summaries, latest thread events) plus the requester's visibility per
/// room that has children, never a query per event; none when <see cref="RelationTargets"/> knows no event of the batch
/// has children.
/// </remarks>
internal sealed class ClientEventFormatter
{
    private readonly IEventStore _store;
    private readonly RelationTargets _relationTargets;
    private readonly TimeProvider _time;

    public ClientEventFormatter(IEventStore store, RelationTargets relationTargets, TimeProvider time)
    {
        _store = store;
        _relationTargets = relationTargets;
        _time = time;
    }

    /// <summary>Relation types aggregated from the child events themselves (threads are summarised in SQL).</summary>
    private static readonly string[] LoadedRelationTypes = [RelationTypes.Replace, RelationTypes.Reference];

    public Task<List<JsonObject>> FormatAsync(IReadOnlyList<StoredEvent> events, Requester? requester,
        CancellationToken cancellationToken) =>
        FormatAsync(events, requester, nested: false, cancellationToken);

    /// <summary>
    /// Formats <paramref name="events"/>; <paramref name="nested"/> marks events that are themselves bundled into another
    /// event's aggregation, which get no thread summary of their own (that bounds the recursion).
    /// </summary>
    private async Task<List<JsonObject>> FormatAsync(IReadOnlyList<StoredEvent> events, Requester? requester, bool nested,
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
        // Only events sent through PUT /send (messages and redactions, never state) carry a transaction ID: a batch of
        // someone else's events and the requester's state events (a lazy-loaded own member event) needs no query.
        var ownIds = requester is null
            ? []
            : events.Where(e => e.Pdu.Sender == requester.UserId.Value && !e.Pdu.IsState).Select(e => e.Pdu.EventId).ToList();
        var txnIds = requester is null
            ? new Dictionary<string, string>()
            : await _store.GetTransactionIdsAsync(ownIds, requester.UserId.Value, requester.DeviceId.Value, cancellationToken)
                .ConfigureAwait(false);

        var bundles = await BundleAsync(events, requester, nested, cancellationToken).ConfigureAwait(false);
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

            if (bundles.TryGetValue(e.Pdu.EventId, out var relations))
            {
                // The same aggregation may be attached to duplicates of an event in one batch.
                unsigned["m.relations"] = relations.Parent is null ? relations : relations.DeepClone();
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

    /// <summary>
    /// The bundled aggregations (<c>unsigned["m.relations"]</c>) of a batch, by parent event ID: <c>m.replace</c>,
    /// <c>m.thread</c> and <c>m.reference</c>. <c>m.annotation</c> has no server-side aggregation since v1.7.
    /// </summary>
    private async Task<Dictionary<string, JsonObject>> BundleAsync(IReadOnlyList<StoredEvent> events, Requester? requester,
        bool nested, CancellationToken cancellationToken)
    {
        var result = new Dictionary<string, JsonObject>(StringComparer.Ordinal);

        // State events get no bundled aggregations (spec warning); edits and annotations have no valid children
        // (an edit of an edit, or an annotation of either, is ignored), so they get none either.
        var parents = new Dictionary<string, StoredEvent>(StringComparer.Ordinal);
        foreach (var e in events)
        {
            if (!e.Pdu.IsState && RelationOf(e.Pdu)?.Type is not (RelationTypes.Replace or RelationTypes.Annotation)
                && _relationTargets.MayHaveChildren(e))
            {
                parents.TryAdd(e.Pdu.EventId, e);
            }
        }

        if (parents.Count == 0)
        {
            return result;
        }

        var children = await _store.GetRelationChildrenAsync(parents.Keys, LoadedRelationTypes, cancellationToken).ConfigureAwait(false);

        // A thread root is an event that is not itself a relation (Spec: "Threading"); nested events are thread replies or
        // edits, so they are never roots.
        var rootIds = nested ? [] : parents.Values.Where(p => RelationOf(p.Pdu) is null).Select(p => p.Pdu.EventId).ToList();
        var threads = await _store.GetThreadSummariesAsync(rootIds, requester?.UserId.Value, cancellationToken).ConfigureAwait(false);
        if (children.Count == 0 && threads.Count == 0)
        {
            return result;
        }

        var visibility = new Dictionary<string, RoomVisibility>(StringComparer.Ordinal);
        async Task<bool> CanSeeAsync(StoredEvent e)
        {
            if (requester is null)
            {
                return true;
            }

            if (!visibility.TryGetValue(e.Pdu.RoomId, out var room))
            {
                room = await RoomVisibility.LoadAsync(_store, e.Pdu.RoomId, requester.UserId.Value, cancellationToken).ConfigureAwait(false);
                visibility[e.Pdu.RoomId] = room;
            }

            return room.CanSee(e);
        }

        var edits = new Dictionary<string, StoredEvent>(StringComparer.Ordinal);
        var references = new Dictionary<string, JsonArray>(StringComparer.Ordinal);
        foreach (var child in children)
        {
            if (RelationOf(child.Pdu) is not { } relation || !parents.TryGetValue(relation.EventId, out var parent)
                || !await CanSeeAsync(child).ConfigureAwait(false))
            {
                continue;
            }

            if (relation.Type == RelationTypes.Replace)
            {
                if (IsValidReplacement(parent, child)
                    && (!edits.TryGetValue(parent.Pdu.EventId, out var best) || IsMoreRecentEdit(child, best)))
                {
                    edits[parent.Pdu.EventId] = child;
                }
            }
            else
            {
                if (!references.TryGetValue(parent.Pdu.EventId, out var chunk))
                {
                    references[parent.Pdu.EventId] = chunk = [];
                }

                chunk.Add(new JsonObject { ["event_id"] = child.Pdu.EventId });
            }
        }

        var latest = await LatestThreadEventsAsync(threads, parents, CanSeeAsync, cancellationToken).ConfigureAwait(false);
        var formattedEdits = (await FormatAsync(edits.Values.ToList(), requester, nested: true, cancellationToken).ConfigureAwait(false))
            .ToDictionary(e => (string)e["event_id"]!, StringComparer.Ordinal);
        var formattedLatest = (await FormatAsync(latest.Values.ToList(), requester, nested: true, cancellationToken).ConfigureAwait(false))
            .ToDictionary(e => (string)e["event_id"]!, StringComparer.Ordinal);

        foreach (var (parentId, parent) in parents)
        {
            var relations = new JsonObject();
            if (edits.TryGetValue(parentId, out var edit))
            {
                relations[RelationTypes.Replace] = formattedEdits[edit.Pdu.EventId];
            }

            if (threads.TryGetValue(parentId, out var thread) && latest.TryGetValue(parentId, out var latestEvent))
            {
                relations[RelationTypes.Thread] = new JsonObject
                {
                    ["latest_event"] = formattedLatest[latestEvent.Pdu.EventId],
                    ["count"] = thread.Count,
                    ["current_user_participated"] = thread.Participated
                        || (requester is not null && parent.Pdu.Sender == requester.UserId.Value),
                };
            }

            if (references.TryGetValue(parentId, out var chunk))
            {
                relations[RelationTypes.Reference] = new JsonObject { ["chunk"] = chunk };
            }

            if (relations.Count > 0)
            {
                result[parentId] = relations;
            }
        }

        return result;
    }

    /// <summary>
    /// The latest thread reply of each root that the requester can see. The summary names the latest of all; only when the
    /// requester cannot see that one (they left the room since) is the thread walked back to a visible reply.
    /// </summary>
    private async Task<Dictionary<string, StoredEvent>> LatestThreadEventsAsync(
        IReadOnlyDictionary<string, (long Count, bool Participated, string LatestEventId)> threads,
        Dictionary<string, StoredEvent> parents, Func<StoredEvent, Task<bool>> canSee, CancellationToken cancellationToken)
    {
        var result = new Dictionary<string, StoredEvent>(StringComparer.Ordinal);
        if (threads.Count == 0)
        {
            return result;
        }

        var latestIds = threads.Values.Select(t => t.LatestEventId).ToList();
        var byId = (await _store.GetEventsAsync(latestIds, cancellationToken).ConfigureAwait(false))
            .ToDictionary(e => e.Pdu.EventId, StringComparer.Ordinal);
        foreach (var (rootId, summary) in threads)
        {
            if (byId.TryGetValue(summary.LatestEventId, out var candidate) && await canSee(candidate).ConfigureAwait(false))
            {
                result[rootId] = candidate;
                continue;
            }

            const int Batch = 50;
            var position = TopologicalPosition.End;
            while (true)
            {
                var page = await _store.GetRelationsPageAsync(parents[rootId].Pdu.RoomId, rootId, RelationTypes.Thread, null,
                    position, backwards: true, null, Batch, maxDepth: 1, cancellationToken).ConfigureAwait(false);
                StoredEvent? visible = null;
                foreach (var e in page)
                {
                    if (await canSee(e).ConfigureAwait(false))
                    {
                        visible = e;
                        break;
                    }
                }

                if (visible is not null)
                {
                    result[rootId] = visible;
                }

                if (visible is not null || page.Count < Batch)
                {
                    break;
                }

                position = page[^1].Position;
            }
        }

        return result;
    }

    /// <summary>Spec: Client-Server API, "Validity of replacement events" (the same room is guaranteed by the store).</summary>
    private static bool IsValidReplacement(StoredEvent original, StoredEvent replacement)
    {
        var o = original.Pdu;
        var r = replacement.Pdu;

        // A redacted original bundles no replacement ("Server-side aggregation of m.replace relationships").
        if (original.RedactedBy is not null || o.Sender != r.Sender || o.Type != r.Type || o.IsState || r.IsState
            || RelationOf(o)?.Type == RelationTypes.Replace)
        {
            return false;
        }

        // An encrypted replacement carries m.new_content inside the ciphertext, out of the server's sight.
        return r.Type == "m.room.encrypted"
            || (r.Content.TryGetProperty("m.new_content", out var newContent) && newContent.ValueKind == JsonValueKind.Object);
    }

    /// <summary>The most recent edit has the greatest origin_server_ts, then the greatest event ID.</summary>
    private static bool IsMoreRecentEdit(StoredEvent candidate, StoredEvent current) =>
        candidate.Pdu.OriginServerTs != current.Pdu.OriginServerTs
            ? candidate.Pdu.OriginServerTs > current.Pdu.OriginServerTs
            : string.CompareOrdinal(candidate.Pdu.EventId, current.Pdu.EventId) > 0;

    /// <summary>The event's <c>m.relates_to</c> when it has both <c>rel_type</c> and <c>event_id</c>.</summary>
    private static (string Type, string EventId)? RelationOf(Pdu pdu) =>
        pdu.Content.ValueKind == JsonValueKind.Object
        && pdu.Content.TryGetProperty("m.relates_to", out var relatesTo) && relatesTo.ValueKind == JsonValueKind.Object
        && relatesTo.TryGetProperty("rel_type", out var type) && type.ValueKind == JsonValueKind.String
        && relatesTo.TryGetProperty("event_id", out var target) && target.ValueKind == JsonValueKind.String
            ? (type.GetString()!, target.GetString()!)
            : null;
}

/// <summary>The relation types of the spec.</summary>
internal static class RelationTypes
{
    public const string Replace = "m.replace";
    public const string Annotation = "m.annotation";
    public const string Thread = "m.thread";
    public const string Reference = "m.reference";
}
