using System.Text.Json.Nodes;
using Synapse.Storage;
using Synapse.Streams;

namespace Synapse.Sync;

/// <summary>
/// The top-level <c>account_data</c> of /sync and the <c>account_data</c> of each joined room (tags, m.fully_read...):
/// every entry for an initial or full-state sync, else the entries written in (since, now] (and every entry of a room
/// joined in that range). The filter's <c>account_data</c> and <c>room.account_data</c> parts apply.
/// </summary>
internal sealed class AccountDataContributor : ISyncContributor
{
    private readonly IAccountDataStore _store;
    private readonly IEventStore _events;

    public AccountDataContributor(IAccountDataStore store, IEventStore events)
    {
        _store = store;
        _events = events;
    }

    public async Task ContributeAsync(SyncContext context, SyncResponseBuilder response, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(response);
        bool everything = context.IsInitial || context.FullState;
        long after = everything ? 0 : context.From(StreamNames.AccountData);
        long upTo = context.Now[StreamNames.AccountData];
        var newlyJoined = await NewlyJoinedRooms.FindAsync(_events, context, cancellationToken).ConfigureAwait(false);
        if (after >= upTo && newlyJoined.Count == 0)
        {
            return;
        }

        // A user's account data is small (a few dozen entries): when a room was just joined, read all of it once and
        // keep what the client has not seen, rather than query per room.
        var entries = await _store.GetForUserAsync(context.Requester.UserId.Value, newlyJoined.Count == 0 ? after : 0, upTo,
            cancellationToken).ConfigureAwait(false);
        var joined = context.JoinedRoomIds.ToHashSet(StringComparer.Ordinal);
        var filter = context.Filter;
        foreach (var entry in entries)
        {
            if (entry.StreamId <= after && (entry.RoomId is null || !newlyJoined.Contains(entry.RoomId)))
            {
                continue;
            }

            if (entry.RoomId is null)
            {
                if (filter.AccountData.Matches(entry.Type, null))
                {
                    response.AddAccountData(Event(entry));
                }
            }
            else if (joined.Contains(entry.RoomId) && filter.RoomAccountData.MatchesRoom(entry.RoomId)
                && filter.RoomAccountData.Matches(entry.Type, null))
            {
                response.AddRoomAccountData(entry.RoomId, Event(entry));
            }
        }
    }

    private static JsonObject Event(AccountDataEntry entry) => new()
    {
        ["type"] = entry.Type,
        ["content"] = JsonNode.Parse(entry.Content),
    };
}
