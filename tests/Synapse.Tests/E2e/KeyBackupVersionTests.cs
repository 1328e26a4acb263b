using System.Text.Json;
using System.Text.Json.Nodes;
using Synapse.Configuration;
using Synapse.Tests.Infrastructure;

namespace Synapse.Tests.E2e;

/// <summary>Backup versions: POST/GET/PUT/DELETE /room_keys/version[/{version}] over real HTTP, on each engine.</summary>
public sealed class KeyBackupVersionTests
{
    private const string V3 = "/_matrix/client/v3";

    [Theory, ClassData(typeof(Engines))]
    public async Task Version_CreateGetUpdateDelete_FollowsTheSpec(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");

        var (noneStatus, none) = await server.SendAsync(HttpMethod.Get, $"{V3}/room_keys/version", alice.AccessToken);
        Assert.Equal(404, noneStatus);
        Assert.Equal("M_NOT_FOUND", none.GetProperty("errcode").GetString());

        string first = await KeyBackupKit.CreateVersionAsync(server, alice, KeyBackupKit.AuthData("key1"));
        Assert.Equal("1", first);

        var (latestStatus, latest) = await server.SendAsync(HttpMethod.Get, $"{V3}/room_keys/version", alice.AccessToken);
        Assert.Equal(200, latestStatus);
        Assert.Equal(KeyBackupKit.Algorithm, latest.GetProperty("algorithm").GetString());
        Assert.Equal("key1", latest.GetProperty("auth_data").GetProperty("public_key").GetString());
        Assert.Equal("1", latest.GetProperty("version").GetString());
        Assert.Equal(0, latest.GetProperty("count").GetInt32());
        Assert.Equal(JsonValueKind.String, latest.GetProperty("etag").ValueKind);

        // A second version becomes the latest; the first stays readable by number.
        string second = await KeyBackupKit.CreateVersionAsync(server, alice, KeyBackupKit.AuthData("key2"));
        Assert.Equal("2", second);
        Assert.Equal("2", (await server.SendAsync(HttpMethod.Get, $"{V3}/room_keys/version", alice.AccessToken)).Body
            .GetProperty("version").GetString());
        var (byIdStatus, byId) = await server.SendAsync(HttpMethod.Get, $"{V3}/room_keys/version/1", alice.AccessToken);
        Assert.Equal(200, byIdStatus);
        Assert.Equal("key1", byId.GetProperty("auth_data").GetProperty("public_key").GetString());
        Assert.Equal("1", byId.GetProperty("version").GetString());

        // Update: only auth_data changes; the body's version may repeat the path's.
        var update = new JsonObject
        {
            ["algorithm"] = KeyBackupKit.Algorithm,
            ["auth_data"] = KeyBackupKit.AuthData("key2b"),
            ["version"] = "2",
        };
        var (updateStatus, updated) = await server.SendAsync(HttpMethod.Put, $"{V3}/room_keys/version/2", alice.AccessToken, update);
        Assert.Equal(200, updateStatus);
        Assert.Equal(JsonValueKind.Object, updated.ValueKind);
        var afterUpdate = (await server.SendAsync(HttpMethod.Get, $"{V3}/room_keys/version/2", alice.AccessToken)).Body;
        Assert.Equal("key2b", afterUpdate.GetProperty("auth_data").GetProperty("public_key").GetString());
        Assert.Equal(KeyBackupKit.Algorithm, afterUpdate.GetProperty("algorithm").GetString());

        // The algorithm cannot change.
        var (algoStatus, algo) = await server.SendAsync(HttpMethod.Put, $"{V3}/room_keys/version/2", alice.AccessToken, new JsonObject
        {
            ["algorithm"] = "org.example.other",
            ["auth_data"] = KeyBackupKit.AuthData("x"),
        });
        Assert.Equal(400, algoStatus);
        Assert.Equal("M_INVALID_PARAM", algo.GetProperty("errcode").GetString());
        Assert.Equal("key2b", (await server.SendAsync(HttpMethod.Get, $"{V3}/room_keys/version/2", alice.AccessToken)).Body
            .GetProperty("auth_data").GetProperty("public_key").GetString());

        // Delete: the version and its keys go; the latest is the newest remaining one.
        await KeyBackupKit.PutSessionAsync(server, alice, "2", "!room:test.local", "s1", KeyBackupKit.Key(0, 0, false, "a"));
        var (deleteStatus, _) = await server.SendAsync(HttpMethod.Delete, $"{V3}/room_keys/version/2", alice.AccessToken);
        Assert.Equal(200, deleteStatus);
        Assert.Equal(404, (await server.SendAsync(HttpMethod.Get, $"{V3}/room_keys/version/2", alice.AccessToken)).Status);
        Assert.Equal("1", (await server.SendAsync(HttpMethod.Get, $"{V3}/room_keys/version", alice.AccessToken)).Body
            .GetProperty("version").GetString());
        var (keysStatus, keys) = await server.SendAsync(HttpMethod.Get, $"{V3}/room_keys/keys?version=2", alice.AccessToken);
        Assert.Equal(404, keysStatus);
        Assert.Equal("M_NOT_FOUND", keys.GetProperty("errcode").GetString());

        // Spec: deleting a version that was deleted before succeeds; one that never existed is 404.
        Assert.Equal(200, (await server.SendAsync(HttpMethod.Delete, $"{V3}/room_keys/version/2", alice.AccessToken)).Status);
        var (unknownStatus, unknown) = await server.SendAsync(HttpMethod.Delete, $"{V3}/room_keys/version/9", alice.AccessToken);
        Assert.Equal(404, unknownStatus);
        Assert.Equal("M_NOT_FOUND", unknown.GetProperty("errcode").GetString());

        // Updating a deleted version is 404, and version numbers are never reused.
        Assert.Equal(404, (await server.SendAsync(HttpMethod.Put, $"{V3}/room_keys/version/2", alice.AccessToken, new JsonObject
        {
            ["algorithm"] = KeyBackupKit.Algorithm,
            ["auth_data"] = KeyBackupKit.AuthData("x"),
        })).Status);
        Assert.Equal("3", await KeyBackupKit.CreateVersionAsync(server, alice, KeyBackupKit.AuthData("key3")));
        var (freshStatus, fresh) = await server.SendAsync(HttpMethod.Get, $"{V3}/room_keys/version", alice.AccessToken);
        Assert.Equal(200, freshStatus);
        Assert.Equal("3", fresh.GetProperty("version").GetString());
        Assert.Equal(0, fresh.GetProperty("count").GetInt32());
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Version_DeleteLatestAndOlder_LatestIsNewestRemaining(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        for (int i = 0; i < 3; i++)
        {
            await KeyBackupKit.CreateVersionAsync(server, alice, KeyBackupKit.AuthData("k"));
        }

        async Task<(int, string?)> LatestAsync()
        {
            var (status, body) = await server.SendAsync(HttpMethod.Get, $"{V3}/room_keys/version", alice.AccessToken);
            return (status, status == 200 ? body.GetProperty("version").GetString() : body.GetProperty("errcode").GetString());
        }

        Assert.Equal((200, "3"), await LatestAsync());
        await server.SendAsync(HttpMethod.Delete, $"{V3}/room_keys/version/3", alice.AccessToken);
        Assert.Equal((200, "2"), await LatestAsync());
        await server.SendAsync(HttpMethod.Delete, $"{V3}/room_keys/version/1", alice.AccessToken);
        Assert.Equal((200, "2"), await LatestAsync());
        await server.SendAsync(HttpMethod.Delete, $"{V3}/room_keys/version/2", alice.AccessToken);
        Assert.Equal((404, "M_NOT_FOUND"), await LatestAsync());
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Version_OtherUsersBackups_AreInvisibleAndUntouchable(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var bob = await server.RegisterAsync("bob");
        await KeyBackupKit.CreateVersionAsync(server, alice, KeyBackupKit.AuthData("alice-key"));
        await KeyBackupKit.PutSessionAsync(server, alice, "1", "!room:test.local", "s1", KeyBackupKit.Key(0, 0, true, "secret"));

        Assert.Equal(404, (await server.SendAsync(HttpMethod.Get, $"{V3}/room_keys/version", bob.AccessToken)).Status);
        Assert.Equal(404, (await server.SendAsync(HttpMethod.Get, $"{V3}/room_keys/version/1", bob.AccessToken)).Status);
        Assert.Equal(404, (await server.SendAsync(HttpMethod.Get, $"{V3}/room_keys/keys?version=1", bob.AccessToken)).Status);
        Assert.Equal(404, (await server.SendAsync(HttpMethod.Get, $"{V3}/room_keys/keys/!room:test.local/s1?version=1",
            bob.AccessToken)).Status);
        Assert.Equal(404, (await server.SendAsync(HttpMethod.Put, $"{V3}/room_keys/keys/!room:test.local/s1?version=1",
            bob.AccessToken, KeyBackupKit.Key(0, 0, true, "bob"))).Status);
        Assert.Equal(404, (await server.SendAsync(HttpMethod.Delete, $"{V3}/room_keys/keys?version=1", bob.AccessToken)).Status);
        Assert.Equal(404, (await server.SendAsync(HttpMethod.Put, $"{V3}/room_keys/version/1", bob.AccessToken, new JsonObject
        {
            ["algorithm"] = KeyBackupKit.Algorithm,
            ["auth_data"] = KeyBackupKit.AuthData("bob-key"),
        })).Status);
        Assert.Equal(404, (await server.SendAsync(HttpMethod.Delete, $"{V3}/room_keys/version/1", bob.AccessToken)).Status);

        // Bob's own backup is numbered for him, and holds none of Alice's keys.
        Assert.Equal("1", await KeyBackupKit.CreateVersionAsync(server, bob, KeyBackupKit.AuthData("bob-key")));
        var (bobKeysStatus, bobKeys) = await server.SendAsync(HttpMethod.Get, $"{V3}/room_keys/keys?version=1", bob.AccessToken);
        Assert.Equal(200, bobKeysStatus);
        Assert.Empty(bobKeys.GetProperty("rooms").EnumerateObject());

        // Alice's backup is untouched.
        var aliceVersion = (await server.SendAsync(HttpMethod.Get, $"{V3}/room_keys/version", alice.AccessToken)).Body;
        Assert.Equal("alice-key", aliceVersion.GetProperty("auth_data").GetProperty("public_key").GetString());
        Assert.Equal(1, aliceVersion.GetProperty("count").GetInt32());
        var (aliceKeyStatus, aliceKey) = await server.SendAsync(HttpMethod.Get,
            $"{V3}/room_keys/keys/!room:test.local/s1?version=1", alice.AccessToken);
        Assert.Equal(200, aliceKeyStatus);
        Assert.Equal("secret", aliceKey.GetProperty("session_data").GetProperty("ciphertext").GetString());
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Version_R0AndUnstablePrefixes_ServeTheSameBackup(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");

        var (createStatus, created) = await server.SendAsync(HttpMethod.Post, "/_matrix/client/unstable/room_keys/version",
            alice.AccessToken, new JsonObject { ["algorithm"] = KeyBackupKit.Algorithm, ["auth_data"] = KeyBackupKit.AuthData("k") });
        Assert.Equal(200, createStatus);
        Assert.Equal("1", created.GetProperty("version").GetString());

        var (putStatus, put) = await server.SendAsync(HttpMethod.Put, "/_matrix/client/r0/room_keys/keys/!room:test.local/s1?version=1",
            alice.AccessToken, KeyBackupKit.Key(0, 0, false, "data"));
        Assert.Equal(200, putStatus);
        Assert.Equal(1, put.GetProperty("count").GetInt32());

        var (getStatus, got) = await server.SendAsync(HttpMethod.Get, "/_matrix/client/unstable/room_keys/keys?version=1",
            alice.AccessToken);
        Assert.Equal(200, getStatus);
        Assert.Equal("data", got.GetProperty("rooms").GetProperty("!room:test.local").GetProperty("sessions").GetProperty("s1")
            .GetProperty("session_data").GetProperty("ciphertext").GetString());
        Assert.Equal("1", (await server.SendAsync(HttpMethod.Get, "/_matrix/client/r0/room_keys/version", alice.AccessToken)).Body
            .GetProperty("version").GetString());
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Version_AuthDataAndSessionData_RoundTripVerbatim(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        var authData = new JsonObject
        {
            ["public_key"] = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo",
            ["signatures"] = new JsonObject { [alice.UserId] = new JsonObject { ["ed25519:" + alice.DeviceId] = "sig" } },
            ["nested"] = new JsonObject { ["list"] = new JsonArray(1, "two", null, true), ["unicode"] = "é✓" },
        };
        await KeyBackupKit.CreateVersionAsync(server, alice, authData);

        var version = (await server.SendAsync(HttpMethod.Get, $"{V3}/room_keys/version", alice.AccessToken)).Body;
        Assert.True(JsonNode.DeepEquals(authData, JsonNode.Parse(version.GetProperty("auth_data").GetRawText())));
    }
}
