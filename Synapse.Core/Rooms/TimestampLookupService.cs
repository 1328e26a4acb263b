using System.Net;
using Synapse.Accounts;
using Synapse.Storage;

namespace Synapse.Rooms;

/// <summary>
/// GET /rooms/{roomId}/timestamp_to_event: the event closest to a time in one direction that the requester may see.
/// </summary>
/// <remarks>
/// Spec: Client-Server API, "Room participation", <c>GET /_matrix/client/v1/rooms/{roomId}/timestamp_to_event</c>. This
/// server only answers from the history it holds; asking other servers over federation arrives with federation.
/// </remarks>
internal sealed class TimestampLookupService
{
    /// <summary>Events read per query while skipping events hidden from the requester.</summary>
    private const int Batch = 100;

    /// <summary>
    /// How many events one lookup examines at most: a user who may only see a recent part of a long room, asking far
    /// forward from its beginning, gets 404 instead of a scan of the whole room.
    /// </summary>
    private const int MaxScanned = 5000;

    private readonly IEventStore _store;

    public TimestampLookupService(IEventStore store) => _store = store;

    /// <summary>
    /// The first visible event at or after (<paramref name="forwards"/>) or at or before <paramref name="timestamp"/>;
    /// 403 when the requester cannot read the room, 404 <c>M_NOT_FOUND</c> when there is none.
    /// </summary>
    public async Task<StoredEvent> FindAsync(Requester requester, string roomId, long timestamp, bool forwards,
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

        // Keys are (origin_server_ts, stream ordering); starting just outside the timestamp includes events exactly at it.
        long ts = timestamp;
        long stream = forwards ? long.MinValue : long.MaxValue;
        for (int scanned = 0; scanned < MaxScanned; scanned += Batch)
        {
            var page = await _store.GetEventsByTimestampAsync(roomId, ts, stream, forwards, Batch, cancellationToken).ConfigureAwait(false);
            foreach (var e in page)
            {
                if (visibility.CanSee(e))
                {
                    return e;
                }
            }

            if (page.Count < Batch)
            {
                break;
            }

            (ts, stream) = (page[^1].Pdu.OriginServerTs, page[^1].StreamOrdering);
        }

        throw MatrixException.NotFound(string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"Unable to find event from {timestamp} in {(forwards ? "forward" : "backward")} direction"));
    }
}
