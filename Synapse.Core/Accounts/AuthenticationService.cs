using System.Net;
using Microsoft.Extensions.Caching.Memory;
using Synapse.Caching;
using Synapse.Storage;

namespace Synapse.Accounts;

/// <summary>
/// Resolves access tokens to requesters through a cache: most requests never touch the database.
/// Every path that removes a token calls <see cref="InvalidateAsync"/> with its hash, which drops it here and, through the
/// caches stream, in every other process.
/// </summary>
internal sealed class AuthenticationService : IDisposable
{
    private static readonly MemoryCacheEntryOptions EntryOptions = new()
    {
        SlidingExpiration = TimeSpan.FromMinutes(10),

        // Bounds how long a token can outlive its deletion if the invalidation itself was lost (a crash in between).
        AbsoluteExpirationRelativeToNow = TimeSpan.FromMinutes(10),
        Size = 1,
    };

    private readonly IAccountStore _store;
    private readonly DeviceActivityRecorder _activity;
    private readonly CacheInvalidationService _caches;
    private readonly MemoryCache _cache = new(new MemoryCacheOptions { SizeLimit = 100_000 });

    // A lookup stores what it read only if no token was dropped meanwhile: an invalidation racing the read must win.
    private long _generation;

    public AuthenticationService(IAccountStore store, DeviceActivityRecorder activity, CacheInvalidationService caches)
    {
        _store = store;
        _activity = activity;
        _caches = caches;
        caches.Register(CacheNames.AccessTokens, keys =>
        {
            Interlocked.Increment(ref _generation);
            _cache.Remove(keys[0]);
        });
    }

    /// <summary>The requester for <paramref name="token"/>, or 401 <c>M_UNKNOWN_TOKEN</c>.</summary>
    public async Task<Requester> AuthenticateAsync(string token, string? clientIp, string? userAgent,
        CancellationToken cancellationToken)
    {
        string hash = AccessTokens.Hash(token);
        if (!_cache.TryGetValue(hash, out Requester? requester) || requester is null)
        {
            long generation = Interlocked.Read(ref _generation);
            var owner = await _store.FindAccessTokenAsync(hash, cancellationToken).ConfigureAwait(false);
            if (owner is null || owner.IsDeactivated)
            {
                throw UnknownToken();
            }

            requester = new Requester(owner.UserId, owner.DeviceId, owner.TokenId, owner.IsGuest);
            if (Interlocked.Read(ref _generation) == generation)
            {
                _cache.Set(hash, requester, EntryOptions);
            }
        }

        _activity.Record(requester, clientIp, userAgent);
        return requester;
    }

    /// <summary>Forgets tokens that were deleted from the store, here and in every other process.</summary>
    public Task InvalidateAsync(IEnumerable<string> tokenHashes) =>
        _caches.InvalidateAsync(CacheNames.AccessTokens, [.. tokenHashes.Select(h => (IReadOnlyList<string>)[h])]);

    /// <summary>The hash of a token, for callers that delete one.</summary>
    public static string HashOf(string token) => AccessTokens.Hash(token);

    public void Dispose() => _cache.Dispose();

    private static MatrixException UnknownToken() =>
        new(HttpStatusCode.Unauthorized, ErrorCodes.UnknownToken, "Unknown access token",
            new Dictionary<string, object?> { ["soft_logout"] = false });
}
