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
        services.AddSingleton<IUserDirectoryStore, UserDirectoryStore>();
        services.AddSingleton<IFilterStore, FilterStore>();
        services.AddSingleton<IAccountDataStore, AccountDataStore>();
        services.AddSingleton<IReceiptStore, ReceiptStore>();
        AddStreamLoader(services, Streams.StreamNames.AccountData, "SELECT COALESCE(MAX(stream_id), 0) FROM account_data");
        AddStreamLoader(services, Streams.StreamNames.Receipts, "SELECT COALESCE(MAX(stream_id), 0) FROM receipts");
        AddStreamLoader(services, Streams.StreamNames.Events, "SELECT COALESCE(MAX(stream_ordering), 0) FROM events");
        services.AddSingleton<IToDeviceStore, ToDeviceStore>();
        services.AddSingleton<IDeviceListStore, DeviceListStore>();
        AddStreamLoader(services, Streams.StreamNames.ToDevice, """
            SELECT MAX(m) FROM (SELECT COALESCE(MAX(stream_id), 0) AS m FROM device_inbox
                                UNION ALL SELECT COALESCE(MAX(stream_id), 0) FROM device_inbox_txns) AS s
            """);
        AddStreamLoader(services, Streams.StreamNames.DeviceLists, "SELECT COALESCE(MAX(stream_id), 0) FROM device_lists_stream");
        services.AddSingleton<IPresenceStore, PresenceStore>();
        services.AddSingleton<IE2eKeyStore, E2eKeyStore>();
        services.AddSingleton<IKeyBackupStore, KeyBackupStore>();
        services.AddSingleton<ICrossSigningStore, CrossSigningStore>();
        AddStreamLoader(services, Streams.StreamNames.Presence, "SELECT COALESCE(MAX(stream_id), 0) FROM presence");
        services.AddSingleton<IPushRuleStore, PushRuleStore>();
        AddStreamLoader(services, Streams.StreamNames.PushRules, "SELECT COALESCE(MAX(stream_id), 0) FROM push_rules_stream");
        services.AddSingleton<ICacheInvalidationStore, CacheInvalidationStore>();
        AddStreamLoader(services, Streams.StreamNames.Caches, "SELECT COALESCE(MAX(stream_id), 0) FROM cache_invalidations");
        return services;
    }

    /// <summary>Registers the loader of a stream kept in a table: the SQL returns its highest position.</summary>
    private static void AddStreamLoader(IServiceCollection services, string stream, string sql) =>
        services.AddSingleton<Streams.IStreamPositionLoader>(sp =>
            new SqlStreamPositionLoader(sp.GetRequiredService<SynapseDatabase>(), stream, sql));

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

    /// <summary>
    /// For a worker, which never migrates: throws <see cref="SchemaMismatchException"/> unless the database has exactly the
    /// schema this code writes.
    /// </summary>
    public static async Task CheckSynapseSchemaAsync(this IServiceProvider services, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(services);
        int version;
        try
        {
            version = await services.GetRequiredService<SchemaMigrator>().GetVersionAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (System.Data.Common.DbException)
        {
            // No schema_version table: main never ran on this database.
            version = 0;
        }

        if (version != SchemaMigrator.CodeVersion)
        {
            throw new SchemaMismatchException(version, SchemaMigrator.CodeVersion);
        }
    }
}
