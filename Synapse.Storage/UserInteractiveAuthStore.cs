namespace Synapse.Storage;

/// <summary><see cref="IUserInteractiveAuthStore"/> over both engines.</summary>
internal sealed class UserInteractiveAuthStore : IUserInteractiveAuthStore
{
    private readonly SynapseDatabase _db;

    public UserInteractiveAuthStore(SynapseDatabase db) => _db = db;

    public Task CreateSessionAsync(UiaSession session, CancellationToken cancellationToken) =>
        _db.WriteAsync(async (c, t, ct) =>
        {
            await using var insert = c.Command("""
                INSERT INTO ui_auth_sessions (session_id, method, uri, user_id, created_ts)
                VALUES (@id, @method, @uri, @user, @ts)
                """, t)
                .With("@id", session.SessionId)
                .With("@method", session.Method)
                .With("@uri", session.Uri)
                .With("@user", session.UserId)
                .With("@ts", session.CreatedTs);
            return await insert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }, cancellationToken);

    public Task<UiaSession?> GetSessionAsync(string sessionId, long notBeforeTs, CancellationToken cancellationToken) =>
        _db.ReadAsync(async (c, ct) =>
        {
            UiaSession? session;
            await using (var query = c.Command("""
                SELECT method, uri, user_id, created_ts FROM ui_auth_sessions
                WHERE session_id = @id AND created_ts >= @notBefore
                """).With("@id", sessionId).With("@notBefore", notBeforeTs))
            {
                await using var reader = await query.ExecuteReaderAsync(ct).ConfigureAwait(false);
                if (!await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    return null;
                }

                session = new UiaSession(sessionId, reader.GetString(0), reader.GetString(1),
                    reader.GetNullableString(2), reader.GetInt64(3), []);
            }

            await using var stages = c.Command("SELECT stage FROM ui_auth_stages WHERE session_id = @id ORDER BY stage")
                .With("@id", sessionId);
            await using var stageReader = await stages.ExecuteReaderAsync(ct).ConfigureAwait(false);
            var completed = new List<string>();
            while (await stageReader.ReadAsync(ct).ConfigureAwait(false))
            {
                completed.Add(stageReader.GetString(0));
            }

            return session with { CompletedStages = completed };
        }, cancellationToken);

    public Task AddCompletedStageAsync(string sessionId, string stage, CancellationToken cancellationToken) =>
        _db.WriteAsync(async (c, t, ct) =>
        {
            await using var insert = c.Command("""
                INSERT INTO ui_auth_stages (session_id, stage) VALUES (@id, @stage)
                ON CONFLICT (session_id, stage) DO NOTHING
                """, t).With("@id", sessionId).With("@stage", stage);
            return await insert.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }, cancellationToken);

    public Task DeleteSessionAsync(string sessionId, CancellationToken cancellationToken) =>
        _db.WriteAsync(async (c, t, ct) =>
        {
            await using var stages = c.Command("DELETE FROM ui_auth_stages WHERE session_id = @id", t)
                .With("@id", sessionId);
            await stages.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            await using var session = c.Command("DELETE FROM ui_auth_sessions WHERE session_id = @id", t)
                .With("@id", sessionId);
            return await session.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }, cancellationToken);

    public Task DeleteExpiredSessionsAsync(long beforeTs, CancellationToken cancellationToken) =>
        _db.WriteAsync(async (c, t, ct) =>
        {
            await using var stages = c.Command("""
                DELETE FROM ui_auth_stages WHERE session_id IN
                    (SELECT session_id FROM ui_auth_sessions WHERE created_ts < @before)
                """, t).With("@before", beforeTs);
            await stages.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            await using var sessions = c.Command("DELETE FROM ui_auth_sessions WHERE created_ts < @before", t)
                .With("@before", beforeTs);
            return await sessions.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }, cancellationToken);
}
