using System.Text.Json.Nodes;
using Synapse.Events;
using Synapse.Storage;
using Synapse.Streams;

namespace Synapse.Rooms;

/// <summary>
/// The row of the <c>events</c> stream (docs/streams-and-sync.md): what the persister publishes live and what
/// <see cref="EventsStreamSource"/> reads back for a consumer that fell behind. One function for both, so a
/// replaying consumer sees byte for byte what a live one saw.
/// </summary>
internal static class EventStreamRows
{
    /// <summary>
    /// The row of one event: enough for a consumer to route it and keep its caches right (and, over replication, to
    /// fetch it). Keys: the room, and for a membership event also the member.
    /// </summary>
    public static StreamRow Build(Pdu pdu, EventRelation? relation)
    {
        var data = new JsonObject { ["event_id"] = pdu.EventId, ["room_id"] = pdu.RoomId, ["type"] = pdu.Type, ["sender"] = pdu.Sender };
        if (relation is not null)
        {
            data["relates_to"] = relation.RelatesToId;
            data["rel_type"] = relation.RelationType;
        }

        if (pdu.Redacts is { } redacts)
        {
            data["redacts"] = redacts;
        }

        List<string> keys = [NotifierKey.Room(pdu.RoomId)];
        if (pdu.StateKey is { } stateKey)
        {
            data["state_key"] = stateKey;
            if (pdu.Type == "m.room.member")
            {
                data["membership"] = pdu.ContentString("membership");
                keys.Add(NotifierKey.User(stateKey));
            }
        }

        return new StreamRow(data, keys);
    }
}
