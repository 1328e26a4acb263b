using Synapse.Configuration;
using Synapse.Replication.Workers;

namespace Synapse.Synctl;

/// <summary><c>synctl nginx</c>: prints an nginx configuration equivalent to the router for the deployment's files.</summary>
internal static class NginxCommand
{
    public const string Usage = """
        Usage:
          synctl nginx [CONFIGFILE] [-a DIR] [-w FILE]... [--listen ADDRESS]
        Prints an nginx configuration (for nginx's http block) that routes like Synapse.Router: each request to the
        worker type that serves it, the rest to main. ADDRESS is nginx's listen value (default 8080).
        """;

    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr)
    {
        string config = SynctlArguments.DefaultConfigFile;
        string listen = "8080";
        var files = new List<string>();
        bool configGiven = false;
        try
        {
            for (int i = 0; i < args.Length; i++)
            {
                string arg = args[i];
                string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{arg} needs a value");
                switch (arg)
                {
                    case "-a" or "--all-processes":
                        files.AddRange(WorkerDeployment.WorkerFilesIn(Next()).Where(f => !SameFile(f, config)));
                        break;
                    case "-w" or "--worker":
                        files.Add(Next());
                        break;
                    case "--listen":
                        listen = Next();
                        break;
                    case "-h" or "--help":
                        await stdout.WriteLineAsync(Usage).ConfigureAwait(false);
                        return 0;
                    default:
                        if (arg.StartsWith('-') || configGiven)
                        {
                            throw new ArgumentException($"unknown argument '{arg}'");
                        }

                        config = arg;
                        configGiven = true;
                        break;
                }
            }
        }
        catch (ArgumentException e)
        {
            await stderr.WriteLineAsync($"Error: {e.Message}").ConfigureAwait(false);
            await stderr.WriteLineAsync(Usage).ConfigureAwait(false);
            return 2;
        }
        catch (ConfigurationException e)
        {
            await stderr.WriteLineAsync(e.Message).ConfigureAwait(false);
            return 1;
        }

        try
        {
            var deployment = WorkerDeployment.Load(config, files, WorkerTypes.Default);
            await stdout.WriteAsync(NginxConfig.Generate(deployment, listen)).ConfigureAwait(false);
            return 0;
        }
        catch (ConfigurationException e)
        {
            await stderr.WriteLineAsync(e.Message).ConfigureAwait(false);
            return 1;
        }
    }

    private static bool SameFile(string a, string b) =>
        string.Equals(Path.GetFullPath(a), Path.GetFullPath(b), StringComparison.Ordinal);
}
