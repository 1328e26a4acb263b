using Synapse.Identifiers;

namespace Synapse.Storage;

/// <summary>
/// The end-to-end encryption keys of local devices: identity keys (<c>device_keys</c>), one-time keys and fallback keys
/// (Spec: Client-Server API, "Key Distribution"). Key objects are kept as the canonical JSON the service hands over; the
/// store compares them only as strings. A device's keys go when the device goes (the account store deletes them in the
/// device deletion's transaction).
/// </summary>
public interface IE2eKeyStore
{
    /// <summary>The stored identity keys of one device (canonical JSON), or null when it has uploaded none.</summary>
    Task<string?> GetDeviceKeysAsync(UserId userId, DeviceId deviceId, CancellationToken cancellationToken);

    /// <summary>
    /// The identity keys of every existing device of <paramref name="userIds"/> that uploaded some, with the device's display
    /// name, in one round trip whatever the number of users.
    /// </summary>
    Task<IReadOnlyList<StoredDeviceKeys>> GetDeviceKeysAsync(IReadOnlyCollection<UserId> userIds, CancellationToken cancellationToken);

    /// <summary>
    /// Stores one <c>POST /keys/upload</c> in one transaction, all or nothing. Nothing is written when the device's identity
    /// keys are not <see cref="KeyUpload.ExpectedDeviceKeysJson"/> any more (<see cref="KeyUploadStatus.DeviceKeysChanged"/>:
    /// the caller decides again), or when a one-time key ID is stored with other content
    /// (<see cref="KeyUploadStatus.OneTimeKeyConflict"/>). One-time keys already stored with the same content are skipped;
    /// a fallback key replaces the device's previous one of its algorithm, unused, unless it is the same key. When identity
    /// keys are written, a device-lists row is written at <paramref name="deviceListStreamId"/>, which must then be given.
    /// </summary>
    Task<KeyUploadResult> UploadKeysAsync(KeyUpload upload, long? deviceListStreamId, CancellationToken cancellationToken);

    /// <summary>The device's unclaimed one-time keys per algorithm, and the algorithms of its unused fallback keys.</summary>
    Task<KeyCounts> GetKeyCountsAsync(UserId userId, DeviceId deviceId, CancellationToken cancellationToken);

    /// <summary>
    /// Claims one key per requested (user, device, algorithm) in one transaction: a one-time key, removed (two concurrent
    /// claims never return the same one), or when none is left the fallback key of that algorithm, marked used but kept.
    /// Devices with neither are missing from the result.
    /// </summary>
    Task<IReadOnlyList<ClaimedKey>> ClaimKeysAsync(IReadOnlyCollection<KeyClaim> claims, CancellationToken cancellationToken);
}

/// <summary>A device's stored identity keys.</summary>
/// <param name="UserId">The owner.</param>
/// <param name="DeviceId">The device.</param>
/// <param name="KeysJson">The <c>device_keys</c> object as uploaded (canonical JSON, without <c>unsigned</c>).</param>
/// <param name="DisplayName">The device's display name, if set.</param>
public sealed record StoredDeviceKeys(string UserId, string DeviceId, string KeysJson, string? DisplayName);

/// <summary>A one-time or fallback key: <c>{algorithm}:{keyId}</c> → canonical JSON of the key (a string or a key object).</summary>
/// <param name="Algorithm">The algorithm, e.g. <c>signed_curve25519</c>.</param>
/// <param name="KeyId">The key's ID within the algorithm.</param>
/// <param name="KeyJson">The key as canonical JSON.</param>
public sealed record UploadedKey(string Algorithm, string KeyId, string KeyJson);

/// <summary>One validated <c>POST /keys/upload</c>.</summary>
/// <param name="UserId">The uploading user.</param>
/// <param name="DeviceId">The uploading device.</param>
/// <param name="DeviceKeysJson">New identity keys to store (canonical JSON), or null to leave them.</param>
/// <param name="ExpectedDeviceKeysJson">The identity keys the caller saw stored (null: none); checked when writing new ones.</param>
/// <param name="OneTimeKeys">One-time keys to add.</param>
/// <param name="FallbackKeys">Fallback keys, at most one per algorithm.</param>
/// <param name="Ts">When, in ms since the epoch.</param>
public sealed record KeyUpload(UserId UserId, DeviceId DeviceId, string? DeviceKeysJson, string? ExpectedDeviceKeysJson,
    IReadOnlyList<UploadedKey> OneTimeKeys, IReadOnlyList<UploadedKey> FallbackKeys, long Ts);

/// <summary>What <see cref="IE2eKeyStore.UploadKeysAsync"/> did.</summary>
public enum KeyUploadStatus
{
    /// <summary>Everything was stored.</summary>
    Stored,

    /// <summary>The stored identity keys are not the expected ones any more; nothing was written.</summary>
    DeviceKeysChanged,

    /// <summary>A one-time key ID is already stored with other content; nothing was written.</summary>
    OneTimeKeyConflict,
}

/// <summary>The outcome of an upload.</summary>
/// <param name="Status">What happened.</param>
/// <param name="DeviceKeysWritten">Identity keys were written (and a device-lists row with them).</param>
/// <param name="ConflictingKey">With <see cref="KeyUploadStatus.OneTimeKeyConflict"/>: the key, <c>{algorithm}:{keyId}</c>.</param>
/// <param name="Counts">The device's key counts after the upload (when stored).</param>
public sealed record KeyUploadResult(KeyUploadStatus Status, bool DeviceKeysWritten, string? ConflictingKey, KeyCounts? Counts);

/// <summary>A device's key supply.</summary>
/// <param name="OneTimeKeys">Unclaimed one-time keys per algorithm (algorithms with none are absent).</param>
/// <param name="UnusedFallbackAlgorithms">Algorithms whose fallback key has not been claimed yet.</param>
public sealed record KeyCounts(IReadOnlyDictionary<string, int> OneTimeKeys, IReadOnlyList<string> UnusedFallbackAlgorithms);

/// <summary>One device's key wanted by <c>POST /keys/claim</c>.</summary>
/// <param name="UserId">The owner.</param>
/// <param name="DeviceId">The device.</param>
/// <param name="Algorithm">The algorithm, e.g. <c>signed_curve25519</c>.</param>
public sealed record KeyClaim(string UserId, string DeviceId, string Algorithm);

/// <summary>A claimed key.</summary>
/// <param name="UserId">The owner.</param>
/// <param name="DeviceId">The device.</param>
/// <param name="Algorithm">The algorithm.</param>
/// <param name="KeyId">The key's ID within the algorithm.</param>
/// <param name="KeyJson">The key as canonical JSON.</param>
/// <param name="IsFallback">True when it is the device's fallback key (no one-time key was left).</param>
public sealed record ClaimedKey(string UserId, string DeviceId, string Algorithm, string KeyId, string KeyJson, bool IsFallback);
