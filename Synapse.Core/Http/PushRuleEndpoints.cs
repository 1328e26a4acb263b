using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Synapse.Push;

namespace Synapse.Http;

/// <summary>The push rules API (Spec: Client-Server API, "Push Rules: API").</summary>
internal static class PushRuleEndpoints
{
    public static void Map(RouteGroupBuilder client)
    {
        client.MapGet("/pushrules/", GetAllAsync);
        client.MapGet("/pushrules/{scope}/", GetScopeAsync);
        client.MapGet("/pushrules/{scope}/{kind}/", GetKindAsync);
        client.MapGet("/pushrules/{scope}/{kind}/{ruleId}", GetRuleAsync);
        client.MapPut("/pushrules/{scope}/{kind}/{ruleId}", PutRuleAsync);
        client.MapDelete("/pushrules/{scope}/{kind}/{ruleId}", DeleteRuleAsync);
        client.MapGet("/pushrules/{scope}/{kind}/{ruleId}/enabled", GetEnabledAsync);
        client.MapPut("/pushrules/{scope}/{kind}/{ruleId}/enabled", PutEnabledAsync);
        client.MapGet("/pushrules/{scope}/{kind}/{ruleId}/actions", GetActionsAsync);
        client.MapPut("/pushrules/{scope}/{kind}/{ruleId}/actions", PutActionsAsync);
    }

    /// <summary>GET /_matrix/client/v3/pushrules/</summary>
    private static async Task<IResult> GetAllAsync(HttpContext context, PushRuleService pushRules)
    {
        var requester = await context.RequireRequesterAsync(allowGuest: true).ConfigureAwait(false);
        return MatrixHttp.Json(await pushRules.GetAllAsync(requester, context.RequestAborted).ConfigureAwait(false));
    }

    /// <summary>GET /_matrix/client/v3/pushrules/{scope}/</summary>
    private static async Task<IResult> GetScopeAsync(HttpContext context, PushRuleService pushRules, string scope)
    {
        var requester = await context.RequireRequesterAsync(allowGuest: true).ConfigureAwait(false);
        return MatrixHttp.Json(await pushRules.GetScopeAsync(requester, scope, context.RequestAborted).ConfigureAwait(false));
    }

    /// <summary>GET /_matrix/client/v3/pushrules/{scope}/{kind}/</summary>
    private static async Task<IResult> GetKindAsync(HttpContext context, PushRuleService pushRules, string scope, string kind)
    {
        var requester = await context.RequireRequesterAsync(allowGuest: true).ConfigureAwait(false);
        return MatrixHttp.Json(await pushRules.GetKindAsync(requester, scope, kind, context.RequestAborted).ConfigureAwait(false));
    }

    /// <summary>GET /_matrix/client/v3/pushrules/{scope}/{kind}/{ruleId}</summary>
    private static async Task<IResult> GetRuleAsync(HttpContext context, PushRuleService pushRules, string scope, string kind, string ruleId)
    {
        var requester = await context.RequireRequesterAsync(allowGuest: true).ConfigureAwait(false);
        return MatrixHttp.Json(await pushRules.GetRuleAsync(requester, scope, kind, Decode(ruleId), context.RequestAborted)
            .ConfigureAwait(false));
    }

    /// <summary>PUT /_matrix/client/v3/pushrules/{scope}/{kind}/{ruleId}</summary>
    private static async Task<IResult> PutRuleAsync(HttpContext context, PushRuleService pushRules, string scope, string kind, string ruleId)
    {
        var requester = await context.RequireRequesterAsync().ConfigureAwait(false);
        var body = await context.ReadJsonObjectAsync().ConfigureAwait(false);
        var query = context.Request.Query;
        await pushRules.PutRuleAsync(requester, scope, kind, Decode(ruleId), body, query["before"].FirstOrDefault(),
            query["after"].FirstOrDefault(), context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(new { });
    }

    /// <summary>DELETE /_matrix/client/v3/pushrules/{scope}/{kind}/{ruleId}</summary>
    private static async Task<IResult> DeleteRuleAsync(HttpContext context, PushRuleService pushRules, string scope, string kind, string ruleId)
    {
        var requester = await context.RequireRequesterAsync().ConfigureAwait(false);
        await pushRules.DeleteRuleAsync(requester, scope, kind, Decode(ruleId), context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(new { });
    }

    /// <summary>GET /_matrix/client/v3/pushrules/{scope}/{kind}/{ruleId}/enabled</summary>
    private static async Task<IResult> GetEnabledAsync(HttpContext context, PushRuleService pushRules, string scope, string kind, string ruleId)
    {
        var requester = await context.RequireRequesterAsync(allowGuest: true).ConfigureAwait(false);
        bool enabled = await pushRules.GetEnabledAsync(requester, scope, kind, Decode(ruleId), context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(new { enabled });
    }

    /// <summary>PUT /_matrix/client/v3/pushrules/{scope}/{kind}/{ruleId}/enabled</summary>
    private static async Task<IResult> PutEnabledAsync(HttpContext context, PushRuleService pushRules, string scope, string kind, string ruleId)
    {
        var requester = await context.RequireRequesterAsync().ConfigureAwait(false);
        var body = await context.ReadJsonObjectAsync().ConfigureAwait(false);
        await pushRules.SetEnabledAsync(requester, scope, kind, Decode(ruleId), body, context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(new { });
    }

    /// <summary>GET /_matrix/client/v3/pushrules/{scope}/{kind}/{ruleId}/actions</summary>
    private static async Task<IResult> GetActionsAsync(HttpContext context, PushRuleService pushRules, string scope, string kind, string ruleId)
    {
        var requester = await context.RequireRequesterAsync(allowGuest: true).ConfigureAwait(false);
        var actions = await pushRules.GetActionsAsync(requester, scope, kind, Decode(ruleId), context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(new System.Text.Json.Nodes.JsonObject { ["actions"] = actions });
    }

    /// <summary>PUT /_matrix/client/v3/pushrules/{scope}/{kind}/{ruleId}/actions</summary>
    private static async Task<IResult> PutActionsAsync(HttpContext context, PushRuleService pushRules, string scope, string kind, string ruleId)
    {
        var requester = await context.RequireRequesterAsync().ConfigureAwait(false);
        var body = await context.ReadJsonObjectAsync().ConfigureAwait(false);
        await pushRules.SetActionsAsync(requester, scope, kind, Decode(ruleId), body, context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(new { });
    }

    /// <summary>Kestrel decodes every escape in a path segment except <c>%2F</c>; finish the job.</summary>
    private static string Decode(string value) =>
        value.Contains('%', StringComparison.Ordinal) ? value.Replace("%2F", "/", StringComparison.OrdinalIgnoreCase) : value;
}
