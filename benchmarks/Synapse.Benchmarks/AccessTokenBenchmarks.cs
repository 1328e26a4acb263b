using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Synapse.Accounts;
using Synapse.Configuration;
using Synapse.Identifiers;
using Synapse.Storage;

namespace Synapse.Benchmarks;

/// <summary>
/// Authentication is on every request: a cache hit must cost next to nothing; a miss costs one indexed
/// query (measured on SQLite, the embedded default).
/// </summary>
[MemoryDiagnoser]
public class AccessTokenBenchmarks
{
    private ServiceProvider _services = null!;
    private AuthenticationService _authentication = null!;
    private IAccountStore _store = null!;
    private string _token = null!;
    private string _tokenHash = null!;
    private string _directory = null!;

    [GlobalSetup]
    public async Task SetupAsync()
    {
        _directory = Directory.CreateTempSubdirectory("synapse-bench-").FullName;
        var options = new HomeserverOptions
        {
            ServerName = "bench.local",
            Listeners = [],
            Database = new DatabaseOptions { Engine = DatabaseEngine.Sqlite, SqlitePath = Path.Combine(_directory, "bench.db") },
            SigningKeyPath = Path.Combine(_directory, "key"),
        };
        _services = new ServiceCollection()
            .AddSingleton<ILoggerFactory>(NullLoggerFactory.Instance)
            .AddSingleton(typeof(ILogger<>), typeof(NullLogger<>))
            .AddSingleton(options)
            .AddSingleton(TimeProvider.System)
            .AddSingleton<DeviceActivityRecorder>()
            .AddSingleton<AuthenticationService>()
            .AddSynapseStorage(options.Database)
            .BuildServiceProvider();
        await _services.MigrateSynapseDatabaseAsync();
        _store = _services.GetRequiredService<IAccountStore>();
        var user = UserId.Parse("@bench:bench.local");
        await _store.CreateUserAsync(new NewUser(user, null, false, false, null, null, 0), default);
        _token = AccessTokens.Generate(user);
        _tokenHash = AccessTokens.Hash(_token);
        await _store.AddDeviceAndTokenAsync(user, DeviceId.Parse("BENCH"), null, _tokenHash, 1, default);
        _authentication = _services.GetRequiredService<AuthenticationService>();
    }

    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        await _services.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }

    [Benchmark(Baseline = true, Description = "hash token (SHA-256)")]
    public string HashToken() => AccessTokens.Hash(_token);

    [Benchmark(Description = "authenticate, cache hit")]
    public Task<Requester> AuthenticateCached() => _authentication.AuthenticateAsync(_token, "127.0.0.1", "bench", default);

    [Benchmark(Description = "token lookup in SQLite (cache miss)")]
    public Task<AccessTokenOwner?> LookupInDatabase() => _store.FindAccessTokenAsync(_tokenHash, default);
}
