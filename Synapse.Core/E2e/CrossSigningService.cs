using System.Text.Json;
using System.Text.Json.Nodes;
using Synapse.Accounts;
using Synapse.Identifiers;
using Synapse.Storage;
using Synapse.Sync;

namespace Synapse.E2e;

/// <summary>
/// Cross-signing (Spec: Client-Server API, "Cross-signing"): uploading a user's master, self-signing and user-signing keys,
/// and the signatures users make with them. Every change advances the device-lists stream for the user whose keys others
/// see change, so that room-mates re-query them.
/// </summary>
internal sealed class CrossSigningService
{
    private const string UploadUri = "/keys/device_signing/upload";

    private static readonly IReadOnlyList<IReadOnlyList<string>> PasswordFlows = [[UserInteractiveAuthService.Password]];

    private static readonly (string Field, CrossSigningUsage Usage)[] UploadFields =
    [
        ("master_key", CrossSigningUsage.Master),
        ("self_signing_key", CrossSigningUsage.SelfSigning),
        ("user_signing_key", CrossSigningUsage.UserSigning),
    ];

    private readonly ICrossSigningStore _store;
    private readonly IE2eKeyStore _deviceKeys;
    private readonly IAccountStore _accounts;
    private readonly UserInteractiveAuthService _uia;
    private readonly DeviceListService _deviceLists;

    public CrossSigningService(ICrossSigningStore store, IE2eKeyStore deviceKeys, IAccountStore accounts,
        UserInteractiveAuthService uia, DeviceListService deviceLists)
    {
        _store = store;
        _deviceKeys = deviceKeys;
        _accounts = accounts;
        _uia = uia;
        _deviceLists = deviceLists;
    }

    /// <summary>
    /// POST /keys/device_signing/upload. User-interactive auth is required to replace keys, but not for the first upload
    /// (no master key yet) nor for re-uploading exactly the stored keys, which changes nothing (what deployed servers do, so
    /// that a client retrying its bootstrap is not stuck; MSC3967).
    /// </summary>
    public async Task UploadKeysAsync(Requester requester, JsonElement body, CancellationToken cancellationToken)
    {
        var owner = requester.UserId;
        var uploaded = new List<ParsedCrossSigningKey>(3);
        foreach (var (field, usage) in UploadFields)
        {
            if (body.TryGetProperty(field, out var element) && element.ValueKind != JsonValueKind.Null)
            {
                uploaded.Add(CrossSigningJson.ParseKey(element, field, usage, owner));
            }
        }

        if (uploaded.Select(k => k.PublicKey).Distinct(StringComparer.Ordinal).Count() != uploaded.Count)
        {
            throw MatrixException.InvalidParam("The cross-signing keys must be different keys");
        }

        // Spec: "Servers therefore must ensure that device IDs will not collide with cross-signing public keys."
        foreach (var key in uploaded)
        {
            if (DeviceId.TryParse(key.PublicKey, out var asDevice)
                && await _accounts.GetDeviceAsync(owner, asDevice, cancellationToken).ConfigureAwait(false) is not null)
            {
                throw MatrixException.Forbidden("Key ID in use: the public key is the ID of one of the user's devices");
            }
        }

        // At most two rounds: a first upload that loses a race against another first upload runs again and then needs UIA.
        for (int round = 0; ; round++)
        {
            var stored = (await _store.GetKeysAsync([owner.Value], cancellationToken).ConfigureAwait(false))
                .GetValueOrDefault(owner.Value) ?? CrossSigningKeySet.None;
            CheckSignedByMaster(uploaded, stored, owner);

            if (uploaded.All(k => stored[k.Usage] is { } current && SameAsStored(k.Json, current)))
            {
                return;
            }

            MasterKeyPrecondition? precondition = null;
            if (stored.Master is null && round == 0)
            {
                precondition = new MasterKeyPrecondition(null);
            }
            else
            {
                await _uia.AuthenticateAsync(body.TryGetProperty("auth", out var auth) ? auth : null, "POST", UploadUri, requester,
                    PasswordFlows, cancellationToken).ConfigureAwait(false);
            }

            var keys = uploaded.Select(k => new CrossSigningKey(k.Usage, k.PublicKey, k.Json.GetRawText())).ToList();
            bool written = await _deviceLists.WriteAsync(owner,
                position => _store.SetKeysAsync(owner, keys, precondition, position, cancellationToken),
                wrote => wrote ? [.. keys.Select(k => DeviceId.Parse(k.PublicKey))] : [], cancellationToken).ConfigureAwait(false);
            if (written)
            {
                return;
            }
        }
    }

    /// <summary>
    /// POST /keys/signatures/upload: checks every signed object and stores the good signatures; each bad one is reported in
    /// <c>failures</c> (user ID → key ID → error) and the request as a whole succeeds.
    /// </summary>
    public async Task<JsonObject> UploadSignaturesAsync(Requester requester, JsonElement body, CancellationToken cancellationToken)
    {
        var me = requester.UserId;
        var failures = new JsonObject();
        var items = ReadItems(body);

        var targets = items.Select(i => i.User).Append(me.Value).ToList();
        var keys = await _store.GetKeysAsync(targets, cancellationToken).ConfigureAwait(false);
        var mine = keys.GetValueOrDefault(me.Value) ?? CrossSigningKeySet.None;

        // One query for every device key the own items need: the signed devices and the devices that signed the master key.
        var own = items.Where(i => i.User == me.Value).ToList();
        var deviceIds = new HashSet<string>(StringComparer.Ordinal);
        foreach (var item in own)
        {
            if (mine.Master is { } master && item.KeyId == master.PublicKey)
            {
                deviceIds.UnionWith(MasterSignerDevices(item.Json, me.Value, mine));
            }
            else
            {
                deviceIds.Add(item.KeyId);
            }
        }

        var devices = deviceIds.Count == 0
            ? new Dictionary<string, JsonElement>()
            : await GetDeviceKeysAsync(me, deviceIds, cancellationToken).ConfigureAwait(false);

        var accepted = new List<CrossSigningSignature>();
        foreach (var item in items)
        {
            var outcome = item.User == me.Value
                ? mine.Master is { } master && item.KeyId == master.PublicKey
                    ? CheckOwnMaster(item, me.Value, mine, devices)
                    : CheckOwnDevice(item, me.Value, mine, devices)
                : CheckOtherMaster(item, me.Value, mine, keys.GetValueOrDefault(item.User));
            if (outcome.Failure is { } failure)
            {
                if (failures[item.User] is not JsonObject byUser)
                {
                    byUser = [];
                    failures[item.User] = byUser;
                }

                byUser[item.KeyId] = new JsonObject { ["errcode"] = failure.ErrorCode, ["error"] = failure.Message };
            }
            else
            {
                accepted.AddRange(outcome.Signatures);
            }
        }

        foreach (var byTarget in accepted.GroupBy(s => s.TargetUserId, StringComparer.Ordinal))
        {
            var target = UserId.Parse(byTarget.Key);
            var signatures = byTarget.ToList();
            List<DeviceId> changed = [.. signatures.Select(s => s.TargetKeyId).Distinct(StringComparer.Ordinal).Select(DeviceId.Parse)];
            await _deviceLists.WriteAsync(target,
                async position =>
                {
                    await _store.AddSignaturesAsync(target, signatures, position, cancellationToken).ConfigureAwait(false);
                    return changed;
                },
                c => c, cancellationToken).ConfigureAwait(false);
        }

        return new JsonObject { ["failures"] = failures };
    }

    /// <summary>
    /// The stored device keys of those of <paramref name="deviceIds"/> that have some: one query for all the user's devices
    /// (a user has a handful), filtered here.
    /// </summary>
    private async Task<Dictionary<string, JsonElement>> GetDeviceKeysAsync(UserId userId, HashSet<string> deviceIds,
        CancellationToken cancellationToken)
    {
        var found = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var keys in await _deviceKeys.GetDeviceKeysAsync([userId], cancellationToken).ConfigureAwait(false))
        {
            if (keys.UserId == userId.Value && deviceIds.Contains(keys.DeviceId))
            {
                using var document = JsonDocument.Parse(keys.KeysJson);
                found[keys.DeviceId] = document.RootElement.Clone();
            }
        }

        return found;
    }

    private static void CheckSignedByMaster(List<ParsedCrossSigningKey> uploaded, CrossSigningKeySet stored, UserId owner)
    {
        var newMaster = uploaded.Find(k => k.Usage == CrossSigningUsage.Master);
        foreach (var key in uploaded.Where(k => k.Usage != CrossSigningUsage.Master))
        {
            string field = CrossSigningJson.UsageName(key.Usage) + "_key";
            (string masterKeyId, byte[] masterPublic) = newMaster is not null
                ? (newMaster.KeyId, newMaster.PublicKeyBytes)
                : stored.Master is { } current && Crypto.UnpaddedBase64.TryDecode(current.PublicKey, out byte[]? bytes)
                    ? (CrossSigningJson.Ed25519Prefix + current.PublicKey, bytes)
                    : throw new MatrixException(System.Net.HttpStatusCode.BadRequest, ErrorCodes.MissingParam,
                        $"No master key available to check '{field}': upload 'master_key' too");
            switch (CrossSigningJson.VerifySignature(key.Json, owner.Value, masterKeyId, masterPublic))
            {
                case null:
                    throw CrossSigningJson.InvalidSignatureError($"'{field}' is not signed by the master key");
                case false:
                    throw CrossSigningJson.InvalidSignatureError($"Invalid signature of the master key on '{field}'");
            }
        }
    }

    private static bool SameAsStored(JsonElement uploaded, CrossSigningKey stored)
    {
        using var document = JsonDocument.Parse(stored.Json);
        return CrossSigningJson.Identical(uploaded, document.RootElement);
    }

    /// <summary>The request body: user ID → key ID → signed object. Anything else is 400 <c>M_BAD_JSON</c>.</summary>
    private static List<SignedItem> ReadItems(JsonElement body)
    {
        var items = new List<SignedItem>();
        foreach (var user in body.EnumerateObject())
        {
            if (user.Value.ValueKind != JsonValueKind.Object)
            {
                throw MatrixException.BadJson($"'{user.Name}' must map key IDs to signed objects");
            }

            foreach (var key in user.Value.EnumerateObject())
            {
                if (key.Value.ValueKind != JsonValueKind.Object)
                {
                    throw MatrixException.BadJson($"'{user.Name}.{key.Name}' must be a signed object");
                }

                items.Add(new SignedItem(user.Name, key.Name, key.Value));
            }
        }

        return items;
    }

    /// <summary>The devices named by the signatures of the user on their own master key (not their cross-signing keys).</summary>
    private static IEnumerable<string> MasterSignerDevices(JsonElement json, string me, CrossSigningKeySet mine)
    {
        if (!json.TryGetProperty("signatures", out var signatures) || signatures.ValueKind != JsonValueKind.Object
            || !signatures.TryGetProperty(me, out var bySigner) || bySigner.ValueKind != JsonValueKind.Object)
        {
            yield break;
        }

        foreach (var signature in bySigner.EnumerateObject())
        {
            if (signature.Name.StartsWith(CrossSigningJson.Ed25519Prefix, StringComparison.Ordinal))
            {
                string id = signature.Name[CrossSigningJson.Ed25519Prefix.Length..];
                if (!mine.HasPublicKey(id))
                {
                    yield return id;
                }
            }
        }
    }

    /// <summary>The user's own master key, signed by one or more of their devices.</summary>
    private static Outcome CheckOwnMaster(SignedItem item, string me, CrossSigningKeySet mine,
        Dictionary<string, JsonElement> devices)
    {
        if (Mismatch(item.Json, mine.Master!) is { } mismatch)
        {
            return mismatch;
        }

        var signatures = new List<CrossSigningSignature>();
        foreach (string deviceId in MasterSignerDevices(item.Json, me, mine))
        {
            string keyId = CrossSigningJson.Ed25519Prefix + deviceId;
            if (!devices.TryGetValue(deviceId, out var deviceKeys)
                || CrossSigningJson.DeviceSigningKey(deviceKeys, deviceId) is not { } devicePublic)
            {
                return Outcome.Fail(ErrorCodes.NotFound, $"Signing device {deviceId} has no device keys");
            }

            if (CrossSigningJson.VerifySignature(item.Json, me, keyId, devicePublic) != true)
            {
                return Outcome.Fail(CrossSigningJson.InvalidSignature, $"Invalid signature by device {deviceId}");
            }

            signatures.Add(new CrossSigningSignature(me, keyId, me, item.KeyId, CrossSigningJson.TryGetSignature(item.Json, me, keyId)!));
        }

        return signatures.Count == 0
            ? Outcome.Fail(CrossSigningJson.InvalidSignature, "Missing signature: the master key must be signed by a device")
            : new Outcome(null, signatures);
    }

    /// <summary>One of the user's own devices, signed by their self-signing key.</summary>
    private static Outcome CheckOwnDevice(SignedItem item, string me, CrossSigningKeySet mine,
        Dictionary<string, JsonElement> devices)
    {
        if (!devices.TryGetValue(item.KeyId, out var stored))
        {
            return Outcome.Fail(ErrorCodes.NotFound, $"Device {item.KeyId} has no device keys");
        }

        if (!CrossSigningJson.SameSignedContent(item.Json, stored))
        {
            return Outcome.Fail(ErrorCodes.InvalidParam, "The signed object does not match the stored device keys");
        }

        return Signed(item, me, mine.SelfSigning, "self-signing");
    }

    /// <summary>Another user's master key, signed by the requester's user-signing key.</summary>
    private static Outcome CheckOtherMaster(SignedItem item, string me, CrossSigningKeySet mine, CrossSigningKeySet? theirs)
    {
        if (!UserId.TryParse(item.User, out _))
        {
            return Outcome.Fail(ErrorCodes.InvalidParam, "Not a user ID");
        }

        if (theirs?.Master is not { } master)
        {
            return Outcome.Fail(ErrorCodes.NotFound, "The user has no master key");
        }

        if (item.KeyId != master.PublicKey)
        {
            return Outcome.Fail(ErrorCodes.NotFound, "Only another user's current master key can be signed");
        }

        return Mismatch(item.Json, master) ?? Signed(item, me, mine.UserSigning, "user-signing");
    }

    private static Outcome? Mismatch(JsonElement json, CrossSigningKey stored)
    {
        using var document = JsonDocument.Parse(stored.Json);
        return CrossSigningJson.SameSignedContent(json, document.RootElement)
            ? null
            : Outcome.Fail(ErrorCodes.InvalidParam, "The signed object does not match the stored key");
    }

    /// <summary>The item's signature by <paramref name="signingKey"/> of <paramref name="me"/>, checked.</summary>
    private static Outcome Signed(SignedItem item, string me, CrossSigningKey? signingKey, string name)
    {
        if (signingKey is null || !Crypto.UnpaddedBase64.TryDecode(signingKey.PublicKey, out byte[]? publicKey))
        {
            return Outcome.Fail(ErrorCodes.NotFound, $"No {name} key found");
        }

        string keyId = CrossSigningJson.Ed25519Prefix + signingKey.PublicKey;
        return CrossSigningJson.VerifySignature(item.Json, me, keyId, publicKey) switch
        {
            null => Outcome.Fail(CrossSigningJson.InvalidSignature, $"Missing signature by the {name} key"),
            false => Outcome.Fail(CrossSigningJson.InvalidSignature, "Invalid signature"),
            true => new Outcome(null,
                [new CrossSigningSignature(me, keyId, item.User, item.KeyId, CrossSigningJson.TryGetSignature(item.Json, me, keyId)!)]),
        };
    }

    private sealed record SignedItem(string User, string KeyId, JsonElement Json);

    private sealed record Failure(string ErrorCode, string Message);

    private sealed record Outcome(Failure? Failure, IReadOnlyList<CrossSigningSignature> Signatures)
    {
        public static Outcome Fail(string errorCode, string message) => new(new Failure(errorCode, message), []);
    }
}
