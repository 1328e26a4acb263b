using System.Text.Json;
using Synapse.Json;

namespace Synapse.Tests.Json;

/// <summary>Spec: Appendices, "Canonical JSON", "Examples" — every example, input as the spec writes it.</summary>
public sealed class CanonicalJsonSpecVectorTests
{
    public static TheoryData<string, string> Examples => new()
    {
        { "{}", "{}" },
        { """{ "one": 1, "two": "Two" }""", """{"one":1,"two":"Two"}""" },
        { """{ "b": "2", "a": "1" }""", """{"a":"1","b":"2"}""" },
        { """{"b":"2","a":"1"}""", """{"a":"1","b":"2"}""" },
        {
            """
            {
                "auth": {
                    "success": true,
                    "mxid": "@john.doe:example.com",
                    "profile": {
                        "display_name": "John Doe",
                        "three_pids": [
                            { "medium": "email", "address": "john.doe@example.org" },
                            { "medium": "msisdn", "address": "123456789" }
                        ]
                    }
                }
            }
            """,
            """{"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe","three_pids":[{"address":"john.doe@example.org","medium":"email"},{"address":"123456789","medium":"msisdn"}]},"success":true}}"""
        },
        { """{ "a": "日本語" }""", """{"a":"日本語"}""" },
        { """{ "本": 2, "日": 1 }""", """{"日":1,"本":2}""" },
        { """{ "a": "\u65E5" }""", """{"a":"日"}""" },
        { """{ "a": null }""", """{"a":null}""" },
    };

    [Theory]
    [MemberData(nameof(Examples))]
    public void CanonicalJson_SpecExample_ProducesSpecOutput(string input, string expected)
    {
        using var document = JsonDocument.Parse(input);

        Assert.Equal(expected, CanonicalJson.EncodeToString(document.RootElement, strict: true));
        Assert.Equal(expected, CanonicalJson.EncodeToString(document.RootElement, strict: false));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void CanonicalJson_SpecExampleNegativeZeroAndExponent_ProducesIntegers(bool strict)
    {
        using var document = JsonDocument.Parse("""{ "a": -0, "b": 1e10 }""");

        Assert.Equal("""{"a":0,"b":10000000000}""", CanonicalJson.EncodeToString(document.RootElement, strict));
    }

    [Fact]
    public void CanonicalJson_ControlCharacters_UseGrammarEscapes()
    {
        using var document = JsonDocument.Parse("\"\\u0000\\u0008\\u0009\\u000a\\u000b\\u000c\\u000d\\u001f \\\"\\\\/\\u007f\\u00e9\"");

        Assert.Equal("\"\\u0000\\b\\t\\n\\u000b\\f\\r\\u001f \\\"\\\\/\u007fé\"", CanonicalJson.EncodeToString(document.RootElement));
    }
}
