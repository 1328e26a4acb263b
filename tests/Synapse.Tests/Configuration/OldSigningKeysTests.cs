using Synapse.Configuration;

namespace Synapse.Tests.Configuration;

public sealed class OldSigningKeysTests
{
    private const string Base = """
        server_name: example.test
        signing_key_path: key
        database: {name: sqlite3, args: {database: x.db}}
        listeners: [{port: 8008, type: http}]
        """;

    private static HomeserverOptions Load(string extra)
    {
        string path = Path.Combine(Path.GetTempPath(), $"old-keys-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(path, Base + "\n" + extra);
        try
        {
            return HomeserverConfigLoader.Load([path]);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void OldSigningKeys_SynapseFormat_AreRead()
    {
        var options = Load("""
            old_signing_keys:
              "ed25519:old1": {key: "XGX0JRS2Af3be3knz2fBiRbApjm2Dh61gXDJA8kcJNI", expired_ts: 1600000000000}
            """);

        var key = Assert.Single(options.OldSigningKeys);
        Assert.Equal("ed25519:old1", key.KeyId);
        Assert.Equal("XGX0JRS2Af3be3knz2fBiRbApjm2Dh61gXDJA8kcJNI", key.PublicKey);
        Assert.Equal(1600000000000, key.ExpiredTs);
    }

    [Theory]
    [InlineData("""old_signing_keys: {"rsa:1": {key: "XGX0JRS2Af3be3knz2fBiRbApjm2Dh61gXDJA8kcJNI", expired_ts: 1}}""", "old_signing_keys.rsa:1")]
    [InlineData("""old_signing_keys: {"ed25519:1": {key: "short", expired_ts: 1}}""", "old_signing_keys.ed25519:1.key")]
    [InlineData("""old_signing_keys: {"ed25519:1": {key: "XGX0JRS2Af3be3knz2fBiRbApjm2Dh61gXDJA8kcJNI"}}""", "old_signing_keys.ed25519:1.expired_ts")]
    public void OldSigningKeys_Malformed_NameTheKey(string yaml, string key)
    {
        var error = Assert.Throws<ConfigurationException>(() => Load(yaml));
        Assert.Equal(key, error.Key);
    }
}
