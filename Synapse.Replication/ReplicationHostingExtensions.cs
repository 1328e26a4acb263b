using System.Net;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Synapse.Configuration;
using Synapse.Replication.Tcp;
using Synapse.Streams;

namespace Synapse.Replication;

/// <summary>Composes the main process's side of replication into an ASP.NET Core host.</summary>
public static class ReplicationHostingExtensions
{
    /// <summary>
    /// Adds the <see cref="ReplicationServer"/> and a TCP listener for every <c>type: replication</c> listener in
    /// <paramref name="options"/> (TLS when the listener says <c>tls: true</c>). Nothing is added when there is none.
    /// The listeners open when the host starts, after the streams were initialized.
    /// </summary>
    public static IServiceCollection AddSynapseReplicationMain(this IServiceCollection services, HomeserverOptions options)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(options);
        if (!options.Listeners.Any(l => l.Type == ListenerOptions.ReplicationType))
        {
            return services;
        }

        string secret = options.WorkerReplicationSecret
            ?? throw new ArgumentException("A replication listener needs worker_replication_secret.", nameof(options));
        services.AddSingleton(sp => new ReplicationServer(
            new ReplicationServerOptions { ServerName = options.ServerName, Secret = secret },
            sp.GetRequiredService<StreamRegistry>(),
            sp.GetRequiredService<StreamBus>(),
            sp.GetRequiredService<ILogger<ReplicationServer>>(),
            sp.GetService<TimeProvider>()));
        services.AddSingleton<WorkerCommandHandler>();
        services.AddHostedService(sp => sp.GetRequiredService<WorkerCommandHandler>());
        services.AddSingleton<ReplicationListeners>();
        services.AddHostedService(sp => sp.GetRequiredService<ReplicationListeners>());
        return services;
    }
}

/// <summary>The main process's open replication TCP listeners.</summary>
public sealed class ReplicationListeners(HomeserverOptions options, IServiceProvider services) : IHostedService, IAsyncDisposable
{
    private readonly List<ReplicationListener> _open = [];

    /// <summary>Where they listen (ports resolved, for port 0), once started.</summary>
    public IReadOnlyList<IPEndPoint> EndPoints => [.. _open.Select(l => l.LocalEndPoint)];

    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken)
    {
        var server = services.GetRequiredService<ReplicationServer>();
        try
        {
            foreach (var listener in options.Listeners.Where(l => l.Type == ListenerOptions.ReplicationType))
            {
                X509Certificate2? certificate = listener.Tls
                    ? X509Certificate2.CreateFromPemFile(options.TlsCertificatePath!, options.TlsPrivateKeyPath)
                    : null;
                foreach (string address in listener.BindAddresses)
                {
                    _open.Add(ReplicationListener.Start(server, new IPEndPoint(IPAddress.Parse(address), listener.Port), certificate));
                }
            }
        }
        catch
        {
            // Half-open is worse than not started: the host reports the failure and stops.
            StopAsync(CancellationToken.None).GetAwaiter().GetResult();
            throw;
        }

        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        foreach (var listener in _open)
        {
            await listener.DisposeAsync().ConfigureAwait(false);
        }

        _open.Clear();
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => new(StopAsync(CancellationToken.None));
}
