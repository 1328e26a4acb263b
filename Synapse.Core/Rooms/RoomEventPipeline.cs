using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Synapse.Auth;
using Synapse.Configuration;
using Synapse.Events;
using Synapse.Json;
using Synapse.RoomVersions;
using Synapse.Storage;
using Synapse.Streams;

namespace Synapse.Rooms;

/// <summary>
/// The persister on main (docs/events-and-state.md, "Persisting"): one queue and one loop per room; the
/// loop builds every waiting event on top of the previous one, authorizes it, signs it, and writes the
/// whole batch in one transaction.
/// </summary>
internal sealed partial class RoomEventPipeline : IRoomEventWriter, IAsyncDisposable
{
    /// <summary>Events per transaction at most.</summary>
    public const int MaxBatchEvents = 200;

    /// <summary>A state group stores a full snapshot after this many deltas.</summary>
    public const int SnapshotInterval = 50;

    /// <summary>Spec: Client-Server API, "Size limits": a PDU is at most 65,536 bytes of canonical JSON.</summary>
    public const int MaxPduBytes = 65_536;

    private readonly IEventStore _store;
    private readonly HomeserverOptions _options;
    private readonly EventSigner _signer;
    private readonly TimeProvider _time;
    private readonly ILogger<RoomEventPipeline> _logger;
    private readonly StreamRegistry _streams;
    private readonly ConcurrentDictionary<string, RoomQueue> _queues = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _idsLoaded = new(1, 1);
    private long _lastStateGroup = -1;

    public RoomEventPipeline(IEventStore store, HomeserverOptions options, EventSigner signer, TimeProvider time,
        StreamRegistry streams, ILogger<RoomEventPipeline> logger)
    {
        _store = store;
        _options = options;
        _signer = signer;
        _time = time;
        _streams = streams;
        _logger = logger;
    }

    public async Task<IReadOnlyList<Pdu>> WriteAsync(IReadOnlyList<EventDraft> drafts, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(drafts);
        if (drafts.Count == 0 || drafts.Any(d => d.RoomId != drafts[0].RoomId))
        {
            throw new ArgumentException("Drafts must be non-empty and all for one room.", nameof(drafts));
        }

        // The common retry: answered without queueing.
        if (drafts is [{ Transaction: { } txn }] && await FindTransactionAsync(txn, cancellationToken).ConfigureAwait(false) is { } done)
        {
            return [done];
        }

        await EnsureIdsLoadedAsync(cancellationToken).ConfigureAwait(false);
        var write = new PendingWrite(drafts);
        var queue = _queues.GetOrAdd(drafts[0].RoomId, id => new RoomQueue(id, this));
        queue.Enqueue(write);
        return await write.Completion.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var queue in _queues.Values)
        {
            await queue.DisposeAsync().ConfigureAwait(false);
        }

        _idsLoaded.Dispose();
    }

    private async Task<Pdu?> FindTransactionAsync(TransactionKey txn, CancellationToken cancellationToken)
    {
        string? eventId = await _store.FindTransactionAsync(txn.UserId, txn.DeviceId, txn.TxnId, cancellationToken)
            .ConfigureAwait(false);
        if (eventId is null)
        {
            return null;
        }

        var stored = await _store.GetEventsAsync([eventId], cancellationToken).ConfigureAwait(false);
        return stored.Count > 0 ? stored[0].Pdu : null;
    }

    private async Task EnsureIdsLoadedAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Read(ref _lastStateGroup) >= 0)
        {
            return;
        }

        await _idsLoaded.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_lastStateGroup < 0)
            {
                var (_, group) = await _store.GetMaxIdsAsync(cancellationToken).ConfigureAwait(false);
                Interlocked.Exchange(ref _lastStateGroup, group);
            }
        }
        finally
        {
            _idsLoaded.Release();
        }
    }

    private async Task<RoomSnapshot?> LoadSnapshotAsync(string roomId, CancellationToken cancellationToken)
    {
        var room = await _store.GetRoomAsync(roomId, cancellationToken).ConfigureAwait(false);
        if (room is null)
        {
            return null;
        }

        var version = KnownRoomVersions.Find(room.RoomVersion)
            ?? throw new InvalidOperationException($"Room {roomId} has unknown version {room.RoomVersion}.");
        var ids = await _store.GetCurrentStateIdsAsync(roomId, cancellationToken).ConfigureAwait(false);
        var events = await _store.GetEventsAsync(ids.Values.ToList(), cancellationToken).ConfigureAwait(false);
        // Auth reads state events as they are now: a redacted power levels event has lost its content.
        var byId = events.ToDictionary(e => e.Pdu.EventId, e => e.RedactedBy is null ? e.Pdu : Redacted(e.Pdu),
            StringComparer.Ordinal);
        var state = new Dictionary<TypeStateKey, Pdu>(ids.Count);
        foreach (var (key, id) in ids)
        {
            state[key] = byId[id];
        }

        var extremityIds = await _store.GetForwardExtremitiesAsync(roomId, cancellationToken).ConfigureAwait(false);
        var extremities = await _store.GetEventsAsync(extremityIds, cancellationToken).ConfigureAwait(false);

        // With one extremity its state group is the current state; otherwise (a fork resolved into current
        // state) the next event writes a fresh snapshot group.
        long group = extremities.Count == 1 ? extremities[0].StateGroup : -1;
        return new RoomSnapshot(roomId, version, state, group, SnapshotInterval, [.. extremityIds],
            extremities.Count == 0 ? 0 : extremities.Max(e => e.Pdu.Depth));
    }

    /// <summary>Runs one batch of a room: build, authorize, sign each write; persist all in one transaction.</summary>
    private async Task ProcessAsync(RoomQueue queue, List<PendingWrite> writes)
    {
        RoomSnapshot? current;
        try
        {
            current = queue.Snapshot ??= await LoadSnapshotAsync(queue.RoomId, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            foreach (var write in writes)
            {
                write.Completion.TrySetException(e);
            }

            return;
        }

        var batch = new BatchBuilder(queue.RoomId);
        var accepted = new List<(PendingWrite Write, List<Pdu> Events)>();
        var working = current;
        foreach (var write in writes)
        {
            // A write of several drafts is all-or-nothing, so it builds on a copy.
            var state = write.Drafts.Count > 1 || working is null ? working?.Clone() : working;
            var mark = batch.Mark();
            var built = new List<Pdu>(write.Drafts.Count);
            try
            {
                foreach (var draft in write.Drafts)
                {
                    if (draft.Transaction is { } txn
                        && (batch.FindTransaction(txn) ?? await FindTransactionAsync(txn, CancellationToken.None).ConfigureAwait(false)) is { } existing)
                    {
                        built.Add(existing);
                        continue;
                    }

                    var (pdu, next) = await BuildAsync(draft, state, batch, CancellationToken.None).ConfigureAwait(false);
                    state = next;
                    Apply(batch, state, pdu, draft);
                    built.Add(pdu);
                }

                working = state;
                accepted.Add((write, built));
            }
            catch (Exception e)
            {
                batch.Rollback(mark);
                if (e is not MatrixException)
                {
                    Log.BuildFailed(_logger, queue.RoomId, e);
                }

                write.Completion.TrySetException(e);
            }
        }

        var eventStream = _streams[StreamNames.Events];
        foreach (long abandoned in batch.Abandoned)
        {
            eventStream.Complete(abandoned, []);
        }

        if (batch.Events.Count == 0)
        {
            foreach (var (write, built) in accepted)
            {
                write.Completion.TrySetResult(built);
            }

            return;
        }

        try
        {
            await _store.PersistBatchAsync(batch.Build(working!), CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            Log.PersistFailed(_logger, queue.RoomId, batch.Events.Count, e);
            queue.Snapshot = null;
            foreach (var persisted in batch.Events)
            {
                eventStream.Complete(persisted.StreamOrdering, []);
            }

            foreach (var (write, _) in accepted)
            {
                write.Completion.TrySetException(e);
            }

            return;
        }

        working!.IsNew = false;
        queue.Snapshot = working;
        foreach (var persisted in batch.Events)
        {
            eventStream.Complete(persisted.StreamOrdering, [EventStreamRows.Build(persisted.Pdu, persisted.Relation)]);
        }

        foreach (var (write, built) in accepted)
        {
            write.Completion.TrySetResult(built);
        }
    }

    private async Task<(Pdu Pdu, RoomSnapshot State)> BuildAsync(EventDraft draft, RoomSnapshot? state, BatchBuilder batch,
        CancellationToken cancellationToken)
    {
        long now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        bool isCreate = draft.Type == "m.room.create" && draft.StateKey == "";
        if (isCreate)
        {
            if (state is not null)
            {
                throw new MatrixException(HttpStatusCode.BadRequest, "M_ROOM_IN_USE", "Room already exists");
            }

            var version = draft.NewRoomVersion ?? KnownRoomVersions.Default;
            state = new RoomSnapshot(draft.RoomId, version, [], -1, 0, [], 0);
            state.IsNew = true;
            state.IsPublic = draft.NewRoomIsPublic;
        }
        else if (state is null)
        {
            throw MatrixException.NotFound("Unknown room");
        }

        var v = state.Version;
        if (v.StrictCanonicalJson && !CanonicalJson.HasOnlySafeIntegers(JsonSerializer.SerializeToElement(draft.Content)))
        {
            throw MatrixException.BadJson("Event content may only contain integers between -(2^53)+1 and 2^53-1 (no floats)");
        }

        var json = new JsonObject
        {
            ["room_id"] = draft.RoomId,
            ["sender"] = draft.Sender,
            ["type"] = draft.Type,
            ["content"] = draft.Content.DeepClone(),
            ["origin_server_ts"] = now,
            ["depth"] = state.MaxDepth + 1,
        };
        if (draft.StateKey is not null)
        {
            json["state_key"] = draft.StateKey;
        }

        if (!v.V11Rules)
        {
            json["origin"] = _options.ServerName;
            if (draft.Redacts is not null)
            {
                json["redacts"] = draft.Redacts;
            }
        }

        var authKeys = isCreate
            ? []
            : AuthEventSelection.Required(draft.Type, draft.StateKey, draft.Sender,
                JsonSerializer.SerializeToElement(draft.Content), v);
        var authIds = authKeys.Select(k => state.State.TryGetValue(k, out var e) ? e : null).OfType<Pdu>().ToList();
        var prevEvents = state.Extremities.ToList();
        if (v.HasEventIdInPdu)
        {
            json["event_id"] = "$" + RandomNumberGenerator.GetString("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", 18)
                + ":" + _options.ServerName;
            var prevPdus = await ResolvePrevEventsAsync(prevEvents, batch, cancellationToken).ConfigureAwait(false);
            json["prev_events"] = new JsonArray(prevPdus.Select(p => (JsonNode)EventReference(p)).ToArray());
            json["auth_events"] = new JsonArray(authIds.Select(p => (JsonNode)EventReference(p)).ToArray());
        }
        else
        {
            json["prev_events"] = new JsonArray(prevEvents.Select(id => (JsonNode)JsonValue.Create(id)!).ToArray());
            json["auth_events"] = new JsonArray(authIds.Select(p => (JsonNode)JsonValue.Create(p.EventId)!).ToArray());
        }

        var pdu = _signer.Finalize(json, v);
        CheckLimits(pdu);
        var result = EventAuthorizer.Check(pdu, state.State);
        if (!result.Allowed)
        {
            throw MatrixException.Forbidden(result.Reason);
        }

        if (pdu.Type == "m.room.redaction" && pdu.Redacts is { } redacts)
        {
            await CheckRedactionAsync(pdu, redacts, state, batch, cancellationToken).ConfigureAwait(false);
        }

        return (pdu, state);
    }

    private async Task<IReadOnlyList<Pdu>> ResolvePrevEventsAsync(List<string> ids, BatchBuilder batch,
        CancellationToken cancellationToken)
    {
        var stored = await _store.GetEventsAsync(ids, cancellationToken).ConfigureAwait(false);
        var found = stored.Select(s => s.Pdu).ToList();

        // Events of the same batch are not stored yet; the pipeline keeps them in the batch instead.
        foreach (string id in ids.Where(id => found.All(p => p.EventId != id)))
        {
            found.Add(batch.Find(id) ?? throw new InvalidOperationException($"Unknown prev event {id}."));
        }

        return found;
    }

    private static JsonArray EventReference(Pdu pdu)
    {
        var hashes = pdu.Json.TryGetProperty("hashes", out var h) ? JsonNode.Parse(h.GetRawText())! : new JsonObject();
        return new JsonArray(JsonValue.Create(pdu.EventId), hashes);
    }

    private async Task CheckRedactionAsync(Pdu redaction, string redacts, RoomSnapshot state, BatchBuilder batch,
        CancellationToken cancellationToken)
    {
        var targets = await _store.GetEventsAsync([redacts], cancellationToken).ConfigureAwait(false);
        var target = targets.Count > 0 ? targets[0].Pdu : batch.Find(redacts);
        if (target is null || target.RoomId != redaction.RoomId)
        {
            throw MatrixException.NotFound("Event to redact not found in this room");
        }

        if (target.Sender == redaction.Sender)
        {
            return;
        }

        var levels = PowerLevels.FromState(state.State, state.Version);
        if (levels.UserLevel(redaction.Sender) < levels.Redact)
        {
            throw MatrixException.Forbidden(
                $"Redacting another user's event needs power level {levels.Redact}; {redaction.Sender} has {levels.UserLevel(redaction.Sender)}");
        }
    }

    private static void CheckLimits(Pdu pdu)
    {
        foreach (var (name, value) in new[] { ("type", pdu.Type), ("state_key", pdu.StateKey), ("sender", pdu.Sender), ("room_id", pdu.RoomId), ("event_id", pdu.EventId) })
        {
            if (value is not null && System.Text.Encoding.UTF8.GetByteCount(value) > 255)
            {
                throw MatrixException.InvalidParam($"'{name}' is longer than 255 bytes");
            }
        }

        if (CanonicalJson.Encode(pdu.Json, strict: false).Length > MaxPduBytes)
        {
            throw new MatrixException(HttpStatusCode.RequestEntityTooLarge, ErrorCodes.TooLarge,
                $"Event is larger than {MaxPduBytes} bytes");
        }
    }

    private void Apply(BatchBuilder batch, RoomSnapshot state, Pdu pdu, EventDraft draft)
    {
        long now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        string? replaces = null;
        if (pdu.StateKey is { } stateKey)
        {
            var key = new TypeStateKey(pdu.Type, stateKey);
            replaces = state.State.TryGetValue(key, out var old) ? old.EventId : null;
            state.State[key] = pdu;
            long id = Interlocked.Increment(ref _lastStateGroup);
            bool snapshot = state.StateGroup < 0 || state.ChainLength >= SnapshotInterval;
            var entries = snapshot
                ? state.State.ToDictionary(kv => kv.Key, kv => kv.Value.EventId)
                : new Dictionary<TypeStateKey, string> { [key] = pdu.EventId };
            batch.StateGroups.Add(new NewStateGroup(id, pdu.EventId, snapshot ? null : state.StateGroup,
                snapshot ? 0 : state.ChainLength + 1, entries));
            state.StateGroup = id;
            state.ChainLength = snapshot ? 0 : state.ChainLength + 1;
            batch.CurrentState[key] = new CurrentStateChange(key, pdu.EventId,
                pdu.Type == "m.room.member" ? pdu.ContentString("membership") : null);
        }
        else if (state.StateGroup < 0)
        {
            long id = Interlocked.Increment(ref _lastStateGroup);
            batch.StateGroups.Add(new NewStateGroup(id, pdu.EventId, null, 0,
                state.State.ToDictionary(kv => kv.Key, kv => kv.Value.EventId)));
            state.StateGroup = id;
            state.ChainLength = 0;
        }

        if (pdu.Type == "m.room.redaction" && pdu.Redacts is { } redacted)
        {
            foreach (var (key, current) in state.State)
            {
                if (current.EventId == redacted)
                {
                    state.State[key] = Redacted(current);
                    break;
                }
            }
        }

        if (state.IsNew && pdu.Type == "m.room.create")
        {
            batch.NewRoom = new RoomRecord(pdu.RoomId, state.Version.Identifier, pdu.Sender, state.IsPublic);
        }

        state.Extremities = [pdu.EventId];
        state.MaxDepth = pdu.Depth;
        batch.Events.Add(new EventToPersist(pdu, _streams[StreamNames.Events].Allocate(), state.StateGroup, replaces,
            now, draft.Transaction, ReadRelation(pdu)));
    }

    private static Pdu Redacted(Pdu pdu) =>
        Pdu.Create(JsonSerializer.SerializeToElement(Redaction.Redact(pdu.Json, pdu.RoomVersion)), pdu.RoomVersion, pdu.EventId);

    private static EventRelation? ReadRelation(Pdu pdu)
    {
        if (pdu.Content.TryGetProperty("m.relates_to", out var relatesTo) && relatesTo.ValueKind == JsonValueKind.Object
            && relatesTo.TryGetProperty("rel_type", out var relType) && relType.ValueKind == JsonValueKind.String
            && relatesTo.TryGetProperty("event_id", out var target) && target.ValueKind == JsonValueKind.String)
        {
            string? key = relatesTo.TryGetProperty("key", out var k) && k.ValueKind == JsonValueKind.String ? k.GetString() : null;
            return new EventRelation(target.GetString()!, relType.GetString()!, key);
        }

        return null;
    }

    /// <summary>Accumulates one transaction's rows; supports undoing a refused multi-event write.</summary>
    private sealed class BatchBuilder(string roomId)
    {
        public List<EventToPersist> Events { get; } = [];

        public List<NewStateGroup> StateGroups { get; } = [];

        public Dictionary<TypeStateKey, CurrentStateChange> CurrentState { get; } = [];

        public RoomRecord? NewRoom { get; set; }

        public (int Events, int Groups, Dictionary<TypeStateKey, CurrentStateChange> State, RoomRecord? Room) Mark() =>
            (Events.Count, StateGroups.Count, new Dictionary<TypeStateKey, CurrentStateChange>(CurrentState), NewRoom);

        /// <summary>Stream positions of events that were built and then rolled back: completed without rows.</summary>
        public List<long> Abandoned { get; } = [];

        public void Rollback((int Events, int Groups, Dictionary<TypeStateKey, CurrentStateChange> State, RoomRecord? Room) mark)
        {
            Abandoned.AddRange(Events.Skip(mark.Events).Select(e => e.StreamOrdering));
            Events.RemoveRange(mark.Events, Events.Count - mark.Events);
            StateGroups.RemoveRange(mark.Groups, StateGroups.Count - mark.Groups);
            CurrentState.Clear();
            foreach (var (k, v) in mark.State)
            {
                CurrentState[k] = v;
            }

            NewRoom = mark.Room;
        }

        public Pdu? Find(string eventId) => Events.FirstOrDefault(e => e.Pdu.EventId == eventId)?.Pdu;

        public Pdu? FindTransaction(TransactionKey txn) =>
            Events.FirstOrDefault(e => e.Transaction == txn)?.Pdu;

        public EventBatch Build(RoomSnapshot state) => new()
        {
            RoomId = roomId,
            NewRoom = NewRoom,
            Events = Events,
            StateGroups = StateGroups,
            CurrentState = CurrentState.Values.ToList(),
            ForwardExtremities = state.Extremities,
        };
    }

    private sealed class PendingWrite(IReadOnlyList<EventDraft> drafts)
    {
        public IReadOnlyList<EventDraft> Drafts { get; } = drafts;

        public TaskCompletionSource<IReadOnlyList<Pdu>> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private sealed class RoomQueue : IAsyncDisposable
    {
        private readonly Channel<PendingWrite> _channel = Channel.CreateUnbounded<PendingWrite>(new UnboundedChannelOptions { SingleReader = true });
        private readonly RoomEventPipeline _pipeline;
        private readonly Task _loop;

        public RoomQueue(string roomId, RoomEventPipeline pipeline)
        {
            RoomId = roomId;
            _pipeline = pipeline;
            _loop = Task.Run(RunAsync);
        }

        public string RoomId { get; }

        public RoomSnapshot? Snapshot { get; set; }

        public void Enqueue(PendingWrite write)
        {
            if (!_channel.Writer.TryWrite(write))
            {
                write.Completion.TrySetException(new ObjectDisposedException(nameof(RoomEventPipeline)));
            }
        }

        public async ValueTask DisposeAsync()
        {
            _channel.Writer.TryComplete();
            await _loop.ConfigureAwait(false);
        }

        private async Task RunAsync()
        {
            var writes = new List<PendingWrite>();
            while (await _channel.Reader.WaitToReadAsync().ConfigureAwait(false))
            {
                writes.Clear();
                int events = 0;
                while (events < MaxBatchEvents && _channel.Reader.TryRead(out var write))
                {
                    writes.Add(write);
                    events += write.Drafts.Count;
                }

                await _pipeline.ProcessAsync(this, writes).ConfigureAwait(false);
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 3001, Level = LogLevel.Error, Message = "Building an event for {RoomId} failed")]
        public static partial void BuildFailed(ILogger logger, string roomId, Exception exception);

        [LoggerMessage(EventId = 3002, Level = LogLevel.Error, Message = "Persisting {Count} events of {RoomId} failed")]
        public static partial void PersistFailed(ILogger logger, string roomId, int count, Exception exception);
    }
}
