using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Synapse.Accounts;
using Synapse.Configuration;
using Synapse.Json;

namespace Synapse.Http;

/// <summary>Discovery endpoints and Synapse's shared-secret admin registration.</summary>
internal static class ServerEndpoints
{
    // The spec versions whose client-server surface this server targets; clients use this list to
    // decide which endpoints they may call.
    private static readonly string[] SpecVersions =
    [
        "r0.0.1", "r0.1.0", "r0.2.0", "r0.3.0", "r0.4.0", "r0.5.0", "r0.6.0", "r0.6.1",
        "v1.1", "v1.2", "v1.3", "v1.4", "v1.5", "v1.6", "v1.7", "v1.8", "v1.9", "v1.10", "v1.11", "v1.12",
    ];

    public static void MapUnversioned(IEndpointRouteBuilder app)
    {
        app.MapGet("/_matrix/client/versions", GetVersions).WithMetadata(new MatrixResourceAttribute("client"));
        app.MapGet("/.well-known/matrix/client", GetWellKnown).WithMetadata(new MatrixResourceAttribute("client"));
        var admin = app.MapGroup("/_synapse/admin/v1").WithMetadata(new MatrixResourceAttribute("client"));
        admin.MapGet("/register", GetRegisterNonce);
        admin.MapPost("/register", SharedSecretRegisterAsync);

        // Synapse serves the key endpoints on both the "keys" and the "federation" resource.
        var keys = app.MapGroup("/_matrix/key/v2").WithMetadata(new MatrixResourceAttribute("keys", "federation"));
        keys.MapGet("/server", GetServerKeys);
        keys.MapGet("/server/{keyId}", (Rooms.EventSigner signer, HomeserverOptions options, TimeProvider time, string keyId) =>
            GetServerKeys(signer, options, time));
    }

    public static void MapClient(RouteGroupBuilder client)
    {
        client.MapGet("/capabilities", GetCapabilitiesAsync);
    }

    /// <summary>GET /_matrix/client/versions</summary>
    private static IResult GetVersions() =>
        MatrixHttp.Json(new { Versions = SpecVersions, UnstableFeatures = new Dictionary<string, bool>() });

    /// <summary>GET /.well-known/matrix/client</summary>
    private static IResult GetWellKnown(HomeserverOptions options) =>
        options.PublicBaseUrl is { } url
            ? MatrixHttp.Json(new Dictionary<string, object> { ["m.homeserver"] = new { BaseUrl = url.ToString() } })
            : throw MatrixException.NotFound(".well-known not available");

    /// <summary>GET /_matrix/key/v2/server: our signing keys, self-signed, valid for a day.</summary>
    private static IResult GetServerKeys(Rooms.EventSigner signer, HomeserverOptions options, TimeProvider time) =>
        MatrixHttp.Json(Crypto.ServerKeys.BuildResponse(Identifiers.ServerName.Parse(options.ServerName), [signer.Key], options.OldSigningKeys,
            time.GetUtcNow(), TimeSpan.FromDays(1)));

    /// <summary>GET /_matrix/client/v3/capabilities</summary>
    private static async Task<IResult> GetCapabilitiesAsync(HttpContext context, HomeserverOptions options)
    {
        await context.RequireRequesterAsync(allowGuest: true).ConfigureAwait(false);
        return MatrixHttp.Json(new
        {
            Capabilities = new Dictionary<string, object>
            {
                ["m.change_password"] = new { Enabled = options.Password.Enabled },
                ["m.3pid_changes"] = new { Enabled = false },
                ["m.get_login_token"] = new { Enabled = false },
                ["m.room_versions"] = new
                {
                    Default = options.DefaultRoomVersion,
                    Available = RoomVersions.KnownRoomVersions.All.ToDictionary(v => v.Key, v => v.Value.IsStable ? "stable" : "unstable"),
                },
            },
        });
    }

    /// <summary>GET /_synapse/admin/v1/register</summary>
    private static IResult GetRegisterNonce(RegistrationService registration) =>
        MatrixHttp.Json(new { Nonce = registration.CreateSharedSecretNonce() });

    /// <summary>POST /_synapse/admin/v1/register</summary>
    private static async Task<IResult> SharedSecretRegisterAsync(HttpContext context, RegistrationService registration,
        HomeserverOptions options)
    {
        var body = await context.ReadJsonObjectAsync().ConfigureAwait(false);
        var command = new SharedSecretRegisterCommand(
            body.RequiredString("nonce"),
            body.RequiredString("username"),
            body.RequiredString("password"),
            body.OptionalBool("admin") ?? false,
            body.OptionalString("user_type"),
            body.OptionalString("displayname"),
            body.RequiredString("mac"));
        var result = await registration.RegisterWithSharedSecretAsync(command, context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(new
        {
            UserId = result.UserId.Value,
            AccessToken = result.AccessToken,
            DeviceId = result.DeviceId?.Value,
            HomeServer = options.ServerName,
        });
    }
}
