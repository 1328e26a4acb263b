using System.Text.Json;
using System.Text.Json.Nodes;
using Synapse.Crypto;
using Synapse.Events;
using Synapse.Identifiers;
using Synapse.Json;
using Synapse.RoomVersions;
using Versions = Synapse.RoomVersions.KnownRoomVersions;
using Synapse.Tests.Crypto;

namespace Synapse.Tests.Events;

public sealed class EventHashingTests
{
    private static readonly ServerName Domain = ServerName.Parse("domain");

    // Spec: Appendices, "Cryptographic Test Vectors", "Event Signing", first example.
    private const string MinimalEvent = """
        {
            "room_id": "!x:domain",
            "sender": "@a:domain",
            "origin": "domain",
            "origin_server_ts": 1000000,
            "signatures": {},
            "hashes": {},
            "type": "X",
            "content": {},
            "prev_events": [],
            "auth_events": [],
            "depth": 3,
            "unsigned": {
                "age_ts": 1000000
            }
        }
        """;

    // Second example: it carries an event_id, so it is a room version 1 or 2 event.
    private const string RedactableEvent = """
        {
            "content": {
                "body": "Here is the message content"
            },
            "event_id": "$0:domain",
            "origin": "domain",
            "origin_server_ts": 1000000,
            "type": "m.room.message",
            "room_id": "!r:domain",
            "sender": "@u:domain",
            "signatures": {},
            "unsigned": {
                "age_ts": 1000000
            }
        }
        """;

    private const string MinimalHash = "5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos";
    private const string MinimalSignature = "KxwGjPSDEtvnFgU00fwFz+l6d2pJM6XBIaMEn81SXPTRl16AqLAYqfIReFGZlHi5KLjAWbOoMszkwsQma+lYAg";
    private const string RedactableHash = "onLKD1bGljeBWQhWZ1kaP9SorVmRQNdN5aM2JYU2n/g";
    private const string RedactableSignature = "Wm+VzmOUOz08Ds+0NTWb1d4CZrVsJSikkeRxh6aCcUwu6pNC78FunoD7KNWzqFn241eYHYMGCA5McEiVPdhzBA";

    [Fact]
    public void ComputeContentHash_SpecVectors_MatchSpecHashes()
    {
        Assert.Equal(MinimalHash, UnpaddedBase64.Encode(EventHashing.ComputeContentHash(Parse(MinimalEvent), Versions.V10)));
        Assert.Equal(RedactableHash, UnpaddedBase64.Encode(EventHashing.ComputeContentHash(Parse(RedactableEvent), Versions.V1)));
    }

    [Theory]
    [InlineData("3")]
    [InlineData("4")]
    [InlineData("10")]
    public void CreateSignedPdu_MinimalSpecVector_MatchesSpecHashAndSignature(string version)
    {
        using var key = SigningKeyTests.SpecKey();

        var pdu = EventHashing.CreateSignedPdu(Node(MinimalEvent), Versions.Find(version)!, Domain, key);

        Assert.Equal(MinimalHash, pdu.Json.GetProperty("hashes").GetProperty("sha256").GetString());
        Assert.Equal(MinimalSignature, pdu.Json.GetProperty("signatures").GetProperty("domain").GetProperty("ed25519:1").GetString());
        Assert.False(pdu.Json.TryGetProperty("unsigned", out _));
        Assert.False(pdu.Json.TryGetProperty("event_id", out _));
    }

    [Fact]
    public void CreateSignedPdu_RedactableSpecVector_MatchesSpecHashAndSignature()
    {
        using var key = SigningKeyTests.SpecKey();

        var pdu = EventHashing.CreateSignedPdu(Node(RedactableEvent), Versions.V1, Domain, key);

        Assert.Equal("$0:domain", pdu.EventId);
        Assert.Equal(RedactableHash, pdu.Json.GetProperty("hashes").GetProperty("sha256").GetString());
        Assert.Equal(RedactableSignature, pdu.Json.GetProperty("signatures").GetProperty("domain").GetProperty("ed25519:1").GetString());
        Assert.Equal("Here is the message content", pdu.ContentString("body"));
    }

    [Fact]
    public void VerifySignatureAndContentHash_SpecSignedEvent_Succeed()
    {
        using var key = SigningKeyTests.SpecKey();
        var signed = Parse($$"""
            {
                "content": { "body": "Here is the message content" },
                "event_id": "$0:domain",
                "hashes": { "sha256": "{{RedactableHash}}" },
                "origin": "domain",
                "origin_server_ts": 1000000,
                "type": "m.room.message",
                "room_id": "!r:domain",
                "sender": "@u:domain",
                "signatures": { "domain": { "ed25519:1": "{{RedactableSignature}}" } },
                "unsigned": { "age_ts": 1000000 }
            }
            """);

        Assert.True(EventHashing.VerifySignature(signed, Versions.V1, Domain, "ed25519:1", key.PublicKeyBytes));
        Assert.True(EventHashing.HasValidContentHash(signed, Versions.V1));
    }

    // Expected IDs worked out independently (Python's json.dumps canonical form and hashlib) from the spec's signed event.
    [Theory]
    [InlineData("3", "$8yif6p8EqgoSten2BLje9ntKm720NyFLWQv9tn8memc")]
    [InlineData("4", "$8yif6p8EqgoSten2BLje9ntKm720NyFLWQv9tn8memc")]
    [InlineData("10", "$8yif6p8EqgoSten2BLje9ntKm720NyFLWQv9tn8memc")]
    [InlineData("11", "$70O_oKlXzFbkfu0KE88USi98DjSWrOELrPj-8tisl8I")]
    public void CreateSignedPdu_MinimalSpecVector_HasReferenceHashEventId(string version, string expectedId)
    {
        using var key = SigningKeyTests.SpecKey();
        var roomVersion = Versions.Find(version)!;

        var pdu = EventHashing.CreateSignedPdu(Node(MinimalEvent), roomVersion, Domain, key);

        Assert.Equal(expectedId, pdu.EventId);
        Assert.Equal(expectedId, EventHashing.GetEventId(pdu.Json, roomVersion));
    }

    [Fact]
    public void GetEventId_V3AndV4_UseStandardAndUrlSafeAlphabets()
    {
        // Find an event whose reference hash needs base64 characters 62 or 63.
        for (int depth = 0; ; depth++)
        {
            var json = Parse($$"""{ "type": "X", "room_id": "!r:x", "sender": "@a:x", "content": {}, "depth": {{depth}} }""");
            string standard = UnpaddedBase64.Encode(EventHashing.ComputeReferenceHash(json, Versions.V3));
            if (standard.AsSpan().IndexOfAny('+', '/') < 0)
            {
                continue;
            }

            Assert.Equal("$" + standard, EventHashing.GetEventId(json, Versions.V3));
            Assert.Equal("$" + standard.Replace('+', '-').Replace('/', '_'), EventHashing.GetEventId(json, Versions.V4));
            return;
        }
    }

    [Fact]
    public void GetEventId_V1V2_ReadsTheEventsOwnId()
    {
        Assert.Equal("$abc:x", EventHashing.GetEventId(Parse("""{ "event_id": "$abc:x" }"""), Versions.V2));
        Assert.Throws<FormatException>(() => EventHashing.GetEventId(Parse("""{ "type": "X" }"""), Versions.V1));
    }

    [Fact]
    public void GenerateLegacyEventId_HasRandomLocalPartAndServerName()
    {
        string id = EventHashing.GenerateLegacyEventId(Domain);

        Assert.Matches(@"^\$[A-Za-z]{18}:domain$", id);
        Assert.NotEqual(id, EventHashing.GenerateLegacyEventId(Domain));
    }

    [Theory]
    [InlineData("1", @"^\$[A-Za-z]{18}:domain$")]
    [InlineData("2", @"^\$[A-Za-z]{18}:domain$")]
    [InlineData("3", @"^\$[A-Za-z0-9+/]{43}$")]
    [InlineData("4", @"^\$[A-Za-z0-9_-]{43}$")]
    [InlineData("5", @"^\$[A-Za-z0-9_-]{43}$")]
    [InlineData("6", @"^\$[A-Za-z0-9_-]{43}$")]
    [InlineData("7", @"^\$[A-Za-z0-9_-]{43}$")]
    [InlineData("8", @"^\$[A-Za-z0-9_-]{43}$")]
    [InlineData("9", @"^\$[A-Za-z0-9_-]{43}$")]
    [InlineData("10", @"^\$[A-Za-z0-9_-]{43}$")]
    [InlineData("11", @"^\$[A-Za-z0-9_-]{43}$")]
    public void CreateSignedPdu_EveryVersion_HasIdFormatValidHashAndSignatureSurvivingRedaction(string version, string idPattern)
    {
        using var key = SigningKeyTests.SpecKey();
        var roomVersion = Versions.Find(version)!;
        var input = Node("""
            { "type": "m.room.member", "state_key": "@u:domain", "room_id": "!r:domain", "sender": "@u:domain", "origin": "domain",
              "origin_server_ts": 5, "depth": 2, "prev_events": [], "auth_events": [],
              "content": { "membership": "join", "displayname": "U" }, "unsigned": { "age": 3 } }
            """);

        var pdu = EventHashing.CreateSignedPdu(input, roomVersion, Domain, key);
        var redacted = Parse(Redaction.Redact(pdu.Json, roomVersion).ToJsonString());

        Assert.Matches(idPattern, pdu.EventId);
        Assert.Equal(pdu.EventId, EventHashing.GetEventId(pdu.Json, roomVersion));
        Assert.True(EventHashing.HasValidContentHash(pdu.Json, roomVersion));
        Assert.True(EventHashing.VerifySignature(pdu.Json, roomVersion, Domain, key.KeyId, key.PublicKeyBytes));
        Assert.True(EventHashing.VerifySignature(redacted, roomVersion, Domain, key.KeyId, key.PublicKeyBytes));
        Assert.False(EventHashing.HasValidContentHash(redacted, roomVersion));
        Assert.Equal(pdu.EventId, EventHashing.GetEventId(redacted, roomVersion));
        Assert.True(input.ContainsKey("unsigned"));
        Assert.False(input.ContainsKey("hashes"));
    }

    [Fact]
    public void VerifySignature_TamperedProtectedField_Fails()
    {
        using var key = SigningKeyTests.SpecKey();
        var pdu = EventHashing.CreateSignedPdu(Node(MinimalEvent), Versions.V10, Domain, key);
        var tampered = JsonNode.Parse(pdu.Json.GetRawText())!.AsObject();
        tampered["depth"] = 4;

        Assert.False(EventHashing.VerifySignature(Parse(tampered.ToJsonString()), Versions.V10, Domain, key.KeyId, key.PublicKeyBytes));
    }

    [Fact]
    public void HasValidContentHash_TamperedContentOrBadHash_Fails()
    {
        using var key = SigningKeyTests.SpecKey();
        var pdu = EventHashing.CreateSignedPdu(Node(RedactableEvent), Versions.V1, Domain, key);
        var tampered = JsonNode.Parse(pdu.Json.GetRawText())!.AsObject();
        tampered["content"]!["body"] = "Changed";

        Assert.True(EventHashing.VerifySignature(Parse(tampered.ToJsonString()), Versions.V1, Domain, key.KeyId, key.PublicKeyBytes));
        Assert.False(EventHashing.HasValidContentHash(Parse(tampered.ToJsonString()), Versions.V1));
        Assert.False(EventHashing.HasValidContentHash(Parse("""{ "hashes": { "sha256": "*" } }"""), Versions.V1));
        Assert.False(EventHashing.HasValidContentHash(Parse("""{ "type": "X" }"""), Versions.V1));
    }

    [Fact]
    public void CreateSignedPdu_V3EventWithEventId_Throws()
    {
        using var key = SigningKeyTests.SpecKey();

        Assert.Throws<ArgumentException>(() => EventHashing.CreateSignedPdu(Node(RedactableEvent), Versions.V3, Domain, key));
    }

    [Fact]
    public void CreateSignedPdu_V1EventWithoutEventId_GetsGeneratedId()
    {
        using var key = SigningKeyTests.SpecKey();

        var pdu = EventHashing.CreateSignedPdu(Node(MinimalEvent), Versions.V1, Domain, key);

        Assert.Matches(@"^\$[A-Za-z]{18}:domain$", pdu.EventId);
        Assert.Equal(pdu.EventId, pdu.Json.GetProperty("event_id").GetString());
    }

    [Fact]
    public void CreateSignedPdu_FloatInContent_AllowedBeforeV6Only()
    {
        using var key = SigningKeyTests.SpecKey();
        var input = Node("""{ "type": "X", "room_id": "!r:domain", "sender": "@u:domain", "content": { "x": 1.5 }, "depth": 1 }""");

        var pdu = EventHashing.CreateSignedPdu(input, Versions.V5, Domain, key);

        Assert.True(EventHashing.HasValidContentHash(pdu.Json, Versions.V5));
        Assert.True(EventHashing.VerifySignature(pdu.Json, Versions.V5, Domain, key.KeyId, key.PublicKeyBytes));
        Assert.Throws<CanonicalJsonException>(() => EventHashing.CreateSignedPdu(input, Versions.V6, Domain, key));
        Assert.False(EventHashing.HasValidContentHash(pdu.Json, Versions.V6));
    }

    private static JsonObject Node(string json) => JsonNode.Parse(json)!.AsObject();

    private static JsonElement Parse(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }
}
