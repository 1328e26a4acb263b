using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Synapse.Accounts;
using Synapse.Caching;
using Synapse.Configuration;
using Synapse.Replication.Http;
using Synapse.Replication.Protocol;
using Synapse.Replication.Tcp;
using Synapse.Rooms;
using Synapse.Storage;
using Synapse.Streams;
using Synapse.Sync;

namespace Synapse.Replication.Workers;

/// <summary>The composition of a worker process (DESIGN.md §3: the remote side of every seam).</summary>
public static partial class WorkerHostingExtensions
{
    /// <summary>
    /// Turns a homeserver composition (<c>AddSynapseHomeserver</c> and storage, added first) into a worker of
    /// <paramref name="type"/>: it follows main's streams over TCP replication (catching up from the shared database, and
    /// typing from main over HTTP); events, new users and sessions, and cache invalidations go to main; a long-polling
    /// user is reported with <c>USER_SYNC</c>; the jobs only main runs (presence timeouts, clean-ups) are left out.
    /// </summary>
    public static IServiceCollection AddSynapseWorker(this IServiceCollection services, HomeserverOptions options, WorkerType type)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(type);
        var worker = options.Worker ?? throw new ArgumentException("These options are not a worker's (worker_app is not set).", nameof(options));
        string secret = options.WorkerReplicationSecret
            ?? throw new ArgumentException("A worker needs worker_replication_secret.", nameof(options));
        var httpOptions = new ReplicationHttpClientOptions
        {
            MainUri = new UriBuilder(Uri.UriSchemeHttp, worker.ReplicationHost, worker.ReplicationHttpPort).Uri,
            Secret = secret,
        };

        services.AddSingleton(type);
        services.AddSingleton(new WorkerStatus());
        services.AddSingleton(new WorkerHttp());
        services.AddSingleton(sp =>
        {
            var streams = sp.GetRequiredService<StreamRegistry>();
            var http = sp.GetRequiredService<WorkerHttp>().Client;
            var logs = sp.GetRequiredService<ILoggerFactory>();
            IStreamSource[] sources =
            [
                .. sp.GetServices<IStreamSource>().Where(s => s.Stream != StreamNames.Typing),
                new HttpStreamSource(StreamNames.Typing, http, httpOptions, streams, logs.CreateLogger<ReplicationHttpClient>()),
            ];
            var client = new ReplicationClient(
                new ReplicationClientOptions
                {
                    ServerName = options.ServerName,
                    InstanceName = worker.Name,
                    Secret = secret,
                    Endpoint = $"{worker.ReplicationHost}:{worker.ReplicationPort}",
                    Connect = ct => ReplicationTcp.ConnectAsync(worker.ReplicationHost, worker.ReplicationPort, tls: false, ct),
                },
                streams, sp.GetRequiredService<StreamBus>(), sources, logs.CreateLogger<ReplicationClient>());

            // Typing lives in main's memory: when main restarts, what this worker followed is gone too.
            var typing = sp.GetRequiredService<TypingService>();
            client.StreamReset += stream =>
            {
                if (stream == StreamNames.Typing)
                {
                    typing.ResetFollowed();
                }
            };
            return client;
        });
        services.AddSingleton<IStreamPositionWaiter>(sp => sp.GetRequiredService<ReplicationClient>());
        services.AddSingleton(sp => new ReplicationHttpClient(sp.GetRequiredService<WorkerHttp>().Client, httpOptions,
            sp.GetRequiredService<ReplicationClient>(), sp.GetRequiredService<ILogger<ReplicationHttpClient>>()));

        services.RemoveAll<IRoomEventWriter>();
        services.AddSingleton<IRoomEventWriter>(sp => new RemoteRoomEventWriter(sp.GetRequiredService<ReplicationHttpClient>()));
        services.RemoveAll<IAccountWriter>();
        services.AddSingleton<IAccountWriter>(sp => new RemoteAccountWriter(sp.GetRequiredService<ReplicationHttpClient>()));
        services.RemoveAll<ICacheInvalidationSink>();
        services.AddSingleton<ICacheInvalidationSink>(sp => new ReplicationCacheInvalidationSink(sp.GetRequiredService<ReplicationClient>()));
        services.RemoveAll<IPresenceActivity>();
        services.AddSingleton<IPresenceActivity>(sp => new RemotePresenceActivity(sp.GetRequiredService<ReplicationHttpClient>()));
        services.RemoveAll<IDeviceActivitySink>();
        services.AddSingleton<IDeviceActivitySink>(sp => new ReplicatedDeviceActivity(sp.GetRequiredService<ReplicationClient>()));
        if (options.PresenceEnabled)
        {
            // With presence off (use_presence: false) main tracks nobody: the worker does not report syncing users either.
            services.RemoveAll<ISyncActivityListener>();
            services.AddSingleton<ISyncActivityListener>(sp => new ReplicatedSyncActivity(sp.GetRequiredService<ReplicationClient>()));
        }

        // Jobs of the process that owns the data: presence timeouts, and clean-ups main already runs.
        Type[] mainOnly = [typeof(PresenceTimerService), typeof(ToDeviceTransactionCleaner), typeof(CacheInvalidationCleaner)];
        foreach (var descriptor in services.Where(d => d.ServiceType == typeof(IHostedService) && mainOnly.Contains(d.ImplementationType)).ToList())
        {
            services.Remove(descriptor);
        }

        services.AddHostedService<ReplicationClientService>();
        type.ConfigureServices?.Invoke(services, options);
        return services;
    }

    /// <summary>
    /// Answers every Matrix or Synapse path the worker type does not serve with 404 <c>M_UNRECOGNIZED</c> — a request routed
    /// to the wrong worker is refused, never handled wrongly; then adds the type's own request handling
    /// (<see cref="WorkerType.ConfigureApplication"/>). Call before <c>UseSynapseHomeserver</c>.
    /// </summary>
    public static IApplicationBuilder UseSynapseWorkerRoutes(this IApplicationBuilder app, WorkerType type)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(type);
        var options = app.ApplicationServices.GetRequiredService<HomeserverOptions>();
        app.Use(async (context, next) =>
        {
            string path = context.Request.Path.Value ?? "";
            if ((path.StartsWith("/_matrix/", StringComparison.Ordinal) || path.StartsWith("/_synapse/", StringComparison.Ordinal))
                && !type.Serves(context.Request.Method, path, options))
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                context.Response.ContentType = "application/json";
                await JsonSerializer.SerializeAsync(context.Response.Body, new Dictionary<string, string>
                {
                    ["errcode"] = ErrorCodes.Unrecognized,
                    ["error"] = $"This {type.App} worker does not serve {context.Request.Method} {path}",
                }, cancellationToken: context.RequestAborted).ConfigureAwait(false);
                return;
            }

            await next(context).ConfigureAwait(false);
        });
        type.ConfigureApplication?.Invoke(app, options);
        return app;
    }

    /// <summary>Why this worker stopped, when main refused it (the host turns it into an error and exit code 1).</summary>
    public sealed class WorkerStatus
    {
        /// <summary>Main's reason, or null while it has not refused this worker.</summary>
        public string? Refusal { get; internal set; }
    }

    /// <summary>The worker's one HTTP client to main (connection pooling across every replication call).</summary>
    internal sealed class WorkerHttp : IDisposable
    {
        public HttpClient Client { get; } = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) });

        public void Dispose() => Client.Dispose();
    }

    /// <summary>
    /// Runs the replication client for the life of the host, and stops the host when main refuses this worker: at once for
    /// a wrong secret, after <see cref="RefusalGrace"/> for anything else (an instance name still held by a connection
    /// main has not yet seen die, after a worker was killed and restarted).
    /// </summary>
    internal sealed partial class ReplicationClientService : BackgroundService
    {
        public static readonly TimeSpan RefusalGrace = TimeSpan.FromSeconds(30);

        private readonly ReplicationClient _client;
        private readonly WorkerStatus _status;
        private readonly IHostApplicationLifetime _lifetime;
        private readonly TimeProvider _time;
        private readonly ILogger _logger;
        private long _refusedSince = -1;

        public ReplicationClientService(ReplicationClient client, WorkerStatus status, IHostApplicationLifetime lifetime,
            TimeProvider time, ILogger<ReplicationClientService> logger)
        {
            _client = client;
            _status = status;
            _lifetime = lifetime;
            _time = time;
            _logger = logger;
            client.Connected += () => Interlocked.Exchange(ref _refusedSince, -1);
            client.Refused += OnRefused;
        }

        protected override Task ExecuteAsync(CancellationToken stoppingToken) => _client.RunAsync(stoppingToken);

        private void OnRefused(string reason)
        {
            long now = _time.GetTimestamp();
            long since = Interlocked.CompareExchange(ref _refusedSince, now, -1) is var previous && previous == -1 ? now : previous;
            if (reason.StartsWith("authentication", StringComparison.Ordinal) || _time.GetElapsedTime(since, now) >= RefusalGrace)
            {
                _status.Refusal = reason;
                Log.Refused(_logger, reason);
                _lifetime.StopApplication();
            }
        }

        private static partial class Log
        {
            [LoggerMessage(EventId = 3018, Level = LogLevel.Critical, Message = "Main refused this worker ({Reason}); stopping")]
            public static partial void Refused(ILogger logger, string reason);
        }
    }

    /// <summary>
    /// A worker's device activity goes to main as <c>USER_IP</c> (main writes the last-seen data), one command per device
    /// and batch — at most one per device every few seconds. A batch made while disconnected is dropped: last-seen data is
    /// advisory, and the next request records it again.
    /// </summary>
    private sealed class ReplicatedDeviceActivity(ReplicationClient client) : IDeviceActivitySink
    {
        public Task WriteAsync(IReadOnlyCollection<DeviceActivity> activity, CancellationToken cancellationToken)
        {
            foreach (var a in activity)
            {
                // Main needs no access token to record the device: none travels.
                client.Send(new UserIpCommand(a.UserId.Value, "", a.Ip ?? "", a.UserAgent ?? "", a.DeviceId.Value, a.Ts));
            }

            return Task.CompletedTask;
        }
    }

    /// <summary>
    /// A worker's syncs drive presence on main: <c>USER_SYNC</c> from the start of a user's first long poll here to the end
    /// of their last (a user syncing on two devices stays online while either polls).
    /// </summary>
    private sealed class ReplicatedSyncActivity(ReplicationClient client) : ISyncActivityListener
    {
        private readonly Dictionary<string, int> _polls = new(StringComparer.Ordinal);

        public Task OnSyncAsync(Requester requester, string? setPresence, CancellationToken cancellationToken)
        {
            if (setPresence != PresenceService.Offline)
            {
                Change(requester, +1);
            }

            return Task.CompletedTask;
        }

        public Task OnSyncEndedAsync(Requester requester, string? setPresence, CancellationToken cancellationToken)
        {
            if (setPresence != PresenceService.Offline)
            {
                Change(requester, -1);
            }

            return Task.CompletedTask;
        }

        private void Change(Requester requester, int delta)
        {
            string user = requester.UserId.Value;
            lock (_polls)
            {
                int polls = _polls.GetValueOrDefault(user) + delta;
                if (polls <= 0)
                {
                    _polls.Remove(user);
                    client.SetUserSyncing(user, requester.DeviceId.Value, syncing: false);
                }
                else
                {
                    _polls[user] = polls;
                    if (polls == 1 && delta > 0)
                    {
                        client.SetUserSyncing(user, requester.DeviceId.Value, syncing: true);
                    }
                }
            }
        }
    }
}
