using System.Data.Common;
using System.Globalization;
using System.Reflection;
using Microsoft.Extensions.Logging;
using Synapse.Configuration;

namespace Synapse.Storage;

/// <summary>
/// Applies the numbered SQL files under <c>Schema/&lt;engine&gt;/</c> in order, each in its own
/// transaction together with its row in <c>schema_version</c>, and refuses a database whose schema is
/// newer than this code.
/// </summary>
internal sealed partial class SchemaMigrator
{
    // Any constant shared by every process of one deployment; PostgreSQL advisory locks are per database.
    private const long PostgresMigrationLockKey = 0x5359_4e41_5053_45;

    private readonly SynapseDatabase _database;
    private readonly ILogger _logger;

    public SchemaMigrator(SynapseDatabase database, ILogger<SchemaMigrator> logger)
    {
        _database = database;
        _logger = logger;
    }

    /// <summary>The schema version this code writes.</summary>
    public static int CodeVersion => LoadMigrations(DatabaseEngine.Sqlite)[^1].Version;

    /// <summary>Brings the schema up to <see cref="CodeVersion"/>; returns the version found before.</summary>
    public async Task<int> MigrateAsync(CancellationToken cancellationToken)
    {
        var migrations = LoadMigrations(_database.Engine);
        await using var lockConnection = await _database.OpenAsync(cancellationToken).ConfigureAwait(false);
        if (_database.Engine == DatabaseEngine.Postgres)
        {
            // Several processes (main and workers) may start at once; only one migrates.
            await using var take = lockConnection.Command("SELECT pg_advisory_lock(@key)")
                .With("@key", PostgresMigrationLockKey);
            await take.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        try
        {
            await _database.WriteAsync(async (c, t, ct) =>
            {
                await using var create = c.Command(
                    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_ts BIGINT NOT NULL)", t);
                await create.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                return 0;
            }, cancellationToken).ConfigureAwait(false);

            int current = await GetVersionAsync(cancellationToken).ConfigureAwait(false);
            int target = migrations[^1].Version;
            if (current > target)
            {
                throw new SchemaTooNewException(current, target);
            }

            foreach (var migration in migrations.Where(m => m.Version > current))
            {
                await _database.WriteAsync(async (c, t, ct) =>
                {
                    await using (var apply = c.Command(migration.Sql, t))
                    {
                        await apply.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                    }

                    await using var record = c.Command(
                        "INSERT INTO schema_version (version, applied_ts) VALUES (@v, @ts)", t)
                        .With("@v", migration.Version)
                        .With("@ts", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
                    await record.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                    return 0;
                }, cancellationToken).ConfigureAwait(false);
                StorageLog.MigrationApplied(_logger, migration.Name, migration.Version);
            }

            return current;
        }
        finally
        {
            if (_database.Engine == DatabaseEngine.Postgres)
            {
                await using var release = lockConnection.Command("SELECT pg_advisory_unlock(@key)")
                    .With("@key", PostgresMigrationLockKey);
                await release.ExecuteNonQueryAsync(CancellationToken.None).ConfigureAwait(false);
            }
        }
    }

    /// <summary>The highest applied version, 0 for an empty database.</summary>
    public Task<int> GetVersionAsync(CancellationToken cancellationToken) =>
        _database.ReadAsync(async (c, ct) =>
        {
            await using var query = c.Command("SELECT COALESCE(MAX(version), 0) FROM schema_version");
            object? value = await query.ExecuteScalarAsync(ct).ConfigureAwait(false);
            return Convert.ToInt32(value, CultureInfo.InvariantCulture);
        }, cancellationToken);

    internal static IReadOnlyList<Migration> LoadMigrations(DatabaseEngine engine)
    {
        string prefix = "Synapse.Storage.Schema." + (engine == DatabaseEngine.Postgres ? "postgres" : "sqlite") + "/";
        var assembly = typeof(SchemaMigrator).Assembly;
        var migrations = new List<Migration>();
        foreach (string resource in assembly.GetManifestResourceNames())
        {
            if (!resource.StartsWith(prefix, StringComparison.Ordinal))
            {
                continue;
            }

            string name = resource[prefix.Length..];
            int version = int.Parse(name.AsSpan(0, name.IndexOf('_', StringComparison.Ordinal)), CultureInfo.InvariantCulture);
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var reader = new StreamReader(stream);
            migrations.Add(new Migration(version, name, reader.ReadToEnd()));
        }

        migrations.Sort((a, b) => a.Version.CompareTo(b.Version));
        for (int i = 0; i < migrations.Count; i++)
        {
            if (migrations[i].Version != i + 1)
            {
                throw new InvalidOperationException($"Schema migrations must be numbered 1, 2, 3...; found {migrations[i].Name}.");
            }
        }

        return migrations;
    }

    internal sealed record Migration(int Version, string Name, string Sql);
}

/// <summary>The database was written by a newer version of the server; starting would corrupt it.</summary>
public sealed class SchemaTooNewException : Exception
{
    /// <summary>Creates the error.</summary>
    public SchemaTooNewException(int databaseVersion, int codeVersion)
        : base($"The database schema is version {databaseVersion}, but this server only knows versions up to " +
               $"{codeVersion}. It was used by a newer release; run that release or restore a backup.")
    {
        DatabaseVersion = databaseVersion;
        CodeVersion = codeVersion;
    }

    /// <summary>The version recorded in the database.</summary>
    public int DatabaseVersion { get; }

    /// <summary>The newest version this code knows.</summary>
    public int CodeVersion { get; }
}

/// <summary>A worker found a database schema other than its own; workers never migrate, main does.</summary>
public sealed class SchemaMismatchException : Exception
{
    /// <summary>Creates the error.</summary>
    public SchemaMismatchException(int databaseVersion, int codeVersion)
        : base(databaseVersion == 0
            ? $"The database has no schema yet; this worker needs version {codeVersion}. Start main first: it creates the schema, workers never do."
            : $"The database schema is version {databaseVersion}, but this worker runs version {codeVersion}. Workers never migrate: "
              + "run main and workers of the same release, starting main first.")
    {
        DatabaseVersion = databaseVersion;
        CodeVersion = codeVersion;
    }

    /// <summary>The version recorded in the database (0: none).</summary>
    public int DatabaseVersion { get; }

    /// <summary>The version this code writes.</summary>
    public int CodeVersion { get; }
}
