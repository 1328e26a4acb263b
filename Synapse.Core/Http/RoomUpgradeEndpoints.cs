using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Synapse.Json;
using Synapse.Rooms;

namespace Synapse.Http;

/// <summary>Room upgrades.</summary>
internal static class RoomUpgradeEndpoints
{
    public static void Map(RouteGroupBuilder client)
    {
        client.MapPost("/rooms/{roomId}/upgrade", UpgradeAsync);
    }

    /// <summary>POST /_matrix/client/v3/rooms/{roomId}/upgrade</summary>
    private static async Task<IResult> UpgradeAsync(HttpContext context, RoomUpgradeService upgrades, string roomId)
    {
        var requester = await context.RequireRequesterAsync().ConfigureAwait(false);
        var body = await context.ReadJsonObjectAsync().ConfigureAwait(false);

        // additional_creators (v1.16) only applies to room versions with additional creators (12+), which this
        // server does not offer; the spec says it is ignored otherwise.
        string newVersion = body.RequiredString("new_version");
        string replacement = await upgrades.UpgradeAsync(requester, roomId, newVersion, context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(new { ReplacementRoom = replacement });
    }
}
