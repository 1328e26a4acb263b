using Synapse.Accounts;
using Synapse.Configuration;
using Synapse.Identifiers;
using Synapse.Storage;
using Synapse.UserDirectory;

namespace Synapse.Tests.UserDirectory;

/// <summary>The search service and the words, without a database.</summary>
public sealed class UserDirectoryServiceTests
{
    private static readonly Requester Alice = new(UserId.Parse("@alice:test.local"), DeviceId.Parse("DEV"), 1, false);

    [Theory]
    [InlineData("@alice:example.org", new[] { "alice", "example", "org" })]
    [InlineData("JOSÉ  Ñandú-Smith", new[] { "josé", "ñandú", "smith" })]
    [InlineData("BOB bob Bob_2", new[] { "bob", "bob_2" })]
    [InlineData(" @:! ", new string[0])]
    public void Words_SplitOnNonWordCharacters_LowerCased(string text, string[] expected) =>
        Assert.Equal(expected, UserDirectoryWords.Of(text));

    [Fact]
    public void Words_OfEntry_UserIdAndDisplayNameTogether() =>
        Assert.Equal(["bob", "test", "local", "robert", "tables"], UserDirectoryWords.OfEntry("@bob:test.local", "Robert Tables"));

    [Theory]
    [InlineData(1000, 51)]
    [InlineData(10, 11)]
    [InlineData(0, 1)]
    public async Task Search_Limit_CappedAtFiftyAndOneMoreAsked(int asked, int expectedStoreLimit)
    {
        var store = new RecordingStore();
        var service = new UserDirectoryService(Options(new UserDirectoryOptions()), store);

        await service.SearchAsync(Alice, new UserDirectoryQuery("bob", asked), default);

        Assert.Equal(expectedStoreLimit, store.Last!.Limit);
        Assert.False(store.Last.AllUsers);
        Assert.Equal(["bob"], store.Last.Words);
    }

    [Fact]
    public async Task Search_Disabled_DoesNotAskTheStore()
    {
        var store = new RecordingStore();
        var service = new UserDirectoryService(Options(new UserDirectoryOptions { Enabled = false }), store);

        var results = await service.SearchAsync(Alice, new UserDirectoryQuery("bob", 10), default);

        Assert.Empty(results.Results);
        Assert.Null(store.Last);
    }

    private static HomeserverOptions Options(UserDirectoryOptions directory) => new()
    {
        ServerName = "test.local",
        Listeners = [],
        Database = new DatabaseOptions { Engine = DatabaseEngine.Sqlite, SqlitePath = ":memory:" },
        SigningKeyPath = "unused",
        UserDirectory = directory,
    };

    private sealed class RecordingStore : IUserDirectoryStore
    {
        public DirectorySearch? Last { get; private set; }

        public Task<IReadOnlyList<DirectoryEntry>> SearchAsync(DirectorySearch search, CancellationToken cancellationToken)
        {
            Last = search;
            return Task.FromResult<IReadOnlyList<DirectoryEntry>>([]);
        }

        public Task<long?> GetStreamPositionAsync(CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task SetStreamPositionAsync(long position, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<IReadOnlyList<DirectoryStateDelta>> GetStateDeltasAsync(long after, long upTo, int limit,
            CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task ClearAsync(CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<IReadOnlyList<string>> GetRoomIdsAsync(CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<DirectoryRoomState> GetRoomStateAsync(string roomId, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<IReadOnlyList<DirectoryProfileChange>> GetStaleLocalUsersAsync(IReadOnlyCollection<string>? userIds,
            CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task UpsertEntriesAsync(IReadOnlyCollection<DirectoryEntry> entries, CancellationToken cancellationToken) =>
            throw new NotSupportedException();

        public Task RemoveUsersAsync(IReadOnlyCollection<string> userIds, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task ReplaceRoomAsync(string roomId, IReadOnlyCollection<string> publicMembers,
            IReadOnlyCollection<(string UserId, string OtherUserId)> privatePairs, CancellationToken cancellationToken) =>
            throw new NotSupportedException();

        public Task AddRoomRowsAsync(string roomId, IReadOnlyCollection<string> publicMembers,
            IReadOnlyCollection<(string UserId, string OtherUserId)> privatePairs, CancellationToken cancellationToken) =>
            throw new NotSupportedException();

        public Task RemoveUserFromRoomAsync(string roomId, string userId, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<bool> IsInAnyRoomAsync(string userId, CancellationToken cancellationToken) => throw new NotSupportedException();
    }
}
