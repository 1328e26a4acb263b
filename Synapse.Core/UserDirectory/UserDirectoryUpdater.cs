using System.Threading.Channels;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Synapse.Configuration;
using Synapse.Events;
using Synapse.Storage;
using Synapse.Streams;

namespace Synapse.UserDirectory;

/// <summary>
/// Keeps the user directory's tables up to date (docs/user-directory.md). Run it in exactly one process: main, or the
/// <c>synapse.app.user_dir</c> worker when main has <c>update_user_directory: false</c>.
/// </summary>
/// <remarks>
/// <para>
/// It follows the events stream from the database, between the position it stored last and the stream's persisted-up-to
/// position, reading only the membership, join rules and history visibility events of the range, so it resumes where it
/// stopped after a restart and works the same on a worker that only reads. It never allocates a stream position. For each room touched by a batch it reads the room's <em>current</em> state (joined
/// members, join rules, history visibility) and brings that room's rows in line, so applying a batch twice (a crash
/// before its position was stored) changes nothing.
/// </para>
/// <para>
/// Local users' entries come from their global profile, as Synapse does (per-room nicknames are not searchable), compared
/// with the <c>users</c> and <c>profiles</c> tables: for the users of each batch's membership events, and for everyone when
/// the device-lists stream moves (registration and deactivation add and remove devices) and at every poll, which catches a
/// profile change of a user in no room. On first start it fills the directory from the rooms and users already stored.
/// </para>
/// </remarks>
internal sealed partial class UserDirectoryUpdater : BackgroundService
{
    /// <summary>State events read per batch.</summary>
    internal const int BatchSize = 500;

    private const string MemberType = "m.room.member";

    /// <summary>Entries written per transaction when many change at once (a first fill).</summary>
    private const int WriteChunk = 500;

    private readonly HomeserverOptions _options;
    private readonly IUserDirectoryStore _store;
    private readonly IEventStore _events;
    private readonly StreamRegistry _streams;
    private readonly StreamBus _bus;
    private readonly ILogger<UserDirectoryUpdater> _logger;
    private readonly Channel<bool> _wake = Channel.CreateBounded<bool>(
        new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });
    private int _usersChanged = 1;

    public UserDirectoryUpdater(HomeserverOptions options, IUserDirectoryStore store, IEventStore events, StreamRegistry streams,
        StreamBus bus, ILogger<UserDirectoryUpdater> logger)
    {
        _options = options;
        _store = store;
        _events = events;
        _streams = streams;
        _bus = bus;
        _logger = logger;
    }

    /// <summary>How long it waits for a stream notification before looking anyway.</summary>
    internal TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Runs one pass: a first fill when the directory was never filled, else the events since the stored position.</summary>
    internal async Task RunOnceAsync(CancellationToken cancellationToken)
    {
        bool reconcileUsers = Interlocked.Exchange(ref _usersChanged, 0) == 1;
        long? position = await _store.GetStreamPositionAsync(cancellationToken).ConfigureAwait(false);
        if (position is null)
        {
            await RebuildAsync(cancellationToken).ConfigureAwait(false);
            return;
        }

        long after = position.Value;
        long upTo = _streams[StreamNames.Events].Current;
        while (after < upTo)
        {
            var batch = await _store.GetStateDeltasAsync(after, upTo, BatchSize, cancellationToken).ConfigureAwait(false);
            await ApplyAsync(batch, cancellationToken).ConfigureAwait(false);
            long next = batch.Count < BatchSize ? upTo : batch[^1].StreamOrdering;
            await _store.SetStreamPositionAsync(next, cancellationToken).ConfigureAwait(false);
            after = next;
        }

        if (reconcileUsers)
        {
            await RefreshLocalUsersAsync(null, cancellationToken).ConfigureAwait(false);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Kept up to date even with user_directory.enabled false (as Synapse does), so enabling it needs no catch-up.
        _bus.Subscribe(OnStreamUpdate);
        try
        {
            while (true)
            {
                try
                {
                    await RunOnceAsync(stoppingToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // Nothing is lost: the position was not advanced past what failed; the next pass retries.
                    Log.PassFailed(_logger, e);
                    Interlocked.Exchange(ref _usersChanged, 1);
                }

                using var poll = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                poll.CancelAfter(PollInterval);
                try
                {
                    await _wake.Reader.ReadAsync(poll.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
                {
                    Interlocked.Exchange(ref _usersChanged, 1);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>
    /// Called on the bus: only wakes the loop, which reads what changed from the database. Events other than the state
    /// events it follows do not wake it (a busy room's messages would otherwise cost a read each); its position moves
    /// past them at the next pass.
    /// </summary>
    private void OnStreamUpdate(StreamUpdate update)
    {
        if (update.Stream == StreamNames.DeviceLists)
        {
            Interlocked.Exchange(ref _usersChanged, 1);
        }
        else if (update.Stream != StreamNames.Events || !update.Rows.Any(IsFollowedStateRow))
        {
            return;
        }

        _wake.Writer.TryWrite(true);
    }

    private static bool IsFollowedStateRow(StreamRow row) =>
        row.Data.ContainsKey("state_key")
        && row.Data["type"] is System.Text.Json.Nodes.JsonValue type && type.TryGetValue(out string? name)
        && name is MemberType or "m.room.join_rules" or "m.room.history_visibility";

    /// <summary>Fills the directory from scratch: every room's current state and every local user.</summary>
    private async Task RebuildAsync(CancellationToken cancellationToken)
    {
        // Taken before reading any state: events after it are applied by the next passes (again, harmlessly, if the state
        // read here already showed them).
        long upTo = _streams[StreamNames.Events].Current;
        await _store.ClearAsync(cancellationToken).ConfigureAwait(false);
        var remoteMembers = new Dictionary<string, string>(StringComparer.Ordinal);
        var rooms = await _store.GetRoomIdsAsync(cancellationToken).ConfigureAwait(false);
        foreach (string roomId in rooms)
        {
            var state = await _store.GetRoomStateAsync(roomId, cancellationToken).ConfigureAwait(false);
            await ReplaceRoomAsync(roomId, state, await IsPublicAsync(state, cancellationToken).ConfigureAwait(false), cancellationToken)
                .ConfigureAwait(false);
            CollectRemoteMembers(state, state.JoinedMembers.Select(m => m.UserId), remoteMembers);
        }

        await RefreshLocalUsersAsync(null, cancellationToken).ConfigureAwait(false);
        await RefreshRemoteUsersAsync(remoteMembers, [], cancellationToken).ConfigureAwait(false);
        await _store.SetStreamPositionAsync(upTo, cancellationToken).ConfigureAwait(false);
        Log.Rebuilt(_logger, rooms.Count, upTo);
    }

    /// <summary>Brings the rooms and users a batch of state events touched in line with current state.</summary>
    private async Task ApplyAsync(IReadOnlyList<DirectoryStateDelta> batch, CancellationToken cancellationToken)
    {
        var rooms = new Dictionary<string, (bool VisibilityChanged, HashSet<string> Members)>(StringComparer.Ordinal);
        foreach (var delta in batch)
        {
            if (!rooms.TryGetValue(delta.RoomId, out var changes))
            {
                changes = (false, new HashSet<string>(StringComparer.Ordinal));
            }

            if (delta.Type == MemberType)
            {
                changes.Members.Add(delta.StateKey);
            }
            else if (delta.StateKey.Length == 0)
            {
                changes.VisibilityChanged = true;
            }

            rooms[delta.RoomId] = changes;
        }

        var touched = new HashSet<string>(StringComparer.Ordinal);
        var remoteMembers = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (roomId, (visibilityChanged, members)) in rooms)
        {
            var state = await _store.GetRoomStateAsync(roomId, cancellationToken).ConfigureAwait(false);
            bool isPublic = await IsPublicAsync(state, cancellationToken).ConfigureAwait(false);
            if (visibilityChanged)
            {
                await ReplaceRoomAsync(roomId, state, isPublic, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                foreach (string userId in members)
                {
                    await SyncMemberAsync(roomId, userId, state, isPublic, cancellationToken).ConfigureAwait(false);
                }
            }

            touched.UnionWith(members);
            CollectRemoteMembers(state, members, remoteMembers);
        }

        await RefreshLocalUsersAsync([.. touched.Where(IsLocal)], cancellationToken).ConfigureAwait(false);
        await RefreshRemoteUsersAsync(remoteMembers, [.. touched.Where(u => !IsLocal(u) && !remoteMembers.ContainsKey(u))],
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>One member's rows in one room, from the room's current state.</summary>
    private async Task SyncMemberAsync(string roomId, string userId, DirectoryRoomState state, bool isPublic,
        CancellationToken cancellationToken)
    {
        if (!state.JoinedMembers.Any(m => m.UserId == userId))
        {
            await _store.RemoveUserFromRoomAsync(roomId, userId, cancellationToken).ConfigureAwait(false);
            return;
        }

        if (isPublic)
        {
            await _store.AddRoomRowsAsync(roomId, [userId], [], cancellationToken).ConfigureAwait(false);
            return;
        }

        var pairs = new List<(string, string)>();
        foreach (var (other, _) in state.JoinedMembers)
        {
            if (other == userId)
            {
                continue;
            }

            if (IsLocal(userId))
            {
                pairs.Add((userId, other));
            }

            if (IsLocal(other))
            {
                pairs.Add((other, userId));
            }
        }

        await _store.AddRoomRowsAsync(roomId, [], pairs, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// All of a room's rows, from its current state: in a public room every joined member is findable by anyone; in a
    /// private one each local member finds the others (not themselves: Synapse records no such pair either).
    /// </summary>
    private Task ReplaceRoomAsync(string roomId, DirectoryRoomState state, bool isPublic, CancellationToken cancellationToken)
    {
        if (isPublic)
        {
            return _store.ReplaceRoomAsync(roomId, [.. state.JoinedMembers.Select(m => m.UserId)], [], cancellationToken);
        }

        var pairs = new List<(string, string)>();
        foreach (var (user, _) in state.JoinedMembers.Where(m => IsLocal(m.UserId)))
        {
            pairs.AddRange(state.JoinedMembers.Where(m => m.UserId != user).Select(m => (user, m.UserId)));
        }

        return _store.ReplaceRoomAsync(roomId, [], pairs, cancellationToken);
    }

    /// <summary>
    /// Spec: a room anyone may join (join rule <c>public</c>) or read (history visibility <c>world_readable</c>) shows its
    /// members to everyone, as Synapse's directory does.
    /// </summary>
    private async Task<bool> IsPublicAsync(DirectoryRoomState state, CancellationToken cancellationToken)
    {
        string[] ids = [.. new[] { state.JoinRulesEventId, state.HistoryVisibilityEventId }.OfType<string>()];
        if (ids.Length == 0)
        {
            return false;
        }

        var events = await _events.GetEventsAsync(ids, cancellationToken).ConfigureAwait(false);
        return events.Any(e => e.Pdu.Type switch
        {
            "m.room.join_rules" => e.Pdu.ContentString("join_rule") == "public",
            "m.room.history_visibility" => e.Pdu.ContentString("history_visibility") == "world_readable",
            _ => false,
        });
    }

    /// <summary>Local users' entries from their profiles: added, changed, or removed when deactivated.</summary>
    private async Task RefreshLocalUsersAsync(IReadOnlyCollection<string>? userIds, CancellationToken cancellationToken)
    {
        var changes = await _store.GetStaleLocalUsersAsync(userIds, cancellationToken).ConfigureAwait(false);
        foreach (var chunk in changes.Chunk(WriteChunk))
        {
            await _store.RemoveUsersAsync([.. chunk.Where(c => !c.Include).Select(c => c.UserId)], cancellationToken).ConfigureAwait(false);
            await _store.UpsertEntriesAsync(
                [.. chunk.Where(c => c.Include).Select(c => new DirectoryEntry(c.UserId, c.DisplayName, c.AvatarUrl,
                    UserDirectoryWords.OfEntry(c.UserId, c.DisplayName)))],
                cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Remote users' entries come from their member events (the only profile this server has of them); a remote user left
    /// with no room row leaves the directory.
    /// </summary>
    private async Task RefreshRemoteUsersAsync(IReadOnlyDictionary<string, string> joinedMemberEvents, IReadOnlyCollection<string> departed,
        CancellationToken cancellationToken)
    {
        if (joinedMemberEvents.Count > 0)
        {
            var events = await _events.GetEventsAsync([.. joinedMemberEvents.Values], cancellationToken).ConfigureAwait(false);
            var entries = events.Select(e => e.Pdu).Where(p => p.StateKey is not null)
                .Select(p => new DirectoryEntry(p.StateKey!, Profile(p, "displayname"), Profile(p, "avatar_url"),
                    UserDirectoryWords.OfEntry(p.StateKey!, Profile(p, "displayname"))));
            foreach (var chunk in entries.Chunk(WriteChunk))
            {
                await _store.UpsertEntriesAsync(chunk, cancellationToken).ConfigureAwait(false);
            }
        }

        var gone = new List<string>();
        foreach (string userId in departed)
        {
            if (!await _store.IsInAnyRoomAsync(userId, cancellationToken).ConfigureAwait(false))
            {
                gone.Add(userId);
            }
        }

        await _store.RemoveUsersAsync(gone, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Adds the member events of the remote users among <paramref name="userIds"/> who are joined.</summary>
    private void CollectRemoteMembers(DirectoryRoomState state, IEnumerable<string> userIds, Dictionary<string, string> into)
    {
        var wanted = userIds.Where(u => !IsLocal(u)).ToHashSet(StringComparer.Ordinal);
        foreach (var (userId, eventId) in state.JoinedMembers)
        {
            if (wanted.Contains(userId))
            {
                into[userId] = eventId;
            }
        }
    }

    private static string? Profile(Pdu member, string field) =>
        member.Content.ValueKind == System.Text.Json.JsonValueKind.Object
        && member.Content.TryGetProperty(field, out var value) && value.ValueKind == System.Text.Json.JsonValueKind.String
        && value.GetString() is { Length: > 0 } text
            ? text
            : null;

    private bool IsLocal(string userId) =>
        Identifiers.UserId.TryParse(userId, out var user) && user.ServerName == _options.ServerName;

    private static partial class Log
    {
        [LoggerMessage(EventId = 4901, Level = LogLevel.Information,
            Message = "Filled the user directory from {Rooms} rooms; following the events stream from {Position}")]
        public static partial void Rebuilt(ILogger logger, int rooms, long position);

        [LoggerMessage(EventId = 4902, Level = LogLevel.Warning, Message = "Updating the user directory failed; retrying")]
        public static partial void PassFailed(ILogger logger, Exception exception);
    }
}
