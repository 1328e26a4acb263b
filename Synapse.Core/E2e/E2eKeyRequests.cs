using System.Text.Json;
using System.Text.Json.Nodes;
using Synapse.Identifiers;

namespace Synapse.E2e;

/// <summary>Pieces shared by <c>/keys/query</c> and <c>/keys/claim</c>: the <c>timeout</c> field and the remote half.</summary>
internal static class E2eKeyRequests
{
    /// <summary>The spec's recommended default for <c>timeout</c>.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    /// <summary>The longest a request waits for remote servers, whatever it asks for.</summary>
    public static readonly TimeSpan MaxTimeout = TimeSpan.FromSeconds(60);

    /// <summary><c>timeout</c> in ms (optional; a non-negative integer, else 400 <c>M_BAD_JSON</c>), capped.</summary>
    public static TimeSpan ParseTimeout(JsonElement body)
    {
        if (!body.TryGetProperty("timeout", out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return DefaultTimeout;
        }

        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt64(out long ms) || ms < 0)
        {
            throw MatrixException.BadJson("'timeout' must be a non-negative integer (milliseconds)");
        }

        return TimeSpan.FromMilliseconds(Math.Min(ms, (long)MaxTimeout.TotalMilliseconds));
    }

    /// <summary>A user ID from a request map's key: 400 <c>M_INVALID_PARAM</c> when malformed.</summary>
    public static UserId ParseUserId(string value) =>
        UserId.TryParse(value, out var userId) ? userId : throw MatrixException.InvalidParam($"'{value}' is not a valid user ID");

    /// <summary>
    /// Sends one request per remote server, all at once, each bounded by <paramref name="timeout"/>; a server that throws or
    /// runs out of time becomes a failure entry. Results come back in the order of <paramref name="requests"/>.
    /// </summary>
    public static async Task<IReadOnlyList<(string Server, RemoteKeysResult Result)>> CallRemoteServersAsync(
        IReadOnlyList<(string Server, JsonObject Request)> requests,
        Func<string, JsonObject, TimeSpan, CancellationToken, Task<RemoteKeysResult>> call, TimeSpan timeout,
        CancellationToken cancellationToken)
    {
        if (requests.Count == 0)
        {
            return [];
        }

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        var calls = requests.Select(async r =>
        {
            try
            {
                return (r.Server, await call(r.Server, r.Request, timeout, deadline.Token).ConfigureAwait(false));
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                return (r.Server, RemoteKeysResult.Failed(504, "Timed out waiting for the server"));
            }
#pragma warning disable CA1031 // One unreachable or broken server must not fail the whole request: it is reported.
            catch (Exception e) when (e is not OperationCanceledException)
#pragma warning restore CA1031
            {
                return (r.Server, RemoteKeysResult.Failed(503, e.Message));
            }
        }).ToList();
        return await Task.WhenAll(calls).ConfigureAwait(false);
    }
}
