using System.Text.Json.Nodes;
using Synapse.Identifiers;
using Synapse.Storage;

namespace Synapse.E2e;

/// <summary>
/// The cross-signing half of <c>POST /keys/query</c>: <c>master_keys</c>, <c>self_signing_keys</c>,
/// <c>user_signing_keys</c> (the requester's own only), and the stored signatures merged into the keys they sign.
/// </summary>
/// <remarks>
/// Spec: Client-Server API, "Cross-signing": users see the signatures made by the owner of a key and their own, never those
/// of other users' user-signing keys. Two queries whatever the number of users and devices.
/// </remarks>
internal sealed class CrossSigningKeysQuery : IKeyQueryContributor
{
    private readonly ICrossSigningStore _store;

    public CrossSigningKeysQuery(ICrossSigningStore store) => _store = store;

    public Task ContributeAsync(KeyQueryContext context, KeyQueryResponse response, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        return AddToResponseAsync(context.Requester.UserId, [.. context.LocalUsers.Keys.Select(u => u.Value)], response,
            cancellationToken);
    }

    /// <summary>
    /// Adds the cross-signing keys of <paramref name="userIds"/> to <paramref name="response"/>, whose device keys are already
    /// in, and merges the signatures <paramref name="requester"/> may see into the device keys and master keys.
    /// </summary>
    public async Task AddToResponseAsync(UserId requester, IReadOnlyCollection<string> userIds, KeyQueryResponse response,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(response);
        if (userIds.Count == 0)
        {
            return;
        }

        var keys = await _store.GetKeysAsync(userIds, cancellationToken).ConfigureAwait(false);
        foreach (var (user, set) in keys)
        {
            if (set.Master is { } master)
            {
                response.SetMasterKey(user, (JsonObject)JsonNode.Parse(master.Json)!);
            }

            if (set.SelfSigning is { } selfSigning)
            {
                response.SetSelfSigningKey(user, (JsonObject)JsonNode.Parse(selfSigning.Json)!);
            }

            if (set.UserSigning is { } userSigning && user == requester.Value)
            {
                response.SetUserSigningKey(user, (JsonObject)JsonNode.Parse(userSigning.Json)!);
            }
        }

        var signatures = await _store.GetSignaturesAsync(userIds, requester.Value, cancellationToken).ConfigureAwait(false);
        foreach (var s in signatures)
        {
            if (keys.GetValueOrDefault(s.TargetUserId)?.Master is { } master && master.PublicKey == s.TargetKeyId)
            {
                if (response.MasterKeys[s.TargetUserId] is JsonObject masterKey)
                {
                    AddSignature(masterKey, s);
                }
            }
            else
            {
                response.AddDeviceSignature(s.TargetUserId, s.TargetKeyId, s.SignerUserId, s.SignerKeyId, s.Signature);
            }
        }
    }

    private static void AddSignature(JsonObject target, CrossSigningSignature signature) =>
        Crypto.JsonSigning.AddSignature(target, signature.SignerUserId, signature.SignerKeyId, signature.Signature);
}
