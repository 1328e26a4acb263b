using Synapse.Configuration;
using Synapse.Homeserver;

namespace Synapse.Synctl;

/// <summary>One process synctl manages: main or a worker, with the files that find it again.</summary>
/// <param name="Name"><c>main</c>, or the worker's <c>worker_name</c>.</param>
/// <param name="ConfigFiles">The <c>-c</c> files, in order: the shared configuration, then the worker's own.</param>
/// <param name="PidFile"><c>pid_file</c> or <c>worker_pid_file</c> of the merged configuration.</param>
internal sealed record ManagedProcess(string Name, IReadOnlyList<string> ConfigFiles, string PidFile)
{
    /// <summary>Where the daemon's output goes (<see cref="PidFiles.LogPathFor"/>).</summary>
    public string LogFile => PidFiles.LogPathFor(PidFile);

    /// <summary>Whether this is the main process (started first, stopped last).</summary>
    public bool IsMain => ConfigFiles.Count == 1;

    /// <summary>
    /// The processes the arguments name, main first, then workers by file name; each configuration is loaded and
    /// checked as the homeserver would, so a mistake is reported before anything starts or stops.
    /// </summary>
    /// <exception cref="ConfigurationException">A configuration is wrong, not a worker's, or has no pid file.</exception>
    public static IReadOnlyList<ManagedProcess> Resolve(SynctlArguments arguments)
    {
        string config = Path.GetFullPath(arguments.ConfigFile);
        var processes = new List<ManagedProcess>();
        if (arguments.WorkerFile is null)
        {
            processes.Add(Load([config]));
        }

        foreach (string file in WorkerFiles(arguments, config))
        {
            processes.Add(Load([config, file]));
        }

        var shared = processes.GroupBy(p => p.PidFile, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (shared is not null)
        {
            throw new ConfigurationException(shared.Key, null,
                $"{string.Join(" and ", shared.Select(p => p.Name))} share this pid file; each process needs its own");
        }

        var twins = processes.GroupBy(p => p.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (twins is not null)
        {
            // Main would refuse the second live connection with that name; say so before starting either.
            throw new ConfigurationException(twins.Last().ConfigFiles[^1], "worker_name",
                $"'{twins.Key}' is also the name of the worker in {twins.First().ConfigFiles[^1]}; each worker needs its own");
        }

        return processes;
    }

    private static IEnumerable<string> WorkerFiles(SynctlArguments arguments, string config)
    {
        if (arguments.WorkerFile is { } worker)
        {
            return [Path.GetFullPath(worker)];
        }

        if (arguments.AllProcessesDirectory is not { } directory)
        {
            return [];
        }

        string full = Path.GetFullPath(directory);
        if (!Directory.Exists(full))
        {
            throw new ConfigurationException(full, null, "no such directory (-a names the directory of worker configuration files)");
        }

        // The shared file may sit in the same directory; it is main, already in the list.
        return Directory.EnumerateFiles(full)
            .Where(f => f.EndsWith(".yaml", StringComparison.Ordinal) || f.EndsWith(".yml", StringComparison.Ordinal))
            .Where(f => !string.Equals(f, config, StringComparison.Ordinal))
            .Order(StringComparer.Ordinal);
    }

    private static ManagedProcess Load(string[] files)
    {
        var options = HomeserverConfigLoader.Load(files);
        bool main = files.Length == 1;
        if (!main && options.Worker is null)
        {
            throw new ConfigurationException(files[1], "worker_app", "this file is not a worker's (no worker_app); -a and -w take worker files only");
        }

        string name = options.Worker?.Name ?? "main";
        return options.PidFile is { } pidFile
            ? new ManagedProcess(name, files, Path.GetFullPath(pidFile))
            : throw new ConfigurationException(files[^1], main ? "pid_file" : "worker_pid_file",
                $"synctl finds {name} through its pid file; set {(main ? "pid_file" : "worker_pid_file")}");
    }
}
