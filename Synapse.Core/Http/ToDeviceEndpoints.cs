using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Synapse.Sync;

namespace Synapse.Http;

/// <summary>Send-to-device messaging.</summary>
internal static class ToDeviceEndpoints
{
    public static void Map(RouteGroupBuilder client) => client.MapPut("/sendToDevice/{eventType}/{txnId}", SendAsync);

    /// <summary>PUT /_matrix/client/v3/sendToDevice/{eventType}/{txnId}</summary>
    private static async Task<IResult> SendAsync(HttpContext context, string eventType, string txnId, ToDeviceService toDevice)
    {
        // Spec: guests may send to-device messages ("Guest Access", client behaviour).
        var requester = await context.RequireRequesterAsync(allowGuest: true).ConfigureAwait(false);
        var body = await context.ReadJsonObjectAsync().ConfigureAwait(false);
        await toDevice.SendAsync(requester, eventType, txnId, body, context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(new { });
    }
}
