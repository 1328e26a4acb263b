using System.Globalization;
using Synapse.Configuration;

namespace Synapse.Replication.Workers;

/// <summary>One worker process of a deployment: its configuration (the shared file merged with its own) and where it serves clients.</summary>
/// <param name="Name">Its <c>worker_name</c>.</param>
/// <param name="Type">Its worker type.</param>
/// <param name="Options">The merged configuration.</param>
/// <param name="ClientUri">The base address of its client listener.</param>
/// <param name="ConfigFile">Its own configuration file.</param>
public sealed record WorkerInstance(string Name, WorkerType Type, HomeserverOptions Options, Uri ClientUri, string ConfigFile);

/// <summary>
/// A deployment as an operator writes it — the shared configuration file and one file per worker, usually all of a
/// folder — read the way each process reads it. synctl, the router and the nginx generator work from it.
/// </summary>
public sealed class WorkerDeployment
{
    private WorkerDeployment(string mainConfig, HomeserverOptions main, Uri mainClientUri, IReadOnlyList<WorkerInstance> workers)
    {
        MainConfig = mainConfig;
        Main = main;
        MainClientUri = mainClientUri;
        Workers = workers;
    }

    /// <summary>The shared (main's) configuration file.</summary>
    public string MainConfig { get; }

    /// <summary>Main's configuration.</summary>
    public HomeserverOptions Main { get; }

    /// <summary>The base address of main's client listener.</summary>
    public Uri MainClientUri { get; }

    /// <summary>The workers, in the order of their files.</summary>
    public IReadOnlyList<WorkerInstance> Workers { get; }

    /// <summary>The worker configuration files of a folder (<c>*.yaml</c>, <c>*.yml</c>), in name order.</summary>
    public static IReadOnlyList<string> WorkerFilesIn(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (!Directory.Exists(directory))
        {
            throw new ConfigurationException(Path.GetFullPath(directory), null, "the worker configuration folder does not exist");
        }

        return [.. Directory.EnumerateFiles(directory)
            .Where(f => f.EndsWith(".yaml", StringComparison.Ordinal) || f.EndsWith(".yml", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)];
    }

    /// <summary>
    /// Reads main's file and each worker's (merged over main's). Anything a process would refuse, and what only makes sense
    /// across processes — a worker file without <c>worker_app</c>, a repeated <c>worker_name</c>, a process without a client
    /// listener — is a <see cref="ConfigurationException"/>.
    /// </summary>
    public static WorkerDeployment Load(string mainConfig, IReadOnlyList<string> workerFiles, WorkerTypes types)
    {
        ArgumentException.ThrowIfNullOrEmpty(mainConfig);
        ArgumentNullException.ThrowIfNull(workerFiles);
        ArgumentNullException.ThrowIfNull(types);
        var main = HomeserverConfigLoader.Load([mainConfig]);
        if (main.Worker is not null)
        {
            throw new ConfigurationException(Path.GetFullPath(mainConfig), "worker_app",
                "this is a worker's file; give the shared homeserver configuration first");
        }

        var mainUri = ClientUri(main, Path.GetFullPath(mainConfig));
        var workers = new List<WorkerInstance>();
        foreach (string file in workerFiles)
        {
            string full = Path.GetFullPath(file);
            var options = HomeserverConfigLoader.Load([mainConfig, file]);
            var worker = options.Worker;
            if (worker is null)
            {
                throw new ConfigurationException(full, "worker_app", "worker_app is missing: every file in the worker folder describes one worker");
            }

            var type = types.Find(worker.App) ?? throw new ConfigurationException(full, "worker_app",
                $"unknown worker type '{worker.App}'; known: " + string.Join(", ", types.All.Select(t => t.App)));
            if (workers.FirstOrDefault(w => w.Name == worker.Name) is { } twin)
            {
                throw new ConfigurationException(full, "worker_name",
                    $"'{worker.Name}' is also the name of the worker in {twin.ConfigFile}; each worker needs its own");
            }

            if (type.Singleton && workers.FirstOrDefault(w => w.Type == type) is { } first)
            {
                throw new ConfigurationException(full, "worker_app", $"only one {type.App} may run; {first.ConfigFile} is one already");
            }

            workers.Add(new WorkerInstance(worker.Name, type, options, ClientUri(options, full), full));
        }

        return new WorkerDeployment(Path.GetFullPath(mainConfig), main, mainUri, workers);
    }

    /// <summary>The base address of the first HTTP listener serving the client API; a wildcard bind is reached on loopback.</summary>
    private static Uri ClientUri(HomeserverOptions options, string file)
    {
        var listener = options.Listeners.FirstOrDefault(l => l.Type == "http" && l.Resources.Contains("client"))
            ?? throw new ConfigurationException(file, options.Worker is null ? "listeners" : "worker_listeners",
                "no http listener serves the client resource, so clients cannot be routed to this process");
        string address = listener.BindAddresses.Count > 0 ? listener.BindAddresses[0] : "127.0.0.1";
        address = address switch
        {
            "0.0.0.0" or "" => "127.0.0.1",
            "::" => "[::1]",
            _ when address.Contains(':', StringComparison.Ordinal) => $"[{address}]",
            _ => address,
        };
        return new Uri(string.Create(CultureInfo.InvariantCulture, $"http://{address}:{listener.Port}/"));
    }
}
