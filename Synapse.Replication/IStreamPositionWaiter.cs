namespace Synapse.Replication;

/// <summary>Waits until this process has applied a stream up to a position (read-after-write across processes).</summary>
public interface IStreamPositionWaiter
{
    /// <summary>Completes once <paramref name="stream"/> has been applied up to <paramref name="position"/>.</summary>
    Task WaitForPositionAsync(string stream, long position, CancellationToken cancellationToken);
}
