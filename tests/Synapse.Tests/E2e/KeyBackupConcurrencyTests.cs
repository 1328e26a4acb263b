using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json.Nodes;
using Synapse.Configuration;
using Synapse.Tests.Infrastructure;

namespace Synapse.Tests.E2e;

/// <summary>Key backups under concurrent requests, and the number of queries a bulk upload costs.</summary>
public sealed class KeyBackupConcurrencyTests
{
    private const string V3 = "/_matrix/client/v3";

    [Theory, ClassData(typeof(Engines))]
    public async Task Versions_CreatedConcurrently_GetDistinctIncreasingNumbers(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");

        var versions = await Task.WhenAll(Enumerable.Range(0, 12)
            .Select(_ => KeyBackupKit.CreateVersionAsync(server, alice, KeyBackupKit.AuthData("k"))));

        Assert.Equal(Enumerable.Range(1, 12), versions.Select(int.Parse).Order());
        Assert.Equal("12", (await server.SendAsync(HttpMethod.Get, $"{V3}/room_keys/version", alice.AccessToken)).Body
            .GetProperty("version").GetString());
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Keys_UploadedConcurrently_CountAndBestKeysAreExact(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        await KeyBackupKit.CreateVersionAsync(server, alice, KeyBackupKit.AuthData("k"));

        // 16 requests of 40 sessions each over 100 distinct sessions: every session is uploaded by several requests with
        // different first_message_index values; the lowest must win whatever the interleaving.
        var requests = Enumerable.Range(0, 16).Select(async i =>
        {
            var sessions = new JsonObject();
            for (int j = 0; j < 40; j++)
            {
                int session = (i * 7 + j) % 100;
                sessions[$"s{session}"] = KeyBackupKit.Key(i + 1, 0, false, $"from-{i + 1}");
            }

            var (status, body) = await server.SendAsync(HttpMethod.Put, $"{V3}/room_keys/keys/!room:test.local?version=1",
                alice.AccessToken, new JsonObject { ["sessions"] = sessions });
            Assert.True(status == 200, $"{status} {body}");
        });
        await Task.WhenAll(requests);

        var expected = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < 16; i++)
        {
            for (int j = 0; j < 40; j++)
            {
                string session = $"s{(i * 7 + j) % 100}";
                expected[session] = Math.Min(expected.GetValueOrDefault(session, int.MaxValue), i + 1);
            }
        }

        var version = (await server.SendAsync(HttpMethod.Get, $"{V3}/room_keys/version", alice.AccessToken)).Body;
        Assert.Equal(expected.Count, version.GetProperty("count").GetInt32());
        var stored = (await server.SendAsync(HttpMethod.Get, $"{V3}/room_keys/keys/!room:test.local?version=1", alice.AccessToken))
            .Body.GetProperty("sessions");
        foreach (var (session, index) in expected)
        {
            Assert.Equal(index, stored.GetProperty(session).GetProperty("first_message_index").GetInt32());
        }
    }

    [Fact]
    public async Task Keys_BulkUploadOf2000Sessions_TakesAFewQueriesNotOnePerSession()
    {
        await using var server = await TestHomeserver.StartAsync(DatabaseEngine.Postgres);
        var alice = await server.RegisterAsync("alice");
        await KeyBackupKit.CreateVersionAsync(server, alice, KeyBackupKit.AuthData("k"));
        string database = server.Options.Database.DatabaseName!;

        JsonObject Upload(int firstMessageIndex)
        {
            var rooms = new JsonObject();
            for (int r = 0; r < 20; r++)
            {
                var sessions = new JsonObject();
                for (int s = 0; s < 100; s++)
                {
                    sessions[$"session{s}"] = KeyBackupKit.Key(firstMessageIndex, 0, false, "x");
                }

                rooms[$"!room{r}:test.local"] = new JsonObject { ["sessions"] = sessions };
            }

            return new JsonObject { ["rooms"] = rooms };
        }

        // Npgsql traces every command; count those of this test's database that touch the backup tables.
        var commands = new ConcurrentBag<string>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Npgsql",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity =>
            {
                string? db = (activity.GetTagItem("db.namespace") ?? activity.GetTagItem("db.name")) as string;
                string text = (activity.GetTagItem("db.query.text") ?? activity.GetTagItem("db.statement")) as string ?? "";
                if (db == database && text.Contains("e2e_room_keys", StringComparison.Ordinal))
                {
                    commands.Add(text);
                }
            },
        };
        ActivitySource.AddActivityListener(listener);

        // 2,000 new sessions, then the same 2,000 again with better keys (every one compared and replaced).
        foreach (int index in new[] { 5, 1 })
        {
            commands.Clear();
            var (status, body) = await server.SendAsync(HttpMethod.Put, $"{V3}/room_keys/keys?version=1", alice.AccessToken, Upload(index));
            Assert.Equal(200, status);
            Assert.Equal(2000, body.GetProperty("count").GetInt32());
            Assert.NotEmpty(commands);
            Assert.True(commands.Count <= 12, $"{commands.Count} queries for 2,000 sessions");
        }
    }
}
