using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Synapse.Accounts;
using Synapse.Json;
using Synapse.Storage;

namespace Synapse.Http;

/// <summary>The devices API.</summary>
internal static class DeviceEndpoints
{
    public static void Map(RouteGroupBuilder client)
    {
        client.MapGet("/devices", GetDevicesAsync);
        client.MapGet("/devices/{deviceId}", GetDeviceAsync);
        client.MapPut("/devices/{deviceId}", PutDeviceAsync);
        client.MapDelete("/devices/{deviceId}", DeleteDeviceAsync);
        client.MapPost("/delete_devices", DeleteDevicesAsync);
    }

    /// <summary>GET /_matrix/client/v3/devices</summary>
    private static async Task<IResult> GetDevicesAsync(HttpContext context, DeviceService devices)
    {
        var requester = await context.RequireRequesterAsync(allowGuest: true).ConfigureAwait(false);
        var list = await devices.GetDevicesAsync(requester, context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(new { Devices = list.Select(Shape) });
    }

    /// <summary>GET /_matrix/client/v3/devices/{deviceId}</summary>
    private static async Task<IResult> GetDeviceAsync(HttpContext context, string deviceId, DeviceService devices)
    {
        var requester = await context.RequireRequesterAsync(allowGuest: true).ConfigureAwait(false);
        var device = await devices.GetDeviceAsync(requester, deviceId, context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(Shape(device));
    }

    /// <summary>PUT /_matrix/client/v3/devices/{deviceId}</summary>
    private static async Task<IResult> PutDeviceAsync(HttpContext context, string deviceId, DeviceService devices)
    {
        var requester = await context.RequireRequesterAsync(allowGuest: true).ConfigureAwait(false);
        var body = await context.ReadJsonObjectAsync().ConfigureAwait(false);
        await devices.SetDisplayNameAsync(requester, deviceId, body.OptionalString("display_name"), context.RequestAborted)
            .ConfigureAwait(false);
        return MatrixHttp.Json(new { });
    }

    /// <summary>DELETE /_matrix/client/v3/devices/{deviceId}</summary>
    private static async Task<IResult> DeleteDeviceAsync(HttpContext context, string deviceId, DeviceService devices)
    {
        var requester = await context.RequireRequesterAsync().ConfigureAwait(false);
        var body = await context.ReadJsonObjectAsync(allowEmpty: true).ConfigureAwait(false);
        await devices.DeleteDevicesAsync(requester, [deviceId], body.OptionalElement("auth"), "DELETE",
            "/devices/" + deviceId, context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(new { });
    }

    /// <summary>POST /_matrix/client/v3/delete_devices</summary>
    private static async Task<IResult> DeleteDevicesAsync(HttpContext context, DeviceService devices)
    {
        var requester = await context.RequireRequesterAsync().ConfigureAwait(false);
        var body = await context.ReadJsonObjectAsync().ConfigureAwait(false);
        var ids = body.RequiredStringArray("devices");
        await devices.DeleteDevicesAsync(requester, ids.ToList(), body.OptionalElement("auth"), "POST", "/delete_devices",
            context.RequestAborted).ConfigureAwait(false);
        return MatrixHttp.Json(new { });
    }

    private static object Shape(Device device) => new
    {
        DeviceId = device.DeviceId.Value,
        device.DisplayName,
        device.LastSeenIp,
        device.LastSeenTs,
    };
}
