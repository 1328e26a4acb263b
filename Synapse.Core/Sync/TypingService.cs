using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Synapse.Accounts;
using Synapse.Identifiers;
using Synapse.Json;
using Synapse.Storage;
using Synapse.Streams;

namespace Synapse.Sync;

/// <summary>
/// Who is typing in which room (Spec: Client-Server API, "Typing Notifications"). Typing lives in main's memory
/// only: each change takes a position of the <c>typing</c> stream, and each room remembers the position of its
/// latest change, so "what changed in (a, b]" is the rooms whose latest change lies in that range, with their
/// current typers. Positions start again at 0 after a restart.
/// </summary>
/// <remarks>
/// Instead of a log of every change, a room keeps only its latest one: the typing set is state, so a reader behind
/// needs the current set of each room that changed, not the intermediate ones. Rooms nobody types in are forgotten
/// once more than <see cref="MaxRememberedIdleRooms"/> accumulate; a token older than the oldest forgotten change is
/// answered with every room's current set.
/// <para>
/// A process that does not write typing (a worker) follows it: the rows arriving on its bus replace each room's set, so
/// its syncs answer the same as main's. They are applied synchronously, before the stream's new position becomes
/// visible, so a reader at that position finds them.
/// </para>
/// </remarks>
internal sealed partial class TypingService : IStreamSource, IDisposable
{
    /// <summary>The timeout when the client gives none (Synapse's default).</summary>
    public const long DefaultTimeoutMs = 30_000;

    /// <summary>The longest timeout honoured; longer requests are cut to it (Synapse's cap).</summary>
    public const long MaxTimeoutMs = 120_000;

    /// <summary>How many rooms with nobody typing keep their last change position before the oldest are forgotten.</summary>
    public const int MaxRememberedIdleRooms = 10_000;

    private readonly Dictionary<string, RoomTyping> _rooms = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private readonly StreamRegistry _streams;
    private readonly IEventStore _events;
    private readonly PresenceService _presence;
    private readonly TimeProvider _time;
    private readonly ITimer _timer;
    private readonly ILogger<TypingService> _logger;
    private long _nextExpiry = long.MaxValue;
    private long _forgottenUpTo;
    private int _idleRooms;
    private bool _writesHere;

    public TypingService(StreamRegistry streams, StreamBus bus, IEventStore events, PresenceService presence, TimeProvider time,
        ILogger<TypingService> logger)
    {
        ArgumentNullException.ThrowIfNull(bus);
        _streams = streams;
        _events = events;
        _presence = presence;
        _time = time;
        _logger = logger;
        _timer = time.CreateTimer(_ => OnTimer(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        bus.Subscribe(OnStreamUpdate);
    }

    /// <inheritdoc />
    public string Stream => StreamNames.Typing;

    /// <inheritdoc />
    public long CurrentPosition => _streams[StreamNames.Typing].Current;

    /// <summary>
    /// PUT /rooms/{roomId}/typing/{userId}: only for oneself (403 <c>M_FORBIDDEN</c>), only in a room one is joined
    /// to (403); <c>typing</c> is required, <c>timeout</c> defaults to 30 s and is capped at 120 s.
    /// </summary>
    public async Task SetTypingAsync(Requester requester, string roomId, string userId, JsonElement body,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(requester);
        if (!UserId.TryParse(userId, out var target))
        {
            throw MatrixException.InvalidParam($"Invalid user ID: {userId}");
        }

        if (target != requester.UserId)
        {
            throw MatrixException.Forbidden("Cannot set another user's typing state");
        }

        bool typing = body.OptionalBool("typing") ?? throw MatrixException.MissingParam("typing");
        long timeout = ReadTimeout(body);
        var joined = await _events.GetRoomsForUserAsync(target.Value, ["join"], cancellationToken).ConfigureAwait(false);
        if (!joined.Contains(roomId, StringComparer.Ordinal))
        {
            throw MatrixException.Forbidden($"User {target} is not in room {roomId}");
        }

        if (typing)
        {
            Start(roomId, target.Value, timeout);
            await _presence.BumpActiveAsync(target, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            Stop(roomId, target.Value);
        }
    }

    /// <summary>Marks <paramref name="userId"/> as typing in the room for <paramref name="timeoutMs"/> (a repeat only extends it).</summary>
    public void Start(string roomId, string userId, long timeoutMs)
    {
        lock (_gate)
        {
            long expiry = _time.GetUtcNow().ToUnixTimeMilliseconds() + timeoutMs;
            var room = Room(roomId);
            bool isNew = !room.Typers.ContainsKey(userId);
            room.Typers[userId] = expiry;
            if (isNew)
            {
                Changed(roomId, room);
            }

            Schedule(expiry);
        }
    }

    /// <summary>Marks <paramref name="userId"/> as no longer typing in the room (nothing happens if they were not).</summary>
    public void Stop(string roomId, string userId)
    {
        lock (_gate)
        {
            if (_rooms.TryGetValue(roomId, out var room) && room.Typers.Remove(userId))
            {
                Changed(roomId, room);
            }
        }
    }

    /// <summary>Removes every typer whose timeout has passed (the timer calls it; tests with a fake clock too).</summary>
    public void ExpireDue()
    {
        lock (_gate)
        {
            long now = _time.GetUtcNow().ToUnixTimeMilliseconds();
            long next = long.MaxValue;
            List<(string RoomId, RoomTyping Room)>? changed = null;
            foreach (var (roomId, room) in _rooms)
            {
                if (room.Typers.Count == 0)
                {
                    continue;
                }

                foreach (long expiry in room.Typers.Values)
                {
                    if (expiry <= now)
                    {
                        changed ??= [];
                        if (changed.Count == 0 || changed[^1].RoomId != roomId)
                        {
                            changed.Add((roomId, room));
                        }
                    }
                    else
                    {
                        next = Math.Min(next, expiry);
                    }
                }
            }

            // Changes are applied after the walk: publishing one may forget idle rooms, which edits the dictionary.
            foreach (var (roomId, room) in changed ?? [])
            {
                foreach (var userId in room.Typers.Where(t => t.Value <= now).Select(t => t.Key).ToList())
                {
                    room.Typers.Remove(userId);
                }

                Changed(roomId, room);
            }

            _nextExpiry = long.MaxValue;
            Schedule(next);
        }
    }

    /// <summary>
    /// The typing sets to send for <paramref name="roomIds"/> to a reader at <paramref name="from"/> going up to
    /// <paramref name="upTo"/>: the rooms whose latest change lies in (from, upTo]; with <paramref name="full"/>
    /// (initial sync), and for <paramref name="wholeRooms"/> (newly joined), every room somebody types in. A
    /// <paramref name="from"/> the service cannot answer exactly (ahead of the stream after a restart, or older than
    /// forgotten changes) gets every room's current set, empty ones included, so that a client drops typers it learnt
    /// about before.
    /// </summary>
    public IReadOnlyList<(string RoomId, IReadOnlyList<string> UserIds)> GetTyping(IEnumerable<string> roomIds, long from,
        long upTo, bool full, IReadOnlySet<string>? wholeRooms = null)
    {
        ArgumentNullException.ThrowIfNull(roomIds);
        var result = new List<(string, IReadOnlyList<string>)>();
        lock (_gate)
        {
            bool stale = !full && (from > upTo || from < _forgottenUpTo);
            if (!full && !stale && from == upTo && (wholeRooms is null || wholeRooms.Count == 0))
            {
                return result;
            }

            foreach (string roomId in roomIds)
            {
                _rooms.TryGetValue(roomId, out var room);
                bool whole = full || (wholeRooms?.Contains(roomId) ?? false);
                bool send = stale
                    || (whole ? room is { Typers.Count: > 0 } : room is not null && room.Position > from && room.Position <= upTo);
                if (send)
                {
                    result.Add((roomId, room is null ? [] : Sorted(room)));
                }
            }
        }

        return result;
    }

    /// <inheritdoc />
    public Task<IReadOnlyList<StreamUpdate>> GetUpdatesAsync(long after, long upTo, int limit, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            IReadOnlyList<StreamUpdate> updates = [.. _rooms
                .Where(kv => kv.Value.Position > after && kv.Value.Position <= upTo)
                .OrderBy(kv => kv.Value.Position)
                .Take(limit)
                .Select(kv => new StreamUpdate(StreamNames.Typing, kv.Value.Position, [Row(kv.Key, kv.Value)]))];
            return Task.FromResult(updates);
        }
    }

    /// <summary>
    /// Forgets every followed room: the writer restarted (typing lives in its memory), so its positions start again and
    /// what it held before is gone. Readers holding older tokens get every room's current set.
    /// </summary>
    public void ResetFollowed()
    {
        lock (_gate)
        {
            if (_writesHere)
            {
                return;
            }

            _rooms.Clear();
            _idleRooms = 0;
            _forgottenUpTo = 0;
        }
    }

    /// <inheritdoc />
    public void Dispose() => _timer.Dispose();

    /// <summary>A typing row another process wrote (this process follows the stream): the room's set is replaced.</summary>
    private void OnStreamUpdate(StreamUpdate update)
    {
        if (update.Stream != StreamNames.Typing)
        {
            return;
        }

        lock (_gate)
        {
            // Main sees its own rows here too; its state is already what they say.
            if (_writesHere)
            {
                return;
            }

            foreach (var row in update.Rows)
            {
                if (row.Data["room_id"]?.GetValue<string>() is not { } roomId || row.Data["user_ids"] is not JsonArray userIds)
                {
                    continue;
                }

                var room = Room(roomId);
                room.Typers.Clear();
                foreach (var userId in userIds)
                {
                    if (userId?.GetValue<string>() is { } id)
                    {
                        // Main expires typers and sends the change; a follower never does.
                        room.Typers[id] = long.MaxValue;
                    }
                }

                room.Position = update.Position;
                if (room.Typers.Count == 0 && ++_idleRooms > MaxRememberedIdleRooms)
                {
                    ForgetOldestIdleRooms();
                }
            }
        }
    }

    private void OnTimer()
    {
        // An exception escaping a timer callback would end the process.
        try
        {
            ExpireDue();
        }
        catch (Exception e)
        {
            Log.ExpiryFailed(_logger, e);
        }
    }

    private static long ReadTimeout(JsonElement body)
    {
        if (body.OptionalElement("timeout") is not { } value)
        {
            return DefaultTimeoutMs;
        }

        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt64(out long timeout))
        {
            throw MatrixException.BadJson("'timeout' must be an integer");
        }

        return timeout < 0 ? throw MatrixException.InvalidParam("'timeout' must not be negative") : Math.Min(timeout, MaxTimeoutMs);
    }

    private static List<string> Sorted(RoomTyping room) => [.. room.Typers.Keys.Order(StringComparer.Ordinal)];

    private static StreamRow Row(string roomId, RoomTyping room) => new(
        new JsonObject
        {
            ["room_id"] = roomId,
            ["user_ids"] = new JsonArray([.. Sorted(room).Select(u => (JsonNode)JsonValue.Create(u)!)]),
        },
        [NotifierKey.Room(roomId)]);

    private RoomTyping Room(string roomId)
    {
        if (!_rooms.TryGetValue(roomId, out var room))
        {
            _rooms[roomId] = room = new RoomTyping();
        }
        else if (room.Typers.Count == 0)
        {
            _idleRooms--;
        }

        return room;
    }

    /// <summary>Gives the room's change a stream position and publishes it (under the lock, so positions follow changes).</summary>
    private void Changed(string roomId, RoomTyping room)
    {
        _writesHere = true;
        var stream = _streams[StreamNames.Typing];
        long position = stream.Allocate();
        room.Position = position;
        stream.Complete(position, [Row(roomId, room)]);
        if (room.Typers.Count == 0 && ++_idleRooms > MaxRememberedIdleRooms)
        {
            ForgetOldestIdleRooms();
        }
    }

    private void ForgetOldestIdleRooms()
    {
        var idle = _rooms.Where(kv => kv.Value.Typers.Count == 0).OrderBy(kv => kv.Value.Position)
            .Take(_idleRooms - (MaxRememberedIdleRooms / 2)).ToList();
        foreach (var (roomId, room) in idle)
        {
            _rooms.Remove(roomId);
            _forgottenUpTo = Math.Max(_forgottenUpTo, room.Position);
            _idleRooms--;
        }
    }

    private void Schedule(long expiry)
    {
        if (expiry >= _nextExpiry)
        {
            return;
        }

        _nextExpiry = expiry;
        if (expiry == long.MaxValue)
        {
            _timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            return;
        }

        long delay = Math.Max(0, expiry - _time.GetUtcNow().ToUnixTimeMilliseconds());
        _timer.Change(TimeSpan.FromMilliseconds(delay), Timeout.InfiniteTimeSpan);
    }

    private sealed class RoomTyping
    {
        /// <summary>User ID → expiry (ms since the epoch).</summary>
        public Dictionary<string, long> Typers { get; } = new(StringComparer.Ordinal);

        /// <summary>The stream position of the room's latest change.</summary>
        public long Position { get; set; }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4411, Level = LogLevel.Error, Message = "Expiring typing notifications failed")]
        public static partial void ExpiryFailed(ILogger logger, Exception exception);
    }
}
