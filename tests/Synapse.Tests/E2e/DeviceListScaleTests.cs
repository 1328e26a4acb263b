using System.Collections.Concurrent;
using System.Data.Common;
using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Synapse.Configuration;
using Synapse.Events;
using Synapse.Identifiers;
using Synapse.RoomVersions;
using Synapse.Storage;
using Synapse.Streams;
using Synapse.Sync;
using Synapse.Tests.Infrastructure;
using Synapse.Tests.Storage;

namespace Synapse.Tests.E2e;

/// <summary>
/// Device lists at scale: <c>changed</c>/<c>left</c> against a reference model of random membership histories, the shape of
/// the storage work for a user in large rooms on a busy server (what the store hands back, how many statements run), bulk
/// device deletion and signature upload in a constant number of statements, and the signer index.
/// </summary>
public sealed class DeviceListScaleTests
{
    private const string Alice = "@alice:test.local";
    private const string Bob = "@bob:test.local";

    private static SyncToken Token(long events, long deviceLists) =>
        new([.. StreamRegistry.TokenStreams.Select(s => s switch
        {
            StreamNames.Events => events,
            StreamNames.DeviceLists => deviceLists,
            _ => 0L,
        })]);

    private static string Mate(int i) => $"@mate{i:D3}:test.local";

    private static string Stranger(int i) => $"@stranger{i:D3}:test.local";

    [Theory, ClassData(typeof(Engines))]
    public async Task Changes_RandomMembershipHistories_MatchTheRulesOnEveryRange(DatabaseEngine engine)
    {
        var (services, database) = await AccountStoreTests.OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;
        var events = services.GetRequiredService<IEventStore>();
        var store = services.GetRequiredService<IDeviceListStore>();

        // A fixed seed: a failure replays. Joins (and join-to-join profile changes) outnumber the rest so that rooms fill up.
        var random = new Random(5_2024);
        string[] users = [.. Enumerable.Range(0, 8).Select(i => $"@u{i}:test.local")];
        string[] rooms = [.. Enumerable.Range(0, 4).Select(i => $"!r{i}:test.local")];
        string[] memberships = ["join", "join", "join", "leave", "leave", "invite", "ban"];
        var model = new MembershipModel();
        var created = new HashSet<string>(StringComparer.Ordinal);
        long eventsAt = 0;
        long listsAt = 0;
        var tokens = new List<(long Events, long Lists)> { (0, 0) };
        for (int op = 0; op < 150; op++)
        {
            if (random.Next(3) == 0)
            {
                string user = users[random.Next(users.Length)];
                listsAt++;
                await store.AddChangesAsync(listsAt, UserId.Parse(user), [DeviceId.Parse("D" + op)], default);
                model.DeviceChanges.Add((listsAt, user));
            }
            else
            {
                string room = rooms[random.Next(rooms.Length)];
                string membership = created.Contains(room) ? memberships[random.Next(memberships.Length)] : "join";
                string user = users[random.Next(users.Length)];
                eventsAt++;
                await PersistAsync(events, room, created.Add(room), [(eventsAt, user, membership)]);
                model.Memberships.Add((eventsAt, room, user, membership));
            }

            tokens.Add((eventsAt, listsAt));
        }

        int withChanged = 0;
        int withLeft = 0;
        for (int i = 0; i < 60; i++)
        {
            // Some ranges run backwards: empty, as /keys/changes with from after to.
            var from = tokens[random.Next(tokens.Count)];
            var to = tokens[random.Next(tokens.Count)];
            foreach (string user in users)
            {
                var (expectedChanged, expectedLeft) = model.Expected(user, from, to);
                var (changed, left) = await DeviceListChanges.ComputeAsync(store, UserId.Parse(user), Token(from.Events, from.Lists),
                    Token(to.Events, to.Lists), membersMayHaveChanged: null, default);
                string range = $"{user} in ({from}, {to}]";
                Assert.True(expectedChanged.SequenceEqual(changed), $"changed of {range}: [{string.Join(", ", changed)}], expected [{string.Join(", ", expectedChanged)}]");
                Assert.True(expectedLeft.SequenceEqual(left), $"left of {range}: [{string.Join(", ", left)}], expected [{string.Join(", ", expectedLeft)}]");
                withChanged += changed.Count > 0 ? 1 : 0;
                withLeft += left.Count > 0 ? 1 : 0;
            }
        }

        // The history is not degenerate: both lists were exercised many times.
        Assert.True(withChanged > 50 && withLeft > 20, $"{withChanged} ranges with changed, {withLeft} with left");
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task Changes_UserInLargeRoomOnBusyServer_StoreHandsBackOnlyTheCandidates(DatabaseEngine engine)
    {
        var (services, database) = await AccountStoreTests.OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;
        await SeedBusyServerAsync(services);
        var store = new RecordingStore(services.GetRequiredService<IDeviceListStore>());
        var alice = UserId.Parse(Alice);

        // Only device lists moved (300 strangers and one room-mate changed devices): one store call, handing back the room-mate.
        var (changed, left) = await DeviceListChanges.ComputeAsync(store, alice, Token(601, 0), Token(601, 2), null, default);
        Assert.Equal([Mate(7)], changed);
        Assert.Empty(left);
        Assert.Equal([("GetChangedUsersSharingRoomsAsync", 0, 1)], store.Calls);

        // A room-mate leaves, a stranger (whose devices changed) joins, alice changes a device: the membership candidates are
        // the two users whose membership changed, not alice's 300 room-mates.
        await PersistAsync(services.GetRequiredService<IEventStore>(), "!big:test.local", false,
            [(602, Mate(0), "leave"), (603, Stranger(0), "join")]);
        await services.GetRequiredService<IDeviceListStore>().AddChangesAsync(3, alice, [DeviceId.Parse("NEW")], default);
        store.Calls.Clear();
        (changed, left) = await DeviceListChanges.ComputeAsync(store, alice, Token(601, 0), Token(603, 3), null, default);
        Assert.Equal([Alice, Mate(7), Stranger(0)], changed);
        Assert.Equal([Mate(0)], left);
        Assert.Equal(
            [("GetMembershipTransitionsAsync", 0, 2), ("GetUsersSharingRoomsAsync", 2, 1), ("GetChangedUsersSharingRoomsAsync", 0, 3)],
            store.Calls);

        // The room-mate who left is "left" for alice until then, and the stranger sees alice's room-mates after joining.
        Assert.Equal([Mate(0)], (await DeviceListChanges.ComputeAsync(store, alice, Token(601, 0), Token(602, 0), null, default)).Left);
        var strangerView = await DeviceListChanges.ComputeAsync(store, UserId.Parse(Stranger(0)), Token(602, 0), Token(603, 0), null, default);
        Assert.Equal(300, strangerView.Changed.Count);
        Assert.Contains(Alice, strangerView.Changed);
        Assert.DoesNotContain(Mate(0), strangerView.Changed);
    }

    [Fact]
    public async Task Changes_UserInLargeRoomOnBusyServer_OneStatementPerQuestion()
    {
        var (services, database) = await AccountStoreTests.OpenAsync(DatabaseEngine.Postgres);
        await using var _ = database;
        await using var __ = services;
        await SeedBusyServerAsync(services);
        var store = services.GetRequiredService<IDeviceListStore>();
        var alice = UserId.Parse(Alice);
        using var statements = new StatementRecorder(database.Options.DatabaseName!);

        await DeviceListChanges.ComputeAsync(store, alice, Token(601, 0), Token(601, 2), null, default);
        var changedQuery = statements.AssertTaken(1).Single();

        await PersistAsync(services.GetRequiredService<IEventStore>(), "!big:test.local", false,
            [(602, Mate(0), "leave"), (603, Stranger(0), "join")]);
        statements.Take();
        var (changed, left) = await DeviceListChanges.ComputeAsync(store, alice, Token(601, 0), Token(603, 2), null, default);
        Assert.Equal([Mate(7), Stranger(0)], changed);
        Assert.Equal([Mate(0)], left);
        var candidatesQuery = statements.AssertTaken(3)[1];   // transitions, the candidates' rooms, the device-list changes

        // Both room tests run per user, not as a join that first lists every member of alice's rooms.
        var db = services.GetRequiredService<SynapseDatabase>();
        foreach (string sql in new[] { changedQuery, candidatesQuery })
        {
            string plan = await ExplainAsync(db, sql, ("@me", Alice), ("@after", 0L), ("@upto", 2L),
                ("@users", SqlJsonRows.Json([Mate(0), Stranger(0)])));
            Assert.Contains("SubPlan", plan, StringComparison.Ordinal);
            Assert.DoesNotContain("hashed SubPlan", plan, StringComparison.Ordinal);
            Assert.DoesNotContain("Semi Join", plan, StringComparison.Ordinal);
        }

        // Alice joins a room of 300: one statement lists its members, one checks them all.
        await PersistAsync(services.GetRequiredService<IEventStore>(), "!elsewhere:test.local", false, [(604, Alice, "join")]);
        statements.Take();
        var joined = await DeviceListChanges.ComputeAsync(store, alice, Token(603, 2), Token(604, 2), null, default);
        Assert.Equal(300, joined.Changed.Count);      // the strangers
        statements.AssertTaken(3);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task DeleteDevices_ManyDevicesWithKeysAndSignatures_RemovesExactlyTheirRows(DatabaseEngine engine)
    {
        var (services, database) = await AccountStoreTests.OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;
        var db = services.GetRequiredService<SynapseDatabase>();
        string[] devices = [.. Enumerable.Range(0, 40).Select(i => $"D{i:D3}")];
        await SeedDevicesAsync(db, Alice, devices);
        await SeedDevicesAsync(db, Bob, ["D001", "D002"]);

        // Every odd device, asked for out of order, with an unknown one and a duplicate.
        string[] odd = [.. devices.Where((_, i) => i % 2 == 1).Reverse()];
        string[] asked = [.. odd.Take(5), "UNKNOWN", odd[0], .. odd.Skip(5)];
        var removal = await services.GetRequiredService<IAccountStore>().DeleteDevicesAsync(UserId.Parse(Alice),
            [.. asked.Select(DeviceId.Parse)], 77, default);

        Assert.Equal(odd, removal.DeviceIds.Select(d => d.Value));
        Assert.Equal(odd.SelectMany(d => new[] { $"{Alice}|{d}|a", $"{Alice}|{d}|b" }).Order(StringComparer.Ordinal),
            removal.TokenHashes.Order(StringComparer.Ordinal));
        string[] even = [.. devices.Except(odd)];
        foreach (string table in new[] { "devices", "access_tokens", "e2e_device_keys", "e2e_one_time_keys", "e2e_fallback_keys", "device_inbox" })
        {
            Assert.Equal(even, await DistinctDevicesAsync(db, table, Alice));
            Assert.Equal(["D001", "D002"], await DistinctDevicesAsync(db, table, Bob));
        }

        Assert.Equal([.. odd.Order(StringComparer.Ordinal).Select(d => (77L, Alice, d))],
            await services.GetRequiredService<IDeviceListStore>().GetRowsAsync(76, 77, 10, default));

        // Signatures on the deleted devices and by them are gone; those of kept devices, and bob's with the same key IDs, stay.
        var signatures = await ReadStringsAsync(db, """
            SELECT signer_user_id || ' ' || signer_key_id || ' ' || target_user_id || ' ' || target_key_id
            FROM e2e_cross_signing_signatures ORDER BY 1
            """);
        string[] expected =
        [
            .. new[] { Alice, Bob }.SelectMany(user => (user == Alice ? even : ["D001", "D002"]).SelectMany(d => new[]
            {
                $"{user} ed25519:SSK {user} {d}",
                $"{user} ed25519:{d} {user} MASTER",
            })),
        ];
        Assert.Equal(expected.Order(StringComparer.Ordinal), signatures);

        // Nothing asked, nothing done.
        Assert.Empty((await services.GetRequiredService<IAccountStore>().DeleteDevicesAsync(UserId.Parse(Alice), [], 78, default)).DeviceIds);
    }

    [Fact]
    public async Task DeleteDevicesAndAddSignatures_AThousandAtOnce_StatementsDoNotGrowWithTheCount()
    {
        var (services, database) = await AccountStoreTests.OpenAsync(DatabaseEngine.Postgres);
        await using var _ = database;
        await using var __ = services;
        var db = services.GetRequiredService<SynapseDatabase>();
        var accounts = services.GetRequiredService<IAccountStore>();
        string[] devices = [.. Enumerable.Range(0, 1010).Select(i => $"D{i:D4}")];
        await SeedDevicesAsync(db, Alice, devices);
        using var statements = new StatementRecorder(database.Options.DatabaseName!);

        // Tokens, devices, four device-owned tables, signatures on and by the devices, the device-list rows: nine statements,
        // for ten devices as for a thousand.
        Assert.Equal(10, (await accounts.DeleteDevicesAsync(UserId.Parse(Alice), [.. devices.Take(10).Select(DeviceId.Parse)], 1, default)).DeviceIds.Count);
        statements.AssertTaken(9);
        Assert.Equal(1000, (await accounts.DeleteDevicesAsync(UserId.Parse(Alice), [.. devices.Skip(10).Select(DeviceId.Parse)], 2, default)).DeviceIds.Count);
        statements.AssertTaken(9);
        Assert.Empty(await DistinctDevicesAsync(db, "devices", Alice));
        statements.Take();

        // A thousand signatures (two of them on the same key by the same signer: the last wins) and their device-list rows.
        var crossSigning = services.GetRequiredService<ICrossSigningStore>();
        CrossSigningSignature[] signatures =
        [
            new(Bob, "ed25519:USK", Alice, "MASTER", "old"),
            .. Enumerable.Range(0, 1000).Select(i => new CrossSigningSignature(Alice, "ed25519:SSK", Alice, $"K{i:D4}", "s" + i)),
            new(Bob, "ed25519:USK", Alice, "MASTER", "new"),
        ];
        await crossSigning.AddSignaturesAsync(UserId.Parse(Alice), signatures, 3, default);
        statements.AssertTaken(2);
        var stored = await crossSigning.GetSignaturesAsync([Alice], Bob, default);
        Assert.Equal(1001, stored.Count);
        Assert.Equal("new", stored.Single(s => s.SignerUserId == Bob).Signature);
        Assert.Equal(1001, (await services.GetRequiredService<IDeviceListStore>().GetRowsAsync(2, 3, 10, default)).Count);
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task AddSignatures_SameKeyTwiceAndForeignTarget_LastWinsAndForeignRejected(DatabaseEngine engine)
    {
        var (services, database) = await AccountStoreTests.OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;
        var store = services.GetRequiredService<ICrossSigningStore>();

        await store.AddSignaturesAsync(UserId.Parse(Alice),
            [new(Bob, "ed25519:USK", Alice, "MASTER", "1"), new(Alice, "ed25519:SSK", Alice, "PHONE", "2"), new(Bob, "ed25519:USK", Alice, "MASTER", "3")],
            5, default);
        await store.AddSignaturesAsync(UserId.Parse(Alice), [new(Alice, "ed25519:SSK", Alice, "PHONE", "4")], 6, default);
        Assert.Equal(
            [new(Bob, "ed25519:USK", Alice, "MASTER", "3"), new(Alice, "ed25519:SSK", Alice, "PHONE", "4")],
            (await store.GetSignaturesAsync([Alice], Bob, default)).OrderBy(s => s.Signature, StringComparer.Ordinal));
        Assert.Equal([(5L, Alice, "MASTER"), (5L, Alice, "PHONE"), (6L, Alice, "PHONE")],
            await services.GetRequiredService<IDeviceListStore>().GetRowsAsync(0, 10, 10, default));

        // A signature on another user's key fails the whole call, before anything is written.
        await Assert.ThrowsAsync<ArgumentException>(() => store.AddSignaturesAsync(UserId.Parse(Alice),
            [new(Alice, "ed25519:SSK", Alice, "LAPTOP", "5"), new(Alice, "ed25519:USK", Bob, "MASTER", "6")], 7, default));
        Assert.Equal(2, (await store.GetSignaturesAsync([Alice], Bob, default)).Count);
        Assert.Empty(await services.GetRequiredService<IDeviceListStore>().GetRowsAsync(6, 10, 10, default));
    }

    [Theory, ClassData(typeof(Engines))]
    public async Task SignerIndex_DeleteOfADevicesOwnSignatures_IsAnIndexLookup(DatabaseEngine engine)
    {
        var (services, database) = await AccountStoreTests.OpenAsync(engine);
        await using var _ = database;
        await using var __ = services;
        var db = services.GetRequiredService<SynapseDatabase>();

        // The predicate of the deletion of the signatures deleted devices made, as the plan shows it.
        string plan = await db.ReadAsync(async (c, ct) =>
        {
            bool postgres = engine == DatabaseEngine.Postgres;
            if (postgres)
            {
                // On an empty table any plan is cheap: forbid the scan so that the plan shows whether an index can serve.
                await using var noScan = c.Command("SET enable_seqscan = off");
                await noScan.ExecuteNonQueryAsync(ct);
            }

            await using var explain = c.Command((postgres ? "EXPLAIN " : "EXPLAIN QUERY PLAN ") + $"""
                DELETE FROM e2e_cross_signing_signatures
                WHERE signer_user_id = @user AND signer_key_id IN (SELECT c0 FROM {SqlJsonRows.Table(c, "@keys", 1)} w)
                """).With("@user", Alice).With("@keys", SqlJsonRows.Json(["ed25519:PHONE"]));
            await using var reader = await explain.ExecuteReaderAsync(ct);
            var lines = new List<string>();
            while (await reader.ReadAsync(ct))
            {
                lines.Add(reader.GetValue(reader.FieldCount - 1).ToString()!);
            }

            return string.Join("\n", lines);
        }, default);

        Assert.Contains("e2e_cross_signing_signatures_signer", plan, StringComparison.Ordinal);
    }

    /// <summary>
    /// Alice and 300 room-mates in <c>!big</c> (events 1-301), 300 strangers in <c>!elsewhere</c> (302-601); device lists: every
    /// stranger at 1, room-mate 7 at 2.
    /// </summary>
    private static async Task SeedBusyServerAsync(IServiceProvider services)
    {
        var events = services.GetRequiredService<IEventStore>();
        await PersistAsync(events, "!big:test.local", true,
            [(1, Alice, "join"), .. Enumerable.Range(0, 300).Select(i => (2L + i, Mate(i), "join"))]);
        await PersistAsync(events, "!elsewhere:test.local", true, [.. Enumerable.Range(0, 300).Select(i => (302L + i, Stranger(i), "join"))]);
        await services.GetRequiredService<SynapseDatabase>().WriteAsync(async (c, t, ct) =>
        {
            for (int i = 0; i < 300; i++)
            {
                await DeviceListStore.InsertRowsAsync(c, t, 1, Stranger(i), ["PHONE", "LAPTOP"], ct);
            }

            await DeviceListStore.InsertRowsAsync(c, t, 2, Mate(7), ["PHONE"], ct);
            return 0;
        }, default);
    }

    /// <summary>
    /// Devices of <paramref name="user"/>, each with two access tokens (hashes <c>user|device|a</c> and <c>b</c>), device keys,
    /// two one-time keys, a fallback key, a to-device message, a signature by the user's self-signing key and one it made on
    /// the user's master key.
    /// </summary>
    private static async Task SeedDevicesAsync(SynapseDatabase db, string user, IReadOnlyList<string> devices) =>
        await db.WriteAsync(async (c, t, ct) =>
        {
            string[] statements =
            [
                "INSERT INTO devices (user_id, device_id) VALUES (@user, @device)",
                "INSERT INTO access_tokens (token_hash, user_id, device_id, created_ts) VALUES (@user || '|' || @device || '|a', @user, @device, 0)",
                "INSERT INTO access_tokens (token_hash, user_id, device_id, created_ts) VALUES (@user || '|' || @device || '|b', @user, @device, 0)",
                "INSERT INTO e2e_device_keys (user_id, device_id, key_json, ts) VALUES (@user, @device, '{}', 0)",
                "INSERT INTO e2e_one_time_keys (user_id, device_id, algorithm, key_id, key_json, ts) VALUES (@user, @device, 'signed_curve25519', 'A', '{}', 0)",
                "INSERT INTO e2e_one_time_keys (user_id, device_id, algorithm, key_id, key_json, ts) VALUES (@user, @device, 'signed_curve25519', 'B', '{}', 0)",
                "INSERT INTO e2e_fallback_keys (user_id, device_id, algorithm, key_id, key_json) VALUES (@user, @device, 'signed_curve25519', 'F', '{}')",
                "INSERT INTO device_inbox (stream_id, user_id, device_id, message_json) VALUES (1, @user, @device, '{}')",
                """
                INSERT INTO e2e_cross_signing_signatures (signer_user_id, signer_key_id, target_user_id, target_key_id, signature)
                VALUES (@user, 'ed25519:SSK', @user, @device, 'sig')
                """,
                """
                INSERT INTO e2e_cross_signing_signatures (signer_user_id, signer_key_id, target_user_id, target_key_id, signature)
                VALUES (@user, 'ed25519:' || @device, @user, 'MASTER', 'sig')
                """,
            ];
            foreach (string sql in statements)
            {
                await using var insert = c.Command(sql, t).With("@user", user).With("@device", "");
                foreach (string device in devices)
                {
                    insert.Parameters["@device"].Value = device;
                    await insert.ExecuteNonQueryAsync(ct);
                }
            }

            return 0;
        }, default);

    /// <summary>PostgreSQL's plan for a recorded statement, with the parameters it names.</summary>
    private static Task<string> ExplainAsync(SynapseDatabase db, string sql, params (string Name, object Value)[] parameters) =>
        db.ReadAsync(async (c, ct) =>
        {
            await using var explain = c.Command("EXPLAIN " + sql);
            foreach (var (name, value) in parameters.Where(p => sql.Contains(p.Name, StringComparison.Ordinal)))
            {
                explain.With(name, value);
            }

            var lines = new List<string>();
            await using var reader = await explain.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                lines.Add(reader.GetString(0));
            }

            return string.Join("\n", lines);
        }, default);

    private static Task<IReadOnlyList<string>> DistinctDevicesAsync(SynapseDatabase db, string table, string user) =>
        db.ReadAsync<IReadOnlyList<string>>(async (c, ct) =>
        {
            await using var query = c.Command($"SELECT DISTINCT device_id FROM {table} WHERE user_id = @user ORDER BY device_id")
                .With("@user", user);
            return await ReadAllAsync(query, ct);
        }, default);

    private static Task<IReadOnlyList<string>> ReadStringsAsync(SynapseDatabase db, string sql) =>
        db.ReadAsync<IReadOnlyList<string>>(async (c, ct) =>
        {
            await using var query = c.Command(sql);
            return await ReadAllAsync(query, ct);
        }, default);

    private static async Task<IReadOnlyList<string>> ReadAllAsync(DbCommand query, CancellationToken ct)
    {
        await using var reader = await query.ExecuteReaderAsync(ct);
        var values = new List<string>();
        while (await reader.ReadAsync(ct))
        {
            values.Add(reader.GetString(0));
        }

        return values;
    }

    /// <summary>Membership events of one room, in one batch; each event its own state group.</summary>
    private static async Task PersistAsync(IEventStore events, string roomId, bool newRoom,
        IReadOnlyList<(long Stream, string User, string Membership)> changes)
    {
        var toPersist = new List<EventToPersist>();
        var groups = new List<NewStateGroup>();
        var current = new List<CurrentStateChange>();
        foreach (var (stream, user, membership) in changes)
        {
            string json = JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["room_id"] = roomId,
                ["sender"] = user,
                ["type"] = "m.room.member",
                ["state_key"] = user,
                ["depth"] = stream,
                ["origin_server_ts"] = 1000 + stream,
                ["prev_events"] = Array.Empty<string>(),
                ["auth_events"] = Array.Empty<string>(),
                ["content"] = new Dictionary<string, object> { ["membership"] = membership, ["displayname"] = "n" + stream },
            });
            string eventId = "$e" + stream;
            var key = new TypeStateKey("m.room.member", user);
            toPersist.Add(new EventToPersist(Pdu.Create(JsonDocument.Parse(json).RootElement.Clone(), KnownRoomVersions.V10, eventId),
                stream, stream, null, 1000, null, null));
            groups.Add(new NewStateGroup(stream, eventId, null, 0, new Dictionary<TypeStateKey, string> { [key] = eventId }));
            current.Add(new CurrentStateChange(key, eventId, membership));
        }

        await events.PersistBatchAsync(new EventBatch
        {
            RoomId = roomId,
            NewRoom = newRoom ? new RoomRecord(roomId, "10", changes[0].User, false) : null,
            Events = toPersist,
            StateGroups = groups,
            CurrentState = current,
            ForwardExtremities = [toPersist[^1].Pdu.EventId],
        }, default);
    }

    /// <summary>
    /// The rules of <see cref="DeviceListChanges"/> over an in-memory history, written from their description: memberships
    /// in the range decide the candidates, the rooms shared now decide which candidates are reported.
    /// </summary>
    private sealed class MembershipModel
    {
        public List<(long Stream, string Room, string User, string Membership)> Memberships { get; } = [];

        public List<(long Stream, string User)> DeviceChanges { get; } = [];

        public (string[] Changed, string[] Left) Expected(string me, (long Events, long Lists) from, (long Events, long Lists) to)
        {
            var changed = new HashSet<string>(StringComparer.Ordinal);
            var leftCandidates = new HashSet<string>(StringComparer.Ordinal);
            bool InRange(long stream) => stream > from.Events && stream <= to.Events;
            if (to.Events > from.Events)
            {
                // Rooms the user is in now or changed its own membership of in the range; members whose joined-ness changed.
                var transitions = new List<(string Room, string User, bool Was, bool Is)>();
                foreach (string room in Memberships.Select(m => m.Room).Distinct()
                    .Where(r => JoinedNow(r, me) || Memberships.Any(m => m.Room == r && m.User == me && InRange(m.Stream))))
                {
                    foreach (string user in Memberships.Where(m => m.Room == room && InRange(m.Stream)).Select(m => m.User).Distinct())
                    {
                        bool was = At(room, user, from.Events) == "join";
                        bool now = At(room, user, to.Events) == "join";
                        if (was != now)
                        {
                            transitions.Add((room, user, was, now));
                        }
                    }
                }

                var roomsJoined = transitions.Where(t => t.User == me && t.Is).Select(t => t.Room).ToHashSet(StringComparer.Ordinal);
                var roomsLeft = transitions.Where(t => t.User == me && !t.Is).Select(t => t.Room).ToHashSet(StringComparer.Ordinal);
                foreach (var t in transitions.Where(t => t.User != me))
                {
                    if (t.Is && !roomsLeft.Contains(t.Room))
                    {
                        changed.Add(t.User);
                    }
                    else if (t.Was)
                    {
                        leftCandidates.Add(t.User);
                    }
                }

                changed.UnionWith(MembersNow(roomsJoined));
                leftCandidates.UnionWith(MembersNow(roomsLeft));
            }

            var devicesChanged = DeviceChanges.Where(d => d.Stream > from.Lists && d.Stream <= to.Lists).Select(d => d.User).ToHashSet(StringComparer.Ordinal);
            changed.UnionWith(devicesChanged);
            changed.Remove(me);
            leftCandidates.Remove(me);
            var sharing = MembersNow(Memberships.Select(m => m.Room).Where(r => JoinedNow(r, me)).ToHashSet(StringComparer.Ordinal));
            var resultChanged = changed.Where(sharing.Contains).ToList();
            if (devicesChanged.Contains(me))
            {
                resultChanged.Add(me);
            }

            return ([.. resultChanged.Order(StringComparer.Ordinal)],
                [.. leftCandidates.Where(u => !sharing.Contains(u)).Order(StringComparer.Ordinal)]);
        }

        private string? At(string room, string user, long position) =>
            Memberships.LastOrDefault(m => m.Room == room && m.User == user && m.Stream <= position).Membership;

        private bool JoinedNow(string room, string user) => At(room, user, long.MaxValue) == "join";

        private HashSet<string> MembersNow(HashSet<string> rooms) =>
            Memberships.Where(m => rooms.Contains(m.Room) && JoinedNow(m.Room, m.User)).Select(m => m.User).ToHashSet(StringComparer.Ordinal);
    }

    /// <summary>The store, recording each call: its name, how many users it was asked about, how many values it returned.</summary>
    private sealed class RecordingStore(IDeviceListStore inner) : IDeviceListStore
    {
        public List<(string Method, int Asked, int Returned)> Calls { get; } = [];

        public Task AddChangesAsync(long streamId, UserId userId, IReadOnlyCollection<DeviceId> deviceIds, CancellationToken cancellationToken) =>
            inner.AddChangesAsync(streamId, userId, deviceIds, cancellationToken);

        public async Task<IReadOnlyList<string>> GetChangedUsersSharingRoomsAsync(UserId userId, long after, long upTo,
            CancellationToken cancellationToken) =>
            Record(nameof(GetChangedUsersSharingRoomsAsync), 0,
                await inner.GetChangedUsersSharingRoomsAsync(userId, after, upTo, cancellationToken));

        public Task<IReadOnlyList<(long StreamId, string UserId, string DeviceId)>> GetRowsAsync(long after, long upTo, int limit,
            CancellationToken cancellationToken) =>
            inner.GetRowsAsync(after, upTo, limit, cancellationToken);

        public async Task<IReadOnlySet<string>> GetUsersSharingRoomsAsync(UserId userId, IReadOnlyCollection<string> candidates,
            CancellationToken cancellationToken) =>
            Record(nameof(GetUsersSharingRoomsAsync), candidates.Count,
                await inner.GetUsersSharingRoomsAsync(userId, candidates, cancellationToken));

        public async Task<IReadOnlySet<string>> GetJoinedMembersAsync(IReadOnlyCollection<string> roomIds, CancellationToken cancellationToken) =>
            Record(nameof(GetJoinedMembersAsync), 0, await inner.GetJoinedMembersAsync(roomIds, cancellationToken));

        public async Task<IReadOnlyList<MembershipTransition>> GetMembershipTransitionsAsync(UserId userId, long afterEvent, long upToEvent,
            CancellationToken cancellationToken) =>
            Record(nameof(GetMembershipTransitionsAsync), 0,
                await inner.GetMembershipTransitionsAsync(userId, afterEvent, upToEvent, cancellationToken));

        private T Record<T>(string method, int asked, T result)
            where T : IReadOnlyCollection<object>
        {
            Calls.Add((method, asked, result.Count));
            return result;
        }
    }
}
