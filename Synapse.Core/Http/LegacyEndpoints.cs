using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Synapse.Sync;

namespace Synapse.Http;

/// <summary>The legacy, pre-/sync endpoints (still named by the worker routing docs).</summary>
internal static class LegacyEndpoints
{
    public static void Map(RouteGroupBuilder client)
    {
        client.MapGet("/events", EventsAsync);
        client.MapGet("/initialSync", InitialSyncAsync);
        client.MapGet("/rooms/{roomId}/initialSync", RoomInitialSyncAsync);
    }

    /// <summary>GET /_matrix/client/v3/events</summary>
    private static async Task<IResult> EventsAsync(HttpContext context, LegacySyncService legacy)
    {
        var requester = await context.RequireRequesterAsync(allowGuest: true).ConfigureAwait(false);
        var query = context.Request.Query;
        long timeout = Number(query["timeout"].ToString(), "timeout", 30_000);
        return MatrixHttp.Json(await legacy.EventsAsync(requester, query["from"].ToString() is { Length: > 0 } f ? f : null,
            TimeSpan.FromMilliseconds(Math.Min(timeout, (long)SyncService.MaxTimeout.TotalMilliseconds)), context.RequestAborted).ConfigureAwait(false));
    }

    /// <summary>GET /_matrix/client/v3/initialSync</summary>
    private static async Task<IResult> InitialSyncAsync(HttpContext context, LegacySyncService legacy)
    {
        var requester = await context.RequireRequesterAsync(allowGuest: true).ConfigureAwait(false);
        var query = context.Request.Query;
        int limit = (int)Math.Min(Number(query["limit"].ToString(), "limit", 10), 100);
        bool archived = query["archived"].ToString() == "true";
        return MatrixHttp.Json(await legacy.InitialSyncAsync(requester, limit, archived, context.RequestAborted).ConfigureAwait(false));
    }

    /// <summary>GET /_matrix/client/v3/rooms/{roomId}/initialSync</summary>
    private static async Task<IResult> RoomInitialSyncAsync(HttpContext context, LegacySyncService legacy, string roomId)
    {
        var requester = await context.RequireRequesterAsync(allowGuest: true).ConfigureAwait(false);
        int limit = (int)Math.Min(Number(context.Request.Query["limit"].ToString(), "limit", 10), 100);
        return MatrixHttp.Json(await legacy.RoomInitialSyncAsync(requester, roomId, limit, context.RequestAborted).ConfigureAwait(false));
    }

    private static long Number(string text, string name, long fallback) =>
        text.Length == 0
            ? fallback
            : long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long value)
                ? value
                : throw MatrixException.InvalidParam($"'{name}' must be a non-negative integer");
}
