using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Synapse.Identifiers;
using Synapse.Json;
using Synapse.Storage;
using Synapse.Streams;
using Synapse.Sync;

namespace Synapse.Http;

/// <summary>/sync and filters.</summary>
internal static class SyncEndpoints
{
    public static void Map(RouteGroupBuilder client)
    {
        client.MapGet("/sync", SyncAsync);
        client.MapPost("/user/{userId}/filter", PostFilterAsync);
        client.MapGet("/user/{userId}/filter/{filterId}", GetFilterAsync);
    }

    /// <summary>GET /_matrix/client/v3/sync</summary>
    private static async Task<IResult> SyncAsync(HttpContext context, SyncService sync, IFilterStore filters)
    {
        var requester = await context.RequireRequesterAsync(allowGuest: true).ConfigureAwait(false);
        var query = context.Request.Query;
        var since = query["since"].ToString() is { Length: > 0 } s ? SyncToken.Parse(s) : null;
        long timeoutMs = 0;
        if (query["timeout"].ToString() is { Length: > 0 } t && !long.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out timeoutMs))
        {
            throw MatrixException.InvalidParam("'timeout' must be a non-negative integer (milliseconds)");
        }

        bool fullState = query["full_state"].ToString() switch
        {
            "" or "false" => false,
            "true" => true,
            _ => throw MatrixException.InvalidParam("'full_state' must be true or false"),
        };
        string presence = query["set_presence"].ToString();
        string? setPresence = presence switch
        {
            "" => null,
            "online" or "offline" or "unavailable" => presence,
            _ => throw MatrixException.InvalidParam("'set_presence' must be online, offline or unavailable"),
        };
        var filter = await SyncService.ResolveFilterAsync(query["filter"].ToString(), requester, filters, context.RequestAborted)
            .ConfigureAwait(false);
        var response = await sync.SyncAsync(requester, since, TimeSpan.FromMilliseconds(Math.Min(timeoutMs, (long)SyncService.MaxTimeout.TotalMilliseconds)),
            fullState, filter, setPresence, context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(response);
    }

    /// <summary>POST /_matrix/client/v3/user/{userId}/filter</summary>
    private static async Task<IResult> PostFilterAsync(HttpContext context, IFilterStore filters, string userId)
    {
        var requester = await context.RequireRequesterAsync(allowGuest: true).ConfigureAwait(false);
        EnsureSelf(requester.UserId, userId);
        var body = await context.ReadJsonObjectAsync().ConfigureAwait(false);

        // Validate before storing: a filter that cannot be used later must be refused now.
        SyncFilter.FromJson(body);
        long id = await filters.AddFilterAsync(requester.UserId.Value, body.GetRawText(), context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(new { FilterId = id.ToString(CultureInfo.InvariantCulture) });
    }

    /// <summary>GET /_matrix/client/v3/user/{userId}/filter/{filterId}</summary>
    private static async Task<IResult> GetFilterAsync(HttpContext context, IFilterStore filters, string userId, string filterId)
    {
        var requester = await context.RequireRequesterAsync(allowGuest: true).ConfigureAwait(false);
        EnsureSelf(requester.UserId, userId);
        if (!long.TryParse(filterId, NumberStyles.None, CultureInfo.InvariantCulture, out long id)
            || await filters.GetFilterAsync(requester.UserId.Value, id, context.RequestAborted).ConfigureAwait(false) is not { } json)
        {
            throw MatrixException.NotFound("No such filter");
        }

        using var document = JsonDocument.Parse(json);
        return MatrixHttp.Json(document.RootElement.Clone());
    }

    private static void EnsureSelf(UserId requester, string userId)
    {
        if (requester.Value != userId)
        {
            throw MatrixException.Forbidden("Cannot use filters of other users");
        }
    }
}
