namespace Synapse.Storage;

/// <summary>Filters uploaded with <c>POST /user/{userId}/filter</c>.</summary>
public interface IFilterStore
{
    /// <summary>Stores a filter definition (JSON text) and returns its new ID for the user.</summary>
    Task<long> AddFilterAsync(string userId, string filterJson, CancellationToken cancellationToken);

    /// <summary>The filter definition, or null when the user has no filter with that ID.</summary>
    Task<string?> GetFilterAsync(string userId, long filterId, CancellationToken cancellationToken);
}
