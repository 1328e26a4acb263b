using System.Text.Json;
using Synapse.Storage;
using Synapse.Sync;

namespace Synapse.Accounts;

/// <summary>Changes to an existing account: its password, its deactivation.</summary>
internal sealed class AccountService
{
    private static readonly IReadOnlyList<IReadOnlyList<string>> PasswordFlows = [[UserInteractiveAuthService.Password]];

    private readonly IAccountStore _store;
    private readonly UserInteractiveAuthService _uia;
    private readonly PasswordHasher _hasher;
    private readonly AuthenticationService _authentication;
    private readonly Configuration.HomeserverOptions _options;
    private readonly DeviceListService _deviceLists;

    public AccountService(IAccountStore store, UserInteractiveAuthService uia, PasswordHasher hasher,
        AuthenticationService authentication, Configuration.HomeserverOptions options, DeviceListService deviceLists)
    {
        _store = store;
        _uia = uia;
        _hasher = hasher;
        _authentication = authentication;
        _options = options;
        _deviceLists = deviceLists;
    }

    /// <summary>
    /// POST /account/password. With <paramref name="logoutDevices"/> (the default) every other device and
    /// every other access token of the user is removed.
    /// </summary>
    public async Task ChangePasswordAsync(Requester requester, JsonElement? auth, string newPassword, bool logoutDevices,
        string uri, CancellationToken cancellationToken)
    {
        if (requester.IsGuest)
        {
            throw new MatrixException(System.Net.HttpStatusCode.Forbidden, ErrorCodes.GuestAccessForbidden,
                "Guests cannot change a password");
        }

        if (!_options.Password.Enabled)
        {
            throw MatrixException.Forbidden("Password changes are disabled on this server");
        }

        if (newPassword.Length > 512)
        {
            throw MatrixException.InvalidParam("Password must be at most 512 characters");
        }

        await _uia.AuthenticateAsync(auth, "POST", uri, requester, PasswordFlows, cancellationToken).ConfigureAwait(false);
        string hash = await _hasher.HashAsync(newPassword).ConfigureAwait(false);
        await _store.SetPasswordHashAsync(requester.UserId, hash, cancellationToken).ConfigureAwait(false);
        if (logoutDevices)
        {
            var removed = await _deviceLists.WriteAsync(requester.UserId,
                position => _store.DeleteOtherDevicesAndTokensAsync(requester.UserId, requester.DeviceId, requester.TokenId,
                    position, cancellationToken),
                r => r.DeviceIds, cancellationToken).ConfigureAwait(false);
            await _authentication.InvalidateAsync(removed.TokenHashes).ConfigureAwait(false);
        }
    }

    /// <summary>POST /account/deactivate: the account keeps its ID (never reusable) but loses every way in.</summary>
    public async Task DeactivateAsync(Requester requester, JsonElement? auth, string uri, CancellationToken cancellationToken)
    {
        if (requester.IsGuest)
        {
            throw new MatrixException(System.Net.HttpStatusCode.Forbidden, ErrorCodes.GuestAccessForbidden,
                "Guests cannot deactivate an account");
        }

        await _uia.AuthenticateAsync(auth, "POST", uri, requester, PasswordFlows, cancellationToken).ConfigureAwait(false);
        var removed = await _deviceLists.WriteAsync(requester.UserId,
            position => _store.DeactivateUserAsync(requester.UserId, position, cancellationToken),
            r => r.DeviceIds, cancellationToken).ConfigureAwait(false);
        await _authentication.InvalidateAsync(removed.TokenHashes).ConfigureAwait(false);
    }
}
