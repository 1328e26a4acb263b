using Synapse.Identifiers;

namespace Synapse.Storage;

/// <summary>
/// Server-side key backups (Spec: Client-Server API, "Server-side key backups"): per user, numbered backup versions, each
/// holding at most one encrypted megolm session key per (room, session). A version's <c>etag</c> advances whenever its
/// stored keys change; its <c>count</c> is the number of sessions it holds. Deleting a version keeps its number (versions
/// are never reused, and deleting it again succeeds) but drops its keys.
/// </summary>
public interface IKeyBackupStore
{
    /// <summary>Creates a version numbered one above every version the user ever had (deleted ones included) and returns it.</summary>
    Task<long> CreateVersionAsync(UserId userId, string algorithm, string authDataJson, CancellationToken cancellationToken);

    /// <summary>One version that is not deleted, or with <paramref name="version"/> null the newest such; null when there is none.</summary>
    Task<KeyBackupVersion?> GetVersionAsync(UserId userId, long? version, CancellationToken cancellationToken);

    /// <summary>Replaces a version's <c>auth_data</c>; false when the version does not exist or is deleted.</summary>
    Task<bool> UpdateVersionAsync(UserId userId, long version, string authDataJson, CancellationToken cancellationToken);

    /// <summary>
    /// Marks a version deleted and deletes its keys; true when the version exists or existed (deleting twice succeeds),
    /// false when the user never had it.
    /// </summary>
    Task<bool> DeleteVersionAsync(UserId userId, long version, CancellationToken cancellationToken);

    /// <summary>
    /// Stores <paramref name="sessions"/> (at most one per room and session) in <paramref name="version"/>, which must be the
    /// user's newest version. A session the version already holds is overwritten only when
    /// <paramref name="replaces"/>(stored, uploaded) is true. The comparison and the writes run in one transaction, with a
    /// bounded number of queries however many sessions there are.
    /// </summary>
    Task<KeyBackupWriteResult> PutKeysAsync(UserId userId, long version, IReadOnlyCollection<KeyBackupSession> sessions,
        Func<KeyBackupSession, KeyBackupSession, bool> replaces, CancellationToken cancellationToken);

    /// <summary>
    /// The stored sessions of a version, all of them or those of one room (<paramref name="roomId"/>) or one session
    /// (<paramref name="roomId"/> and <paramref name="sessionId"/>), ordered by room and session; null when the version does
    /// not exist or is deleted.
    /// </summary>
    Task<IReadOnlyList<KeyBackupSession>?> GetKeysAsync(UserId userId, long version, string? roomId, string? sessionId,
        CancellationToken cancellationToken);

    /// <summary>
    /// Deletes the sessions of a version, all or those of one room or one session (as in <see cref="GetKeysAsync"/>), and
    /// returns the version afterwards; null when the version does not exist or is deleted.
    /// </summary>
    Task<KeyBackupVersion?> DeleteKeysAsync(UserId userId, long version, string? roomId, string? sessionId,
        CancellationToken cancellationToken);
}

/// <summary>One backup version.</summary>
/// <param name="Version">The version number (sent to clients as a string).</param>
/// <param name="Algorithm">The backup algorithm, e.g. <c>m.megolm_backup.v1.curve25519-aes-sha2</c>.</param>
/// <param name="AuthDataJson">The algorithm-dependent <c>auth_data</c>, a JSON object as text.</param>
/// <param name="Etag">A counter that advances whenever the version's stored keys change.</param>
/// <param name="Count">The number of sessions stored in the version.</param>
public sealed record KeyBackupVersion(long Version, string Algorithm, string AuthDataJson, long Etag, long Count);

/// <summary>One backed-up megolm session key (the spec's <c>KeyBackupData</c>, with where it belongs).</summary>
/// <param name="RoomId">The room the session is for.</param>
/// <param name="SessionId">The megolm session ID.</param>
/// <param name="FirstMessageIndex">The index of the first message the key can decrypt.</param>
/// <param name="ForwardedCount">How many times the key was forwarded between devices.</param>
/// <param name="IsVerified">Whether the backing-up device verified the device the key came from.</param>
/// <param name="SessionDataJson">The algorithm-dependent encrypted <c>session_data</c>, a JSON object as text.</param>
public sealed record KeyBackupSession(string RoomId, string SessionId, long FirstMessageIndex, long ForwardedCount, bool IsVerified,
    string SessionDataJson);

/// <summary>What <see cref="IKeyBackupStore.PutKeysAsync"/> did.</summary>
public enum KeyBackupWriteStatus
{
    /// <summary>The version is the current one; the sessions were compared and the better ones stored.</summary>
    Written,

    /// <summary>The version does not exist or is deleted; nothing was stored.</summary>
    UnknownVersion,

    /// <summary>The version exists but a newer one is current; nothing was stored.</summary>
    NotCurrentVersion,
}

/// <summary>The outcome of storing keys.</summary>
/// <param name="Status">Whether the keys were stored.</param>
/// <param name="Etag">When written: the version's etag afterwards (unchanged when no session was stored).</param>
/// <param name="Count">When written: the number of sessions in the version afterwards.</param>
/// <param name="CurrentVersion">When the version is not the current one: the current version.</param>
public sealed record KeyBackupWriteResult(KeyBackupWriteStatus Status, long Etag = 0, long Count = 0, long CurrentVersion = 0);
