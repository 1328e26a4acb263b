using Microsoft.Extensions.DependencyInjection;
using Synapse.Configuration;

namespace Synapse.Storage;

/// <summary>Registers the stores for the configured engine.</summary>
public static class StorageServiceCollectionExtensions
{
    /// <summary>
    /// Adds every <c>Synapse.Storage</c> port implementation for <paramref name="options"/>.
    /// Call <see cref="MigrateSynapseDatabaseAsync"/> once at start, before serving.
    /// </summary>
    public static IServiceCollection AddSynapseStorage(this IServiceCollection services, DatabaseOptions options)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddSingleton(_ => SynapseDatabase.Create(options));
        services.AddSingleton<SchemaMigrator>();
        services.AddSingleton<IAccountStore, AccountStore>();
        services.AddSingleton<IUserInteractiveAuthStore, UserInteractiveAuthStore>();
        services.AddSingleton<IEventStore, EventStore>();
        services.AddSingleton<IRoomDirectoryStore, RoomDirectoryStore>();
        return services;
    }

    /// <summary>
    /// Creates or upgrades the schema. Throws <see cref="SchemaTooNewException"/> when the database
    /// was written by a newer release.
    /// </summary>
    public static async Task MigrateSynapseDatabaseAsync(this IServiceProvider services,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(services);
        var migrator = services.GetRequiredService<SchemaMigrator>();
        await migrator.MigrateAsync(cancellationToken).ConfigureAwait(false);
    }
}
