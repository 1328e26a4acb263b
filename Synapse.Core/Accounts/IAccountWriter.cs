using Synapse.Identifiers;
using Synapse.Storage;
using Synapse.Sync;

namespace Synapse.Accounts;

/// <summary>
/// Where new users and sessions are written (DESIGN.md §3, "registration writes"): the store, on main and in a monolith;
/// main, over HTTP replication, on a worker. Both calls are safe to repeat: a retried user creation carries the same
/// <see cref="NewUser.CreationTxn"/>, a retried session the same token hash.
/// </summary>
internal interface IAccountWriter
{
    /// <summary>Creates the user; false when its ID is taken.</summary>
    Task<bool> CreateUserAsync(NewUser user, CancellationToken cancellationToken);

    /// <summary>
    /// Creates the device if it does not exist and gives it the access token whose hash is <paramref name="tokenHash"/>.
    /// A device ID that is one of the user's cross-signing public keys is refused (400 <c>M_INVALID_PARAM</c>).
    /// </summary>
    Task AddSessionAsync(UserId userId, DeviceId deviceId, string? displayName, string tokenHash, CancellationToken cancellationToken);
}

/// <summary>The in-process <see cref="IAccountWriter"/>: the account store, and the device-lists stream for new devices.</summary>
internal sealed class LocalAccountWriter : IAccountWriter
{
    private readonly IAccountStore _store;
    private readonly DeviceListService _deviceLists;
    private readonly ICrossSigningStore _crossSigning;

    public LocalAccountWriter(IAccountStore store, DeviceListService deviceLists, ICrossSigningStore crossSigning)
    {
        _store = store;
        _deviceLists = deviceLists;
        _crossSigning = crossSigning;
    }

    public Task<bool> CreateUserAsync(NewUser user, CancellationToken cancellationToken) =>
        _store.CreateUserAsync(user, cancellationToken);

    /// <remarks>
    /// Spec, "Cross-signing": servers must ensure that device IDs will not collide with the user's cross-signing keys.
    /// </remarks>
    public async Task AddSessionAsync(UserId userId, DeviceId deviceId, string? displayName, string tokenHash,
        CancellationToken cancellationToken)
    {
        var keys = await _crossSigning.GetKeysAsync([userId.Value], cancellationToken).ConfigureAwait(false);
        if (keys.GetValueOrDefault(userId.Value) is { } set && set.HasPublicKey(deviceId.Value))
        {
            throw MatrixException.InvalidParam("The device_id is one of the user's cross-signing public keys");
        }

        await _deviceLists.WriteAsync(userId,
            position => _store.AddDeviceAndTokenAsync(userId, deviceId, displayName, tokenHash, position, cancellationToken),
            added => added.DeviceCreated ? [deviceId] : [], cancellationToken).ConfigureAwait(false);
    }
}
