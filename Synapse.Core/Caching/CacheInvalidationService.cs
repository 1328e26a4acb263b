using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Synapse.Streams;

namespace Synapse.Caching;

/// <summary>The caches that follow the caches stream, by the name their invalidations carry.</summary>
internal static class CacheNames
{
    /// <summary>Access token hash → requester (<see cref="Accounts.AuthenticationService"/>); keys: [token hash].</summary>
    public const string AccessTokens = "access_tokens";

    /// <summary>A device's one-time key counts (<see cref="E2e.E2eKeyService"/>); keys: [user ID, device ID].</summary>
    public const string OneTimeKeyCounts = "one_time_key_counts";
}

/// <summary>
/// Drops cache entries in this process and has every other process drop them (DESIGN.md §3, "cache invalidation"): a
/// cache registers what dropping one of its entries means; a writer calls <see cref="InvalidateAsync"/> after the change is
/// stored; entries that other processes invalidate arrive on the caches stream and are dropped here the same way.
/// </summary>
internal sealed partial class CacheInvalidationService
{
    private readonly ConcurrentDictionary<string, Action<IReadOnlyList<string>>> _caches = new(StringComparer.Ordinal);
    private readonly ICacheInvalidationSink _sink;
    private readonly ILogger<CacheInvalidationService> _logger;

    public CacheInvalidationService(StreamBus bus, ICacheInvalidationSink sink, ILogger<CacheInvalidationService> logger)
    {
        ArgumentNullException.ThrowIfNull(bus);
        _sink = sink;
        _logger = logger;
        bus.Subscribe(OnUpdate);
    }

    /// <summary>Registers how to drop one entry of <paramref name="cache"/> from its key parts.</summary>
    public void Register(string cache, Action<IReadOnlyList<string>> drop)
    {
        if (!_caches.TryAdd(cache, drop))
        {
            throw new InvalidOperationException($"The cache {cache} is registered already.");
        }
    }

    /// <summary>
    /// Drops the entries here at once, then tells the other processes (the caches stream). Call after the change is
    /// committed; the publication is not cancelled with the request, since the change it follows is not either.
    /// </summary>
    public async Task InvalidateAsync(string cache, IReadOnlyList<IReadOnlyList<string>> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        if (entries.Count == 0)
        {
            return;
        }

        foreach (var keys in entries)
        {
            Drop(cache, keys);
        }

        await _sink.PublishAsync(cache, entries, CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>The stream row of one dropped entry, in the shape Synapse's caches stream uses.</summary>
    internal static StreamRow Row(string cache, IReadOnlyList<string> keys) =>
        new(new JsonObject { ["cache_func"] = cache, ["keys"] = new JsonArray([.. keys.Select(k => (JsonNode?)k)]) }, []);

    private void OnUpdate(StreamUpdate update)
    {
        if (update.Stream != StreamNames.Caches)
        {
            return;
        }

        foreach (var row in update.Rows)
        {
            if (row.Data["cache_func"] is JsonValue name && name.TryGetValue(out string? cache)
                && row.Data["keys"] is JsonArray array && array.All(k => k is JsonValue v && v.GetValueKind() == JsonValueKind.String))
            {
                Drop(cache, [.. array.Select(k => k!.GetValue<string>())]);
            }
            else
            {
                Log.BadRow(_logger, update.Position);
            }
        }
    }

    private void Drop(string cache, IReadOnlyList<string> keys)
    {
        // A cache nobody in this process created holds nothing to drop.
        if (_caches.TryGetValue(cache, out var drop))
        {
            drop(keys);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4701, Level = LogLevel.Warning, Message = "Ignoring a malformed caches stream row at {Position}")]
        public static partial void BadRow(ILogger logger, long position);
    }
}
