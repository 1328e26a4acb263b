using System.Data;
using System.Data.Common;
using Microsoft.Data.Sqlite;
using Npgsql;
using Synapse.Configuration;

namespace Synapse.Storage;

/// <summary>
/// One database, either engine. Stores run their SQL through <see cref="ReadAsync{T}"/> and
/// <see cref="WriteAsync{T}"/>, which hide the engines' different concurrency rules: PostgreSQL runs
/// transactions in parallel from one pooled data source; SQLite allows a single writer, so write
/// transactions are serialised here instead of failing with SQLITE_BUSY.
/// </summary>
internal sealed class SynapseDatabase : IAsyncDisposable
{
    private readonly NpgsqlDataSource? _postgres;
    private readonly string? _sqliteConnectionString;
    private readonly SemaphoreSlim _sqliteWriter = new(1, 1);

    private SynapseDatabase(DatabaseEngine engine, NpgsqlDataSource? postgres, string? sqliteConnectionString)
    {
        Engine = engine;
        _postgres = postgres;
        _sqliteConnectionString = sqliteConnectionString;
    }

    public DatabaseEngine Engine { get; }

    public static SynapseDatabase Create(DatabaseOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Engine == DatabaseEngine.Postgres)
        {
            var builder = new NpgsqlConnectionStringBuilder
            {
                Host = options.Host ?? "localhost",
                Port = options.Port,
                Username = options.User,
                Password = options.Password,
                Database = options.DatabaseName,
                MinPoolSize = options.MinPoolSize,
                MaxPoolSize = options.MaxPoolSize,
                ApplicationName = "synapse-dotnet",
            };
            return new SynapseDatabase(DatabaseEngine.Postgres, NpgsqlDataSource.Create(builder), null);
        }

        string path = options.SqlitePath ?? throw new ArgumentException("SQLite needs a database path.", nameof(options));
        if (path != ":memory:")
        {
            string? directory = Path.GetDirectoryName(Path.GetFullPath(path));
            if (directory is not null)
            {
                Directory.CreateDirectory(directory);
            }
        }

        var sqlite = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Cache = SqliteCacheMode.Private,
            Pooling = true,
            DefaultTimeout = 30,
        };
        return new SynapseDatabase(DatabaseEngine.Sqlite, null, sqlite.ToString());
    }

    /// <summary>Runs <paramref name="work"/> on a connection without a transaction (reads).</summary>
    public async Task<T> ReadAsync<T>(Func<DbConnection, CancellationToken, Task<T>> work,
        CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        return await work(connection, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Runs <paramref name="work"/> in one transaction, committed when it returns.</summary>
    public async Task<T> WriteAsync<T>(Func<DbConnection, DbTransaction, CancellationToken, Task<T>> work,
        CancellationToken cancellationToken)
    {
        bool serialised = Engine == DatabaseEngine.Sqlite;
        if (serialised)
        {
            await _sqliteWriter.WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        try
        {
            await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
            await using var transaction = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted,
                cancellationToken).ConfigureAwait(false);
            T result = await work(connection, transaction, cancellationToken).ConfigureAwait(false);

            // Commit must not be abandoned half-way by a cancelled request: the caller may already
            // have acted on the result.
            await transaction.CommitAsync(CancellationToken.None).ConfigureAwait(false);
            return result;
        }
        finally
        {
            if (serialised)
            {
                _sqliteWriter.Release();
            }
        }
    }

    public async Task<DbConnection> OpenAsync(CancellationToken cancellationToken)
    {
        if (_postgres is not null)
        {
            return await _postgres.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        }

        var connection = new SqliteConnection(_sqliteConnectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);

            // WAL lets readers run beside the one writer; FULL syncs the WAL at every commit so that an
            // acknowledged write survives a power cut, not only a process crash.
            await using var pragma = connection.CreateCommand();
            pragma.CommandText = "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=30000;";
            await pragma.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_postgres is not null)
        {
            await _postgres.DisposeAsync().ConfigureAwait(false);
        }

        _sqliteWriter.Dispose();
    }
}
