using System.Text.Json.Nodes;
using Synapse.Identifiers;
using Synapse.Storage;
using Synapse.Streams;

namespace Synapse.Sync;

/// <summary>The device-lists stream read back from the database (replication catch-up).</summary>
internal sealed class DeviceListStreamSource : IStreamSource
{
    private readonly StreamRegistry _streams;
    private readonly IDeviceListStore _store;
    private readonly DeviceListService _deviceLists;

    public DeviceListStreamSource(StreamRegistry streams, IDeviceListStore store, DeviceListService deviceLists)
    {
        _streams = streams;
        _store = store;
        _deviceLists = deviceLists;
    }

    public string Stream => StreamNames.DeviceLists;

    public long CurrentPosition => _streams[StreamNames.DeviceLists].Current;

    public async Task<IReadOnlyList<StreamUpdate>> GetUpdatesAsync(long after, long upTo, int limit, CancellationToken cancellationToken)
    {
        var rows = await _store.GetRowsAsync(after, upTo, limit, cancellationToken).ConfigureAwait(false);
        var updates = new List<StreamUpdate>();
        var keysByUser = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        foreach (var position in rows.GroupBy(r => r.StreamId))
        {
            var streamRows = new List<StreamRow>();
            foreach (var (_, userId, deviceId) in position)
            {
                // The rooms are today's, not those at the time of the change: close enough to wake the right syncs.
                if (!keysByUser.TryGetValue(userId, out var keys))
                {
                    keys = UserId.TryParse(userId, out var user)
                        ? await _deviceLists.NotifierKeysAsync(user, cancellationToken).ConfigureAwait(false)
                        : [NotifierKey.User(userId)];
                    keysByUser[userId] = keys;
                }

                streamRows.Add(new StreamRow(new JsonObject { ["user_id"] = userId, ["device_id"] = deviceId }, keys));
            }

            updates.Add(new StreamUpdate(Stream, position.Key, streamRows));
        }

        return updates;
    }
}
