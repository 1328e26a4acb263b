using System.Text.Json.Nodes;
using Synapse.Auth;
using Synapse.Events;
using Synapse.RoomVersions;
using static Synapse.Tests.Auth.TestRoom;
using Versions = Synapse.RoomVersions.KnownRoomVersions;

namespace Synapse.Tests.Auth;

/// <summary>
/// The authorisation rules, one row per rule and per version difference. Version-dependent rows run on every
/// version with the expectation flipping at the version that changed the rule.
/// </summary>
public sealed class EventAuthorizerTests
{
    private const string Join = """{"membership": "join"}""";
    private const string Body = """{"msgtype": "m.text", "body": "hi"}""";

    private static readonly RoomVersion[] AllVersions =
        [Versions.V1, Versions.V2, Versions.V3, Versions.V4, Versions.V5, Versions.V6, Versions.V7, Versions.V8, Versions.V9, Versions.V10, Versions.V11];

    private static readonly FakeSignatureVerifier Signed = new(valid: true);
    private static readonly FakeSignatureVerifier Unsigned = new(valid: false);

    /// <summary>One rule case: builds the state in the room it is given and returns the event to check.</summary>
    private sealed record Row(string Name, RoomVersion Version, Func<TestRoom, Pdu> Build, bool Allowed, IAuthSignatureVerifier? Signatures);

    private static readonly Row[] Table =
    [
        // Rule 1: m.room.create.
        .. All("create: valid", r => r.NewCreate(), true),
        .. All("create: has prev_events", r => r.NewCreate(prevEvents: ["$other"]), false),
        .. All("create: room ID on another server than the sender", r => r.NewCreate(roomId: "!room:b.test"), false),
        .. All("create: unknown content.room_version", r => r.NewCreate(content: $$$"""{"creator": "{{{Alice}}}", "room_version": "999"}"""), false),
        .. All("create: content.room_version not a string", r => r.NewCreate(content: $$$"""{"creator": "{{{Alice}}}", "room_version": 10}"""), false),
        .. All("create: no content.room_version", r => r.NewCreate(content: $$$"""{"creator": "{{{Alice}}}"}"""), true),
        .. Split("create: no creator", Versions.V11, r => r.NewCreate(content: """{"room_version": "11"}"""), false, true),

        // Rules 2 and 3: the auth events themselves; m.federate.
        .. All("auth: no m.room.create in the auth state", r => r.Standard().Remove("m.room.create").Event("m.room.message", null, Alice, Body), false),
        .. All("auth: power levels from another room", r => r.Standard()
            .Set(r.Event("m.room.power_levels", "", Alice, $$$"""{"users": {"{{{Alice}}}": 100}}""", roomId: "!other:a.test"))
            .Event("m.room.message", null, Alice, Body), false),
        .. All("federate: false, sender on another server", r => NonFederating(r).MemberEvent(Bob, "join", Bob), false),
        .. All("federate: false, sender on the creator's server", r => NonFederating(r).MemberEvent(Dave, "join", Dave), true),

        // Rule 4 of v1–v5: m.room.aliases.
        .. Split("aliases: non-member sends for its own server", Versions.V6,
            r => r.Standard().Event("m.room.aliases", "b.test", Bob, """{"aliases": ["#x:b.test"]}"""), true, false),
        .. Split("aliases: creator sends for another server", Versions.V6,
            r => r.Standard().Event("m.room.aliases", "b.test", Alice, """{"aliases": ["#x:b.test"]}"""), false, true),
        .. Split("aliases: without a state key", Versions.V6,
            r => r.Standard().Event("m.room.aliases", null, Alice, """{"aliases": []}"""), false, true),

        // m.room.member: shape.
        .. All("member: no membership", r => r.Standard().Event("m.room.member", Bob, Bob, "{}"), false),
        .. All("member: no state key", r => r.Standard().Event("m.room.member", null, Bob, Join), false),
        .. All("member: unknown membership", r => r.Standard().JoinRule("public").MemberEvent(Bob, "dance", Bob), false),

        // Join.
        .. All("join: creator right after m.room.create", r => CreatorJoin(r.Create(), Alice), true),
        .. All("join: creator with another prev event", r => r.Create().MemberEvent(Alice, "join", Alice), false),
        .. Split("join: creator-join for content.creator who did not send the create", Versions.V11, r => CreatorJoin(r.Create(Alice, creator: Dave), Dave), true, false),
        .. Split("join: creator-join for the create sender when content.creator differs", Versions.V11, r => CreatorJoin(r.Create(Alice, creator: Dave), Alice), false, true),
        .. All("join: public room", r => r.Standard().JoinRule("public").MemberEvent(Bob, "join", Bob), true),
        .. All("join: sender is not the state key", r => r.Standard().JoinRule("public").MemberEvent(Bob, "join", Carol), false),
        .. All("join: banned user, public room", r => r.Standard().JoinRule("public").Member(Bob, "ban", Alice).MemberEvent(Bob, "join", Bob), false),
        .. All("join: invite rule, invited", r => r.Standard().Member(Bob, "invite", Alice).MemberEvent(Bob, "join", Bob), true),
        .. All("join: invite rule, not invited", r => r.Standard().MemberEvent(Bob, "join", Bob), false),
        .. All("join: invite rule, already joined", r => r.Standard().Member(Bob, "join").MemberEvent(Bob, "join", Bob), true),
        .. All("join: no join rules event, invited", r => r.Standard().Remove("m.room.join_rules").Member(Bob, "invite", Alice).MemberEvent(Bob, "join", Bob), true),
        .. All("join: no join rules event, not invited", r => r.Standard().Remove("m.room.join_rules").MemberEvent(Bob, "join", Bob), false),
        .. All("join: private rule, invited", r => r.Standard().JoinRule("private").Member(Bob, "invite", Alice).MemberEvent(Bob, "join", Bob), false),
        .. Split("join: knock rule, invited", Versions.V7, r => r.Standard().JoinRule("knock").Member(Bob, "invite", Alice).MemberEvent(Bob, "join", Bob), false, true),
        .. All("join: knock rule, not invited", r => r.Standard().JoinRule("knock").MemberEvent(Bob, "join", Bob), false),
        .. Split("join: restricted, authorised by a joined member with invite power", Versions.V8, r => RestrictedJoin(r, "restricted", Alice), false, true),
        .. Split("join: restricted, invited", Versions.V8, r => r.Standard().JoinRule("restricted").Member(Bob, "invite", Alice).MemberEvent(Bob, "join", Bob), false, true),
        .. All("join: restricted, no authoriser", r => r.Standard().JoinRule("restricted").MemberEvent(Bob, "join", Bob), false),
        .. Since(Versions.V8, "join: restricted, authoriser not joined", r => RestrictedJoin(r, "restricted", Dave), false),
        .. Since(Versions.V8, "join: restricted, authoriser below the invite level", r => RestrictedJoin(
            r.Standard().PowerLevels($$$"""{"users": {"{{{Alice}}}": 100}, "invite": 50}""").Member(Dave, "join"), "restricted", Dave), false),
        .. Since(Versions.V8, "join: restricted, authoriser not a user ID", r => RestrictedJoin(r, "restricted", "alice"), false),
        .. Since(Versions.V8, "join: restricted, authorising server did not sign", r => RestrictedJoin(r, "restricted", Alice), false, Unsigned),
        .. Since(Versions.V8, "join: restricted, authorising server signed", r => RestrictedJoin(r, "restricted", Alice), true, Signed),
        .. Split("join: knock_restricted, authorised", Versions.V10, r => RestrictedJoin(r, "knock_restricted", Alice), false, true),
        .. Split("join: knock_restricted, invited", Versions.V10,
            r => r.Standard().JoinRule("knock_restricted").Member(Bob, "invite", Alice).MemberEvent(Bob, "join", Bob), false, true),

        // Invite.
        .. All("invite: joined sender at the default invite level", r => r.Standard().Member(Bob, "join").MemberEvent(Carol, "invite", Bob), true),
        .. All("invite: sender not joined", r => r.Standard().MemberEvent(Carol, "invite", Bob), false),
        .. All("invite: target already joined", r => r.Standard().Member(Bob, "join").MemberEvent(Bob, "invite", Alice), false),
        .. All("invite: target banned", r => r.Standard().Member(Bob, "ban", Alice).MemberEvent(Bob, "invite", Alice), false),
        .. All("invite: target has left", r => r.Standard().Member(Bob, "leave").MemberEvent(Bob, "invite", Alice), true),
        .. All("invite: sender below the invite level", r => r.Standard()
            .PowerLevels($$$"""{"users": {"{{{Alice}}}": 100}, "invite": 50}""").Member(Bob, "join").MemberEvent(Carol, "invite", Bob), false),

        // Invite with third_party_invite.
        .. All("3pid invite: signed by a key of the m.room.third_party_invite", r => ThirdPartyInvite(r), true, Signed),
        .. All("3pid invite: no signature matches", r => ThirdPartyInvite(r), false, Unsigned),
        .. One(Versions.V10, "3pid invite: no verifier", r => ThirdPartyInvite(r), false),
        .. One(Versions.V10, "3pid invite: target banned", r => ThirdPartyInvite(r.Standard().Member(Bob, "ban", Alice)), false, Signed),
        .. One(Versions.V10, "3pid invite: no signed", r => ThirdPartyInvite(r, thirdPartyInvite: """{"display_name": "b***@b.test"}"""), false, Signed),
        .. One(Versions.V10, "3pid invite: signed without token", r => ThirdPartyInvite(r, thirdPartyInvite: $$$"""{"signed": {"mxid": "{{{Bob}}}"}}"""), false, Signed),
        .. One(Versions.V10, "3pid invite: mxid is not the state key", r => ThirdPartyInvite(r, thirdPartyInvite: $$$"""{"signed": {"mxid": "{{{Carol}}}", "token": "tok"}}"""), false, Signed),
        .. One(Versions.V10, "3pid invite: no m.room.third_party_invite for the token", r => ThirdPartyInvite(r, thirdPartyInvite: $$$"""{"signed": {"mxid": "{{{Bob}}}", "token": "other"}}"""), false, Signed),
        .. One(Versions.V10, "3pid invite: m.room.third_party_invite sent by someone else", r => ThirdPartyInvite(r, tokenSender: Dave), false, Signed),

        // Leave and kick.
        .. All("leave: joined user leaves", r => r.Standard().Member(Bob, "join").MemberEvent(Bob, "leave", Bob), true),
        .. All("leave: invited user rejects", r => r.Standard().Member(Bob, "invite", Alice).MemberEvent(Bob, "leave", Bob), true),
        .. All("leave: user not in the room", r => r.Standard().MemberEvent(Bob, "leave", Bob), false),
        .. All("leave: banned user cannot unban itself", r => r.Standard().Member(Bob, "ban", Alice).MemberEvent(Bob, "leave", Bob), false),
        .. Split("leave: knocking user retracts", Versions.V7, r => r.Standard().Member(Bob, "knock").MemberEvent(Bob, "leave", Bob), false, true),
        .. All("kick: higher power kicks lower", r => r.Standard().Member(Bob, "join").MemberEvent(Bob, "leave", Alice), true),
        .. All("kick: sender not joined", r => r.Standard()
            .PowerLevels($$$"""{"users": {"{{{Alice}}}": 100, "{{{Dave}}}": 100}}""").Member(Bob, "join").MemberEvent(Bob, "leave", Dave), false),
        .. All("kick: sender below the kick level", r => r.Standard().Member(Bob, "join").Member(Carol, "join").MemberEvent(Carol, "leave", Bob), false),
        .. All("kick: target at the sender's level", r => r.Standard()
            .PowerLevels($$$"""{"users": {"{{{Alice}}}": 100, "{{{Bob}}}": 100}}""").Member(Bob, "join").MemberEvent(Bob, "leave", Alice), false),
        .. All("unban: sender below the ban level", r => ModerationRoom(r).MemberEvent(Carol, "leave", Bob), false),
        .. All("unban: sender at ban and kick levels", r => ModerationRoom(r).MemberEvent(Carol, "leave", Alice), true),

        // Ban.
        .. All("ban: higher power bans lower", r => r.Standard().Member(Bob, "join").MemberEvent(Bob, "ban", Alice), true),
        .. All("ban: user never in the room", r => r.Standard().MemberEvent(Carol, "ban", Alice), true),
        .. All("ban: sender not joined", r => r.Standard()
            .PowerLevels($$$"""{"users": {"{{{Alice}}}": 100, "{{{Dave}}}": 100}}""").MemberEvent(Bob, "ban", Dave), false),
        .. All("ban: sender below the ban level", r => r.Standard().Member(Bob, "join").MemberEvent(Carol, "ban", Bob), false),
        .. All("ban: target at the sender's level", r => r.Standard()
            .PowerLevels($$$"""{"users": {"{{{Alice}}}": 100, "{{{Bob}}}": 100}}""").Member(Bob, "join").MemberEvent(Bob, "ban", Alice), false),

        // Knock.
        .. Split("knock: knock rule", Versions.V7, r => r.Standard().JoinRule("knock").MemberEvent(Bob, "knock", Bob), false, true),
        .. Since(Versions.V7, "knock: invite rule", r => r.Standard().MemberEvent(Bob, "knock", Bob), false),
        .. Since(Versions.V7, "knock: public rule", r => r.Standard().JoinRule("public").MemberEvent(Bob, "knock", Bob), false),
        .. Since(Versions.V7, "knock: on behalf of another user", r => r.Standard().JoinRule("knock").MemberEvent(Bob, "knock", Carol), false),
        .. Since(Versions.V7, "knock: already joined", r => r.Standard().JoinRule("knock").Member(Bob, "join").MemberEvent(Bob, "knock", Bob), false),
        .. Since(Versions.V7, "knock: banned", r => r.Standard().JoinRule("knock").Member(Bob, "ban", Alice).MemberEvent(Bob, "knock", Bob), false),
        .. Since(Versions.V7, "knock: already invited", r => r.Standard().JoinRule("knock").Member(Bob, "invite", Alice).MemberEvent(Bob, "knock", Bob), false),
        .. Since(Versions.V7, "knock: after leaving", r => r.Standard().JoinRule("knock").Member(Bob, "leave").MemberEvent(Bob, "knock", Bob), true),
        .. Split("knock: knock_restricted rule", Versions.V10, r => r.Standard().JoinRule("knock_restricted").MemberEvent(Bob, "knock", Bob), false, true),

        // Other events: membership, required level, '@' state keys.
        .. All("message: sender not in the room", r => r.Standard().Event("m.room.message", null, Bob, Body), false),
        .. All("message: sender invited but not joined", r => r.Standard().Member(Bob, "invite", Alice).Event("m.room.message", null, Bob, Body), false),
        .. All("message: joined member at events_default 0", r => r.Standard().Member(Bob, "join").Event("m.room.message", null, Bob, Body), true),
        .. All("message: events_default above the sender", r => r.Standard()
            .PowerLevels($$$"""{"users": {"{{{Alice}}}": 100}, "events_default": 10}""").Member(Bob, "join").Event("m.room.message", null, Bob, Body), false),
        .. All("message: events entry above the sender", r => r.Standard()
            .PowerLevels($$$"""{"users": {"{{{Alice}}}": 100}, "events": {"m.room.message": 20}}""").Member(Bob, "join").Event("m.room.message", null, Bob, Body), false),
        .. All("state: below state_default", r => r.Standard().Member(Bob, "join").Event("m.room.name", "", Bob, """{"name": "x"}"""), false),
        .. All("state: events entry lowers the level", r => r.Standard()
            .PowerLevels($$$"""{"users": {"{{{Alice}}}": 100}, "events": {"m.room.name": 0}}""").Member(Bob, "join").Event("m.room.name", "", Bob, """{"name": "x"}"""), true),
        .. All("no power levels: creator sends state", r => r.Standard().Remove("m.room.power_levels").Event("m.room.name", "", Alice, """{"name": "x"}"""), true),
        .. All("no power levels: other member sends state", r => r.Standard().Remove("m.room.power_levels").Member(Bob, "join").Event("m.room.name", "", Bob, """{"name": "x"}"""), false),
        .. All("no power levels: other member sends a message", r => r.Standard().Remove("m.room.power_levels").Member(Bob, "join").Event("m.room.message", null, Bob, Body), true),
        .. Split("no power levels: content.creator has 100", Versions.V11,
            r => r.Create(Alice, creator: Dave).Member(Alice, "join").Member(Dave, "join").Event("m.room.name", "", Dave, """{"name": "x"}"""), true, false),
        .. Split("no power levels: create sender has 100", Versions.V11,
            r => r.Create(Alice, creator: Dave).Member(Alice, "join").Member(Dave, "join").Event("m.room.name", "", Alice, """{"name": "x"}"""), false, true),
        .. All("third_party_invite event: at the invite level", r => r.Standard().Member(Bob, "join").Event("m.room.third_party_invite", "tok", Bob, """{"display_name": "x"}"""), true),
        .. All("third_party_invite event: below the invite level", r => r.Standard()
            .PowerLevels($$$"""{"users": {"{{{Alice}}}": 100}, "invite": 50}""").Member(Bob, "join").Event("m.room.third_party_invite", "tok", Bob, """{"display_name": "x"}"""), false),
        .. All("third_party_invite event: sender not joined", r => r.Standard().Event("m.room.third_party_invite", "tok", Bob, """{"display_name": "x"}"""), false),
        .. All("state key: '@' and another user", r => r.Standard().Event("m.custom", Bob, Alice, "{}"), false),
        .. All("state key: '@' and the sender", r => r.Standard().Event("m.custom", Alice, Alice, "{}"), true),

        // m.room.power_levels.
        .. All("power levels: first one in the room", r => r.Standard().Remove("m.room.power_levels")
            .Event("m.room.power_levels", "", Alice, $$$"""{"users": {"{{{Alice}}}": 100}, "ban": 100}"""), true),
        .. All("power levels: unchanged", r => EditPowerLevels(r, _ => { }), true),
        .. All("power levels: users key not a user ID", r => EditPowerLevels(r, c => c["users"]!["bob"] = 10), false),
        .. All("power levels: users value not a number", r => EditPowerLevels(r, c => c["users"]![Dave] = true), false),
        .. Split("power levels: users value as a string", Versions.V10, r => EditPowerLevels(r, c => c["users"]![Dave] = "20"), true, false),
        .. Split("power levels: ban as a string", Versions.V10, r => EditPowerLevels(r, c => c["ban"] = "40"), true, false),
        .. Split("power levels: events value as a string", Versions.V10, r => EditPowerLevels(r, c => c["events"]!["m.room.topic"] = "20"), true, false),
        .. Split("power levels: notifications value as a string", Versions.V10, r => EditPowerLevels(r, c => c["notifications"]!["other"] = "20"), true, false),
        .. Before(Versions.V10, "power levels: string with whitespace, sign and leading zeros", r => EditPowerLevels(r, c => c["ban"] = " +0040 "), true),
        .. Before(Versions.V10, "power levels: string that is no integer", r => EditPowerLevels(r, c => c["ban"] = "forty"), false),
        .. Split("power levels: float value", Versions.V6, r => EditPowerLevels(r, c => c["ban"] = 40.7), true, false),
        .. All("power levels: events not an object", r => EditPowerLevels(r, c => c["events"] = 5), false),
        .. Split("power levels: notifications value not a number", Versions.V6, r => EditPowerLevels(r, c => c["notifications"]!["other"] = true), true, false),
        .. All("power levels: raise ban above own level", r => EditPowerLevels(r, c => c["ban"] = 60), false),
        .. All("power levels: lower kick, currently above own level", r => EditPowerLevels(r, c => c["kick"] = 50), false),
        .. All("power levels: remove kick, currently above own level", r => EditPowerLevels(r, c => c.Remove("kick")), false),
        .. All("power levels: add redact at own level", r => EditPowerLevels(r, c => c["redact"] = 50), true),
        .. All("power levels: lower ban within own level", r => EditPowerLevels(r, c => c["ban"] = 20), true),
        .. All("power levels: add an events entry above own level", r => EditPowerLevels(r, c => c["events"]!["m.room.topic"] = 60), false),
        .. All("power levels: lower an events entry above own level", r => EditPowerLevels(r, c => c["events"]!["m.room.tombstone"] = 50), false),
        .. All("power levels: remove an events entry above own level", r => EditPowerLevels(r, c => c["events"]!.AsObject().Remove("m.room.tombstone")), false),
        .. All("power levels: add an events entry at own level", r => EditPowerLevels(r, c => c["events"]!["m.room.topic"] = 50), true),
        .. Split("power levels: add a notifications entry above own level", Versions.V6, r => EditPowerLevels(r, c => c["notifications"]!["other"] = 60), true, false),
        .. Split("power levels: lower notifications.room, currently above own level", Versions.V6, r => EditPowerLevels(r, c => c["notifications"]!["room"] = 10), true, false),
        .. All("power levels: demote a user at own level", r => EditPowerLevels(r, c => c["users"]![Carol] = 0), false),
        .. All("power levels: remove a user at own level", r => EditPowerLevels(r, c => c["users"]!.AsObject().Remove(Carol)), false),
        .. All("power levels: demote a user below own level", r => EditPowerLevels(r, c => c["users"]![Dave] = 0), true),
        .. All("power levels: remove a user below own level", r => EditPowerLevels(r, c => c["users"]!.AsObject().Remove(Dave)), true),
        .. All("power levels: demote self", r => EditPowerLevels(r, c => c["users"]![Bob] = 10), true),
        .. All("power levels: raise self above own level", r => EditPowerLevels(r, c => c["users"]![Bob] = 60), false),
        .. All("power levels: promote a user to own level", r => EditPowerLevels(r, c => c["users"]![Dave] = 50), true),
        .. All("power levels: promote a user above own level", r => EditPowerLevels(r, c => c["users"]![Dave] = 51), false),
        .. All("power levels: sender below the power levels event level", r => EditPowerLevels(r, c => c["ban"] = 5, sender: Dave), false),
        .. All("power levels: top user changes everything", r => EditPowerLevels(r, c =>
        {
            c["kick"] = 0;
            c["users"]![Carol] = 0;
            c["events"]!["m.room.tombstone"] = 20;
        }, sender: Alice), true),

        // m.room.redaction: in the rules for v1–v2 only.
        .. Split("redaction: low-power user redacts another server's event", Versions.V3, r => Redaction(r.Standard().Member(Bob, "join"), Bob, "$x:a.test"), false, true),
        .. Before(Versions.V3, "redaction: redacted event from the redaction's server", r => Redaction(r.Standard().Member(Bob, "join"), Bob, "$x:b.test"), true),
        .. Before(Versions.V3, "redaction: sender at the redact level", r => Redaction(r.Standard().Member(Bob, "join"), Alice, "$x:b.test"), true),
        .. All("redaction: events entry for m.room.redaction above the sender", r => Redaction(
            r.Standard().PowerLevels($$$"""{"users": {"{{{Alice}}}": 100}, "events": {"m.room.redaction": 50}}""").Member(Bob, "join"), Bob, "$x:b.test"), false),
        .. All("redaction: sender not joined", r => Redaction(r.Standard(), Bob, "$x:b.test"), false),
    ];

    public static TheoryData<string> Rules => [.. Table.Select(row => row.Name)];

    [Theory]
    [MemberData(nameof(Rules))]
    public void Check_Rule_MatchesSpec(string rule)
    {
        var row = Table.Single(r => r.Name == rule);
        var room = new TestRoom(row.Version);
        var ev = row.Build(room);

        var result = EventAuthorizer.Check(ev, room.State, row.Signatures);

        Assert.True(result.Allowed == row.Allowed, $"{rule}: expected {(row.Allowed ? "allowed" : "rejected")}, got {result}");
        Assert.False(string.IsNullOrWhiteSpace(result.Reason));
    }

    [Fact]
    public void Table_RuleNames_AreUnique() =>
        Assert.Equal(Table.Length, Table.Select(r => r.Name).Distinct(StringComparer.Ordinal).Count());

    [Fact]
    public void Check_BelowRequiredLevel_ReasonNamesLevelsAndType()
    {
        var room = new TestRoom(Versions.V10).Standard().Member(Bob, "join");

        var result = EventAuthorizer.Check(room.Event("m.room.name", "", Bob, """{"name": "x"}"""), room.State);

        Assert.False(result.Allowed);
        Assert.Equal("sender's power level 0 is below the 50 needed to send m.room.name state events", result.Reason);
    }

    [Fact]
    public void Check_StringPowerLevelInV10_ReasonSaysIntegerNeeded()
    {
        var room = new TestRoom(Versions.V10);

        var result = EventAuthorizer.Check(EditPowerLevels(room, c => c["ban"] = "40"), room.State);

        Assert.Equal("power level 'ban' must be an integer", result.Reason);
    }

    [Fact]
    public void Check_RestrictedJoin_AsksVerifierForAuthorisingServer()
    {
        var verifier = new FakeSignatureVerifier(valid: true);
        var room = new TestRoom(Versions.V9);

        Assert.True(EventAuthorizer.Check(RestrictedJoin(room, "restricted", Alice), room.State, verifier).Allowed);
        Assert.Equal(new[] { "a.test" }, verifier.ServersAsked);
    }

    [Fact]
    public void Check_ThirdPartyInvite_PassesEveryPublicKeyToVerifier()
    {
        var verifier = new FakeSignatureVerifier(valid: true);
        var room = new TestRoom(Versions.V11);

        Assert.True(EventAuthorizer.Check(ThirdPartyInvite(room), room.State, verifier).Allowed);
        Assert.Equal(new[] { "key1", "key2", "key3" }, verifier.PublicKeysSeen);
    }

    [Fact]
    public void Check_AuthStateWithUnrelatedEntries_IgnoresThem()
    {
        var room = new TestRoom(Versions.V10).Standard().Member(Bob, "join");
        room.Set(room.Event("m.room.topic", "", Alice, """{"topic": "t"}""", roomId: "!elsewhere:a.test"));

        Assert.True(EventAuthorizer.Check(room.Event("m.room.message", null, Bob, Body), room.State).Allowed);
    }

    [Fact]
    public void CheckAuthEvents_SelectedEvents_Allowed()
    {
        var room = new TestRoom(Versions.V10).Standard().Member(Bob, "invite", Alice);
        var join = room.MemberEvent(Bob, "join", Bob);
        Pdu[] authEvents =
        [
            room.CreateEvent, room.State[new TypeStateKey("m.room.power_levels", "")],
            room.State[new TypeStateKey("m.room.join_rules", "")], room.State[new TypeStateKey("m.room.member", Bob)],
        ];

        Assert.True(EventAuthorizer.CheckAuthEvents(join, authEvents).Allowed);
    }

    [Fact]
    public void CheckAuthEvents_Duplicate_Rejected()
    {
        var room = new TestRoom(Versions.V10).Standard();
        var message = room.Event("m.room.message", null, Alice, Body);
        var create = room.CreateEvent;

        var result = EventAuthorizer.CheckAuthEvents(message, [create, room.NewCreate()]);

        Assert.False(result.Allowed);
        Assert.Contains("more than one", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void CheckAuthEvents_EntryNotSelected_Rejected()
    {
        var room = new TestRoom(Versions.V10).Standard();
        var message = room.Event("m.room.message", null, Alice, Body);

        // Join rules are auth events of memberships only.
        Assert.False(EventAuthorizer.CheckAuthEvents(message, [.. room.State.Values]).Allowed);
    }

    [Fact]
    public void CheckAuthEvents_NoCreate_Rejected()
    {
        var room = new TestRoom(Versions.V10).Standard();
        var message = room.Event("m.room.message", null, Alice, Body);

        Assert.False(EventAuthorizer.CheckAuthEvents(message, [room.State[new TypeStateKey("m.room.member", Alice)]]).Allowed);
    }

    [Fact]
    public void CheckAuthEvents_OtherRoom_Rejected()
    {
        var room = new TestRoom(Versions.V10).Standard();
        var message = room.Event("m.room.message", null, Alice, Body);
        var foreignCreate = room.NewCreate(roomId: "!other:a.test");

        Assert.False(EventAuthorizer.CheckAuthEvents(message, [foreignCreate]).Allowed);
    }

    private static Pdu CreatorJoin(TestRoom room, string user) =>
        room.Event("m.room.member", user, user, Join, prevEvents: [room.CreateEvent.EventId]);

    private static TestRoom NonFederating(TestRoom room)
    {
        room.Set(room.NewCreate(content: $$$"""{"creator": "{{{Alice}}}", "m.federate": false}"""));
        return room.Member(Alice, "join").PowerLevels($$$"""{"users": {"{{{Alice}}}": 100}}""").JoinRule("public");
    }

    private static Pdu RestrictedJoin(TestRoom room, string joinRule, string authoriser)
    {
        if (!room.State.ContainsKey(new TypeStateKey("m.room.create", "")))
        {
            room.Standard();
        }

        return room.JoinRule(joinRule).MemberEvent(Bob, "join", Bob, $$$"""  "join_authorised_via_users_server": "{{{authoriser}}}" """);
    }

    /// <summary>Alice sent an m.room.third_party_invite with token "tok"; Alice now invites Bob through it.</summary>
    private static Pdu ThirdPartyInvite(TestRoom room, string? thirdPartyInvite = null, string tokenSender = Alice)
    {
        if (!room.State.ContainsKey(new TypeStateKey("m.room.create", "")))
        {
            room.Standard();
        }

        room.Member(Dave, "join").Set(room.Event("m.room.third_party_invite", "tok", tokenSender, """
            {"display_name": "b***@b.test", "key_validity_url": "https://id.test/isvalid", "public_key": "key1",
             "public_keys": [{"public_key": "key2"}, {"public_key": "key3", "key_validity_url": "https://id.test/isvalid"}]}
            """));
        thirdPartyInvite ??= $$$"""
            {"display_name": "b***@b.test",
             "signed": {"mxid": "{{{Bob}}}", "token": "tok", "signatures": {"id.test": {"ed25519:0": "c2ln"} } } }
            """;
        return room.MemberEvent(Bob, "invite", Alice, $"\"third_party_invite\": {thirdPartyInvite}");
    }

    /// <summary>Bob (60) and Alice (100) are joined; ban needs 70; Carol is banned.</summary>
    private static TestRoom ModerationRoom(TestRoom room) => room.Standard()
        .PowerLevels($$$"""{"users": {"{{{Alice}}}": 100, "{{{Bob}}}": 60}, "ban": 70, "kick": 50}""")
        .Member(Bob, "join").Member(Carol, "ban", Alice);

    /// <summary>
    /// Bob (50) may send power levels; Carol 50, Dave 10, kick 75, tombstone 100, notifications.room 75. Returns a
    /// new power levels event from <paramref name="sender"/> with <paramref name="change"/> applied.
    /// </summary>
    private static Pdu EditPowerLevels(TestRoom room, Action<JsonObject> change, string sender = Bob)
    {
        string current = $$$"""
            {"users": {"{{{Alice}}}": 100, "{{{Bob}}}": 50, "{{{Carol}}}": 50, "{{{Dave}}}": 10},
             "events": {"m.room.power_levels": 50, "m.room.tombstone": 100},
             "ban": 50, "kick": 75, "notifications": {"room": 75}}
            """;
        room.Standard().PowerLevels(current).Member(Bob, "join").Member(Carol, "join").Member(Dave, "join");
        var content = JsonNode.Parse(current)!.AsObject();
        change(content);
        return room.Event("m.room.power_levels", "", sender, content.ToJsonString());
    }

    private static Pdu Redaction(TestRoom room, string sender, string redacts) =>
        room.Event("m.room.redaction", null, sender, room.Version.V11Rules ? $$$"""{"redacts": "{{{redacts}}}"}""" : "{}",
            redacts: room.Version.V11Rules ? null : redacts);

    private static IEnumerable<Row> All(string name, Func<TestRoom, Pdu> build, bool allowed, IAuthSignatureVerifier? signatures = null) =>
        AllVersions.Select(v => new Row($"{name} [v{v.Identifier}]", v, build, allowed, signatures));

    /// <summary>Every version; the expectation changes at <paramref name="changedIn"/>.</summary>
    private static IEnumerable<Row> Split(string name, RoomVersion changedIn, Func<TestRoom, Pdu> build, bool before, bool from)
    {
        int boundary = Array.IndexOf(AllVersions, changedIn);
        return AllVersions.Select((v, i) => new Row($"{name} [v{v.Identifier}]", v, build, i < boundary ? before : from, null));
    }

    private static IEnumerable<Row> Since(RoomVersion first, string name, Func<TestRoom, Pdu> build, bool allowed, IAuthSignatureVerifier? signatures = null) =>
        All(name, build, allowed, signatures).Where(r => Array.IndexOf(AllVersions, r.Version) >= Array.IndexOf(AllVersions, first));

    private static IEnumerable<Row> Before(RoomVersion changedIn, string name, Func<TestRoom, Pdu> build, bool allowed) =>
        All(name, build, allowed).Where(r => Array.IndexOf(AllVersions, r.Version) < Array.IndexOf(AllVersions, changedIn));

    private static IEnumerable<Row> One(RoomVersion version, string name, Func<TestRoom, Pdu> build, bool allowed, IAuthSignatureVerifier? signatures = null) =>
        [new Row($"{name} [v{version.Identifier}]", version, build, allowed, signatures)];
}
