using System.Net;
using System.Text.Json;
using Synapse.Identifiers;

namespace Synapse.Accounts;

/// <summary>Reads the user a login (or a UIA password stage) names.</summary>
/// <remarks>Spec: Client-Server API, "Identifier types"; the top-level <c>user</c> field is the deprecated form.</remarks>
internal static class LoginIdentifier
{
    /// <summary>The <c>m.id.user</c> user, or the legacy <c>user</c> field; null when neither is given.</summary>
    public static string? ReadUser(JsonElement body)
    {
        if (body.TryGetProperty("identifier", out var identifier) && identifier.ValueKind != JsonValueKind.Null)
        {
            if (identifier.ValueKind != JsonValueKind.Object)
            {
                throw MatrixException.BadJson("'identifier' must be an object");
            }

            string type = identifier.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String
                ? t.GetString()!
                : throw MatrixException.MissingParam("identifier.type");
            if (type != "m.id.user")
            {
                throw new MatrixException(HttpStatusCode.BadRequest, ErrorCodes.Unknown,
                    $"Login identifier type {type} is not supported");
            }

            return identifier.TryGetProperty("user", out var user) && user.ValueKind == JsonValueKind.String
                ? user.GetString()
                : throw MatrixException.MissingParam("identifier.user");
        }

        if (body.TryGetProperty("user", out var legacy) && legacy.ValueKind != JsonValueKind.Null)
        {
            return legacy.ValueKind == JsonValueKind.String
                ? legacy.GetString()
                : throw MatrixException.BadJson("'user' must be a string");
        }

        if (body.TryGetProperty("medium", out _) || body.TryGetProperty("address", out _))
        {
            throw MatrixException.Forbidden("Login with a third-party identifier is not supported");
        }

        return null;
    }

    /// <summary>A full user ID from <c>@user:server</c> or a bare localpart; null when malformed.</summary>
    public static UserId? ToUserId(string user, string serverName)
    {
        if (user.StartsWith('@'))
        {
            return UserId.TryParse(user, out var full) ? full : null;
        }

        return UserId.TryParse(string.Concat("@", user, ":", serverName), out var id) ? id : null;
    }
}
