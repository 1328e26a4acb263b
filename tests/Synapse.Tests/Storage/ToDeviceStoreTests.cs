using Microsoft.Extensions.DependencyInjection;
using Synapse.Configuration;
using Synapse.Identifiers;
using Synapse.Storage;
using Synapse.Streams;
using Synapse.Tests.Infrastructure;

namespace Synapse.Tests.Storage;

public sealed class ToDeviceStoreTests
{
    private static readonly UserId Alice = UserId.Parse("@alice:test.local");
    private static readonly UserId Bob = UserId.Parse("@bob:test.local");
    private static readonly UserId Nobody = UserId.Parse("@nobody:test.local");
    private static readonly DeviceId Phone = DeviceId.Parse("PHONE");
    private static readonly DeviceId Laptop = DeviceId.Parse("LAPTOP");
    private static readonly DeviceId Tablet = DeviceId.Parse("TABLET");

    private static async Task<(ServiceProvider Services, TestDatabase Database, IToDeviceStore Store)> OpenAsync(DatabaseEngine engine)
    {
        var (services, database) = await AccountStoreTests.OpenAsync(engine);
        var accounts = services.GetRequiredService<IAccountStore>();
        foreach (var user in new[] { Alice, Bob })
        {
            await accounts.CreateUserAsync(new NewUser(user, null, false, false, null, null, 0), default);
        }

        await accounts.AddDeviceAndTokenAsync(Alice, Phone, null, "alice-phone", 1, default);
        await accounts.AddDeviceAndTokenAsync(Bob, Phone, null, "bob-phone", 2, default);
        await accounts.AddDeviceAndTokenAsync(Bob, Laptop, null, "bob-laptop", 3, default);
        return (services, database, services.GetRequiredService<IToDeviceStore>());
    }

    private static ToDeviceBatch Batch(string txn, params ToDeviceTarget[] messages) => new(Alice, Phone, txn, messages, 1000);

    private static string Message(string body) => $$"""{"content":{"body":"{{body}}"},"sender":"@alice:test.local","type":"m.test"}""";

    [Theory, ClassData(typeof(Engines))]
    public async Task AddMessages_StarAndNamedDevices_NamedWinsUnknownSkipped(DatabaseEngine engine)
    {
        var (services, database, store) = await OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;

        var recipients = await store.AddMessagesAsync(Batch("t1",
            new ToDeviceTarget(Bob, null, Message("everyone")),
            new ToDeviceTarget(Bob, Laptop, Message("laptop only")),
            new ToDeviceTarget(Bob, Tablet, Message("no such device")),
            new ToDeviceTarget(Nobody, null, Message("no such user"))), 10, default);

        Assert.Equal([new ToDeviceRecipient(Bob.Value, Laptop.Value), new ToDeviceRecipient(Bob.Value, Phone.Value)],
            recipients.OrderBy(r => r.DeviceId, StringComparer.Ordinal));
        var phone = await store.GetMessagesAsync(Bob, Phone, 0, 100, 10, default);
        var laptop = await store.GetMessagesAsync(Bob, Laptop, 0, 100, 10, default);
        Assert.Equal([Message("everyone")], phone.Select(m => m.Json));
        Assert.Equal([Message("laptop only")], laptop.Select(m => m.Json));
        Assert.Equal(10, Assert.Single(phone).StreamId);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task AddMessages_SameTransactionTwice_StoresOnce(DatabaseEngine engine)
    {
        var (services, database, store) = await OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;

        Assert.Single(await store.AddMessagesAsync(Batch("t1", new ToDeviceTarget(Bob, Phone, Message("hi"))), 10, default));
        Assert.Empty(await store.AddMessagesAsync(Batch("t1", new ToDeviceTarget(Bob, Phone, Message("hi"))), 11, default));

        // Another device of the same sender has its own transaction IDs.
        await store.AddMessagesAsync(new ToDeviceBatch(Bob, Laptop, "t1", [new ToDeviceTarget(Bob, Phone, Message("own"))], 1000),
            12, default);

        Assert.Equal([10L, 12L], (await store.GetMessagesAsync(Bob, Phone, 0, 100, 10, default)).Select(m => m.StreamId));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task GetAndDeleteMessages_RangeLimitAndAcknowledgement(DatabaseEngine engine)
    {
        var (services, database, store) = await OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;
        for (int i = 1; i <= 5; i++)
        {
            await store.AddMessagesAsync(Batch("t" + i, new ToDeviceTarget(Bob, Phone, Message("m" + i))), i * 10, default);
        }

        Assert.Equal([20L, 30L], (await store.GetMessagesAsync(Bob, Phone, 10, 40, 2, default)).Select(m => m.StreamId));
        Assert.Equal([50L], (await store.GetMessagesAsync(Bob, Phone, 40, 50, 10, default)).Select(m => m.StreamId));
        Assert.Empty(await store.GetMessagesAsync(Bob, Laptop, 0, 50, 10, default));

        Assert.Equal(3, await store.DeleteMessagesAsync(Bob, Phone, 30, default));
        Assert.Equal(0, await store.DeleteMessagesAsync(Bob, Phone, 30, default));
        Assert.Equal([40L, 50L], (await store.GetMessagesAsync(Bob, Phone, 0, 100, 10, default)).Select(m => m.StreamId));

        var recipients = await store.GetRecipientsAsync(0, 100, 1, default);
        Assert.Equal([(40L, new ToDeviceRecipient(Bob.Value, Phone.Value))], recipients);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task DeleteDevice_RemovesItsInboxOnly(DatabaseEngine engine)
    {
        var (services, database, store) = await OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;
        await store.AddMessagesAsync(Batch("t1", new ToDeviceTarget(Bob, null, Message("both"))), 10, default);

        await services.GetRequiredService<IAccountStore>().DeleteDevicesAsync(Bob, [Phone], 11, default);

        Assert.Empty(await store.GetMessagesAsync(Bob, Phone, 0, 100, 10, default));
        Assert.Single(await store.GetMessagesAsync(Bob, Laptop, 0, 100, 10, default));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task StreamPosition_EveryInboxDeliveredAndOldTransactionsForgotten_SurvivesRestart(DatabaseEngine engine)
    {
        var (services, database, store) = await OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;
        await store.AddMessagesAsync(Batch("t1", new ToDeviceTarget(Bob, Phone, Message("a"))), 10, default);
        await store.AddMessagesAsync(Batch("t2", new ToDeviceTarget(Bob, Phone, Message("b"))), 11, default);
        await store.DeleteMessagesAsync(Bob, Phone, 11, default);

        // Both transactions are old; the newest is kept because it holds the stream's position.
        Assert.Equal(1, await store.DeleteTransactionsAsync(long.MaxValue, default));

        var loader = services.GetServices<IStreamPositionLoader>().Single(l => l.Stream == StreamNames.ToDevice);
        Assert.Equal(11, await loader.LoadCurrentAsync(default));
    }
}
