using System.Text.Json.Nodes;
using Synapse.Identifiers;

namespace Synapse.Crypto;

/// <summary>A key this server no longer signs with, still published so that events it signed can be checked.</summary>
/// <param name="KeyId">The key ID, e.g. <c>ed25519:old1</c>.</param>
/// <param name="PublicKey">The 32-byte public key in unpadded base64.</param>
/// <param name="ExpiredTs">When the server stopped using the key, in milliseconds since the Unix epoch.</param>
public readonly record struct OldVerifyKey(string KeyId, string PublicKey, long ExpiredTs);

/// <summary>The body of <c>GET /_matrix/key/v2/server</c>: this server's keys, signed by itself.</summary>
/// <remarks>Spec: Server-Server API, "Publishing Keys".</remarks>
public static class ServerKeys
{
    /// <summary>
    /// Builds the signed key response: every key of <paramref name="signingKeys"/> under <c>verify_keys</c> and
    /// signing the response (a checker finds a signature whichever of them it picks), the retired keys under
    /// <c>old_verify_keys</c>, and <c>valid_until_ts</c> = <paramref name="now"/> + <paramref name="validity"/>.
    /// </summary>
    /// <param name="serverName">This server's name.</param>
    /// <param name="signingKeys">The current keys, the one in use first; at least one.</param>
    /// <param name="oldKeys">Retired keys; their IDs must differ from the current keys'.</param>
    /// <param name="now">The current time.</param>
    /// <param name="validity">How long other servers may cache the answer (Synapse's default is a day).</param>
    /// <exception cref="ArgumentException">No current key, a negative validity, a malformed or duplicate old key.</exception>
    public static JsonObject BuildResponse(
        ServerName serverName, IReadOnlyList<SigningKey> signingKeys, IEnumerable<OldVerifyKey> oldKeys, DateTimeOffset now, TimeSpan validity)
    {
        ArgumentNullException.ThrowIfNull(signingKeys);
        ArgumentNullException.ThrowIfNull(oldKeys);
        if (signingKeys.Count == 0)
        {
            throw new ArgumentException("A server publishes at least one signing key.", nameof(signingKeys));
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(validity, TimeSpan.Zero);

        var verifyKeys = new JsonObject();
        foreach (var key in signingKeys)
        {
            ArgumentNullException.ThrowIfNull(key, nameof(signingKeys));
            verifyKeys[key.KeyId] = new JsonObject { ["key"] = key.PublicKey };
        }

        var oldVerifyKeys = new JsonObject();
        foreach (var old in oldKeys)
        {
            if (string.IsNullOrEmpty(old.KeyId) || verifyKeys.ContainsKey(old.KeyId) || oldVerifyKeys.ContainsKey(old.KeyId))
            {
                throw new ArgumentException($"Old key ID '{old.KeyId}' is empty or listed twice.", nameof(oldKeys));
            }

            if (!UnpaddedBase64.TryDecode(old.PublicKey, out byte[]? bytes) || bytes.Length != 32)
            {
                throw new ArgumentException($"Old key '{old.KeyId}' is not a 32-byte key in unpadded base64.", nameof(oldKeys));
            }

            oldVerifyKeys[old.KeyId] = new JsonObject { ["key"] = old.PublicKey, ["expired_ts"] = old.ExpiredTs };
        }

        var response = new JsonObject
        {
            ["server_name"] = serverName.Value,
            ["valid_until_ts"] = (now + validity).ToUnixTimeMilliseconds(),
            ["verify_keys"] = verifyKeys,
            ["old_verify_keys"] = oldVerifyKeys,
        };
        foreach (var key in signingKeys)
        {
            JsonSigning.Sign(response, serverName, key);
        }

        return response;
    }
}
