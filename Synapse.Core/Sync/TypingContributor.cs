using System.Text.Json.Nodes;
using Synapse.Storage;
using Synapse.Streams;

namespace Synapse.Sync;

/// <summary>
/// Adds <c>m.typing</c> ephemeral events to joined rooms: on an initial (or full-state) sync, and for newly joined
/// rooms, for every room somebody types in; otherwise for the rooms whose typing set changed since the token (Spec:
/// Client-Server API, "Typing Notifications": the list replaces what the client knew).
/// </summary>
internal sealed class TypingContributor : ISyncContributor
{
    private readonly TypingService _typing;
    private readonly IEventStore _events;

    public TypingContributor(TypingService typing, IEventStore events)
    {
        _typing = typing;
        _events = events;
    }

    public async Task ContributeAsync(SyncContext context, SyncResponseBuilder response, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(response);
        var filter = context.Filter.Ephemeral;
        if (!filter.Matches("m.typing", null))
        {
            return;
        }

        var rooms = context.JoinedRoomIds.Where(filter.MatchesRoom).ToList();
        bool full = context.IsInitial || context.FullState;
        var newlyJoined = await NewlyJoinedRooms.FindAsync(_events, context, cancellationToken).ConfigureAwait(false);
        foreach (var (roomId, userIds) in _typing.GetTyping(rooms, context.From(StreamNames.Typing), context.Now[StreamNames.Typing],
            full, newlyJoined))
        {
            response.AddEphemeral(roomId, new JsonObject
            {
                ["type"] = "m.typing",
                ["content"] = new JsonObject { ["user_ids"] = new JsonArray([.. userIds.Select(u => (JsonNode)JsonValue.Create(u)!)]) },
            });
        }
    }
}
