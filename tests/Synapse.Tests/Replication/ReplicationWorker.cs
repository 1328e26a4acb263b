using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Synapse.Accounts;
using Synapse.Caching;
using Synapse.Configuration;
using Synapse.Http;
using Synapse.Replication;
using Synapse.Replication.Http;
using Synapse.Replication.Tcp;
using Synapse.Storage;
using Synapse.Streams;
using Synapse.Tests.Infrastructure;

namespace Synapse.Tests.Replication;

/// <summary>A real main process for replication tests: a client+replication HTTP listener and a TCP replication listener.</summary>
internal static class ReplicationMain
{
    /// <summary>The shared secret of main and its workers.</summary>
    public const string Secret = "worker-secret";

    /// <summary>Starts main on free ports.</summary>
    public static Task<TestHomeserver> StartAsync(DatabaseEngine engine) =>
        TestHomeserver.StartAsync(engine, o => Options(o, httpResources: ["client", "replication"]));

    /// <summary>The test options with replication listeners (fixed ports when given, else free ones) and the secret.</summary>
    public static HomeserverOptions Options(HomeserverOptions o, string[] httpResources, int httpPort = 0, int replicationPort = 0) => new()
    {
        ServerName = o.ServerName,
        Listeners =
        [
            new ListenerOptions { Port = httpPort, BindAddresses = ["127.0.0.1"], Type = "http", Resources = new HashSet<string>(httpResources) },
            new ListenerOptions { Port = replicationPort, BindAddresses = ["127.0.0.1"], Type = ListenerOptions.ReplicationType, Resources = new HashSet<string>() },
        ],
        Database = o.Database, SigningKeyPath = o.SigningKeyPath, Password = o.Password, RcLogin = o.RcLogin,
        RcRegistration = o.RcRegistration, EnableRegistration = true, EnableRegistrationWithoutVerification = true,
        RegistrationSharedSecret = o.RegistrationSharedSecret, WorkerReplicationSecret = Secret,
    };
}

/// <summary>
/// A worker's replication side in this process: its own stream registry following main over the real TCP listener
/// (database streams paged from the shared database, typing from main over HTTP), and an HTTP replication client
/// that waits on it.
/// </summary>
internal sealed class ReplicationWorker : IAsyncDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentQueue<StreamUpdate> _applied = new();
    private readonly HttpClient _httpClient = new();
    private Task _running = Task.CompletedTask;

    private readonly ServiceProvider _services;

    private ReplicationWorker(StreamRegistry streams, ServiceProvider services)
    {
        Streams = streams;
        _services = services;
    }

    public StreamRegistry Streams { get; }

    /// <summary>The worker's services (its own registration, sessions, caches...).</summary>
    public IServiceProvider Services => _services;

    public ReplicationHttpClient Http { get; private set; } = null!;

    public ReplicationClient Stream { get; private set; } = null!;

    public IReadOnlyList<StreamRow> Applied(string stream) => [.. _applied.Where(u => u.Stream == stream).SelectMany(u => u.Rows)];

    public static async Task<ReplicationWorker> StartAsync(TestHomeserver main)
    {
        // The worker's own services over the shared database, as a worker process has: its stream sources must not
        // depend on main's process, which tests restart.
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSynapseHomeserver(main.Options);
        services.AddSynapseStorage(main.Options.Database);

        // The seams a worker replaces: accounts and sessions are written by main, cache invalidations go to main.
        ReplicationWorker? self = null;
        services.AddSingleton<IAccountWriter>(_ => new RemoteAccountWriter(self!.Http));
        services.AddSingleton<ICacheInvalidationSink>(_ => new ReplicationCacheInvalidationSink(self!.Stream));
        var provider = services.BuildServiceProvider();
        await provider.InitializeSynapseStreamsAsync();
        var streams = provider.GetRequiredService<StreamRegistry>();
        var bus = provider.GetRequiredService<StreamBus>();
        var worker = new ReplicationWorker(streams, provider);
        self = worker;
        bus.Subscribe(worker._applied.Enqueue);
        var httpOptions = new ReplicationHttpClientOptions { MainUri = main.BaseAddress, Secret = ReplicationMain.Secret };
        var sources = provider.GetServices<IStreamSource>()
            .Where(s => s.Stream != StreamNames.Typing)
            .Append(new HttpStreamSource(StreamNames.Typing, worker._httpClient, httpOptions, streams, NullLogger<ReplicationHttpClient>.Instance))
            .ToList();
        var endpoint = main.Services.GetRequiredService<ReplicationListeners>().EndPoints[0];
        var stream = new ReplicationClient(
            new ReplicationClientOptions
            {
                ServerName = TestHomeserver.ServerName,
                InstanceName = "worker1",
                Secret = ReplicationMain.Secret,
                Connect = ct => ReplicationTcp.ConnectAsync("127.0.0.1", endpoint.Port, tls: false, ct),
            },
            streams, bus, sources, NullLogger<ReplicationClient>.Instance);
        worker.Stream = stream;
        worker.Http = new ReplicationHttpClient(worker._httpClient, httpOptions, stream, NullLogger<ReplicationHttpClient>.Instance);
        worker._running = Task.Run(() => stream.RunAsync(worker._stopping.Token));
        await stream.WaitUntilConnectedAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
        return worker;
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        try
        {
            await _running;
        }
        catch (OperationCanceledException)
        {
        }

        _httpClient.Dispose();
        _stopping.Dispose();
        await _services.DisposeAsync();
    }
}
