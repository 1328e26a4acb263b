namespace Synapse.Synctl;

/// <summary>What <c>start</c>, <c>stop</c> and <c>restart</c> act on.</summary>
internal enum SynctlAction
{
    Start,
    Stop,
    Restart,
}

/// <summary>
/// The parsed command line of the process commands, in Synapse's synctl forms:
/// <c>synctl [-a DIR | -w FILE] start|stop|restart [CONFIGFILE]</c> (options before or after the action).
/// </summary>
/// <param name="Action">The command.</param>
/// <param name="ConfigFile">The shared (main) configuration; <c>homeserver.yaml</c> in the current directory by default.</param>
/// <param name="AllProcessesDirectory"><c>-a DIR</c>: main and every worker configuration in DIR.</param>
/// <param name="WorkerFile"><c>-w FILE</c>: that worker only.</param>
/// <param name="Homeserver"><c>--homeserver PATH</c>: the executable or <c>.dll</c> to run instead of the one beside synctl.</param>
internal sealed record SynctlArguments(SynctlAction Action, string ConfigFile, string? AllProcessesDirectory, string? WorkerFile,
    string? Homeserver)
{
    public const string DefaultConfigFile = "homeserver.yaml";

    public const string Usage = """
        Usage:
          synctl start|stop|restart [CONFIGFILE] [-a DIR | -w FILE] [--homeserver PATH]
          synctl nginx [CONFIGFILE] [-a DIR] [-w FILE]... [--listen ADDRESS]   (prints an nginx configuration)
        CONFIGFILE          the shared configuration (default: ./homeserver.yaml)
        -a, --all-processes DIR
                            main, then every worker configuration in DIR (*.yaml, *.yml, by name)
        -w, --worker FILE   only the worker configured in FILE (on top of CONFIGFILE)
        --homeserver PATH   the homeserver executable or .dll (default: beside synctl; or $SYNAPSE_HOMESERVER)
        Without -a or -w, main only. Start runs each process in the background (--daemonize) and needs its pid file
        (pid_file, worker_pid_file); its output goes to the log file beside it (homeserver.pid -> homeserver.log).
        Stop sends SIGTERM to workers first, then main. Restart is stop, then start.
        Exit codes: 0 done, 1 a process failed or a configuration error, 2 bad arguments.
        """;

    /// <summary>Parses the arguments of a process command.</summary>
    /// <exception cref="ArgumentException">An unknown option, a missing value, a missing or unknown action, or one argument too many.</exception>
    public static SynctlArguments Parse(IReadOnlyList<string> args)
    {
        var positional = new List<string>();
        string? all = null, worker = null, homeserver = null;
        for (int i = 0; i < args.Count; i++)
        {
            string arg = args[i];
            string Next() => i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{arg} needs a value");
            switch (arg)
            {
                case "-a" or "--all-processes":
                    all = Once(all, arg, Next());
                    break;
                case "-w" or "--worker":
                    worker = Once(worker, arg, Next());
                    break;
                case "--homeserver":
                    homeserver = Once(homeserver, arg, Next());
                    break;
                default:
                    if (TryLongValue(arg, "--all-processes=", out string? value))
                    {
                        all = Once(all, "--all-processes", value);
                    }
                    else if (TryLongValue(arg, "--worker=", out value))
                    {
                        worker = Once(worker, "--worker", value);
                    }
                    else if (TryLongValue(arg, "--homeserver=", out value))
                    {
                        homeserver = Once(homeserver, "--homeserver", value);
                    }
                    else if (arg.StartsWith('-') && arg != "-")
                    {
                        throw new ArgumentException($"unknown option '{arg}'");
                    }
                    else
                    {
                        positional.Add(arg);
                    }

                    break;
            }
        }

        if (positional.Count == 0)
        {
            throw new ArgumentException("missing command: start, stop or restart");
        }

        var action = positional[0] switch
        {
            "start" => SynctlAction.Start,
            "stop" => SynctlAction.Stop,
            "restart" => SynctlAction.Restart,
            _ => throw new ArgumentException($"unknown command '{positional[0]}': expected start, stop or restart"),
        };
        if (positional.Count > 2)
        {
            throw new ArgumentException($"unexpected argument '{positional[2]}' (one configuration file at most)");
        }

        if (all is not null && worker is not null)
        {
            throw new ArgumentException("-a and -w exclude each other");
        }

        return new SynctlArguments(action, positional.Count == 2 ? positional[1] : DefaultConfigFile, all, worker, homeserver);
    }

    private static string Once(string? previous, string option, string value) =>
        previous is null ? value : throw new ArgumentException($"{option} is given twice");

    private static bool TryLongValue(string arg, string prefix, out string value)
    {
        value = arg.StartsWith(prefix, StringComparison.Ordinal) ? arg[prefix.Length..] : "";
        return value.Length > 0;
    }
}
