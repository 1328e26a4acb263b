using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Synapse.Accounts;

namespace Synapse.Http;

/// <summary>
/// Profiles: display name and avatar URL. The lookups need no access token (the spec lists no security for
/// them, and Synapse serves them unauthenticated by default).
/// </summary>
internal static class ProfileEndpoints
{
    public static void Map(RouteGroupBuilder client)
    {
        client.MapGet("/profile/{userId}", GetProfileAsync);
        foreach (string field in (string[])[ProfileService.DisplayName, ProfileService.AvatarUrl])
        {
            client.MapGet($"/profile/{{userId}}/{field}", (HttpContext c, ProfileService p, string userId) => GetFieldAsync(c, p, userId, field));
            client.MapPut($"/profile/{{userId}}/{field}", (HttpContext c, ProfileService p, string userId) => SetFieldAsync(c, p, userId, field));
        }
    }

    /// <summary>Kestrel decodes every escape in a path segment except <c>%2F</c>; historical user IDs may hold a '/'.</summary>
    private static string Decode(string value) =>
        value.Contains('%', StringComparison.Ordinal) ? value.Replace("%2F", "/", StringComparison.OrdinalIgnoreCase) : value;

    /// <summary>GET /_matrix/client/v3/profile/{userId}</summary>
    private static async Task<IResult> GetProfileAsync(HttpContext context, ProfileService profiles, string userId)
    {
        var profile = await profiles.GetProfileAsync(Decode(userId), context.RequestAborted).ConfigureAwait(false);
        var body = new JsonObject();
        if (profile.DisplayName is not null)
        {
            body[ProfileService.DisplayName] = profile.DisplayName;
        }

        if (profile.AvatarUrl is not null)
        {
            body[ProfileService.AvatarUrl] = profile.AvatarUrl;
        }

        return MatrixHttp.Json(body);
    }

    /// <summary>GET /_matrix/client/v3/profile/{userId}/displayname and /avatar_url</summary>
    private static async Task<IResult> GetFieldAsync(HttpContext context, ProfileService profiles, string userId, string field)
    {
        string value = await profiles.GetFieldAsync(Decode(userId), field, context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(new JsonObject { [field] = value });
    }

    /// <summary>PUT /_matrix/client/v3/profile/{userId}/displayname and /avatar_url</summary>
    private static async Task<IResult> SetFieldAsync(HttpContext context, ProfileService profiles, string userId, string field)
    {
        var requester = await context.RequireRequesterAsync(allowGuest: true).ConfigureAwait(false);
        var body = await context.ReadJsonObjectAsync().ConfigureAwait(false);
        await profiles.SetFieldAsync(requester, Decode(userId), field, body, context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(new { });
    }
}
