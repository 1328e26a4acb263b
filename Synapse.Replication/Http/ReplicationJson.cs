using System.Text.Json;
using System.Text.Json.Nodes;
using Synapse.Accounts;
using Synapse.Events;
using Synapse.Identifiers;
using Synapse.Json;
using Synapse.Replication.Protocol;
using Synapse.RoomVersions;
using Synapse.Rooms;
using Synapse.Storage;
using Synapse.Streams;

namespace Synapse.Replication.Http;

/// <summary>
/// The JSON shapes both ends of HTTP replication agree on: requesters, event drafts, written events, stream updates
/// and the stream positions a response carries for read-after-write.
/// </summary>
internal static class ReplicationJson
{
    /// <summary>The response key holding the writer's stream positions (<c>{"events": 123}</c>).</summary>
    public const string PositionsKey = "stream_positions";

    public static JsonObject Requester(Requester requester) => new()
    {
        ["user_id"] = requester.UserId.Value,
        ["device_id"] = requester.DeviceId.Value,
        ["token_id"] = requester.TokenId,
        ["is_guest"] = requester.IsGuest,
    };

    public static Requester ReadRequester(JsonElement body)
    {
        if (!body.TryGetProperty("requester", out var requester) || requester.ValueKind != JsonValueKind.Object)
        {
            throw MatrixException.MissingParam("requester");
        }

        return new Requester(
            UserId.TryParse(String(requester, "user_id"), out var user) ? user : throw MatrixException.InvalidParam("requester.user_id"),
            DeviceId.TryParse(String(requester, "device_id"), out var device) ? device : throw MatrixException.InvalidParam("requester.device_id"),
            requester.TryGetProperty("token_id", out var token) && token.TryGetInt64(out long tokenId) ? tokenId : 0,
            requester.TryGetProperty("is_guest", out var guest) && guest.ValueKind == JsonValueKind.True);
    }

    /// <summary>The body of <c>register_user</c>: everything of the new user but its ID (in the path).</summary>
    public static JsonObject NewUser(Storage.NewUser user) => new()
    {
        ["password_hash"] = user.PasswordHash,
        ["admin"] = user.IsAdmin,
        ["guest"] = user.IsGuest,
        ["user_type"] = user.UserType,
        ["displayname"] = user.DisplayName,
        ["created_ts"] = user.CreatedTs,
    };

    public static Storage.NewUser ReadNewUser(UserId userId, JsonElement body, string creationTxn) => new(
        userId,
        body.OptionalString("password_hash"),
        body.OptionalBool("admin") ?? false,
        body.OptionalBool("guest") ?? false,
        body.OptionalString("user_type"),
        body.OptionalString("displayname"),
        body.TryGetProperty("created_ts", out var ts) && ts.TryGetInt64(out long created)
            ? created
            : throw MatrixException.MissingParam("created_ts"),
        creationTxn);

    public static JsonObject Draft(EventDraft draft)
    {
        var json = new JsonObject
        {
            ["room_id"] = draft.RoomId,
            ["type"] = draft.Type,
            ["sender"] = draft.Sender,
            ["content"] = draft.Content.DeepClone(),
        };
        if (draft.StateKey is not null)
        {
            json["state_key"] = draft.StateKey;
        }

        if (draft.Transaction is { } txn)
        {
            json["transaction"] = new JsonObject { ["user_id"] = txn.UserId, ["device_id"] = txn.DeviceId, ["txn_id"] = txn.TxnId };
        }

        if (draft.Redacts is not null)
        {
            json["redacts"] = draft.Redacts;
        }

        if (draft.NewRoomVersion is { } version)
        {
            json["new_room_version"] = version.Identifier;
            json["new_room_is_public"] = draft.NewRoomIsPublic;
        }

        return json;
    }

    public static EventDraft ReadDraft(JsonElement json)
    {
        if (json.ValueKind != JsonValueKind.Object
            || !json.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.Object)
        {
            throw MatrixException.BadJson("A draft must be an object with a content object");
        }

        TransactionKey? transaction = null;
        if (json.TryGetProperty("transaction", out var txn) && txn.ValueKind == JsonValueKind.Object)
        {
            transaction = new TransactionKey(Required(txn, "user_id"), Required(txn, "device_id"), Required(txn, "txn_id"));
        }

        RoomVersion? version = null;
        if (String(json, "new_room_version") is { } identifier)
        {
            version = KnownRoomVersions.Find(identifier)
                ?? throw new MatrixException(System.Net.HttpStatusCode.BadRequest, "M_UNSUPPORTED_ROOM_VERSION",
                    $"Unknown room version {identifier}");
        }

        return new EventDraft(Required(json, "room_id"), Required(json, "type"), String(json, "state_key"), Required(json, "sender"),
            JsonObject.Create(content.Clone())!)
        {
            Transaction = transaction,
            Redacts = String(json, "redacts"),
            NewRoomVersion = version,
            NewRoomIsPublic = json.TryGetProperty("new_room_is_public", out var isPublic) && isPublic.ValueKind == JsonValueKind.True,
        };
    }

    public static JsonObject WrittenEvent(Pdu pdu) => new()
    {
        ["event_id"] = pdu.EventId,
        ["room_version"] = pdu.RoomVersion.Identifier,
        ["pdu"] = JsonNode.Parse(pdu.Json.GetRawText()),
    };

    public static Pdu ReadWrittenEvent(JsonElement json)
    {
        var version = KnownRoomVersions.Find(String(json, "room_version"))
            ?? throw new ReplicationProtocolException("A written event names no known room version.");
        if (!json.TryGetProperty("pdu", out var pdu) || pdu.ValueKind != JsonValueKind.Object)
        {
            throw new ReplicationProtocolException("A written event has no PDU.");
        }

        return Pdu.Create(pdu.Clone(), version, String(json, "event_id")
            ?? throw new ReplicationProtocolException("A written event has no event ID."));
    }

    public static JsonObject Positions(IEnumerable<StreamIdGenerator> written)
    {
        var positions = new JsonObject();
        foreach (var stream in written)
        {
            positions[stream.Stream] = stream.LastAllocated;
        }

        return positions;
    }

    public static JsonArray Updates(IReadOnlyList<StreamUpdate> updates)
    {
        var array = new JsonArray();
        foreach (var update in updates)
        {
            var rows = new JsonArray();
            foreach (var row in update.Rows)
            {
                rows.Add(new JsonObject { ["data"] = row.Data.DeepClone(), ["notify"] = new JsonArray([.. row.NotifierKeys.Select(k => JsonValue.Create(k))]) });
            }

            array.Add(new JsonArray(update.Position, rows));
        }

        return array;
    }

    public static List<StreamUpdate> ReadUpdates(string stream, JsonElement json)
    {
        if (!json.TryGetProperty("updates", out var updates) || updates.ValueKind != JsonValueKind.Array)
        {
            throw new ReplicationProtocolException("A stream updates response has no updates array.");
        }

        var result = new List<StreamUpdate>(updates.GetArrayLength());
        foreach (var update in updates.EnumerateArray())
        {
            if (update.ValueKind != JsonValueKind.Array || update.GetArrayLength() != 2
                || !update[0].TryGetInt64(out long position) || update[1].ValueKind != JsonValueKind.Array)
            {
                throw new ReplicationProtocolException("A stream update must be [position, [rows]].");
            }

            var rows = new List<StreamRow>(update[1].GetArrayLength());
            foreach (var row in update[1].EnumerateArray())
            {
                rows.Add(Protocol.StreamRowCodec.Read(System.Text.Encoding.UTF8.GetBytes(row.GetRawText())));
            }

            result.Add(new StreamUpdate(stream, position, rows));
        }

        return result;
    }

    public static string? String(JsonElement json, string name) =>
        json.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static string Required(JsonElement json, string name) => String(json, name) ?? throw MatrixException.MissingParam(name);
}
