namespace Synapse.Streams;

/// <summary>
/// The in-process stream bus: writers publish (through <see cref="StreamIdGenerator"/>), consumers subscribe.
/// On a worker, the replication client will publish what it receives here, so consumers work the same
/// in every process.
/// </summary>
public sealed class StreamBus
{
    private volatile Action<StreamUpdate>[] _subscribers = [];
    private readonly Lock _gate = new();

    /// <summary>Adds a consumer. It is called synchronously, in position order per stream; keep it fast.</summary>
    public void Subscribe(Action<StreamUpdate> subscriber)
    {
        lock (_gate)
        {
            _subscribers = [.. _subscribers, subscriber];
        }
    }

    /// <summary>Delivers an update to every consumer.</summary>
    public void Publish(StreamUpdate update)
    {
        foreach (var subscriber in _subscribers)
        {
            subscriber(update);
        }
    }
}
