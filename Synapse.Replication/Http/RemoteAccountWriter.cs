using Synapse.Accounts;
using Synapse.Identifiers;
using Synapse.Storage;

namespace Synapse.Replication.Http;

/// <summary>
/// A worker's <see cref="IAccountWriter"/>: registration and login run on the worker (UIA, name rules, password hashing,
/// the new token), and main writes the user, the device and the token's hash (<c>register_user</c>,
/// <c>device_check_registered</c>), so one process writes the device-lists stream. Retries are safe.
/// </summary>
internal sealed class RemoteAccountWriter(ReplicationHttpClient main) : IAccountWriter
{
    public Task<bool> CreateUserAsync(NewUser user, CancellationToken cancellationToken) =>
        main.CreateUserAsync(user, cancellationToken);

    public Task AddSessionAsync(UserId userId, DeviceId deviceId, string? displayName, string tokenHash,
        CancellationToken cancellationToken) =>
        main.AddSessionAsync(userId, deviceId, displayName, tokenHash, cancellationToken);
}
