using System.Text.Json;
using System.Text.Json.Nodes;
using Synapse.Accounts;
using Synapse.Events;
using Synapse.Rooms;
using Synapse.Storage;
using Synapse.Streams;

namespace Synapse.Sync;

/// <summary>
/// Receipts (Spec: Client-Server API, "Receipts") and the fully read marker ("Read and unread markers"). A receipt
/// write advances the <c>receipts</c> stream; the marker is room account data (<c>m.fully_read</c>).
/// </summary>
/// <remarks>
/// Receipts and the marker only move forward: a request pointing at an event before the current one (in the room's
/// topological order) succeeds without changing anything, as the deployed servers do, so that two clients of one user
/// racing each other cannot move a marker back.
/// </remarks>
internal sealed class ReceiptService
{
    public const string ReadType = "m.read";
    public const string ReadPrivateType = "m.read.private";
    public const string FullyReadType = AccountDataService.FullyReadType;
    public const string MainThread = "main";

    /// <summary>Spec: threads are followed through at most 3 relation hops.</summary>
    private const int MaxThreadHops = 3;

    private readonly IReceiptStore _receipts;
    private readonly PresenceService _presence;
    private readonly IEventStore _events;
    private readonly AccountDataService _accountData;
    private readonly StreamRegistry _streams;
    private readonly TimeProvider _time;
    private readonly UserWriteLocks _locks = new();

    public ReceiptService(IReceiptStore receipts, IEventStore events, AccountDataService accountData, StreamRegistry streams,
        PresenceService presence, TimeProvider time)
    {
        _presence = presence;
        _receipts = receipts;
        _events = events;
        _accountData = accountData;
        _streams = streams;
        _time = time;
    }

    /// <summary>POST /rooms/{roomId}/receipt/{receiptType}/{eventId} with its body (<c>thread_id</c>, optional).</summary>
    public async Task SendReceiptAsync(Requester requester, string roomId, string receiptType, string eventId, JsonElement body,
        CancellationToken cancellationToken)
    {
        RoomService.ValidateRoomId(roomId);
        if (receiptType is not (ReadType or ReadPrivateType or FullyReadType))
        {
            throw MatrixException.InvalidParam($"Receipt type must be {ReadType}, {ReadPrivateType} or {FullyReadType}");
        }

        ValidateEventId(eventId);
        string? threadId = ThreadIdOf(body);
        if (threadId is not null && receiptType == FullyReadType)
        {
            throw MatrixException.InvalidParam($"thread_id is not allowed for {FullyReadType}");
        }

        var targets = await LoadTargetsAsync(requester, roomId, [eventId], cancellationToken).ConfigureAwait(false);
        var target = targets[eventId];
        if (threadId is not null)
        {
            await CheckThreadAsync(target, threadId, cancellationToken).ConfigureAwait(false);
        }

        string userId = requester.UserId.Value;
        using var held = await _locks.AcquireAsync(userId, cancellationToken).ConfigureAwait(false);
        if (receiptType == FullyReadType)
        {
            // Spec: m.fully_read here "effectively calls /read_markers"; it never appears under m.receipt.
            await MoveFullyReadAsync(userId, target, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await MoveReceiptAsync(userId, receiptType, threadId, target, cancellationToken).ConfigureAwait(false);
        }

        await _presence.BumpActiveAsync(requester.UserId, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>POST /rooms/{roomId}/read_markers: <c>m.fully_read</c>, <c>m.read</c>, <c>m.read.private</c>, each optional.</summary>
    public async Task SetReadMarkersAsync(Requester requester, string roomId, JsonElement body, CancellationToken cancellationToken)
    {
        RoomService.ValidateRoomId(roomId);
        string? fullyRead = MarkerOf(body, FullyReadType);
        string? read = MarkerOf(body, ReadType);
        string? readPrivate = MarkerOf(body, ReadPrivateType);
        string[] eventIds = [.. new[] { fullyRead, read, readPrivate }.OfType<string>().Distinct(StringComparer.Ordinal)];

        // Every event is checked before anything is written, so a bad request changes nothing.
        var targets = await LoadTargetsAsync(requester, roomId, eventIds, cancellationToken).ConfigureAwait(false);
        string userId = requester.UserId.Value;
        using var held = await _locks.AcquireAsync(userId, cancellationToken).ConfigureAwait(false);
        if (fullyRead is not null)
        {
            await MoveFullyReadAsync(userId, targets[fullyRead], cancellationToken).ConfigureAwait(false);
        }

        // Spec: these do what /receipt/{type}/{eventId} does; the body carries no thread, so they are unthreaded.
        if (read is not null)
        {
            await MoveReceiptAsync(userId, ReadType, null, targets[read], cancellationToken).ConfigureAwait(false);
        }

        if (readPrivate is not null)
        {
            await MoveReceiptAsync(userId, ReadPrivateType, null, targets[readPrivate], cancellationToken).ConfigureAwait(false);
        }

        await _presence.BumpActiveAsync(requester.UserId, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The stream row of a receipt. A public receipt wakes the room's syncs; a private one only its owner's, since
    /// nobody else may see it (Spec: "Servers MUST NOT send the m.read.private receipt to any other user").
    /// </summary>
    internal static StreamRow Row(ReceiptRecord receipt)
    {
        var data = new JsonObject
        {
            ["room_id"] = receipt.RoomId,
            ["receipt_type"] = receipt.ReceiptType,
            ["user_id"] = receipt.UserId,
            ["event_id"] = receipt.EventId,
            ["data"] = JsonNode.Parse(receipt.Data),
        };
        if (receipt.ThreadId is not null)
        {
            data["thread_id"] = receipt.ThreadId;
        }

        string key = receipt.ReceiptType == ReadPrivateType ? NotifierKey.User(receipt.UserId) : NotifierKey.Room(receipt.RoomId);
        return new StreamRow(data, [key]);
    }

    private async Task MoveReceiptAsync(string userId, string receiptType, string? threadId, StoredEvent target,
        CancellationToken cancellationToken)
    {
        string roomId = target.Pdu.RoomId;
        var existing = await _receipts.GetAsync(roomId, receiptType, userId, threadId, cancellationToken).ConfigureAwait(false);
        if (existing is not null && !await IsAheadAsync(target, existing.EventId, cancellationToken).ConfigureAwait(false))
        {
            return;
        }

        var data = new JsonObject { ["ts"] = _time.GetUtcNow().ToUnixTimeMilliseconds() };
        if (threadId is not null)
        {
            data["thread_id"] = threadId;
        }

        var stream = _streams[StreamNames.Receipts];
        long position = stream.Allocate();
        IReadOnlyList<StreamRow> rows = [];
        try
        {
            var receipt = new ReceiptRecord(roomId, receiptType, userId, threadId, target.Pdu.EventId, data.ToJsonString(), position);
            await _receipts.SetAsync(receipt, cancellationToken).ConfigureAwait(false);
            rows = [Row(receipt)];
        }
        finally
        {
            // Every allocated position is completed, with no rows when the write failed, or the stream would stall.
            stream.Complete(position, rows);
        }
    }

    private async Task MoveFullyReadAsync(string userId, StoredEvent target, CancellationToken cancellationToken)
    {
        string roomId = target.Pdu.RoomId;
        var existing = await _accountData.GetContentAsync(userId, roomId, FullyReadType, cancellationToken).ConfigureAwait(false);
        if (existing?["event_id"] is JsonValue current && current.TryGetValue(out string? currentId)
            && !await IsAheadAsync(target, currentId, cancellationToken).ConfigureAwait(false))
        {
            return;
        }

        await _accountData.WriteAsync(userId, roomId, FullyReadType, new JsonObject { ["event_id"] = target.Pdu.EventId }, cancellationToken)
            .ConfigureAwait(false);
    }

    /// <summary>Whether <paramref name="target"/> comes after the event a marker points at now (an unknown one counts as before).</summary>
    private async Task<bool> IsAheadAsync(StoredEvent target, string currentEventId, CancellationToken cancellationToken)
    {
        if (currentEventId == target.Pdu.EventId)
        {
            return false;
        }

        var current = await _events.GetEventsAsync([currentEventId], cancellationToken).ConfigureAwait(false);
        return current.Count == 0 || current[0].Pdu.RoomId != target.Pdu.RoomId || target.Position > current[0].Position;
    }

    /// <summary>
    /// The events a request points at, each in <paramref name="roomId"/> and visible to the requester, who must be
    /// joined: 403 <c>M_FORBIDDEN</c> otherwise, 404 <c>M_NOT_FOUND</c> for an event that is not there.
    /// </summary>
    private async Task<Dictionary<string, StoredEvent>> LoadTargetsAsync(Requester requester, string roomId,
        string[] eventIds, CancellationToken cancellationToken)
    {
        var visibility = await RoomVisibility.LoadAsync(_events, roomId, requester.UserId.Value, cancellationToken).ConfigureAwait(false);
        if (visibility.CurrentMembership != "join")
        {
            throw MatrixException.Forbidden($"{requester.UserId.Value} is not joined to {roomId}");
        }

        var found = eventIds.Length == 0
            ? []
            : await _events.GetEventsAsync(eventIds, cancellationToken).ConfigureAwait(false);
        var targets = found.Where(e => e.Pdu.RoomId == roomId && visibility.CanSee(e))
            .ToDictionary(e => e.Pdu.EventId, StringComparer.Ordinal);
        foreach (string eventId in eventIds)
        {
            if (!targets.ContainsKey(eventId))
            {
                throw MatrixException.NotFound($"Event {eventId} not found in {roomId}");
            }
        }

        return targets;
    }

    /// <summary>
    /// Spec: 400 when "the event_id is not related to the thread_id". <c>main</c> takes events outside threads (thread
    /// roots included); a root's ID takes the events of that thread, and the root itself.
    /// </summary>
    private async Task CheckThreadAsync(StoredEvent target, string threadId, CancellationToken cancellationToken)
    {
        string thread = await ThreadOfAsync(target.Pdu, cancellationToken).ConfigureAwait(false);
        bool related = threadId == MainThread ? thread == MainThread : thread == threadId || target.Pdu.EventId == threadId;
        if (!related)
        {
            throw MatrixException.InvalidParam($"Event {target.Pdu.EventId} is not in thread {threadId}");
        }
    }

    /// <summary>
    /// The thread an event belongs to: the root of the first <c>m.thread</c> relation found following <c>m.relates_to</c>
    /// (at most <see cref="MaxThreadHops"/> hops), else <c>main</c>.
    /// </summary>
    private async Task<string> ThreadOfAsync(Pdu pdu, CancellationToken cancellationToken)
    {
        var current = pdu;
        for (int hop = 0; hop < MaxThreadHops; hop++)
        {
            if (RelationOf(current) is not { } relation)
            {
                return MainThread;
            }

            var (type, parentId) = relation;
            if (type == RelationTypes.Thread)
            {
                return parentId;
            }

            var parent = await _events.GetEventsAsync([parentId], cancellationToken).ConfigureAwait(false);
            if (parent.Count == 0 || parent[0].Pdu.RoomId != pdu.RoomId)
            {
                return MainThread;
            }

            current = parent[0].Pdu;
        }

        return MainThread;
    }

    private static (string Type, string EventId)? RelationOf(Pdu pdu) =>
        pdu.Content.ValueKind == JsonValueKind.Object
        && pdu.Content.TryGetProperty("m.relates_to", out var relatesTo) && relatesTo.ValueKind == JsonValueKind.Object
        && relatesTo.TryGetProperty("rel_type", out var type) && type.ValueKind == JsonValueKind.String
        && relatesTo.TryGetProperty("event_id", out var target) && target.ValueKind == JsonValueKind.String
            ? (type.GetString()!, target.GetString()!)
            : null;

    /// <summary>Spec: 400 when thread_id "is not a string" or "is empty"; it is <c>main</c> or a thread root's event ID.</summary>
    private static string? ThreadIdOf(JsonElement body)
    {
        if (!body.TryGetProperty("thread_id", out var value))
        {
            return null;
        }

        string? threadId = value.ValueKind == JsonValueKind.String ? value.GetString() : null;
        if (string.IsNullOrEmpty(threadId))
        {
            throw MatrixException.InvalidParam("thread_id field must be a non-empty string");
        }

        if (threadId != MainThread && !threadId.StartsWith('$'))
        {
            throw MatrixException.InvalidParam("thread_id must be 'main' or the event ID of a thread root");
        }

        return threadId;
    }

    private static string? MarkerOf(JsonElement body, string name)
    {
        if (!body.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        string eventId = value.ValueKind == JsonValueKind.String ? value.GetString()! : throw MatrixException.BadJson($"'{name}' must be a string");
        ValidateEventId(eventId);
        return eventId;
    }

    private static void ValidateEventId(string eventId)
    {
        if (eventId.Length is < 2 or > 255 || eventId[0] != '$')
        {
            throw MatrixException.InvalidParam($"Invalid event ID: {eventId}");
        }
    }
}
