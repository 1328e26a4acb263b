using System.Text.Json.Nodes;

namespace Synapse.E2e;

/// <summary>
/// Asks other homeservers about their users' keys: the seam where federation's <c>POST /_matrix/federation/v1/user/keys/query</c>
/// and <c>.../user/keys/claim</c> plug in (Spec: Server-Server API, "End-to-End Encryption"). <see cref="KeyQueryService"/>
/// and <see cref="E2eKeyService"/> call it once per remote server of a request, all servers in parallel, and put a server
/// that fails, throws or runs out of time under <c>failures</c>.
/// </summary>
internal interface IE2eKeyFederationClient
{
    /// <summary>
    /// Queries <paramref name="server"/> for <paramref name="deviceKeys"/> (user ID → array of device IDs, empty for all).
    /// A success carries the server's response body (<c>device_keys</c>, <c>master_keys</c>, <c>self_signing_keys</c>).
    /// </summary>
    Task<RemoteKeysResult> QueryKeysAsync(string server, JsonObject deviceKeys, TimeSpan timeout, CancellationToken cancellationToken);

    /// <summary>
    /// Claims one-time keys on <paramref name="server"/> for <paramref name="oneTimeKeys"/> (user ID → device ID → algorithm).
    /// A success carries the server's response body (<c>one_time_keys</c>).
    /// </summary>
    Task<RemoteKeysResult> ClaimKeysAsync(string server, JsonObject oneTimeKeys, TimeSpan timeout, CancellationToken cancellationToken);
}

/// <summary>A remote server's answer: its response body, or the failure entry to report for it.</summary>
/// <param name="Body">The response body when the server answered.</param>
/// <param name="Failure">The <c>failures</c> entry when it did not (e.g. <c>{"status": 503, "message": "..."}</c>).</param>
internal sealed record RemoteKeysResult(JsonObject? Body, JsonObject? Failure)
{
    public static RemoteKeysResult Success(JsonObject body) => new(body, null);

    public static RemoteKeysResult Failed(int status, string message) =>
        new(null, new JsonObject { ["status"] = status, ["message"] = message });
}

/// <summary>
/// The client used until federation exists: every remote server is reported unreachable, as deployed servers report a
/// server they cannot contact (status 503).
/// </summary>
internal sealed class NoFederationE2eKeyClient : IE2eKeyFederationClient
{
    private const string Message = "Federation is not available on this server";

    public Task<RemoteKeysResult> QueryKeysAsync(string server, JsonObject deviceKeys, TimeSpan timeout,
        CancellationToken cancellationToken) => Task.FromResult(RemoteKeysResult.Failed(503, Message));

    public Task<RemoteKeysResult> ClaimKeysAsync(string server, JsonObject oneTimeKeys, TimeSpan timeout,
        CancellationToken cancellationToken) => Task.FromResult(RemoteKeysResult.Failed(503, Message));
}
