using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Synapse.Sync;

namespace Synapse.Http;

/// <summary>Account data, global and per room (Spec: "Client Config"), and room tags (Spec: "Room Tagging").</summary>
internal static class AccountDataEndpoints
{
    public static void Map(RouteGroupBuilder client)
    {
        client.MapPut("/user/{userId}/account_data/{type}", PutGlobalAsync);
        client.MapGet("/user/{userId}/account_data/{type}", GetGlobalAsync);
        client.MapPut("/user/{userId}/rooms/{roomId}/account_data/{type}", PutRoomAsync);
        client.MapGet("/user/{userId}/rooms/{roomId}/account_data/{type}", GetRoomAsync);
        client.MapGet("/user/{userId}/rooms/{roomId}/tags", GetTagsAsync);
        client.MapPut("/user/{userId}/rooms/{roomId}/tags/{tag}", PutTagAsync);
        client.MapDelete("/user/{userId}/rooms/{roomId}/tags/{tag}", DeleteTagAsync);
    }

    /// <summary>PUT /_matrix/client/v3/user/{userId}/account_data/{type}</summary>
    private static async Task<IResult> PutGlobalAsync(HttpContext context, AccountDataService accountData, string userId, string type)
    {
        var requester = await context.RequireRequesterAsync().ConfigureAwait(false);
        var body = await context.ReadJsonObjectAsync().ConfigureAwait(false);
        await accountData.SetAsync(requester, Decode(userId), null, Decode(type), body, context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(new { });
    }

    /// <summary>GET /_matrix/client/v3/user/{userId}/account_data/{type}</summary>
    private static async Task<IResult> GetGlobalAsync(HttpContext context, AccountDataService accountData, string userId, string type)
    {
        var requester = await context.RequireRequesterAsync().ConfigureAwait(false);
        return MatrixHttp.Json(await accountData.GetAsync(requester, Decode(userId), null, Decode(type), context.RequestAborted)
            .ConfigureAwait(false));
    }

    /// <summary>PUT /_matrix/client/v3/user/{userId}/rooms/{roomId}/account_data/{type}</summary>
    private static async Task<IResult> PutRoomAsync(HttpContext context, AccountDataService accountData, string userId, string roomId,
        string type)
    {
        var requester = await context.RequireRequesterAsync().ConfigureAwait(false);
        var body = await context.ReadJsonObjectAsync().ConfigureAwait(false);
        await accountData.SetAsync(requester, Decode(userId), Decode(roomId), Decode(type), body, context.RequestAborted)
            .ConfigureAwait(false);
        return MatrixHttp.Json(new { });
    }

    /// <summary>GET /_matrix/client/v3/user/{userId}/rooms/{roomId}/account_data/{type}</summary>
    private static async Task<IResult> GetRoomAsync(HttpContext context, AccountDataService accountData, string userId, string roomId,
        string type)
    {
        var requester = await context.RequireRequesterAsync().ConfigureAwait(false);
        return MatrixHttp.Json(await accountData.GetAsync(requester, Decode(userId), Decode(roomId), Decode(type), context.RequestAborted)
            .ConfigureAwait(false));
    }

    /// <summary>GET /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags</summary>
    private static async Task<IResult> GetTagsAsync(HttpContext context, AccountDataService accountData, string userId, string roomId)
    {
        var requester = await context.RequireRequesterAsync().ConfigureAwait(false);
        return MatrixHttp.Json(await accountData.GetTagsAsync(requester, Decode(userId), Decode(roomId), context.RequestAborted)
            .ConfigureAwait(false));
    }

    /// <summary>PUT /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags/{tag}</summary>
    private static async Task<IResult> PutTagAsync(HttpContext context, AccountDataService accountData, string userId, string roomId,
        string tag)
    {
        var requester = await context.RequireRequesterAsync().ConfigureAwait(false);
        var body = await context.ReadJsonObjectAsync().ConfigureAwait(false);
        await accountData.SetTagAsync(requester, Decode(userId), Decode(roomId), Decode(tag), body, context.RequestAborted)
            .ConfigureAwait(false);
        return MatrixHttp.Json(new { });
    }

    /// <summary>DELETE /_matrix/client/v3/user/{userId}/rooms/{roomId}/tags/{tag}</summary>
    private static async Task<IResult> DeleteTagAsync(HttpContext context, AccountDataService accountData, string userId, string roomId,
        string tag)
    {
        var requester = await context.RequireRequesterAsync().ConfigureAwait(false);
        await accountData.RemoveTagAsync(requester, Decode(userId), Decode(roomId), Decode(tag), context.RequestAborted)
            .ConfigureAwait(false);
        return MatrixHttp.Json(new { });
    }

    /// <summary>Kestrel decodes every escape in a path segment except <c>%2F</c>; finish the job.</summary>
    private static string Decode(string value) =>
        value.Contains('%', StringComparison.Ordinal) ? value.Replace("%2F", "/", StringComparison.OrdinalIgnoreCase) : value;
}
