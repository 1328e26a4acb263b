using Microsoft.Extensions.DependencyInjection;
using Synapse.Configuration;
using Synapse.Storage;
using Synapse.Tests.Infrastructure;

namespace Synapse.Tests.Storage;

public sealed class CacheInvalidationStoreTests
{
    [Theory, ClassData(typeof(Engines))]
    public async Task Get_PagesByWholePositions_InOrder(DatabaseEngine engine)
    {
        var (services, database) = await AccountStoreTests.OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;
        var store = services.GetRequiredService<ICacheInvalidationStore>();

        await store.AddAsync(1, "access_tokens", [["h1"], ["h2"], ["h3"]], 100, default);
        await store.AddAsync(2, "one_time_key_counts", [["@a:test.local", "PHONE"]], 100, default);
        await store.AddAsync(4, "access_tokens", [["h4"]], 100, default);

        // A limit of one position returns all three rows of position 1, never a part of it.
        var first = await store.GetAsync(0, 10, 1, default);
        Assert.Equal([1L, 1L, 1L], first.Select(r => r.StreamId));
        Assert.Equal(["h1", "h2", "h3"], first.Select(r => r.Keys[0]).Order(StringComparer.Ordinal));

        var rest = await store.GetAsync(1, 10, 10, default);
        Assert.Equal([2L, 4L], rest.Select(r => r.StreamId));
        Assert.Equal(["@a:test.local", "PHONE"], rest[0].Keys);
        Assert.Equal("one_time_key_counts", rest[0].CacheName);

        Assert.Empty(await store.GetAsync(1, 1, 10, default));
        Assert.Equal([2L], (await store.GetAsync(1, 3, 10, default)).Select(r => r.StreamId));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task DeleteBefore_RemovesOldRows_ButKeepsTheNewestForThePosition(DatabaseEngine engine)
    {
        var (services, database) = await AccountStoreTests.OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;
        var store = services.GetRequiredService<ICacheInvalidationStore>();
        await store.AddAsync(1, "access_tokens", [["old"]], 100, default);
        await store.AddAsync(2, "access_tokens", [["newest but old"]], 200, default);

        Assert.Equal(1, await store.DeleteBeforeAsync(1_000, default));
        Assert.Equal(["newest but old"], (await store.GetAsync(0, 10, 10, default)).Select(r => r.Keys[0]));

        await store.AddAsync(3, "access_tokens", [["fresh"]], 5_000, default);
        Assert.Equal(1, await store.DeleteBeforeAsync(1_000, default));
        Assert.Equal([3L], (await store.GetAsync(0, 10, 10, default)).Select(r => r.StreamId));
    }
}
