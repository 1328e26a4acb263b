using System.Text.Json;
using System.Text.Json.Nodes;
using Synapse.Events;
using Synapse.RoomVersions;
using Versions = Synapse.RoomVersions.KnownRoomVersions;

namespace Synapse.Tests.Events;

/// <summary>Spec: Room Versions, "Redactions" of versions 1 to 11.</summary>
public sealed class RedactionTests
{
    private const string AllVersions = "1 2 3 4 5 6 7 8 9 10 11";

    /// <summary>Every content key each test event carries, by event type.</summary>
    private static readonly Dictionary<string, string> ContentByType = new()
    {
        ["m.room.member"] = """
            { "membership": "join", "join_authorised_via_users_server": "@a:x", "displayname": "A", "avatar_url": "mxc://x/y",
              "third_party_invite": { "display_name": "a@x", "signed": { "mxid": "@a:x", "token": "t", "signatures": {} } } }
            """,
        ["m.room.create"] = """{ "creator": "@a:x", "room_version": "1", "m.federate": true, "predecessor": { "room_id": "!o:x" } }""",
        ["m.room.join_rules"] = """{ "join_rule": "restricted", "allow": [ { "type": "m.room_membership", "room_id": "!r:x" } ], "other": 1 }""",
        ["m.room.power_levels"] = """
            { "ban": 50, "events": {}, "events_default": 0, "invite": 0, "kick": 50, "redact": 50, "state_default": 50,
              "users": {}, "users_default": 0, "notifications": { "room": 50 }, "historical": 100 }
            """,
        ["m.room.aliases"] = """{ "aliases": [ "#a:x" ], "other": 1 }""",
        ["m.room.history_visibility"] = """{ "history_visibility": "shared", "other": 1 }""",
        ["m.room.redaction"] = """{ "redacts": "$e", "reason": "spam" }""",
        ["m.room.message"] = """{ "body": "hi", "msgtype": "m.text" }""",
        ["m.room.name"] = """{ "name": "Room" }""",
        ["m.room.topic"] = """{ "topic": "Topic" }""",
        ["m.room.guest_access"] = """{ "guest_access": "can_join" }""",
        ["m.room.canonical_alias"] = """{ "alias": "#a:x" }""",
    };

    /// <summary>(event type, room versions, content keys that survive); every type must cover every version.</summary>
    public static TheoryData<string, string, string> ContentTable => new()
    {
        { "m.room.member", "1 2 3 4 5 6 7 8", "membership" },
        { "m.room.member", "9 10", "membership join_authorised_via_users_server" },
        { "m.room.member", "11", "membership join_authorised_via_users_server third_party_invite" },
        { "m.room.create", "1 2 3 4 5 6 7 8 9 10", "creator" },
        { "m.room.create", "11", "creator room_version m.federate predecessor" },
        { "m.room.join_rules", "1 2 3 4 5 6 7", "join_rule" },
        { "m.room.join_rules", "8 9 10 11", "join_rule allow" },
        { "m.room.power_levels", "1 2 3 4 5 6 7 8 9 10", "ban events events_default kick redact state_default users users_default" },
        { "m.room.power_levels", "11", "ban events events_default invite kick redact state_default users users_default" },
        { "m.room.aliases", "1 2 3 4 5", "aliases" },
        { "m.room.aliases", "6 7 8 9 10 11", "" },
        { "m.room.history_visibility", AllVersions, "history_visibility" },
        { "m.room.redaction", "1 2 3 4 5 6 7 8 9 10", "" },
        { "m.room.redaction", "11", "redacts" },
        { "m.room.message", AllVersions, "" },
        { "m.room.name", AllVersions, "" },
        { "m.room.topic", AllVersions, "" },
        { "m.room.guest_access", AllVersions, "" },
        { "m.room.canonical_alias", AllVersions, "" },
    };

    [Theory]
    [MemberData(nameof(ContentTable))]
    public void Redact_ContentOfType_KeepsOnlyTheVersionsProtectedKeys(string type, string versions, string keptKeys)
    {
        foreach (string id in versions.Split(' '))
        {
            var redacted = Redaction.Redact(Event(type), Versions.Find(id)!);

            var content = redacted["content"]!.AsObject();
            Assert.Equal(Sorted(keptKeys.Split(' ', StringSplitOptions.RemoveEmptyEntries)), Sorted(content.Select(p => p.Key)));
        }
    }

    [Fact]
    public void ContentTable_CoversEveryTypeInEveryVersionOnce()
    {
        foreach (string type in ContentByType.Keys)
        {
            var versions = ContentTable.Where(row => (string)row[0] == type).SelectMany(row => ((string)row[1]).Split(' ')).ToList();
            Assert.Equal(Sorted(AllVersions.Split(' ')), Sorted(versions));
        }
    }

    [Theory]
    [InlineData("1")]
    [InlineData("2")]
    [InlineData("3")]
    [InlineData("4")]
    [InlineData("5")]
    [InlineData("6")]
    [InlineData("7")]
    [InlineData("8")]
    [InlineData("9")]
    [InlineData("10")]
    public void Redact_TopLevelBeforeV11_KeepsTheSpecList(string version)
    {
        var redacted = Redaction.Redact(Event("m.room.message"), Versions.Find(version)!);

        Assert.Equal(
            Sorted(["event_id", "type", "room_id", "sender", "state_key", "content", "hashes", "signatures", "depth", "prev_events",
                "prev_state", "auth_events", "origin", "origin_server_ts", "membership"]),
            Sorted(redacted.Select(p => p.Key)));
    }

    [Fact]
    public void Redact_TopLevelV11_DropsOriginMembershipAndPrevState()
    {
        var redacted = Redaction.Redact(Event("m.room.message"), Versions.V11);

        Assert.Equal(
            Sorted(["event_id", "type", "room_id", "sender", "state_key", "content", "hashes", "signatures", "depth", "prev_events",
                "auth_events", "origin_server_ts"]),
            Sorted(redacted.Select(p => p.Key)));
    }

    [Fact]
    public void Redact_KeptValues_AreCopiedUnchanged()
    {
        var redacted = Redaction.Redact(Event("m.room.join_rules"), Versions.V9);

        Assert.Equal("""[{"type":"m.room_membership","room_id":"!r:x"}]""", redacted["content"]!["allow"]!.ToJsonString());
        Assert.Equal("""{"sha256":"abc"}""", redacted["hashes"]!.ToJsonString());
        Assert.Equal(7, redacted["depth"]!.GetValue<int>());
    }

    [Fact]
    public void Redact_V11ThirdPartyInvite_KeepsOnlySigned()
    {
        var redacted = Redaction.Redact(Event("m.room.member"), Versions.V11);

        Assert.Equal(
            """{"signed":{"mxid":"@a:x","token":"t","signatures":{}}}""",
            redacted["content"]!["third_party_invite"]!.ToJsonString());
    }

    [Fact]
    public void Redact_V11ThirdPartyInviteWithoutSigned_IsDropped()
    {
        var redacted = Redaction.Redact(
            Parse("""{ "type": "m.room.member", "content": { "membership": "invite", "third_party_invite": { "display_name": "a" } } }"""),
            Versions.V11);

        Assert.Equal("""{"membership":"invite"}""", redacted["content"]!.ToJsonString());
    }

    [Fact]
    public void Redact_NoContentOrContentNotAnObject_GivesEmptyContent()
    {
        Assert.Equal("""{"type":"m.room.message","content":{}}""", Redaction.Redact(Parse("""{ "type": "m.room.message" }"""), Versions.V10).ToJsonString());
        Assert.Equal("""{"type":"m.room.member","content":{}}""", Redaction.Redact(Parse("""{ "type": "m.room.member", "content": [1] }"""), Versions.V10).ToJsonString());
    }

    [Fact]
    public void Redact_JsonObjectInput_IsNotChanged()
    {
        var original = JsonNode.Parse(Event("m.room.power_levels").GetRawText())!.AsObject();
        string before = original.ToJsonString();

        var redacted = Redaction.Redact(original, Versions.V11);

        Assert.Equal(before, original.ToJsonString());
        Assert.False(redacted.ContainsKey("unsigned"));
        Assert.False(redacted["content"]!.AsObject().ContainsKey("notifications"));
    }

    [Fact]
    public void Redact_RedactedEvent_IsUnchangedByRedactingAgain()
    {
        foreach (var version in Versions.All.Values)
        {
            foreach (string type in ContentByType.Keys)
            {
                var once = Redaction.Redact(Event(type), version);
                var twice = Redaction.Redact(once, version);

                Assert.Equal(once.ToJsonString(), twice.ToJsonString());
            }
        }
    }

    private static JsonElement Event(string type) => Parse($$"""
        {
            "event_id": "$e:x", "type": "{{type}}", "room_id": "!r:x", "sender": "@a:x", "state_key": "",
            "content": {{ContentByType[type]}},
            "hashes": { "sha256": "abc" }, "signatures": { "x": { "ed25519:1": "sig" } }, "depth": 7,
            "prev_events": [], "prev_state": [], "auth_events": [], "origin": "x", "origin_server_ts": 1, "membership": "join",
            "unsigned": { "age": 1 }, "redacts": "$other", "age_ts": 1, "outlier": false, "custom": { "a": 1 }
        }
        """);

    private static JsonElement Parse(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }

    private static List<string> Sorted(IEnumerable<string> values) => values.Order(StringComparer.Ordinal).ToList();
}
