using Synapse.Events;
using Synapse.RoomVersions;

namespace Synapse.Rooms;

/// <summary>
/// What the persister holds in memory for an active room: the current state as full events (for auth),
/// the current state group, the forward extremities and the highest depth.
/// </summary>
internal sealed class RoomSnapshot
{
    public RoomSnapshot(string roomId, RoomVersion version, Dictionary<TypeStateKey, Pdu> state, long stateGroup,
        int chainLength, List<string> extremities, long maxDepth)
    {
        RoomId = roomId;
        Version = version;
        State = state;
        StateGroup = stateGroup;
        ChainLength = chainLength;
        Extremities = extremities;
        MaxDepth = maxDepth;
    }

    public string RoomId { get; }

    public RoomVersion Version { get; }

    public Dictionary<TypeStateKey, Pdu> State { get; }

    public long StateGroup { get; set; }

    public int ChainLength { get; set; }

    public List<string> Extremities { get; set; }

    public long MaxDepth { get; set; }

    /// <summary>Set while the batch that creates the room is being built.</summary>
    public bool IsNew { get; set; }

    /// <summary>For a new room: whether it goes into the public directory.</summary>
    public bool IsPublic { get; set; }

    public RoomSnapshot Clone() =>
        new(RoomId, Version, new Dictionary<TypeStateKey, Pdu>(State), StateGroup, ChainLength, [.. Extremities], MaxDepth)
        {
            IsNew = IsNew,
            IsPublic = IsPublic,
        };
}
