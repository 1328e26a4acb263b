using System.Text.Json.Nodes;
using Synapse.Events;
using Synapse.Storage;

namespace Synapse.Rooms;

/// <summary>
/// The entry point for adding events to rooms. On main (and in a monolith) this is the persist pipeline;
/// a worker's implementation will forward drafts to main over HTTP replication.
/// </summary>
public interface IRoomEventWriter
{
    /// <summary>
    /// Builds, authorizes, signs and persists the drafts, in order, atomically: either all of them are
    /// persisted or none is. Throws <see cref="MatrixException"/> (e.g. 403 with the auth failure) when a
    /// draft is refused.
    /// </summary>
    Task<IReadOnlyList<Pdu>> WriteAsync(IReadOnlyList<EventDraft> drafts, CancellationToken cancellationToken);
}

/// <summary>An event a local user wants to send, before the server fills in the graph fields.</summary>
/// <param name="RoomId">The room (for m.room.create, the new room's ID).</param>
/// <param name="Type">The event type.</param>
/// <param name="StateKey">The state key for a state event, else null.</param>
/// <param name="Sender">The sending user.</param>
/// <param name="Content">The content.</param>
public sealed record EventDraft(string RoomId, string Type, string? StateKey, string Sender, JsonObject Content)
{
    /// <summary>The device transaction this was sent with, for idempotent retries.</summary>
    public TransactionKey? Transaction { get; init; }

    /// <summary>For <c>m.room.redaction</c>: the event redacted.</summary>
    public string? Redacts { get; init; }

    /// <summary>For a new room (<c>m.room.create</c>): its version.</summary>
    public RoomVersions.RoomVersion? NewRoomVersion { get; init; }

    /// <summary>For a new room: whether it is published in the room directory.</summary>
    public bool NewRoomIsPublic { get; init; }
}
