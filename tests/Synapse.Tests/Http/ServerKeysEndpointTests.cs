using Synapse.Configuration;
using Synapse.Crypto;
using Synapse.Identifiers;
using Synapse.Tests.Infrastructure;

namespace Synapse.Tests.Http;

public sealed class ServerKeysEndpointTests
{
    [Fact]
    public async Task KeyServer_PublishesSelfSignedKeyValidForADay()
    {
        await using var server = await TestHomeserver.StartAsync(DatabaseEngine.Sqlite);
        long before = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

        var (status, body) = await server.SendAsync(HttpMethod.Get, "/_matrix/key/v2/server");

        Assert.Equal(200, status);
        Assert.Equal(TestHomeserver.ServerName, body.GetProperty("server_name").GetString());
        var key = Assert.Single(body.GetProperty("verify_keys").EnumerateObject());
        Assert.StartsWith("ed25519:", key.Name, StringComparison.Ordinal);
        byte[] publicKey = UnpaddedBase64.Decode(key.Value.GetProperty("key").GetString()!);
        Assert.True(JsonSigning.Verify(body, ServerName.Parse(TestHomeserver.ServerName), key.Name, publicKey));
        Assert.InRange(body.GetProperty("valid_until_ts").GetInt64(), before + 86_000_000, before + 87_000_000);
        Assert.Empty(body.GetProperty("old_verify_keys").EnumerateObject());
    }

    [Fact]
    public async Task Capabilities_ListRoomVersions_WithDefault10()
    {
        await using var server = await TestHomeserver.StartAsync(DatabaseEngine.Sqlite);
        var alice = await server.RegisterAsync("alice");

        var (status, body) = await server.SendAsync(HttpMethod.Get, "/_matrix/client/v3/capabilities", alice.AccessToken);

        Assert.Equal(200, status);
        var versions = body.GetProperty("capabilities").GetProperty("m.room_versions");
        Assert.Equal("10", versions.GetProperty("default").GetString());
        Assert.Equal(Enumerable.Range(1, 11).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)).Order(),
            versions.GetProperty("available").EnumerateObject().Select(p => p.Name).Order());
        Assert.All(versions.GetProperty("available").EnumerateObject(), p => Assert.Equal("stable", p.Value.GetString()));
    }

    [Fact]
    public async Task KeyServer_OldSigningKeys_ArePublishedWithExpiry()
    {
        await using var server = await TestHomeserver.StartAsync(DatabaseEngine.Sqlite, o => new HomeserverOptions
        {
            ServerName = o.ServerName, Listeners = o.Listeners, Database = o.Database, SigningKeyPath = o.SigningKeyPath,
            OldSigningKeys = [new OldVerifyKey("ed25519:old1", "XGX0JRS2Af3be3knz2fBiRbApjm2Dh61gXDJA8kcJNI", 1600000000000)],
        });

        var (_, body) = await server.SendAsync(HttpMethod.Get, "/_matrix/key/v2/server");

        var old = body.GetProperty("old_verify_keys").GetProperty("ed25519:old1");
        Assert.Equal("XGX0JRS2Af3be3knz2fBiRbApjm2Dh61gXDJA8kcJNI", old.GetProperty("key").GetString());
        Assert.Equal(1600000000000, old.GetProperty("expired_ts").GetInt64());
    }
}
