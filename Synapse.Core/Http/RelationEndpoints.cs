using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Primitives;
using Synapse.Rooms;

namespace Synapse.Http;

/// <summary>
/// Event relationships (<c>/relations</c>), the thread list (<c>/threads</c>) and <c>/timestamp_to_event</c>: all three exist
/// only under <c>/_matrix/client/v1</c>, in the spec as in Synapse.
/// </summary>
internal static class RelationEndpoints
{
    public static void MapV1(RouteGroupBuilder v1)
    {
        v1.MapGet("/rooms/{roomId}/relations/{eventId}",
            (HttpContext c, RelationsService s, string roomId, string eventId) => GetRelationsAsync(c, s, roomId, eventId, null, null));
        v1.MapGet("/rooms/{roomId}/relations/{eventId}/{relType}",
            (HttpContext c, RelationsService s, string roomId, string eventId, string relType) => GetRelationsAsync(c, s, roomId, eventId, relType, null));
        v1.MapGet("/rooms/{roomId}/relations/{eventId}/{relType}/{eventType}", GetRelationsAsync);
        v1.MapGet("/rooms/{roomId}/threads", GetThreadsAsync);
        v1.MapGet("/rooms/{roomId}/timestamp_to_event", GetTimestampToEventAsync);
    }

    /// <summary>GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}/{relType}/{eventType}, and the two shorter forms.</summary>
    private static async Task<IResult> GetRelationsAsync(HttpContext context, RelationsService relations, string roomId, string eventId,
        string? relType, string? eventType)
    {
        var requester = await context.RequireRequesterAsync(allowGuest: true).ConfigureAwait(false);
        var query = context.Request.Query;
        bool backwards = ParseDirection(query["dir"], required: false);
        int limit = ParseLimit(query["limit"], RelationsService.DefaultLimit, allowZero: true);
        bool? recurse = NullIfEmpty(query["recurse"]) switch
        {
            null => null,
            "true" => true,
            "false" => false,
            _ => throw MatrixException.InvalidParam("'recurse' must be 'true' or 'false'"),
        };
        var page = await relations.GetRelationsAsync(requester, Decode(roomId), Decode(eventId), relType is null ? null : Decode(relType),
            eventType is null ? null : Decode(eventType), NullIfEmpty(query["from"]), NullIfEmpty(query["to"]), backwards, limit,
            recurse, context.RequestAborted).ConfigureAwait(false);
        var body = new JsonObject { ["chunk"] = new JsonArray([.. page.Chunk]) };
        if (page.NextBatch is not null)
        {
            body["next_batch"] = page.NextBatch;
        }

        if (page.PrevBatch is not null)
        {
            body["prev_batch"] = page.PrevBatch;
        }

        if (page.RecursionDepth is { } depth)
        {
            body["recursion_depth"] = depth;
        }

        return MatrixHttp.Json(body);
    }

    /// <summary>GET /_matrix/client/v1/rooms/{roomId}/threads</summary>
    private static async Task<IResult> GetThreadsAsync(HttpContext context, RelationsService relations, string roomId)
    {
        var requester = await context.RequireRequesterAsync().ConfigureAwait(false);
        var query = context.Request.Query;
        bool participated = NullIfEmpty(query["include"]) switch
        {
            null or "all" => false,
            "participated" => true,
            _ => throw MatrixException.InvalidParam("'include' must be 'all' or 'participated'"),
        };
        int limit = ParseLimit(query["limit"], RelationsService.DefaultLimit, allowZero: false);
        var page = await relations.GetThreadsAsync(requester, Decode(roomId), participated, NullIfEmpty(query["from"]), limit,
            context.RequestAborted).ConfigureAwait(false);
        var body = new JsonObject { ["chunk"] = new JsonArray([.. page.Chunk]) };
        if (page.NextBatch is not null)
        {
            body["next_batch"] = page.NextBatch;
        }

        return MatrixHttp.Json(body);
    }

    /// <summary>GET /_matrix/client/v1/rooms/{roomId}/timestamp_to_event</summary>
    private static async Task<IResult> GetTimestampToEventAsync(HttpContext context, TimestampLookupService lookup, string roomId)
    {
        var requester = await context.RequireRequesterAsync().ConfigureAwait(false);
        var query = context.Request.Query;
        string ts = NullIfEmpty(query["ts"]) ?? throw MatrixException.MissingParam("ts");
        long timestamp = long.TryParse(ts, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long parsed)
            ? parsed
            : throw MatrixException.InvalidParam("'ts' must be an integer (milliseconds since the Unix epoch)");
        bool backwards = ParseDirection(query["dir"], required: true);
        var found = await lookup.FindAsync(requester, Decode(roomId), timestamp, !backwards, context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(new { EventId = found.Pdu.EventId, OriginServerTs = found.Pdu.OriginServerTs });
    }

    /// <summary>Whether <c>dir</c> asks for backwards (<c>b</c>, the default where optional) rather than forwards (<c>f</c>).</summary>
    private static bool ParseDirection(StringValues value, bool required) =>
        NullIfEmpty(value) switch
        {
            null when required => throw MatrixException.MissingParam("dir"),
            null or "b" => true,
            "f" => false,
            _ => throw MatrixException.InvalidParam("'dir' must be 'b' or 'f'"),
        };

    private static int ParseLimit(StringValues value, int fallback, bool allowZero)
    {
        string? text = NullIfEmpty(value);
        if (text is null)
        {
            return fallback;
        }

        // Huge values are clamped by the service; only the form is checked here.
        if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long limit) || (limit == 0 && !allowZero))
        {
            throw MatrixException.InvalidParam(allowZero ? "'limit' must be a non-negative integer" : "'limit' must be a positive integer");
        }

        return (int)Math.Min(limit, RelationsService.MaxLimit);
    }

    /// <summary>Kestrel decodes every escape in a path segment except <c>%2F</c>; finish the job for IDs and types.</summary>
    private static string Decode(string value) =>
        value.Contains('%', StringComparison.Ordinal) ? value.Replace("%2F", "/", StringComparison.OrdinalIgnoreCase) : value;

    private static string? NullIfEmpty(StringValues value) =>
        value.Count == 0 || string.IsNullOrEmpty(value[0]) ? null : value[0];
}
