using Synapse.Events;
using Synapse.Storage;

namespace Synapse.Rooms;

/// <summary>
/// Which events a user may see, by the spec's history visibility rules, computed from the user's membership
/// history and the history of <c>m.room.history_visibility</c> (two indexed queries per room, no state groups).
/// </summary>
/// <remarks>Spec: Client-Server API, "History visibility".</remarks>
internal sealed class RoomVisibility
{
    private readonly List<(TopologicalPosition Position, string Membership)> _memberships;
    private readonly List<(TopologicalPosition Position, string Visibility)> _visibilities;
    private readonly string _userId;

    private RoomVisibility(string userId, List<(TopologicalPosition, string)> memberships, List<(TopologicalPosition, string)> visibilities)
    {
        _userId = userId;
        _memberships = memberships;
        _visibilities = visibilities;
    }

    /// <summary>The user's current membership (null if never a member).</summary>
    public string? CurrentMembership => _memberships.Count > 0 ? _memberships[^1].Membership : null;

    /// <summary>The user's last membership event position, for "state at the time they left".</summary>
    public TopologicalPosition? LastMembershipPosition => _memberships.Count > 0 ? _memberships[^1].Position : null;

    /// <summary>Whether the room's current history visibility is world_readable.</summary>
    public bool IsWorldReadable => (_visibilities.Count > 0 ? _visibilities[^1].Visibility : "shared") == "world_readable";

    /// <summary>Whether the user was ever joined.</summary>
    public bool WasEverJoined => _memberships.Any(m => m.Membership == "join");

    public static async Task<RoomVisibility> LoadAsync(IEventStore store, string roomId, string userId, CancellationToken cancellationToken)
    {
        var memberships = await store.GetStateHistoryAsync(roomId, "m.room.member", userId, cancellationToken).ConfigureAwait(false);
        var visibilities = await store.GetStateHistoryAsync(roomId, "m.room.history_visibility", "", cancellationToken).ConfigureAwait(false);
        return new RoomVisibility(userId,
            memberships.Select(e => (e.Position, e.Pdu.ContentString("membership") ?? "leave")).ToList(),
            visibilities.Select(e => (e.Position, e.RedactedBy is null ? e.Pdu.ContentString("history_visibility") ?? "shared" : "shared")).ToList());
    }

    /// <summary>Whether the user may see <paramref name="stored"/>.</summary>
    public bool CanSee(StoredEvent stored)
    {
        var pdu = stored.Pdu;
        if (pdu.Type == "m.room.member" && pdu.StateKey == _userId)
        {
            return true;
        }

        var position = stored.Position;
        string visibility = Latest(_visibilities, position) ?? "shared";
        if (visibility == "world_readable")
        {
            return true;
        }

        string? membership = Latest(_memberships, position);
        if (membership == "join")
        {
            return true;
        }

        if (visibility == "invited" && membership == "invite")
        {
            return true;
        }

        // "shared": visible when the user joined at any point after the event.
        return visibility == "shared" && _memberships.Any(m => m.Membership == "join" && m.Position >= position);
    }

    private static string? Latest(List<(TopologicalPosition Position, string Value)> history, TopologicalPosition at)
    {
        string? value = null;
        foreach (var (position, v) in history)
        {
            if (position > at)
            {
                break;
            }

            value = v;
        }

        return value;
    }
}
