using System.Text.Json.Nodes;
using Synapse.E2e;

namespace Synapse.Sync;

/// <summary>
/// <c>device_one_time_keys_count</c> and <c>device_unused_fallback_key_types</c> of every /sync response, initial or
/// incremental, for the requesting device (Spec: Client-Server API, "Extensions to /sync" of end-to-end encryption). Both
/// are always sent: the count with <c>signed_curve25519</c> even at 0, and the fallback types even when empty, since a
/// missing list tells clients that the server does not support fallback keys.
/// </summary>
/// <remarks>Counts do not wake a sync: a client learns of claims with its next response, as the spec expects.</remarks>
internal sealed class OneTimeKeyCountsContributor : ISyncContributor
{
    private readonly E2eKeyService _keys;

    public OneTimeKeyCountsContributor(E2eKeyService keys) => _keys = keys;

    public async Task ContributeAsync(SyncContext context, SyncResponseBuilder response, CancellationToken cancellationToken)
    {
        var counts = await _keys.GetKeyCountsAsync(context.Requester, cancellationToken).ConfigureAwait(false);
        response.SetOneTimeKeyCounts(E2eKeyService.OneTimeKeyCountsJson(counts));
        response.SetUnusedFallbackKeyTypes(new JsonArray([.. counts.UnusedFallbackAlgorithms.Select(a => (JsonNode)JsonValue.Create(a))]));
    }
}
