using System.Collections.Concurrent;
using Synapse.Events;

namespace Synapse.Storage;

/// <summary>One state group as stored: the group it is a delta against (null for a snapshot) and its entries.</summary>
internal sealed record StateGroupDelta(long? PrevGroup, IReadOnlyList<KeyValuePair<TypeStateKey, string>> Entries);

/// <summary>
/// State group deltas read so far. A state group never changes once written, so a cached delta is never stale; the
/// cache only bounds its size, by starting over when it holds too many entries.
/// </summary>
/// <remarks>Anything that ever rewrites state groups in place (a state compressor) must clear this cache.</remarks>
internal sealed class StateGroupCache
{
    /// <summary>The most state entries held (about 100 bytes each).</summary>
    private const int MaxEntries = 1_000_000;

    private readonly ConcurrentDictionary<long, StateGroupDelta> _groups = new();
    private int _entries;

    public bool TryGet(long stateGroup, out StateGroupDelta delta) => _groups.TryGetValue(stateGroup, out delta!);

    public StateGroupDelta Add(long stateGroup, long? prevGroup, List<KeyValuePair<TypeStateKey, string>> entries)
    {
        var delta = new StateGroupDelta(prevGroup, entries);
        if (Interlocked.Add(ref _entries, entries.Count + 1) > MaxEntries)
        {
            _groups.Clear();
            Interlocked.Exchange(ref _entries, entries.Count + 1);
        }

        _groups[stateGroup] = delta;
        return delta;
    }
}
