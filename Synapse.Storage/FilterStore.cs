using System.Globalization;

namespace Synapse.Storage;

/// <summary><see cref="IFilterStore"/> over both engines.</summary>
internal sealed class FilterStore : IFilterStore
{
    private readonly SynapseDatabase _db;

    public FilterStore(SynapseDatabase db) => _db = db;

    public Task<long> AddFilterAsync(string userId, string filterJson, CancellationToken cancellationToken) =>
        _db.WriteAsync(async (c, t, ct) =>
        {
            // IDs are per user; the primary key turns a concurrent duplicate into an error rather than a clash.
            await using var next = c.Command("SELECT COALESCE(MAX(filter_id), -1) + 1 FROM user_filters WHERE user_id = @user", t)
                .With("@user", userId);
            long id = Convert.ToInt64(await next.ExecuteScalarAsync(ct).ConfigureAwait(false), CultureInfo.InvariantCulture);
            await using var insert = c.Command("INSERT INTO user_filters (user_id, filter_id, filter_json) VALUES (@user, @id, @json)", t)
                .With("@user", userId).With("@id", id).With("@json", filterJson);
            await insert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            return id;
        }, cancellationToken);

    public Task<string?> GetFilterAsync(string userId, long filterId, CancellationToken cancellationToken) =>
        _db.ReadAsync(async (c, ct) =>
        {
            await using var query = c.Command("SELECT filter_json FROM user_filters WHERE user_id = @user AND filter_id = @id")
                .With("@user", userId).With("@id", filterId);
            return await query.ExecuteScalarAsync(ct).ConfigureAwait(false) as string;
        }, cancellationToken);
}
