using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Synapse.Configuration;
using Synapse.Http;
using Synapse.Replication;
using Synapse.Replication.Http;
using Synapse.Replication.Workers;
using Synapse.Storage;
using Synapse.Streams;

namespace Synapse.Homeserver;

/// <summary>
/// The process compositions: main (or the monolith) — domain services, storage, HTTP listeners, the replication server —
/// or, when <c>worker_app</c> names a worker type, that worker over the same services.
/// </summary>
public static partial class HomeserverApp
{
    /// <summary>
    /// Builds the application and brings the database schema up to date. The caller starts it
    /// (<c>RunAsync</c>, or <c>StartAsync</c> in tests) and disposes it.
    /// </summary>
    public static async Task<WebApplication> BuildAsync(HomeserverOptions options, IReadOnlyList<string> unknownKeys,
        Action<ILoggingBuilder>? configureLogging = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(unknownKeys);
        var workerType = options.Worker is null ? null : ResolveWorkerType(options);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            ApplicationName = "Synapse.Homeserver",
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(console =>
        {
            console.SingleLine = true;
            console.TimestampFormat = "yyyy-MM-dd HH:mm:ss.fff ";
            console.UseUtcTimestamp = true;
        });
        builder.Logging.SetMinimumLevel(options.Logging.MinimumLevel);
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Information);
        foreach (var (category, level) in options.Logging.Categories)
        {
            builder.Logging.AddFilter(category, level);
        }

        configureLogging?.Invoke(builder.Logging);

        // A configuration written by hand may name a key file that does not exist yet; Synapse creates it.
        SigningKeyFile.Generate(options.SigningKeyPath);
        var skipped = builder.WebHost.ConfigureSynapseListeners(options);
        builder.Services.AddSynapseHomeserver(options);
        builder.Services.AddSynapseStorage(options.Database);
        if (workerType is null)
        {
            builder.Services.AddSynapseReplicationMain(options);
        }
        else
        {
            builder.Services.AddSynapseWorker(options, workerType);
        }

        var app = builder.Build();
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Synapse.Homeserver");
        foreach (string key in unknownKeys)
        {
            Log.UnknownKey(logger, key);
        }

        foreach (var listener in skipped.Where(l => l.Type != ListenerOptions.ReplicationType))
        {
            Log.ListenerTypeNotServed(logger, listener.Type, listener.Port);
        }

        try
        {
            if (workerType is null)
            {
                await app.Services.MigrateSynapseDatabaseAsync(cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await app.Services.CheckSynapseSchemaAsync(cancellationToken).ConfigureAwait(false);
            }

            await app.Services.InitializeSynapseStreamsAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw;
        }

        if (workerType is not null)
        {
            app.UseSynapseWorkerRoutes(workerType);
        }

        app.UseSynapseHomeserver();
        if (workerType is null && options.WorkerReplicationSecret is not null)
        {
            app.MapSynapseReplication();
        }

        return app;
    }

    /// <summary>The worker type <c>worker_app</c> names, checked against the configuration; a mistake is a configuration error.</summary>
    private static WorkerType ResolveWorkerType(HomeserverOptions options)
    {
        string files = string.Join(", ", options.SourceFiles);
        string app = options.Worker!.App;
        var type = WorkerTypes.Default.Find(app) ?? throw new ConfigurationException(files, "worker_app",
            $"unknown worker type '{app}'; known: {WorkerOptions.MainApp} (main), "
            + string.Join(", ", WorkerTypes.Default.All.Select(t => t.App)));
        if (type.CheckConfiguration?.Invoke(options) is { } problem)
        {
            throw new ConfigurationException(files, "worker_app", problem);
        }

        return type;
    }

    /// <summary>The URLs Kestrel actually bound (port 0 resolved), once started.</summary>
    public static IReadOnlyList<string> BoundAddresses(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        return app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.ToList() ?? [];
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Configuration key '{Key}' is not used by this server")]
        public static partial void UnknownKey(ILogger logger, string key);

        [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "Listener of type '{Type}' on port {Port} is not served by this build")]
        public static partial void ListenerTypeNotServed(ILogger logger, string type, int port);
    }
}
