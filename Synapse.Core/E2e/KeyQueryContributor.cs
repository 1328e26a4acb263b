using System.Text.Json.Nodes;
using Synapse.Accounts;
using Synapse.Identifiers;

namespace Synapse.E2e;

/// <summary>
/// Adds to a <c>POST /keys/query</c> response what the device-keys store does not hold: cross-signing keys
/// (<c>master_keys</c>, <c>self_signing_keys</c>, <c>user_signing_keys</c>) and signatures of device keys made by other
/// keys than the device's own (Spec: Client-Server API, "Cross-signing"). <see cref="KeyQueryService"/> calls every
/// registered contributor once per request, after the local device keys are in and before the response is built, with the
/// local users that were asked for; remote users' keys come from their servers whole.
/// </summary>
/// <remarks>
/// A contributor reads what it needs for all the users of the context in one go (a query for a thousand users is a few
/// statements, not a thousand) and writes through <see cref="KeyQueryResponse"/>'s methods.
/// </remarks>
internal interface IKeyQueryContributor
{
    Task ContributeAsync(KeyQueryContext context, KeyQueryResponse response, CancellationToken cancellationToken);
}

/// <summary>What a <c>POST /keys/query</c> asked about this server's users.</summary>
internal sealed class KeyQueryContext
{
    public required Requester Requester { get; init; }

    /// <summary>The local users asked about, each with the device IDs asked for (empty: every device).</summary>
    public required IReadOnlyDictionary<UserId, IReadOnlyList<string>> LocalUsers { get; init; }
}

/// <summary>The <c>POST /keys/query</c> response being built.</summary>
internal sealed class KeyQueryResponse
{
    /// <summary>user ID → device ID → device keys (with <c>unsigned</c>).</summary>
    public JsonObject DeviceKeys { get; } = [];

    /// <summary>user ID → master cross-signing key.</summary>
    public JsonObject MasterKeys { get; } = [];

    /// <summary>user ID → self-signing key.</summary>
    public JsonObject SelfSigningKeys { get; } = [];

    /// <summary>user ID → user-signing key: the spec returns it only to its owner, who must be the requester.</summary>
    public JsonObject UserSigningKeys { get; } = [];

    /// <summary>server name → why it could not answer.</summary>
    public JsonObject Failures { get; } = [];

    /// <summary>The device keys of <paramref name="userId"/>'s <paramref name="deviceId"/> in the response, if there.</summary>
    public JsonObject? FindDevice(string userId, string deviceId) =>
        DeviceKeys[userId] is JsonObject devices && devices[deviceId] is JsonObject device ? device : null;

    /// <summary>
    /// Adds a signature to a device's keys in the response (<c>signatures.{signer}.{keyId}</c>), e.g. the owner's
    /// self-signing key's signature of the device; does nothing when the device is not in the response.
    /// </summary>
    public void AddDeviceSignature(string userId, string deviceId, string signerUserId, string keyId, string signature)
    {
        if (FindDevice(userId, deviceId) is not { } device)
        {
            return;
        }

        Crypto.JsonSigning.AddSignature(device, signerUserId, keyId, signature);
    }

    public void SetMasterKey(string userId, JsonObject key) => MasterKeys[userId] = key;

    public void SetSelfSigningKey(string userId, JsonObject key) => SelfSigningKeys[userId] = key;

    public void SetUserSigningKey(string userId, JsonObject key) => UserSigningKeys[userId] = key;

    public JsonObject Build() => new()
    {
        ["device_keys"] = DeviceKeys,
        ["failures"] = Failures,
        ["master_keys"] = MasterKeys,
        ["self_signing_keys"] = SelfSigningKeys,
        ["user_signing_keys"] = UserSigningKeys,
    };
}
