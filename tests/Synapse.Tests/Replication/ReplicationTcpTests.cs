using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using Synapse.Replication.Tcp;
using Synapse.Streams;

namespace Synapse.Tests.Replication;

/// <summary>Main and a worker over real loopback TCP (and TLS).</summary>
public sealed class ReplicationTcpTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Loopback_CatchUpThenLiveRows_ThenMainListenerRestart_NothingLostOrDuplicated(bool tls)
    {
        using var certificate = tls ? SelfSigned() : null;
        var main = await TestMain.StartAsync();
        for (int i = 1; i <= 5_000; i++)
        {
            main.Write(StreamNames.Events, new JsonObject { ["n"] = i });
        }

        var listener = ReplicationListener.Start(main.Server, new IPEndPoint(IPAddress.Loopback, 0), certificate);
        int port = listener.LocalEndPoint.Port;
        await using var worker = await StartWorkerAsync(main, port, certificate, TestMain.Secret);
        await Eventually.TrueAsync(() => worker.Streams[StreamNames.Events].Current == 5_000, "the worker caught up over TCP");
        for (int i = 5_001; i <= 6_000; i++)
        {
            main.Write(StreamNames.Events, new JsonObject { ["n"] = i });
        }

        await Eventually.TrueAsync(() => worker.Streams[StreamNames.Events].Current == 6_000, "live rows arrived over TCP");

        // The listener goes away (main stopping) and comes back on the same port; rows written meanwhile are pulled.
        await listener.DisposeAsync();
        for (int i = 6_001; i <= 6_500; i++)
        {
            main.Write(StreamNames.Events, new JsonObject { ["n"] = i });
        }

        await using var again = ReplicationListener.Start(main.Server, new IPEndPoint(IPAddress.Loopback, port), certificate);
        await Eventually.TrueAsync(() => worker.Streams[StreamNames.Events].Current == 6_500, "the worker reconnected and caught up");
        var numbers = worker.Applied.SelectMany(u => u.Rows).Select(r => r.Data["n"]!.ToJsonString()).ToList();
        Assert.Equal(Enumerable.Range(1, 6_500).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)), numbers);
        await main.DisposeAsync();
    }

    [Fact]
    public async Task Loopback_WrongSecret_WorkerGetsNothing()
    {
        await using var main = await TestMain.StartAsync();
        main.Write(StreamNames.Events, new JsonObject { ["n"] = 1 });
        await using var listener = ReplicationListener.Start(main.Server, new IPEndPoint(IPAddress.Loopback, 0));
        await using var worker = await StartWorkerAsync(main, listener.LocalEndPoint.Port, null, "not the secret");
        await Eventually.TrueAsync(() => worker.Connects >= 2, "the refused worker retried");
        Assert.Equal(0, worker.Streams[StreamNames.Events].Current);
        Assert.Empty(main.Server.Peers);
    }

    private static X509Certificate2 SelfSigned()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1));
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
    }

    private static async Task<TcpWorker> StartWorkerAsync(TestMain main, int port, X509Certificate2? pinned, string secret)
    {
        var bus = new StreamBus();
        var streams = new StreamRegistry(bus, []);
        await streams.InitializeAsync(CancellationToken.None);
        var worker = new TcpWorker(streams);
        var client = new ReplicationClient(
            new ReplicationClientOptions
            {
                ServerName = "test.local",
                InstanceName = "tcp-worker",
                Secret = secret,
                MinReconnectDelay = TimeSpan.FromMilliseconds(20),
                MaxReconnectDelay = TimeSpan.FromMilliseconds(200),
                Connect = ct =>
                {
                    Interlocked.Increment(ref worker.ConnectCount);
                    // The test's self-signed certificate is pinned: exactly it is accepted.
                    return ReplicationTcp.ConnectAsync("localhost", port, pinned is not null,
                        (_, presented, _, _) => presented is not null && pinned is not null && presented.GetCertHashString() == pinned.GetCertHashString(), ct);
                },
            },
            streams, bus, main.Log.Sources([.. StreamRegistry.AllStreams]), NullLogger<ReplicationClient>.Instance);
        bus.Subscribe(u =>
        {
            if (u.Stream == StreamNames.Events && u.Rows.Count > 0)
            {
                lock (worker.Applied)
                {
                    worker.Applied.Add(u);
                }
            }
        });
        worker.Start(client);
        return worker;
    }

    private sealed class TcpWorker(StreamRegistry streams) : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stopping = new();
        private Task _running = Task.CompletedTask;

        public int ConnectCount;

        public StreamRegistry Streams { get; } = streams;

        public List<StreamUpdate> Applied { get; } = [];

        public int Connects => Volatile.Read(ref ConnectCount);

        public void Start(ReplicationClient client) => _running = Task.Run(() => client.RunAsync(_stopping.Token));

        public async ValueTask DisposeAsync()
        {
            await _stopping.CancelAsync();
            await _running;
            _stopping.Dispose();
        }
    }
}
