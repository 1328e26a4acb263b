using System.Collections.Concurrent;
using Synapse.Storage;
using Synapse.Streams;

namespace Synapse.Sync;

/// <summary>
/// What /sync can answer from memory instead of the database, learnt from the stream bus: which rooms had events or
/// membership changes after a position, whose memberships changed, and each user's current memberships. With it, a
/// woken sync costs queries only for the rooms that changed, not for every room the user is in.
/// </summary>
/// <remarks>
/// A position is published on the bus before it becomes part of <see cref="StreamRegistry.CurrentToken"/>, so a sync
/// that read a token never asks about a position this cache has not seen. Positions at or before the one current when
/// the cache started are unknown: questions about them are answered "changed", and the caller reads the database.
/// </remarks>
internal sealed class SyncCache
{
    /// <summary>Above this many users, the membership cache starts over (it only saves queries; it holds no state).</summary>
    private const int MaxCachedUsers = 50_000;

    private readonly IEventStore _events;
    private readonly long _eventsTrackedAfter;
    private readonly long _toDeviceTrackedAfter;
    private readonly ConcurrentDictionary<string, long> _roomLastEvent = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _roomLastMember = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _userLastMembership = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, CachedMemberships> _memberships = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _toDeviceLastAdded = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string User, string Device), long> _toDeviceDeletedUpTo = new();

    public SyncCache(IEventStore events, StreamBus bus, StreamRegistry streams)
    {
        _events = events;

        // Subscribe first: every position after the ones read below reaches OnUpdate.
        bus.Subscribe(OnUpdate);
        _eventsTrackedAfter = streams[StreamNames.Events].Current;
        _toDeviceTrackedAfter = streams[StreamNames.ToDevice].Current;
    }

    /// <summary>Whether the room may have events with stream ordering after <paramref name="position"/>.</summary>
    public bool RoomChangedAfter(string roomId, long position) => Changed(_roomLastEvent, roomId, position);

    /// <summary>Whether the room may have membership events after <paramref name="position"/>.</summary>
    public bool RoomMembersChangedAfter(string roomId, long position) => Changed(_roomLastMember, roomId, position);

    /// <summary>Whether the user's membership of any room may have changed after <paramref name="position"/>.</summary>
    public bool MembershipChangedAfter(string userId, long position) => Changed(_userLastMembership, userId, position);

    /// <summary>The user's current membership of every room they have one in (the store's answer, cached until it changes).</summary>
    public async Task<IReadOnlyList<UserMembership>> GetMembershipsAsync(string userId, CancellationToken cancellationToken)
    {
        long version = _userLastMembership.GetValueOrDefault(userId);
        if (_memberships.TryGetValue(userId, out var cached) && cached.Version == version)
        {
            return cached.Memberships;
        }

        var memberships = await _events.GetMembershipsForUserAsync(userId, cancellationToken).ConfigureAwait(false);

        // Kept only if no membership of the user was published while reading: otherwise the read may predate it.
        if (_userLastMembership.GetValueOrDefault(userId) == version)
        {
            if (_memberships.Count >= MaxCachedUsers)
            {
                _memberships.Clear();
            }

            _memberships[userId] = new CachedMemberships(version, memberships);
        }

        return memberships;
    }

    /// <summary>
    /// Whether the device may still have stored to-device messages at or before <paramref name="position"/> (the
    /// client's <c>since</c>, which acknowledges them): false when a delete up to there already ran and nothing was
    /// sent to the user since.
    /// </summary>
    public bool ToDeviceMayNeedDelete(string userId, string deviceId, long position)
    {
        if (!_toDeviceDeletedUpTo.TryGetValue((userId, deviceId), out long deletedUpTo))
        {
            return true;
        }

        long lastAdded = Math.Max(_toDeviceTrackedAfter, _toDeviceLastAdded.GetValueOrDefault(userId));
        return position > deletedUpTo && lastAdded > deletedUpTo;
    }

    /// <summary>Records that the device's messages up to <paramref name="position"/> were deleted.</summary>
    public void ToDeviceDeleted(string userId, string deviceId, long position) =>
        _toDeviceDeletedUpTo.AddOrUpdate((userId, deviceId), position, (_, old) => Math.Max(old, position));

    private bool Changed(ConcurrentDictionary<string, long> last, string key, long position) =>
        position < _eventsTrackedAfter || (last.TryGetValue(key, out long at) && at > position);

    private void OnUpdate(StreamUpdate update)
    {
        if (update.Stream == StreamNames.Events)
        {
            foreach (var row in update.Rows)
            {
                if ((string?)row.Data["room_id"] is not { } roomId)
                {
                    continue;
                }

                _roomLastEvent[roomId] = update.Position;
                if ((string?)row.Data["type"] == "m.room.member" && (string?)row.Data["state_key"] is { } member)
                {
                    _roomLastMember[roomId] = update.Position;
                    _userLastMembership[member] = update.Position;
                }
            }
        }
        else if (update.Stream == StreamNames.ToDevice)
        {
            foreach (var row in update.Rows)
            {
                if ((string?)row.Data["user_id"] is { } userId)
                {
                    _toDeviceLastAdded[userId] = update.Position;
                }
            }
        }
    }

    private sealed record CachedMemberships(long Version, IReadOnlyList<UserMembership> Memberships);
}
