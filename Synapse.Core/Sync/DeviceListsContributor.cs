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

        string me = context.Requester.UserId.Value;
        var changed = new HashSet<string>(StringComparer.Ordinal);
        var leftCandidates = new HashSet<string>(StringComparer.Ordinal);

        long eventsFrom = since[StreamNames.Events];
        long eventsTo = context.Now[StreamNames.Events];
        if (eventsTo > eventsFrom && MembersMayHaveChanged(context, eventsFrom))
        {
            var transitions = await _store.GetMembershipTransitionsAsync(context.Requester.UserId, eventsFrom, eventsTo,
                cancellationToken).ConfigureAwait(false);
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
                changed.UnionWith(await _store.GetJoinedMembersAsync(roomsJoined, cancellationToken).ConfigureAwait(false));
            }

            if (roomsLeft.Count > 0)
            {
                leftCandidates.UnionWith(await _store.GetJoinedMembersAsync(roomsLeft, cancellationToken).ConfigureAwait(false));
            }
        }

        long listsFrom = since[StreamNames.DeviceLists];
        long listsTo = context.Now[StreamNames.DeviceLists];
        bool ownChange = false;
        if (listsTo > listsFrom)
        {
            foreach (string user in await _store.GetChangedUsersAsync(listsFrom, listsTo, cancellationToken).ConfigureAwait(false))
            {
                if (user == me)
                {
                    ownChange = true;
                }
                else
                {
                    changed.Add(user);
                }
            }
        }

        changed.Remove(me);
        leftCandidates.Remove(me);
        if (changed.Count > 0 || leftCandidates.Count > 0)
        {
            var sharing = await _store.GetUsersSharingRoomsAsync(context.Requester.UserId, cancellationToken).ConfigureAwait(false);
            foreach (string user in leftCandidates.Where(u => !sharing.Contains(u)))
            {
                response.DeviceListLeft(user);
            }

            foreach (string user in changed.Where(sharing.Contains))
            {
                response.DeviceListChanged(user);
            }
        }

        if (ownChange)
        {
            response.DeviceListChanged(me);
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
