using System.Collections.Concurrent;
using Synapse.Configuration;

namespace Synapse.Accounts;

/// <summary>
/// A token bucket per key (a client address or a user ID), as Synapse's <c>rc_*</c> settings describe:
/// <c>burst_count</c> actions at once, refilled at <c>per_second</c>.
/// </summary>
internal sealed class RateLimiter
{
    private readonly RateLimitOptions _options;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<string, Bucket> _buckets = new(StringComparer.Ordinal);
    private long _lastSweep;

    public RateLimiter(RateLimitOptions options, TimeProvider time)
    {
        _options = options;
        _time = time;
    }

    /// <summary>Takes one action for <paramref name="key"/>, or throws 429 <c>M_LIMIT_EXCEEDED</c>.</summary>
    public void Acquire(string key)
    {
        long retryAfterMs = TryAcquire(key, take: true);
        if (retryAfterMs > 0)
        {
            throw MatrixException.LimitExceeded(retryAfterMs);
        }
    }

    /// <summary>Throws 429 when <paramref name="key"/> has no action left, without taking one.</summary>
    public void EnsureAvailable(string key)
    {
        long retryAfterMs = TryAcquire(key, take: false);
        if (retryAfterMs > 0)
        {
            throw MatrixException.LimitExceeded(retryAfterMs);
        }
    }

    /// <summary>Returns 0 when allowed, else how long to wait in milliseconds.</summary>
    public long TryAcquire(string key, bool take)
    {
        long now = _time.GetTimestamp();
        Sweep(now);
        var bucket = _buckets.GetOrAdd(key, static (_, burst) => new Bucket(burst), _options.BurstCount);
        lock (bucket)
        {
            double elapsed = bucket.LastTimestamp == 0 ? 0 : _time.GetElapsedTime(bucket.LastTimestamp, now).TotalSeconds;
            bucket.Tokens = Math.Min(_options.BurstCount, bucket.Tokens + (elapsed * _options.PerSecond));
            bucket.LastTimestamp = now;
            if (bucket.Tokens >= 1)
            {
                if (take)
                {
                    bucket.Tokens -= 1;
                }

                return 0;
            }

            return (long)Math.Ceiling((1 - bucket.Tokens) / _options.PerSecond * 1000);
        }
    }

    private void Sweep(long now)
    {
        // Full buckets carry no information; dropping them keeps memory bounded by active keys.
        long last = Interlocked.Read(ref _lastSweep);
        if (_time.GetElapsedTime(last, now) < TimeSpan.FromMinutes(1) || Interlocked.CompareExchange(ref _lastSweep, now, last) != last)
        {
            return;
        }

        double refill = _options.BurstCount / _options.PerSecond;
        foreach (var (key, bucket) in _buckets)
        {
            if (_time.GetElapsedTime(bucket.LastTimestamp, now).TotalSeconds > refill)
            {
                _buckets.TryRemove(key, out _);
            }
        }
    }

    private sealed class Bucket(double tokens)
    {
        public double Tokens = tokens;
        public long LastTimestamp;
    }
}
