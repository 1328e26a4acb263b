using System.Text.Json.Nodes;
using Npgsql;
using Synapse.Configuration;
using Synapse.Streams;
using Synapse.Tests.Infrastructure;

namespace Synapse.Tests.Streams;

public sealed class StreamIdGeneratorTests
{
    private static StreamRow Row(long n) => new(new JsonObject { ["n"] = n }, [NotifierKey.User("@u:test")]);

    [Fact]
    public void Complete_OutOfOrder_AdvertisesOnlyContiguousPositions_AndPublishesInOrder()
    {
        var bus = new StreamBus();
        var published = new List<long>();
        bus.Subscribe(u => published.Add(u.Position));
        var generator = new StreamIdGenerator("test", 10, bus);

        long a = generator.Allocate();
        long b = generator.Allocate();
        long c = generator.Allocate();
        Assert.Equal([11L, 12L, 13L], [a, b, c]);

        generator.Complete(c, [Row(c)]);
        generator.Complete(b, []);
        Assert.Equal(10, generator.Current);
        Assert.Empty(published);

        generator.Complete(a, [Row(a)]);
        Assert.Equal(13, generator.Current);
        Assert.Equal([11L, 12L, 13L], published);
        Assert.Throws<InvalidOperationException>(() => generator.Complete(a, []));
    }

    [Fact]
    public async Task Notifier_WakesOnlyWaitersOfTouchedKeys()
    {
        var bus = new StreamBus();
        var notifier = new SyncNotifier(bus);
        var generator = new StreamIdGenerator("test", 0, bus);
        using var interested = notifier.Register([NotifierKey.User("@u:test")]);
        using var other = notifier.Register([NotifierKey.Room("!elsewhere:test")]);

        var waitInterested = interested.WaitAsync(TimeSpan.FromSeconds(30), default);
        var waitOther = other.WaitAsync(TimeSpan.FromMilliseconds(200), default);
        long position = generator.Allocate();
        generator.Complete(position, [Row(position)]);

        Assert.True(await waitInterested);
        Assert.False(await waitOther);
    }

    /// <summary>
    /// Two PostgreSQL transactions take positions 1 and 2; 2 commits first. A reader that trusted the highest
    /// committed row would read up to 2 and never see 1; the generator's persisted-up-to holds it at 0 until 1
    /// commits, so the reader gets both.
    /// </summary>
    [Fact]
    public async Task ConcurrentWriters_CommitOutOfOrderOnPostgres_ReaderNeverSkipsARow()
    {
        await using var database = await TestDatabase.CreateAsync(DatabaseEngine.Postgres);
        var o = database.Options;
        string connectionString = new NpgsqlConnectionStringBuilder { Host = o.Host, Port = o.Port, Username = o.User, Database = o.DatabaseName }.ToString();
        await using var setup = new NpgsqlConnection(connectionString);
        await setup.OpenAsync();
        await using (var create = new NpgsqlCommand("CREATE TABLE stream_rows (position BIGINT PRIMARY KEY)", setup))
        {
            await create.ExecuteNonQueryAsync();
        }

        var generator = new StreamIdGenerator("test", 0, new StreamBus());
        await using var writer1 = new NpgsqlConnection(connectionString);
        await using var writer2 = new NpgsqlConnection(connectionString);
        await writer1.OpenAsync();
        await writer2.OpenAsync();
        await using var tx1 = await writer1.BeginTransactionAsync();
        await using var tx2 = await writer2.BeginTransactionAsync();
        long p1 = generator.Allocate();
        long p2 = generator.Allocate();
        await InsertAsync(writer1, tx1, p1);
        await InsertAsync(writer2, tx2, p2);

        await tx2.CommitAsync();
        generator.Complete(p2, []);

        // The naive reader: the highest committed position is 2, but row 1 is not visible yet — it would be skipped.
        Assert.Equal(2, await ScalarAsync(setup, "SELECT MAX(position) FROM stream_rows"));
        Assert.Equal(1, await ScalarAsync(setup, "SELECT COUNT(*) FROM stream_rows"));

        // The generator's reader: nothing is advertised yet.
        long readUpTo = generator.Current;
        Assert.Equal(0, readUpTo);

        await tx1.CommitAsync();
        generator.Complete(p1, []);
        Assert.Equal(2, generator.Current);
        Assert.Equal(2, await ScalarAsync(setup,
            $"SELECT COUNT(*) FROM stream_rows WHERE position > {readUpTo} AND position <= {generator.Current}"));
    }

    private static async Task InsertAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, long position)
    {
        await using var insert = new NpgsqlCommand("INSERT INTO stream_rows (position) VALUES (@p)", connection, transaction);
        insert.Parameters.AddWithValue("p", position);
        await insert.ExecuteNonQueryAsync();
    }

    private static async Task<long> ScalarAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }
}

public sealed class SyncTokenTests
{
    [Fact]
    public void SyncToken_RoundTrips_AndOlderShorterTokensParse()
    {
        var token = new SyncToken([5, 1, 2, 3, 4, 6, 7, 8]);
        Assert.Equal("s5_1_2_3_4_6_7_8", token.ToString());
        Assert.True(SyncToken.Parse(token.ToString()).SameAs(token));
        Assert.Equal(5, token[StreamNames.Events]);
        Assert.Equal(6, token[StreamNames.ToDevice]);
        Assert.Equal(0, SyncToken.Parse("s9")[StreamNames.Typing]);
    }

    [Theory]
    [InlineData("")]
    [InlineData("s")]
    [InlineData("x1_2")]
    [InlineData("s1_-2")]
    [InlineData("s1_2_3_4_5_6_7_8_9")]
    [InlineData("s1__2")]
    public void SyncToken_Malformed_IsInvalidParam(string text)
    {
        var error = Assert.Throws<MatrixException>(() => SyncToken.Parse(text));
        Assert.Equal("M_INVALID_PARAM", error.ErrorCode);
    }
}
