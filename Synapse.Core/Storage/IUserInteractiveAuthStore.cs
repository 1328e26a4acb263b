namespace Synapse.Storage;

/// <summary>
/// User-interactive authentication sessions. Kept in the database, not in memory, so that a session
/// started on one process can be completed on another and survives a restart.
/// </summary>
public interface IUserInteractiveAuthStore
{
    /// <summary>Creates a session bound to the request it protects.</summary>
    Task CreateSessionAsync(UiaSession session, CancellationToken cancellationToken);

    /// <summary>The session, or null when unknown or older than <paramref name="notBeforeTs"/>.</summary>
    Task<UiaSession?> GetSessionAsync(string sessionId, long notBeforeTs, CancellationToken cancellationToken);

    /// <summary>Marks one stage of the session as completed.</summary>
    Task AddCompletedStageAsync(string sessionId, string stage, CancellationToken cancellationToken);

    /// <summary>Deletes the session (done, or expired).</summary>
    Task DeleteSessionAsync(string sessionId, CancellationToken cancellationToken);

    /// <summary>Deletes sessions created before <paramref name="beforeTs"/>.</summary>
    Task DeleteExpiredSessionsAsync(long beforeTs, CancellationToken cancellationToken);
}

/// <summary>A UIA session: what it protects and which stages are done.</summary>
public sealed record UiaSession(string SessionId, string Method, string Uri, string? UserId, long CreatedTs,
    IReadOnlyList<string> CompletedStages);
