namespace Synapse.Sync;

/// <summary>
/// Serialises read-modify-write sequences per user (tags, receipts that only move forward) inside this process.
/// Striped: a fixed set of semaphores, so memory does not grow with the number of users; two users that share a
/// stripe only wait for each other's short write.
/// </summary>
internal sealed class UserWriteLocks
{
    private const int Stripes = 64;

    private readonly SemaphoreSlim[] _stripes = Enumerable.Range(0, Stripes).Select(_ => new SemaphoreSlim(1, 1)).ToArray();

    /// <summary>Waits for the user's stripe; dispose the result to release it.</summary>
    public async Task<Releaser> AcquireAsync(string userId, CancellationToken cancellationToken)
    {
        var stripe = _stripes[(uint)StringComparer.Ordinal.GetHashCode(userId) % Stripes];
        await stripe.WaitAsync(cancellationToken).ConfigureAwait(false);
        return new Releaser(stripe);
    }

    /// <summary>Releases a stripe once.</summary>
    public sealed class Releaser : IDisposable
    {
        private SemaphoreSlim? _stripe;

        internal Releaser(SemaphoreSlim stripe) => _stripe = stripe;

        public void Dispose() => Interlocked.Exchange(ref _stripe, null)?.Release();
    }
}
