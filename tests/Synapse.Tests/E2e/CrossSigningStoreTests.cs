using Microsoft.Extensions.DependencyInjection;
using Synapse.Configuration;
using Synapse.Identifiers;
using Synapse.Storage;
using Synapse.Tests.Infrastructure;
using Synapse.Tests.Storage;

namespace Synapse.Tests.E2e;

public sealed class CrossSigningStoreTests
{
    private static readonly UserId Alice = UserId.Parse("@alice:test.local");
    private static readonly UserId Bob = UserId.Parse("@bob:test.local");

    private static CrossSigningKey Key(CrossSigningUsage usage, string publicKey) =>
        new(usage, publicKey, "{\"keys\":{\"ed25519:" + publicKey + "\":\"" + publicKey + "\"}}");

    private static async Task<(ServiceProvider Services, TestDatabase Database, ICrossSigningStore Store)> OpenAsync(
        DatabaseEngine engine)
    {
        var (services, database) = await AccountStoreTests.OpenAsync(engine);
        return (services, database, services.GetRequiredService<ICrossSigningStore>());
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task SetKeys_ReplacesPerUsage_AndWritesDeviceListRows(DatabaseEngine engine)
    {
        var (services, database, store) = await OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;

        Assert.True(await store.SetKeysAsync(Alice,
            [Key(CrossSigningUsage.Master, "M1"), Key(CrossSigningUsage.SelfSigning, "S1"), Key(CrossSigningUsage.UserSigning, "U1")],
            null, 5, default));
        Assert.True(await store.SetKeysAsync(Alice, [Key(CrossSigningUsage.SelfSigning, "S2")], null, 6, default));

        var keys = await store.GetKeysAsync([Alice.Value, Bob.Value], default);
        Assert.False(keys.ContainsKey(Bob.Value));
        var alice = keys[Alice.Value];
        Assert.Equal("M1", alice.Master!.PublicKey);
        Assert.Equal("S2", alice.SelfSigning!.PublicKey);
        Assert.Equal("U1", alice[CrossSigningUsage.UserSigning]!.PublicKey);
        Assert.Equal("""{"keys":{"ed25519:S2":"S2"}}""", alice.SelfSigning.Json);

        var rows = await services.GetRequiredService<IDeviceListStore>().GetRowsAsync(0, 100, 100, default);
        Assert.Equal([(5L, Alice.Value, "M1"), (5L, Alice.Value, "S1"), (5L, Alice.Value, "U1"), (6L, Alice.Value, "S2")], rows);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task SetKeys_Precondition_WritesOnlyWhileTheMasterKeyIsUnchanged(DatabaseEngine engine)
    {
        var (services, database, store) = await OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;

        Assert.True(await store.SetKeysAsync(Alice, [Key(CrossSigningUsage.Master, "M1")], new MasterKeyPrecondition(null), 1, default));
        Assert.False(await store.SetKeysAsync(Alice, [Key(CrossSigningUsage.Master, "M2")], new MasterKeyPrecondition(null), 2, default));
        Assert.True(await store.SetKeysAsync(Alice, [Key(CrossSigningUsage.Master, "M3")], new MasterKeyPrecondition("M1"), 3, default));

        Assert.Equal("M3", (await store.GetKeysAsync([Alice.Value], default))[Alice.Value].Master!.PublicKey);
        var rows = await services.GetRequiredService<IDeviceListStore>().GetRowsAsync(0, 100, 100, default);
        Assert.Equal([(1L, Alice.Value, "M1"), (3L, Alice.Value, "M3")], rows);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task SetKeys_ConcurrentFirstUploads_OnlyOneWins(DatabaseEngine engine)
    {
        var (services, database, store) = await OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;

        var results = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Task.Run(() =>
            store.SetKeysAsync(Alice, [Key(CrossSigningUsage.Master, "M" + i)], new MasterKeyPrecondition(null), i + 1, default))));

        Assert.Single(results, r => r);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Signatures_ReplacedPerSignerKey_VisibleToOwnerAndSignerOnly(DatabaseEngine engine)
    {
        var (services, database, store) = await OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;
        const string Carol = "@carol:test.local";

        await store.AddSignaturesAsync(Bob,
        [
            new CrossSigningSignature(Bob.Value, "ed25519:BSSK", Bob.Value, "BOBDEVICE", "sig1"),
            new CrossSigningSignature(Bob.Value, "ed25519:BOBDEVICE", Bob.Value, "BMSK", "sig2"),
        ], 10, default);
        await store.AddSignaturesAsync(Bob, [new CrossSigningSignature(Alice.Value, "ed25519:AUSK", Bob.Value, "BMSK", "sig3")], 11, default);
        await store.AddSignaturesAsync(Bob, [new CrossSigningSignature(Carol, "ed25519:CUSK", Bob.Value, "BMSK", "sig4")], 12, default);
        await store.AddSignaturesAsync(Bob, [new CrossSigningSignature(Bob.Value, "ed25519:BSSK", Bob.Value, "BOBDEVICE", "sig1b")], 13, default);

        var seenByAlice = await store.GetSignaturesAsync([Bob.Value], Alice.Value, default);
        Assert.Equal(
            [
                new CrossSigningSignature(Alice.Value, "ed25519:AUSK", Bob.Value, "BMSK", "sig3"),
                new CrossSigningSignature(Bob.Value, "ed25519:BOBDEVICE", Bob.Value, "BMSK", "sig2"),
                new CrossSigningSignature(Bob.Value, "ed25519:BSSK", Bob.Value, "BOBDEVICE", "sig1b"),
            ],
            seenByAlice);
        Assert.Equal(2, (await store.GetSignaturesAsync([Bob.Value], Bob.Value, default)).Count);
        Assert.Empty(await store.GetSignaturesAsync([Alice.Value], Alice.Value, default));

        var rows = await services.GetRequiredService<IDeviceListStore>().GetRowsAsync(0, 100, 100, default);
        Assert.Equal(
            [(10L, Bob.Value, "BMSK"), (10L, Bob.Value, "BOBDEVICE"), (11L, Bob.Value, "BMSK"), (12L, Bob.Value, "BMSK"),
             (13L, Bob.Value, "BOBDEVICE")],
            rows);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task DeviceDeleted_SignaturesOnItAndByItGo_OthersStay(DatabaseEngine engine)
    {
        var (services, database, store) = await OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;
        var accounts = services.GetRequiredService<IAccountStore>();
        await accounts.CreateUserAsync(new NewUser(Alice, "hash", false, false, null, null, 0), default);
        await accounts.AddDeviceAndTokenAsync(Alice, DeviceId.Parse("PHONE"), null, "t1", 1, default);
        await accounts.AddDeviceAndTokenAsync(Alice, DeviceId.Parse("LAPTOP"), null, "t2", 2, default);
        await store.AddSignaturesAsync(Alice,
        [
            new CrossSigningSignature(Alice.Value, "ed25519:SSK", Alice.Value, "PHONE", "on-phone"),
            new CrossSigningSignature(Alice.Value, "ed25519:SSK", Alice.Value, "LAPTOP", "on-laptop"),
            new CrossSigningSignature(Alice.Value, "ed25519:PHONE", Alice.Value, "MSK", "by-phone"),
            new CrossSigningSignature(Alice.Value, "ed25519:LAPTOP", Alice.Value, "MSK", "by-laptop"),
        ], 3, default);
        await store.AddSignaturesAsync(Bob, [new CrossSigningSignature(Bob.Value, "ed25519:SSK", Bob.Value, "PHONE", "bobs")], 4, default);

        await accounts.DeleteDevicesAsync(Alice, [DeviceId.Parse("PHONE")], 5, default);

        Assert.Equal(["on-laptop", "by-laptop"], (await store.GetSignaturesAsync([Alice.Value], Alice.Value, default)).Select(s => s.Signature));
        Assert.Single(await store.GetSignaturesAsync([Bob.Value], Bob.Value, default));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task GetKeys_ManyUsers_ChunkedInOneCall(DatabaseEngine engine)
    {
        var (services, database, store) = await OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;
        var users = Enumerable.Range(0, 1200).Select(i => UserId.Parse($"@u{i}:test.local")).ToList();
        for (int i = 0; i < users.Count; i += 100)
        {
            await store.SetKeysAsync(users[i], [Key(CrossSigningUsage.Master, "K" + i)], null, i + 1, default);
        }

        var keys = await store.GetKeysAsync([.. users.Select(u => u.Value)], default);
        Assert.Equal(12, keys.Count);
        Assert.Equal("K1100", keys["@u1100:test.local"].Master!.PublicKey);
    }
}
