using Synapse.Identifiers;

namespace Synapse.Storage;

/// <summary>
/// Users, their devices and access tokens. One store because the three change together:
/// deleting a device deletes its tokens, deactivating a user deletes both.
/// </summary>
public interface IAccountStore
{
    /// <summary>Creates a user (and its profile row); false when the ID is taken.</summary>
    Task<bool> CreateUserAsync(NewUser user, CancellationToken cancellationToken);

    /// <summary>The user, or null when unknown.</summary>
    Task<UserAccount?> GetUserAsync(UserId userId, CancellationToken cancellationToken);

    /// <summary>Finds a user ID ignoring case (logins typed with capitals), or null.</summary>
    Task<UserId?> FindUserIdIgnoringCaseAsync(UserId userId, CancellationToken cancellationToken);

    /// <summary>Replaces the password hash (null removes password login).</summary>
    Task SetPasswordHashAsync(UserId userId, string? passwordHash, CancellationToken cancellationToken);

    /// <summary>
    /// Marks the user deactivated, removes its password, devices and access tokens in one transaction.
    /// Returns the hashes of the removed tokens.
    /// </summary>
    Task<IReadOnlyList<string>> DeactivateUserAsync(UserId userId, CancellationToken cancellationToken);

    /// <summary>
    /// Creates the device if it does not exist (keeping the display name of an existing one) and
    /// adds an access token for it, in one transaction. Returns the token's row ID.
    /// </summary>
    Task<long> AddDeviceAndTokenAsync(UserId userId, DeviceId deviceId, string? displayName, string tokenHash,
        CancellationToken cancellationToken);

    /// <summary>The user and device an access token hash belongs to, or null.</summary>
    Task<AccessTokenOwner?> FindAccessTokenAsync(string tokenHash, CancellationToken cancellationToken);

    /// <summary>All devices of a user.</summary>
    Task<IReadOnlyList<Device>> GetDevicesAsync(UserId userId, CancellationToken cancellationToken);

    /// <summary>One device, or null.</summary>
    Task<Device?> GetDeviceAsync(UserId userId, DeviceId deviceId, CancellationToken cancellationToken);

    /// <summary>Sets a device's display name; false when the device does not exist.</summary>
    Task<bool> SetDeviceDisplayNameAsync(UserId userId, DeviceId deviceId, string? displayName,
        CancellationToken cancellationToken);

    /// <summary>Deletes devices and their access tokens; returns the hashes of the removed tokens.</summary>
    Task<IReadOnlyList<string>> DeleteDevicesAsync(UserId userId, IReadOnlyCollection<DeviceId> deviceIds,
        CancellationToken cancellationToken);

    /// <summary>
    /// Deletes every device of the user except <paramref name="keepDevice"/>, and every token except
    /// <paramref name="keepTokenId"/>; returns the hashes of the removed tokens.
    /// </summary>
    Task<IReadOnlyList<string>> DeleteOtherDevicesAndTokensAsync(UserId userId, DeviceId? keepDevice, long? keepTokenId,
        CancellationToken cancellationToken);

    /// <summary>The user's profile (display name, avatar URL), or null when the user has none.</summary>
    Task<UserProfile?> GetProfileAsync(UserId userId, CancellationToken cancellationToken);

    /// <summary>Replaces one profile field (<c>displayname</c> or <c>avatar_url</c>); false when the user is unknown.</summary>
    Task<bool> SetProfileFieldAsync(UserId userId, string field, string? value, CancellationToken cancellationToken);

    /// <summary>Records when and from where devices were last seen (a batch from many requests).</summary>
    Task RecordDeviceActivityAsync(IReadOnlyCollection<DeviceActivity> activity, CancellationToken cancellationToken);
}

/// <summary>A user to create.</summary>
public sealed record NewUser(UserId UserId, string? PasswordHash, bool IsAdmin, bool IsGuest, string? UserType,
    string? DisplayName, long CreatedTs);

/// <summary>A stored user.</summary>
public sealed record UserAccount(UserId UserId, string? PasswordHash, bool IsAdmin, bool IsGuest, bool IsDeactivated,
    string? UserType, long CreatedTs);

/// <summary>Who an access token belongs to.</summary>
public sealed record AccessTokenOwner(long TokenId, UserId UserId, DeviceId DeviceId, bool IsGuest, bool IsDeactivated);

/// <summary>A device as the devices API shows it.</summary>
public sealed record Device(DeviceId DeviceId, string? DisplayName, string? LastSeenIp, long? LastSeenTs,
    string? LastSeenUserAgent);

/// <summary>A user's public profile.</summary>
public sealed record UserProfile(string? DisplayName, string? AvatarUrl);

/// <summary>The last request seen from a device.</summary>
public sealed record DeviceActivity(UserId UserId, DeviceId DeviceId, string? Ip, string? UserAgent, long Ts);
