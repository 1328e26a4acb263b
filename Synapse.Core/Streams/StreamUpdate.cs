using System.Text.Json.Nodes;

namespace Synapse.Streams;

/// <summary>
/// One row of a stream at a position: the data a replication peer needs (<see cref="Data"/>, compact JSON on
/// the wire) and the notifier keys it concerns (<see cref="NotifierKeys"/>: rooms and users whose waiting
/// syncs should wake).
/// </summary>
/// <param name="Data">The row's fields.</param>
/// <param name="NotifierKeys">Keys from <see cref="NotifierKey"/>.</param>
public sealed record StreamRow(JsonObject Data, IReadOnlyList<string> NotifierKeys);

/// <summary>The rows of one stream that became visible at <see cref="Position"/> (the shape replication carries).</summary>
/// <param name="Stream">The stream name (<see cref="StreamNames"/>).</param>
/// <param name="Position">The stream position the rows belong to.</param>
/// <param name="Rows">The rows; empty for a position that was allocated but wrote nothing.</param>
public sealed record StreamUpdate(string Stream, long Position, IReadOnlyList<StreamRow> Rows);

/// <summary>Notifier keys: what a change touches, and what a waiting sync listens for.</summary>
public static class NotifierKey
{
    /// <summary>Everything about a room (events, typing, receipts).</summary>
    public static string Room(string roomId) => "r:" + roomId;

    /// <summary>Everything about one user (invites, account data, to-device, presence they receive).</summary>
    public static string User(string userId) => "u:" + userId;
}

/// <summary>Helpers for stream sources read back from a table.</summary>
public static class StreamUpdates
{
    /// <summary>
    /// Groups stored rows by their position into updates, in the order given (the store returns them by position).
    /// </summary>
    public static IReadOnlyList<StreamUpdate> ByPosition<T>(string stream, IEnumerable<T> stored, Func<T, long> positionOf,
        Func<T, StreamRow> rowOf) =>
        [.. stored.GroupBy(positionOf).Select(g => new StreamUpdate(stream, g.Key, [.. g.Select(rowOf)]))];
}
