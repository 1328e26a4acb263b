using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Synapse.Sync;

namespace Synapse.Http;

/// <summary>Presence (Spec: Client-Server API, "Presence"). Not for guests, as in Synapse.</summary>
internal static class PresenceEndpoints
{
    public static void Map(RouteGroupBuilder client)
    {
        client.MapGet("/presence/{userId}/status", GetPresenceAsync);
        client.MapPut("/presence/{userId}/status", SetPresenceAsync);
    }

    /// <summary>GET /_matrix/client/v3/presence/{userId}/status</summary>
    private static async Task<IResult> GetPresenceAsync(HttpContext context, PresenceService presence, string userId)
    {
        var requester = await context.RequireRequesterAsync().ConfigureAwait(false);
        return MatrixHttp.Json(await presence.GetPresenceAsync(requester, userId, context.RequestAborted).ConfigureAwait(false));
    }

    /// <summary>PUT /_matrix/client/v3/presence/{userId}/status</summary>
    private static async Task<IResult> SetPresenceAsync(HttpContext context, PresenceService presence, string userId)
    {
        var requester = await context.RequireRequesterAsync().ConfigureAwait(false);
        var body = await context.ReadJsonObjectAsync().ConfigureAwait(false);
        await presence.SetPresenceAsync(requester, userId, body, context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(new { });
    }
}
