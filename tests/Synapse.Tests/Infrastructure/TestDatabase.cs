using Npgsql;
using Synapse.Configuration;

namespace Synapse.Tests.Infrastructure;

/// <summary>The engines every storage and HTTP test runs on.</summary>
public sealed class Engines : TheoryData<DatabaseEngine>
{
    public Engines()
    {
        Add(DatabaseEngine.Sqlite);
        Add(DatabaseEngine.Postgres);
    }
}

/// <summary>
/// A fresh, empty database per test: a temp SQLite file, or a new database in the PostgreSQL cluster that
/// scripts/test.sh started (SYNAPSE_TEST_PG_HOST/PORT/USER). Dropped again on dispose.
/// </summary>
public sealed class TestDatabase : IAsyncDisposable
{
    private readonly string? _directory;
    private readonly string? _postgresName;

    private TestDatabase(DatabaseOptions options, string? directory, string? postgresName)
    {
        Options = options;
        _directory = directory;
        _postgresName = postgresName;
    }

    public DatabaseOptions Options { get; }

    public static async Task<TestDatabase> CreateAsync(DatabaseEngine engine)
    {
        if (engine == DatabaseEngine.Sqlite)
        {
            string directory = Directory.CreateTempSubdirectory("synapse-test-").FullName;
            return new TestDatabase(new DatabaseOptions
            {
                Engine = DatabaseEngine.Sqlite,
                SqlitePath = Path.Combine(directory, "homeserver.db"),
            }, directory, null);
        }

        string name = "synapse_test_" + Guid.NewGuid().ToString("N");
        await using (var admin = await OpenAdminAsync())
        {
            await using var create = new NpgsqlCommand($"CREATE DATABASE {name}", admin);
            await create.ExecuteNonQueryAsync();
        }

        return new TestDatabase(new DatabaseOptions
        {
            Engine = DatabaseEngine.Postgres,
            Host = Host,
            Port = Port,
            User = User,
            DatabaseName = name,
            MinPoolSize = 1,
            MaxPoolSize = 20,
        }, null, name);
    }

    public async ValueTask DisposeAsync()
    {
        if (_postgresName is not null)
        {
            NpgsqlConnection.ClearAllPools();
            await using var admin = await OpenAdminAsync();
            await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {_postgresName} WITH (FORCE)", admin);
            await drop.ExecuteNonQueryAsync();
        }

        if (_directory is not null)
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            try
            {
                Directory.Delete(_directory, recursive: true);
            }
            catch (IOException)
            {
                // A file still open by a lingering pooled connection; the temp dir is cleaned by the OS.
            }
        }
    }

    private static string Host => Environment.GetEnvironmentVariable("SYNAPSE_TEST_PG_HOST") ?? throw NotConfigured();

    private static int Port => int.Parse(Environment.GetEnvironmentVariable("SYNAPSE_TEST_PG_PORT") ?? throw NotConfigured(),
        System.Globalization.CultureInfo.InvariantCulture);

    private static string User => Environment.GetEnvironmentVariable("SYNAPSE_TEST_PG_USER") ?? "postgres";

    private static async Task<NpgsqlConnection> OpenAdminAsync()
    {
        var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder
        {
            Host = Host, Port = Port, Username = User, Database = "postgres", Pooling = false,
        }.ToString());
        await connection.OpenAsync();
        return connection;
    }

    private static InvalidOperationException NotConfigured() => new(
        "PostgreSQL tests need SYNAPSE_TEST_PG_HOST and SYNAPSE_TEST_PG_PORT: run ./scripts/test.sh, which starts a throwaway cluster.");
}
