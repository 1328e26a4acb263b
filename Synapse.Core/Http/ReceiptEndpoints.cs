using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Synapse.Sync;

namespace Synapse.Http;

/// <summary>Receipts (Spec: "Receipts") and the read markers API (Spec: "Read and unread markers").</summary>
internal static class ReceiptEndpoints
{
    public static void Map(RouteGroupBuilder client)
    {
        client.MapPost("/rooms/{roomId}/receipt/{receiptType}/{eventId}", PostReceiptAsync);
        client.MapPost("/rooms/{roomId}/read_markers", PostReadMarkersAsync);
    }

    /// <summary>POST /_matrix/client/v3/rooms/{roomId}/receipt/{receiptType}/{eventId}</summary>
    private static async Task<IResult> PostReceiptAsync(HttpContext context, ReceiptService receipts, string roomId, string receiptType,
        string eventId)
    {
        var requester = await context.RequireRequesterAsync().ConfigureAwait(false);

        // The spec marks the body required, but clients long sent none for an unthreaded receipt.
        var body = await context.ReadJsonObjectAsync(allowEmpty: true).ConfigureAwait(false);
        await receipts.SendReceiptAsync(requester, Decode(roomId), Decode(receiptType), Decode(eventId), body, context.RequestAborted)
            .ConfigureAwait(false);
        return MatrixHttp.Json(new { });
    }

    /// <summary>POST /_matrix/client/v3/rooms/{roomId}/read_markers</summary>
    private static async Task<IResult> PostReadMarkersAsync(HttpContext context, ReceiptService receipts, string roomId)
    {
        var requester = await context.RequireRequesterAsync().ConfigureAwait(false);
        var body = await context.ReadJsonObjectAsync().ConfigureAwait(false);
        await receipts.SetReadMarkersAsync(requester, Decode(roomId), body, context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(new { });
    }

    /// <summary>Kestrel decodes every escape in a path segment except <c>%2F</c>; event IDs of room versions 1-2 may hold a '/'.</summary>
    private static string Decode(string value) =>
        value.Contains('%', StringComparison.Ordinal) ? value.Replace("%2F", "/", StringComparison.OrdinalIgnoreCase) : value;
}
