using Synapse.Events;
using Synapse.RoomVersions;
using Synapse.State;
using static Synapse.Tests.State.StateResTestGraph;
using Versions = Synapse.RoomVersions.KnownRoomVersions;

namespace Synapse.Tests.State;

/// <summary>
/// State resolution v2 on small DAGs: the classic forks (a ban against a power levels change, topics, join rules,
/// power level wars, kicks), the rules about unconflicted state, rejected and missing events, determinism, and the
/// two orderings on crafted graphs. Scenarios run on v2 (v1-format event IDs), v10 and v11 where the version could
/// matter.
/// </summary>
public sealed class StateResolverV2Tests
{
    public static readonly TheoryData<string> Versions2To11 = new("2", "6", "10", "11");

    private static RoomVersion V(string identifier) => Versions.Find(identifier)!;

    private static string ModeratorBob => Users((Alice, 100), (Bob, 50));

    [Fact]
    public async Task ResolveAsync_RoomVersion1_IsRefused()
    {
        var g = Standard(Versions.V10);

        await Assert.ThrowsAsync<ArgumentException>(() =>
            StateResolverV2.ResolveAsync(Versions.V1, [g.StateAfter("IMB"), g.StateAfter("IMC")], g.Source, CancellationToken.None));
    }

    [Fact]
    public async Task ResolveAsync_NoStateSets_IsEmpty()
    {
        var result = await StateResolverV2.ResolveAsync(Versions.V10, [], new TestEventSource(), CancellationToken.None);

        Assert.Empty(result);
    }

    [Fact]
    public async Task ResolveAsync_OneStateSet_ReturnsItWithoutReadingEvents()
    {
        var g = Standard(Versions.V10);

        var result = await g.ResolveAsync("IMC");

        Assert.Equal(g.StateAfter("IMC"), result);
        Assert.Equal(0, g.Source.Calls);
    }

    [Fact]
    public async Task ResolveAsync_IdenticalStates_ReturnsThemWithoutReadingEvents()
    {
        var g = Standard(Versions.V10);

        var result = await g.ResolveAsync("IMC", "IMC");

        Assert.Equal(g.StateAfter("IMC"), result);
        Assert.Equal(0, g.Source.Calls);
    }

    [Theory, MemberData(nameof(Versions2To11))]
    public async Task ResolveAsync_BanByModeratorDemotedOnTheOtherFork_BanLoses(string version)
    {
        // Alice demotes Bob while Bob, still a moderator on his fork, bans Zara. Alice outranks Bob, so her power
        // levels are applied first and the ban no longer passes.
        var g = Standard(V(version), ModeratorBob);
        g.Member("IMZ", Zara, "join", Zara, after: "IMC");
        g.PowerLevels("PA", Alice, Users((Alice, 100), (Bob, 0)), after: "IMZ");
        g.Member("MB", Zara, "ban", Bob, after: "IMZ");

        var result = await g.ResolveAsync("PA", "MB");

        Assert.Equal("PA", g.NameAt(result, PowerLevelsKey));
        Assert.Equal("IMZ", g.NameAt(result, MemberKey(Zara)));
    }

    [Theory, MemberData(nameof(Versions2To11))]
    public async Task ResolveAsync_AdminBansModeratorWhoChangesPowerLevels_BanWins(string version)
    {
        // The ban (by Alice, 100) sorts before Bob's (50) power levels change; once banned, Bob cannot send it.
        var g = Standard(V(version), ModeratorBob);
        g.Member("MB", Bob, "ban", Alice, after: "IMC");
        g.PowerLevels("PB", Bob, Users((Alice, 100), (Bob, 50), (Carol, 50)), after: "IMC");

        var result = await g.ResolveAsync("MB", "PB");

        Assert.Equal("MB", g.NameAt(result, MemberKey(Bob)));
        Assert.Equal("IPOWER", g.NameAt(result, PowerLevelsKey));
    }

    [Theory, MemberData(nameof(Versions2To11))]
    public async Task ResolveAsync_TopicFork_MainlinePositionOutranksTimestamp(string version)
    {
        // TA cites the new power levels PA, TB the older IPOWER: TB sorts first on the mainline of PA and TA, applied
        // last, wins although TB is later.
        var g = Standard(V(version), ModeratorBob);
        g.PowerLevels("PA", Alice, Users((Alice, 100), (Bob, 50), (Carol, 50)), after: "IMC");
        g.Topic("TA", Alice, after: "PA", ts: 5_000);
        g.Topic("TB", Bob, after: "IMC", ts: 9_000);

        var result = await g.ResolveAsync("TA", "TB");

        Assert.Equal("PA", g.NameAt(result, PowerLevelsKey));
        Assert.Equal("TA", g.NameAt(result, TopicKey));
    }

    [Theory]
    [InlineData(5_000, 9_000, "TB")]
    [InlineData(9_000, 5_000, "TA")]
    [InlineData(7_000, 7_000, "TB")] // Same timestamp: the greater event ID is applied last.
    public async Task ResolveAsync_TopicForkOnTheSamePowerLevels_LaterTimestampThenGreaterEventIdWins(long tsA, long tsB, string winner)
    {
        var g = Standard(Versions.V10, ModeratorBob);
        g.Topic("TA", Alice, after: "IMC", ts: tsA);
        g.Topic("TB", Bob, after: "IMC", ts: tsB);

        var result = await g.ResolveAsync("TA", "TB");

        Assert.Equal(winner, g.NameAt(result, TopicKey));
    }

    [Theory, MemberData(nameof(Versions2To11))]
    public async Task ResolveAsync_JoinRacingAChangeOfJoinRuleToInvite_JoinIsDropped(string version)
    {
        var g = Standard(V(version));
        g.JoinRules("JR", "invite", after: "IMC");
        g.Member("MZ", Zara, "join", Zara, after: "IMC");

        var result = await g.ResolveAsync("JR", "MZ");

        Assert.Equal("JR", g.NameAt(result, JoinRulesKey));
        Assert.False(result.ContainsKey(MemberKey(Zara)));
    }

    [Fact]
    public async Task ResolveAsync_InvitedUserJoinRacingAChangeOfJoinRuleToInvite_JoinIsKept()
    {
        var g = Standard(Versions.V10);
        g.Member("IZ", Zara, "invite", Alice, after: "IMC");
        g.JoinRules("JR", "invite", after: "IZ");
        g.Member("MZ", Zara, "join", Zara, after: "IZ");

        var result = await g.ResolveAsync("JR", "MZ");

        Assert.Equal("JR", g.NameAt(result, JoinRulesKey));
        Assert.Equal("MZ", g.NameAt(result, MemberKey(Zara)));
    }

    [Theory, MemberData(nameof(Versions2To11))]
    public async Task ResolveAsync_ConcurrentPowerLevelChanges_HigherPoweredSenderWins(string version)
    {
        // Alice demotes Bob; Bob, concurrently, promotes Carol. Alice's change sorts first, Bob's no longer passes.
        var g = Standard(V(version), ModeratorBob);
        g.PowerLevels("PA", Alice, Users((Alice, 100), (Bob, 0)), after: "IMC");
        g.PowerLevels("PB", Bob, Users((Alice, 100), (Bob, 50), (Carol, 50)), after: "IMC");

        var result = await g.ResolveAsync("PA", "PB");

        Assert.Equal("PA", g.NameAt(result, PowerLevelsKey));
    }

    [Theory, MemberData(nameof(Versions2To11))]
    public async Task ResolveAsync_TopicBySomeonePromotedOnTheLosingFork_IsDropped(string version)
    {
        var g = Standard(V(version), ModeratorBob);
        g.Topic("T0", Alice, after: "IMC");
        g.PowerLevels("PA", Alice, Users((Alice, 100), (Bob, 0)), after: "T0");
        g.PowerLevels("PB", Bob, Users((Alice, 100), (Bob, 50), (Carol, 50)), after: "T0");
        g.Topic("TC", Carol, after: "PB");

        var result = await g.ResolveAsync("PA", "TC");

        Assert.Equal("PA", g.NameAt(result, PowerLevelsKey));
        Assert.Equal("T0", g.NameAt(result, TopicKey));
    }

    [Theory, MemberData(nameof(Versions2To11))]
    public async Task ResolveAsync_PowerLevelsChainOnOneFork_IsReplayedInAuthOrder(string version)
    {
        // "Offtopic" power levels: Bob promotes Carol, Carol then lowers herself; the other fork never saw either.
        // Carol's change only passes after Bob's, which the topological order guarantees.
        var g = Standard(V(version), ModeratorBob);
        g.PowerLevels("PB", Bob, Users((Alice, 100), (Bob, 50), (Carol, 50)), after: "IMC");
        g.PowerLevels("PC", Carol, Users((Alice, 100), (Bob, 50), (Carol, 0)), after: "PB");
        g.Topic("T", Alice, after: "IMC");

        var result = await g.ResolveAsync("PC", "T");

        Assert.Equal("PC", g.NameAt(result, PowerLevelsKey));
        Assert.Equal("T", g.NameAt(result, TopicKey));
    }

    [Theory, MemberData(nameof(Versions2To11))]
    public async Task ResolveAsync_JoinInThePowerEventsAuthChain_IsReplayedBeforeThem(string version)
    {
        // Fork A: Zara joins, Alice promotes her, Zara changes the join rules. Fork B: Alice kicks Zara (who never
        // joined there). Zara's join is a conflicted non-power event in the auth chain of her join rules, so step 1
        // replays it after the kick and before her join rules, which then pass. Replayed only in step 3, it would come
        // too late: her join rules would meet the kick.
        var g = Standard(V(version));
        g.Member("MZ", Zara, "join", Zara, after: "IMC");
        g.PowerLevels("PZ", Alice, Users((Alice, 100), (Zara, 50)), after: "MZ");
        g.Add("JZ", "m.room.join_rules", "", Zara, """{"join_rule": "invite"}""", after: "PZ");
        g.Member("KZ", Zara, "leave", Alice, after: "IMC");

        var result = await g.ResolveAsync("JZ", "KZ");

        Assert.Equal("JZ", g.NameAt(result, JoinRulesKey));
        Assert.Equal("MZ", g.NameAt(result, MemberKey(Zara)));
        Assert.Equal("PZ", g.NameAt(result, PowerLevelsKey));
    }

    [Fact]
    public async Task ResolveAsync_ConflictedEventBehindAnEventOutsideTheFullConflictedSet_IsReplayedInStep3()
    {
        // Invite-only room: Alice invites Dave, Dave joins and invites Zara, Zara joins. Fork A: Dave leaves. Fork B:
        // Alice kicks Zara. Dave's join (conflicted) is in the kick's auth chain only through Dave's invite of Zara,
        // which every state's auth chain holds (so it is not in the full conflicted set): step 1 does not reach it, and
        // Dave's join is replayed with his leave in step 3.
        var g = Standard(Versions.V10, ModeratorBob);
        g.JoinRules("JRI", "invite", after: "IMC");
        g.Member("ID", "@dave:d.test", "invite", Alice, after: "JRI");
        g.Member("MD", "@dave:d.test", "join", "@dave:d.test", after: "ID");
        g.Member("IZ", Zara, "invite", "@dave:d.test", after: "MD");
        g.Member("MZ", Zara, "join", Zara, after: "IZ");
        g.Member("LD", "@dave:d.test", "leave", "@dave:d.test", after: "MZ");
        g.Member("KZ", Zara, "leave", Alice, after: "MZ");

        var result = await g.ResolveAsync("LD", "KZ");
        var reversed = await g.ResolveAsync("KZ", "LD");

        Assert.Equal("LD", g.NameAt(result, MemberKey("@dave:d.test")));
        Assert.Equal("KZ", g.NameAt(result, MemberKey(Zara)));
        Assert.Equal(result, reversed);
    }

    [Theory, MemberData(nameof(Versions2To11))]
    public async Task ResolveAsync_KickRacingAJoin_KickWins(string version)
    {
        // Invite-only room: Alice invites Zara, then revokes the invite (a kick) while Zara accepts it.
        var g = Standard(V(version));
        g.JoinRules("JRI", "invite", after: "IMC");
        g.Member("IZ", Zara, "invite", Alice, after: "JRI");
        g.Member("MZ", Zara, "join", Zara, after: "IZ");
        g.Member("KZ", Zara, "leave", Alice, after: "IZ");

        var result = await g.ResolveAsync("MZ", "KZ");
        var reversed = await g.ResolveAsync("KZ", "MZ");

        Assert.Equal("KZ", g.NameAt(result, MemberKey(Zara)));
        Assert.Equal(result, reversed);
    }

    [Fact]
    public async Task ResolveAsync_UnconflictedEventReplacedDuringTheReplay_IsPutBack()
    {
        // Zara joined while the room was public; the change to invite-only (JRN) is in both states. The old join rules
        // (IJR) are in the auth difference, so step 2 replays them over JRN; step 5 restores the unconflicted JRN.
        var g = new StateResTestGraph(Versions.V10);
        g.Add("CREATE", "m.room.create", "", Alice, $$"""{"creator": "{{Alice}}", "room_version": "10"}""", after: null);
        g.Member("IMA", Alice, "join", Alice, after: "CREATE");
        g.PowerLevels("IPOWER", Alice, Users((Alice, 100)), after: "IMA");
        g.JoinRules("IJR", "public", after: "IPOWER");
        g.JoinRules("JRN", "invite", after: "IJR");
        g.Member("MZ", Zara, "join", Zara, after: "IJR");

        var result = await g.ResolveAsync(g.StateAfter("JRN"), g.StateAfter("MZ", "JRN"));

        Assert.Equal("JRN", g.NameAt(result, JoinRulesKey));
        Assert.Equal("MZ", g.NameAt(result, MemberKey(Zara)));
    }

    [Fact]
    public async Task ResolveAsync_UnconflictedEventCitedOnOneSideOnly_IsNotReplayed()
    {
        // JRN (invite-only) is unconflicted; only fork A's invite cites it. Read literally, the auth difference would
        // hold it and replay it after the old public join rules, rejecting Zara's join made while the room was
        // public; Synapse, Ruma and gomatrixserverlib leave unconflicted events out of the auth difference.
        var g = new StateResTestGraph(Versions.V10);
        g.Add("CREATE", "m.room.create", "", Alice, $$"""{"creator": "{{Alice}}", "room_version": "10"}""", after: null);
        g.Member("IMA", Alice, "join", Alice, after: "CREATE");
        g.PowerLevels("IPOWER", Alice, Users((Alice, 100)), after: "IMA");
        g.JoinRules("IJR", "public", after: "IPOWER");
        g.JoinRules("JRN", "invite", after: "IJR");
        g.Member("IB", Bob, "invite", Alice, after: "JRN");
        g.Member("MZ", Zara, "join", Zara, after: "IJR");

        var result = await g.ResolveAsync(g.StateAfter("IB"), g.StateAfter("MZ", "JRN"));

        Assert.Equal("JRN", g.NameAt(result, JoinRulesKey));
        Assert.Equal("IB", g.NameAt(result, MemberKey(Bob)));
        Assert.Equal("MZ", g.NameAt(result, MemberKey(Zara)));
    }

    [Fact]
    public async Task ResolveAsync_UnconflictedEventThatWouldNoLongerPassAuth_IsKept()
    {
        var g = Standard(Versions.V10, ModeratorBob);
        g.Topic("TB", Bob, after: "IMC");
        g.PowerLevels("PA", Alice, Users((Alice, 100), (Bob, 0)), after: "TB");
        g.Member("MZ", Zara, "join", Zara, after: "TB");

        var result = await g.ResolveAsync("PA", "MZ");

        Assert.Equal("TB", g.NameAt(result, TopicKey));
        Assert.Equal("PA", g.NameAt(result, PowerLevelsKey));
        Assert.Equal("MZ", g.NameAt(result, MemberKey(Zara)));
        foreach (var key in g.StateAfter("TB").Keys)
        {
            Assert.True(result.ContainsKey(key), $"{key} is missing");
        }
    }

    [Fact]
    public async Task ResolveAsync_ConflictedEventFailingAuthAgainstTheResolvedState_IsDropped()
    {
        var g = Standard(Versions.V10, ModeratorBob);
        g.PowerLevels("PA", Alice, Users((Alice, 100), (Bob, 0)), after: "IMC");
        g.Topic("TB", Bob, after: "IMC");

        var result = await g.ResolveAsync("PA", "TB");

        Assert.Equal("PA", g.NameAt(result, PowerLevelsKey));
        Assert.False(result.ContainsKey(TopicKey));
    }

    [Theory]
    [InlineData(false, true)]
    [InlineData(true, false)]
    public async Task ResolveAsync_KeyMissingFromTheResolvedState_ComesFromTheEventsAuthEventsUnlessRejected(bool joinRejected, bool statusKept)
    {
        // Zara's join loses to the invite-only join rules, so her membership is absent from the resolved state when
        // her status event is checked: the check falls back to the status event's own auth event, her join.
        var g = Standard(Versions.V10, """{"users": {"@alice:a.test": 100}, "events": {"org.example.status": 0}}""");
        g.JoinRules("JR", "invite", after: "IMC");
        g.Member("MZ", Zara, "join", Zara, after: "IMC");
        g.Add("SZ", "org.example.status", "", Zara, """{"status": "here"}""", after: "MZ");
        if (joinRejected)
        {
            g.Source.Rejected.Add(g.Id("MZ"));
        }

        var result = await g.ResolveAsync("JR", "SZ");

        Assert.False(result.ContainsKey(MemberKey(Zara)));
        Assert.Equal(statusKept, result.ContainsKey(new TypeStateKey("org.example.status", "")));
    }

    [Fact]
    public async Task ResolveAsync_ConflictedEventTheSourceLacks_IsLeftOut()
    {
        var g = Standard(Versions.V10, ModeratorBob);
        g.Topic("TA", Alice, after: "IMC", ts: 5_000);
        g.Topic("TB", Bob, after: "IMC", ts: 9_000);
        g.Source.Missing.Add(g.Id("TB"));

        var result = await g.ResolveAsync("TA", "TB");

        Assert.Equal("TA", g.NameAt(result, TopicKey));
    }

    [Fact]
    public async Task ResolveAsync_ReadsTheAuthChainsBreadthFirstInBatches()
    {
        var g = Standard(Versions.V10, ModeratorBob);
        g.Topic("TA", Alice, after: "IMC");
        g.Topic("TB", Bob, after: "IMC");

        await g.ResolveAsync("TA", "TB");

        // State events, their auth events, theirs: one call per level of the auth DAG, not one per event.
        Assert.InRange(g.Source.Calls, 1, 4);
    }

    [Theory, MemberData(nameof(Versions2To11))]
    public async Task ResolveAsync_AnyOrderOfTheStateSets_GivesTheSameResult(string version)
    {
        // Three forks touching power levels, a ban, a topic and a membership at once.
        var g = Standard(V(version), ModeratorBob);
        g.Member("IMZ", Zara, "join", Zara, after: "IMC");
        g.Topic("T0", Alice, after: "IMZ");
        g.PowerLevels("PA", Alice, Users((Alice, 100), (Bob, 0), (Carol, 50)), after: "T0");
        g.Topic("TA", Carol, after: "PA");
        g.Member("MB", Zara, "ban", Bob, after: "T0");
        g.Topic("TB", Bob, after: "MB");
        g.Member("LC", Carol, "leave", Carol, after: "T0");
        g.JoinRules("JC", "invite", after: "LC");
        string[] heads = ["TA", "TB", "JC"];

        var results = new List<IReadOnlyDictionary<TypeStateKey, string>>();
        foreach (var order in Permutations(heads))
        {
            results.Add(await g.ResolveAsync(order));
        }

        Assert.All(results, r => Assert.Equal(results[0], r));
        var result = results[0];
        Assert.Equal("PA", g.NameAt(result, PowerLevelsKey));
        Assert.Equal("JC", g.NameAt(result, JoinRulesKey));
        // Zara's join is in the auth chain of Bob's ban, so it is replayed with the power events, after the change to
        // invite-only (Alice outranks Zara), and fails; the ban fails too (PA demoted Bob): Zara ends with no membership.
        Assert.False(result.ContainsKey(MemberKey(Zara)));
        Assert.Equal("LC", g.NameAt(result, MemberKey(Carol)));
        // TA is Carol's, sent before she left: replayed after LC it no longer passes; TB is Bob's, demoted by PA.
        Assert.Equal("T0", g.NameAt(result, TopicKey));
    }

    [Fact]
    public void ReverseTopologicalPowerOrder_UnrelatedEvents_HigherSenderPowerFirst()
    {
        var g = OrderingGraph();
        g.AddWithAuthEvents("A", "m.room.topic", "", Bob, "{}", ["CREATE", "P1"], ts: 1);
        g.AddWithAuthEvents("B", "m.room.topic", "", Alice, "{}", ["CREATE", "P1"], ts: 2);
        g.AddWithAuthEvents("C", "m.room.topic", "", Carol, "{}", ["CREATE", "P1"], ts: 0);

        Assert.Equal(["B", "A", "C"], PowerOrder(g, "A", "B", "C"));
    }

    [Fact]
    public void ReverseTopologicalPowerOrder_AuthAncestor_ComesBeforeItsDescendantWhateverTheirPower()
    {
        var g = OrderingGraph();
        g.AddWithAuthEvents("C", "m.room.member", Carol, Carol, """{"membership": "join"}""", ["CREATE", "P1"], ts: 1);
        g.AddWithAuthEvents("B", "m.room.topic", "", Alice, "{}", ["CREATE", "P1", "C"], ts: 2);
        g.AddWithAuthEvents("A", "m.room.topic", "", Bob, "{}", ["CREATE", "P1"], ts: 3);

        // Available at first: C (0) and A (50). B (100) waits for C.
        Assert.Equal(["A", "C", "B"], PowerOrder(g, "A", "B", "C"));
    }

    [Fact]
    public void ReverseTopologicalPowerOrder_OnlyAuthEventsInsideTheSet_AreEdges()
    {
        // B descends from C only through M, which is not sorted: as in Synapse and Ruma, that is no edge, and B (100)
        // comes first. (In state resolution the set is closed under auth events in the full conflicted set.)
        var g = OrderingGraph();
        g.AddWithAuthEvents("C", "m.room.member", Carol, Carol, """{"membership": "join"}""", ["CREATE", "P1"], ts: 1);
        g.AddWithAuthEvents("M", "m.room.member", Zara, Carol, """{"membership": "invite"}""", ["CREATE", "P1", "C"], ts: 2);
        g.AddWithAuthEvents("B", "m.room.member", Zara, Alice, """{"membership": "ban"}""", ["CREATE", "P1", "M"], ts: 3);

        Assert.Equal(["B", "C"], PowerOrder(g, "B", "C"));
    }

    [Fact]
    public void ReverseTopologicalPowerOrder_SenderLevelComesFromTheEventsOwnAuthEvents()
    {
        // Bob is 50 in P1 but 0 in P2: his event citing P2 sorts after Carol's citing P1 (Carol 0 in both), which is
        // earlier; his event citing P1 sorts first.
        var g = OrderingGraph();
        g.AddWithAuthEvents("P2", "m.room.power_levels", "", Alice, Users((Alice, 100)), ["CREATE", "P1"], ts: 1);
        g.AddWithAuthEvents("X", "m.room.topic", "", Bob, "{}", ["CREATE", "P2"], ts: 10);
        g.AddWithAuthEvents("Y", "m.room.topic", "", Carol, "{}", ["CREATE", "P1"], ts: 5);
        g.AddWithAuthEvents("Z", "m.room.topic", "", Bob, "{}", ["CREATE", "P1"], ts: 20);

        Assert.Equal(["Z", "Y", "X"], PowerOrder(g, "X", "Y", "Z"));
    }

    [Fact]
    public void ReverseTopologicalPowerOrder_NoPowerLevelsAmongTheAuthEvents_CreatorIs100()
    {
        var g = OrderingGraph();
        g.AddWithAuthEvents("X", "m.room.topic", "", Bob, "{}", ["CREATE", "P1"], ts: 1);
        g.AddWithAuthEvents("Y", "m.room.topic", "", Alice, "{}", ["CREATE"], ts: 2);

        Assert.Equal(["Y", "X"], PowerOrder(g, "X", "Y"));
    }

    [Fact]
    public void ReverseTopologicalPowerOrder_SamePowerAndTimestamp_EventIdInCodePointOrder()
    {
        var g = OrderingGraph();
        g.AddWithAuthEvents("a", "m.room.topic", "", Bob, "{}", ["CREATE", "P1"], ts: 7);
        g.AddWithAuthEvents("B", "m.room.topic", "", Bob, "{}", ["CREATE", "P1"], ts: 7);
        g.AddWithAuthEvents("\U0001F600", "m.room.topic", "", Bob, "{}", ["CREATE", "P1"], ts: 7);
        g.AddWithAuthEvents("\uFF5E", "m.room.topic", "", Bob, "{}", ["CREATE", "P1"], ts: 7);
        g.AddWithAuthEvents("early", "m.room.topic", "", Bob, "{}", ["CREATE", "P1"], ts: 6);

        // U+FF5E sorts before U+1F600 by code point, although its UTF-16 unit is above the surrogate D83D.
        Assert.Equal(["early", "B", "a", "\uFF5E", "\U0001F600"], PowerOrder(g, "a", "B", "\U0001F600", "\uFF5E", "early"));
    }

    [Fact]
    public void MainlineOrder_EventsCitingOlderPowerLevels_ComeFirst()
    {
        var g = MainlineGraph();
        g.AddWithAuthEvents("E3", "m.room.topic", "", Alice, "{}", ["CREATE", "P3"], ts: 1);
        g.AddWithAuthEvents("E2", "m.room.topic", "", Alice, "{}", ["CREATE", "P2"], ts: 2);
        g.AddWithAuthEvents("E1", "m.room.topic", "", Alice, "{}", ["CREATE", "P1"], ts: 3);

        Assert.Equal(["E1", "E2", "E3"], Mainline(g, "P3", "E3", "E2", "E1"));
    }

    [Fact]
    public void MainlineOrder_EventWhosePowerLevelsChainMissesTheMainline_ComesFirst()
    {
        var g = MainlineGraph();
        g.AddWithAuthEvents("POFF", "m.room.power_levels", "", Alice, Users((Alice, 100)), ["CREATE"], ts: 1);
        g.AddWithAuthEvents("E1", "m.room.topic", "", Alice, "{}", ["CREATE", "P1"], ts: 2);
        g.AddWithAuthEvents("EOFF", "m.room.topic", "", Alice, "{}", ["CREATE", "POFF"], ts: 3);
        g.AddWithAuthEvents("ENONE", "m.room.topic", "", Alice, "{}", ["CREATE"], ts: 4);

        Assert.Equal(["EOFF", "ENONE", "E1"], Mainline(g, "P3", "E1", "EOFF", "ENONE"));
    }

    [Fact]
    public void MainlineOrder_PowerLevelsOffTheMainline_TakeThePositionOfTheirFirstMainlineAncestor()
    {
        var g = MainlineGraph();
        g.AddWithAuthEvents("PX", "m.room.power_levels", "", Alice, Users((Alice, 100)), ["CREATE", "P2"], ts: 1);
        g.AddWithAuthEvents("EX", "m.room.topic", "", Alice, "{}", ["CREATE", "PX"], ts: 2);
        g.AddWithAuthEvents("E1", "m.room.topic", "", Alice, "{}", ["CREATE", "P1"], ts: 3);
        g.AddWithAuthEvents("E2", "m.room.topic", "", Alice, "{}", ["CREATE", "P2"], ts: 4);

        // EX has position 1 (P2), like E2, and is earlier.
        Assert.Equal(["E1", "EX", "E2"], Mainline(g, "P3", "E2", "E1", "EX"));
    }

    [Fact]
    public void MainlineOrder_EventOnTheMainlineItself_IsPlacedByTheEventsItCites()
    {
        // The walk starts at e1, not e: P2 (on the mainline at 1) cites P1 (at 2), so it sorts before E2 (at 1).
        var g = MainlineGraph();
        g.AddWithAuthEvents("E2", "m.room.topic", "", Alice, "{}", ["CREATE", "P2"], ts: 0);

        Assert.Equal(["P2", "E2"], Mainline(g, "P3", "E2", "P2"));
    }

    [Fact]
    public void MainlineOrder_SamePosition_TimestampThenEventId()
    {
        var g = MainlineGraph();
        g.AddWithAuthEvents("EB", "m.room.topic", "", Alice, "{}", ["CREATE", "P2"], ts: 5);
        g.AddWithAuthEvents("EA", "m.room.topic", "", Alice, "{}", ["CREATE", "P2"], ts: 5);
        g.AddWithAuthEvents("E0", "m.room.topic", "", Alice, "{}", ["CREATE", "P2"], ts: 9);

        Assert.Equal(["EA", "EB", "E0"], Mainline(g, "P3", "E0", "EB", "EA"));
    }

    [Fact]
    public void MainlineOrder_NoPowerLevels_TimestampOrder()
    {
        var g = MainlineGraph();
        g.AddWithAuthEvents("E1", "m.room.topic", "", Alice, "{}", ["CREATE", "P1"], ts: 9);
        g.AddWithAuthEvents("E2", "m.room.topic", "", Alice, "{}", ["CREATE", "P2"], ts: 3);

        Assert.Equal(["E2", "E1"], StateResolverV2.MainlineOrder(g.Source.Events.Values, [g.Id("E1"), g.Id("E2")], null).Select(Name).ToList());
    }

    [Theory]
    [InlineData("a", "b", -1)]
    [InlineData("ab", "a", 1)]
    [InlineData("same", "same", 0)]
    [InlineData("\uFF5E", "\U0001F600", -1)]
    [InlineData("\U0001F600", "\uE000", 1)]
    [InlineData("Z", "a", -1)]
    public void CompareCodePoints_OrdersByUnicodeScalarValue(string x, string y, int sign)
    {
        Assert.Equal(sign, Math.Sign(StateResolverV2.CompareCodePoints(x, y)));
    }

    private static StateResTestGraph OrderingGraph()
    {
        var g = new StateResTestGraph(Versions.V10);
        g.AddWithAuthEvents("CREATE", "m.room.create", "", Alice, $$"""{"creator": "{{Alice}}"}""", [], ts: 0);
        g.AddWithAuthEvents("P1", "m.room.power_levels", "", Alice, ModeratorBob, ["CREATE"], ts: 0);
        return g;
    }

    /// <summary>A mainline P3 → P2 → P1 (each citing the one before).</summary>
    private static StateResTestGraph MainlineGraph()
    {
        var g = new StateResTestGraph(Versions.V10);
        g.AddWithAuthEvents("CREATE", "m.room.create", "", Alice, $$"""{"creator": "{{Alice}}"}""", [], ts: 0);
        g.AddWithAuthEvents("P1", "m.room.power_levels", "", Alice, Users((Alice, 100)), ["CREATE"], ts: 0);
        g.AddWithAuthEvents("P2", "m.room.power_levels", "", Alice, Users((Alice, 100)), ["CREATE", "P1"], ts: 100);
        g.AddWithAuthEvents("P3", "m.room.power_levels", "", Alice, Users((Alice, 100)), ["CREATE", "P2"], ts: 200);
        return g;
    }

    private static List<string> PowerOrder(StateResTestGraph g, params string[] names) =>
        StateResolverV2.ReverseTopologicalPowerOrder(g.Source.Events.Values, names.Select(g.Id), g.Version).Select(Name).ToList();

    private static List<string> Mainline(StateResTestGraph g, string powerLevels, params string[] names) =>
        StateResolverV2.MainlineOrder(g.Source.Events.Values, names.Select(g.Id), g.Id(powerLevels)).Select(Name).ToList();

    private static string Name(string eventId) => eventId[1..];

    private static IEnumerable<string[]> Permutations(string[] items)
    {
        if (items.Length <= 1)
        {
            yield return items;
            yield break;
        }

        for (int i = 0; i < items.Length; i++)
        {
            foreach (var rest in Permutations([.. items[..i], .. items[(i + 1)..]]))
            {
                yield return [items[i], .. rest];
            }
        }
    }
}
