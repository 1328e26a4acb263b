using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Synapse.Accounts;
using Synapse.Configuration;

namespace Synapse.Http;

/// <summary>Request helpers shared by every endpoint: JSON bodies, authentication, the client's address.</summary>
internal static class MatrixHttp
{
    /// <summary>
    /// The largest JSON body any client endpoint accepts. Events are capped at 64 KiB by the spec;
    /// key uploads and to-device batches are larger, so this leaves room without inviting abuse.
    /// </summary>
    public const int MaxJsonBodyBytes = 10 * 1024 * 1024;

    internal const string ListenerItemKey = "synapse.listener";
    internal const string RequesterItemKey = "synapse.requester";

    public static readonly JsonSerializerOptions ResponseJson = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,

        // Responses are JSON for API clients, never embedded in HTML: no need to escape ' < > &.
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    private static readonly JsonElement EmptyObject = JsonDocument.Parse("{}").RootElement.Clone();

    /// <summary>
    /// Reads the body as a JSON object: 413 <c>M_TOO_LARGE</c> over the limit, 400 <c>M_NOT_JSON</c> when it
    /// does not parse, 400 <c>M_BAD_JSON</c> when it is not an object. An empty body reads as <c>{}</c> when allowed.
    /// </summary>
    public static async Task<JsonElement> ReadJsonObjectAsync(this HttpContext context, bool allowEmpty = false)
    {
        var request = context.Request;
        if (request.ContentLength > MaxJsonBodyBytes)
        {
            throw TooLarge();
        }

        using var buffer = new MemoryStream();
        byte[] chunk = System.Buffers.ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            int read;
            while ((read = await request.Body.ReadAsync(chunk, context.RequestAborted).ConfigureAwait(false)) > 0)
            {
                if (buffer.Length + read > MaxJsonBodyBytes)
                {
                    throw TooLarge();
                }

                buffer.Write(chunk, 0, read);
            }
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(chunk);
        }

        if (buffer.Length == 0)
        {
            return allowEmpty ? EmptyObject : throw new MatrixException(HttpStatusCode.BadRequest, ErrorCodes.NotJson, "Content not JSON.");
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(buffer.GetBuffer().AsMemory(0, (int)buffer.Length));
        }
        catch (JsonException)
        {
            throw new MatrixException(HttpStatusCode.BadRequest, ErrorCodes.NotJson, "Content not JSON.");
        }

        using (document)
        {
            return document.RootElement.ValueKind == JsonValueKind.Object
                ? document.RootElement.Clone()
                : throw MatrixException.BadJson("Content must be a JSON object.");
        }
    }

    /// <summary>
    /// The requester behind the access token (header <c>Authorization: Bearer</c>, or the deprecated
    /// <c>access_token</c> query parameter); 401 <c>M_MISSING_TOKEN</c> / <c>M_UNKNOWN_TOKEN</c>.
    /// </summary>
    public static async Task<Requester> RequireRequesterAsync(this HttpContext context, bool allowGuest = false)
    {
        string? token = null;
        string? header = context.Request.Headers.Authorization;
        if (header is not null)
        {
            token = header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header["Bearer ".Length..].Trim() : null;
            if (string.IsNullOrEmpty(token))
            {
                throw new MatrixException(HttpStatusCode.Unauthorized, ErrorCodes.MissingToken,
                    "Invalid Authorization header: expected 'Bearer <token>'");
            }
        }
        else if (context.Request.Query.TryGetValue("access_token", out var query) && !string.IsNullOrEmpty(query))
        {
            token = query.ToString();
        }

        if (token is null)
        {
            throw new MatrixException(HttpStatusCode.Unauthorized, ErrorCodes.MissingToken, "Missing access token");
        }

        var authentication = context.RequestServices.GetRequiredService<AuthenticationService>();
        var requester = await authentication.AuthenticateAsync(token, context.ClientAddress(),
            context.Request.Headers.UserAgent.ToString(), context.RequestAborted).ConfigureAwait(false);
        if (requester.IsGuest && !allowGuest)
        {
            throw new MatrixException(HttpStatusCode.Forbidden, ErrorCodes.GuestAccessForbidden, "Guest access not allowed");
        }

        context.Items[RequesterItemKey] = requester;
        return requester;
    }

    /// <summary>
    /// The client's address: the connection's peer, or the first <c>X-Forwarded-For</c> entry when the
    /// listener is marked <c>x_forwarded</c> (it sits behind a reverse proxy).
    /// </summary>
    public static string? ClientAddress(this HttpContext context)
    {
        if (context.Listener() is { XForwarded: true })
        {
            string? forwarded = context.Request.Headers["X-Forwarded-For"];
            if (!string.IsNullOrEmpty(forwarded))
            {
                int comma = forwarded.IndexOf(',', StringComparison.Ordinal);
                return (comma < 0 ? forwarded : forwarded[..comma]).Trim();
            }
        }

        var address = context.Connection.RemoteIpAddress;
        return address is null ? null : (address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address).ToString();
    }

    /// <summary>The configured listener the request arrived on, if known.</summary>
    public static ListenerOptions? Listener(this HttpContext context) =>
        context.Features.Get<IConnectionItemsFeature>()?.Items.TryGetValue(ListenerItemKey, out var listener) == true
            ? listener as ListenerOptions
            : null;

    /// <summary>A JSON response in the Matrix shape (snake_case names, no nulls).</summary>
    public static IResult Json(object value, int statusCode = StatusCodes.Status200OK) =>
        Results.Json(value, ResponseJson, statusCode: statusCode);

    private static MatrixException TooLarge() =>
        new(HttpStatusCode.RequestEntityTooLarge, ErrorCodes.TooLarge, "Request body too large");
}
