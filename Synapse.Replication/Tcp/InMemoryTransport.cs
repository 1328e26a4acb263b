using System.IO.Pipelines;

namespace Synapse.Replication.Tcp;

/// <summary>
/// Two connected in-memory duplex pipes: what one side writes the other reads. Tests and benchmarks run the
/// protocol over it without sockets; <see cref="Break"/> cuts the link as a network failure would.
/// </summary>
public sealed class InMemoryTransport
{
    private readonly Pipe _toServer;
    private readonly Pipe _toClient;

    /// <summary>Creates a connected pair.</summary>
    /// <param name="pauseThreshold">Bytes a side may have unread before the writer waits (backpressure); 0 for the default.</param>
    public InMemoryTransport(long pauseThreshold = 0)
    {
        var options = pauseThreshold > 0
            ? new PipeOptions(pauseWriterThreshold: pauseThreshold, resumeWriterThreshold: pauseThreshold / 2, useSynchronizationContext: false)
            : new PipeOptions(useSynchronizationContext: false);
        _toServer = new Pipe(options);
        _toClient = new Pipe(options);
        Server = new End(_toServer.Reader, _toClient.Writer);
        Client = new End(_toClient.Reader, _toServer.Writer);
    }

    /// <summary>Main's end.</summary>
    public IDuplexPipe Server { get; }

    /// <summary>The worker's end.</summary>
    public IDuplexPipe Client { get; }

    /// <summary>Cuts the link: both sides see the other close; nothing in flight arrives.</summary>
    public void Break()
    {
        _toServer.Writer.Complete(new IOException("link broken"));
        _toClient.Writer.Complete(new IOException("link broken"));
        _toServer.Reader.CancelPendingRead();
        _toClient.Reader.CancelPendingRead();
    }

    private sealed class End(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}
