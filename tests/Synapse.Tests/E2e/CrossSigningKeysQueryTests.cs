using System.Text.Json.Nodes;
using Synapse.E2e;
using Synapse.Identifiers;
using Synapse.Storage;

namespace Synapse.Tests.E2e;

/// <summary>The cross-signing half of /keys/query over an in-memory store.</summary>
public sealed class CrossSigningKeysQueryTests
{
    private const string Alice = "@alice:test.local";
    private const string Bob = "@bob:test.local";
    private const string Carol = "@carol:test.local";

    private static CrossSigningKey Key(CrossSigningUsage usage, string publicKey) =>
        new(usage, publicKey, new JsonObject
        {
            ["user_id"] = "x",
            ["usage"] = new JsonArray(CrossSigningJson.UsageName(usage)),
            ["keys"] = new JsonObject { ["ed25519:" + publicKey] = publicKey },
        }.ToJsonString());

    private static FakeStore Store() => new()
    {
        Keys =
        {
            [Alice] = new(Key(CrossSigningUsage.Master, "AM"), Key(CrossSigningUsage.SelfSigning, "AS"), Key(CrossSigningUsage.UserSigning, "AU")),
            [Bob] = new(Key(CrossSigningUsage.Master, "BM"), Key(CrossSigningUsage.SelfSigning, "BS"), Key(CrossSigningUsage.UserSigning, "BU")),
        },
        Signatures =
        {
            new(Bob, "ed25519:BS", Bob, "BOBPHONE", "s-device"),
            new(Bob, "ed25519:BOBPHONE", Bob, "BM", "s-master-by-device"),
            new(Alice, "ed25519:AU", Bob, "BM", "s-alice-usk"),
            new(Carol, "ed25519:CU", Bob, "BM", "s-carol-usk"),
            new(Bob, "ed25519:BS", Bob, "GONE", "s-unknown-device"),
            new(Bob, "ed25519:OLDBS", Bob, "OLDMASTER", "s-old"),
        },
    };

    [Fact]
    public async Task AddToResponse_KeysAndVisibleSignaturesMerged()
    {
        var built = new KeyQueryResponse();
        built.DeviceKeys[Bob] = new JsonObject
        {
            ["BOBPHONE"] = new JsonObject
            {
                ["device_id"] = "BOBPHONE",
                ["signatures"] = new JsonObject { [Bob] = new JsonObject { ["ed25519:BOBPHONE"] = "self" } },
            },
        };

        await new CrossSigningKeysQuery(Store()).AddToResponseAsync(UserId.Parse(Alice), [Alice, Bob, Carol], built, default);
        var response = built.Build();

        Assert.Equal(
            """{"@bob:test.local":{"ed25519:BOBPHONE":"self","ed25519:BS":"s-device"}}""",
            response["device_keys"]![Bob]!["BOBPHONE"]!["signatures"]!.ToJsonString());
        Assert.Equal(
            """{"@bob:test.local":{"ed25519:BOBPHONE":"s-master-by-device"},"@alice:test.local":{"ed25519:AU":"s-alice-usk"}}""",
            response["master_keys"]![Bob]!["signatures"]!.ToJsonString());
        Assert.Null(response["master_keys"]![Alice]!["signatures"]);
        Assert.Equal(["@alice:test.local", "@bob:test.local"], response["self_signing_keys"]!.AsObject().Select(p => p.Key));
        Assert.Equal(["@alice:test.local"], response["user_signing_keys"]!.AsObject().Select(p => p.Key));
        Assert.False(response["device_keys"]![Bob]!.AsObject().ContainsKey("GONE"));
    }

    [Fact]
    public async Task Contribute_LocalUsersOfTheContext_RequesterFromTheContext()
    {
        var response = new KeyQueryResponse();
        var context = new KeyQueryContext
        {
            Requester = new Accounts.Requester(UserId.Parse(Bob), DeviceId.Parse("BOBPHONE"), 0, false),
            LocalUsers = new Dictionary<UserId, IReadOnlyList<string>> { [UserId.Parse(Bob)] = [] },
        };

        await new CrossSigningKeysQuery(Store()).ContributeAsync(context, response, default);

        Assert.Equal([Bob], response.MasterKeys.Select(p => p.Key));
        Assert.Equal([Bob], response.UserSigningKeys.Select(p => p.Key));
        Assert.Equal("""{"@bob:test.local":{"ed25519:BOBPHONE":"s-master-by-device"}}""",
            response.MasterKeys[Bob]!["signatures"]!.ToJsonString());
    }

    [Fact]
    public async Task AddToResponse_NoUsers_EmptyMapsAndNoQueries()
    {
        var store = Store();
        var response = new KeyQueryResponse();
        await new CrossSigningKeysQuery(store).AddToResponseAsync(UserId.Parse(Alice), [], response, default);
        Assert.Equal(
            """{"device_keys":{},"failures":{},"master_keys":{},"self_signing_keys":{},"user_signing_keys":{}}""",
            response.Build().ToJsonString());
        Assert.Equal(0, store.Queries);
    }

    [Fact]
    public async Task AddToResponse_ManyUsers_TwoQueries()
    {
        var store = Store();
        var users = Enumerable.Range(0, 1000).Select(i => $"@u{i}:test.local").Append(Bob).ToList();
        var built = new KeyQueryResponse();
        await new CrossSigningKeysQuery(store).AddToResponseAsync(UserId.Parse(Carol), users, built, default);
        var response = built.Build();
        Assert.Equal(2, store.Queries);
        Assert.Equal(
            """{"@bob:test.local":{"ed25519:BOBPHONE":"s-master-by-device"},"@carol:test.local":{"ed25519:CU":"s-carol-usk"}}""",
            response["master_keys"]![Bob]!["signatures"]!.ToJsonString());
        Assert.Empty(response["user_signing_keys"]!.AsObject());
    }

    private sealed class FakeStore : ICrossSigningStore
    {
        public Dictionary<string, CrossSigningKeySet> Keys { get; } = new(StringComparer.Ordinal);

        public List<CrossSigningSignature> Signatures { get; } = [];

        public int Queries { get; private set; }

        public Task<IReadOnlyDictionary<string, CrossSigningKeySet>> GetKeysAsync(IReadOnlyCollection<string> userIds,
            CancellationToken cancellationToken)
        {
            Queries++;
            return Task.FromResult<IReadOnlyDictionary<string, CrossSigningKeySet>>(
                Keys.Where(k => userIds.Contains(k.Key)).ToDictionary(k => k.Key, k => k.Value, StringComparer.Ordinal));
        }

        public Task<IReadOnlyList<CrossSigningSignature>> GetSignaturesAsync(IReadOnlyCollection<string> targetUserIds, string viewer,
            CancellationToken cancellationToken)
        {
            Queries++;
            return Task.FromResult<IReadOnlyList<CrossSigningSignature>>(
                [.. Signatures.Where(s => targetUserIds.Contains(s.TargetUserId) && (s.SignerUserId == s.TargetUserId || s.SignerUserId == viewer))]);
        }

        public Task<bool> SetKeysAsync(UserId userId, IReadOnlyList<CrossSigningKey> keys, MasterKeyPrecondition? precondition,
            long streamId, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task AddSignaturesAsync(UserId targetUserId, IReadOnlyList<CrossSigningSignature> signatures, long streamId,
            CancellationToken cancellationToken) => throw new NotSupportedException();
    }
}
