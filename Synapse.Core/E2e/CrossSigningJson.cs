using System.Net;
using System.Text.Json;
using Synapse.Crypto;
using Synapse.Identifiers;
using Synapse.Json;
using Synapse.Storage;

namespace Synapse.E2e;

/// <summary>A cross-signing key object of a request, checked (Spec: Client-Server API, "Cross-signing", CrossSigningKey).</summary>
/// <param name="Usage">The usage it was uploaded for.</param>
/// <param name="PublicKey">The unpadded base64 ed25519 public key.</param>
/// <param name="PublicKeyBytes">The decoded 32-byte public key.</param>
/// <param name="Json">The object as the client sent it.</param>
internal sealed record ParsedCrossSigningKey(CrossSigningUsage Usage, string PublicKey, byte[] PublicKeyBytes, JsonElement Json)
{
    /// <summary>The key's ID in signatures: <c>ed25519:&lt;public key&gt;</c>.</summary>
    public string KeyId => CrossSigningJson.Ed25519Prefix + PublicKey;
}

/// <summary>
/// Reading cross-signing key objects and checking the signatures users make with their keys. User signatures sit under
/// the user ID in <c>signatures</c> (not a server name), so <see cref="JsonSigning.Verify"/> does not apply as it is; the
/// signed bytes are the same: canonical JSON without <c>signatures</c> and <c>unsigned</c> (Spec: Appendices, "Signing JSON").
/// </summary>
internal static class CrossSigningJson
{
    /// <summary>The errcode of a bad signature (Spec: cross_signing.yaml).</summary>
    public const string InvalidSignature = ErrorCodes.InvalidSignature;

    public const string Ed25519Prefix = SigningKey.Ed25519 + ":";

    private static readonly string[] SignedExclusions = ["signatures", "unsigned"];

    /// <summary>The <c>usage</c> value, and the request field, of each usage.</summary>
    public static string UsageName(CrossSigningUsage usage) => usage switch
    {
        CrossSigningUsage.Master => "master",
        CrossSigningUsage.SelfSigning => "self_signing",
        _ => "user_signing",
    };

    /// <summary>
    /// Checks the key object of request field <paramref name="field"/>: an object whose <c>user_id</c> is
    /// <paramref name="owner"/>, whose <c>usage</c> lists <paramref name="usage"/>, with exactly one ed25519 key in
    /// <c>keys</c> named after its own public key. 400 <c>M_BAD_JSON</c> for wrong types, <c>M_MISSING_PARAM</c> for missing
    /// fields, <c>M_INVALID_PARAM</c> for wrong values.
    /// </summary>
    public static ParsedCrossSigningKey ParseKey(JsonElement key, string field, CrossSigningUsage usage, UserId owner)
    {
        if (key.ValueKind != JsonValueKind.Object)
        {
            throw MatrixException.BadJson($"'{field}' must be an object");
        }

        string userId = key.TryGetProperty("user_id", out var userElement)
            ? userElement.ValueKind == JsonValueKind.String ? userElement.GetString()! : throw MatrixException.BadJson($"'{field}.user_id' must be a string")
            : throw MatrixException.MissingParam(field + ".user_id");
        if (!string.Equals(userId, owner.Value, StringComparison.Ordinal))
        {
            throw MatrixException.InvalidParam($"'{field}.user_id' must be the user uploading the key");
        }

        if (!key.TryGetProperty("usage", out var usages))
        {
            throw MatrixException.MissingParam(field + ".usage");
        }

        if (usages.ValueKind != JsonValueKind.Array || usages.EnumerateArray().Any(u => u.ValueKind != JsonValueKind.String))
        {
            throw MatrixException.BadJson($"'{field}.usage' must be an array of strings");
        }

        string usageName = UsageName(usage);
        if (!usages.EnumerateArray().Any(u => u.ValueEquals(usageName)))
        {
            throw MatrixException.InvalidParam($"'{field}.usage' must contain '{usageName}'");
        }

        if (!key.TryGetProperty("keys", out var keys))
        {
            throw MatrixException.MissingParam(field + ".keys");
        }

        if (keys.ValueKind != JsonValueKind.Object)
        {
            throw MatrixException.BadJson($"'{field}.keys' must be an object");
        }

        using var members = keys.EnumerateObject();
        if (!members.MoveNext())
        {
            throw MatrixException.InvalidParam($"'{field}.keys' must contain exactly one key");
        }

        var only = members.Current;
        if (members.MoveNext())
        {
            throw MatrixException.InvalidParam($"'{field}.keys' must contain exactly one key");
        }

        if (!only.Name.StartsWith(Ed25519Prefix, StringComparison.Ordinal))
        {
            throw MatrixException.InvalidParam($"'{field}.keys' must contain an ed25519 key");
        }

        string publicKey = only.Name[Ed25519Prefix.Length..];
        if (only.Value.ValueKind != JsonValueKind.String || !only.Value.ValueEquals(publicKey)
            || !UnpaddedBase64.TryDecode(publicKey, out byte[]? bytes) || bytes.Length != 32)
        {
            throw MatrixException.InvalidParam($"'{field}.keys' must map 'ed25519:<public key>' to the 32-byte public key in unpadded base64");
        }

        if (key.TryGetProperty("signatures", out var signatures) && signatures.ValueKind != JsonValueKind.Object)
        {
            throw MatrixException.BadJson($"'{field}.signatures' must be an object");
        }

        if (!TryEncodeSigned(key, out _))
        {
            throw MatrixException.BadJson($"'{field}' is not valid canonical JSON (floats or out-of-range integers)");
        }

        return new ParsedCrossSigningKey(usage, publicKey, bytes, key.Clone());
    }

    /// <summary>
    /// Whether <paramref name="json"/> carries a valid signature by <paramref name="signer"/> (a user ID) with the key
    /// <paramref name="keyId"/>, checked against <paramref name="publicKey"/>; null when there is no such signature at all.
    /// </summary>
    public static bool? VerifySignature(JsonElement json, string signer, string keyId, ReadOnlySpan<byte> publicKey)
    {
        if (TryGetSignature(json, signer, keyId) is not { } encoded)
        {
            return null;
        }

        return UnpaddedBase64.TryDecode(encoded, out byte[]? signature)
            && TryEncodeSigned(json, out byte[]? canonical)
            && SigningKey.Verify(publicKey, canonical, signature);
    }

    /// <summary>The string at <c>signatures[signer][keyId]</c>, if any.</summary>
    public static string? TryGetSignature(JsonElement json, string signer, string keyId) =>
        json.ValueKind == JsonValueKind.Object
        && json.TryGetProperty("signatures", out var signatures) && signatures.ValueKind == JsonValueKind.Object
        && signatures.TryGetProperty(signer, out var bySigner) && bySigner.ValueKind == JsonValueKind.Object
        && bySigner.TryGetProperty(keyId, out var signature) && signature.ValueKind == JsonValueKind.String
            ? signature.GetString()
            : null;

    /// <summary>The bytes a signature covers: canonical JSON without <c>signatures</c> and <c>unsigned</c>.</summary>
    public static bool TryEncodeSigned(JsonElement json, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out byte[]? canonical)
    {
        try
        {
            canonical = JsonSigning.EncodeCanonical(json, strict: true, SignedExclusions);
            return true;
        }
        catch (CanonicalJsonException)
        {
            canonical = null;
            return false;
        }
    }

    /// <summary>Whether two objects are the same key apart from their signatures (and <c>unsigned</c>).</summary>
    public static bool SameSignedContent(JsonElement a, JsonElement b) =>
        TryEncodeSigned(a, out byte[]? left) && TryEncodeSigned(b, out byte[]? right) && left.AsSpan().SequenceEqual(right);

    /// <summary>Whether two objects are identical, signatures included.</summary>
    public static bool Identical(JsonElement a, JsonElement b)
    {
        try
        {
            return CanonicalJson.Encode(a).AsSpan().SequenceEqual(CanonicalJson.Encode(b));
        }
        catch (CanonicalJsonException)
        {
            return false;
        }
    }

    /// <summary>The ed25519 public key a device publishes in its device keys (<c>keys["ed25519:&lt;device ID&gt;"]</c>).</summary>
    public static byte[]? DeviceSigningKey(JsonElement deviceKeys, string deviceId) =>
        deviceKeys.ValueKind == JsonValueKind.Object
        && deviceKeys.TryGetProperty("keys", out var keys) && keys.ValueKind == JsonValueKind.Object
        && keys.TryGetProperty(Ed25519Prefix + deviceId, out var key) && key.ValueKind == JsonValueKind.String
        && UnpaddedBase64.TryDecode(key.GetString(), out byte[]? bytes) && bytes.Length == 32
            ? bytes
            : null;

    /// <summary>400 <c>M_INVALID_SIGNATURE</c>.</summary>
    public static MatrixException InvalidSignatureError(string message) =>
        new(HttpStatusCode.BadRequest, InvalidSignature, message);
}
