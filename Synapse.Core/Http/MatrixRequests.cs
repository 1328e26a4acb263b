using Microsoft.AspNetCore.Http;
using Synapse.Accounts;

namespace Synapse.Http;

/// <summary>
/// What an application's own endpoints need to behave like the homeserver's: the same authentication and the same error
/// JSON. A worker type's request handling (<c>WorkerType.ConfigureApplication</c>) runs before the homeserver's
/// middleware, so it catches <see cref="MatrixException"/> itself and writes it with <see cref="WriteErrorAsync"/>.
/// </summary>
public static class MatrixRequests
{
    /// <summary>
    /// The requester behind the request's access token (<c>Authorization: Bearer</c>, or the deprecated
    /// <c>access_token</c> query parameter), as every client endpoint authenticates. Throws <see cref="MatrixException"/>:
    /// 401 <c>M_MISSING_TOKEN</c> or <c>M_UNKNOWN_TOKEN</c>, 403 <c>M_GUEST_ACCESS_FORBIDDEN</c> for a guest unless
    /// <paramref name="allowGuest"/>.
    /// </summary>
    public static Task<Requester> AuthenticateAsync(HttpContext context, bool allowGuest = false)
    {
        ArgumentNullException.ThrowIfNull(context);
        return context.RequireRequesterAsync(allowGuest);
    }

    /// <summary>Writes <paramref name="error"/> as the homeserver answers errors: its status and <c>{"errcode", "error"}</c>.</summary>
    public static Task WriteErrorAsync(HttpContext context, MatrixException error)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(error);
        return MatrixPipeline.WriteErrorAsync(context, error);
    }
}
