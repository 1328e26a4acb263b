using Microsoft.Extensions.DependencyInjection;

namespace Synapse.Streams;

/// <summary>Loads a stream's highest stored position at start.</summary>
public interface IStreamPositionLoader
{
    /// <summary>The stream.</summary>
    string Stream { get; }

    /// <summary>The highest position already stored (0 when empty, or for streams kept in memory).</summary>
    Task<long> LoadCurrentAsync(CancellationToken cancellationToken);
}

/// <summary>Every stream's <see cref="StreamIdGenerator"/>, created once at start from the stores' positions.</summary>
public sealed class StreamRegistry
{
    /// <summary>The streams whose positions make up the sync token, in token order.</summary>
    public static readonly IReadOnlyList<string> TokenStreams =
    [
        StreamNames.Events, StreamNames.Typing, StreamNames.Receipts, StreamNames.Presence, StreamNames.AccountData,
        StreamNames.ToDevice, StreamNames.DeviceLists, StreamNames.PushRules,
    ];

    /// <summary>Every stream, the token streams first.</summary>
    public static readonly IReadOnlyList<string> AllStreams = [.. TokenStreams, StreamNames.Backfill, StreamNames.Caches];

    private readonly StreamBus _bus;
    private readonly IEnumerable<IStreamPositionLoader> _loaders;
    private Dictionary<string, StreamIdGenerator>? _generators;

    /// <summary>Creates the registry; call <see cref="InitializeAsync"/> before use.</summary>
    public StreamRegistry(StreamBus bus, IEnumerable<IStreamPositionLoader> loaders)
    {
        _bus = bus;
        _loaders = loaders;
    }

    /// <summary>The generator of a stream.</summary>
    public StreamIdGenerator this[string stream] =>
        (_generators ?? throw new InvalidOperationException("Streams are not initialized; call InitializeSynapseStreamsAsync at start."))[stream];

    /// <summary>Reads every stream's stored position and creates the generators.</summary>
    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        var current = AllStreams.ToDictionary(s => s, _ => 0L, StringComparer.Ordinal);
        foreach (var loader in _loaders)
        {
            current[loader.Stream] = Math.Max(current.GetValueOrDefault(loader.Stream),
                await loader.LoadCurrentAsync(cancellationToken).ConfigureAwait(false));
        }

        _generators = current.ToDictionary(kv => kv.Key, kv => new StreamIdGenerator(kv.Key, kv.Value, _bus), StringComparer.Ordinal);
    }

    /// <summary>The current sync token: every token stream's persisted-up-to position.</summary>
    public SyncToken CurrentToken() => new([.. TokenStreams.Select(s => this[s].Current)]);
}

/// <summary>Start-up wiring for the streams.</summary>
public static class StreamServiceProviderExtensions
{
    /// <summary>Initializes every stream from the database; call once after migrations, before serving.</summary>
    public static Task InitializeSynapseStreamsAsync(this IServiceProvider services, CancellationToken cancellationToken = default) =>
        services.GetRequiredService<StreamRegistry>().InitializeAsync(cancellationToken);
}
