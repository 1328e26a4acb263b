using System.Text.Json;
using System.Text.Json.Nodes;
using Synapse.Configuration;
using Synapse.E2e;
using Synapse.Storage;
using Synapse.Tests.Infrastructure;

namespace Synapse.Tests.E2e;

/// <summary>Backed-up keys: GET/PUT/DELETE /room_keys/keys[/{roomId}[/{sessionId}]] over real HTTP, on each engine.</summary>
public sealed class KeyBackupKeysTests
{
    private const string V3 = "/_matrix/client/v3";
    private const string Room1 = "!one:test.local";
    private const string Room2 = "!two:elsewhere.example";

    [Theory, ClassData(typeof(Engines))]
    public async Task Keys_PutGetDeleteAtEveryLevel_CountsAndShapesFollowTheSpec(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        await KeyBackupKit.CreateVersionAsync(server, alice, KeyBackupKit.AuthData("k"));

        // Whole set: two rooms.
        var (allStatus, all) = await server.SendAsync(HttpMethod.Put, $"{V3}/room_keys/keys?version=1", alice.AccessToken, new JsonObject
        {
            ["rooms"] = new JsonObject
            {
                [Room1] = new JsonObject { ["sessions"] = new JsonObject { ["a"] = KeyBackupKit.Key(0, 0, true, "a"), ["b"] = KeyBackupKit.Key(1, 0, false, "b") } },
                [Room2] = new JsonObject { ["sessions"] = new JsonObject { ["c"] = KeyBackupKit.Key(2, 1, false, "c") } },
            },
        });
        Assert.Equal(200, allStatus);
        Assert.Equal(3, all.GetProperty("count").GetInt32());
        Assert.Equal(JsonValueKind.String, all.GetProperty("etag").ValueKind);

        // One room.
        var (roomStatus, room) = await server.SendAsync(HttpMethod.Put, $"{V3}/room_keys/keys/{Room2}?version=1", alice.AccessToken,
            new JsonObject { ["sessions"] = new JsonObject { ["d"] = KeyBackupKit.Key(0, 0, true, "d") } });
        Assert.Equal(200, roomStatus);
        Assert.Equal(4, room.GetProperty("count").GetInt32());

        // One session.
        var session = await KeyBackupKit.PutSessionAsync(server, alice, "1", Room1, "e", KeyBackupKit.Key(5, 2, false, "e"));
        Assert.Equal(5, session.GetProperty("count").GetInt32());

        var whole = (await server.SendAsync(HttpMethod.Get, $"{V3}/room_keys/keys?version=1", alice.AccessToken)).Body;
        var rooms = whole.GetProperty("rooms");
        Assert.Equal([Room1, Room2], rooms.EnumerateObject().Select(r => r.Name).Order(StringComparer.Ordinal));
        Assert.Equal(["a", "b", "e"], rooms.GetProperty(Room1).GetProperty("sessions").EnumerateObject().Select(s => s.Name));
        var c = rooms.GetProperty(Room2).GetProperty("sessions").GetProperty("c");
        Assert.Equal(2, c.GetProperty("first_message_index").GetInt32());
        Assert.Equal(1, c.GetProperty("forwarded_count").GetInt32());
        Assert.False(c.GetProperty("is_verified").GetBoolean());
        Assert.Equal("c", c.GetProperty("session_data").GetProperty("ciphertext").GetString());

        var (oneRoomStatus, oneRoom) = await server.SendAsync(HttpMethod.Get, $"{V3}/room_keys/keys/{Room2}?version=1", alice.AccessToken);
        Assert.Equal(200, oneRoomStatus);
        Assert.Equal(["c", "d"], oneRoom.GetProperty("sessions").EnumerateObject().Select(s => s.Name));

        var (oneStatus, one) = await server.SendAsync(HttpMethod.Get, $"{V3}/room_keys/keys/{Room1}/a?version=1", alice.AccessToken);
        Assert.Equal(200, oneStatus);
        Assert.True(one.GetProperty("is_verified").GetBoolean());
        Assert.Equal("a", one.GetProperty("session_data").GetProperty("ciphertext").GetString());

        // Spec: a missing session is 404; a room without keys is {"sessions": {}}; a backup without keys {"rooms": {}}.
        var (missingStatus, missing) = await server.SendAsync(HttpMethod.Get, $"{V3}/room_keys/keys/{Room1}/zzz?version=1", alice.AccessToken);
        Assert.Equal(404, missingStatus);
        Assert.Equal("M_NOT_FOUND", missing.GetProperty("errcode").GetString());
        var (emptyRoomStatus, emptyRoom) = await server.SendAsync(HttpMethod.Get, $"{V3}/room_keys/keys/!none:test.local?version=1", alice.AccessToken);
        Assert.Equal(200, emptyRoomStatus);
        Assert.Empty(emptyRoom.GetProperty("sessions").EnumerateObject());

        // Delete one session, then one room, then everything.
        var (delOneStatus, delOne) = await server.SendAsync(HttpMethod.Delete, $"{V3}/room_keys/keys/{Room1}/a?version=1", alice.AccessToken);
        Assert.Equal(200, delOneStatus);
        Assert.Equal(4, delOne.GetProperty("count").GetInt32());
        Assert.Equal(404, (await server.SendAsync(HttpMethod.Get, $"{V3}/room_keys/keys/{Room1}/a?version=1", alice.AccessToken)).Status);

        var (delRoomStatus, delRoom) = await server.SendAsync(HttpMethod.Delete, $"{V3}/room_keys/keys/{Room2}?version=1", alice.AccessToken);
        Assert.Equal(200, delRoomStatus);
        Assert.Equal(2, delRoom.GetProperty("count").GetInt32());
        Assert.Empty((await server.SendAsync(HttpMethod.Get, $"{V3}/room_keys/keys/{Room2}?version=1", alice.AccessToken)).Body
            .GetProperty("sessions").EnumerateObject());
        Assert.Equal(["b", "e"], (await server.SendAsync(HttpMethod.Get, $"{V3}/room_keys/keys/{Room1}?version=1", alice.AccessToken))
            .Body.GetProperty("sessions").EnumerateObject().Select(s => s.Name));

        var (delAllStatus, delAll) = await server.SendAsync(HttpMethod.Delete, $"{V3}/room_keys/keys?version=1", alice.AccessToken);
        Assert.Equal(200, delAllStatus);
        Assert.Equal(0, delAll.GetProperty("count").GetInt32());
        var (emptyStatus, empty) = await server.SendAsync(HttpMethod.Get, $"{V3}/room_keys/keys?version=1", alice.AccessToken);
        Assert.Equal(200, emptyStatus);
        Assert.Empty(empty.GetProperty("rooms").EnumerateObject());
        Assert.Equal(0, (await server.SendAsync(HttpMethod.Get, $"{V3}/room_keys/version", alice.AccessToken)).Body
            .GetProperty("count").GetInt32());
    }

    public static TheoryData<DatabaseEngine, string, bool, long, long, bool, long, long, bool> ReplacementCases()
    {
        // (case, stored verified/first index/forwarded, uploaded verified/first index/forwarded, whether the upload wins)
        var cases = new (string Name, bool Sv, long Sf, long Sc, bool Uv, long Uf, long Uc, bool Wins)[]
        {
            ("verified beats unverified, even with worse indexes", false, 0, 0, true, 9, 9, true),
            ("unverified never beats verified, even with better indexes", true, 9, 9, false, 0, 0, false),
            ("same verification: lower first_message_index wins, even with more forwards", false, 5, 0, false, 2, 7, true),
            ("same verification: higher first_message_index loses, even with fewer forwards", true, 2, 7, true, 5, 0, false),
            ("same verification and index: fewer forwards win", true, 3, 4, true, 3, 1, true),
            ("same verification and index: more forwards lose", false, 3, 1, false, 3, 4, false),
            ("a full tie keeps the stored key", true, 3, 1, true, 3, 1, false),
        };
        var data = new TheoryData<DatabaseEngine, string, bool, long, long, bool, long, long, bool>();
        foreach (var engine in new[] { DatabaseEngine.Sqlite, DatabaseEngine.Postgres })
        {
            foreach (var c in cases)
            {
                data.Add(engine, c.Name, c.Sv, c.Sf, c.Sc, c.Uv, c.Uf, c.Uc, c.Wins);
            }
        }

        return data;
    }

    [Theory, MemberData(nameof(ReplacementCases))]
    public async Task Keys_UploadOverStoredSession_FollowsTheReplacementRule(DatabaseEngine engine, string name, bool storedVerified,
        long storedIndex, long storedForwards, bool uploadedVerified, long uploadedIndex, long uploadedForwards, bool uploadWins)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        await KeyBackupKit.CreateVersionAsync(server, alice, KeyBackupKit.AuthData("k"));
        var first = await KeyBackupKit.PutSessionAsync(server, alice, "1", Room1, "s",
            KeyBackupKit.Key(storedIndex, storedForwards, storedVerified, "stored"));

        // The same rule applies through each of the three PUT routes.
        var second = await KeyBackupKit.PutSessionAsync(server, alice, "1", Room1, "s",
            KeyBackupKit.Key(uploadedIndex, uploadedForwards, uploadedVerified, "uploaded"));
        var third = (await server.SendAsync(HttpMethod.Put, $"{V3}/room_keys/keys?version=1", alice.AccessToken, new JsonObject
        {
            ["rooms"] = new JsonObject
            {
                [Room1] = new JsonObject
                {
                    ["sessions"] = new JsonObject { ["t"] = KeyBackupKit.Key(storedIndex, storedForwards, storedVerified, "stored") },
                },
            },
        })).Body;
        var fourth = (await server.SendAsync(HttpMethod.Put, $"{V3}/room_keys/keys/{Room1}?version=1", alice.AccessToken, new JsonObject
        {
            ["sessions"] = new JsonObject { ["t"] = KeyBackupKit.Key(uploadedIndex, uploadedForwards, uploadedVerified, "uploaded") },
        })).Body;

        foreach (string sessionId in new[] { "s", "t" })
        {
            var key = (await server.SendAsync(HttpMethod.Get, $"{V3}/room_keys/keys/{Room1}/{sessionId}?version=1", alice.AccessToken)).Body;
            Assert.True((uploadWins ? "uploaded" : "stored") == key.GetProperty("session_data").GetProperty("ciphertext").GetString(),
                $"{name}: session {sessionId} holds {key}");
            Assert.Equal(uploadWins ? uploadedIndex : storedIndex, key.GetProperty("first_message_index").GetInt64());
            Assert.Equal(uploadWins ? uploadedForwards : storedForwards, key.GetProperty("forwarded_count").GetInt64());
            Assert.Equal(uploadWins ? uploadedVerified : storedVerified, key.GetProperty("is_verified").GetBoolean());
        }

        // The etag moves exactly when the stored key was replaced; the count never does on a replacement.
        Assert.Equal(uploadWins, first.GetProperty("etag").GetString() != second.GetProperty("etag").GetString());
        Assert.Equal(uploadWins, third.GetProperty("etag").GetString() != fourth.GetProperty("etag").GetString());
        Assert.Equal(1, second.GetProperty("count").GetInt32());
        Assert.Equal(2, fourth.GetProperty("count").GetInt32());
    }

    [Theory]
    [InlineData(false, 0, 0, true, 9, 9, true)]
    [InlineData(true, 0, 0, false, 0, 0, false)]
    [InlineData(true, 5, 5, true, 4, 9, true)]
    [InlineData(false, 4, 0, false, 5, 0, false)]
    [InlineData(false, 4, 3, false, 4, 2, true)]
    [InlineData(false, 4, 2, false, 4, 3, false)]
    [InlineData(false, 4, 2, false, 4, 2, false)]
    public void Replaces_SpecRule_KeepsTheBetterKey(bool storedVerified, long storedIndex, long storedForwards, bool uploadedVerified,
        long uploadedIndex, long uploadedForwards, bool expected)
    {
        var stored = new KeyBackupSession(Room1, "s", storedIndex, storedForwards, storedVerified, "{}");
        var uploaded = new KeyBackupSession(Room1, "s", uploadedIndex, uploadedForwards, uploadedVerified, "{}");

        Assert.Equal(expected, KeyBackupService.Replaces(stored, uploaded));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Etag_ChangesOnlyWhenStoredKeysChange(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        await KeyBackupKit.CreateVersionAsync(server, alice, KeyBackupKit.AuthData("k"));
        string Etag(JsonElement body) => body.GetProperty("etag").GetString()!;
        async Task<JsonElement> VersionAsync() => (await server.SendAsync(HttpMethod.Get, $"{V3}/room_keys/version/1", alice.AccessToken)).Body;

        string initial = Etag(await VersionAsync());

        var added = await KeyBackupKit.PutSessionAsync(server, alice, "1", Room1, "s", KeyBackupKit.Key(3, 1, false, "v1"));
        Assert.NotEqual(initial, Etag(added));
        var afterAdd = await VersionAsync();
        Assert.Equal(Etag(added), Etag(afterAdd));
        Assert.Equal(1, afterAdd.GetProperty("count").GetInt32());

        // Re-uploading the same key, a worse key, reading, deleting what is not there and editing auth_data change nothing.
        Assert.Equal(Etag(added), Etag(await KeyBackupKit.PutSessionAsync(server, alice, "1", Room1, "s", KeyBackupKit.Key(3, 1, false, "v1"))));
        Assert.Equal(Etag(added), Etag(await KeyBackupKit.PutSessionAsync(server, alice, "1", Room1, "s", KeyBackupKit.Key(4, 0, false, "v2"))));
        await server.SendAsync(HttpMethod.Get, $"{V3}/room_keys/keys?version=1", alice.AccessToken);
        var (noopDeleteStatus, noopDelete) = await server.SendAsync(HttpMethod.Delete, $"{V3}/room_keys/keys/{Room1}/other?version=1", alice.AccessToken);
        Assert.Equal(200, noopDeleteStatus);
        Assert.Equal(Etag(added), Etag(noopDelete));
        Assert.Equal(1, noopDelete.GetProperty("count").GetInt32());
        Assert.Equal(Etag(added), Etag((await server.SendAsync(HttpMethod.Delete, $"{V3}/room_keys/keys/!nothing:test.local?version=1",
            alice.AccessToken)).Body));
        await server.SendAsync(HttpMethod.Put, $"{V3}/room_keys/version/1", alice.AccessToken, new JsonObject
        {
            ["algorithm"] = KeyBackupKit.Algorithm,
            ["auth_data"] = KeyBackupKit.AuthData("changed"),
        });
        Assert.Equal(Etag(added), Etag(await VersionAsync()));

        // A better key, a new session and a real deletion each change it, and never back to an earlier value.
        var seen = new HashSet<string>(StringComparer.Ordinal) { initial, Etag(added) };
        var better = await KeyBackupKit.PutSessionAsync(server, alice, "1", Room1, "s", KeyBackupKit.Key(3, 0, false, "v3"));
        Assert.True(seen.Add(Etag(better)));
        var another = await KeyBackupKit.PutSessionAsync(server, alice, "1", Room1, "s2", KeyBackupKit.Key(0, 0, false, "x"));
        Assert.True(seen.Add(Etag(another)));
        Assert.Equal(2, another.GetProperty("count").GetInt32());
        var deleted = (await server.SendAsync(HttpMethod.Delete, $"{V3}/room_keys/keys/{Room1}/s2?version=1", alice.AccessToken)).Body;
        Assert.True(seen.Add(Etag(deleted)));
        Assert.Equal(1, deleted.GetProperty("count").GetInt32());
        Assert.Equal(Etag(deleted), Etag(await VersionAsync()));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Keys_OldOrUnknownVersion_403WithCurrentVersionOr404(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");

        // No backup at all.
        var (noneStatus, none) = await server.SendAsync(HttpMethod.Put, $"{V3}/room_keys/keys/{Room1}/s?version=1", alice.AccessToken,
            KeyBackupKit.Key(0, 0, false, "x"));
        Assert.Equal(404, noneStatus);
        Assert.Equal("M_NOT_FOUND", none.GetProperty("errcode").GetString());

        await KeyBackupKit.CreateVersionAsync(server, alice, KeyBackupKit.AuthData("k1"));
        await KeyBackupKit.PutSessionAsync(server, alice, "1", Room1, "old", KeyBackupKit.Key(0, 0, false, "old"));
        await KeyBackupKit.CreateVersionAsync(server, alice, KeyBackupKit.AuthData("k2"));

        // Writing to the older version: 403 with the current one, at every level; nothing is stored.
        var oldWrites = new (string Path, JsonObject Body)[]
        {
            ($"{V3}/room_keys/keys/{Room1}/s?version=1", KeyBackupKit.Key(0, 0, false, "x")),
            ($"{V3}/room_keys/keys/{Room1}?version=1", new JsonObject { ["sessions"] = new JsonObject { ["s"] = KeyBackupKit.Key(0, 0, false, "x") } }),
            ($"{V3}/room_keys/keys?version=1", new JsonObject
            {
                ["rooms"] = new JsonObject { [Room1] = new JsonObject { ["sessions"] = new JsonObject { ["s"] = KeyBackupKit.Key(0, 0, false, "x") } } },
            }),
        };
        foreach (var (path, body) in oldWrites)
        {
            var (status, error) = await server.SendAsync(HttpMethod.Put, path, alice.AccessToken, body);
            Assert.Equal(403, status);
            Assert.Equal("M_WRONG_ROOM_KEYS_VERSION", error.GetProperty("errcode").GetString());
            Assert.Equal("2", error.GetProperty("current_version").GetString());
        }

        // The older version stays readable and deletable.
        var (oldStatus, old) = await server.SendAsync(HttpMethod.Get, $"{V3}/room_keys/keys?version=1", alice.AccessToken);
        Assert.Equal(200, oldStatus);
        Assert.Equal(["old"], old.GetProperty("rooms").GetProperty(Room1).GetProperty("sessions").EnumerateObject().Select(s => s.Name));
        Assert.Equal(0, (await server.SendAsync(HttpMethod.Delete, $"{V3}/room_keys/keys?version=1", alice.AccessToken)).Body
            .GetProperty("count").GetInt32());

        // Unknown, malformed or deleted versions: 404 on every key route.
        await server.SendAsync(HttpMethod.Delete, $"{V3}/room_keys/version/1", alice.AccessToken);
        foreach (string version in new[] { "1", "3", "abc", "-2", "99999999999999999999999" })
        {
            foreach (var method in new[] { HttpMethod.Get, HttpMethod.Put, HttpMethod.Delete })
            {
                foreach (string path in new[] { "room_keys/keys", $"room_keys/keys/{Room1}", $"room_keys/keys/{Room1}/s" })
                {
                    object? body = method != HttpMethod.Put ? null
                        : path.EndsWith("/s", StringComparison.Ordinal) ? KeyBackupKit.Key(0, 0, false, "x")
                        : path.EndsWith("keys", StringComparison.Ordinal) ? new JsonObject { ["rooms"] = new JsonObject() }
                        : new JsonObject { ["sessions"] = new JsonObject() };
                    var (status, error) = await server.SendAsync(method, $"{V3}/{path}?version={Uri.EscapeDataString(version)}",
                        alice.AccessToken, body);
                    Assert.True(status == 404, $"{method} {path} version {version}: {status} {error}");
                    Assert.Equal("M_NOT_FOUND", error.GetProperty("errcode").GetString());
                }
            }
        }
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Keys_BulkUploadOfManySessions_StoredComparedAndCounted(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        await KeyBackupKit.CreateVersionAsync(server, alice, KeyBackupKit.AuthData("k"));

        // 1,500 sessions in 30 rooms: more than one statement's worth for both the comparison read and the insert.
        static string RoomOf(int r) => $"!room{r}:test.local";
        JsonObject Upload(Func<int, int, JsonObject?> key)
        {
            var rooms = new JsonObject();
            for (int r = 0; r < 30; r++)
            {
                var sessions = new JsonObject();
                for (int s = 0; s < 60; s++)
                {
                    if (key(r, s) is { } k)
                    {
                        sessions[$"session{s}"] = k;
                    }
                }

                rooms[RoomOf(r)] = new JsonObject { ["sessions"] = sessions };
            }

            return new JsonObject { ["rooms"] = rooms };
        }

        var (firstStatus, first) = await server.SendAsync(HttpMethod.Put, $"{V3}/room_keys/keys?version=1", alice.AccessToken,
            Upload((r, s) => s < 50 ? KeyBackupKit.Key(10, 1, false, $"first-{r}-{s}") : null));
        Assert.Equal(200, firstStatus);
        Assert.Equal(1500, first.GetProperty("count").GetInt32());

        // Again, in one request: even sessions improve, odd ones get worse, and ten new ones per room arrive.
        var (secondStatus, second) = await server.SendAsync(HttpMethod.Put, $"{V3}/room_keys/keys?version=1", alice.AccessToken,
            Upload((r, s) => s >= 50 ? KeyBackupKit.Key(0, 0, false, $"new-{r}-{s}")
                : s % 2 == 0 ? KeyBackupKit.Key(10, 0, false, $"second-{r}-{s}")
                : KeyBackupKit.Key(11, 0, false, $"second-{r}-{s}")));
        Assert.Equal(200, secondStatus);
        Assert.Equal(1800, second.GetProperty("count").GetInt32());
        Assert.NotEqual(first.GetProperty("etag").GetString(), second.GetProperty("etag").GetString());

        var rooms = (await server.SendAsync(HttpMethod.Get, $"{V3}/room_keys/keys?version=1", alice.AccessToken)).Body.GetProperty("rooms");
        Assert.Equal(30, rooms.EnumerateObject().Count());
        for (int r = 0; r < 30; r++)
        {
            var sessions = rooms.GetProperty(RoomOf(r)).GetProperty("sessions");
            Assert.Equal(60, sessions.EnumerateObject().Count());
            for (int s = 0; s < 60; s++)
            {
                string expected = s >= 50 ? $"new-{r}-{s}" : s % 2 == 0 ? $"second-{r}-{s}" : $"first-{r}-{s}";
                Assert.Equal(expected, sessions.GetProperty($"session{s}").GetProperty("session_data").GetProperty("ciphertext").GetString());
            }
        }

        Assert.Equal(1800, (await server.SendAsync(HttpMethod.Get, $"{V3}/room_keys/version", alice.AccessToken)).Body
            .GetProperty("count").GetInt32());
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Keys_SessionNamedTwiceInOneBody_KeepsTheBetterKey(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        await KeyBackupKit.CreateVersionAsync(server, alice, KeyBackupKit.AuthData("k"));

        string Key(int index, string data) => KeyBackupKit.Key(index, 0, false, data).ToJsonString();
        var (status, body) = await server.SendAsync(HttpMethod.Put, $"{V3}/room_keys/keys/{Room1}?version=1", alice.AccessToken,
            "{\"sessions\": {\"s\": " + Key(5, "worse") + ", \"s\": " + Key(2, "better") + ", \"s\": " + Key(3, "middle") + "}}");
        Assert.Equal(200, status);
        Assert.Equal(1, body.GetProperty("count").GetInt32());
        Assert.Equal("better", (await server.SendAsync(HttpMethod.Get, $"{V3}/room_keys/keys/{Room1}/s?version=1", alice.AccessToken))
            .Body.GetProperty("session_data").GetProperty("ciphertext").GetString());
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Keys_SessionIdWithSlashAndPlus_RoundTripsThroughThePath(DatabaseEngine engine)
    {
        await using var server = await TestHomeserver.StartAsync(engine);
        var alice = await server.RegisterAsync("alice");
        await KeyBackupKit.CreateVersionAsync(server, alice, KeyBackupKit.AuthData("k"));

        // Megolm session IDs are base64 and may contain '/' and '+'.
        const string sessionId = "ab/cd+ef";
        string escaped = Uri.EscapeDataString(sessionId);
        await KeyBackupKit.PutSessionAsync(server, alice, "1", Room1, escaped, KeyBackupKit.Key(0, 0, false, "slash"));

        var (status, key) = await server.SendAsync(HttpMethod.Get, $"{V3}/room_keys/keys/{Uri.EscapeDataString(Room1)}/{escaped}?version=1",
            alice.AccessToken);
        Assert.Equal(200, status);
        Assert.Equal("slash", key.GetProperty("session_data").GetProperty("ciphertext").GetString());
        var room = (await server.SendAsync(HttpMethod.Get, $"{V3}/room_keys/keys/{Room1}?version=1", alice.AccessToken)).Body;
        Assert.Equal([sessionId], room.GetProperty("sessions").EnumerateObject().Select(s => s.Name));
        Assert.Equal(0, (await server.SendAsync(HttpMethod.Delete, $"{V3}/room_keys/keys/{Room1}/{escaped}?version=1", alice.AccessToken))
            .Body.GetProperty("count").GetInt32());
    }
}

/// <summary>Requests and bodies shared by the key backup tests.</summary>
internal static class KeyBackupKit
{
    public const string Algorithm = "m.megolm_backup.v1.curve25519-aes-sha2";

    public static JsonObject AuthData(string publicKey) => new()
    {
        ["public_key"] = publicKey,
        ["signatures"] = new JsonObject { ["@alice:test.local"] = new JsonObject { ["ed25519:DEVICE"] = "signature" } },
    };

    /// <summary>A session's key data; <paramref name="data"/> lands in <c>session_data.ciphertext</c> to tell keys apart.</summary>
    public static JsonObject Key(long firstMessageIndex, long forwardedCount, bool isVerified, string data) => new()
    {
        ["first_message_index"] = firstMessageIndex,
        ["forwarded_count"] = forwardedCount,
        ["is_verified"] = isVerified,
        ["session_data"] = new JsonObject { ["ephemeral"] = "eph", ["ciphertext"] = data, ["mac"] = "mac" },
    };

    public static async Task<string> CreateVersionAsync(TestHomeserver server, Session who, JsonObject authData)
    {
        var (status, body) = await server.SendAsync(HttpMethod.Post, "/_matrix/client/v3/room_keys/version", who.AccessToken,
            new JsonObject { ["algorithm"] = Algorithm, ["auth_data"] = authData });
        Assert.True(status == 200, $"create version: {status} {body}");
        return body.GetProperty("version").GetString()!;
    }

    /// <summary>PUT one session; returns the <c>{etag, count}</c> response.</summary>
    public static async Task<JsonElement> PutSessionAsync(TestHomeserver server, Session who, string version, string roomId,
        string sessionId, JsonObject key)
    {
        var (status, body) = await server.SendAsync(HttpMethod.Put,
            $"/_matrix/client/v3/room_keys/keys/{roomId}/{sessionId}?version={version}", who.AccessToken, key);
        Assert.True(status == 200, $"put session: {status} {body}");
        return body;
    }
}
