using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Synapse.Sync;

namespace Synapse.Http;

/// <summary>Typing notifications (Spec: Client-Server API, "Typing Notifications"). Not for guests, as in Synapse.</summary>
internal static class TypingEndpoints
{
    public static void Map(RouteGroupBuilder client) => client.MapPut("/rooms/{roomId}/typing/{userId}", SetTypingAsync);

    /// <summary>PUT /_matrix/client/v3/rooms/{roomId}/typing/{userId}</summary>
    private static async Task<IResult> SetTypingAsync(HttpContext context, TypingService typing, string roomId, string userId)
    {
        var requester = await context.RequireRequesterAsync().ConfigureAwait(false);
        var body = await context.ReadJsonObjectAsync().ConfigureAwait(false);
        await typing.SetTypingAsync(requester, roomId, userId, body, context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(new { });
    }
}
