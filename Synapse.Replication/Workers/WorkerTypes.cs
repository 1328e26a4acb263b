using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Synapse.Configuration;
using Synapse.UserDirectory;

namespace Synapse.Replication.Workers;

/// <summary>
/// The worker types this process knows: the built-in ones (the routes of Synapse's worker documentation, under every
/// client API version prefix) and any an application registers. The homeserver host, synctl and the router all read it.
/// </summary>
public sealed class WorkerTypes
{
    private const string Client = "^/_matrix/client/";
    private const string V = "(api/v1|r0|v3|unstable)";

    private readonly ConcurrentDictionary<string, WorkerType> _types = new(StringComparer.Ordinal);

    /// <summary>A registry with the built-in types.</summary>
    public WorkerTypes()
    {
        foreach (var type in BuiltIn())
        {
            Register(type);
        }
    }

    /// <summary>The shared registry of this process (the hosts use it; an application adds its types before they start).</summary>
    public static WorkerTypes Default { get; } = new();

    /// <summary>Every registered type, by name.</summary>
    public IReadOnlyCollection<WorkerType> All => [.. _types.Values.OrderBy(t => t.App, StringComparer.Ordinal)];

    /// <summary>Adds a type; its name must be new and not the main process's.</summary>
    public void Register(WorkerType type)
    {
        ArgumentNullException.ThrowIfNull(type);
        if (type.App == WorkerOptions.MainApp || !_types.TryAdd(type.App, type))
        {
            throw new ArgumentException($"The worker type {type.App} exists already.", nameof(type));
        }
    }

    /// <summary>The type named <paramref name="app"/>, or null.</summary>
    public WorkerType? Find(string app) => _types.GetValueOrDefault(app);

    private static WorkerRoute R(string pattern, RouteAffinity affinity = RouteAffinity.None, params string[] methods) =>
        new(pattern, methods.Length == 0 ? null : methods, affinity);

    private static IEnumerable<WorkerType> BuiltIn()
    {
        WorkerRoute[] sync =
        [
            R($"{Client}(v2_alpha|r0|v3)/sync$", RouteAffinity.User),
            R($"{Client}(api/v1|v2_alpha|r0|v3)/events$", RouteAffinity.User),
            R($"{Client}(api/v1|r0|v3)/initialSync$", RouteAffinity.User),
            R($"{Client}(api/v1|r0|v3)/rooms/[^/]+/initialSync$", RouteAffinity.User),
        ];
        WorkerRoute[] reader =
        [
            R($"{Client}{V}/publicRooms$"),
            R($"{Client}{V}/rooms/[^/]+/joined_members$"),
            R($"{Client}{V}/rooms/[^/]+/context/[^/]+$"),
            R($"{Client}{V}/rooms/[^/]+/members$"),
            R($"{Client}{V}/rooms/[^/]+/state$"),
            R($"{Client}{V}/login$"),
            R($"{Client}{V}/account/3pid$"),
            R($"{Client}{V}/keys/query$"),
            R($"{Client}{V}/keys/changes$"),
            R($"{Client}{V}/voip/turnServer$"),
            R($"{Client}versions$"),
            R($"{Client}{V}/pushrules/.*$", RouteAffinity.None, "GET"),
            R($"{Client}(r0|v3|unstable)/register$", RouteAffinity.OneInstance),
            R($"{Client}(r0|v3|unstable)/register/available$", RouteAffinity.OneInstance),
            R($"{Client}{V}/auth/[^/]+/fallback/web$", RouteAffinity.OneInstance),
            R($"{Client}{V}/rooms/[^/]+/messages$", RouteAffinity.Room),
        ];
        WorkerRoute[] creator =
        [
            R($"{Client}{V}/createRoom$"),
            R($"{Client}{V}/rooms/[^/]+/send/"),
            R($"{Client}{V}/rooms/[^/]+/state/"),
            R($"{Client}{V}/rooms/[^/]+/redact/"),
            R($"{Client}{V}/rooms/[^/]+/(join|invite|leave|ban|unban|kick)$"),
            R($"{Client}{V}/join/"),
            R($"{Client}{V}/profile/"),
        ];

        yield return new WorkerType
        {
            App = "synapse.app.synchrotron",
            Description = "serves /sync, /events and initial syncs; reports syncing users for presence",
            Routes = sync,
        };
        yield return new WorkerType
        {
            App = "synapse.app.client_reader",
            Description = "serves client reads, login and registration (one instance for registration)",
            Routes = reader,
        };
        yield return new WorkerType
        {
            App = "synapse.app.event_creator",
            Description = "creates and authorizes events (send, state, membership, join, profile) and hands them to main",
            Routes = creator,
        };
        var keysUpload = R($"{Client}{V}/keys/upload(/[^/]+)?$");
        yield return new WorkerType
        {
            App = "synapse.app.frontend_proxy",
            Description = "takes key uploads (passed on to main, worker_main_http_uri) and, with use_presence off, presence",
            Routes =
            [
                keysUpload,
                new WorkerRoute($"{Client}{V}/presence/[^/]+/status$") { When = o => !o.PresenceEnabled },
            ],
            CheckConfiguration = o => o.Worker?.MainHttpUri is null
                ? "a frontend_proxy passes key uploads on to main: set worker_main_http_uri (main's client listener, such as http://127.0.0.1:8008)"
                : null,
            ConfigureApplication = (app, options) =>
            {
                var services = app.ApplicationServices;
                var proxy = new MainProxy(services.GetRequiredService<WorkerHostingExtensions.WorkerHttp>().Client,
                    options.Worker!.MainHttpUri!, services.GetRequiredService<ILogger<MainProxy>>());
                app.Use(async (context, next) =>
                {
                    if (keysUpload.Matches(context.Request.Method, context.Request.Path.Value ?? "", options))
                    {
                        await proxy.ForwardAsync(context).ConfigureAwait(false);
                        return;
                    }

                    await next(context).ConfigureAwait(false);
                });
            },
        };
        yield return new WorkerType
        {
            App = "synapse.app.user_dir",
            Description = "serves user directory searches and keeps the directory up to date from the events stream",
            Routes = [R($"{Client}(r0|v3|unstable)/user_directory/search$", RouteAffinity.None, "POST")],
            Singleton = true,
            CheckConfiguration = o => o.UpdateUserDirectory
                ? "the user directory is kept by exactly one process: set update_user_directory: false in the shared configuration so that main leaves it to this worker"
                : null,
            ConfigureServices = (services, _) => services.AddSynapseUserDirectoryUpdater(),
        };
        yield return new WorkerType
        {
            App = "synapse.app.generic_worker",
            Description = "serves every endpoint the other worker types serve (route a subset to it)",
            Routes = [.. sync, .. reader, .. creator],
        };
    }
}
