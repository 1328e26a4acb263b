using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Synapse.UserDirectory;

namespace Synapse.Http;

/// <summary>The user directory search.</summary>
internal static class UserDirectoryEndpoints
{
    public static void Map(RouteGroupBuilder client) => client.MapPost("/user_directory/search", SearchAsync);

    /// <summary>POST /_matrix/client/v3/user_directory/search</summary>
    private static async Task<IResult> SearchAsync(HttpContext context, UserDirectoryService directory)
    {
        var requester = await context.RequireRequesterAsync().ConfigureAwait(false);
        var body = await context.ReadJsonObjectAsync().ConfigureAwait(false);
        var results = await directory.SearchAsync(requester, UserDirectoryQuery.FromBody(body), context.RequestAborted)
            .ConfigureAwait(false);
        return MatrixHttp.Json(results);
    }
}
