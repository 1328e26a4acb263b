using Synapse.Identifiers;
using Synapse.Storage;
using Synapse.Streams;

namespace Synapse.Sync;

/// <summary>
/// <c>device_lists.changed</c> and <c>.left</c> of an incremental sync (Spec: Client-Server API, "Tracking the device list
/// for a user", and the note on users who start or stop sharing a room).
/// </summary>
/// <remarks>
/// <c>changed</c>: users who share a room with the requester (and the requester) whose device list changed since
/// <c>since</c>, plus users who started sharing a room (they joined one of the requester's rooms, or the requester joined
/// theirs), since the requester's copy of their devices may be stale. <c>left</c>: users who stopped sharing every room
/// with the requester after a membership change in the range. Every room counts, not only encrypted ones, as deployed
/// servers do: a room can become encrypted at any time.
/// </remarks>
internal sealed class DeviceListsContributor : ISyncContributor
{
    private readonly IDeviceListStore _store;
    private readonly SyncCache _cache;

    public DeviceListsContributor(IDeviceListStore store, SyncCache cache)
    {
        _store = store;
        _cache = cache;
    }

    public async Task ContributeAsync(SyncContext context, SyncResponseBuilder response, CancellationToken cancellationToken)
    {
        // An initial sync tells the client nothing here: it queries the keys of the users it starts tracking.
        if (context.Since is not { } since)
        {
            return;
        }

        var (changed, left) = await DeviceListChanges.ComputeAsync(_store, context.Requester.UserId, since, context.Now,
            () => MembersMayHaveChanged(context, since[StreamNames.Events]), cancellationToken).ConfigureAwait(false);
        foreach (string user in left)
        {
            response.DeviceListLeft(user);
        }

        foreach (string user in changed)
        {
            response.DeviceListChanged(user);
        }
    }

    /// <summary>
    /// Whether any membership the transitions query looks at may have changed after <paramref name="from"/>: the user's own,
    /// or anyone's in a room the user is joined to. Most syncs are woken by messages, and skip the query.
    /// </summary>
    private bool MembersMayHaveChanged(SyncContext context, long from) =>
        context.Memberships is null
        || _cache.MembershipChangedAfter(context.Requester.UserId.Value, from)
        || context.Memberships.Any(m => m.Membership == "join" && _cache.RoomMembersChangedAfter(m.RoomId, from));
}

/// <summary>
/// Which users' device lists a user must refresh between two sync tokens, and which users they stopped sharing every room with:
/// the rules of <see cref="DeviceListsContributor"/>, shared with <c>GET /keys/changes</c>.
/// </summary>
internal static class DeviceListChanges
{
    /// <summary>
    /// <c>changed</c> and <c>left</c> for <paramref name="userId"/> in (<paramref name="from"/>, <paramref name="to"/>] of the
    /// events and device-lists streams. <paramref name="membersMayHaveChanged"/>, asked only when the events stream moved,
    /// returning false skips the membership query (the caller knows from its caches that no membership it looks at changed in
    /// the range); null means "may have".
    /// </summary>
    public static async Task<(IReadOnlyCollection<string> Changed, IReadOnlyCollection<string> Left)> ComputeAsync(
        IDeviceListStore store, UserId userId, SyncToken from, SyncToken to, Func<bool>? membersMayHaveChanged,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(from);
        ArgumentNullException.ThrowIfNull(to);
        string me = userId.Value;
        var changed = new HashSet<string>(StringComparer.Ordinal);
        var leftCandidates = new HashSet<string>(StringComparer.Ordinal);

        long eventsFrom = from[StreamNames.Events];
        long eventsTo = to[StreamNames.Events];
        if (eventsTo > eventsFrom && (membersMayHaveChanged is null || membersMayHaveChanged()))
        {
            var transitions = await store.GetMembershipTransitionsAsync(userId, eventsFrom, eventsTo, cancellationToken)
                .ConfigureAwait(false);
            var roomsJoined = transitions.Where(t => t.UserId == me && t.IsJoined).Select(t => t.RoomId).ToHashSet(StringComparer.Ordinal);
            var roomsLeft = transitions.Where(t => t.UserId == me && !t.IsJoined).Select(t => t.RoomId).ToHashSet(StringComparer.Ordinal);
            foreach (var t in transitions.Where(t => t.UserId != me))
            {
                if (t.IsJoined && !roomsLeft.Contains(t.RoomId))
                {
                    changed.Add(t.UserId);
                }
                else if (t.WasJoined)
                {
                    leftCandidates.Add(t.UserId);
                }
            }

            if (roomsJoined.Count > 0)
            {
                changed.UnionWith(await store.GetJoinedMembersAsync(roomsJoined, cancellationToken).ConfigureAwait(false));
            }

            if (roomsLeft.Count > 0)
            {
                leftCandidates.UnionWith(await store.GetJoinedMembersAsync(roomsLeft, cancellationToken).ConfigureAwait(false));
            }
        }

        // Only the candidates are checked against the rooms shared now: never the requester's every room-mate.
        changed.Remove(me);
        leftCandidates.Remove(me);
        var resultChanged = new SortedSet<string>(StringComparer.Ordinal);
        var resultLeft = new SortedSet<string>(StringComparer.Ordinal);
        if (changed.Count > 0 || leftCandidates.Count > 0)
        {
            var sharing = await store.GetUsersSharingRoomsAsync(userId, [.. changed.Union(leftCandidates)], cancellationToken)
                .ConfigureAwait(false);
            resultLeft.UnionWith(leftCandidates.Where(u => !sharing.Contains(u)));
            resultChanged.UnionWith(changed.Where(sharing.Contains));
        }

        // Device-list changes of users sharing a room now, and the requester's own.
        long listsFrom = from[StreamNames.DeviceLists];
        long listsTo = to[StreamNames.DeviceLists];
        if (listsTo > listsFrom)
        {
            resultChanged.UnionWith(await store.GetChangedUsersSharingRoomsAsync(userId, listsFrom, listsTo, cancellationToken)
                .ConfigureAwait(false));
        }

        return (resultChanged, resultLeft);
    }
}
