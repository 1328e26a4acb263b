using System.Collections.Frozen;
using System.Globalization;
using Microsoft.Extensions.Logging;
using YamlDotNet.Core;
using Synapse.RoomVersions;
using YamlDotNet.RepresentationModel;

namespace Synapse.Configuration;

/// <summary>
/// Reads Synapse-style <c>homeserver.yaml</c> files into a validated <see cref="HomeserverOptions"/>.
/// </summary>
/// <remarks>
/// Several files may be given, as with Synapse's repeated <c>--config-path</c>: a top-level key in a later file
/// replaces the earlier value whole (there is no deep merge). Relative paths in values are resolved against the
/// current directory, as Synapse does. Every problem is reported as a <see cref="ConfigurationException"/> naming
/// the file and key.
/// </remarks>
public static class HomeserverConfigLoader
{
    // HomeserverOptions.MaxUploadSize's initial value, Synapse's "50M"; needed here because the option is init-only.
    private const long DefaultMaxUploadSize = 50L * 1024 * 1024;

    private static readonly string[] DefaultBindAddresses = ["::", "0.0.0.0"];

    // Keys that only make sense for a worker: with them, a missing worker_app is a mistake, not the main process.
    private static readonly string[] WorkerOnlyKeys =
    [
        "worker_name", "worker_listeners", "worker_replication_host", "worker_replication_port", "worker_replication_http_port",
        "worker_main_http_uri", "worker_pid_file", "worker_daemonize", "worker_log_config",
    ];

    // Keys this loader reads, plus Synapse keys accepted without effect for now; anything else is reported as unknown.
    private static readonly FrozenSet<string> KnownKeys = FrozenSet.Create(
        StringComparer.Ordinal,
        "server_name",
        "public_baseurl",
        "listeners",
        "database",
        "enable_registration",
        "enable_registration_without_verification",
        "allow_guest_access",
        "registration_shared_secret",
        "registration_shared_secret_path",
        "password_config",
        "bcrypt_rounds",
        "max_upload_size",
        "signing_key_path",
        "macaroon_secret_key",
        "form_secret",
        "rc_login",
        "rc_registration",
        "log_config",
        "media_store_path",
        "pid_file",
        "daemonize",
        "report_stats",
        "trusted_key_servers",
        "suppress_key_server_warning",
        "old_signing_keys",
        "key_refresh_interval",
        "default_room_version",
        "use_presence",
        "presence",
        "worker_app",
        "worker_name",
        "worker_listeners",
        "worker_replication_host",
        "worker_replication_port",
        "worker_replication_http_port",
        "worker_main_http_uri",
        "worker_pid_file",
        "worker_daemonize",
        "worker_log_config",
        "update_user_directory",
        "user_directory",
        "worker_replication_secret",
        "worker_replication_secret_path",
        "tls_certificate_path",
        "tls_private_key_path");

    /// <summary>Reads and validates the configuration files, later files overriding earlier ones key by key.</summary>
    /// <param name="paths">The YAML files, in merge order.</param>
    /// <exception cref="ConfigurationException">A file is missing or malformed, or a value is wrong or missing.</exception>
    public static HomeserverOptions Load(IReadOnlyList<string> paths) => Load(paths, out _);

    /// <summary>Reads and validates the configuration files, later files overriding earlier ones key by key.</summary>
    /// <param name="paths">The YAML files, in merge order.</param>
    /// <param name="unknownKeys">
    /// Top-level keys this server does not know, in the order they first appear, for the host to log. They are not
    /// errors: most are Synapse options not implemented here.
    /// </param>
    /// <exception cref="ConfigurationException">A file is missing or malformed, or a value is wrong or missing.</exception>
    public static HomeserverOptions Load(IReadOnlyList<string> paths, out IReadOnlyList<string> unknownKeys)
    {
        ArgumentNullException.ThrowIfNull(paths);
        if (paths.Count == 0)
        {
            throw new ArgumentException("At least one configuration file is required.", nameof(paths));
        }

        string[] files = [.. paths.Select(Path.GetFullPath)];
        var root = ConfigSection.CreateRoot(string.Join(", ", files));
        foreach (string file in files)
        {
            switch (ReadDocument(file))
            {
                case YamlMappingNode mapping:
                    root.Merge(mapping, file);
                    break;
                case null:
                    throw new ConfigurationException(file, null, "the file is empty; expected a mapping of configuration keys");
                default:
                    throw new ConfigurationException(file, null, "expected a mapping of configuration keys at the top level");
            }
        }

        unknownKeys = [.. root.Keys.Where(key => !KnownKeys.Contains(key))];
        return Bind(root, files);
    }

    private static HomeserverOptions Bind(ConfigSection root, string[] files)
    {
        string serverName = root.RequireString("server_name");
        if (!Identifiers.ServerName.TryParse(serverName, out _))
        {
            throw root.Error(
                "server_name",
                $"'{serverName}' is not a valid server name (expected a DNS name or IP literal, optionally with ':port')");
        }

        bool enableRegistration = root.GetBool("enable_registration", false);
        bool withoutVerification = root.GetBool("enable_registration_without_verification", false);
        if (enableRegistration && !withoutVerification)
        {
            // Synapse refuses to start in this state: open registration with no email, captcha or token check is
            // a well-known spam vector. This server has no such checks yet, so the only way in is the explicit opt-in.
            throw root.Error(
                "enable_registration",
                "open registration without verification (email, captcha or registration token) is refused because it "
                + "invites spam and abuse; to accept that risk set 'enable_registration_without_verification: true', "
                + "otherwise set 'enable_registration: false'");
        }

        var database = ReadDatabase(root.RequireSection("database"));
        var worker = ReadWorker(root, database);
        var listeners = worker is null ? ReadListeners(root, "listeners", required: true) : ReadListeners(root, "worker_listeners", required: false);
        if (worker is not null && listeners.Any(l => l.Type == ListenerOptions.ReplicationType))
        {
            throw root.Error("worker_listeners", "a worker does not serve the replication stream; 'type: replication' belongs on main");
        }

        if (listeners.Any(l => l.Tls) && (root.GetPath("tls_certificate_path") is null || root.GetPath("tls_private_key_path") is null))
        {
            throw root.Error("tls_certificate_path", "a listener with 'tls: true' needs tls_certificate_path and tls_private_key_path");
        }

        // A daemon is found again (synctl, the operator) only through its pid file; Synapse's daemonize needs one too.
        string? pidFile = worker is null ? root.GetPath("pid_file") : worker.PidFile;
        bool daemonize = worker is null ? root.GetBool("daemonize", false) : worker.Daemonize;
        if (daemonize && pidFile is null)
        {
            throw worker is null
                ? root.Error("daemonize", "daemonize needs pid_file (the daemon is found again through it)")
                : root.Error("worker_daemonize", "worker_daemonize needs worker_pid_file (the daemon is found again through it)");
        }

        return new HomeserverOptions
        {
            ServerName = serverName,
            PublicBaseUrl = ReadPublicBaseUrl(root),
            Listeners = listeners,
            Database = database,
            EnableRegistration = enableRegistration,
            EnableRegistrationWithoutVerification = withoutVerification,
            AllowGuestAccess = root.GetBool("allow_guest_access", false),
            RegistrationSharedSecret = ReadSecret(root, "registration_shared_secret"),
            WorkerReplicationSecret = ReadWorkerReplicationSecret(root, listeners, worker is not null),
            TlsCertificatePath = root.GetPath("tls_certificate_path"),
            TlsPrivateKeyPath = root.GetPath("tls_private_key_path"),
            Password = ReadPassword(root),
            MaxUploadSize = ReadMaxUploadSize(root),
            SigningKeyPath = root.RequirePath("signing_key_path"),
            MacaroonSecretKey = root.GetString("macaroon_secret_key"),
            FormSecret = root.GetString("form_secret"),
            RcLogin = ReadLoginRateLimits(root),
            RcRegistration = ReadRateLimit(root, "rc_registration"),
            Logging = (worker is null ? root.GetPath("log_config") : worker.LogConfig ?? root.GetPath("log_config")) is { } logConfig
                ? ReadLogConfig(root, logConfig)
                : new LoggingOptions(),
            MediaStorePath = root.GetPath("media_store_path"),
            DefaultRoomVersion = ReadDefaultRoomVersion(root),
            OldSigningKeys = ReadOldSigningKeys(root),
            PidFile = pidFile,
            Daemonize = daemonize,
            PresenceEnabled = ReadPresenceEnabled(root),
            UpdateUserDirectory = root.GetBool("update_user_directory", true),
            UserDirectory = ReadUserDirectory(root),
            Worker = worker,
            SourceFiles = files,
        };
    }

    private static Uri? ReadPublicBaseUrl(ConfigSection root)
    {
        string? text = root.GetString("public_baseurl");
        if (text is null)
        {
            return null;
        }

        // Synapse appends the missing '/' so that relative paths resolve under the base rather than beside it.
        string normalised = text.EndsWith('/') ? text : text + "/";
        if (!Uri.TryCreate(normalised, UriKind.Absolute, out var url)
            || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps)
            || url.Query.Length > 0
            || url.Fragment.Length > 0)
        {
            throw root.Error("public_baseurl", $"expected an absolute http or https URL without query or fragment, got '{text}'");
        }

        return url;
    }

    private static List<ListenerOptions> ReadListeners(ConfigSection root, string key, bool required)
    {
        var sections = required ? root.RequireSectionList(key) : root.GetSectionList(key) ?? [];
        if (required && sections.Count == 0)
        {
            throw root.Error(key, "expected at least one listener");
        }

        var listeners = new List<ListenerOptions>(sections.Count);
        foreach (var listener in sections)
        {
            int port = listener.RequireInt("port", 0, 65535);
            string type = listener.RequireString("type");
            bool tls = listener.GetBool("tls", false);
            if (tls && type != ListenerOptions.ReplicationType)
            {
                throw listener.Error("tls", "TLS is supported on 'type: replication' listeners only; terminate client TLS in a reverse proxy");
            }

            // Synapse appends the legacy single 'bind_address' to 'bind_addresses' and falls back to all interfaces.
            var bindAddresses = new List<string>(listener.GetStringList("bind_addresses") ?? []);
            if (listener.GetString("bind_address") is { Length: > 0 } legacy)
            {
                bindAddresses.Add(legacy);
            }

            if (bindAddresses.Count == 0)
            {
                bindAddresses.AddRange(DefaultBindAddresses);
            }

            var resources = new HashSet<string>(StringComparer.Ordinal);
            foreach (var resource in listener.GetSectionList("resources") ?? [])
            {
                resources.UnionWith(resource.GetStringList("names") ?? []);

                // Validated so that a typo is caught, though responses are not compressed here.
                _ = resource.GetBool("compress", false);
            }

            listeners.Add(new ListenerOptions
            {
                Port = port,
                BindAddresses = bindAddresses,
                Type = type,
                XForwarded = listener.GetBool("x_forwarded", false),
                Resources = resources,
                Tls = tls,
            });
        }

        return listeners;
    }

    private static DatabaseOptions ReadDatabase(ConfigSection database)
    {
        string name = database.RequireString("name");
        if (name is not ("sqlite3" or "psycopg2"))
        {
            throw database.Error("name", $"unknown database engine '{name}'; expected 'sqlite3' or 'psycopg2'");
        }

        var args = database.GetSection("args") ?? ConfigSection.Empty(database.FileOf("name"), database.KeyPath("args"));
        var defaults = new DatabaseOptions { Engine = DatabaseEngine.Sqlite };
        int minPool = args.GetInt("cp_min", defaults.MinPoolSize, 1, int.MaxValue);
        int maxPool = args.GetInt("cp_max", defaults.MaxPoolSize, 1, int.MaxValue);
        if (minPool > maxPool)
        {
            throw args.Error(
                "cp_min",
                string.Create(CultureInfo.InvariantCulture, $"cp_min ({minPool}) must not be greater than cp_max ({maxPool})"));
        }

        if (name == "sqlite3")
        {
            // SQLite's in-memory name is not a path.
            string path = args.RequireString("database");
            return new DatabaseOptions
            {
                Engine = DatabaseEngine.Sqlite,
                SqlitePath = path == ":memory:" ? path : args.RequirePath("database"),
                MinPoolSize = minPool,
                MaxPoolSize = maxPool,
            };
        }

        // psycopg2 takes libpq's 'dbname' as well as 'database'; refuse to guess which one is meant.
        if (args.Has("database") && args.Has("dbname"))
        {
            throw args.Error("dbname", "set either 'database' or 'dbname', not both");
        }

        return new DatabaseOptions
        {
            Engine = DatabaseEngine.Postgres,
            Host = args.GetString("host") ?? "localhost",
            Port = args.GetInt("port", defaults.Port, 1, 65535),
            User = args.GetString("user"),
            Password = args.GetString("password"),
            DatabaseName = args.Has("dbname") ? args.RequireString("dbname") : args.RequireString("database"),
            MinPoolSize = minPool,
            MaxPoolSize = maxPool,
        };
    }

    /// <summary>A secret given inline as <c>key</c> or in the file <c>key_path</c> (not both); never empty.</summary>
    private static string? ReadSecret(ConfigSection root, string key)
    {
        string pathKey = key + "_path";
        string? secret = root.GetString(key);
        string? path = root.GetPath(pathKey);
        if (secret is not null && path is not null)
        {
            throw root.Error(pathKey, $"set either {key} or {pathKey}, not both");
        }

        if (path is not null)
        {
            try
            {
                secret = File.ReadAllText(path).Trim();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new ConfigurationException(root.FileOf(pathKey), pathKey, $"cannot read '{path}': {e.Message}", e);
            }

            if (secret.Length == 0)
            {
                throw root.Error(pathKey, $"'{path}' is empty");
            }
        }
        else if (secret is { Length: 0 })
        {
            // An empty key would let anyone who knows that in (to register admins, or to act as a worker).
            throw root.Error(key, "must not be empty");
        }

        return secret;
    }

    /// <summary>
    /// <c>worker_replication_secret</c>: required as soon as anything serves replication, since a worker may write
    /// on behalf of any user. Unlike the protocol we learn from, replication is never served unauthenticated.
    /// </summary>
    private static string? ReadWorkerReplicationSecret(ConfigSection root, List<ListenerOptions> listeners, bool isWorker)
    {
        string? secret = ReadSecret(root, "worker_replication_secret");
        if (isWorker && secret is null)
        {
            throw root.Error("worker_replication_secret",
                "a worker needs worker_replication_secret (or worker_replication_secret_path), the same as main's");
        }

        bool served = listeners.Any(l => l.Type == ListenerOptions.ReplicationType
            || (l.Type == "http" && l.Resources.Contains(ListenerOptions.ReplicationResource)));
        if (served && secret is null)
        {
            throw root.Error(
                "worker_replication_secret",
                "a 'type: replication' listener or a 'replication' resource needs worker_replication_secret "
                + "(or worker_replication_secret_path), shared with the workers");
        }

        return secret;
    }

    /// <summary>
    /// The worker keys: null for main (no <c>worker_app</c>, or <c>synapse.app.homeserver</c>, with no worker-only keys).
    /// Whether the app is a known worker type is the host's check, since an application can define its own types.
    /// </summary>
    private static WorkerOptions? ReadWorker(ConfigSection root, DatabaseOptions database)
    {
        string? app = root.GetString("worker_app");
        if (app is null or WorkerOptions.MainApp)
        {
            if (WorkerOnlyKeys.FirstOrDefault(root.Has) is { } stray)
            {
                throw root.Error(stray, app is null
                    ? "this key configures a worker, but worker_app is missing; set worker_app (for example "
                      + "synapse.app.generic_worker) in the worker's file, or remove the worker_* keys"
                    : $"the main process (worker_app: {WorkerOptions.MainApp}) takes no worker_* keys but worker_replication_secret");
            }

            return null;
        }

        if (app.Length == 0 || app.Any(char.IsWhiteSpace))
        {
            throw root.Error("worker_app", $"'{app}' is not a worker type name");
        }

        if (database.Engine != DatabaseEngine.Postgres)
        {
            throw root.Error("worker_app",
                "workers need PostgreSQL (database name: psycopg2): one SQLite file cannot be shared by several processes; "
                + "run the single process on SQLite, or move the database to PostgreSQL first");
        }

        string name = root.RequireString("worker_name");
        if (name.Length > 100 || !name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.'))
        {
            throw root.Error("worker_name", $"'{name}' must be 1-100 characters of letters, digits, '_', '-' and '.'");
        }

        Uri? mainUri = null;
        if (root.GetString("worker_main_http_uri") is { } text)
        {
            if (!Uri.TryCreate(text, UriKind.Absolute, out mainUri) || (mainUri.Scheme != Uri.UriSchemeHttp && mainUri.Scheme != Uri.UriSchemeHttps))
            {
                throw root.Error("worker_main_http_uri", $"expected an absolute http or https URL, got '{text}'");
            }
        }

        return new WorkerOptions
        {
            App = app,
            Name = name,
            ReplicationHost = root.RequireString("worker_replication_host"),
            ReplicationPort = root.RequireInt("worker_replication_port", 1, 65535),
            ReplicationHttpPort = root.RequireInt("worker_replication_http_port", 1, 65535),
            MainHttpUri = mainUri,
            PidFile = root.GetPath("worker_pid_file"),
            Daemonize = root.GetBool("worker_daemonize", false),
            LogConfig = root.GetPath("worker_log_config"),
        };
    }

    private static PasswordOptions ReadPassword(ConfigSection root)
    {
        var config = root.GetSection("password_config") ?? ConfigSection.Empty(root.FileOf("password_config"), "password_config");
        if (config.TryGet("enabled", out var enabled) && enabled is YamlScalarNode { Value: "only_for_reauth" })
        {
            throw config.Error("enabled", "'only_for_reauth' is not supported; expected true or false");
        }

        if (root.Has("bcrypt_rounds") && config.Has("bcrypt_rounds"))
        {
            throw config.Error("bcrypt_rounds", "bcrypt_rounds is also set at the top level; set it in one place only");
        }

        var defaults = new PasswordOptions();
        var roundsSection = config.Has("bcrypt_rounds") ? config : root;
        return new PasswordOptions
        {
            Enabled = config.GetBool("enabled", defaults.Enabled),
            LocalDbEnabled = config.GetBool("localdb_enabled", defaults.LocalDbEnabled),
            Pepper = config.GetString("pepper") ?? defaults.Pepper,
            BcryptRounds = roundsSection.GetInt("bcrypt_rounds", defaults.BcryptRounds, 4, 31),
        };
    }

    private static long ReadMaxUploadSize(ConfigSection root)
    {
        const string Key = "max_upload_size";
        if (!root.TryGet(Key, out var node))
        {
            return DefaultMaxUploadSize;
        }

        const string Expected = "a size in bytes greater than 0, optionally with a K, M or G suffix (e.g. 50M)";
        string text = ConfigSection.ToText(node, root.FileOf(Key), Key, Expected);
        return ByteSize.TryParse(text, out long bytes) && bytes > 0
            ? bytes
            : throw root.Error(Key, $"expected {Expected}, got {ConfigSection.Describe(node)}");
    }

    private static LoginRateLimitOptions ReadLoginRateLimits(ConfigSection root)
    {
        var config = root.GetSection("rc_login") ?? ConfigSection.Empty(root.FileOf("rc_login"), "rc_login");
        return new LoginRateLimitOptions
        {
            Address = ReadRateLimit(config, "address"),
            Account = ReadRateLimit(config, "account"),
            FailedAttempts = ReadRateLimit(config, "failed_attempts"),
        };
    }

    private static RateLimitOptions ReadRateLimit(ConfigSection parent, string key)
    {
        var defaults = new RateLimitOptions();
        var config = parent.GetSection(key);
        return config is null
            ? defaults
            : new RateLimitOptions
            {
                PerSecond = config.GetNumber("per_second", defaults.PerSecond, 0, exclusive: true),
                BurstCount = config.GetNumber("burst_count", defaults.BurstCount, 1, exclusive: false),
            };
    }

    /// <summary>
    /// Reads the levels from a Python logging dictConfig file (Synapse's <c>log_config</c>); formatters, handlers
    /// and filters describe Python objects and are ignored.
    /// </summary>
    private static LoggingOptions ReadLogConfig(ConfigSection root, string path)
    {
        if (!File.Exists(path))
        {
            throw root.Error("log_config", $"the logging configuration file '{path}' does not exist");
        }

        var document = ReadDocument(path);
        if (document is null)
        {
            // Synapse only warns about a blank logging config and carries on with its defaults.
            return new LoggingOptions();
        }

        if (document is not YamlMappingNode mapping)
        {
            throw new ConfigurationException(path, null, "expected a Python logging configuration mapping at the top level");
        }

        var config = ConfigSection.FromMapping(mapping, path, "");
        var minimum = LogLevel.Information;
        if (config.GetSection("root") is { } rootLogger && rootLogger.GetString("level") is { } rootLevel)
        {
            // Python's root at NOTSET lets everything through.
            minimum = ParseLevel(rootLogger, "level", rootLevel) ?? LogLevel.Trace;
        }

        var categories = new Dictionary<string, LogLevel>(StringComparer.Ordinal);
        if (config.GetSection("loggers") is { } loggers)
        {
            foreach (string name in loggers.Keys)
            {
                // A logger at NOTSET inherits from its parent, which is what leaving the category out does here.
                if (loggers.GetSection(name) is { } logger
                    && logger.GetString("level") is { } level
                    && ParseLevel(logger, "level", level) is { } parsed)
                {
                    categories[MapCategory(name)] = parsed;
                }
            }
        }

        return new LoggingOptions { MinimumLevel = minimum, Categories = categories };
    }

    /// <summary>A Python level name as a <see cref="LogLevel"/>; null for <c>NOTSET</c>.</summary>
    private static LogLevel? ParseLevel(ConfigSection section, string key, string text) =>
        text.ToUpperInvariant() switch
        {
            "NOTSET" => null,
            "DEBUG" => LogLevel.Debug,
            "INFO" => LogLevel.Information,
            "WARNING" or "WARN" => LogLevel.Warning,
            "ERROR" => LogLevel.Error,
            "CRITICAL" or "FATAL" => LogLevel.Critical,
            _ => throw section.Error(key, $"expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got '{text}'"),
        };

    /// <summary>Synapse's <c>synapse.storage.SQL</c> becomes our category <c>Synapse.Storage.SQL</c>; other names are kept.</summary>
    private static string MapCategory(string pythonName)
    {
        if (pythonName != "synapse" && !pythonName.StartsWith("synapse.", StringComparison.Ordinal))
        {
            return pythonName;
        }

        string[] segments = pythonName.Split('.');
        for (int i = 0; i < segments.Length; i++)
        {
            if (segments[i].Length > 0)
            {
                segments[i] = string.Concat(char.ToUpperInvariant(segments[i][0]).ToString(), segments[i].AsSpan(1));
            }
        }

        return string.Join('.', segments);
    }

    /// <summary>The root node of the first YAML document in <paramref name="file"/>, or null when there is none.</summary>
    private static YamlNode? ReadDocument(string file)
    {
        StreamReader reader;
        try
        {
            reader = new StreamReader(file);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new ConfigurationException(file, null, "the file does not exist", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ConfigurationException(file, null, "cannot read the file: " + e.Message, e);
        }

        using (reader)
        {
            var scanner = new Scanner(reader);
            try
            {
                var stream = new YamlStream();
                stream.Load(new Parser(scanner));
                return stream.Documents.Count == 0 ? null : stream.Documents[0].RootNode;
            }
            catch (YamlException e)
            {
                throw new ConfigurationException(
                    file,
                    null,
                    string.Create(CultureInfo.InvariantCulture, $"invalid YAML at line {e.Start.Line}, column {e.Start.Column}: {e.Message}"),
                    e);
            }
            catch (InvalidOperationException e)
            {
                // YamlDotNet 18 fails this way, without a position, on some malformed input such as an unclosed
                // flow sequence; the scanner still knows how far it got.
                var position = scanner.CurrentPosition;
                throw new ConfigurationException(
                    file,
                    null,
                    string.Create(
                        CultureInfo.InvariantCulture,
                        $"invalid YAML at line {position.Line}, column {position.Column}: unexpected content (is a '[' or '{{' left unclosed?)"),
                    e);
            }
            catch (IOException e)
            {
                throw new ConfigurationException(file, null, "cannot read the file: " + e.Message, e);
            }
        }
    }

    /// <summary>
    /// <c>presence.enabled</c>, else the older top-level <c>use_presence</c>; both default to true, as in Synapse.
    /// Synapse's <c>enabled: untracked</c> (presence set only by modules) reads as enabled: there are no modules here.
    /// </summary>
    private static UserDirectoryOptions ReadUserDirectory(ConfigSection root)
    {
        // Synapse's other keys of the section (prefer_local_users, exclude_remote_users, show_locked_users) are accepted
        // without effect: this server has no remote users or locked accounts yet.
        var section = root.GetSection("user_directory");
        return section is null
            ? new UserDirectoryOptions()
            : new UserDirectoryOptions
            {
                Enabled = section.GetBool("enabled", true),
                SearchAllUsers = section.GetBool("search_all_users", false),
            };
    }

    private static bool ReadPresenceEnabled(ConfigSection root)
    {
        if (root.GetSection("presence") is { } presence && presence.Has("enabled"))
        {
            return presence.GetString("enabled") == "untracked" || presence.GetBool("enabled", true);
        }

        return root.GetBool("use_presence", true);
    }

    private static string ReadDefaultRoomVersion(ConfigSection root)
    {
        string? version = root.GetString("default_room_version");
        if (version is null)
        {
            return KnownRoomVersions.Default.Identifier;
        }

        return KnownRoomVersions.Find(version) is not null
            ? version
            : throw root.Error("default_room_version",
                $"unknown room version '{version}'; known: {string.Join(", ", KnownRoomVersions.All.Keys.Order(StringComparer.Ordinal))}");
    }

    /// <summary>
    /// Synapse's <c>old_signing_keys: {"ed25519:id": {key: base64, expired_ts: ms}}</c>: retired keys still
    /// published so that others can check events we signed with them.
    /// </summary>
    private static List<Crypto.OldVerifyKey> ReadOldSigningKeys(ConfigSection root)
    {
        var section = root.GetSection("old_signing_keys");
        if (section is null)
        {
            return [];
        }

        var keys = new List<Crypto.OldVerifyKey>();
        foreach (string keyId in section.Keys)
        {
            var entry = section.RequireSection(keyId);
            if (!keyId.StartsWith("ed25519:", StringComparison.Ordinal) || keyId.Length == "ed25519:".Length)
            {
                throw section.Error(keyId, "old signing key IDs look like 'ed25519:<version>'");
            }

            string publicKey = entry.RequireString("key");
            if (!Crypto.UnpaddedBase64.TryDecode(publicKey, out byte[]? bytes) || bytes.Length != 32)
            {
                throw entry.Error("key", "expected the unpadded base64 of a 32-byte ed25519 public key");
            }

            long expired = (long)entry.GetNumber("expired_ts", -1, 0, exclusive: false);
            if (expired < 0)
            {
                throw entry.Error("expired_ts", "expected the time the key was retired, in milliseconds since the epoch");
            }

            keys.Add(new Crypto.OldVerifyKey(keyId, Crypto.UnpaddedBase64.Encode(bytes), expired));
        }

        return keys;
    }
}
