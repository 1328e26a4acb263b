using System.Net;
using System.Text.Json.Nodes;
using Synapse.Accounts;
using Synapse.Storage;

namespace Synapse.Rooms;

/// <summary>
/// Reads of the event relationships modules: the child events of an event (<c>/relations</c>) and the threads of a room
/// (<c>/threads</c>), both filtered by the requester's history visibility and served with bundled aggregations.
/// </summary>
/// <remarks>Spec: Client-Server API, "Relationships API" and "Querying threads in a room".</remarks>
internal sealed class RelationsService
{
    /// <summary>The page size when the client gives none (Synapse's default for both endpoints).</summary>
    public const int DefaultLimit = 5;

    /// <summary>The largest page either endpoint returns.</summary>
    public const int MaxLimit = RoomQueryService.MaxPageSize;

    /// <summary>How many hops <c>recurse=true</c> follows; the spec asks for at least 3.</summary>
    public const int RecursionDepth = 3;

    private readonly IEventStore _store;
    private readonly RoomQueryService _queries;
    private readonly ClientEventFormatter _formatter;

    public RelationsService(IEventStore store, RoomQueryService queries, ClientEventFormatter formatter)
    {
        _store = store;
        _queries = queries;
        _formatter = formatter;
    }

    /// <summary>
    /// GET /rooms/{roomId}/relations/{eventId}[/{relType}[/{eventType}]]: 404 when the parent is unknown or hidden from the
    /// requester; children the requester cannot see are left out. <paramref name="recurse"/> is null when not supplied.
    /// </summary>
    public async Task<RelationsPage> GetRelationsAsync(Requester requester, string roomId, string eventId, string? relationType,
        string? eventType, string? from, string? to, bool backwards, int limit, bool? recurse, CancellationToken cancellationToken)
    {
        RoomService.ValidateRoomId(roomId);
        var parent = await _queries.GetEventAsync(requester, roomId, eventId, cancellationToken).ConfigureAwait(false);
        var visibility = await RoomVisibility.LoadAsync(_store, roomId, requester.UserId.Value, cancellationToken).ConfigureAwait(false);
        var start = from is null
            ? (backwards ? TopologicalPosition.End : TopologicalPosition.Start)
            : await ParseTokenAsync(roomId, from, cancellationToken).ConfigureAwait(false);
        TopologicalPosition? until = to is null ? null : await ParseTokenAsync(roomId, to, cancellationToken).ConfigureAwait(false);
        limit = Math.Clamp(limit, 1, MaxLimit);
        int depth = recurse == true ? RecursionDepth : 1;

        var chunk = new List<StoredEvent>();
        var position = start;
        bool more = false;
        int batch = Math.Min(limit * 2, MaxLimit);
        while (true)
        {
            var page = await _store.GetRelationsPageAsync(roomId, parent.Pdu.EventId, relationType, eventType, position, backwards,
                until, batch, depth, cancellationToken).ConfigureAwait(false);
            for (int i = 0; i < page.Count && chunk.Count < limit; i++)
            {
                var e = page[i];
                position = After(e, backwards);
                if (visibility.CanSee(e))
                {
                    chunk.Add(e);
                    more = i < page.Count - 1 || page.Count == batch;
                }
            }

            if (chunk.Count == limit || page.Count < batch)
            {
                more = chunk.Count == limit && more;
                break;
            }
        }

        return new RelationsPage(
            await _formatter.FormatAsync(chunk, requester, cancellationToken).ConfigureAwait(false),
            more ? PaginationToken.Format(position) : null,
            from,
            recurse is null ? null : depth);
    }

    /// <summary>
    /// GET /rooms/{roomId}/threads: the thread roots the requester can see, ordered by their latest reply, newest first;
    /// only threads the requester took part in when <paramref name="participatedOnly"/>. 403 when they cannot read the room.
    /// </summary>
    public async Task<ThreadsPage> GetThreadsAsync(Requester requester, string roomId, bool participatedOnly, string? from, int limit,
        CancellationToken cancellationToken)
    {
        RoomService.ValidateRoomId(roomId);
        if (await _store.GetRoomAsync(roomId, cancellationToken).ConfigureAwait(false) is null)
        {
            throw new MatrixException(HttpStatusCode.Forbidden, ErrorCodes.Forbidden, "You aren't a member of the room");
        }

        var visibility = await RoomVisibility.LoadAsync(_store, roomId, requester.UserId.Value, cancellationToken).ConfigureAwait(false);
        if (!visibility.WasEverJoined && visibility.CurrentMembership != "invite" && !visibility.IsWorldReadable)
        {
            throw MatrixException.Forbidden("You aren't a member of the room");
        }

        var position = from is null ? TopologicalPosition.End : await ParseTokenAsync(roomId, from, cancellationToken).ConfigureAwait(false);
        limit = Math.Clamp(limit, 1, MaxLimit);
        int batch = Math.Min(limit * 2, MaxLimit);
        string? participant = participatedOnly ? requester.UserId.Value : null;
        var chunk = new List<StoredEvent>();
        bool more = false;
        while (true)
        {
            var page = await _store.GetThreadRootsAsync(roomId, participant, position, batch, cancellationToken).ConfigureAwait(false);
            var roots = (await _store.GetEventsAsync(page.Select(r => r.RootId).ToList(), cancellationToken).ConfigureAwait(false))
                .ToDictionary(e => e.Pdu.EventId, StringComparer.Ordinal);
            for (int i = 0; i < page.Count && chunk.Count < limit; i++)
            {
                position = page[i].Latest;
                if (roots.TryGetValue(page[i].RootId, out var root) && visibility.CanSee(root))
                {
                    chunk.Add(root);
                    more = i < page.Count - 1 || page.Count == batch;
                }
            }

            if (chunk.Count == limit || page.Count < batch)
            {
                more = chunk.Count == limit && more;
                break;
            }
        }

        return new ThreadsPage(
            await _formatter.FormatAsync(chunk, requester, cancellationToken).ConfigureAwait(false),
            more ? PaginationToken.Format(position) : null);
    }

    /// <summary>The boundary just past <paramref name="e"/> in the direction of travel.</summary>
    private static TopologicalPosition After(StoredEvent e, bool backwards) =>
        backwards ? e.Position : new TopologicalPosition(e.Pdu.Depth, e.StreamOrdering + 1);

    private Task<TopologicalPosition> ParseTokenAsync(string roomId, string token, CancellationToken cancellationToken) =>
        PaginationToken.ParseAsync(token, async stream =>
        {
            var at = await _store.GetPositionAtStreamAsync(roomId, stream, cancellationToken).ConfigureAwait(false);
            return at is { } p ? new TopologicalPosition(p.Depth, p.StreamOrdering + 1) : TopologicalPosition.Start;
        });
}

/// <summary>One page of /relations; <see cref="RecursionDepth"/> is set when the client supplied <c>recurse</c>.</summary>
internal sealed record RelationsPage(List<JsonObject> Chunk, string? NextBatch, string? PrevBatch, int? RecursionDepth);

/// <summary>One page of /threads.</summary>
internal sealed record ThreadsPage(List<JsonObject> Chunk, string? NextBatch);
