using System.Text.Json;
using Synapse.Accounts;
using Synapse.Configuration;
using Synapse.Json;
using Synapse.Storage;

namespace Synapse.UserDirectory;

/// <summary>
/// Searches the user directory (Spec: Client-Server API, "User directory"): users who share a room with the searcher and
/// users in public rooms, or everyone with <c>user_directory.search_all_users</c>. Reads only what the updater
/// (<see cref="UserDirectoryUpdater"/>) keeps, so it works the same in every process.
/// </summary>
internal sealed class UserDirectoryService
{
    /// <summary>The most results one search returns, whatever the client asks (Synapse's cap too).</summary>
    public const int MaxLimit = 50;

    /// <summary>Words of a search term beyond this are ignored: they bound the size of the query.</summary>
    public const int MaxSearchWords = 10;

    private readonly HomeserverOptions _options;
    private readonly IUserDirectoryStore _store;

    public UserDirectoryService(HomeserverOptions options, IUserDirectoryStore store)
    {
        _options = options;
        _store = store;
    }

    /// <summary>
    /// Users whose display name or user ID has, for each word of the term, a word it prefixes, ignoring case and accents;
    /// best first. Empty when the directory is disabled or the term has no words.
    /// </summary>
    public async Task<UserDirectoryResults> SearchAsync(Requester requester, UserDirectoryQuery query, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(requester);
        ArgumentNullException.ThrowIfNull(query);
        var words = UserDirectoryWords.Of(query.SearchTerm);
        if (!_options.UserDirectory.Enabled || words.Count == 0)
        {
            return new UserDirectoryResults([], false);
        }

        int limit = Math.Min(query.Limit, MaxLimit);

        // One more than asked for tells whether the list was cut.
        var found = await _store.SearchAsync(
            new DirectorySearch(requester.UserId.Value, [.. words.Take(MaxSearchWords)], limit + 1, _options.UserDirectory.SearchAllUsers),
            cancellationToken).ConfigureAwait(false);
        return new UserDirectoryResults(
            [.. found.Take(limit).Select(e => new UserDirectoryResult(e.UserId, e.DisplayName, e.AvatarUrl))], found.Count > limit);
    }
}

/// <summary>The body of POST /user_directory/search.</summary>
/// <param name="SearchTerm">The term to search for.</param>
/// <param name="Limit">The most results wanted (default 10).</param>
internal sealed record UserDirectoryQuery(string SearchTerm, int Limit)
{
    /// <summary>The spec's default limit.</summary>
    public const int DefaultLimit = 10;

    /// <summary>
    /// Reads the body: a missing <c>search_term</c> is 400 <c>M_MISSING_PARAM</c>, wrong types 400 <c>M_BAD_JSON</c>, a
    /// negative limit 400 <c>M_INVALID_PARAM</c>.
    /// </summary>
    public static UserDirectoryQuery FromBody(JsonElement body)
    {
        string searchTerm = body.RequiredString("search_term");
        int limit = DefaultLimit;
        if (body.OptionalElement("limit") is { } value)
        {
            if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt64(out long l))
            {
                throw MatrixException.BadJson("'limit' must be an integer");
            }

            limit = l >= 0 ? (int)Math.Min(l, int.MaxValue) : throw MatrixException.InvalidParam("'limit' must not be negative");
        }

        return new UserDirectoryQuery(searchTerm, limit);
    }
}

/// <summary>The answer of a search.</summary>
/// <param name="Results">The users found, best first.</param>
/// <param name="Limited">Whether more users matched than were returned.</param>
internal sealed record UserDirectoryResults(IReadOnlyList<UserDirectoryResult> Results, bool Limited);

/// <summary>One user found; null fields are left out of the JSON.</summary>
internal sealed record UserDirectoryResult(string UserId, string? DisplayName, string? AvatarUrl);
