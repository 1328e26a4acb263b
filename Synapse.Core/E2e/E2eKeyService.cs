using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using Synapse.Accounts;
using Synapse.Caching;
using Synapse.Configuration;
using Synapse.Identifiers;
using Synapse.Json;
using Synapse.Storage;
using Synapse.Streams;
using Synapse.Sync;

namespace Synapse.E2e;

/// <summary>
/// Device identity keys, one-time and fallback keys (Spec: Client-Server API, "Key Distribution"): <c>POST /keys/upload</c>,
/// <c>POST /keys/claim</c>, <c>GET /keys/changes</c>, and the key counts /sync reports to each device.
/// </summary>
/// <remarks>
/// Rules beyond the spec's text, as deployed servers apply them: a device's identity keys (<c>curve25519:*</c>,
/// <c>ed25519:*</c>) never change once uploaded (a changed one is refused: other users' devices have pinned them); an
/// identical re-upload is accepted and changes nothing; a one-time key ID uploaded again with other content is refused, with
/// the same content ignored; <c>one_time_key_counts</c> always carries <c>signed_curve25519</c>, 0 when there are none, since
/// some clients read a missing count as "unknown" and never upload.
/// </remarks>
internal sealed class E2eKeyService
{
    /// <summary>The algorithm whose count is always reported.</summary>
    public const string SignedCurve25519 = "signed_curve25519";

    /// <summary>Fallback keys under their name before the spec adopted MSC2732; clients still send it.</summary>
    private const string UnstableFallbackKeys = "org.matrix.msc2732.fallback_keys";

    /// <summary>Counts are cached per syncing device; past this many entries the cache starts again.</summary>
    private const int MaxCachedCounts = 100_000;

    private const int MaxUploadAttempts = 5;

    private readonly HomeserverOptions _options;
    private readonly IE2eKeyStore _store;
    private readonly IDeviceListStore _deviceListStore;
    private readonly DeviceListService _deviceLists;
    private readonly StreamRegistry _streams;
    private readonly IE2eKeyFederationClient _federation;
    private readonly TimeProvider _time;
    private readonly CacheInvalidationService _caches;

    // Every /sync response carries the device's counts; woken long polls must not each cost a database read. Entries are
    // tied to the access token that read them (a device deleted and created again under the same ID has a new token) and
    // dropped by every upload and claim that touches the device. A reader stores what it read only if no drop happened
    // meanwhile (the generation), and a drop that races the store removes it afterwards.
    private readonly ConcurrentDictionary<(string User, string Device), CachedCounts> _counts = new();
    private long _countsGeneration;

    public E2eKeyService(HomeserverOptions options, IE2eKeyStore store, IDeviceListStore deviceListStore,
        DeviceListService deviceLists, StreamRegistry streams, IE2eKeyFederationClient federation, TimeProvider time,
        CacheInvalidationService caches)
    {
        _caches = caches;
        caches.Register(CacheNames.OneTimeKeyCounts, keys =>
        {
            if (keys.Count == 2)
            {
                DropCounts(keys[0], keys[1]);
            }
        });
        _options = options;
        _store = store;
        _deviceListStore = deviceListStore;
        _deviceLists = deviceLists;
        _streams = streams;
        _federation = federation;
        _time = time;
    }

    /// <summary>POST /keys/upload: stores the keys and returns the device's <c>one_time_key_counts</c>.</summary>
    public async Task<JsonObject> UploadAsync(Requester requester, JsonElement body, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(requester);
        var parsed = ParseUpload(requester, body);
        var userId = requester.UserId;
        var deviceId = requester.DeviceId;
        try
        {
            for (int attempt = 1; ; attempt++)
            {
                string? deviceKeys = null;
                string? stored = null;
                if (parsed.DeviceKeys is { } uploaded)
                {
                    stored = await _store.GetDeviceKeysAsync(userId, deviceId, cancellationToken).ConfigureAwait(false);
                    if (stored is not null && !SameIdentityKeys(stored, uploaded.IdentityKeys))
                    {
                        throw MatrixException.InvalidParam(
                            $"The identity keys of device {deviceId.Value} cannot change; log in as a new device to use new keys");
                    }

                    // Identical keys are not written again, so room-mates are not told of a change that is none.
                    deviceKeys = stored == uploaded.Json ? null : uploaded.Json;
                }

                var upload = new KeyUpload(userId, deviceId, deviceKeys, stored, parsed.OneTimeKeys, parsed.FallbackKeys,
                    _time.GetUtcNow().ToUnixTimeMilliseconds());
                var result = deviceKeys is null
                    ? await _store.UploadKeysAsync(upload, null, cancellationToken).ConfigureAwait(false)
                    : await _deviceLists.WriteAsync(userId, position => _store.UploadKeysAsync(upload, position, cancellationToken),
                        r => r.DeviceKeysWritten ? [deviceId] : [], cancellationToken).ConfigureAwait(false);
                switch (result.Status)
                {
                    case KeyUploadStatus.Stored:
                        return new JsonObject { ["one_time_key_counts"] = OneTimeKeyCountsJson(result.Counts!) };
                    case KeyUploadStatus.OneTimeKeyConflict:
                        throw MatrixException.InvalidParam(
                            $"One-time key {result.ConflictingKey} already exists with different content");
                    case KeyUploadStatus.DeviceKeysChanged when attempt < MaxUploadAttempts:
                        continue;
                    default:
                        throw new InvalidOperationException("The device's keys kept changing during the upload.");
                }
            }
        }
        finally
        {
            await InvalidateCountsAsync([(userId.Value, deviceId.Value)]).ConfigureAwait(false);
        }
    }

    /// <summary>POST /keys/claim: one key per requested device, local ones from the store, remote ones from their servers.</summary>
    public async Task<JsonObject> ClaimAsync(Requester requester, JsonElement body, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(requester);
        var timeout = E2eKeyRequests.ParseTimeout(body);
        if (!body.TryGetProperty("one_time_keys", out var wanted) || wanted.ValueKind == JsonValueKind.Null)
        {
            throw MatrixException.MissingParam("one_time_keys");
        }

        if (wanted.ValueKind != JsonValueKind.Object)
        {
            throw MatrixException.BadJson("'one_time_keys' must be an object of user IDs to objects of device IDs to algorithms");
        }

        var local = new List<KeyClaim>();
        var remote = new Dictionary<string, JsonObject>(StringComparer.Ordinal);
        foreach (var user in wanted.EnumerateObject())
        {
            var userId = E2eKeyRequests.ParseUserId(user.Name);
            if (user.Value.ValueKind != JsonValueKind.Object)
            {
                throw MatrixException.BadJson($"The devices of {user.Name} must be an object of device IDs to algorithms");
            }

            bool isLocal = userId.ServerName == _options.ServerName;
            foreach (var device in user.Value.EnumerateObject())
            {
                if (device.Value.ValueKind != JsonValueKind.String)
                {
                    throw MatrixException.BadJson($"The algorithm for {user.Name} device {device.Name} must be a string");
                }

                string algorithm = device.Value.GetString()!;
                if (isLocal)
                {
                    local.Add(new KeyClaim(userId.Value, device.Name, algorithm));
                }
                else
                {
                    if (!remote.TryGetValue(userId.ServerName, out var request))
                    {
                        request = [];
                        remote[userId.ServerName] = request;
                    }

                    if (request[userId.Value] is not JsonObject devices)
                    {
                        devices = [];
                        request[userId.Value] = devices;
                    }

                    devices[device.Name] = algorithm;
                }
            }
        }

        var remoteCalls = E2eKeyRequests.CallRemoteServersAsync([.. remote.Select(r => (r.Key, r.Value))],
            _federation.ClaimKeysAsync, timeout, cancellationToken);

        var oneTimeKeys = new JsonObject();
        var failures = new JsonObject();
        if (local.Count > 0)
        {
            IReadOnlyList<ClaimedKey> claimed;
            try
            {
                claimed = await _store.ClaimKeysAsync(local, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                await InvalidateCountsAsync([.. local.Select(c => (c.UserId, c.DeviceId)).Distinct()]).ConfigureAwait(false);
            }

            foreach (var key in claimed)
            {
                if (oneTimeKeys[key.UserId] is not JsonObject devices)
                {
                    devices = [];
                    oneTimeKeys[key.UserId] = devices;
                }

                devices[key.DeviceId] = new JsonObject { [key.Algorithm + ":" + key.KeyId] = JsonNode.Parse(key.KeyJson) };
            }
        }

        foreach (var (server, result) in await remoteCalls.ConfigureAwait(false))
        {
            if (result.Body is { } answer)
            {
                if (answer["one_time_keys"] is JsonObject byUser)
                {
                    foreach (var (userId, devices) in byUser)
                    {
                        if (devices is JsonObject && remote[server].ContainsKey(userId)
                            && UserId.TryParse(userId, out var parsed) && parsed.ServerName == server)
                        {
                            oneTimeKeys[userId] = devices.DeepClone();
                        }
                    }
                }
            }
            else
            {
                failures[server] = result.Failure!.DeepClone();
            }
        }

        return new JsonObject { ["one_time_keys"] = oneTimeKeys, ["failures"] = failures };
    }

    /// <summary>
    /// GET /keys/changes: the users whose device lists the requester must refresh between two sync tokens, and those they
    /// stopped sharing every room with. <paramref name="to"/> is capped at the current position; absent, it means now.
    /// </summary>
    public async Task<(IReadOnlyCollection<string> Changed, IReadOnlyCollection<string> Left)> GetChangesAsync(Requester requester,
        string? from, string? to, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(requester);
        var fromToken = SyncToken.Parse(from ?? throw MatrixException.MissingParam("from"));
        var now = _streams.CurrentToken();
        var toToken = to is null ? now : Earlier(SyncToken.Parse(to), now);
        return await DeviceListChanges.ComputeAsync(_deviceListStore, requester.UserId, fromToken, toToken,
            membersMayHaveChanged: null, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The requesting device's key counts, as /sync reports them.</summary>
    public async Task<KeyCounts> GetKeyCountsAsync(Requester requester, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(requester);
        var key = (requester.UserId.Value, requester.DeviceId.Value);
        if (_counts.TryGetValue(key, out var cached) && cached.TokenId == requester.TokenId)
        {
            return cached.Counts;
        }

        long generation = Interlocked.Read(ref _countsGeneration);
        var counts = await _store.GetKeyCountsAsync(requester.UserId, requester.DeviceId, cancellationToken).ConfigureAwait(false);
        if (_counts.Count >= MaxCachedCounts)
        {
            _counts.Clear();
        }

        var entry = new CachedCounts(requester.TokenId, counts);
        _counts[key] = entry;
        if (Interlocked.Read(ref _countsGeneration) != generation)
        {
            _counts.TryRemove(new KeyValuePair<(string, string), CachedCounts>(key, entry));
        }

        return counts;
    }

    /// <summary>
    /// Forgets the cached counts of devices, here and (through the caches stream) in every other process. Every write of a
    /// device's one-time or fallback keys calls it.
    /// </summary>
    private Task InvalidateCountsAsync(IReadOnlyList<(string UserId, string DeviceId)> devices) =>
        _caches.InvalidateAsync(CacheNames.OneTimeKeyCounts, [.. devices.Select(d => (IReadOnlyList<string>)[d.UserId, d.DeviceId])]);

    private void DropCounts(string userId, string deviceId)
    {
        Interlocked.Increment(ref _countsGeneration);
        _counts.TryRemove((userId, deviceId), out _);
    }

    /// <summary>Counts per algorithm, with <c>signed_curve25519</c> always present.</summary>
    public static JsonObject OneTimeKeyCountsJson(KeyCounts counts)
    {
        ArgumentNullException.ThrowIfNull(counts);
        var json = new JsonObject { [SignedCurve25519] = 0 };
        foreach (var (algorithm, count) in counts.OneTimeKeys.OrderBy(c => c.Key, StringComparer.Ordinal))
        {
            json[algorithm] = count;
        }

        return json;
    }

    private static SyncToken Earlier(SyncToken a, SyncToken b) =>
        new([.. StreamRegistry.TokenStreams.Select(s => Math.Min(a[s], b[s]))]);

    private static ParsedUpload ParseUpload(Requester requester, JsonElement body)
    {
        ParsedDeviceKeys? deviceKeys = body.OptionalElement("device_keys") is { } keys ? ParseDeviceKeys(requester, keys) : null;
        var oneTimeKeys = body.OptionalElement("one_time_keys") is { } otks
            ? ParseKeys(otks, "one_time_keys", onePerAlgorithm: false)
            : [];

        // The stable name wins when a client sends both.
        string fallbackName = body.TryGetProperty("fallback_keys", out _) ? "fallback_keys" : UnstableFallbackKeys;
        var fallbackKeys = body.OptionalElement(fallbackName) is { } fallbacks
            ? ParseKeys(fallbacks, fallbackName, onePerAlgorithm: true)
            : [];
        return new ParsedUpload(deviceKeys, oneTimeKeys, fallbackKeys);
    }

    /// <summary>
    /// Checks <c>device_keys</c>' shape (the spec's DeviceKeys) and owner; returns its canonical JSON without <c>unsigned</c>
    /// (which the server fills in on queries) and its identity keys. Signatures are not verified, as deployed servers do not:
    /// the clients that download the keys verify them.
    /// </summary>
    private static ParsedDeviceKeys ParseDeviceKeys(Requester requester, JsonElement keys)
    {
        if (keys.ValueKind != JsonValueKind.Object)
        {
            throw MatrixException.BadJson("'device_keys' must be an object");
        }

        if (keys.RequiredString("user_id") != requester.UserId.Value)
        {
            throw MatrixException.InvalidParam("'device_keys.user_id' must be the user ID of the access token");
        }

        if (keys.RequiredString("device_id") != requester.DeviceId.Value)
        {
            throw MatrixException.InvalidParam("'device_keys.device_id' must be the device ID of the access token");
        }

        keys.RequiredStringArray("algorithms");
        var identityKeys = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var keyMap = keys.OptionalElement("keys") ?? throw MatrixException.MissingParam("keys");
        if (keyMap.ValueKind != JsonValueKind.Object)
        {
            throw MatrixException.BadJson("'device_keys.keys' must be an object of key IDs to keys");
        }

        foreach (var key in keyMap.EnumerateObject())
        {
            var (algorithm, _) = SplitKeyId(key.Name, "device_keys.keys");
            if (key.Value.ValueKind != JsonValueKind.String)
            {
                throw MatrixException.BadJson($"'device_keys.keys.{key.Name}' must be a string");
            }

            if (algorithm is "curve25519" or "ed25519")
            {
                identityKeys[key.Name] = key.Value.GetString()!;
            }
        }

        var signatures = keys.OptionalElement("signatures") ?? throw MatrixException.MissingParam("signatures");
        CheckSignatures(signatures, "device_keys.signatures");

        var withoutUnsigned = JsonObject.Create(keys)!;
        withoutUnsigned.Remove("unsigned");
        string json = CanonicalJson.EncodeToString(JsonSerializer.SerializeToElement(withoutUnsigned), strict: false);
        return new ParsedDeviceKeys(json, identityKeys);
    }

    /// <summary>
    /// One-time or fallback keys: <c>{algorithm}:{keyId}</c> → a key string or a key object (<c>signed_curve25519</c>:
    /// <c>key</c> and <c>signatures</c>).
    /// </summary>
    private static List<UploadedKey> ParseKeys(JsonElement keys, string field, bool onePerAlgorithm)
    {
        if (keys.ValueKind != JsonValueKind.Object)
        {
            throw MatrixException.BadJson($"'{field}' must be an object of key IDs to keys");
        }

        var parsed = new Dictionary<(string, string), UploadedKey>();
        foreach (var key in keys.EnumerateObject())
        {
            var (algorithm, keyId) = SplitKeyId(key.Name, field);
            if (key.Value.ValueKind == JsonValueKind.Object)
            {
                // Spec: KeyObject — "key" and "signatures" are both required.
                if (!key.Value.TryGetProperty("key", out var value))
                {
                    throw MatrixException.MissingParam($"{field}.{key.Name}.key");
                }

                if (value.ValueKind != JsonValueKind.String)
                {
                    throw MatrixException.BadJson($"'{field}.{key.Name}.key' must be a string");
                }

                CheckSignatures(key.Value.OptionalElement("signatures") ?? throw MatrixException.MissingParam($"{field}.{key.Name}.signatures"),
                    $"{field}.{key.Name}.signatures");
            }
            else if (key.Value.ValueKind != JsonValueKind.String)
            {
                throw MatrixException.BadJson($"'{field}.{key.Name}' must be a key string or a key object");
            }

            parsed[(algorithm, keyId)] = new UploadedKey(algorithm, keyId, CanonicalJson.EncodeToString(key.Value, strict: false));
        }

        var list = parsed.Values.ToList();
        if (onePerAlgorithm && list.GroupBy(k => k.Algorithm, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1) is { } twice)
        {
            // Spec: "There can only be at most one key per algorithm uploaded".
            throw MatrixException.InvalidParam($"'{field}' has more than one {twice.Key} key");
        }

        return list;
    }

    private static (string Algorithm, string KeyId) SplitKeyId(string name, string field)
    {
        int colon = name.IndexOf(':', StringComparison.Ordinal);
        return colon > 0 && colon < name.Length - 1
            ? (name[..colon], name[(colon + 1)..])
            : throw MatrixException.InvalidParam($"'{field}' key ID '{name}' must be '<algorithm>:<key id>'");
    }

    /// <summary>Signatures: user ID → key ID → signature.</summary>
    private static void CheckSignatures(JsonElement signatures, string field)
    {
        if (signatures.ValueKind != JsonValueKind.Object)
        {
            throw MatrixException.BadJson($"'{field}' must be an object of user IDs to objects of key IDs to signatures");
        }

        foreach (var signer in signatures.EnumerateObject())
        {
            if (signer.Value.ValueKind != JsonValueKind.Object
                || signer.Value.EnumerateObject().Any(s => s.Value.ValueKind != JsonValueKind.String))
            {
                throw MatrixException.BadJson($"'{field}' must be an object of user IDs to objects of key IDs to signatures");
            }
        }
    }

    /// <summary>Whether stored device keys have exactly the identity keys of an upload.</summary>
    private static bool SameIdentityKeys(string storedJson, SortedDictionary<string, string> uploaded)
    {
        using var stored = JsonDocument.Parse(storedJson);
        var storedKeys = new SortedDictionary<string, string>(StringComparer.Ordinal);
        if (stored.RootElement.TryGetProperty("keys", out var keys) && keys.ValueKind == JsonValueKind.Object)
        {
            foreach (var key in keys.EnumerateObject())
            {
                if ((key.Name.StartsWith("curve25519:", StringComparison.Ordinal) || key.Name.StartsWith("ed25519:", StringComparison.Ordinal))
                    && key.Value.ValueKind == JsonValueKind.String)
                {
                    storedKeys[key.Name] = key.Value.GetString()!;
                }
            }
        }

        return storedKeys.Count == uploaded.Count && storedKeys.All(k => uploaded.TryGetValue(k.Key, out string? v) && v == k.Value);
    }

    private sealed record ParsedDeviceKeys(string Json, SortedDictionary<string, string> IdentityKeys);

    private sealed record ParsedUpload(ParsedDeviceKeys? DeviceKeys, IReadOnlyList<UploadedKey> OneTimeKeys,
        IReadOnlyList<UploadedKey> FallbackKeys);

    private sealed record CachedCounts(long TokenId, KeyCounts Counts);
}
