using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Synapse.Configuration;
using Synapse.Identifiers;
using Synapse.Storage;
using Synapse.Tests.Infrastructure;

namespace Synapse.Tests.Storage;

public sealed class AccountStoreTests
{
    private static readonly UserId Alice = UserId.Parse("@alice:test.local");
    private static readonly DeviceId Phone = DeviceId.Parse("PHONE");
    private static readonly DeviceId Laptop = DeviceId.Parse("LAPTOP");

    internal static async Task<(ServiceProvider Services, TestDatabase Database)> OpenAsync(DatabaseEngine engine)
    {
        var database = await TestDatabase.CreateAsync(engine);
        var services = new ServiceCollection()
            .AddSingleton<ILoggerFactory>(NullLoggerFactory.Instance)
            .AddSingleton(typeof(ILogger<>), typeof(NullLogger<>))
            .AddSynapseStorage(database.Options)
            .BuildServiceProvider();
        await services.MigrateSynapseDatabaseAsync();
        return (services, database);
    }

    private static NewUser NewAlice(string? hash = "hash") => new(Alice, hash, false, false, null, "alice", 1000);

    [Theory, ClassData(typeof(Engines))]
    public async Task CreateUser_TwiceWithSameId_SecondReturnsFalseAndKeepsFirst(DatabaseEngine engine)
    {
        var (services, database) = await OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;
        var store = services.GetRequiredService<IAccountStore>();

        Assert.True(await store.CreateUserAsync(NewAlice("first"), default));
        Assert.False(await store.CreateUserAsync(NewAlice("second"), default));

        var user = await store.GetUserAsync(Alice, default);
        Assert.NotNull(user);
        Assert.Equal("first", user.PasswordHash);
        Assert.False(user.IsAdmin);
        Assert.False(user.IsDeactivated);
        Assert.Equal(1000, user.CreatedTs);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task FindUserIdIgnoringCase_MixedCaseLogin_FindsStoredId(DatabaseEngine engine)
    {
        var (services, database) = await OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;
        var store = services.GetRequiredService<IAccountStore>();
        await store.CreateUserAsync(NewAlice(), default);

        Assert.Equal(Alice, await store.FindUserIdIgnoringCaseAsync(UserId.Parse("@ALICE:test.local"), default));
        Assert.Null(await store.FindUserIdIgnoringCaseAsync(UserId.Parse("@bob:test.local"), default));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task AccessToken_AddedWithDevice_ResolvesToOwnerUntilDeviceDeleted(DatabaseEngine engine)
    {
        var (services, database) = await OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;
        var store = services.GetRequiredService<IAccountStore>();
        await store.CreateUserAsync(NewAlice(), default);

        long phoneToken = (await store.AddDeviceAndTokenAsync(Alice, Phone, "Phone", "hash-phone", 1, default)).TokenId;
        await store.AddDeviceAndTokenAsync(Alice, Laptop, "Laptop", "hash-laptop", 2, default);
        // A second login on an existing device keeps the device (and its name) and adds a token.
        await store.AddDeviceAndTokenAsync(Alice, Phone, "Renamed?", "hash-phone-2", 3, default);

        var owner = await store.FindAccessTokenAsync("hash-phone", default);
        Assert.NotNull(owner);
        Assert.Equal(phoneToken, owner.TokenId);
        Assert.Equal(Alice, owner.UserId);
        Assert.Equal(Phone, owner.DeviceId);
        Assert.Equal("Phone", (await store.GetDeviceAsync(Alice, Phone, default))!.DisplayName);
        Assert.Equal(2, (await store.GetDevicesAsync(Alice, default)).Count);

        var removed = await store.DeleteDevicesAsync(Alice, [Phone], 4, default);

        Assert.Equal(["hash-phone", "hash-phone-2"], removed.TokenHashes.Order());
        Assert.Null(await store.FindAccessTokenAsync("hash-phone", default));
        Assert.NotNull(await store.FindAccessTokenAsync("hash-laptop", default));
        Assert.Null(await store.GetDeviceAsync(Alice, Phone, default));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task DeleteOtherDevicesAndTokens_KeepsOnlyCurrentTokenAndDevice(DatabaseEngine engine)
    {
        var (services, database) = await OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;
        var store = services.GetRequiredService<IAccountStore>();
        await store.CreateUserAsync(NewAlice(), default);
        long keep = (await store.AddDeviceAndTokenAsync(Alice, Phone, null, "keep", 1, default)).TokenId;
        await store.AddDeviceAndTokenAsync(Alice, Phone, null, "same-device-other-token", 2, default);
        await store.AddDeviceAndTokenAsync(Alice, Laptop, null, "laptop", 3, default);

        var removed = await store.DeleteOtherDevicesAndTokensAsync(Alice, Phone, keep, 4, default);

        Assert.Equal(["laptop", "same-device-other-token"], removed.TokenHashes.Order());
        Assert.NotNull(await store.FindAccessTokenAsync("keep", default));
        Assert.Equal([Phone], (await store.GetDevicesAsync(Alice, default)).Select(d => d.DeviceId));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task DeactivateUser_RemovesPasswordDevicesAndTokens(DatabaseEngine engine)
    {
        var (services, database) = await OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;
        var store = services.GetRequiredService<IAccountStore>();
        await store.CreateUserAsync(NewAlice(), default);
        await store.AddDeviceAndTokenAsync(Alice, Phone, null, "t1", 1, default);

        var removed = await store.DeactivateUserAsync(Alice, 2, default);

        Assert.Equal(["t1"], removed.TokenHashes);
        var user = await store.GetUserAsync(Alice, default);
        Assert.True(user!.IsDeactivated);
        Assert.Null(user.PasswordHash);
        Assert.Empty(await store.GetDevicesAsync(Alice, default));
        Assert.Null(await store.FindAccessTokenAsync("t1", default));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task RecordDeviceActivity_NewerWins_OlderIgnored(DatabaseEngine engine)
    {
        var (services, database) = await OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;
        var store = services.GetRequiredService<IAccountStore>();
        await store.CreateUserAsync(NewAlice(), default);
        await store.AddDeviceAndTokenAsync(Alice, Phone, null, "t1", 1, default);

        await store.RecordDeviceActivityAsync([new DeviceActivity(Alice, Phone, "10.0.0.1", "ua/1", 2000)], default);
        await store.RecordDeviceActivityAsync([new DeviceActivity(Alice, Phone, "10.0.0.9", "ua/0", 1000)], default);

        var device = await store.GetDeviceAsync(Alice, Phone, default);
        Assert.Equal("10.0.0.1", device!.LastSeenIp);
        Assert.Equal(2000, device.LastSeenTs);
        Assert.Equal("ua/1", device.LastSeenUserAgent);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task UiaSession_StagesAccumulate_AndExpiredSessionsAreDeleted(DatabaseEngine engine)
    {
        var (services, database) = await OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;
        var store = services.GetRequiredService<IUserInteractiveAuthStore>();
        await store.CreateSessionAsync(new UiaSession("s1", "POST", "/register", null, 5000, []), default);
        await store.CreateSessionAsync(new UiaSession("old", "POST", "/register", null, 10, []), default);

        await store.AddCompletedStageAsync("s1", "m.login.dummy", default);
        await store.AddCompletedStageAsync("s1", "m.login.dummy", default);
        var session = await store.GetSessionAsync("s1", 0, default);
        Assert.Equal(["m.login.dummy"], session!.CompletedStages);
        Assert.Null(await store.GetSessionAsync("s1", 6000, default));

        await store.DeleteExpiredSessionsAsync(100, default);
        Assert.Null(await store.GetSessionAsync("old", 0, default));
        Assert.NotNull(await store.GetSessionAsync("s1", 0, default));

        await store.DeleteSessionAsync("s1", default);
        Assert.Null(await store.GetSessionAsync("s1", 0, default));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task CreateUser_SameCreationTxn_IsTheSameRequest_OtherTxnOrNoneIsTaken(DatabaseEngine engine)
    {
        var (services, database) = await AccountStoreTests.OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;
        var accounts = services.GetRequiredService<IAccountStore>();
        var carol = UserId.Parse("@carol:test.local");

        Assert.True(await accounts.CreateUserAsync(new NewUser(carol, "hash", false, false, null, "Carol", 10, "txn-1"), default));
        Assert.True(await accounts.CreateUserAsync(new NewUser(carol, "hash", false, false, null, "Carol", 10, "txn-1"), default));
        Assert.False(await accounts.CreateUserAsync(new NewUser(carol, "other", false, false, null, "Carol", 11, "txn-2"), default));
        Assert.False(await accounts.CreateUserAsync(new NewUser(carol, "other", false, false, null, "Carol", 11), default));
        Assert.Equal("hash", (await accounts.GetUserAsync(carol, default))!.PasswordHash);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task AddDeviceAndToken_SameHashAgain_ChangesNothing_AnotherDevicesHashIsRefused(DatabaseEngine engine)
    {
        var (services, database) = await AccountStoreTests.OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;
        var accounts = services.GetRequiredService<IAccountStore>();
        var carol = UserId.Parse("@carol:test.local");
        await accounts.CreateUserAsync(new NewUser(carol, null, false, false, null, null, 0), default);

        var first = await accounts.AddDeviceAndTokenAsync(carol, DeviceId.Parse("PHONE"), null, "hash-1", 1, default);
        var again = await accounts.AddDeviceAndTokenAsync(carol, DeviceId.Parse("PHONE"), null, "hash-1", 2, default);

        Assert.True(first.DeviceCreated);
        Assert.False(again.DeviceCreated);
        Assert.Equal(first.TokenId, again.TokenId);
        await Assert.ThrowsAsync<InvalidOperationException>(() =>
            accounts.AddDeviceAndTokenAsync(carol, DeviceId.Parse("LAPTOP"), null, "hash-1", 3, default));
        Assert.Equal(["PHONE"], (await accounts.GetDevicesAsync(carol, default)).Select(d => d.DeviceId.Value));
    }
}
