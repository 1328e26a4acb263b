using System.Text.Json;
using System.Text.Json.Nodes;
using Synapse.Crypto;
using Synapse.Identifiers;

namespace Synapse.Tests.Crypto;

/// <summary>
/// Spec: Appendices, "Cryptographic Test Vectors", "JSON Signing". (The example under "Signing Details" is
/// illustrative: its signature does not verify against the key it shows, so it is not used here.)
/// </summary>
public sealed class JsonSigningTests
{
    private static readonly ServerName Domain = ServerName.Parse("domain");

    [Theory]
    [InlineData("{}", "K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ")]
    [InlineData("""{ "one": 1, "two": "Two" }""", "KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw")]
    public void Sign_SpecVector_ProducesSpecSignature(string input, string expected)
    {
        using var key = SigningKeyTests.SpecKey();
        var json = JsonNode.Parse(input)!.AsObject();

        JsonSigning.Sign(json, Domain, key);

        Assert.Equal(expected, json["signatures"]!["domain"]!["ed25519:1"]!.GetValue<string>());
        Assert.Single(json["signatures"]!.AsObject());
    }

    [Fact]
    public void Verify_SpecSignedOutput_Succeeds()
    {
        using var key = SigningKeyTests.SpecKey();
        var signed = Parse("""
            {
                "one": 1,
                "signatures": { "domain": { "ed25519:1": "KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw" } },
                "two": "Two",
                "unsigned": { "age_ts": 5 }
            }
            """);

        Assert.True(JsonSigning.Verify(signed, Domain, "ed25519:1", key.PublicKeyBytes));
    }

    [Fact]
    public void Sign_ObjectWithSignaturesAndUnsigned_KeepsThemAndIgnoresThemInTheSignature()
    {
        using var key = SigningKeyTests.SpecKey();
        var json = JsonNode.Parse("""
            { "one": 1, "two": "Two", "unsigned": { "x": 1 }, "signatures": { "other.org": { "ed25519:z": "abc" } } }
            """)!.AsObject();

        JsonSigning.Sign(json, Domain, key);

        Assert.Equal("abc", json["signatures"]!["other.org"]!["ed25519:z"]!.GetValue<string>());
        Assert.Equal(
            "KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw",
            json["signatures"]!["domain"]!["ed25519:1"]!.GetValue<string>());
        Assert.Equal(1, json["unsigned"]!["x"]!.GetValue<int>());
    }

    [Fact]
    public void Verify_TamperedOrMismatched_Fails()
    {
        using var key = SigningKeyTests.SpecKey();
        using var other = SigningKey.FromSeed("1", new byte[32]);
        var json = JsonNode.Parse("""{ "one": 1, "two": "Two" }""")!.AsObject();
        JsonSigning.Sign(json, Domain, key);
        var signed = Parse(json.ToJsonString());

        Assert.True(JsonSigning.Verify(signed, Domain, "ed25519:1", key.PublicKeyBytes));
        json["two"] = "Three";
        Assert.False(JsonSigning.Verify(Parse(json.ToJsonString()), Domain, "ed25519:1", key.PublicKeyBytes));
        Assert.False(JsonSigning.Verify(signed, Domain, "ed25519:1", other.PublicKeyBytes));
        Assert.False(JsonSigning.Verify(signed, ServerName.Parse("elsewhere"), "ed25519:1", key.PublicKeyBytes));
        Assert.False(JsonSigning.Verify(signed, Domain, "ed25519:2", key.PublicKeyBytes));
        Assert.False(JsonSigning.Verify(Parse("""{ "signatures": { "domain": { "ed25519:1": "not*base64" } } }"""), Domain, "ed25519:1", key.PublicKeyBytes));
        Assert.False(JsonSigning.Verify(Parse("""{ "signatures": { "domain": { "curve25519:1": "AAAA" } } }"""), Domain, "curve25519:1", key.PublicKeyBytes));
        Assert.False(JsonSigning.Verify(Parse("""{ "signatures": "x" }"""), Domain, "ed25519:1", key.PublicKeyBytes));
        Assert.False(JsonSigning.Verify(Parse("[]"), Domain, "ed25519:1", key.PublicKeyBytes));
    }

    [Fact]
    public void Verify_NumberOutsideCanonicalJson_FailsInStrictModeOnly()
    {
        using var key = SigningKeyTests.SpecKey();
        var json = JsonNode.Parse("""{ "big": 9007199254740993 }""")!.AsObject();
        Assert.Throws<Synapse.Json.CanonicalJsonException>(() => JsonSigning.Sign(json, Domain, key));
        JsonSigning.Sign(json, Domain, key, strictCanonicalJson: false);
        var signed = Parse(json.ToJsonString());

        Assert.True(JsonSigning.Verify(signed, Domain, "ed25519:1", key.PublicKeyBytes, strictCanonicalJson: false));
        Assert.False(JsonSigning.Verify(signed, Domain, "ed25519:1", key.PublicKeyBytes, strictCanonicalJson: true));
    }

    private static JsonElement Parse(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }
}
