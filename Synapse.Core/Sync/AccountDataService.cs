using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Synapse.Accounts;
using Synapse.Rooms;
using Synapse.Storage;
using Synapse.Streams;

namespace Synapse.Sync;

/// <summary>
/// Account data (Spec: Client-Server API, "Client Config") and room tags ("Room Tagging"), which live in the room
/// account data type <c>m.tag</c>. Every write advances the <c>account_data</c> stream and wakes the owner's syncs.
/// </summary>
internal sealed class AccountDataService
{
    public const string FullyReadType = "m.fully_read";
    public const string PushRulesType = "m.push_rules";
    public const string TagType = "m.tag";

    private readonly IAccountDataStore _store;
    private readonly StreamRegistry _streams;
    private readonly UserWriteLocks _tagLocks = new();

    public AccountDataService(IAccountDataStore store, StreamRegistry streams)
    {
        _store = store;
        _streams = streams;
    }

    /// <summary>GET /user/{userId}/account_data/{type} and /user/{userId}/rooms/{roomId}/account_data/{type}; <paramref name="roomId"/> null for global data.</summary>
    public async Task<JsonObject> GetAsync(Requester requester, string userId, string? roomId, string type, CancellationToken cancellationToken)
    {
        RequireSelf(requester, userId, "get");
        ValidateRoomAndType(roomId, type);
        return await GetContentAsync(userId, roomId, type, cancellationToken).ConfigureAwait(false)
            ?? throw MatrixException.NotFound(roomId is null ? "Account data not found" : "Room account data not found");
    }

    /// <summary>PUT /user/{userId}/account_data/{type} and /user/{userId}/rooms/{roomId}/account_data/{type}.</summary>
    public async Task SetAsync(Requester requester, string userId, string? roomId, string type, JsonElement content,
        CancellationToken cancellationToken)
    {
        RequireSelf(requester, userId, "add");
        ValidateRoomAndType(roomId, type);

        // Spec: "Servers MUST reject setting account data for event types that the server manages by using a 405
        // error response" (m.fully_read, and m.push_rules since v1.10), with M_BAD_JSON.
        if (type is FullyReadType or PushRulesType)
        {
            throw new MatrixException(HttpStatusCode.MethodNotAllowed, ErrorCodes.BadJson, $"Cannot set {type} through this API.");
        }

        await WriteAsync(userId, roomId, type, RoomService.ToObject(content), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>GET /user/{userId}/rooms/{roomId}/tags: <c>{"tags": {...}}</c>, empty when the room has none.</summary>
    public async Task<JsonObject> GetTagsAsync(Requester requester, string userId, string roomId, CancellationToken cancellationToken)
    {
        RequireSelf(requester, userId, "get tags");
        RoomService.ValidateRoomId(roomId);
        var content = await GetContentAsync(userId, roomId, TagType, cancellationToken).ConfigureAwait(false);
        return new JsonObject { ["tags"] = TagsOf(content) };
    }

    /// <summary>PUT /user/{userId}/rooms/{roomId}/tags/{tag}: adds or replaces one tag (body: <c>{"order": 0..1}</c>, optional).</summary>
    public async Task SetTagAsync(Requester requester, string userId, string roomId, string tag, JsonElement body,
        CancellationToken cancellationToken)
    {
        RequireSelf(requester, userId, "add tags");
        RoomService.ValidateRoomId(roomId);
        ValidateTag(tag);
        var tagContent = RoomService.ToObject(body);
        if (tagContent["order"] is { } order)
        {
            // Spec: "order" is a number in the range [0,1].
            if (order.GetValueKind() != JsonValueKind.Number)
            {
                throw MatrixException.BadJson("'order' must be a number");
            }

            if (!order.AsValue().TryGetValue(out double value) || value is < 0 or > 1)
            {
                throw MatrixException.InvalidParam("'order' must be between 0 and 1");
            }
        }

        await UpdateTagsAsync(userId, roomId, tags =>
        {
            tags[tag] = tagContent;
            return true;
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>DELETE /user/{userId}/rooms/{roomId}/tags/{tag}: removing a tag the room does not have is a no-op.</summary>
    public async Task RemoveTagAsync(Requester requester, string userId, string roomId, string tag, CancellationToken cancellationToken)
    {
        RequireSelf(requester, userId, "remove tags");
        RoomService.ValidateRoomId(roomId);
        ValidateTag(tag);
        await UpdateTagsAsync(userId, roomId, tags => tags.Remove(tag), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The content of one entry, or null. For services that read server-managed types (m.fully_read).</summary>
    internal async Task<JsonObject?> GetContentAsync(string userId, string? roomId, string type, CancellationToken cancellationToken)
    {
        string? content = await _store.GetAsync(userId, roomId, type, cancellationToken).ConfigureAwait(false);
        return content is null ? null : JsonNode.Parse(content) as JsonObject;
    }

    /// <summary>
    /// Stores an entry without the client-facing checks (the read markers API writes m.fully_read through here) and
    /// publishes it on the <c>account_data</c> stream.
    /// </summary>
    internal async Task WriteAsync(string userId, string? roomId, string type, JsonObject content, CancellationToken cancellationToken)
    {
        var stream = _streams[StreamNames.AccountData];
        long position = stream.Allocate();
        IReadOnlyList<StreamRow> rows = [];
        try
        {
            await _store.SetAsync(userId, roomId, type, content.ToJsonString(), position, cancellationToken).ConfigureAwait(false);
            rows = [Row(userId, roomId, type)];
        }
        finally
        {
            // Every allocated position is completed, with no rows when the write failed, or the stream would stall.
            stream.Complete(position, rows);
        }
    }

    /// <summary>The stream row of a write: who, where, which type; it wakes only the owner's syncs.</summary>
    internal static StreamRow Row(string userId, string? roomId, string type)
    {
        var data = new JsonObject { ["user_id"] = userId, ["type"] = type };
        if (roomId is not null)
        {
            data["room_id"] = roomId;
        }

        return new StreamRow(data, [NotifierKey.User(userId)]);
    }

    private async Task UpdateTagsAsync(string userId, string roomId, Func<JsonObject, bool> change, CancellationToken cancellationToken)
    {
        // m.tag holds every tag of the room; concurrent tag changes must not lose each other's update.
        using var held = await _tagLocks.AcquireAsync(userId, cancellationToken).ConfigureAwait(false);
        var content = await GetContentAsync(userId, roomId, TagType, cancellationToken).ConfigureAwait(false) ?? [];
        var tags = TagsOf(content);
        if (!change(tags))
        {
            return;
        }

        content["tags"] = tags;
        await WriteAsync(userId, roomId, TagType, content, cancellationToken).ConfigureAwait(false);
    }

    private static JsonObject TagsOf(JsonObject? content) =>
        content?["tags"] is JsonObject tags ? (JsonObject)tags.DeepClone() : [];

    private static void RequireSelf(Requester requester, string userId, string action)
    {
        if (requester.UserId.Value != userId)
        {
            throw MatrixException.Forbidden($"Cannot {action} for other users.");
        }
    }

    private static void ValidateRoomAndType(string? roomId, string type)
    {
        if (roomId is not null)
        {
            RoomService.ValidateRoomId(roomId);
        }

        if (type.Length == 0 || Encoding.UTF8.GetByteCount(type) > 255)
        {
            throw MatrixException.InvalidParam("Account data type must be 1-255 bytes");
        }
    }

    private static void ValidateTag(string tag)
    {
        // Spec: "The name of a tag MUST NOT exceed 255 bytes."
        if (tag.Length == 0 || Encoding.UTF8.GetByteCount(tag) > 255)
        {
            throw MatrixException.InvalidParam("Tag names must be 1-255 bytes");
        }
    }
}
