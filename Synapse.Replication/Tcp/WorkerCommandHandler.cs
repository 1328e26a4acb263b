using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Synapse.Accounts;
using Synapse.Caching;
using Synapse.Identifiers;
using Synapse.Replication.Protocol;
using Synapse.Sync;

namespace Synapse.Replication.Tcp;

/// <summary>
/// Main acting on what workers report over TCP: <c>USER_SYNC</c> drives presence (a user long-polling on a
/// synchrotron is online), <c>USER_IP</c> records device activity, <c>INVALIDATE_CACHE</c> goes on the caches stream
/// (dropped here and then in every worker), and <c>CLEAR_USER_SYNC</c> or a dropped connection ends every sync of that
/// worker, so no user stays online because the worker that served them went away.
/// </summary>
/// <remarks>
/// Commands are handled one at a time, in arrival order, off the connections' read loops. A worker re-announces its
/// syncing users after a reconnect (<see cref="ReplicationClient.SetUserSyncing"/>); a repeated start is ignored.
/// </remarks>
internal sealed partial class WorkerCommandHandler : BackgroundService
{
    private readonly PresenceService _presence;
    private readonly DeviceActivityRecorder _devices;
    private readonly CacheInvalidationService _caches;
    private readonly ILogger _logger;
    private readonly Channel<(string Instance, ReplicationCommand? Command)> _queue =
        Channel.CreateUnbounded<(string, ReplicationCommand?)>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Dictionary<string, Dictionary<string, string?>> _syncing = new(StringComparer.Ordinal);

    /// <summary>Starts listening to <paramref name="server"/>; commands are handled once the service runs.</summary>
    public WorkerCommandHandler(ReplicationServer server, PresenceService presence, DeviceActivityRecorder devices,
        CacheInvalidationService caches, ILogger<WorkerCommandHandler> logger)
    {
        _caches = caches;
        ArgumentNullException.ThrowIfNull(server);
        _presence = presence;
        _devices = devices;
        _logger = logger;
        server.CommandReceived += command => _queue.Writer.TryWrite((command.Instance, command.Command));
        server.WorkerDisconnected += instance => _queue.Writer.TryWrite((instance, null));
    }

    /// <summary>The users each worker reports as syncing (tests, diagnostics).</summary>
    public IReadOnlyDictionary<string, IReadOnlyCollection<string>> SyncingUsers
    {
        get
        {
            lock (_syncing)
            {
                return _syncing.ToDictionary(p => p.Key, p => (IReadOnlyCollection<string>)[.. p.Value.Keys], StringComparer.Ordinal);
            }
        }
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await foreach (var (instance, command) in _queue.Reader.ReadAllAsync(stoppingToken).ConfigureAwait(false))
        {
            try
            {
                await HandleAsync(instance, command, stoppingToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                Log.CommandFailed(_logger, instance, command?.GetType().Name ?? "disconnect", e);
            }
        }
    }

    private async Task HandleAsync(string instance, ReplicationCommand? command, CancellationToken cancellationToken)
    {
        switch (command)
        {
            case UserSyncCommand sync when UserId.TryParse(sync.UserId, out var user):
                bool changed;
                lock (_syncing)
                {
                    if (!_syncing.TryGetValue(instance, out var users))
                    {
                        users = new Dictionary<string, string?>(StringComparer.Ordinal);
                        _syncing[instance] = users;
                    }

                    changed = sync.IsSyncing ? users.TryAdd(user.Value, sync.DeviceId) : users.Remove(user.Value);
                }

                if (changed)
                {
                    await SetSyncingAsync(user, sync.DeviceId, sync.IsSyncing, cancellationToken).ConfigureAwait(false);
                }

                break;
            case ClearUserSyncCommand:
            case null:
                Dictionary<string, string?>? ended;
                lock (_syncing)
                {
                    _syncing.Remove(instance, out ended);
                }

                foreach (var (userId, deviceId) in ended ?? [])
                {
                    await SetSyncingAsync(UserId.Parse(userId), deviceId, false, cancellationToken).ConfigureAwait(false);
                }

                break;
            case UserIpCommand ip when UserId.TryParse(ip.UserId, out var user) && DeviceId.TryParse(ip.DeviceId, out var device):
                _devices.Record(new Requester(user, device, 0, false), ip.Ip, ip.UserAgent);
                break;
            case InvalidateCacheCommand invalidate:
                if (ReadKeys(invalidate.Keys.Span) is { } keys)
                {
                    await _caches.InvalidateAsync(invalidate.Cache, [keys]).ConfigureAwait(false);
                }
                else
                {
                    Log.BadInvalidation(_logger, instance, invalidate.Cache);
                }

                break;
            default:
                break;
        }
    }

    /// <summary>The keys of an <c>INVALIDATE_CACHE</c>: a non-empty JSON array of strings, else null.</summary>
    internal static IReadOnlyList<string>? ReadKeys(ReadOnlySpan<byte> json)
    {
        try
        {
            using var document = JsonDocument.Parse(json.ToArray());
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Array || root.GetArrayLength() == 0
                || root.EnumerateArray().Any(k => k.ValueKind != JsonValueKind.String))
            {
                return null;
            }

            return [.. root.EnumerateArray().Select(k => k.GetString()!)];
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private Task SetSyncingAsync(UserId user, string? deviceId, bool syncing, CancellationToken cancellationToken)
    {
        var requester = new Requester(user, DeviceId.TryParse(deviceId, out var device) ? device : default, 0, false);
        return syncing
            ? _presence.OnSyncAsync(requester, PresenceService.Online, cancellationToken)
            : _presence.OnSyncEndedAsync(requester, PresenceService.Online, cancellationToken);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 3014, Level = LogLevel.Error, Message = "Handling {Command} from worker {Instance} failed")]
        public static partial void CommandFailed(ILogger logger, string instance, string command, Exception exception);

        [LoggerMessage(EventId = 3015, Level = LogLevel.Warning,
            Message = "Ignoring INVALIDATE_CACHE {Cache} from worker {Instance}: the keys are not a non-empty JSON array of strings")]
        public static partial void BadInvalidation(ILogger logger, string instance, string cache);
    }
}
