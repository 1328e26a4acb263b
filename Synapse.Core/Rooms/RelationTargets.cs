using System.Collections.Concurrent;
using Synapse.Storage;
using Synapse.Streams;

namespace Synapse.Rooms;

/// <summary>
/// Which events may have child events (edits, references, thread replies, annotations), learnt from the events stream:
/// formatting a batch of fresh events with no children then costs no aggregation queries, which is most of a woken
/// sync's work.
/// </summary>
/// <remarks>
/// Events at or before the position current when tracking started (or last started over) are always answered "may
/// have". A child persisted before its parent (possible only once events arrive over federation) must publish its
/// relation again when the parent lands, or the parent's aggregation is missed until it leaves this window.
/// </remarks>
internal sealed class RelationTargets
{
    /// <summary>Above this many targets the set starts over from the current position (it only saves queries).</summary>
    private const int MaxTracked = 100_000;

    private volatile ConcurrentDictionary<string, byte> _targets = new(StringComparer.Ordinal);
    private long _trackedAfter;

    public RelationTargets(StreamBus bus, StreamRegistry streams)
    {
        // Subscribe first: every position after the one read below reaches OnUpdate.
        bus.Subscribe(OnUpdate);
        Volatile.Write(ref _trackedAfter, streams[StreamNames.Events].Current);
    }

    /// <summary>Whether <paramref name="stored"/> may be the target of a relation.</summary>
    public bool MayHaveChildren(StoredEvent stored)
    {
        // Read the set before the bound: a reader that sees a new (emptied) set also sees the raised bound.
        var targets = _targets;
        return stored.StreamOrdering <= Volatile.Read(ref _trackedAfter) || targets.ContainsKey(stored.Pdu.EventId);
    }

    private void OnUpdate(StreamUpdate update)
    {
        if (update.Stream != StreamNames.Events)
        {
            return;
        }

        foreach (var row in update.Rows)
        {
            if ((string?)row.Data["relates_to"] is not { } target)
            {
                continue;
            }

            if (_targets.Count >= MaxTracked)
            {
                Volatile.Write(ref _trackedAfter, update.Position);
                _targets = new ConcurrentDictionary<string, byte>(StringComparer.Ordinal);
            }

            _targets[target] = 0;
        }
    }
}
