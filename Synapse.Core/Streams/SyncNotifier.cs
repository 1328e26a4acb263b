namespace Synapse.Streams;

/// <summary>
/// Wakes waiting syncs. A waiter registers the keys it cares about (its user, its rooms); a stream update wakes
/// only the waiters registered under the keys of its rows, so the work per change is proportional to what the
/// change touches, not to the number of waiting requests.
/// </summary>
public sealed class SyncNotifier
{
    private readonly Dictionary<string, HashSet<Waiter>> _waiters = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    /// <summary>Subscribes to the bus.</summary>
    public SyncNotifier(StreamBus bus)
    {
        ArgumentNullException.ThrowIfNull(bus);
        bus.Subscribe(OnUpdate);
    }

    /// <summary>
    /// Registers interest in <paramref name="keys"/>. Register before reading, then wait on the returned waiter:
    /// a change between the read and the wait is not lost.
    /// </summary>
    public Waiter Register(IReadOnlyCollection<string> keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        var waiter = new Waiter(this, keys);
        lock (_gate)
        {
            foreach (string key in keys)
            {
                if (!_waiters.TryGetValue(key, out var set))
                {
                    _waiters[key] = set = [];
                }

                set.Add(waiter);
            }
        }

        return waiter;
    }

    /// <summary>Wakes the waiters of <paramref name="keys"/> (also used for changes that are not stream rows).</summary>
    public void Notify(IEnumerable<string> keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        List<Waiter>? wake = null;
        lock (_gate)
        {
            foreach (string key in keys)
            {
                if (_waiters.TryGetValue(key, out var set))
                {
                    (wake ??= []).AddRange(set);
                }
            }
        }

        if (wake is not null)
        {
            foreach (var waiter in wake)
            {
                waiter.Wake();
            }
        }
    }

    private void OnUpdate(StreamUpdate update)
    {
        foreach (var row in update.Rows)
        {
            Notify(row.NotifierKeys);
        }
    }

    private void Unregister(Waiter waiter)
    {
        lock (_gate)
        {
            foreach (string key in waiter.Keys)
            {
                if (_waiters.TryGetValue(key, out var set) && set.Remove(waiter) && set.Count == 0)
                {
                    _waiters.Remove(key);
                }
            }
        }
    }

    /// <summary>One waiting request; dispose it when done.</summary>
    public sealed class Waiter : IDisposable
    {
        private readonly SyncNotifier _notifier;
        private readonly TaskCompletionSource _woken = new(TaskCreationOptions.RunContinuationsAsynchronously);

        internal Waiter(SyncNotifier notifier, IReadOnlyCollection<string> keys)
        {
            _notifier = notifier;
            Keys = keys;
        }

        internal IReadOnlyCollection<string> Keys { get; }

        /// <summary>Completes when a key fires, the timeout passes, or the request is cancelled (returns false then).</summary>
        public async Task<bool> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken)
        {
            try
            {
                await _woken.Task.WaitAsync(timeout, cancellationToken).ConfigureAwait(false);
                return true;
            }
            catch (TimeoutException)
            {
                return false;
            }
        }

        internal void Wake() => _woken.TrySetResult();

        /// <inheritdoc />
        public void Dispose() => _notifier.Unregister(this);
    }
}
