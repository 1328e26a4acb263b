using System.Text.Json;
using Synapse.Identifiers;
using Synapse.Storage;
using Synapse.Sync;

namespace Synapse.Accounts;

/// <summary>The devices API: list, rename, delete (with UIA).</summary>
internal sealed class DeviceService
{
    private static readonly IReadOnlyList<IReadOnlyList<string>> PasswordFlows = [[UserInteractiveAuthService.Password]];

    private readonly IAccountStore _store;
    private readonly UserInteractiveAuthService _uia;
    private readonly AuthenticationService _authentication;
    private readonly DeviceActivityRecorder _activity;
    private readonly DeviceListService _deviceLists;

    public DeviceService(IAccountStore store, UserInteractiveAuthService uia, AuthenticationService authentication,
        DeviceActivityRecorder activity, DeviceListService deviceLists)
    {
        _store = store;
        _uia = uia;
        _authentication = authentication;
        _activity = activity;
        _deviceLists = deviceLists;
    }

    public async Task<IReadOnlyList<Device>> GetDevicesAsync(Requester requester, CancellationToken cancellationToken)
    {
        // Flush first so that a device sees its own latest activity.
        await _activity.FlushAsync(cancellationToken).ConfigureAwait(false);
        return await _store.GetDevicesAsync(requester.UserId, cancellationToken).ConfigureAwait(false);
    }

    public async Task<Device> GetDeviceAsync(Requester requester, string deviceId, CancellationToken cancellationToken)
    {
        await _activity.FlushAsync(cancellationToken).ConfigureAwait(false);
        return DeviceId.TryParse(deviceId, out var id)
            && await _store.GetDeviceAsync(requester.UserId, id, cancellationToken).ConfigureAwait(false) is { } device
            ? device
            : throw MatrixException.NotFound("Device not found");
    }

    public async Task SetDisplayNameAsync(Requester requester, string deviceId, string? displayName,
        CancellationToken cancellationToken)
    {
        if (displayName is { Length: > 100 })
        {
            throw MatrixException.InvalidParam("Device display name is too long (max 100)");
        }

        if (!DeviceId.TryParse(deviceId, out var id)
            || !await _deviceLists.WriteAsync(requester.UserId,
                position => _store.SetDeviceDisplayNameAsync(requester.UserId, id, displayName, position, cancellationToken),
                renamed => renamed ? [id] : [], cancellationToken).ConfigureAwait(false))
        {
            throw MatrixException.NotFound("Device not found");
        }
    }

    /// <summary>DELETE /devices/{id} and POST /delete_devices; unknown devices are ignored, as the spec allows.</summary>
    public async Task DeleteDevicesAsync(Requester requester, IReadOnlyCollection<string> deviceIds, JsonElement? auth,
        string method, string uri, CancellationToken cancellationToken)
    {
        var ids = new List<DeviceId>(deviceIds.Count);
        foreach (string deviceId in deviceIds)
        {
            if (DeviceId.TryParse(deviceId, out var id))
            {
                ids.Add(id);
            }
        }

        await _uia.AuthenticateAsync(auth, method, uri, requester, PasswordFlows, cancellationToken).ConfigureAwait(false);
        var removed = await _deviceLists.WriteAsync(requester.UserId,
            position => _store.DeleteDevicesAsync(requester.UserId, ids, position, cancellationToken),
            r => r.DeviceIds, cancellationToken).ConfigureAwait(false);
        await _authentication.InvalidateAsync(removed.TokenHashes).ConfigureAwait(false);
    }
}
