using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Synapse.Accounts;
using Synapse.Configuration;
using Synapse.Json;

namespace Synapse.Http;

/// <summary>Registration, login, logout, whoami, password, deactivation.</summary>
internal static class AccountEndpoints
{
    public static void Map(RouteGroupBuilder client)
    {
        client.MapPost("/register", RegisterAsync);
        client.MapGet("/register/available", RegisterAvailableAsync);
        client.MapGet("/login", GetLoginFlows);
        client.MapPost("/login", LoginAsync);
        client.MapPost("/logout", LogoutAsync);
        client.MapPost("/logout/all", LogoutAllAsync);
        client.MapGet("/account/whoami", (Delegate)WhoAmIAsync);
        client.MapPost("/account/password", ChangePasswordAsync);
        client.MapPost("/account/deactivate", DeactivateAsync);
    }

    /// <summary>POST /_matrix/client/v3/register</summary>
    private static async Task<IResult> RegisterAsync(HttpContext context, RegistrationService registration,
        HomeserverOptions options)
    {
        string kind = context.Request.Query["kind"].ToString() is { Length: > 0 } k ? k : "user";
        if (kind is not ("user" or "guest"))
        {
            throw MatrixException.InvalidParam("Invalid kind: must be 'user' or 'guest'");
        }

        var body = await context.ReadJsonObjectAsync().ConfigureAwait(false);
        var command = new RegisterCommand(
            body.OptionalString("username"),
            body.OptionalString("password"),
            SessionService.ReadOptionalDeviceId(body),
            body.OptionalString("initial_device_display_name"),
            body.OptionalBool("inhibit_login") ?? false,
            kind == "guest",
            body.OptionalElement("auth"),
            context.ClientAddress());
        var result = await registration.RegisterAsync(command, context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(new
        {
            UserId = result.UserId.Value,
            AccessToken = result.AccessToken,
            DeviceId = result.DeviceId?.Value,
            HomeServer = options.ServerName,
        });
    }

    /// <summary>GET /_matrix/client/v3/register/available</summary>
    private static async Task<IResult> RegisterAvailableAsync(HttpContext context, RegistrationService registration)
    {
        string username = context.Request.Query["username"].ToString();
        if (username.Length == 0)
        {
            throw MatrixException.MissingParam("username");
        }

        await registration.CheckAvailableAsync(username, context.ClientAddress(), context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(new { Available = true });
    }

    /// <summary>GET /_matrix/client/v3/login</summary>
    private static IResult GetLoginFlows(SessionService sessions) =>
        MatrixHttp.Json(new { Flows = sessions.LoginTypes.Select(t => new { Type = t }) });

    /// <summary>POST /_matrix/client/v3/login</summary>
    private static async Task<IResult> LoginAsync(HttpContext context, SessionService sessions, HomeserverOptions options)
    {
        var body = await context.ReadJsonObjectAsync().ConfigureAwait(false);
        var result = await sessions.LoginAsync(body, context.ClientAddress(), context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(new
        {
            UserId = result.UserId.Value,
            AccessToken = result.AccessToken,
            DeviceId = result.DeviceId.Value,
            HomeServer = options.ServerName,
            WellKnown = options.PublicBaseUrl is { } url
                ? new Dictionary<string, object> { ["m.homeserver"] = new { BaseUrl = url.ToString() } }
                : null,
        });
    }

    /// <summary>POST /_matrix/client/v3/logout</summary>
    private static async Task<IResult> LogoutAsync(HttpContext context, SessionService sessions)
    {
        var requester = await context.RequireRequesterAsync(allowGuest: true).ConfigureAwait(false);
        await sessions.LogoutAsync(requester, context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(new { });
    }

    /// <summary>POST /_matrix/client/v3/logout/all</summary>
    private static async Task<IResult> LogoutAllAsync(HttpContext context, SessionService sessions)
    {
        var requester = await context.RequireRequesterAsync(allowGuest: true).ConfigureAwait(false);
        await sessions.LogoutAllAsync(requester, context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(new { });
    }

    /// <summary>GET /_matrix/client/v3/account/whoami</summary>
    private static async Task<IResult> WhoAmIAsync(HttpContext context)
    {
        var requester = await context.RequireRequesterAsync(allowGuest: true).ConfigureAwait(false);
        return MatrixHttp.Json(new { UserId = requester.UserId.Value, DeviceId = requester.DeviceId.Value, requester.IsGuest });
    }

    /// <summary>POST /_matrix/client/v3/account/password</summary>
    private static async Task<IResult> ChangePasswordAsync(HttpContext context, AccountService accounts)
    {
        var requester = await context.RequireRequesterAsync(allowGuest: true).ConfigureAwait(false);
        var body = await context.ReadJsonObjectAsync().ConfigureAwait(false);
        string newPassword = body.RequiredString("new_password");
        bool logoutDevices = body.OptionalBool("logout_devices") ?? true;
        await accounts.ChangePasswordAsync(requester, body.OptionalElement("auth"), newPassword, logoutDevices,
            "/account/password", context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(new { });
    }

    /// <summary>POST /_matrix/client/v3/account/deactivate</summary>
    private static async Task<IResult> DeactivateAsync(HttpContext context, AccountService accounts)
    {
        var requester = await context.RequireRequesterAsync(allowGuest: true).ConfigureAwait(false);
        var body = await context.ReadJsonObjectAsync(allowEmpty: true).ConfigureAwait(false);
        await accounts.DeactivateAsync(requester, body.OptionalElement("auth"), "/account/deactivate",
            context.RequestAborted).ConfigureAwait(false);

        // We hold no third-party identifiers, so there is nothing to unbind from an identity server.
        return MatrixHttp.Json(new { IdServerUnbindResult = "no-support" });
    }
}
