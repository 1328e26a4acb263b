using System.Net;
using System.Text.Json.Nodes;
using Synapse.Accounts;
using Synapse.Events;
using Synapse.Storage;

namespace Synapse.Rooms;

/// <summary>Room reads of the client API, each checked against membership and history visibility.</summary>
internal sealed class RoomQueryService
{
    /// <summary>The most events one page of /messages returns.</summary>
    public const int MaxPageSize = 1000;

    private readonly IEventStore _store;
    private readonly ClientEventFormatter _formatter;

    public RoomQueryService(IEventStore store, ClientEventFormatter formatter)
    {
        _store = store;
        _formatter = formatter;
    }

    /// <summary>GET /joined_rooms.</summary>
    public Task<IReadOnlyList<string>> GetJoinedRoomsAsync(Requester requester, CancellationToken cancellationToken) =>
        _store.GetRoomsForUserAsync(requester.UserId.Value, ["join"], cancellationToken);

    /// <summary>
    /// The state a user may see: current state while joined (or if world-readable), otherwise the state
    /// when they left; 403 when they never were in the room.
    /// </summary>
    public async Task<IReadOnlyList<StoredEvent>> GetStateAsync(Requester requester, string roomId, CancellationToken cancellationToken)
    {
        var ids = await GetVisibleStateIdsAsync(requester, roomId, cancellationToken).ConfigureAwait(false);
        return await _store.GetEventsAsync(ids.Values.ToList(), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>GET /rooms/{roomId}/state/{eventType}/{stateKey}.</summary>
    public async Task<StoredEvent> GetStateEventAsync(Requester requester, string roomId, string type, string stateKey,
        CancellationToken cancellationToken)
    {
        var ids = await GetVisibleStateIdsAsync(requester, roomId, cancellationToken).ConfigureAwait(false);
        if (!ids.TryGetValue(new TypeStateKey(type, stateKey), out string? eventId))
        {
            throw MatrixException.NotFound($"No {type} state with key '{stateKey}' in this room");
        }

        var events = await _store.GetEventsAsync([eventId], cancellationToken).ConfigureAwait(false);
        return events[0];
    }

    /// <summary>GET /rooms/{roomId}/members with <c>at</c>, <c>membership</c>, <c>not_membership</c>.</summary>
    public async Task<IReadOnlyList<StoredEvent>> GetMembersAsync(Requester requester, string roomId, string? at,
        string? membership, string? notMembership, CancellationToken cancellationToken)
    {
        var ids = await GetVisibleStateIdsAsync(requester, roomId, cancellationToken).ConfigureAwait(false);
        if (at is not null)
        {
            var position = await ParseTokenAsync(roomId, at, cancellationToken).ConfigureAwait(false);
            var before = await _store.GetRoomEventsAsync(roomId, position, backwards: true, null, 1, cancellationToken).ConfigureAwait(false);
            if (before.Count > 0)
            {
                var visibility = await RoomVisibility.LoadAsync(_store, roomId, requester.UserId.Value, cancellationToken).ConfigureAwait(false);
                var limit = visibility.CurrentMembership == "join" || visibility.IsWorldReadable ? (TopologicalPosition?)null : visibility.LastMembershipPosition;
                ids = before[0].Position > limit
                    ? ids
                    : await _store.GetStateGroupAsync(before[0].StateGroup, cancellationToken).ConfigureAwait(false);
            }
        }

        var memberIds = ids.Where(kv => kv.Key.Type == "m.room.member").Select(kv => kv.Value).ToList();
        var members = await _store.GetEventsAsync(memberIds, cancellationToken).ConfigureAwait(false);
        return members.Where(m =>
        {
            string value = m.Pdu.ContentString("membership") ?? "leave";
            return (membership is null || value == membership) && (notMembership is null || value != notMembership);
        }).OrderBy(m => m.Pdu.StateKey, StringComparer.Ordinal).ToList();
    }

    /// <summary>GET /rooms/{roomId}/joined_members: only for current members.</summary>
    public async Task<IReadOnlyList<StoredEvent>> GetJoinedMembersAsync(Requester requester, string roomId,
        CancellationToken cancellationToken)
    {
        var visibility = await RoomVisibility.LoadAsync(_store, roomId, requester.UserId.Value, cancellationToken).ConfigureAwait(false);
        if (visibility.CurrentMembership != "join" && !visibility.IsWorldReadable)
        {
            throw MatrixException.Forbidden("You aren't a member of the room");
        }

        return await GetMembersAsync(requester, roomId, null, "join", null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>GET /rooms/{roomId}/event/{eventId}: 404 when unknown or not visible to the user.</summary>
    public async Task<StoredEvent> GetEventAsync(Requester requester, string roomId, string eventId, CancellationToken cancellationToken)
    {
        var events = await _store.GetEventsAsync([eventId], cancellationToken).ConfigureAwait(false);
        if (events.Count == 0 || events[0].Pdu.RoomId != roomId)
        {
            throw MatrixException.NotFound("Event not found");
        }

        var visibility = await RoomVisibility.LoadAsync(_store, roomId, requester.UserId.Value, cancellationToken).ConfigureAwait(false);
        return visibility.CanSee(events[0]) ? events[0] : throw MatrixException.NotFound("Event not found");
    }

    /// <summary>GET /rooms/{roomId}/messages.</summary>
    public async Task<MessagesPage> GetMessagesAsync(Requester requester, string roomId, string? from, string? to, bool backwards,
        int limit, RoomEventFilter filter, CancellationToken cancellationToken)
    {
        await EnsureRoomAsync(roomId, cancellationToken).ConfigureAwait(false);
        var visibility = await RoomVisibility.LoadAsync(_store, roomId, requester.UserId.Value, cancellationToken).ConfigureAwait(false);
        if (!visibility.WasEverJoined && visibility.CurrentMembership != "invite" && !visibility.IsWorldReadable)
        {
            throw MatrixException.Forbidden("You aren't a member of the room");
        }

        var start = from is null
            ? (backwards ? TopologicalPosition.End : TopologicalPosition.Start)
            : await ParseTokenAsync(roomId, from, cancellationToken).ConfigureAwait(false);
        TopologicalPosition? until = to is null ? null : await ParseTokenAsync(roomId, to, cancellationToken).ConfigureAwait(false);
        limit = Math.Clamp(filter.Limit is { } fl ? Math.Min(fl, limit) : limit, 1, MaxPageSize);

        var chunk = new List<StoredEvent>();
        var position = start;
        bool exhausted = false;
        int batch = limit * 2;
        while (chunk.Count < limit && !exhausted)
        {
            var page = await _store.GetRoomEventsAsync(roomId, position, backwards, until, batch, cancellationToken)
                .ConfigureAwait(false);
            exhausted = page.Count < batch;
            foreach (var e in page)
            {
                // The boundary just past this event, in the direction of travel.
                position = backwards ? e.Position : new TopologicalPosition(e.Pdu.Depth, e.StreamOrdering + 1);
                if (visibility.CanSee(e) && filter.Matches(e.Pdu))
                {
                    chunk.Add(e);
                    if (chunk.Count == limit)
                    {
                        exhausted = false;
                        break;
                    }
                }
            }
        }

        var state = filter.LazyLoadMembers ? await MembersForAsync(roomId, chunk, cancellationToken).ConfigureAwait(false) : [];
        return new MessagesPage(
            await _formatter.FormatAsync(chunk, requester, cancellationToken).ConfigureAwait(false),
            from ?? PaginationToken.Format(start),
            exhausted ? null : PaginationToken.Format(position),
            await _formatter.FormatAsync(state, requester, cancellationToken).ConfigureAwait(false));
    }

    /// <summary>GET /rooms/{roomId}/context/{eventId}.</summary>
    public async Task<ContextResult> GetContextAsync(Requester requester, string roomId, string eventId, int limit,
        RoomEventFilter filter, CancellationToken cancellationToken)
    {
        var target = await GetEventAsync(requester, roomId, eventId, cancellationToken).ConfigureAwait(false);
        var visibility = await RoomVisibility.LoadAsync(_store, roomId, requester.UserId.Value, cancellationToken).ConfigureAwait(false);
        limit = Math.Clamp(filter.Limit is { } fl ? Math.Min(fl, limit) : limit, 0, MaxPageSize);
        int beforeCount = limit / 2;
        int afterCount = limit - beforeCount;

        var before = (await _store.GetRoomEventsAsync(roomId, target.Position, backwards: true, null, beforeCount * 2 + 1, cancellationToken)
            .ConfigureAwait(false)).Where(e => visibility.CanSee(e) && filter.Matches(e.Pdu)).Take(beforeCount).ToList();
        var afterStart = new TopologicalPosition(target.Pdu.Depth, target.StreamOrdering + 1);
        var after = (await _store.GetRoomEventsAsync(roomId, afterStart, backwards: false, null, afterCount * 2 + 1, cancellationToken)
            .ConfigureAwait(false)).Where(e => visibility.CanSee(e) && filter.Matches(e.Pdu)).Take(afterCount).ToList();

        var last = after.Count > 0 ? after[^1] : target;
        var stateIds = await _store.GetStateGroupAsync(last.StateGroup, cancellationToken).ConfigureAwait(false);
        IReadOnlyList<StoredEvent> state;
        if (filter.LazyLoadMembers)
        {
            state = await MembersForAsync(roomId, [.. before, target, .. after], cancellationToken).ConfigureAwait(false);
            var nonMembers = stateIds.Where(kv => kv.Key.Type != "m.room.member").Select(kv => kv.Value).ToList();
            state = [.. state, .. await _store.GetEventsAsync(nonMembers, cancellationToken).ConfigureAwait(false)];
        }
        else
        {
            state = await _store.GetEventsAsync(stateIds.Values.ToList(), cancellationToken).ConfigureAwait(false);
        }

        var formattedTarget = await _formatter.FormatAsync([target], requester, cancellationToken).ConfigureAwait(false);
        return new ContextResult(
            formattedTarget[0],
            await _formatter.FormatAsync(before, requester, cancellationToken).ConfigureAwait(false),
            await _formatter.FormatAsync(after, requester, cancellationToken).ConfigureAwait(false),
            await _formatter.FormatAsync(state, requester, cancellationToken).ConfigureAwait(false),
            PaginationToken.Format(before.Count > 0 ? before[^1].Position : target.Position),
            PaginationToken.Format(after.Count > 0 ? new TopologicalPosition(after[^1].Pdu.Depth, after[^1].StreamOrdering + 1) : afterStart));
    }

    private async Task<IReadOnlyList<StoredEvent>> MembersForAsync(string roomId, IEnumerable<StoredEvent> events,
        CancellationToken cancellationToken)
    {
        var senders = events.Select(e => e.Pdu.Sender).ToHashSet(StringComparer.Ordinal);
        var current = await _store.GetCurrentStateIdsAsync(roomId, cancellationToken).ConfigureAwait(false);
        var ids = senders.Select(s => current.TryGetValue(new TypeStateKey("m.room.member", s), out var id) ? id : null)
            .OfType<string>().ToList();
        return await _store.GetEventsAsync(ids, cancellationToken).ConfigureAwait(false);
    }

    private async Task<IReadOnlyDictionary<TypeStateKey, string>> GetVisibleStateIdsAsync(Requester requester, string roomId,
        CancellationToken cancellationToken)
    {
        await EnsureRoomAsync(roomId, cancellationToken).ConfigureAwait(false);
        var visibility = await RoomVisibility.LoadAsync(_store, roomId, requester.UserId.Value, cancellationToken).ConfigureAwait(false);
        if (visibility.CurrentMembership == "join" || visibility.IsWorldReadable)
        {
            return await _store.GetCurrentStateIdsAsync(roomId, cancellationToken).ConfigureAwait(false);
        }

        if (visibility.WasEverJoined && visibility.LastMembershipPosition is { } left)
        {
            var at = await _store.GetRoomEventsAsync(roomId, new TopologicalPosition(left.Depth, left.StreamOrdering + 1),
                backwards: true, null, 1, cancellationToken).ConfigureAwait(false);
            return await _store.GetStateGroupAsync(at[0].StateGroup, cancellationToken).ConfigureAwait(false);
        }

        throw MatrixException.Forbidden("You aren't a member of the room");
    }

    private async Task EnsureRoomAsync(string roomId, CancellationToken cancellationToken)
    {
        RoomService.ValidateRoomId(roomId);
        if (await _store.GetRoomAsync(roomId, cancellationToken).ConfigureAwait(false) is null)
        {
            throw new MatrixException(HttpStatusCode.Forbidden, ErrorCodes.Forbidden, "You aren't a member of the room");
        }
    }

    private Task<TopologicalPosition> ParseTokenAsync(string roomId, string token, CancellationToken cancellationToken) =>
        PaginationToken.ParseAsync(token, async stream =>
        {
            var at = await _store.GetPositionAtStreamAsync(roomId, stream, cancellationToken).ConfigureAwait(false);
            return at is { } p ? new TopologicalPosition(p.Depth, p.StreamOrdering + 1) : TopologicalPosition.Start;
        });
}

/// <summary>One page of /messages.</summary>
internal sealed record MessagesPage(List<JsonObject> Chunk, string Start, string? End, List<JsonObject> State);

/// <summary>The answer of /context.</summary>
internal sealed record ContextResult(JsonObject Event, List<JsonObject> Before, List<JsonObject> After, List<JsonObject> State,
    string Start, string End);
