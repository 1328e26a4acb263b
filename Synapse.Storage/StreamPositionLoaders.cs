using Synapse.Streams;

namespace Synapse.Storage;

/// <summary>Reads a stream's highest stored position with one scalar query.</summary>
internal sealed class SqlStreamPositionLoader : IStreamPositionLoader
{
    private readonly SynapseDatabase _db;
    private readonly string _sql;

    public SqlStreamPositionLoader(SynapseDatabase db, string stream, string sql)
    {
        _db = db;
        Stream = stream;
        _sql = sql;
    }

    public string Stream { get; }

    public Task<long> LoadCurrentAsync(CancellationToken cancellationToken) =>
        _db.ReadAsync(async (c, ct) =>
        {
            await using var query = c.Command(_sql);
            return Convert.ToInt64(await query.ExecuteScalarAsync(ct).ConfigureAwait(false) ?? 0L,
                System.Globalization.CultureInfo.InvariantCulture);
        }, cancellationToken);
}
