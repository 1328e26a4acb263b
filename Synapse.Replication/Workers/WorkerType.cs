using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Synapse.Configuration;

namespace Synapse.Replication.Workers;

/// <summary>How the router picks among the instances of a worker type for one request.</summary>
public enum RouteAffinity
{
    /// <summary>Any instance (round robin).</summary>
    None,

    /// <summary>Always the same instance for one user (by access token): long-polls and caches stay together.</summary>
    User,

    /// <summary>Always the same instance for one room (the room ID in the path).</summary>
    Room,

    /// <summary>Always the first instance: the endpoint keeps state in one process (registration's UIA fallback).</summary>
    OneInstance,
}

/// <summary>One endpoint family a worker type serves: a path pattern and, optionally, the methods.</summary>
public sealed class WorkerRoute
{
    private readonly Regex _pattern;

    /// <summary>Creates a route; <paramref name="pattern"/> is matched against the whole request path.</summary>
    public WorkerRoute(string pattern, IReadOnlyCollection<string>? methods = null, RouteAffinity affinity = RouteAffinity.None)
    {
        ArgumentException.ThrowIfNullOrEmpty(pattern);
        Pattern = pattern;
        Methods = methods is null ? null : new HashSet<string>(methods, StringComparer.OrdinalIgnoreCase);
        Affinity = affinity;
        _pattern = new Regex(pattern, RegexOptions.CultureInvariant | RegexOptions.ExplicitCapture, TimeSpan.FromMilliseconds(100));
    }

    /// <summary>The path regex (anchored by the author, as in Synapse's worker documentation).</summary>
    public string Pattern { get; }

    /// <summary>The methods served, or null for every method.</summary>
    public IReadOnlySet<string>? Methods { get; }

    /// <summary>How the router spreads these requests over instances.</summary>
    public RouteAffinity Affinity { get; }

    /// <summary>
    /// When the route applies, given the deployment's configuration; null for always. frontend_proxy serves presence only
    /// when <c>use_presence</c> is off, for example.
    /// </summary>
    public Func<HomeserverOptions, bool>? When { get; init; }

    /// <summary>Whether this route serves <paramref name="method"/> <paramref name="path"/> under <paramref name="options"/>.</summary>
    public bool Matches(string method, string path, HomeserverOptions options) =>
        (When is null || When(options))
        && (Methods is null || Methods.Contains(method) || method == "OPTIONS" || (method == "HEAD" && Methods.Contains("GET")))
        && _pattern.IsMatch(path);
}

/// <summary>
/// A kind of worker process (<c>worker_app</c>): the endpoints it serves — its process answers everything else with 404
/// <c>M_UNRECOGNIZED</c>, and the router builds its table from them — and what it adds to the worker composition.
/// </summary>
/// <remarks>
/// Every worker runs the domain services over the shared database, follows main's streams over TCP replication and hands
/// its writes to main over HTTP replication (<see cref="WorkerHostingExtensions.AddSynapseWorker"/>). A type adds only what
/// is its own: an embedding application defines one with its routes and, where needed, services.
/// </remarks>
public sealed class WorkerType
{
    /// <summary>The <c>worker_app</c> name, such as <c>synapse.app.synchrotron</c>.</summary>
    public required string App { get; init; }

    /// <summary>A line for humans (synctl, the router's log, errors).</summary>
    public required string Description { get; init; }

    /// <summary>The endpoints it serves.</summary>
    public required IReadOnlyList<WorkerRoute> Routes { get; init; }

    /// <summary>Whether at most one instance may run (the router sends everything to the first).</summary>
    public bool Singleton { get; init; }

    /// <summary>
    /// Checks the worker's (merged) configuration at start and returns the problem, or null. The built-in user_dir uses it
    /// for Synapse's rule that a job moves to exactly one process: main's flag must be off.
    /// </summary>
    public Func<HomeserverOptions, string?>? CheckConfiguration { get; init; }

    /// <summary>Extra services for this type (background jobs, stream consumers); null for none.</summary>
    public Action<IServiceCollection, HomeserverOptions>? ConfigureServices { get; init; }

    /// <summary>
    /// Extra request handling for this type, run after requests it does not serve were refused and before the homeserver's
    /// endpoints: endpoints of its own, or a proxy to main (frontend_proxy); null for none.
    /// </summary>
    public Action<IApplicationBuilder, HomeserverOptions>? ConfigureApplication { get; init; }

    /// <summary>Whether this type serves <paramref name="method"/> <paramref name="path"/> in a deployment configured by <paramref name="options"/>.</summary>
    public bool Serves(string method, string path, HomeserverOptions options) => RouteFor(method, path, options) is not null;

    /// <summary>The route that serves the request in a deployment configured by <paramref name="options"/>, or null.</summary>
    public WorkerRoute? RouteFor(string method, string path, HomeserverOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return Routes.FirstOrDefault(r => r.Matches(method, path, options));
    }
}
