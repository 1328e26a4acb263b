using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Json.Nodes;
using Synapse.Identifiers;
using Synapse.Json;

namespace Synapse.Crypto;

/// <summary>
/// Signing and checking signed JSON objects: the signature covers the canonical JSON of the object without its
/// <c>signatures</c> and <c>unsigned</c> members and is stored at <c>signatures[server_name][key_id]</c>.
/// </summary>
/// <remarks>
/// Spec: Appendices, "Signing JSON", "Signing Details" and "Checking for a Signature". Signing takes the mutable
/// <see cref="JsonObject"/> a response or event is being built in and adds the signature to it; checking takes the
/// <see cref="JsonElement"/> a received body was parsed into, so nothing is copied into a node tree to read it.
/// For events, sign and check the redacted event instead (see <see cref="Events.EventHashing"/>).
/// </remarks>
public static class JsonSigning
{
    private static readonly string[] SignedExclusions = ["signatures", "unsigned"];

    // The re-parse below must accept whatever depth the first parse accepted.
    private static readonly JsonDocumentOptions ReparseOptions = new() { MaxDepth = 1000 };

    /// <summary>
    /// Signs <paramref name="json"/> with <paramref name="key"/> on behalf of <paramref name="serverName"/>, adding
    /// the signature beside any the object already carries (one from the same server and key is replaced).
    /// </summary>
    /// <param name="json">The object to sign; changed in place.</param>
    /// <param name="serverName">The signing entity, the key of the <c>signatures</c> object.</param>
    /// <param name="key">The signing key.</param>
    /// <param name="strictCanonicalJson">
    /// False only for events of room versions 1–5, whose numbers may fall outside canonical JSON.
    /// </param>
    /// <exception cref="CanonicalJsonException">The object has a number canonical JSON forbids, in strict mode.</exception>
    public static void Sign(JsonObject json, ServerName serverName, SigningKey key, bool strictCanonicalJson = true)
    {
        ArgumentNullException.ThrowIfNull(json);
        ArgumentNullException.ThrowIfNull(key);
        byte[] canonical = EncodeCanonical(json, strictCanonicalJson, SignedExclusions);
        AddSignature(json, serverName, key.KeyId, UnpaddedBase64.Encode(key.Sign(canonical)));
    }

    /// <summary>
    /// Whether <paramref name="json"/> carries a valid signature by <paramref name="serverName"/> with the key
    /// <paramref name="keyId"/>, checked against <paramref name="publicKey"/>. False, never an exception, when
    /// the signature is absent or malformed, the algorithm is not ed25519, or the object cannot be encoded.
    /// </summary>
    /// <param name="json">The signed object.</param>
    /// <param name="serverName">The entity whose signature is checked.</param>
    /// <param name="keyId">The key ID, e.g. <c>ed25519:abc</c>.</param>
    /// <param name="publicKey">The 32-byte public key of <paramref name="keyId"/>.</param>
    /// <param name="strictCanonicalJson">False only for events of room versions 1–5.</param>
    public static bool Verify(JsonElement json, ServerName serverName, string keyId, ReadOnlySpan<byte> publicKey, bool strictCanonicalJson = true)
    {
        if (!TryGetSignature(json, serverName, keyId, out byte[]? signature))
        {
            return false;
        }

        byte[] canonical;
        try
        {
            canonical = EncodeCanonical(json, strictCanonicalJson, SignedExclusions);
        }
        catch (CanonicalJsonException)
        {
            return false;
        }

        return SigningKey.Verify(publicKey, canonical, signature);
    }

    /// <summary>
    /// Reads and decodes <c>signatures[serverName][keyId]</c>; false when it is absent or not base64, or when the
    /// key's algorithm is not ed25519 (spec: "Checking for a Signature" drops algorithms it does not understand).
    /// </summary>
    internal static bool TryGetSignature(JsonElement json, ServerName serverName, string keyId, [NotNullWhen(true)] out byte[]? signature)
    {
        ArgumentNullException.ThrowIfNull(keyId);
        signature = null;
        return keyId.StartsWith(SigningKey.Ed25519 + ":", StringComparison.Ordinal)
            && json.ValueKind == JsonValueKind.Object
            && json.TryGetProperty("signatures", out var signatures) && signatures.ValueKind == JsonValueKind.Object
            && signatures.TryGetProperty(serverName.Value, out var byServer) && byServer.ValueKind == JsonValueKind.Object
            && byServer.TryGetProperty(keyId, out var encoded) && encoded.ValueKind == JsonValueKind.String
            && UnpaddedBase64.TryDecode(encoded.GetString(), out signature);
    }

    /// <summary>Sets <c>signatures[serverName][keyId]</c>, creating the objects on the way.</summary>
    internal static void AddSignature(JsonObject json, ServerName serverName, string keyId, string signature) =>
        AddSignature(json, serverName.Value, keyId, signature);

    /// <summary>
    /// Sets <c>signatures[signer][keyId]</c>, creating the objects on the way; <paramref name="signer"/> is a server name or,
    /// for end-to-end keys, a user ID.
    /// </summary>
    internal static void AddSignature(JsonObject json, string signer, string keyId, string signature)
    {
        if (json["signatures"] is not JsonObject signatures)
        {
            signatures = [];
            json["signatures"] = signatures;
        }

        if (signatures[signer] is not JsonObject bySigner)
        {
            bySigner = [];
            signatures[signer] = bySigner;
        }

        bySigner[keyId] = signature;
    }

    /// <summary>Canonical JSON of the object <paramref name="json"/> without the top-level members <paramref name="excluded"/>.</summary>
    internal static byte[] EncodeCanonical(JsonElement json, bool strict, ReadOnlySpan<string> excluded)
    {
        if (json.ValueKind != JsonValueKind.Object)
        {
            throw new ArgumentException("Only a JSON object can be signed or hashed.", nameof(json));
        }

        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            foreach (var property in json.EnumerateObject())
            {
                if (!IsExcluded(property.Name, excluded))
                {
                    property.WriteTo(writer);
                }
            }

            writer.WriteEndObject();
        }

        return EncodeWritten(buffer, strict);
    }

    /// <inheritdoc cref="EncodeCanonical(JsonElement, bool, ReadOnlySpan{string})"/>
    internal static byte[] EncodeCanonical(JsonObject json, bool strict, ReadOnlySpan<string> excluded)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            foreach (var (name, value) in json)
            {
                if (IsExcluded(name, excluded))
                {
                    continue;
                }

                writer.WritePropertyName(name);
                if (value is null)
                {
                    writer.WriteNullValue();
                }
                else
                {
                    value.WriteTo(writer);
                }
            }

            writer.WriteEndObject();
        }

        return EncodeWritten(buffer, strict);
    }

    /// <summary>Canonical JSON of JSON text just written to <paramref name="buffer"/>.</summary>
    /// <remarks>
    /// Filtering through a writer and parsing again costs a second pass; it keeps <see cref="CanonicalJson"/> the one
    /// place that knows the encoding. Numbers are written as they were read, so lenient mode still sees them raw.
    /// </remarks>
    internal static byte[] EncodeWritten(ArrayBufferWriter<byte> buffer, bool strict)
    {
        using var document = JsonDocument.Parse(buffer.WrittenMemory, ReparseOptions);
        return CanonicalJson.Encode(document.RootElement, strict);
    }

    private static bool IsExcluded(string name, ReadOnlySpan<string> excluded)
    {
        foreach (string candidate in excluded)
        {
            if (string.Equals(name, candidate, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }
}
