using System.Text.Json;
using Synapse.Crypto;
using Synapse.Identifiers;

namespace Synapse.Tests.Crypto;

public sealed class ServerKeysTests
{
    private static readonly ServerName Server = ServerName.Parse("example.org");
    private static readonly DateTimeOffset Now = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000);
    private static readonly string OldPublicKey = UnpaddedBase64.Encode(new byte[32]);

    [Fact]
    public void BuildResponse_ActiveAndOldKeys_HasSpecShapeAndVerifies()
    {
        using var key = SigningKeyTests.SpecKey();

        var response = ServerKeys.BuildResponse(Server, [key], [new OldVerifyKey("ed25519:old", OldPublicKey, 1_600_000_000_000)], Now, TimeSpan.FromDays(1));
        using var document = JsonDocument.Parse(response.ToJsonString());
        var json = document.RootElement;

        Assert.Equal("example.org", json.GetProperty("server_name").GetString());
        Assert.Equal(1_700_086_400_000, json.GetProperty("valid_until_ts").GetInt64());
        Assert.Equal(key.PublicKey, json.GetProperty("verify_keys").GetProperty("ed25519:1").GetProperty("key").GetString());
        var old = json.GetProperty("old_verify_keys").GetProperty("ed25519:old");
        Assert.Equal(OldPublicKey, old.GetProperty("key").GetString());
        Assert.Equal(1_600_000_000_000, old.GetProperty("expired_ts").GetInt64());
        Assert.True(JsonSigning.Verify(json, Server, "ed25519:1", key.PublicKeyBytes));
    }

    [Fact]
    public void BuildResponse_NoOldKeys_HasEmptyOldVerifyKeys()
    {
        using var key = SigningKeyTests.SpecKey();

        var response = ServerKeys.BuildResponse(Server, [key], [], Now, TimeSpan.FromHours(1));

        Assert.Empty(response["old_verify_keys"]!.AsObject());
    }

    [Fact]
    public void BuildResponse_TwoCurrentKeys_PublishesAndSignsWithBoth()
    {
        using var first = SigningKeyTests.SpecKey();
        using var second = SigningKey.FromSeed("b", new byte[32]);

        var response = ServerKeys.BuildResponse(Server, [first, second], [], Now, TimeSpan.FromHours(1));
        using var document = JsonDocument.Parse(response.ToJsonString());

        Assert.Equal(2, response["verify_keys"]!.AsObject().Count);
        Assert.True(JsonSigning.Verify(document.RootElement, Server, "ed25519:1", first.PublicKeyBytes));
        Assert.True(JsonSigning.Verify(document.RootElement, Server, "ed25519:b", second.PublicKeyBytes));
    }

    [Fact]
    public void BuildResponse_BadArguments_Throw()
    {
        using var key = SigningKeyTests.SpecKey();

        Assert.Throws<ArgumentException>(() => ServerKeys.BuildResponse(Server, [], [], Now, TimeSpan.FromHours(1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => ServerKeys.BuildResponse(Server, [key], [], Now, TimeSpan.FromHours(-1)));
        Assert.Throws<ArgumentException>(() => ServerKeys.BuildResponse(
            Server, [key], [new OldVerifyKey("ed25519:1", OldPublicKey, 1)], Now, TimeSpan.FromHours(1)));
        Assert.Throws<ArgumentException>(() => ServerKeys.BuildResponse(
            Server, [key], [new OldVerifyKey("ed25519:o", OldPublicKey, 1), new OldVerifyKey("ed25519:o", OldPublicKey, 2)], Now, TimeSpan.FromHours(1)));
        Assert.Throws<ArgumentException>(() => ServerKeys.BuildResponse(
            Server, [key], [new OldVerifyKey("ed25519:o", "short", 1)], Now, TimeSpan.FromHours(1)));
    }
}
