using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Synapse.Configuration;
using Synapse.Storage;

namespace Synapse.Homeserver;

/// <summary>
/// The command line, in Synapse's forms: serve (default), <c>--generate-config</c>, and
/// <c>register-user</c> (like Synapse's <c>register_new_matrix_user</c>).
/// </summary>
internal static class HomeserverCommand
{
    internal const string DefaultConfigPath = "data/homeserver.yaml";

    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr)
    {
        if (args.Length > 0 && args[0] == "register-user")
        {
            return await RegisterUserCommand.RunAsync(args[1..], stdout, stderr).ConfigureAwait(false);
        }

        CommandLine parsed;
        try
        {
            parsed = CommandLine.Parse(args);
        }
        catch (ArgumentException e)
        {
            await stderr.WriteLineAsync($"Error: {e.Message}").ConfigureAwait(false);
            await stderr.WriteLineAsync(CommandLine.Usage).ConfigureAwait(false);
            return 2;
        }

        if (parsed.Help)
        {
            await stdout.WriteLineAsync(CommandLine.Usage).ConfigureAwait(false);
            return 0;
        }

        if (parsed.GenerateConfig)
        {
            return await GenerateAsync(parsed, stdout, stderr).ConfigureAwait(false);
        }

        var paths = parsed.ConfigPaths;
        if (paths.Count == 0)
        {
            // First run with no arguments: create a ready-to-use SQLite setup under ./data.
            if (!File.Exists(DefaultConfigPath))
            {
                var written = HomeserverConfigGenerator.Generate("localhost", DefaultConfigPath, "data");
                foreach (string file in written)
                {
                    await stdout.WriteLineAsync($"Generated {Path.GetFullPath(file)}").ConfigureAwait(false);
                }

                await stdout.WriteLineAsync("Edit it to change server_name or enable registration, then restart.")
                    .ConfigureAwait(false);
            }

            paths = [DefaultConfigPath];
        }

        HomeserverOptions options;
        IReadOnlyList<string> unknownKeys;
        try
        {
            options = HomeserverConfigLoader.Load(paths, out unknownKeys);
            EnsureSigningKey(options, stdout);
        }
        catch (ConfigurationException e)
        {
            await stderr.WriteLineAsync(e.Message).ConfigureAwait(false);
            return 1;
        }

        if ((options.Daemonize || parsed.Daemonize) && !Daemon.IsChild)
        {
            if (options.PidFile is null)
            {
                await stderr.WriteLineAsync(
                    "Configuration error: --daemonize needs a pid file (pid_file; a worker's worker_pid_file): the daemon is found again through it")
                    .ConfigureAwait(false);
                return 1;
            }

            return await Daemon.StartAsync(args, options.PidFile, stdout, stderr).ConfigureAwait(false);
        }

        return await ServeAsync(options, unknownKeys, stderr).ConfigureAwait(false);
    }

    private static async Task<int> ServeAsync(HomeserverOptions options, IReadOnlyList<string> unknownKeys, TextWriter stderr)
    {
        Microsoft.AspNetCore.Builder.WebApplication app;
        try
        {
            app = await HomeserverApp.BuildAsync(options, unknownKeys).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SchemaTooNewException or SchemaMismatchException)
        {
            await stderr.WriteLineAsync($"Error: {e.Message}").ConfigureAwait(false);
            return 1;
        }
        catch (ConfigurationException e)
        {
            await stderr.WriteLineAsync(e.Message).ConfigureAwait(false);
            return 1;
        }
        catch (Exception e) when (e is NpgsqlException or SocketException or Microsoft.Data.Sqlite.SqliteException
                                       or IOException or UnauthorizedAccessException)
        {
            await stderr.WriteLineAsync($"Error: cannot open the database ({DescribeDatabase(options.Database)}): {e.Message}")
                .ConfigureAwait(false);
            return 1;
        }

        await using (app.ConfigureAwait(false))
        {
            try
            {
                await app.StartAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or SocketException)
            {
                // Kestrel wraps a taken port in an IOException; the TCP replication listener's comes as it is.
                await stderr.WriteLineAsync($"Error: cannot open a listener: {e.Message}").ConfigureAwait(false);
                return 1;
            }

            WritePidFile(options.PidFile);
            try
            {
                await app.WaitForShutdownAsync().ConfigureAwait(false);
            }
            finally
            {
                if (options.PidFile is not null)
                {
                    File.Delete(options.PidFile);
                }
            }

            if (app.Services.GetService<Synapse.Replication.Workers.WorkerHostingExtensions.WorkerStatus>()?.Refusal is { } refusal)
            {
                await stderr.WriteLineAsync($"Error: the main process refused this worker: {refusal}").ConfigureAwait(false);
                return 1;
            }
        }

        return 0;
    }

    private static async Task<int> GenerateAsync(CommandLine parsed, TextWriter stdout, TextWriter stderr)
    {
        if (parsed.ServerName is null || parsed.ConfigPaths.Count != 1)
        {
            await stderr.WriteLineAsync("Error: --generate-config needs --server-name NAME and one --config-path FILE")
                .ConfigureAwait(false);
            return 2;
        }

        string configPath = parsed.ConfigPaths[0];
        string dataDirectory = parsed.DataDirectory ?? Path.GetDirectoryName(Path.GetFullPath(configPath))!;
        try
        {
            foreach (string file in HomeserverConfigGenerator.Generate(parsed.ServerName, configPath, dataDirectory,
                         parsed.ReportStats))
            {
                await stdout.WriteLineAsync($"Generated {Path.GetFullPath(file)}").ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            await stderr.WriteLineAsync($"Error: {e.Message}").ConfigureAwait(false);
            return 1;
        }

        return 0;
    }

    /// <summary>A configuration written by hand may name a key file that does not exist yet; Synapse creates it.</summary>
    private static void EnsureSigningKey(HomeserverOptions options, TextWriter stdout)
    {
        if (!File.Exists(options.SigningKeyPath))
        {
            SigningKeyFile.Generate(options.SigningKeyPath);
            stdout.WriteLine($"Generated signing key {options.SigningKeyPath}");
        }
    }

    private static void WritePidFile(string? path)
    {
        if (path is not null)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            File.WriteAllText(path, Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
    }

    private static string DescribeDatabase(DatabaseOptions database) =>
        database.Engine == DatabaseEngine.Sqlite
            ? $"sqlite3 {database.SqlitePath}"
            : $"psycopg2 {database.User}@{database.Host}:{database.Port}/{database.DatabaseName}";
}

/// <summary>The parsed command line.</summary>
internal sealed record CommandLine(IReadOnlyList<string> ConfigPaths, bool GenerateConfig, string? ServerName,
    string? DataDirectory, bool ReportStats, bool Help, bool Daemonize = false)
{
    public const string Usage = """
        Usage:
          Synapse.Homeserver [-c FILE]... [-D]            serve (no -c: ./data/homeserver.yaml, generated on first run)
          Synapse.Homeserver --generate-config --server-name NAME --config-path FILE
                             [--data-directory DIR] [--report-stats yes|no]
          Synapse.Homeserver register-user [-c FILE]... -u USER [-p PASSWORD] [--admin] [--url URL]
        Several -c files merge in order: a top-level key in a later file replaces the earlier value.
        -D, --daemonize: run in the background (as daemonize: true); needs pid_file, logs beside it (homeserver.pid -> homeserver.log).
        """;

    public static CommandLine Parse(string[] args)
    {
        var paths = new List<string>();
        bool generate = false, reportStats = false, help = false, daemonize = false;
        string? serverName = null, dataDirectory = null;
        for (int i = 0; i < args.Length; i++)
        {
            string arg = args[i];
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{arg} needs a value");
            switch (arg)
            {
                case "-c" or "--config-path":
                    paths.Add(Next());
                    break;
                case "--generate-config":
                    generate = true;
                    break;
                case "-H" or "--server-name":
                    serverName = Next();
                    break;
                case "--data-directory":
                    dataDirectory = Next();
                    break;
                case "--report-stats":
                    string value = Next();
                    reportStats = value switch
                    {
                        "yes" => true,
                        "no" => false,
                        _ => throw new ArgumentException("--report-stats takes yes or no"),
                    };
                    break;
                case "-h" or "--help":
                    help = true;
                    break;
                case "-D" or "--daemonize":
                    daemonize = true;
                    break;
                default:
                    if (arg.StartsWith("--config-path=", StringComparison.Ordinal))
                    {
                        paths.Add(arg["--config-path=".Length..]);
                        break;
                    }

                    throw new ArgumentException($"unknown argument '{arg}'");
            }
        }

        return new CommandLine(paths, generate, serverName, dataDirectory, reportStats, help, daemonize);
    }
}
