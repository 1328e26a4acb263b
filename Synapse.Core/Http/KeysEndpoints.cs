using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Synapse.E2e;

namespace Synapse.Http;

/// <summary>
/// End-to-end encryption keys: upload, query, claim, changes. Guests may call them (Spec: Client-Server API, "Guest
/// Access": guests take part in encrypted rooms).
/// </summary>
internal static class KeysEndpoints
{
    public static void Map(RouteGroupBuilder client)
    {
        client.MapPost("/keys/upload", UploadAsync);
        client.MapPost("/keys/upload/{deviceId}", UploadForDeviceAsync);
        client.MapPost("/keys/query", QueryAsync);
        client.MapPost("/keys/claim", ClaimAsync);
        client.MapGet("/keys/changes", ChangesAsync);
    }

    /// <summary>POST /_matrix/client/v3/keys/upload</summary>
    private static async Task<IResult> UploadAsync(HttpContext context, E2eKeyService keys)
    {
        var requester = await context.RequireRequesterAsync(allowGuest: true).ConfigureAwait(false);
        var body = await context.ReadJsonObjectAsync().ConfigureAwait(false);
        return MatrixHttp.Json(await keys.UploadAsync(requester, body, context.RequestAborted).ConfigureAwait(false));
    }

    /// <summary>
    /// POST /_matrix/client/r0/keys/upload/{deviceId}: the form older clients used, naming the device in the path. Keys
    /// belong to the access token's device, so the path must name that device.
    /// </summary>
    private static async Task<IResult> UploadForDeviceAsync(HttpContext context, string deviceId, E2eKeyService keys)
    {
        var requester = await context.RequireRequesterAsync(allowGuest: true).ConfigureAwait(false);
        if (!string.Equals(deviceId, requester.DeviceId.Value, StringComparison.Ordinal))
        {
            throw MatrixException.InvalidParam("The device in the path is not the access token's device");
        }

        var body = await context.ReadJsonObjectAsync().ConfigureAwait(false);
        return MatrixHttp.Json(await keys.UploadAsync(requester, body, context.RequestAborted).ConfigureAwait(false));
    }

    /// <summary>POST /_matrix/client/v3/keys/query</summary>
    private static async Task<IResult> QueryAsync(HttpContext context, KeyQueryService query)
    {
        var requester = await context.RequireRequesterAsync(allowGuest: true).ConfigureAwait(false);
        var body = await context.ReadJsonObjectAsync().ConfigureAwait(false);
        return MatrixHttp.Json(await query.QueryAsync(requester, body, context.RequestAborted).ConfigureAwait(false));
    }

    /// <summary>POST /_matrix/client/v3/keys/claim</summary>
    private static async Task<IResult> ClaimAsync(HttpContext context, E2eKeyService keys)
    {
        var requester = await context.RequireRequesterAsync(allowGuest: true).ConfigureAwait(false);
        var body = await context.ReadJsonObjectAsync().ConfigureAwait(false);
        return MatrixHttp.Json(await keys.ClaimAsync(requester, body, context.RequestAborted).ConfigureAwait(false));
    }

    /// <summary>GET /_matrix/client/v3/keys/changes?from=&amp;to=</summary>
    private static async Task<IResult> ChangesAsync(HttpContext context, E2eKeyService keys)
    {
        var requester = await context.RequireRequesterAsync(allowGuest: true).ConfigureAwait(false);
        var query = context.Request.Query;
        var (changed, left) = await keys.GetChangesAsync(requester, NonEmpty(query["from"].ToString()), NonEmpty(query["to"].ToString()),
            context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(new { Changed = changed, Left = left });
    }

    private static string? NonEmpty(string value) => value.Length == 0 ? null : value;
}
