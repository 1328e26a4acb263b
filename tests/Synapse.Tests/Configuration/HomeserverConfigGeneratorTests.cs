using System.Text.RegularExpressions;
using Synapse.Configuration;

namespace Synapse.Tests.Configuration;

public sealed partial class HomeserverConfigGeneratorTests : IDisposable
{
    private readonly TempDirectory temp = new();

    public void Dispose() => temp.Dispose();

    [Fact]
    public void Generate_NewConfig_RoundTripsThroughLoader()
    {
        string configPath = temp.Combine("config/homeserver.yaml");
        string dataDir = temp.Combine("data");

        var written = HomeserverConfigGenerator.Generate("example.com", configPath, dataDir, reportStats: true);

        string keyPath = Path.Combine(dataDir, "example.com.signing.key");
        Assert.Equal([configPath, keyPath], written);
        var options = HomeserverConfigLoader.Load([configPath], out var unknownKeys);
        Assert.Empty(unknownKeys);
        Assert.Equal("example.com", options.ServerName);
        Assert.Equal(Path.Combine(dataDir, "homeserver.pid"), options.PidFile);
        var listener = Assert.Single(options.Listeners);
        Assert.Equal(8008, listener.Port);
        Assert.Equal("http", listener.Type);
        Assert.False(listener.XForwarded);
        Assert.Equal(["127.0.0.1"], listener.BindAddresses);
        Assert.Equal(["client", "federation"], listener.Resources.Order(StringComparer.Ordinal));
        Assert.Equal(DatabaseEngine.Sqlite, options.Database.Engine);
        Assert.Equal(Path.Combine(dataDir, "homeserver.db"), options.Database.SqlitePath);
        Assert.Equal(Path.Combine(dataDir, "media_store"), options.MediaStorePath);
        Assert.Equal(keyPath, options.SigningKeyPath);
        Assert.False(options.EnableRegistration);

        string[] secrets = [options.RegistrationSharedSecret!, options.MacaroonSecretKey!, options.FormSecret!];
        Assert.All(secrets, secret => Assert.Matches("^[A-Za-z0-9_-]{50}$", secret));
        Assert.Equal(3, secrets.Distinct(StringComparer.Ordinal).Count());
        Assert.Contains("report_stats: true\n", File.ReadAllText(configPath), StringComparison.Ordinal);

        Assert.Matches(SigningKeyLine(), File.ReadAllText(keyPath));
    }

    [Fact]
    public void Generate_TwoRuns_ProduceDifferentSecrets()
    {
        HomeserverConfigGenerator.Generate("example.com", temp.Combine("a.yaml"), temp.Combine("a"));
        HomeserverConfigGenerator.Generate("example.com", temp.Combine("b.yaml"), temp.Combine("b"));

        var a = HomeserverConfigLoader.Load([temp.Combine("a.yaml")]);
        var b = HomeserverConfigLoader.Load([temp.Combine("b.yaml")]);
        Assert.NotEqual(a.RegistrationSharedSecret, b.RegistrationSharedSecret);
        Assert.NotEqual(File.ReadAllText(a.SigningKeyPath), File.ReadAllText(b.SigningKeyPath));
    }

    [Fact]
    public void Generate_ExistingConfig_RefusesToOverwrite()
    {
        string configPath = temp.Write("homeserver.yaml", "server_name: mine\n");

        var error = Assert.Throws<IOException>(
            () => HomeserverConfigGenerator.Generate("example.com", configPath, temp.Combine("data")));

        Assert.Contains(configPath, error.Message, StringComparison.Ordinal);
        Assert.Equal("server_name: mine\n", File.ReadAllText(configPath));
        Assert.False(File.Exists(temp.Combine("data/example.com.signing.key")));
    }

    [Fact]
    public void Generate_ExistingSigningKey_KeptAndNotListed()
    {
        string keyPath = temp.Write("data/example.com.signing.key", "ed25519 a_keep AAAA\n");
        string configPath = temp.Combine("homeserver.yaml");

        var written = HomeserverConfigGenerator.Generate("example.com", configPath, temp.Combine("data"));

        Assert.Equal([configPath], written);
        Assert.Equal("ed25519 a_keep AAAA\n", File.ReadAllText(keyPath));
    }

    [Fact]
    public void Generate_InvalidServerName_Throws()
    {
        Assert.Throws<ArgumentException>(
            () => HomeserverConfigGenerator.Generate("not a server", temp.Combine("homeserver.yaml"), temp.Path));
        Assert.False(File.Exists(temp.Combine("homeserver.yaml")));
    }

    [Fact]
    public void Generate_ServerNameWithPort_LoadsBack()
    {
        string configPath = temp.Combine("homeserver.yaml");

        HomeserverConfigGenerator.Generate("localhost:8448", configPath, temp.Combine("data"));

        Assert.Equal("localhost:8448", HomeserverConfigLoader.Load([configPath]).ServerName);
    }

    [Fact]
    public void SigningKeyFile_Generate_WritesSynapseFormatOwnerOnly()
    {
        string keyPath = temp.Combine("keys/test.signing.key");

        Assert.True(SigningKeyFile.Generate(keyPath));

        string contents = File.ReadAllText(keyPath);
        var match = SigningKeyLine().Match(contents);
        Assert.True(match.Success, contents);
        Assert.Equal(32, Convert.FromBase64String(match.Groups["seed"].Value + "=").Length);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(keyPath));
        }
    }

    [Fact]
    public void SigningKeyFile_ExistingFile_NotOverwritten()
    {
        string keyPath = temp.Write("existing.key", "ed25519 a_abcd xyz\n");

        Assert.False(SigningKeyFile.Generate(keyPath));
        Assert.Equal("ed25519 a_abcd xyz\n", File.ReadAllText(keyPath));
    }

    // 32 bytes in unpadded base64 are 43 characters, the last one carrying only 4 bits.
    [GeneratedRegex(@"^ed25519 a_[A-Za-z0-9]{4} (?<seed>[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048])\n\z")]
    private static partial Regex SigningKeyLine();
}
