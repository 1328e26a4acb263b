using Synapse.Identifiers;
using Synapse.Sync;

namespace Synapse.Replication.Http;

/// <summary>A worker's <see cref="IPresenceActivity"/>: main marks the user active (<c>bump_presence_active_time</c>).</summary>
internal sealed class RemotePresenceActivity(ReplicationHttpClient main) : IPresenceActivity
{
    public Task BumpActiveAsync(UserId user, CancellationToken cancellationToken) =>
        main.BumpPresenceActiveTimeAsync(user, cancellationToken);
}
