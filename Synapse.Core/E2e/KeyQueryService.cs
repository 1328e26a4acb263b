using System.Text.Json;
using System.Text.Json.Nodes;
using Synapse.Accounts;
using Synapse.Configuration;
using Synapse.Identifiers;
using Synapse.Storage;

namespace Synapse.E2e;

/// <summary>
/// <c>POST /keys/query</c> (Spec: Client-Server API, "Tracking the device list for a user"): the device keys of local users
/// from the store, cross-signing keys and extra signatures from the <see cref="IKeyQueryContributor"/>s, and remote users'
/// keys from their servers through <see cref="IE2eKeyFederationClient"/>, with a <c>failures</c> entry for each server that
/// could not answer.
/// </summary>
internal sealed class KeyQueryService
{
    private readonly HomeserverOptions _options;
    private readonly IE2eKeyStore _store;
    private readonly IE2eKeyFederationClient _federation;
    private readonly IEnumerable<IKeyQueryContributor> _contributors;

    public KeyQueryService(HomeserverOptions options, IE2eKeyStore store, IE2eKeyFederationClient federation,
        IEnumerable<IKeyQueryContributor> contributors)
    {
        _options = options;
        _store = store;
        _federation = federation;
        _contributors = contributors;
    }

    public async Task<JsonObject> QueryAsync(Requester requester, JsonElement body, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(requester);
        var timeout = E2eKeyRequests.ParseTimeout(body);
        var query = Parse(body);

        var local = new Dictionary<UserId, IReadOnlyList<string>>();
        var remote = new Dictionary<string, JsonObject>(StringComparer.Ordinal);
        foreach (var (userId, devices) in query)
        {
            if (userId.ServerName == _options.ServerName)
            {
                local[userId] = devices;
            }
            else
            {
                if (!remote.TryGetValue(userId.ServerName, out var request))
                {
                    request = [];
                    remote[userId.ServerName] = request;
                }

                request[userId.Value] = new JsonArray([.. devices.Select(d => (JsonNode)JsonValue.Create(d))]);
            }
        }

        // Remote servers are asked first, so that they answer while the local half runs.
        var remoteCalls = E2eKeyRequests.CallRemoteServersAsync([.. remote.Select(r => (r.Key, r.Value))],
            _federation.QueryKeysAsync, timeout, cancellationToken);

        var response = new KeyQueryResponse();
        if (local.Count > 0)
        {
            await AddLocalDeviceKeysAsync(local, response, cancellationToken).ConfigureAwait(false);
            var context = new KeyQueryContext { Requester = requester, LocalUsers = local };
            foreach (var contributor in _contributors)
            {
                await contributor.ContributeAsync(context, response, cancellationToken).ConfigureAwait(false);
            }
        }

        foreach (var (server, result) in await remoteCalls.ConfigureAwait(false))
        {
            if (result.Body is { } answer)
            {
                AddRemote(server, remote[server], answer, response);
            }
            else
            {
                response.Failures[server] = result.Failure!.DeepClone();
            }
        }

        return response.Build();
    }

    /// <summary><c>device_keys</c>: user ID → array of device IDs (empty for every device).</summary>
    private static Dictionary<UserId, IReadOnlyList<string>> Parse(JsonElement body)
    {
        if (!body.TryGetProperty("device_keys", out var deviceKeys) || deviceKeys.ValueKind == JsonValueKind.Null)
        {
            throw MatrixException.MissingParam("device_keys");
        }

        if (deviceKeys.ValueKind != JsonValueKind.Object)
        {
            throw MatrixException.BadJson("'device_keys' must be an object of user IDs to arrays of device IDs");
        }

        var query = new Dictionary<UserId, IReadOnlyList<string>>();
        foreach (var user in deviceKeys.EnumerateObject())
        {
            var userId = E2eKeyRequests.ParseUserId(user.Name);
            if (user.Value.ValueKind != JsonValueKind.Array)
            {
                throw MatrixException.BadJson($"The devices of {user.Name} must be an array of device IDs");
            }

            var devices = new List<string>(user.Value.GetArrayLength());
            foreach (var device in user.Value.EnumerateArray())
            {
                devices.Add(device.ValueKind == JsonValueKind.String
                    ? device.GetString()!
                    : throw MatrixException.BadJson($"The devices of {user.Name} must be an array of device IDs"));
            }

            query[userId] = devices;
        }

        return query;
    }

    private async Task AddLocalDeviceKeysAsync(Dictionary<UserId, IReadOnlyList<string>> local, KeyQueryResponse response,
        CancellationToken cancellationToken)
    {
        // Every local user asked about appears, with no devices when there are none (as deployed servers answer).
        foreach (var userId in local.Keys)
        {
            response.DeviceKeys[userId.Value] = new JsonObject();
        }

        var wanted = local.Where(l => l.Value.Count > 0)
            .ToDictionary(l => l.Key.Value, l => l.Value.ToHashSet(StringComparer.Ordinal), StringComparer.Ordinal);
        foreach (var keys in await _store.GetDeviceKeysAsync(local.Keys, cancellationToken).ConfigureAwait(false))
        {
            if (wanted.TryGetValue(keys.UserId, out var devices) && !devices.Contains(keys.DeviceId))
            {
                continue;
            }

            var device = (JsonObject)JsonNode.Parse(keys.KeysJson)!;
            var unsigned = new JsonObject();
            if (keys.DisplayName is not null)
            {
                unsigned["device_display_name"] = keys.DisplayName;
            }

            device["unsigned"] = unsigned;
            ((JsonObject)response.DeviceKeys[keys.UserId]!)[keys.DeviceId] = device;
        }
    }

    /// <summary>Takes from a remote answer only what concerns the users that were asked of that server.</summary>
    private static void AddRemote(string server, JsonObject asked, JsonObject answer, KeyQueryResponse response)
    {
        Copy(answer["device_keys"], response.DeviceKeys);
        Copy(answer["master_keys"], response.MasterKeys);
        Copy(answer["self_signing_keys"], response.SelfSigningKeys);

        void Copy(JsonNode? from, JsonObject to)
        {
            if (from is not JsonObject byUser)
            {
                return;
            }

            foreach (var (userId, value) in byUser)
            {
                if (value is JsonObject && asked.ContainsKey(userId)
                    && UserId.TryParse(userId, out var parsed) && parsed.ServerName == server)
                {
                    to[userId] = value.DeepClone();
                }
            }
        }
    }
}
