using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Synapse.Accounts;
using Synapse.Configuration;

namespace Synapse.Http;

/// <summary>The entry points that compose a homeserver on ASP.NET Core.</summary>
public static class SynapseHttpExtensions
{
    private static readonly string[] ClientPrefixes = ["/_matrix/client/v3", "/_matrix/client/r0"];

    /// <summary>
    /// Adds the homeserver's domain services for <paramref name="options"/>. Storage is registered
    /// separately (<c>AddSynapseStorage</c>), so that an embedder can bring its own store.
    /// </summary>
    public static IServiceCollection AddSynapseHomeserver(this IServiceCollection services, HomeserverOptions options)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(options);
        services.AddSingleton(options);
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<PasswordHasher>();
        services.AddSingleton<IDeviceActivitySink, StoreDeviceActivitySink>();
        services.AddSingleton<DeviceActivityRecorder>();
        services.AddHostedService(sp => sp.GetRequiredService<DeviceActivityRecorder>());
        services.AddSingleton<Caching.CacheInvalidationService>();
        services.AddSingleton<Caching.ICacheInvalidationSink, Caching.StreamCacheInvalidationSink>();
        services.AddSingleton<Streams.IStreamSource, Caching.CacheInvalidationStreamSource>();
        services.AddHostedService<Caching.CacheInvalidationCleaner>();
        services.AddSingleton<AuthenticationService>();
        services.AddSingleton<IAccountWriter, LocalAccountWriter>();
        services.AddSingleton<UserInteractiveAuthService>();
        services.AddSingleton<SessionService>();
        services.AddSingleton<RegistrationService>();
        services.AddSingleton<AccountService>();
        services.AddSingleton<DeviceService>();
        services.AddSingleton<MatrixPipeline>();
        services.AddSingleton<Streams.StreamBus>();
        services.AddSingleton<Streams.StreamRegistry>();
        services.AddSingleton<Streams.SyncNotifier>();
        services.AddSingleton<Sync.SyncCache>();
        services.AddSingleton<Sync.RoomTimelineCache>();
        services.AddSingleton<Sync.RoomStateCache>();
        services.AddSingleton<Sync.SyncService>();
        services.AddSingleton<Sync.LegacySyncService>();
        services.AddSingleton<Sync.AccountDataService>();
        services.AddSingleton<Sync.ReceiptService>();
        services.AddSingleton<Sync.ISyncContributor, Sync.AccountDataContributor>();
        services.AddSingleton<Sync.ISyncContributor, Sync.ReceiptsContributor>();
        services.AddSingleton<Streams.IStreamSource, Sync.AccountDataStreamSource>();
        services.AddSingleton<Streams.IStreamSource, Sync.ReceiptsStreamSource>();
        services.AddSingleton<Rooms.EventSigner>();
        services.AddSingleton<Rooms.RoomEventPipeline>();
        services.AddSingleton<Rooms.IRoomEventWriter>(sp => sp.GetRequiredService<Rooms.RoomEventPipeline>());
        services.AddSingleton<Streams.IStreamSource, Rooms.EventsStreamSource>();
        services.AddSingleton<Rooms.RoomService>();
        services.AddSingleton<Rooms.RoomQueryService>();
        services.AddSingleton<Rooms.RelationTargets>();
        services.AddSingleton<Rooms.ClientEventFormatter>();
        services.AddSingleton<ProfileService>();
        services.AddSingleton<Rooms.RoomUpgradeService>();
        services.AddSingleton<Rooms.DirectoryService>();
        services.AddSingleton<Rooms.RelationsService>();
        services.AddSingleton<Rooms.TimestampLookupService>();
        services.AddSingleton<Sync.DeviceListService>();
        services.AddSingleton<Sync.ToDeviceService>();
        services.AddHostedService<Sync.ToDeviceTransactionCleaner>();
        services.AddSingleton<Sync.ISyncContributor, Sync.ToDeviceContributor>();
        services.AddSingleton<Sync.ISyncContributor, Sync.DeviceListsContributor>();
        services.AddSingleton<Streams.IStreamSource, Sync.ToDeviceStreamSource>();
        services.AddSingleton<Streams.IStreamSource, Sync.DeviceListStreamSource>();
        services.AddHostedService<UiaSessionCleaner>();
        services.AddSingleton<Sync.PresenceService>();
        services.AddSingleton<Sync.ISyncActivityListener>(sp => sp.GetRequiredService<Sync.PresenceService>());
        services.AddSingleton<Sync.IPresenceActivity>(sp => sp.GetRequiredService<Sync.PresenceService>());
        services.AddSingleton<Streams.IStreamSource>(sp => sp.GetRequiredService<Sync.PresenceService>());
        services.AddHostedService<Sync.PresenceTimerService>();
        services.AddSingleton<Sync.TypingService>();
        services.AddSingleton<Streams.IStreamSource>(sp => sp.GetRequiredService<Sync.TypingService>());
        services.AddSingleton<Sync.ISyncContributor, Sync.TypingContributor>();
        services.AddSingleton<Sync.ISyncContributor, Sync.PresenceContributor>();
        services.AddSingleton<E2e.IE2eKeyFederationClient, E2e.NoFederationE2eKeyClient>();
        services.AddSingleton<E2e.E2eKeyService>();
        services.AddSingleton<E2e.KeyQueryService>();
        services.AddSingleton<E2e.KeyBackupService>();
        services.AddSingleton<Sync.ISyncContributor, Sync.OneTimeKeyCountsContributor>();
        services.AddSingleton<Push.PushRuleService>();
        services.AddSingleton<Sync.ISyncContributor, Sync.PushRulesContributor>();
        services.AddSingleton<Streams.IStreamSource, Push.PushRulesStreamSource>();
        services.AddSingleton<E2e.CrossSigningService>();
        services.AddSingleton<E2e.IKeyQueryContributor, E2e.CrossSigningKeysQuery>();
        services.AddSingleton<UserDirectory.UserDirectoryService>();
        if (options.Worker is null && options.UpdateUserDirectory)
        {
            UserDirectory.UserDirectoryServiceCollectionExtensions.AddSynapseUserDirectoryUpdater(services);
        }

        services.AddRouting();
        return services;
    }

    /// <summary>
    /// Opens a Kestrel endpoint for every <c>type: http</c> listener and tags its connections so that
    /// requests only reach the resources that listener names. Returns the listeners of other types,
    /// which this build does not serve, so the host can report them.
    /// </summary>
    public static IReadOnlyList<ListenerOptions> ConfigureSynapseListeners(this IWebHostBuilder webHost,
        HomeserverOptions options)
    {
        ArgumentNullException.ThrowIfNull(webHost);
        ArgumentNullException.ThrowIfNull(options);
        var skipped = options.Listeners.Where(l => l.Type != "http").ToList();
        webHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = Math.Max(options.MaxUploadSize, 1024 * 1024);
            foreach (var listener in options.Listeners.Where(l => l.Type == "http"))
            {
                foreach (var bind in BindingsOf(listener))
                {
                    Action<ListenOptions> tag = listen => listen.Use(next => connection =>
                    {
                        connection.Items[MatrixHttp.ListenerItemKey] = listener;
                        return next(connection);
                    });
                    switch (bind)
                    {
                        case null:
                            kestrel.ListenAnyIP(listener.Port, tag);
                            break;
                        case "localhost":
                            kestrel.ListenLocalhost(listener.Port, tag);
                            break;
                        default:
                            kestrel.Listen(IPAddress.Parse(bind), listener.Port, tag);
                            break;
                    }
                }
            }
        });
        return skipped;
    }

    /// <summary>Adds the Matrix middleware and maps every endpoint of this build.</summary>
    public static WebApplication UseSynapseHomeserver(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var pipeline = app.Services.GetRequiredService<MatrixPipeline>();
        app.Use(pipeline.HandleAsync);
        app.UseRouting();
        app.Use(MatrixPipeline.GateResourcesAsync);

        ServerEndpoints.MapUnversioned(app);
        foreach (string prefix in ClientPrefixes)
        {
            var client = app.MapGroup(prefix).WithMetadata(new MatrixResourceAttribute("client"));
            ServerEndpoints.MapClient(client);
            AccountEndpoints.Map(client);
            DeviceEndpoints.Map(client);
            RoomEndpoints.Map(client);
            ProfileEndpoints.Map(client);
            RoomUpgradeEndpoints.Map(client);
            DirectoryEndpoints.Map(client);
            SyncEndpoints.Map(client);
            LegacyEndpoints.Map(client);
            AccountDataEndpoints.Map(client);
            ReceiptEndpoints.Map(client);
            ToDeviceEndpoints.Map(client);
            TypingEndpoints.Map(client);
            PresenceEndpoints.Map(client);
            KeysEndpoints.Map(client);
            KeyBackupEndpoints.Map(client);
            PushRuleEndpoints.Map(client);
            CrossSigningEndpoints.Map(client);
            UserDirectoryEndpoints.Map(client);
        }

        // Endpoints clients still call under the unstable prefix.
        var unstable = app.MapGroup("/_matrix/client/unstable").WithMetadata(new MatrixResourceAttribute("client"));
        KeysEndpoints.Map(unstable);
        KeyBackupEndpoints.Map(unstable);
        CrossSigningEndpoints.Map(unstable);

        // Endpoints the spec defines only under v1 (relations, threads, timestamp_to_event).
        var v1 = app.MapGroup("/_matrix/client/v1").WithMetadata(new MatrixResourceAttribute("client"));
        RelationEndpoints.MapV1(v1);

        return app;
    }

    /// <summary>
    /// The addresses to bind: <c>null</c> for "every address" when both wildcards are listed (Kestrel binds
    /// IPv6 dual-stack; binding 0.0.0.0 beside :: on the same port would fail).
    /// </summary>
    private static IEnumerable<string?> BindingsOf(ListenerOptions listener)
    {
        var addresses = listener.BindAddresses;
        if (addresses.Contains("::") && addresses.Contains("0.0.0.0"))
        {
            yield return null;
            foreach (string other in addresses.Where(a => a is not ("::" or "0.0.0.0")))
            {
                yield return other;
            }

            yield break;
        }

        foreach (string address in addresses)
        {
            yield return address;
        }
    }

    private sealed class UiaSessionCleaner(UserInteractiveAuthService uia) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            using var timer = new PeriodicTimer(TimeSpan.FromHours(1));
            try
            {
                do
                {
                    await uia.DeleteExpiredSessionsAsync(stoppingToken).ConfigureAwait(false);
                }
                while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
            }
        }
    }
}
