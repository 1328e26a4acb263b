using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Pipelines.Sockets.Unofficial;

namespace Synapse.Replication.Tcp;

/// <summary>
/// Main's TCP replication listener (<c>type: replication</c>): accepts workers and hands each connection, as a
/// duplex pipe, to a <see cref="ReplicationServer"/>. With a certificate every connection is TLS.
/// </summary>
public sealed class ReplicationListener : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly ReplicationServer _server;
    private readonly X509Certificate2? _certificate;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _accepting;
    private readonly List<Task> _connections = [];
    private readonly Lock _gate = new();

    private ReplicationListener(Socket socket, ReplicationServer server, X509Certificate2? certificate)
    {
        _socket = socket;
        _server = server;
        _certificate = certificate;
        _accepting = AcceptLoopAsync();
    }

    /// <summary>The address and port it listens on (useful with port 0).</summary>
    public IPEndPoint LocalEndPoint => (IPEndPoint)_socket.LocalEndPoint!;

    /// <summary>Binds and starts accepting.</summary>
    /// <param name="server">Serves the connections.</param>
    /// <param name="endpoint">Where to listen; bind to loopback or a private network, the port carries the streams.</param>
    /// <param name="certificate">A certificate with its private key to make every connection TLS, or null for plain TCP.</param>
    public static ReplicationListener Start(ReplicationServer server, IPEndPoint endpoint, X509Certificate2? certificate = null)
    {
        ArgumentNullException.ThrowIfNull(server);
        ArgumentNullException.ThrowIfNull(endpoint);
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(endpoint);
            socket.Listen(64);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        return new ReplicationListener(socket, server, certificate);
    }

    /// <summary>Stops accepting and closes every connection.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _socket.Dispose();
        Task[] running;
        lock (_gate)
        {
            running = [.. _connections, _accepting];
        }

        try
        {
            await Task.WhenAll(running).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }

        _stopping.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket accepted;
            try
            {
                accepted = await _socket.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            var task = ServeAsync(accepted);
            lock (_gate)
            {
                _connections.RemoveAll(t => t.IsCompleted);
                _connections.Add(task);
            }
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        string remote = socket.RemoteEndPoint?.ToString() ?? "unknown";
        ReplicationTcp.Configure(socket);
        try
        {
            IDuplexPipe pipe;
            if (_certificate is null)
            {
                pipe = SocketConnection.Create(socket);
            }
            else
            {
                var tls = new SslStream(new NetworkStream(socket, ownsSocket: true));
                using var handshake = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
                handshake.CancelAfter(TimeSpan.FromSeconds(10));
                await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = _certificate },
                    handshake.Token).ConfigureAwait(false);
                pipe = StreamConnection.GetDuplex(tls);
            }

            await _server.HandleConnectionAsync(pipe, remote, _stopping.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or System.Security.Authentication.AuthenticationException)
        {
            // A peer that failed the TLS handshake or vanished: nothing was exchanged.
        }
        finally
        {
            socket.Dispose();
        }
    }
}

/// <summary>Opens a worker's TCP (or TLS) transport to main's replication listener.</summary>
public static class ReplicationTcp
{
    /// <summary>Connects to <paramref name="host"/>:<paramref name="port"/>, over TLS when <paramref name="tls"/>.</summary>
    public static ValueTask<IDuplexPipe> ConnectAsync(string host, int port, bool tls, CancellationToken cancellationToken) =>
        ConnectAsync(host, port, tls, null, cancellationToken);

    /// <summary>
    /// Connects over TLS with a custom certificate check (a private CA or a pinned self-signed certificate), or
    /// over plain TCP when <paramref name="tls"/> is false.
    /// </summary>
    public static async ValueTask<IDuplexPipe> ConnectAsync(string host, int port, bool tls,
        RemoteCertificateValidationCallback? validateCertificate, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync(host, port, cancellationToken).ConfigureAwait(false);
            Configure(socket);
            if (!tls)
            {
                return SocketConnection.Create(socket);
            }

            var stream = new SslStream(new NetworkStream(socket, ownsSocket: true), leaveInnerStreamOpen: false, validateCertificate);
            await stream.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = host }, cancellationToken)
                .ConfigureAwait(false);
            return StreamConnection.GetDuplex(stream);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    internal static void Configure(Socket socket)
    {
        socket.NoDelay = true;

        // The OS notices a dead peer too, besides the protocol's ping timeout.
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
    }
}
