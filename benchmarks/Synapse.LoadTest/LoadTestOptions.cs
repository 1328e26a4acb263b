using System.Globalization;
using System.Net;

namespace Synapse.LoadTest;

/// <summary>A command line that does not describe a run: the message goes with the usage text, exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>The parsed command line: which scenario, against which server, how big and how bounded.</summary>
internal sealed class LoadTestOptions
{
    /// <summary>Each scenario's size options and their defaults.</summary>
    public static readonly IReadOnlyDictionary<string, IReadOnlyDictionary<string, int>> ScenarioSizes =
        new Dictionary<string, IReadOnlyDictionary<string, int>>(StringComparer.Ordinal)
        {
            ["send"] = new Dictionary<string, int> { ["users"] = 10, ["rooms"] = 5, ["messages"] = 500, ["concurrency"] = 10 },
            ["fanout"] = new Dictionary<string, int> { ["listeners"] = 50, ["senders"] = 2, ["rooms"] = 1, ["messages"] = 50, ["rate"] = 10 },
            ["initial-sync"] = new Dictionary<string, int> { ["rooms"] = 50, ["events"] = 20, ["repeats"] = 3 },
            ["join"] = new Dictionary<string, int> { ["joiners"] = 100, ["concurrency"] = 10 },
            ["lag"] = new Dictionary<string, int> { ["listeners"] = 10, ["senders"] = 1, ["rooms"] = 1, ["messages"] = 50, ["rate"] = 10 },
        };

    public const string UsageText = """
        usage: synapse-loadtest <scenario> [options]

        Puts the same load on any Matrix homeserver through the standard Client-Server API and reports comparable figures.

        scenarios (size options, defaults):
          send          --users 10 --rooms 5 --messages 500 --concurrency 10
                        users send messages into rooms they share: events/s and send latency p50/p95/p99
          fanout        --listeners 50 --senders 2 --rooms 1 --messages 50 --rate 10
                        listeners long-poll /sync while senders send (rate: messages per second in all):
                        send-response-to-sync latency p50/p99, missing and duplicated events
          initial-sync  --rooms 50 --events 20 --repeats 3
                        one user in N rooms with E events each: initial sync time and response size
          join          --joiners 100 --concurrency 10
                        users join one public room: joins/s and the time of the last join
          lag           --listeners 10 --senders 1 --rooms 1 --messages 50 --rate 10   (needs --read-url)
                        send through --base-url, read /sync through --read-url (for example event_creator ->
                        synchrotron): replication lag p50/p99, missing and duplicated events

        options:
          --base-url URL       the homeserver (default http://127.0.0.1:8008)
          --read-url URL       lag: where the listeners sync
          --seed N             the workload's random seed (default 1)
          --json FILE          also write every figure and the run's parameters as JSON
          --shared-secret S    register through /_synapse/admin/v1/register instead of open registration
          --user-prefix P      account names start with P (default loadtest)
          --reuse-users        fixed account names; log in when they exist (reuse across runs)
          --password P         the accounts' password (default loadtest-password)
          --max-seconds N      stop the run after N seconds (default 600)
          --max-requests N     stop the run after N requests (default 1000000)
          --settle-seconds N   fanout/lag: how long to wait for the last deliveries (default 10)
          --server-pid PID     record that local process's peak RSS and CPU seconds from /proc
          --allow-remote       allow a target that is not a loopback address
          --no-progress        no progress lines on stderr

        exit codes: 0 done and correct, 1 a correctness failure or an error, 2 bad arguments, 3 stopped by a limit
        """;

    public required string Scenario { get; init; }

    public required Uri BaseUrl { get; init; }

    public Uri? ReadUrl { get; init; }

    public int Seed { get; init; } = 1;

    public string? JsonPath { get; init; }

    public string? SharedSecret { get; init; }

    public string UserPrefix { get; init; } = "loadtest";

    public bool ReuseUsers { get; init; }

    public string Password { get; init; } = "loadtest-password";

    public TimeSpan MaxDuration { get; init; } = TimeSpan.FromSeconds(600);

    public long MaxRequests { get; init; } = 1_000_000;

    public TimeSpan Settle { get; init; } = TimeSpan.FromSeconds(10);

    public int? ServerPid { get; init; }

    public bool Progress { get; init; } = true;

    public required IReadOnlyDictionary<string, int> Sizes { get; init; }

    /// <summary>A size option of the scenario (always present: defaults fill in).</summary>
    public int Size(string name) => Sizes[name];

    public static LoadTestOptions Parse(IReadOnlyList<string> args)
    {
        if (args.Count == 0)
        {
            throw new UsageException("a scenario is required");
        }

        string scenario = args[0];
        if (!ScenarioSizes.TryGetValue(scenario, out var defaults))
        {
            throw new UsageException($"unknown scenario '{scenario}'");
        }

        var sizes = new Dictionary<string, int>(defaults, StringComparer.Ordinal);
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        var flags = new HashSet<string>(StringComparer.Ordinal);
        string[] valueOptions = ["base-url", "read-url", "seed", "json", "shared-secret", "user-prefix", "password",
            "max-seconds", "max-requests", "settle-seconds", "server-pid"];
        string[] flagOptions = ["reuse-users", "allow-remote", "no-progress"];
        for (int i = 1; i < args.Count; i++)
        {
            string arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal))
            {
                throw new UsageException($"unexpected argument '{arg}'");
            }

            string name = arg[2..];
            if (flagOptions.Contains(name))
            {
                flags.Add(name);
                continue;
            }

            if (!valueOptions.Contains(name) && !sizes.ContainsKey(name))
            {
                throw new UsageException($"unknown option '{arg}' for scenario {scenario}");
            }

            if (i + 1 >= args.Count)
            {
                throw new UsageException($"{arg} needs a value");
            }

            string value = args[++i];
            if (sizes.ContainsKey(name))
            {
                sizes[name] = PositiveInt(arg, value);
            }
            else
            {
                values[name] = value;
            }
        }

        var baseUrl = Url("--base-url", values.GetValueOrDefault("base-url") ?? "http://127.0.0.1:8008");
        var readUrl = values.TryGetValue("read-url", out string? read) ? Url("--read-url", read) : null;
        if (scenario == "lag" && readUrl is null)
        {
            throw new UsageException("the lag scenario needs --read-url (the process the listeners sync from)");
        }

        if (scenario != "lag" && readUrl is not null)
        {
            throw new UsageException("--read-url is only for the lag scenario");
        }

        bool allowRemote = flags.Contains("allow-remote");
        foreach (var url in new[] { baseUrl, readUrl })
        {
            if (url is not null && !allowRemote && !IsLoopback(url))
            {
                throw new UsageException($"{url} is not a loopback address; pass --allow-remote to load a remote server");
            }
        }

        int? pid = values.TryGetValue("server-pid", out string? p) ? PositiveInt("--server-pid", p) : null;
        if (pid is { } id && !Directory.Exists($"/proc/{id.ToString(CultureInfo.InvariantCulture)}"))
        {
            throw new UsageException($"--server-pid {id}: no such process in /proc");
        }

        string prefix = values.GetValueOrDefault("user-prefix") ?? "loadtest";
        if (prefix.Length == 0 || prefix.Any(c => !(char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '-' or '_' or '.')))
        {
            throw new UsageException("--user-prefix may only hold a-z, 0-9, '-', '_' and '.'");
        }

        return new LoadTestOptions
        {
            Scenario = scenario,
            BaseUrl = baseUrl,
            ReadUrl = readUrl,
            Seed = values.TryGetValue("seed", out string? seed) ? Int("--seed", seed) : 1,
            JsonPath = values.GetValueOrDefault("json"),
            SharedSecret = values.GetValueOrDefault("shared-secret"),
            UserPrefix = prefix,
            ReuseUsers = flags.Contains("reuse-users"),
            Password = values.GetValueOrDefault("password") ?? "loadtest-password",
            MaxDuration = TimeSpan.FromSeconds(values.TryGetValue("max-seconds", out string? s) ? PositiveInt("--max-seconds", s) : 600),
            MaxRequests = values.TryGetValue("max-requests", out string? r) ? PositiveInt("--max-requests", r) : 1_000_000,
            Settle = TimeSpan.FromSeconds(values.TryGetValue("settle-seconds", out string? st) ? PositiveInt("--settle-seconds", st) : 10),
            ServerPid = pid,
            Progress = !flags.Contains("no-progress"),
            Sizes = sizes,
        };
    }

    /// <summary>The run's parameters, as the report and its JSON show them.</summary>
    public SortedDictionary<string, object> Describe()
    {
        var described = new SortedDictionary<string, object>(StringComparer.Ordinal)
        {
            ["base_url"] = BaseUrl.ToString(),
            ["seed"] = Seed,
            ["registration"] = SharedSecret is null ? "open (m.login.dummy)" : "shared secret",
            ["reuse_users"] = ReuseUsers,
            ["max_seconds"] = (int)MaxDuration.TotalSeconds,
            ["max_requests"] = MaxRequests,
        };
        if (ReadUrl is not null)
        {
            described["read_url"] = ReadUrl.ToString();
        }

        if (Scenario is "fanout" or "lag")
        {
            described["settle_seconds"] = (int)Settle.TotalSeconds;
        }

        foreach (var (name, value) in Sizes)
        {
            described[name] = value;
        }

        return described;
    }

    private static bool IsLoopback(Uri url) =>
        url.IsLoopback || (IPAddress.TryParse(url.Host.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address));

    private static Uri Url(string option, string value)
    {
        if (!Uri.TryCreate(value, UriKind.Absolute, out var url) || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps))
        {
            throw new UsageException($"{option} must be an http(s) URL, not '{value}'");
        }

        return new Uri(url.GetLeftPart(UriPartial.Authority) + url.AbsolutePath.TrimEnd('/') + "/");
    }

    private static int Int(string option, string value) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int parsed)
            ? parsed
            : throw new UsageException($"{option} must be an integer, not '{value}'");

    private static int PositiveInt(string option, string value) =>
        Int(option, value) is > 0 and var parsed ? parsed : throw new UsageException($"{option} must be a positive integer, not '{value}'");
}
