using Synapse.Identifiers;

namespace Synapse.Sync;

/// <summary>
/// Where a user's pro-active actions (sending) mark them active: <see cref="PresenceService"/> on main and in a monolith;
/// main, over HTTP replication, on a worker (presence is written by one process).
/// </summary>
internal interface IPresenceActivity
{
    /// <summary>The user is online and active now.</summary>
    Task BumpActiveAsync(UserId user, CancellationToken cancellationToken);
}
