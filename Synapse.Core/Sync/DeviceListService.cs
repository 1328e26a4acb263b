using System.Text.Json.Nodes;
using Synapse.Identifiers;
using Synapse.Storage;
using Synapse.Streams;

namespace Synapse.Sync;

/// <summary>
/// Writes the device-lists stream: a user's device was added, removed or renamed (and, with end-to-end encryption, its keys
/// changed). Room-mates' syncs wake (the rows are keyed by every room the user is joined to) and report the user in
/// <c>device_lists.changed</c> (Spec: Client-Server API, "Tracking the device list for a user").
/// </summary>
internal sealed class DeviceListService
{
    private static readonly string[] Joined = ["join"];

    private readonly StreamRegistry _streams;
    private readonly IDeviceListStore _store;
    private readonly IEventStore _events;

    public DeviceListService(StreamRegistry streams, IDeviceListStore store, IEventStore events)
    {
        _streams = streams;
        _store = store;
        _events = events;
    }

    /// <summary>Records that devices of <paramref name="userId"/> changed (for writes that have no transaction of their own).</summary>
    public Task PublishChangeAsync(UserId userId, IReadOnlyCollection<DeviceId> deviceIds, CancellationToken cancellationToken) =>
        deviceIds.Count == 0
            ? Task.CompletedTask
            : WriteAsync(userId, async position =>
            {
                await _store.AddChangesAsync(position, userId, deviceIds, cancellationToken).ConfigureAwait(false);
                return deviceIds;
            }, changed => changed, cancellationToken);

    /// <summary>
    /// Runs a store write that records device-list rows at the position it is given, inside its own transaction: the position
    /// is allocated before, and completed after the write commits (with the rows of <paramref name="changedDevices"/>) or
    /// fails (with none), so the stream never stalls and readers never see a position before its rows.
    /// </summary>
    public async Task<T> WriteAsync<T>(UserId userId, Func<long, Task<T>> write, Func<T, IReadOnlyCollection<DeviceId>> changedDevices,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(write);
        ArgumentNullException.ThrowIfNull(changedDevices);

        // Looked up before allocating, so that nothing can fail between the commit and Complete.
        var keys = await NotifierKeysAsync(userId, cancellationToken).ConfigureAwait(false);
        var stream = _streams[StreamNames.DeviceLists];
        long position = stream.Allocate();
        IReadOnlyList<StreamRow> rows = [];
        try
        {
            var result = await write(position).ConfigureAwait(false);
            rows = [.. changedDevices(result).Select(d => new StreamRow(
                new JsonObject { ["user_id"] = userId.Value, ["device_id"] = d.Value }, keys))];
            return result;
        }
        finally
        {
            stream.Complete(position, rows);
        }
    }

    /// <summary>The user's own syncs, and the syncs of everyone in a room with them.</summary>
    internal async Task<IReadOnlyList<string>> NotifierKeysAsync(UserId userId, CancellationToken cancellationToken)
    {
        var rooms = await _events.GetRoomsForUserAsync(userId.Value, Joined, cancellationToken).ConfigureAwait(false);
        return [NotifierKey.User(userId.Value), .. rooms.Select(NotifierKey.Room)];
    }
}
