using Synapse.Configuration;

namespace Synapse.Tests.Configuration;

/// <summary>The <c>user_directory</c> section and its relation to <c>update_user_directory</c>.</summary>
public sealed class UserDirectoryConfigTests : IDisposable
{
    private readonly TempDirectory temp = new();

    public void Dispose() => temp.Dispose();

    private HomeserverOptions Load(string extra, out IReadOnlyList<string> unknown) =>
        HomeserverConfigLoader.Load([temp.Write("homeserver.yaml",
            "server_name: example.com\n"
            + $"signing_key_path: '{temp.Combine("example.com.signing.key")}'\n"
            + "listeners:\n  - port: 8008\n    type: http\n    resources:\n      - names: [client]\n"
            + $"database:\n  name: sqlite3\n  args:\n    database: '{temp.Combine("homeserver.db")}'\n"
            + extra)], out unknown);

    [Fact]
    public void Load_NoSection_EnabledAndNotSearchingAllUsers()
    {
        var options = Load("", out _);

        Assert.True(options.UserDirectory.Enabled);
        Assert.False(options.UserDirectory.SearchAllUsers);
        Assert.True(options.UpdateUserDirectory);
    }

    [Fact]
    public void Load_Section_ReadsEnabledAndSearchAllUsers_AndIsAKnownKey()
    {
        var options = Load("user_directory:\n  enabled: false\n  search_all_users: true\n  prefer_local_users: true\n", out var unknown);

        Assert.False(options.UserDirectory.Enabled);
        Assert.True(options.UserDirectory.SearchAllUsers);
        Assert.Empty(unknown);
    }

    [Fact]
    public void Load_UpdateUserDirectoryOff_LeavesTheSearchSettingsAlone()
    {
        var options = Load("update_user_directory: false\nuser_directory:\n  search_all_users: true\n", out _);

        Assert.False(options.UpdateUserDirectory);
        Assert.True(options.UserDirectory.Enabled);
        Assert.True(options.UserDirectory.SearchAllUsers);
    }

    [Fact]
    public void Load_SearchAllUsersNotBoolean_NamesTheKey()
    {
        var error = Assert.Throws<ConfigurationException>(() => Load("user_directory:\n  search_all_users: everyone\n", out _));

        Assert.Contains("user_directory.search_all_users", error.Message, StringComparison.Ordinal);
    }
}
