using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Synapse.Identifiers;
using Synapse.Json;
using Synapse.Rooms;
using Synapse.Storage;

namespace Synapse.Http;

/// <summary>Rooms: creation, membership, sending, state, history.</summary>
internal static class RoomEndpoints
{
    public static void Map(RouteGroupBuilder client)
    {
        client.MapPost("/createRoom", CreateRoomAsync);
        client.MapPost("/join/{roomIdOrAlias}", JoinByIdOrAliasAsync);
        client.MapPost("/knock/{roomIdOrAlias}", KnockAsync);
        client.MapPost("/rooms/{roomId}/join", JoinAsync);
        client.MapPost("/rooms/{roomId}/invite", (HttpContext c, RoomService rooms, string roomId) => TargetedMembershipAsync(c, rooms, roomId, "invite"));
        client.MapPost("/rooms/{roomId}/kick", (HttpContext c, RoomService rooms, string roomId) => TargetedMembershipAsync(c, rooms, roomId, "leave"));
        client.MapPost("/rooms/{roomId}/ban", (HttpContext c, RoomService rooms, string roomId) => TargetedMembershipAsync(c, rooms, roomId, "ban"));
        client.MapPost("/rooms/{roomId}/unban", UnbanAsync);
        client.MapPost("/rooms/{roomId}/leave", LeaveAsync);
        client.MapPost("/rooms/{roomId}/forget", ForgetAsync);
        client.MapPut("/rooms/{roomId}/send/{eventType}/{txnId}", SendAsync);
        client.MapPut("/rooms/{roomId}/state/{eventType}", (HttpContext c, RoomService rooms, string roomId, string eventType) => PutStateAsync(c, rooms, roomId, eventType, ""));
        client.MapPut("/rooms/{roomId}/state/{eventType}/{stateKey}", PutStateAsync);
        client.MapGet("/rooms/{roomId}/state", GetStateAsync);
        client.MapGet("/rooms/{roomId}/state/{eventType}", (HttpContext c, RoomQueryService q, ClientEventFormatter f, string roomId, string eventType) => GetStateEventAsync(c, q, f, roomId, eventType, ""));
        client.MapGet("/rooms/{roomId}/state/{eventType}/{stateKey}", GetStateEventAsync);
        client.MapGet("/rooms/{roomId}/members", GetMembersAsync);
        client.MapGet("/rooms/{roomId}/joined_members", GetJoinedMembersAsync);
        client.MapGet("/joined_rooms", GetJoinedRoomsAsync);
        client.MapGet("/rooms/{roomId}/messages", GetMessagesAsync);
        client.MapGet("/rooms/{roomId}/context/{eventId}", GetContextAsync);
        client.MapGet("/rooms/{roomId}/event/{eventId}", GetEventAsync);
        client.MapPut("/rooms/{roomId}/redact/{eventId}/{txnId}", RedactAsync);
    }

    /// <summary>Kestrel decodes every escape in a path segment except <c>%2F</c>; finish the job for IDs and keys.</summary>
    private static string Decode(string value) =>
        value.Contains('%', StringComparison.Ordinal) ? value.Replace("%2F", "/", StringComparison.OrdinalIgnoreCase) : value;

    /// <summary>POST /_matrix/client/v3/createRoom</summary>
    private static async Task<IResult> CreateRoomAsync(HttpContext context, RoomService rooms)
    {
        var requester = await context.RequireRequesterAsync().ConfigureAwait(false);
        var body = await context.ReadJsonObjectAsync(allowEmpty: true).ConfigureAwait(false);
        string roomId = await rooms.CreateRoomAsync(requester, body, context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(new { RoomId = roomId });
    }

    /// <summary>POST /_matrix/client/v3/join/{roomIdOrAlias}</summary>
    private static async Task<IResult> JoinByIdOrAliasAsync(HttpContext context, RoomService rooms, string roomIdOrAlias)
    {
        var requester = await context.RequireRequesterAsync(allowGuest: true).ConfigureAwait(false);
        var body = await context.ReadJsonObjectAsync(allowEmpty: true).ConfigureAwait(false);
        string roomId = await rooms.ResolveRoomAsync(Decode(roomIdOrAlias), context.RequestAborted).ConfigureAwait(false);
        await rooms.ChangeMembershipAsync(requester, roomId, "join", requester.UserId, body.OptionalString("reason"),
            context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(new { RoomId = roomId });
    }

    /// <summary>POST /_matrix/client/v3/rooms/{roomId}/join</summary>
    private static Task<IResult> JoinAsync(HttpContext context, RoomService rooms, string roomId) =>
        JoinByIdOrAliasAsync(context, rooms, roomId);

    /// <summary>POST /_matrix/client/v3/knock/{roomIdOrAlias}</summary>
    private static async Task<IResult> KnockAsync(HttpContext context, RoomService rooms, string roomIdOrAlias)
    {
        var requester = await context.RequireRequesterAsync().ConfigureAwait(false);
        var body = await context.ReadJsonObjectAsync(allowEmpty: true).ConfigureAwait(false);
        string roomId = await rooms.ResolveRoomAsync(Decode(roomIdOrAlias), context.RequestAborted).ConfigureAwait(false);
        await rooms.ChangeMembershipAsync(requester, roomId, "knock", requester.UserId, body.OptionalString("reason"),
            context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(new { RoomId = roomId });
    }

    /// <summary>POST /_matrix/client/v3/rooms/{roomId}/invite, /kick, /ban</summary>
    private static async Task<IResult> TargetedMembershipAsync(HttpContext context, RoomService rooms, string roomId, string membership)
    {
        var requester = await context.RequireRequesterAsync().ConfigureAwait(false);
        var body = await context.ReadJsonObjectAsync().ConfigureAwait(false);
        var target = ReadUserId(body);
        await rooms.ChangeMembershipAsync(requester, Decode(roomId), membership, target, body.OptionalString("reason"),
            context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(new { });
    }

    /// <summary>POST /_matrix/client/v3/rooms/{roomId}/unban</summary>
    private static async Task<IResult> UnbanAsync(HttpContext context, RoomService rooms, string roomId)
    {
        var requester = await context.RequireRequesterAsync().ConfigureAwait(false);
        var body = await context.ReadJsonObjectAsync().ConfigureAwait(false);
        await rooms.UnbanAsync(requester, Decode(roomId), ReadUserId(body), body.OptionalString("reason"), context.RequestAborted)
            .ConfigureAwait(false);
        return MatrixHttp.Json(new { });
    }

    /// <summary>POST /_matrix/client/v3/rooms/{roomId}/leave</summary>
    private static async Task<IResult> LeaveAsync(HttpContext context, RoomService rooms, string roomId)
    {
        var requester = await context.RequireRequesterAsync(allowGuest: true).ConfigureAwait(false);
        var body = await context.ReadJsonObjectAsync(allowEmpty: true).ConfigureAwait(false);
        await rooms.ChangeMembershipAsync(requester, Decode(roomId), "leave", requester.UserId, body.OptionalString("reason"),
            context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(new { });
    }

    /// <summary>POST /_matrix/client/v3/rooms/{roomId}/forget</summary>
    private static async Task<IResult> ForgetAsync(HttpContext context, RoomService rooms, string roomId)
    {
        var requester = await context.RequireRequesterAsync(allowGuest: true).ConfigureAwait(false);
        await rooms.ForgetAsync(requester, Decode(roomId), context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(new { });
    }

    /// <summary>PUT /_matrix/client/v3/rooms/{roomId}/send/{eventType}/{txnId}</summary>
    private static async Task<IResult> SendAsync(HttpContext context, RoomService rooms, string roomId, string eventType, string txnId)
    {
        var requester = await context.RequireRequesterAsync(allowGuest: true).ConfigureAwait(false);
        var body = await context.ReadJsonObjectAsync().ConfigureAwait(false);
        string eventId = await rooms.SendMessageAsync(requester, Decode(roomId), Decode(eventType), Decode(txnId), body,
            context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(new { EventId = eventId });
    }

    /// <summary>PUT /_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}</summary>
    private static async Task<IResult> PutStateAsync(HttpContext context, RoomService rooms, string roomId, string eventType, string stateKey)
    {
        var requester = await context.RequireRequesterAsync().ConfigureAwait(false);
        var body = await context.ReadJsonObjectAsync().ConfigureAwait(false);
        string eventId = await rooms.SendStateAsync(requester, Decode(roomId), Decode(eventType), Decode(stateKey), body,
            context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(new { EventId = eventId });
    }

    /// <summary>GET /_matrix/client/v3/rooms/{roomId}/state</summary>
    private static async Task<IResult> GetStateAsync(HttpContext context, RoomQueryService queries, ClientEventFormatter formatter, string roomId)
    {
        var requester = await context.RequireRequesterAsync(allowGuest: true).ConfigureAwait(false);
        var state = await queries.GetStateAsync(requester, Decode(roomId), context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(await formatter.FormatAsync(state, requester, context.RequestAborted).ConfigureAwait(false));
    }

    /// <summary>GET /_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}</summary>
    private static async Task<IResult> GetStateEventAsync(HttpContext context, RoomQueryService queries, ClientEventFormatter formatter,
        string roomId, string eventType, string stateKey)
    {
        var requester = await context.RequireRequesterAsync(allowGuest: true).ConfigureAwait(false);
        var stored = await queries.GetStateEventAsync(requester, Decode(roomId), Decode(eventType), Decode(stateKey),
            context.RequestAborted).ConfigureAwait(false);
        var formatted = (await formatter.FormatAsync([stored], requester, context.RequestAborted).ConfigureAwait(false))[0];
        return MatrixHttp.Json(context.Request.Query["format"] == "event" ? formatted : formatted["content"]!);
    }

    /// <summary>GET /_matrix/client/v3/rooms/{roomId}/members</summary>
    private static async Task<IResult> GetMembersAsync(HttpContext context, RoomQueryService queries, ClientEventFormatter formatter, string roomId)
    {
        var requester = await context.RequireRequesterAsync(allowGuest: true).ConfigureAwait(false);
        var query = context.Request.Query;
        string? membership = Membership(query["membership"]);
        string? notMembership = Membership(query["not_membership"]);
        var members = await queries.GetMembersAsync(requester, Decode(roomId), NullIfEmpty(query["at"]), membership, notMembership,
            context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(new { Chunk = await formatter.FormatAsync(members, requester, context.RequestAborted).ConfigureAwait(false) });
    }

    /// <summary>GET /_matrix/client/v3/rooms/{roomId}/joined_members</summary>
    private static async Task<IResult> GetJoinedMembersAsync(HttpContext context, RoomQueryService queries, string roomId)
    {
        var requester = await context.RequireRequesterAsync(allowGuest: true).ConfigureAwait(false);
        var members = await queries.GetJoinedMembersAsync(requester, Decode(roomId), context.RequestAborted).ConfigureAwait(false);
        var joined = new JsonObject();
        foreach (var member in members)
        {
            var entry = new JsonObject();
            if (member.Pdu.ContentString("displayname") is { } name)
            {
                entry["display_name"] = name;
            }

            if (member.Pdu.ContentString("avatar_url") is { } avatar)
            {
                entry["avatar_url"] = avatar;
            }

            joined[member.Pdu.StateKey!] = entry;
        }

        return MatrixHttp.Json(new { Joined = joined });
    }

    /// <summary>GET /_matrix/client/v3/joined_rooms</summary>
    private static async Task<IResult> GetJoinedRoomsAsync(HttpContext context, RoomQueryService queries)
    {
        var requester = await context.RequireRequesterAsync(allowGuest: true).ConfigureAwait(false);
        return MatrixHttp.Json(new { JoinedRooms = await queries.GetJoinedRoomsAsync(requester, context.RequestAborted).ConfigureAwait(false) });
    }

    /// <summary>GET /_matrix/client/v3/rooms/{roomId}/messages</summary>
    private static async Task<IResult> GetMessagesAsync(HttpContext context, RoomQueryService queries, string roomId)
    {
        var requester = await context.RequireRequesterAsync(allowGuest: true).ConfigureAwait(false);
        var query = context.Request.Query;
        string dir = query["dir"].ToString() is { Length: > 0 } d ? d : "b";
        if (dir is not ("b" or "f"))
        {
            throw MatrixException.InvalidParam("'dir' must be 'b' or 'f'");
        }

        int limit = ParseLimit(query["limit"], 10);
        var page = await queries.GetMessagesAsync(requester, Decode(roomId), NullIfEmpty(query["from"]), NullIfEmpty(query["to"]),
            dir == "b", limit, RoomEventFilter.Parse(NullIfEmpty(query["filter"])), context.RequestAborted).ConfigureAwait(false);
        var body = new JsonObject
        {
            ["chunk"] = new JsonArray([.. page.Chunk]),
            ["start"] = page.Start,
        };
        if (page.End is not null)
        {
            body["end"] = page.End;
        }

        if (page.State.Count > 0)
        {
            body["state"] = new JsonArray([.. page.State]);
        }

        return MatrixHttp.Json(body);
    }

    /// <summary>GET /_matrix/client/v3/rooms/{roomId}/context/{eventId}</summary>
    private static async Task<IResult> GetContextAsync(HttpContext context, RoomQueryService queries, string roomId, string eventId)
    {
        var requester = await context.RequireRequesterAsync(allowGuest: true).ConfigureAwait(false);
        var query = context.Request.Query;
        var result = await queries.GetContextAsync(requester, Decode(roomId), Decode(eventId), ParseLimit(query["limit"], 10),
            RoomEventFilter.Parse(NullIfEmpty(query["filter"])), context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(new JsonObject
        {
            ["event"] = result.Event,
            ["events_before"] = new JsonArray([.. result.Before]),
            ["events_after"] = new JsonArray([.. result.After]),
            ["state"] = new JsonArray([.. result.State]),
            ["start"] = result.Start,
            ["end"] = result.End,
        });
    }

    /// <summary>GET /_matrix/client/v3/rooms/{roomId}/event/{eventId}</summary>
    private static async Task<IResult> GetEventAsync(HttpContext context, RoomQueryService queries, ClientEventFormatter formatter,
        string roomId, string eventId)
    {
        var requester = await context.RequireRequesterAsync(allowGuest: true).ConfigureAwait(false);
        var stored = await queries.GetEventAsync(requester, Decode(roomId), Decode(eventId), context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json((await formatter.FormatAsync([stored], requester, context.RequestAborted).ConfigureAwait(false))[0]);
    }

    /// <summary>PUT /_matrix/client/v3/rooms/{roomId}/redact/{eventId}/{txnId}</summary>
    private static async Task<IResult> RedactAsync(HttpContext context, RoomService rooms, string roomId, string eventId, string txnId)
    {
        var requester = await context.RequireRequesterAsync().ConfigureAwait(false);
        var body = await context.ReadJsonObjectAsync(allowEmpty: true).ConfigureAwait(false);
        string redactionId = await rooms.RedactAsync(requester, Decode(roomId), Decode(eventId), Decode(txnId),
            body.OptionalString("reason"), context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(new { EventId = redactionId });
    }

    private static UserId ReadUserId(System.Text.Json.JsonElement body)
    {
        string userId = body.RequiredString("user_id");
        return UserId.TryParse(userId, out var id) ? id : throw MatrixException.InvalidParam($"Invalid user ID {userId}");
    }

    private static string? Membership(Microsoft.Extensions.Primitives.StringValues value)
    {
        string? text = NullIfEmpty(value);
        return text is null or "join" or "invite" or "knock" or "leave" or "ban"
            ? text
            : throw MatrixException.InvalidParam($"Unknown membership '{text}'");
    }

    private static int ParseLimit(Microsoft.Extensions.Primitives.StringValues value, int fallback)
    {
        string? text = NullIfEmpty(value);
        if (text is null)
        {
            return fallback;
        }

        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int limit)
            ? Math.Min(limit, RoomQueryService.MaxPageSize)
            : throw MatrixException.InvalidParam("'limit' must be a non-negative integer");
    }

    private static string? NullIfEmpty(Microsoft.Extensions.Primitives.StringValues value) =>
        value.Count == 0 || string.IsNullOrEmpty(value[0]) ? null : value[0];
}
