using Microsoft.Extensions.DependencyInjection;
using Synapse.Configuration;
using Synapse.Storage;
using Synapse.Tests.Infrastructure;

namespace Synapse.Tests.Storage;

public sealed class SchemaMigratorTests
{
    [Theory, ClassData(typeof(Engines))]
    public async Task Migrate_RunTwice_SecondRunAppliesNothing(DatabaseEngine engine)
    {
        var (services, database) = await AccountStoreTests.OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;
        var migrator = services.GetRequiredService<SchemaMigrator>();

        int before = await migrator.MigrateAsync(default);

        Assert.Equal(SchemaMigrator.CodeVersion, before);
        Assert.Equal(SchemaMigrator.CodeVersion, await migrator.GetVersionAsync(default));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Migrate_DatabaseFromNewerRelease_RefusesWithClearError(DatabaseEngine engine)
    {
        var (services, database) = await AccountStoreTests.OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;
        var db = services.GetRequiredService<SynapseDatabase>();
        await db.WriteAsync(async (c, t, ct) =>
        {
            await using var insert = c.Command("INSERT INTO schema_version (version, applied_ts) VALUES (999, 0)", t);
            return await insert.ExecuteNonQueryAsync(ct);
        }, default);

        var error = await Assert.ThrowsAsync<SchemaTooNewException>(
            () => services.GetRequiredService<SchemaMigrator>().MigrateAsync(default));

        Assert.Equal(999, error.DatabaseVersion);
        Assert.Contains("newer release", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Migrations_BothEngines_HaveTheSameVersions()
    {
        var sqlite = SchemaMigrator.LoadMigrations(DatabaseEngine.Sqlite).Select(m => m.Name);
        var postgres = SchemaMigrator.LoadMigrations(DatabaseEngine.Postgres).Select(m => m.Name);

        Assert.NotEmpty(sqlite);
        Assert.Equal(sqlite, postgres);
    }
}
