using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Synapse.E2e;

namespace Synapse.Http;

/// <summary>The cross-signing API (Spec: Client-Server API, "Cross-signing"); mapped under v3, r0 and unstable.</summary>
internal static class CrossSigningEndpoints
{
    public static void Map(RouteGroupBuilder client)
    {
        client.MapPost("/keys/device_signing/upload", UploadKeysAsync);
        client.MapPost("/keys/signatures/upload", UploadSignaturesAsync);
    }

    /// <summary>POST /_matrix/client/v3/keys/device_signing/upload</summary>
    private static async Task<IResult> UploadKeysAsync(HttpContext context, CrossSigningService crossSigning)
    {
        var requester = await context.RequireRequesterAsync().ConfigureAwait(false);
        var body = await context.ReadJsonObjectAsync().ConfigureAwait(false);
        await crossSigning.UploadKeysAsync(requester, body, context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(new { });
    }

    /// <summary>POST /_matrix/client/v3/keys/signatures/upload</summary>
    private static async Task<IResult> UploadSignaturesAsync(HttpContext context, CrossSigningService crossSigning)
    {
        var requester = await context.RequireRequesterAsync().ConfigureAwait(false);
        var body = await context.ReadJsonObjectAsync().ConfigureAwait(false);
        var response = await crossSigning.UploadSignaturesAsync(requester, body, context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(response);
    }
}
