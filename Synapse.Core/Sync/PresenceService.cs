using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Synapse.Accounts;
using Synapse.Configuration;
using Synapse.Identifiers;
using Synapse.Json;
using Synapse.Storage;
using Synapse.Streams;

namespace Synapse.Sync;

/// <summary>
/// Presence of local users (Spec: Client-Server API, "Presence"). Main keeps every user who is not offline in memory
/// and is the only writer. A change worth telling room-mates about (state, status message, <c>currently_active</c>)
/// joins a write batch; each batch is one transaction at one new position of the <c>presence</c> stream and wakes the
/// syncs of its users and of every room they are joined to. Smaller changes (a newer last-active or last-sync time)
/// stay in memory and are written every minute by <see cref="PresenceTimerService"/>.
/// </summary>
/// <remarks>
/// <para>A user is <c>online</c> while they sync (with <c>set_presence</c> absent or <c>online</c>) or act (typing,
/// <c>PUT /presence</c> online); <c>unavailable</c> after <see cref="IdleTimeout"/> without activity, or when their
/// client says so; <c>offline</c> once neither a sync nor an action happened for <see cref="SyncOnlineTimeout"/> and no
/// sync is in progress. These are Synapse's values, so presence behaves the same for users moving over.</para>
/// <para><c>currently_active</c> is true while the last activity is within <see cref="ActiveGranularity"/>: while it is
/// true room-mates are not told about newer activity (the spec's "Last active ago"), which keeps a chatty user from
/// producing a presence update per message.</para>
/// </remarks>
internal sealed partial class PresenceService : ISyncActivityListener, IPresenceActivity, IStreamSource, IDisposable
{
    public const string Online = "online";
    public const string Unavailable = "unavailable";
    public const string Offline = "offline";

    /// <summary>Without activity for this long an online user becomes unavailable (Synapse's IDLE_TIMER).</summary>
    public static readonly TimeSpan IdleTimeout = TimeSpan.FromMinutes(5);

    /// <summary>Without a sync or an action for this long (and no sync in progress) a user goes offline (Synapse's SYNC_ONLINE_TIMEOUT).</summary>
    public static readonly TimeSpan SyncOnlineTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Activity within this window counts as <c>currently_active</c> (Synapse's LAST_ACTIVE_GRANULARITY).</summary>
    public static readonly TimeSpan ActiveGranularity = TimeSpan.FromMinutes(1);

    /// <summary>
    /// How long a sync counts as in progress when its end is not reported (<see cref="OnSyncEndedAsync"/>): a long poll
    /// lasts at most its timeout, so this only matters if the end notification is missing.
    /// </summary>
    public static readonly TimeSpan MaxSyncDuration = TimeSpan.FromMinutes(10);

    /// <summary>How long a write batch waits for more changes to join it, again while they keep coming (see <see cref="WriteBatchesAsync"/>).</summary>
    public static readonly TimeSpan BatchLinger = TimeSpan.FromMilliseconds(50);

    /// <summary>The longest a write batch keeps waiting for more changes.</summary>
    public static readonly TimeSpan MaxBatchLinger = TimeSpan.FromMilliseconds(250);

    private const int GateCount = 64;

    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim[] _gates = [.. Enumerable.Range(0, GateCount).Select(_ => new SemaphoreSlim(1, 1))];
    private readonly HomeserverOptions _options;
    private readonly IPresenceStore _store;
    private readonly IEventStore _events;
    private readonly IAccountStore _accounts;
    private readonly StreamRegistry _streams;
    private readonly TimeProvider _time;
    private readonly ILogger<PresenceService> _logger;

    // The next write batch: user → (entry, change), replaced when the user changes again before it is written.
    private readonly Lock _batchGate = new();
    private Dictionary<string, (Entry Entry, PresenceRecord Record)> _batch = new(StringComparer.Ordinal);
    private TaskCompletionSource? _batchWritten;
    private bool _writerRunning;

    // Room → events position of its latest join, for the joins seen since this service subscribed to the bus; a sync
    // asks the database for new room-mates only when one of its rooms had a join in its range.
    private readonly ConcurrentDictionary<string, long> _lastJoin = new(StringComparer.Ordinal);
    private long _joinsTrackedAfter = -1;

    public PresenceService(HomeserverOptions options, IPresenceStore store, IEventStore events, IAccountStore accounts,
        StreamRegistry streams, StreamBus bus, TimeProvider time, ILogger<PresenceService> logger)
    {
        ArgumentNullException.ThrowIfNull(bus);
        _options = options;
        _store = store;
        _events = events;
        _accounts = accounts;
        _streams = streams;
        _time = time;
        _logger = logger;
        bus.Subscribe(OnStreamUpdate);
    }

    /// <summary><c>presence.enabled</c>: when false nothing is tracked and /sync carries no presence.</summary>
    public bool Enabled => _options.PresenceEnabled;

    /// <inheritdoc />
    public string Stream => StreamNames.Presence;

    /// <inheritdoc />
    public long CurrentPosition => _streams[StreamNames.Presence].Current;

    /// <summary>
    /// PUT /presence/{userId}/status: only one's own (403 <c>M_FORBIDDEN</c>); <c>presence</c> is required and one of
    /// the three states (400 <c>M_INVALID_PARAM</c>); an absent <c>status_msg</c> clears the message. Setting
    /// <c>online</c> counts as activity. Accepted and ignored when presence is disabled.
    /// </summary>
    public async Task SetPresenceAsync(Requester requester, string userId, JsonElement body, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(requester);
        var target = ParseUserId(userId);
        if (target != requester.UserId)
        {
            throw MatrixException.Forbidden("Cannot set another user's presence state");
        }

        string presence = body.RequiredString("presence");
        if (!IsState(presence))
        {
            throw MatrixException.InvalidParam($"Invalid presence state '{presence}': expected online, unavailable or offline");
        }

        string? statusMsg = body.OptionalString("status_msg");
        if (!Enabled)
        {
            return;
        }

        await UpdateAsync(target.Value, (entry, now) => entry.Record with
        {
            State = presence,
            StatusMsg = statusMsg,
            LastActiveTs = presence == Online ? now : entry.Record.LastActiveTs,
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// GET /presence/{userId}/status: one's own, or that of a user sharing a joined room (403 <c>M_FORBIDDEN</c>
    /// otherwise); 404 <c>M_NOT_FOUND</c> for an unknown user, and for remote users until federation exists.
    /// </summary>
    public async Task<JsonObject> GetPresenceAsync(Requester requester, string userId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(requester);
        var target = ParseUserId(userId);
        if (target != requester.UserId)
        {
            if (target.ServerName != _options.ServerName)
            {
                throw MatrixException.NotFound($"Presence of {target} unavailable: federation is not available on this server yet");
            }

            if (await _accounts.GetUserAsync(target, cancellationToken).ConfigureAwait(false) is null)
            {
                throw MatrixException.NotFound($"Unknown user {target}");
            }

            if (!await _store.SharesRoomAsync(requester.UserId.Value, target.Value, cancellationToken).ConfigureAwait(false))
            {
                throw MatrixException.Forbidden("You are not allowed to see their presence");
            }
        }

        var record = _entries.TryGetValue(target.Value, out var entry)
            ? entry.Record
            : await _store.GetAsync(target.Value, cancellationToken).ConfigureAwait(false) ?? Default(target.Value);
        return Content(record, NowMs());
    }

    /// <summary>
    /// Told about every /sync: <c>set_presence</c> absent or <c>online</c> marks the user online and active,
    /// <c>unavailable</c> marks them unavailable, <c>offline</c> leaves their presence alone (the client syncs without
    /// being seen). 400 <c>M_INVALID_PARAM</c> for another value.
    /// </summary>
    public async Task OnSyncAsync(Requester requester, string? setPresence, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(requester);
        string presence = setPresence ?? Online;
        if (!IsState(presence))
        {
            throw MatrixException.InvalidParam($"Invalid set_presence '{presence}': expected online, unavailable or offline");
        }

        if (!Enabled || presence == Offline)
        {
            return;
        }

        // A notable change (coming online) is waited for, so that the response already carries it: otherwise the
        // client's next long poll would return at once just to tell it. Most syncs change nothing notable and go on.
        await UpdateAsync(requester.UserId.Value, (entry, now) =>
        {
            entry.SyncsInFlight++;
            entry.LastSyncStart = now;
            return entry.Record with
            {
                State = presence,
                LastUserSyncTs = now,
                LastActiveTs = presence == Online ? now : entry.Record.LastActiveTs,
            };
        }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The end of a sync announced by <see cref="OnSyncAsync"/> (same <paramref name="setPresence"/>): the user counts
    /// as syncing until <see cref="SyncOnlineTimeout"/> after their last sync ends.
    /// </summary>
    public async Task OnSyncEndedAsync(Requester requester, string? setPresence, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(requester);
        if (!Enabled || (setPresence ?? Online) == Offline || !IsState(setPresence ?? Online))
        {
            return;
        }

        Observe(await ChangeAsync(requester.UserId.Value, (entry, now) =>
        {
            entry.SyncsInFlight = Math.Max(0, entry.SyncsInFlight - 1);
            return entry.Record with { LastUserSyncTs = now };
        }, cancellationToken).ConfigureAwait(false));
    }

    /// <summary>A pro-active action of the user (typing, sending): they are online and active now.</summary>
    public async Task BumpActiveAsync(UserId user, CancellationToken cancellationToken)
    {
        if (Enabled)
        {
            Observe(await ChangeAsync(user.Value, (entry, now) => entry.Record with { State = Online, LastActiveTs = now }, cancellationToken)
                .ConfigureAwait(false));
        }
    }

    /// <summary>Completes when the notable changes made so far are written and published (tests, shutdown).</summary>
    public async Task WhenWrittenAsync()
    {
        Task? batch;
        lock (_batchGate)
        {
            batch = _batchWritten?.Task;
        }

        if (batch is not null)
        {
            await batch.ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Applies the timers to every user in memory: idle online users become unavailable, <c>currently_active</c> lapses,
    /// users who stopped syncing go offline. Offline users without pending changes leave memory. Called every few
    /// seconds by <see cref="PresenceTimerService"/>.
    /// </summary>
    public async Task CheckTimeoutsAsync(CancellationToken cancellationToken)
    {
        if (!Enabled)
        {
            return;
        }

        // Every transition of this pass goes into the same batches: wait for the writes once, at the end.
        var commits = new List<Task>();
        foreach (var (userId, entry) in _entries)
        {
            if (entry.Record.State == Offline)
            {
                await EvictIfIdleAsync(userId, cancellationToken).ConfigureAwait(false);
                continue;
            }

            commits.Add(await ChangeAsync(userId, ApplyTimeouts, cancellationToken).ConfigureAwait(false));
        }

        await Task.WhenAll(commits).ConfigureAwait(false);
    }

    /// <summary>Writes the changes kept in memory only (newer last-active and last-sync times).</summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        // A batch of notable changes under way is written first (at shutdown, nothing is left behind).
        await WhenWrittenAsync().WaitAsync(cancellationToken).ConfigureAwait(false);

        var dirty = _entries.Values.Where(e => e.Dirty).Select(e => e.Record).ToList();
        if (dirty.Count == 0)
        {
            return;
        }

        // A row written meanwhile with a newer stream position is never overwritten (the store checks stream_id), so
        // the snapshot needs no lock; an entry stays dirty if it changed again since.
        await _store.UpsertAsync(dirty, cancellationToken).ConfigureAwait(false);
        foreach (var record in dirty)
        {
            if (_entries.TryGetValue(record.UserId, out var entry))
            {
                var gate = GateOf(record.UserId);
                await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
                try
                {
                    if (ReferenceEquals(entry.Record, record))
                    {
                        entry.Dirty = false;
                    }
                }
                finally
                {
                    gate.Release();
                }
            }
        }
    }

    /// <summary>Loads the users who are not offline, at start, so that their timers run (they go offline unless they sync).</summary>
    public async Task LoadAsync(CancellationToken cancellationToken)
    {
        foreach (var record in await _store.GetNotOfflineAsync(cancellationToken).ConfigureAwait(false))
        {
            _entries.TryAdd(record.UserId, new Entry(record));
        }
    }

    /// <summary>
    /// The <c>m.presence</c> events for a /sync: on an initial (or full-state) sync the presence of the requester and
    /// every room-mate who is not offline; otherwise the changes in (since, now] of those users, plus the presence of
    /// users who became room-mates in the events range.
    /// </summary>
    public async Task<IReadOnlyList<JsonObject>> GetSyncEventsAsync(SyncContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (!Enabled)
        {
            return [];
        }

        string observer = context.Requester.UserId.Value;
        long from = context.From(StreamNames.Presence);
        long upTo = context.Now[StreamNames.Presence];
        IEnumerable<PresenceRecord> records;
        if (context.IsInitial || context.FullState || from > upTo)
        {
            records = await _store.GetVisibleAsync(observer, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            var changed = from < upTo
                ? await _store.GetVisibleChangesAsync(observer, from, upTo, cancellationToken).ConfigureAwait(false)
                : [];
            long eventsFrom = context.From(StreamNames.Events);
            long eventsUpTo = context.Now[StreamNames.Events];
            var shared = eventsFrom < eventsUpTo && MayHaveNewRoomMates(context.JoinedRoomIds, eventsFrom, eventsUpTo)
                ? await _store.GetNewlySharedAsync(observer, eventsFrom, eventsUpTo, cancellationToken).ConfigureAwait(false)
                : [];
            records = changed.Concat(shared).DistinctBy(r => r.UserId, StringComparer.Ordinal);
        }

        long now = NowMs();
        return [.. records.Select(r => PresenceEvent(_entries.TryGetValue(r.UserId, out var entry) ? entry.Record : r, now))];
    }

    /// <summary>
    /// Whether a join happened in one of <paramref name="roomIds"/> in (from, upTo] of the events stream — or may have:
    /// a range reaching back before this service started watching is answered yes.
    /// </summary>
    private bool MayHaveNewRoomMates(IReadOnlyList<string> roomIds, long from, long upTo)
    {
        if (Interlocked.Read(ref _joinsTrackedAfter) < 0)
        {
            // Read after subscribing: every later position reaches OnStreamUpdate.
            Interlocked.CompareExchange(ref _joinsTrackedAfter, _streams[StreamNames.Events].Current, -1);
        }

        return from < Interlocked.Read(ref _joinsTrackedAfter)
            || roomIds.Any(room => _lastJoin.TryGetValue(room, out long position) && position > from && position <= upTo);
    }

    private void OnStreamUpdate(StreamUpdate update)
    {
        if (update.Stream != StreamNames.Events)
        {
            return;
        }

        foreach (var row in update.Rows)
        {
            if ((string?)row.Data["type"] == "m.room.member" && (string?)row.Data["membership"] == "join"
                && (string?)row.Data["room_id"] is { } roomId)
            {
                _lastJoin[roomId] = update.Position;
            }
        }
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<StreamUpdate>> GetUpdatesAsync(long after, long upTo, int limit, CancellationToken cancellationToken)
    {
        var records = await _store.GetUpdatesAsync(after, upTo, limit, cancellationToken).ConfigureAwait(false);
        var updates = new List<StreamUpdate>(records.Count);
        foreach (var record in records)
        {
            var rooms = await _events.GetRoomsForUserAsync(record.UserId, ["join"], cancellationToken).ConfigureAwait(false);
            updates.Add(new StreamUpdate(StreamNames.Presence, record.StreamId, [Row(record, rooms)]));
        }

        return updates;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var gate in _gates)
        {
            gate.Dispose();
        }
    }

    /// <summary>The content of an <c>m.presence</c> event or of GET /presence: <c>currently_active</c> only when online.</summary>
    public static JsonObject Content(PresenceRecord record, long now)
    {
        ArgumentNullException.ThrowIfNull(record);
        var content = new JsonObject { ["presence"] = record.State };
        if (record.LastActiveTs > 0)
        {
            content["last_active_ago"] = Math.Max(0, now - record.LastActiveTs);
        }

        if (record.StatusMsg is not null)
        {
            content["status_msg"] = record.StatusMsg;
        }

        if (record.State == Online)
        {
            content["currently_active"] = record.CurrentlyActive;
        }

        return content;
    }

    private static JsonObject PresenceEvent(PresenceRecord record, long now) => new()
    {
        ["type"] = "m.presence",
        ["sender"] = record.UserId,
        ["content"] = Content(record, now),
    };

    private static bool IsState(string value) => value is Online or Unavailable or Offline;

    private static UserId ParseUserId(string userId) =>
        UserId.TryParse(userId, out var user) ? user : throw MatrixException.InvalidParam($"Invalid user ID: {userId}");

    private static PresenceRecord Default(string userId) => new(userId, Offline, null, 0, 0, false, 0);

    private static PresenceRecord? ApplyTimeouts(Entry entry, long now)
    {
        var record = entry.Record;
        if (record.State == Offline)
        {
            return null;
        }

        if (record.State == Online && now - record.LastActiveTs > (long)IdleTimeout.TotalMilliseconds)
        {
            record = record with { State = Unavailable };
        }

        if (!IsSyncing(entry, now) && now - Math.Max(record.LastUserSyncTs, record.LastActiveTs) > (long)SyncOnlineTimeout.TotalMilliseconds)
        {
            record = record with { State = Offline };
        }

        return record;
    }

    private static bool IsSyncing(Entry entry, long now) =>
        entry.SyncsInFlight > 0 && now - entry.LastSyncStart < (long)MaxSyncDuration.TotalMilliseconds;

    /// <summary>
    /// Whether room-mates must hear of the change: a new state or status message, <c>currently_active</c> flipping, or
    /// (when not online) activity that moved on by more than <see cref="ActiveGranularity"/>.
    /// </summary>
    private static bool ShouldNotify(PresenceRecord old, PresenceRecord updated) =>
        old.State != updated.State
        || old.StatusMsg != updated.StatusMsg
        || (updated.State == Online && old.CurrentlyActive != updated.CurrentlyActive)
        || (updated.State != Online && updated.LastActiveTs - old.LastActiveTs > (long)ActiveGranularity.TotalMilliseconds);

    private static StreamRow Row(PresenceRecord record, IReadOnlyList<string> rooms)
    {
        var data = new JsonObject
        {
            ["user_id"] = record.UserId,
            ["presence"] = record.State,
            ["last_active_ts"] = record.LastActiveTs,
            ["currently_active"] = record.CurrentlyActive,
        };
        if (record.StatusMsg is not null)
        {
            data["status_msg"] = record.StatusMsg;
        }

        return new StreamRow(data, [NotifierKey.User(record.UserId), .. rooms.Select(NotifierKey.Room)]);
    }

    private long NowMs() => _time.GetUtcNow().ToUnixTimeMilliseconds();

    private SemaphoreSlim GateOf(string userId) => _gates[(StringComparer.Ordinal.GetHashCode(userId) & int.MaxValue) % GateCount];

    /// <summary>A write nobody waits for: its failure is logged by the writer, not left unobserved.</summary>
    private static void Observe(Task written) =>
        written.ContinueWith(t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);

    /// <summary>Changes one user's presence (see <see cref="ChangeAsync"/>) and waits until a notable change is written.</summary>
    private async Task UpdateAsync(string userId, Func<Entry, long, PresenceRecord?> change, CancellationToken cancellationToken) =>
        await (await ChangeAsync(userId, change, cancellationToken).ConfigureAwait(false)).ConfigureAwait(false);

    /// <summary>
    /// Changes one user's presence under their lock: <paramref name="change"/> returns the new record (or null for no
    /// change); <c>currently_active</c> is derived here. Memory changes at once; a notable change also joins the next
    /// write batch, and the returned task completes when that batch is written and published.
    /// </summary>
    private async Task<Task> ChangeAsync(string userId, Func<Entry, long, PresenceRecord?> change, CancellationToken cancellationToken)
    {
        var gate = GateOf(userId);
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!_entries.TryGetValue(userId, out var entry))
            {
                var stored = await _store.GetAsync(userId, cancellationToken).ConfigureAwait(false);
                entry = new Entry(stored ?? Default(userId));
                _entries[userId] = entry;
            }

            long now = NowMs();
            var updated = change(entry, now);
            if (updated is null)
            {
                return Task.CompletedTask;
            }

            updated = updated with
            {
                CurrentlyActive = updated.State == Online && now - updated.LastActiveTs < (long)ActiveGranularity.TotalMilliseconds,
            };
            if (updated == entry.Record)
            {
                return Task.CompletedTask;
            }

            bool notify = ShouldNotify(entry.Record, updated);
            entry.Record = updated;
            if (!notify)
            {
                entry.Dirty = true;
                return Task.CompletedTask;
            }

            entry.Dirty = false;
            entry.PendingWrites++;
            return Enqueue(entry, updated);
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>Adds a notable change to the next batch (replacing an unwritten one of the same user) and starts the writer.</summary>
    private Task Enqueue(Entry entry, PresenceRecord record)
    {
        lock (_batchGate)
        {
            if (_batch.Remove(record.UserId, out var replaced))
            {
                // The replaced change is never written; its pending count goes with it.
                replaced.Entry.PendingWrites--;
            }

            _batch[record.UserId] = (entry, record);
            _batchWritten ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            if (!_writerRunning)
            {
                _writerRunning = true;
                _ = Task.Run(WriteBatchesAsync);
            }

            return _batchWritten.Task;
        }
    }

    /// <summary>
    /// Writes batches until none is left. Each batch waits <see cref="BatchLinger"/> for concurrent changes to join, and
    /// waits again while more keep arriving, up to <see cref="MaxBatchLinger"/>; then it takes one stream position for
    /// all of them, in one transaction. When many users come online at once (after a restart, say) their room-mates'
    /// syncs wake a few times a second rather than once per user; a lone change waits only <see cref="BatchLinger"/>.
    /// </summary>
    private async Task WriteBatchesAsync()
    {
        while (true)
        {
            long started = Environment.TickCount64;
            int seen = BatchCount();
            while (true)
            {
                await Task.Delay(BatchLinger).ConfigureAwait(false);
                int count = BatchCount();
                if (count == seen || Environment.TickCount64 - started >= (long)MaxBatchLinger.TotalMilliseconds)
                {
                    break;
                }

                seen = count;
            }

            Dictionary<string, (Entry Entry, PresenceRecord Record)> batch;
            TaskCompletionSource written;
            lock (_batchGate)
            {
                if (_batch.Count == 0)
                {
                    _writerRunning = false;
                    return;
                }

                (batch, _batch) = (_batch, new Dictionary<string, (Entry, PresenceRecord)>(StringComparer.Ordinal));
                written = _batchWritten!;
                _batchWritten = null;
            }

            long position = 0;
            try
            {
                position = await WriteBatchAsync([.. batch.Values.Select(v => v.Record)]).ConfigureAwait(false);
                written.TrySetResult();
            }
            catch (Exception e)
            {
                // Memory already holds the changes; the times get written by the next flush, the notification is lost.
                Log.BatchWriteFailed(_logger, batch.Count, e);
                written.TrySetException(e);
            }

            foreach (var (entry, _) in batch.Values)
            {
                var gate = GateOf(entry.Record.UserId);
                await gate.WaitAsync().ConfigureAwait(false);
                try
                {
                    entry.PendingWrites--;
                    if (position > 0)
                    {
                        entry.Record = entry.Record with { StreamId = Math.Max(entry.Record.StreamId, position) };
                    }
                    else
                    {
                        entry.Dirty = true;
                    }
                }
                finally
                {
                    gate.Release();
                }
            }
        }
    }

    private int BatchCount()
    {
        lock (_batchGate)
        {
            return _batch.Count;
        }
    }

    private async Task<long> WriteBatchAsync(IReadOnlyList<PresenceRecord> records)
    {
        // Once a position is taken the write runs to the end, whoever asked for the change.
        var rows = new List<StreamRow>(records.Count);
        foreach (var record in records)
        {
            var rooms = await _events.GetRoomsForUserAsync(record.UserId, ["join"], CancellationToken.None).ConfigureAwait(false);
            rows.Add(Row(record, rooms));
        }

        var stream = _streams[StreamNames.Presence];
        long position = stream.Allocate();
        try
        {
            await _store.UpsertAsync([.. records.Select(r => r with { StreamId = position })], CancellationToken.None).ConfigureAwait(false);
        }
        catch
        {
            stream.Complete(position, []);
            throw;
        }

        stream.Complete(position, rows);
        return position;
    }

    private async Task EvictIfIdleAsync(string userId, CancellationToken cancellationToken)
    {
        var gate = GateOf(userId);
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_entries.TryGetValue(userId, out var entry) && entry.Record.State == Offline && !entry.Dirty
                && entry.PendingWrites == 0 && !IsSyncing(entry, NowMs()))
            {
                _entries.TryRemove(userId, out _);
            }
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>A user's presence in memory; changed only under the user's gate.</summary>
    private sealed class Entry(PresenceRecord record)
    {
        public PresenceRecord Record { get; set; } = record;

        /// <summary>Changed since the last write (only times that room-mates need not hear about).</summary>
        public bool Dirty { get; set; }

        /// <summary>Notable changes waiting in a write batch: the entry must stay in memory until they are written.</summary>
        public int PendingWrites { get; set; }

        public int SyncsInFlight { get; set; }

        public long LastSyncStart { get; set; }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4403, Level = LogLevel.Error, Message = "Could not write {Count} presence changes")]
        public static partial void BatchWriteFailed(ILogger logger, int count, Exception exception);
    }
}
