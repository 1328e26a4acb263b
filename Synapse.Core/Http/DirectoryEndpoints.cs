using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Primitives;
using Synapse.Json;
using Synapse.Rooms;

namespace Synapse.Http;

/// <summary>Room aliases and the published room directory.</summary>
/// <remarks>
/// The spec gives GET /directory/room/{roomAlias}, GET /directory/list/room/{roomId} and GET /publicRooms no
/// security requirement, so they are served without an access token (and ignore one).
/// </remarks>
internal static class DirectoryEndpoints
{
    public static void Map(RouteGroupBuilder client)
    {
        client.MapPut("/directory/room/{roomAlias}", PutAliasAsync);
        client.MapGet("/directory/room/{roomAlias}", GetAliasAsync);
        client.MapDelete("/directory/room/{roomAlias}", DeleteAliasAsync);
        client.MapGet("/rooms/{roomId}/aliases", GetRoomAliasesAsync);
        client.MapGet("/directory/list/room/{roomId}", GetVisibilityAsync);
        client.MapPut("/directory/list/room/{roomId}", PutVisibilityAsync);
        client.MapGet("/publicRooms", GetPublicRoomsAsync);
        client.MapPost("/publicRooms", PostPublicRoomsAsync);
    }

    /// <summary>PUT /_matrix/client/v3/directory/room/{roomAlias}</summary>
    private static async Task<IResult> PutAliasAsync(HttpContext context, DirectoryService directory, string roomAlias)
    {
        var requester = await context.RequireRequesterAsync().ConfigureAwait(false);
        var body = await context.ReadJsonObjectAsync().ConfigureAwait(false);
        await directory.CreateAliasAsync(requester, Decode(roomAlias), body.RequiredString("room_id"), context.RequestAborted)
            .ConfigureAwait(false);
        return MatrixHttp.Json(new { });
    }

    /// <summary>GET /_matrix/client/v3/directory/room/{roomAlias}</summary>
    private static async Task<IResult> GetAliasAsync(HttpContext context, DirectoryService directory, string roomAlias)
    {
        var resolved = await directory.ResolveAliasAsync(Decode(roomAlias), context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(new { resolved.RoomId, resolved.Servers });
    }

    /// <summary>DELETE /_matrix/client/v3/directory/room/{roomAlias}</summary>
    private static async Task<IResult> DeleteAliasAsync(HttpContext context, DirectoryService directory, string roomAlias)
    {
        var requester = await context.RequireRequesterAsync().ConfigureAwait(false);
        await directory.DeleteAliasAsync(requester, Decode(roomAlias), context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(new { });
    }

    /// <summary>GET /_matrix/client/v3/rooms/{roomId}/aliases</summary>
    private static async Task<IResult> GetRoomAliasesAsync(HttpContext context, DirectoryService directory, string roomId)
    {
        var requester = await context.RequireRequesterAsync(allowGuest: true).ConfigureAwait(false);
        var aliases = await directory.GetLocalAliasesAsync(requester, Decode(roomId), context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(new { Aliases = aliases });
    }

    /// <summary>GET /_matrix/client/v3/directory/list/room/{roomId}</summary>
    private static async Task<IResult> GetVisibilityAsync(HttpContext context, DirectoryService directory, string roomId)
    {
        bool published = await directory.IsPublishedAsync(Decode(roomId), context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(new { Visibility = published ? "public" : "private" });
    }

    /// <summary>PUT /_matrix/client/v3/directory/list/room/{roomId}</summary>
    private static async Task<IResult> PutVisibilityAsync(HttpContext context, DirectoryService directory, string roomId)
    {
        var requester = await context.RequireRequesterAsync().ConfigureAwait(false);
        var body = await context.ReadJsonObjectAsync().ConfigureAwait(false);

        // Spec: "visibility" defaults to public.
        await directory.SetPublishedAsync(requester, Decode(roomId), body.OptionalString("visibility") ?? "public",
            context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(new { });
    }

    /// <summary>GET /_matrix/client/v3/publicRooms</summary>
    private static async Task<IResult> GetPublicRoomsAsync(HttpContext context, DirectoryService directory)
    {
        var query = context.Request.Query;
        var request = PublicRoomsQuery.FromQueryString(NullIfEmpty(query["server"]), NullIfEmpty(query["limit"]), NullIfEmpty(query["since"]));
        return MatrixHttp.Json(await directory.GetPublicRoomsAsync(request, context.RequestAborted).ConfigureAwait(false));
    }

    /// <summary>POST /_matrix/client/v3/publicRooms</summary>
    private static async Task<IResult> PostPublicRoomsAsync(HttpContext context, DirectoryService directory)
    {
        await context.RequireRequesterAsync(allowGuest: true).ConfigureAwait(false);
        var body = await context.ReadJsonObjectAsync().ConfigureAwait(false);
        var request = PublicRoomsQuery.FromBody(NullIfEmpty(context.Request.Query["server"]), body);
        return MatrixHttp.Json(await directory.GetPublicRoomsAsync(request, context.RequestAborted).ConfigureAwait(false));
    }

    /// <summary>Kestrel decodes every escape in a path segment except <c>%2F</c>; finish the job for aliases and IDs.</summary>
    private static string Decode(string value) =>
        value.Contains('%', StringComparison.Ordinal) ? value.Replace("%2F", "/", StringComparison.OrdinalIgnoreCase) : value;

    private static string? NullIfEmpty(StringValues value) =>
        value.Count == 0 || string.IsNullOrEmpty(value[0]) ? null : value[0];
}
