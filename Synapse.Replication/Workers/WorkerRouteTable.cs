using System.Text;

namespace Synapse.Replication.Workers;

/// <summary>Where a request goes: the worker instances that may serve it, best first, or main when none does.</summary>
/// <param name="Route">The worker route that matched, or null for main.</param>
/// <param name="Instances">The instances of the first worker type (in file order) that serves it; empty for main.</param>
public sealed record RouteChoice(WorkerRoute? Route, IReadOnlyList<WorkerInstance> Instances)
{
    /// <summary>Whether the request goes to main.</summary>
    public bool ToMain => Instances.Count == 0;
}

/// <summary>
/// The router's table, built from the worker types of a deployment (their own route lists, never a copy): a request goes
/// to the first worker type, in the order of the worker files, that serves it, spread over that type's instances by the
/// route's affinity; anything no worker serves goes to main.
/// </summary>
public sealed class WorkerRouteTable
{
    private readonly WorkerDeployment _deployment;
    private readonly IReadOnlyList<(WorkerType Type, IReadOnlyList<WorkerInstance> Instances)> _types;
    private long _roundRobin;

    /// <summary>Builds the table of <paramref name="deployment"/>.</summary>
    public WorkerRouteTable(WorkerDeployment deployment)
    {
        ArgumentNullException.ThrowIfNull(deployment);
        _deployment = deployment;
        _types = [.. deployment.Workers.GroupBy(w => w.Type).Select(g => (g.Key, (IReadOnlyList<WorkerInstance>)[.. g]))];
    }

    /// <summary>The route and instances for <paramref name="method"/> <paramref name="path"/>, in no particular order yet.</summary>
    public RouteChoice Find(string method, string path)
    {
        foreach (var (type, instances) in _types)
        {
            if (type.RouteFor(method, path, instances[0].Options) is { } route)
            {
                return new RouteChoice(route, instances);
            }
        }

        return new RouteChoice(null, []);
    }

    /// <summary>
    /// The instances to try for a request, best first: the same order for the same user (<see cref="RouteAffinity.User"/>,
    /// <paramref name="user"/>) or room (<see cref="RouteAffinity.Room"/>, taken from the path), the first instance for
    /// <see cref="RouteAffinity.OneInstance"/> and singletons, and a rotation otherwise. The later ones are where to go
    /// when the first is down; with rendezvous hashing, an instance going away moves only its own users.
    /// </summary>
    public IReadOnlyList<WorkerInstance> Order(RouteChoice choice, string path, string? user)
    {
        ArgumentNullException.ThrowIfNull(choice);
        ArgumentNullException.ThrowIfNull(path);
        var instances = choice.Instances;
        if (instances.Count <= 1 || choice.Route is null)
        {
            return instances;
        }

        string? key = choice.Route.Affinity switch
        {
            RouteAffinity.User => user,
            RouteAffinity.Room => RoomIdOf(path),
            _ => null,
        };
        if (choice.Route.Affinity == RouteAffinity.OneInstance || instances[0].Type.Singleton)
        {
            return instances;
        }

        if (key is null)
        {
            int start = (int)((ulong)Interlocked.Increment(ref _roundRobin) % (ulong)instances.Count);
            return [.. instances.Skip(start), .. instances.Take(start)];
        }

        return [.. instances.OrderByDescending(i => Score(key, i.Name)).ThenBy(i => i.Name, StringComparer.Ordinal)];
    }

    /// <summary>The deployment the table was built from.</summary>
    public WorkerDeployment Deployment => _deployment;

    /// <summary>The room ID in a client path (<c>/rooms/{roomId}/...</c>), decoded; null when there is none.</summary>
    public static string? RoomIdOf(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        int at = path.IndexOf("/rooms/", StringComparison.Ordinal);
        if (at < 0)
        {
            return null;
        }

        int start = at + "/rooms/".Length;
        int end = path.IndexOf('/', start);
        string segment = end < 0 ? path[start..] : path[start..end];
        return segment.Length == 0 ? null : Uri.UnescapeDataString(segment);
    }

    /// <summary>A stable 64-bit score of (key, instance): FNV-1a, then a finalising mix so close inputs spread.</summary>
    private static ulong Score(string key, string instance)
    {
        ulong hash = 14695981039346656037UL;
        foreach (byte b in Encoding.UTF8.GetBytes(key + "\n" + instance))
        {
            hash = (hash ^ b) * 1099511628211UL;
        }

        hash ^= hash >> 33;
        hash *= 0xff51afd7ed558ccdUL;
        hash ^= hash >> 33;
        hash *= 0xc4ceb9fe1a85ec53UL;
        return hash ^ (hash >> 33);
    }
}
