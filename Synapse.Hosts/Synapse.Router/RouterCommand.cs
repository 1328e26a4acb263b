using Microsoft.AspNetCore.Builder;
using Synapse.Configuration;
using Synapse.Replication.Workers;

namespace Synapse.Router;

/// <summary>The router's command line: the deployment's files as synctl takes them, and the addresses to listen on.</summary>
internal static class RouterCommand
{
    public const string Usage = """
        Usage:
          Synapse.Router [-c CONFIGFILE] [-a DIR] [-w FILE]... [--listen URL]...
        Routes every client request to the main process or the worker that serves it.
          -c, --config-path FILE     the shared homeserver configuration (default: homeserver.yaml)
          -a, --all-processes DIR    every worker configuration in DIR (*.yaml, *.yml)
          -w, --worker FILE          one worker configuration (repeatable)
          --listen URL               where to listen (repeatable; default: http://127.0.0.1:8080)
        """;

    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr)
    {
        RouterArguments parsed;
        try
        {
            parsed = RouterArguments.Parse(args);
        }
        catch (ArgumentException e)
        {
            await stderr.WriteLineAsync($"Error: {e.Message}").ConfigureAwait(false);
            await stderr.WriteLineAsync(Usage).ConfigureAwait(false);
            return 2;
        }

        if (parsed.Help)
        {
            await stdout.WriteLineAsync(Usage).ConfigureAwait(false);
            return 0;
        }

        WorkerDeployment deployment;
        try
        {
            var files = new List<string>();
            if (parsed.WorkersDirectory is not null)
            {
                files.AddRange(WorkerDeployment.WorkerFilesIn(parsed.WorkersDirectory));
            }

            files.AddRange(parsed.WorkerFiles);
            deployment = WorkerDeployment.Load(parsed.ConfigPath, files, WorkerTypes.Default);
        }
        catch (ConfigurationException e)
        {
            await stderr.WriteLineAsync(e.Message).ConfigureAwait(false);
            return 1;
        }

        var app = RouterApp.Build(deployment, parsed.Urls);
        await using (app.ConfigureAwait(false))
        {
            try
            {
                await app.StartAsync().ConfigureAwait(false);
            }
            catch (IOException e)
            {
                await stderr.WriteLineAsync($"Error: cannot listen: {e.Message}").ConfigureAwait(false);
                return 1;
            }

            await stdout.WriteLineAsync($"Routing {string.Join(", ", parsed.Urls)} to main ({deployment.MainClientUri}) and "
                + $"{deployment.Workers.Count} worker(s): "
                + string.Join(", ", deployment.Workers.Select(w => $"{w.Name} ({w.Type.App}, {w.ClientUri})"))).ConfigureAwait(false);
            await app.WaitForShutdownAsync().ConfigureAwait(false);
        }

        return 0;
    }
}

/// <summary>The parsed command line.</summary>
internal sealed record RouterArguments(string ConfigPath, string? WorkersDirectory, IReadOnlyList<string> WorkerFiles,
    IReadOnlyList<string> Urls, bool Help)
{
    public static RouterArguments Parse(string[] args)
    {
        string config = "homeserver.yaml";
        string? directory = null;
        var workers = new List<string>();
        var urls = new List<string>();
        bool help = false;
        for (int i = 0; i < args.Length; i++)
        {
            string arg = args[i];
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{arg} needs a value");
            switch (arg)
            {
                case "-c" or "--config-path":
                    config = Next();
                    break;
                case "-a" or "--all-processes":
                    directory = Next();
                    break;
                case "-w" or "--worker":
                    workers.Add(Next());
                    break;
                case "--listen":
                    string url = Next();
                    if (!Uri.TryCreate(url, UriKind.Absolute, out var parsed) || parsed.Scheme != Uri.UriSchemeHttp)
                    {
                        throw new ArgumentException($"--listen takes an http:// URL, not '{url}'");
                    }

                    urls.Add(url);
                    break;
                case "-h" or "--help":
                    help = true;
                    break;
                default:
                    throw new ArgumentException($"unknown argument '{arg}'");
            }
        }

        return new RouterArguments(config, directory, workers, urls.Count == 0 ? ["http://127.0.0.1:8080"] : urls, help);
    }
}
