using Synapse.Identifiers;

namespace Synapse.Storage;

/// <summary>
/// Cross-signing keys and the signatures uploaded for them (Spec: Client-Server API, "Cross-signing"). The writes also
/// record the device-lists rows of the change in the same transaction, so that room-mates see the user in
/// <c>device_lists.changed</c> exactly when the change is readable.
/// </summary>
public interface ICrossSigningStore
{
    /// <summary>The current keys of each of <paramref name="userIds"/> that has any (a user without keys is absent).</summary>
    Task<IReadOnlyDictionary<string, CrossSigningKeySet>> GetKeysAsync(IReadOnlyCollection<string> userIds,
        CancellationToken cancellationToken);

    /// <summary>
    /// Stores <paramref name="keys"/> (all of <paramref name="userId"/>), replacing the user's key of the same usage, and
    /// writes a device-lists row per key (the public key as the device ID) at <paramref name="streamId"/>. With a
    /// <paramref name="precondition"/>, writes only when the user's master key is still the one it names; returns whether it
    /// wrote.
    /// </summary>
    Task<bool> SetKeysAsync(UserId userId, IReadOnlyList<CrossSigningKey> keys, MasterKeyPrecondition? precondition, long streamId,
        CancellationToken cancellationToken);

    /// <summary>
    /// Adds (or replaces, for the same signer key and target) <paramref name="signatures"/>, all on keys of
    /// <paramref name="targetUserId"/>, and writes a device-lists row per signed key at <paramref name="streamId"/>.
    /// </summary>
    Task AddSignaturesAsync(UserId targetUserId, IReadOnlyList<CrossSigningSignature> signatures, long streamId,
        CancellationToken cancellationToken);

    /// <summary>
    /// The stored signatures on keys of <paramref name="targetUserIds"/> that <paramref name="viewer"/> may see: those made by
    /// the target user themselves and those made by the viewer (Spec: "Users will not be able to see signatures made by
    /// other users' user-signing keys").
    /// </summary>
    Task<IReadOnlyList<CrossSigningSignature>> GetSignaturesAsync(IReadOnlyCollection<string> targetUserIds, string viewer,
        CancellationToken cancellationToken);
}

/// <summary>What a cross-signing key is for: the value of its <c>usage</c> and the key of the /keys/query map it goes to.</summary>
public enum CrossSigningUsage
{
    /// <summary><c>master</c>: the user's identity; signs the other two.</summary>
    Master,

    /// <summary><c>self_signing</c>: signs the user's own devices.</summary>
    SelfSigning,

    /// <summary><c>user_signing</c>: signs other users' master keys; only its owner sees it.</summary>
    UserSigning,
}

/// <summary>One cross-signing key as stored.</summary>
/// <param name="Usage">Which of the user's three keys it is.</param>
/// <param name="PublicKey">The unpadded base64 ed25519 public key (also the key's ID: <c>ed25519:&lt;PublicKey&gt;</c>).</param>
/// <param name="Json">The key object as uploaded (<c>user_id</c>, <c>usage</c>, <c>keys</c>, <c>signatures</c>).</param>
public sealed record CrossSigningKey(CrossSigningUsage Usage, string PublicKey, string Json);

/// <summary>A user's current cross-signing keys; any of them may be missing.</summary>
/// <param name="Master">The master key.</param>
/// <param name="SelfSigning">The self-signing key.</param>
/// <param name="UserSigning">The user-signing key.</param>
public sealed record CrossSigningKeySet(CrossSigningKey? Master, CrossSigningKey? SelfSigning, CrossSigningKey? UserSigning)
{
    /// <summary>No keys.</summary>
    public static CrossSigningKeySet None { get; } = new(null, null, null);

    /// <summary>The key of <paramref name="usage"/>, if the user has one.</summary>
    public CrossSigningKey? this[CrossSigningUsage usage] => usage switch
    {
        CrossSigningUsage.Master => Master,
        CrossSigningUsage.SelfSigning => SelfSigning,
        _ => UserSigning,
    };

    /// <summary>Whether <paramref name="publicKey"/> (unpadded base64) is one of these keys.</summary>
    public bool HasPublicKey(string publicKey) =>
        Master?.PublicKey == publicKey || SelfSigning?.PublicKey == publicKey || UserSigning?.PublicKey == publicKey;
}

/// <summary>A key write that only happens while the user's master key is <paramref name="MasterPublicKey"/> (null: none).</summary>
/// <param name="MasterPublicKey">The master public key the writer saw.</param>
public sealed record MasterKeyPrecondition(string? MasterPublicKey);

/// <summary>A signature by one user's key on a key of a user (possibly the same one).</summary>
/// <param name="SignerUserId">The user whose key signed.</param>
/// <param name="SignerKeyId">The signing key's ID: <c>ed25519:&lt;device ID&gt;</c> or <c>ed25519:&lt;public key&gt;</c>.</param>
/// <param name="TargetUserId">The owner of the signed key.</param>
/// <param name="TargetKeyId">The signed key: a device ID, or a master key's public key.</param>
/// <param name="Signature">The unpadded base64 ed25519 signature.</param>
public sealed record CrossSigningSignature(string SignerUserId, string SignerKeyId, string TargetUserId, string TargetKeyId,
    string Signature);
