namespace Synapse.Streams;

/// <summary>
/// Allocates positions of one stream and advertises a position only when every lower one is committed
/// ("persisted up to"): concurrent writers commit out of order, and a reader that trusted the highest
/// committed position would skip the rows of a slower transaction still in flight.
/// </summary>
/// <remarks>
/// Every allocated position must be completed with <see cref="Complete"/> (with its rows, or none when the
/// write failed), otherwise the stream stops advancing. Updates are published to the bus in position order.
/// </remarks>
public sealed class StreamIdGenerator
{
    private readonly StreamBus _bus;
    private readonly Lock _gate = new();
    private readonly SortedDictionary<long, IReadOnlyList<StreamRow>?> _pending = [];
    private long _lastAllocated;
    private long _persistedUpTo;

    /// <summary>Starts after <paramref name="current"/> (the highest position already stored).</summary>
    public StreamIdGenerator(string stream, long current, StreamBus bus)
    {
        Stream = stream;
        _bus = bus;
        _lastAllocated = current;
        _persistedUpTo = current;
    }

    /// <summary>The stream's name.</summary>
    public string Stream { get; }

    /// <summary>The highest position below which every position is committed: what readers may rely on.</summary>
    public long Current
    {
        get
        {
            lock (_gate)
            {
                return _persistedUpTo;
            }
        }
    }

    /// <summary>
    /// The highest position allocated so far. Taken after a write has completed, it is at or above that write's
    /// position: another process that waits for <see cref="Current"/> to reach it sees the write (read-after-write).
    /// </summary>
    public long LastAllocated
    {
        get
        {
            lock (_gate)
            {
                return _lastAllocated;
            }
        }
    }

    /// <summary>Reserves the next position. Complete it after the transaction that uses it commits (or fails).</summary>
    public long Allocate()
    {
        lock (_gate)
        {
            long position = ++_lastAllocated;
            _pending[position] = null;
            return position;
        }
    }

    /// <summary>
    /// Applies a position another process wrote (a worker following main over replication): advances
    /// <see cref="Current"/> to <paramref name="position"/> and publishes the rows. A position at or below
    /// <see cref="Current"/> was already applied and is ignored (returns false).
    /// </summary>
    /// <remarks>A stream is either written here (<see cref="Allocate"/>) or followed, never both.</remarks>
    public bool Follow(long position, IReadOnlyList<StreamRow> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        lock (_gate)
        {
            if (_pending.Count > 0)
            {
                throw new InvalidOperationException($"{Stream} is written in this process; it cannot also follow another writer.");
            }

            if (position <= _persistedUpTo)
            {
                return false;
            }

            _persistedUpTo = position;
            _lastAllocated = position;
            _bus.Publish(new StreamUpdate(Stream, position, rows));
            return true;
        }
    }

    /// <summary>
    /// Starts a followed stream again at <paramref name="position"/>, possibly lower than <see cref="Current"/>:
    /// the writer kept the stream in memory and restarted. Consumers holding state of this stream must reset it.
    /// </summary>
    public void Reset(long position)
    {
        lock (_gate)
        {
            if (_pending.Count > 0)
            {
                throw new InvalidOperationException($"{Stream} is written in this process; it cannot be reset.");
            }

            _persistedUpTo = position;
            _lastAllocated = position;
        }
    }

    /// <summary>
    /// Marks <paramref name="position"/> committed with its rows (empty when the write failed), advances
    /// <see cref="Current"/> past every contiguous committed position, and publishes them in order.
    /// </summary>
    public void Complete(long position, IReadOnlyList<StreamRow> rows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        List<StreamUpdate>? ready = null;
        lock (_gate)
        {
            if (!_pending.ContainsKey(position))
            {
                throw new InvalidOperationException($"Position {position} of {Stream} was not allocated or is already complete.");
            }

            _pending[position] = rows;
            while (_pending.Count > 0)
            {
                var (first, firstRows) = _pending.First();
                if (firstRows is null)
                {
                    break;
                }

                _pending.Remove(first);
                _persistedUpTo = first;
                (ready ??= []).Add(new StreamUpdate(Stream, first, firstRows));
            }

            // Publishing under the lock keeps the order of updates equal to the order of positions, even when
            // two writers complete at the same time. Subscribers only enqueue or wake waiters.
            if (ready is not null)
            {
                foreach (var update in ready)
                {
                    _bus.Publish(update);
                }
            }
        }
    }
}
