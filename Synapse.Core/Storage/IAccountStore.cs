using Synapse.Identifiers;

namespace Synapse.Storage;

/// <summary>
/// Users, their devices and access tokens. One store because the three change together:
/// deleting a device deletes its tokens, deactivating a user deletes both.
/// </summary>
public interface IAccountStore
{
    /// <summary>
    /// Creates a user (and its profile row); false when the ID is taken. A user whose <see cref="NewUser.CreationTxn"/>
    /// matches the stored one counts as created: the same request, retried.
    /// </summary>
    Task<bool> CreateUserAsync(NewUser user, CancellationToken cancellationToken);

    /// <summary>The user, or null when unknown.</summary>
    Task<UserAccount?> GetUserAsync(UserId userId, CancellationToken cancellationToken);

    /// <summary>Finds a user ID ignoring case (logins typed with capitals), or null.</summary>
    Task<UserId?> FindUserIdIgnoringCaseAsync(UserId userId, CancellationToken cancellationToken);

    /// <summary>Replaces the password hash (null removes password login).</summary>
    Task SetPasswordHashAsync(UserId userId, string? passwordHash, CancellationToken cancellationToken);

    /// <summary>
    /// Marks the user deactivated, removes its password, devices (with their to-device inboxes) and access tokens in one
    /// transaction, recording the removed devices in the device-lists stream at <paramref name="deviceListStreamId"/>.
    /// </summary>
    Task<DeviceRemoval> DeactivateUserAsync(UserId userId, long deviceListStreamId, CancellationToken cancellationToken);

    /// <summary>
    /// Creates the device if it does not exist (keeping the display name of an existing one) and
    /// adds an access token for it, in one transaction. A new device is recorded in the device-lists stream at
    /// <paramref name="deviceListStreamId"/>. Adding a token hash that the same device already has changes nothing (a
    /// retried request); a hash held by another device is an <see cref="InvalidOperationException"/>.
    /// </summary>
    Task<NewDeviceToken> AddDeviceAndTokenAsync(UserId userId, DeviceId deviceId, string? displayName, string tokenHash,
        long deviceListStreamId, CancellationToken cancellationToken);

    /// <summary>The user and device an access token hash belongs to, or null.</summary>
    Task<AccessTokenOwner?> FindAccessTokenAsync(string tokenHash, CancellationToken cancellationToken);

    /// <summary>All devices of a user.</summary>
    Task<IReadOnlyList<Device>> GetDevicesAsync(UserId userId, CancellationToken cancellationToken);

    /// <summary>One device, or null.</summary>
    Task<Device?> GetDeviceAsync(UserId userId, DeviceId deviceId, CancellationToken cancellationToken);

    /// <summary>
    /// Sets a device's display name, recording the change in the device-lists stream at
    /// <paramref name="deviceListStreamId"/>; false when the device does not exist.
    /// </summary>
    Task<bool> SetDeviceDisplayNameAsync(UserId userId, DeviceId deviceId, string? displayName, long deviceListStreamId,
        CancellationToken cancellationToken);

    /// <summary>
    /// Deletes devices with their access tokens and to-device inboxes, recording the removed devices in the device-lists
    /// stream at <paramref name="deviceListStreamId"/>.
    /// </summary>
    Task<DeviceRemoval> DeleteDevicesAsync(UserId userId, IReadOnlyCollection<DeviceId> deviceIds, long deviceListStreamId,
        CancellationToken cancellationToken);

    /// <summary>
    /// Deletes every device of the user except <paramref name="keepDevice"/> (with their to-device inboxes), and every
    /// token except <paramref name="keepTokenId"/>, recording the removed devices in the device-lists stream at
    /// <paramref name="deviceListStreamId"/>.
    /// </summary>
    Task<DeviceRemoval> DeleteOtherDevicesAndTokensAsync(UserId userId, DeviceId? keepDevice, long? keepTokenId,
        long deviceListStreamId, CancellationToken cancellationToken);

    /// <summary>The user's profile (display name, avatar URL), or null when the user has none.</summary>
    Task<UserProfile?> GetProfileAsync(UserId userId, CancellationToken cancellationToken);

    /// <summary>Replaces one profile field (<c>displayname</c> or <c>avatar_url</c>); false when the user is unknown.</summary>
    Task<bool> SetProfileFieldAsync(UserId userId, string field, string? value, CancellationToken cancellationToken);

    /// <summary>Records when and from where devices were last seen (a batch from many requests).</summary>
    Task RecordDeviceActivityAsync(IReadOnlyCollection<DeviceActivity> activity, CancellationToken cancellationToken);
}

/// <summary>A user to create.</summary>
/// <param name="UserId">The new user's ID.</param>
/// <param name="PasswordHash">The password hash, or null for no password login.</param>
/// <param name="IsAdmin">Whether the user is a server admin.</param>
/// <param name="IsGuest">Whether the user is a guest.</param>
/// <param name="UserType">The user type (null for a regular user).</param>
/// <param name="DisplayName">The profile's first display name.</param>
/// <param name="CreatedTs">When, in ms since the epoch.</param>
/// <param name="CreationTxn">
/// The transaction that creates it when another process asked for it (HTTP replication), so that a retry is recognized.
/// </param>
public sealed record NewUser(UserId UserId, string? PasswordHash, bool IsAdmin, bool IsGuest, string? UserType,
    string? DisplayName, long CreatedTs, string? CreationTxn = null);

/// <summary>A stored user.</summary>
public sealed record UserAccount(UserId UserId, string? PasswordHash, bool IsAdmin, bool IsGuest, bool IsDeactivated,
    string? UserType, long CreatedTs);

/// <summary>The result of adding a device's access token.</summary>
/// <param name="TokenId">The token's row ID.</param>
/// <param name="DeviceCreated">Whether the device was new (and so written to the device-lists stream).</param>
public sealed record NewDeviceToken(long TokenId, bool DeviceCreated);

/// <summary>What a device deletion removed.</summary>
/// <param name="TokenHashes">The hashes of the removed access tokens (for the token cache).</param>
/// <param name="DeviceIds">The devices that existed and were removed (written to the device-lists stream).</param>
public sealed record DeviceRemoval(IReadOnlyList<string> TokenHashes, IReadOnlyList<DeviceId> DeviceIds);

/// <summary>Who an access token belongs to.</summary>
public sealed record AccessTokenOwner(long TokenId, UserId UserId, DeviceId DeviceId, bool IsGuest, bool IsDeactivated);

/// <summary>A device as the devices API shows it.</summary>
public sealed record Device(DeviceId DeviceId, string? DisplayName, string? LastSeenIp, long? LastSeenTs,
    string? LastSeenUserAgent);

/// <summary>A user's public profile.</summary>
public sealed record UserProfile(string? DisplayName, string? AvatarUrl);

/// <summary>The last request seen from a device.</summary>
public sealed record DeviceActivity(UserId UserId, DeviceId DeviceId, string? Ip, string? UserAgent, long Ts);
