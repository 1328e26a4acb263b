using System.Net;
using Microsoft.Extensions.Caching.Memory;
using Synapse.Storage;

namespace Synapse.Accounts;

/// <summary>
/// Resolves access tokens to requesters through a cache: most requests never touch the database.
/// Every path that removes a token calls <see cref="Invalidate"/> with its hash.
/// </summary>
internal sealed class AuthenticationService : IDisposable
{
    private static readonly MemoryCacheEntryOptions EntryOptions = new()
    {
        SlidingExpiration = TimeSpan.FromMinutes(10),
        Size = 1,
    };

    private readonly IAccountStore _store;
    private readonly DeviceActivityRecorder _activity;
    private readonly MemoryCache _cache = new(new MemoryCacheOptions { SizeLimit = 100_000 });

    public AuthenticationService(IAccountStore store, DeviceActivityRecorder activity)
    {
        _store = store;
        _activity = activity;
    }

    /// <summary>The requester for <paramref name="token"/>, or 401 <c>M_UNKNOWN_TOKEN</c>.</summary>
    public async Task<Requester> AuthenticateAsync(string token, string? clientIp, string? userAgent,
        CancellationToken cancellationToken)
    {
        string hash = AccessTokens.Hash(token);
        if (!_cache.TryGetValue(hash, out Requester? requester) || requester is null)
        {
            var owner = await _store.FindAccessTokenAsync(hash, cancellationToken).ConfigureAwait(false);
            if (owner is null || owner.IsDeactivated)
            {
                throw UnknownToken();
            }

            requester = new Requester(owner.UserId, owner.DeviceId, owner.TokenId, owner.IsGuest);
            _cache.Set(hash, requester, EntryOptions);
        }

        _activity.Record(requester, clientIp, userAgent);
        return requester;
    }

    /// <summary>Forgets tokens that were deleted from the store.</summary>
    public void Invalidate(IEnumerable<string> tokenHashes)
    {
        foreach (string hash in tokenHashes)
        {
            _cache.Remove(hash);
        }
    }

    /// <summary>The hash of a token, for callers that delete one.</summary>
    public static string HashOf(string token) => AccessTokens.Hash(token);

    public void Dispose() => _cache.Dispose();

    private static MatrixException UnknownToken() =>
        new(HttpStatusCode.Unauthorized, ErrorCodes.UnknownToken, "Unknown access token",
            new Dictionary<string, object?> { ["soft_logout"] = false });
}
