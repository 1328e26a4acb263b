using System.Runtime.CompilerServices;
using Synapse.Storage;
using Synapse.Streams;

namespace Synapse.Sync;

/// <summary>
/// The joined rooms of an incremental sync that the user joined in (since, now]: a contributor sends their data whole,
/// as for an initial sync, since the client has never seen it (tags set while invited, receipts sent before the join).
/// </summary>
internal static class NewlyJoinedRooms
{
    /// <summary>One lookup per response, shared by every contributor that asks (the context lives as long as the response).</summary>
    private static readonly ConditionalWeakTable<SyncContext, Task<IReadOnlySet<string>>> PerResponse = [];

    /// <summary>Empty for an initial or full-state sync, where every room is sent whole anyway.</summary>
    public static Task<IReadOnlySet<string>> FindAsync(IEventStore events, SyncContext context, CancellationToken cancellationToken) =>
        PerResponse.GetValue(context, c => LookUpAsync(events, c, cancellationToken));

    private static async Task<IReadOnlySet<string>> LookUpAsync(IEventStore events, SyncContext context, CancellationToken cancellationToken)
    {
        if (context.IsInitial || context.FullState || context.JoinedRoomIds.Count == 0)
        {
            return new HashSet<string>(StringComparer.Ordinal);
        }

        var changes = context.MembershipChanges
            ?? await events.GetMembershipChangesAsync(context.Requester.UserId.Value, context.From(StreamNames.Events),
                context.Now[StreamNames.Events], cancellationToken).ConfigureAwait(false);
        var joined = context.JoinedRoomIds.ToHashSet(StringComparer.Ordinal);

        // The first change in the range of each joined room that saw a join. A join that replaced a join (a display
        // name or avatar change) is not a new join: look at the membership the first change replaced.
        var firsts = changes.Where(c => joined.Contains(c.RoomId))
            .GroupBy(c => c.RoomId, StringComparer.Ordinal)
            .Where(g => g.Any(c => c.Membership == "join"))
            .Select(g => g.First())
            .ToList();
        var newly = new HashSet<string>(StringComparer.Ordinal);
        if (firsts.Count == 0)
        {
            return newly;
        }

        var firstEvents = await events.GetEventsAsync([.. firsts.Select(c => c.EventId)], cancellationToken).ConfigureAwait(false);
        var replaced = firstEvents.Where(e => e.ReplacesState is not null).ToDictionary(e => e.Pdu.EventId, e => e.ReplacesState!, StringComparer.Ordinal);
        var before = replaced.Count == 0
            ? []
            : await events.GetEventsAsync([.. replaced.Values.Distinct(StringComparer.Ordinal)], cancellationToken).ConfigureAwait(false);
        var membershipBefore = before.ToDictionary(e => e.Pdu.EventId, e => e.Pdu.ContentString("membership"), StringComparer.Ordinal);
        foreach (var first in firsts)
        {
            bool wasJoined = replaced.TryGetValue(first.EventId, out string? previousId)
                && membershipBefore.TryGetValue(previousId, out string? previous) && previous == "join";
            if (!wasJoined)
            {
                newly.Add(first.RoomId);
            }
        }

        return newly;
    }
}
