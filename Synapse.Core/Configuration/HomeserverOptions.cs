namespace Synapse.Configuration;

/// <summary>
/// The homeserver configuration, bound from one or more YAML files that use Synapse's key names
/// (see <see cref="HomeserverConfigLoader"/>). Instances are immutable and already validated.
/// </summary>
public sealed class HomeserverOptions
{
    /// <summary><c>server_name</c>: the domain part of every user ID on this server.</summary>
    public required string ServerName { get; init; }

    /// <summary><c>public_baseurl</c>: the URL clients use to reach the client API, if set.</summary>
    public Uri? PublicBaseUrl { get; init; }

    /// <summary><c>listeners</c>: the HTTP listeners to open.</summary>
    public required IReadOnlyList<ListenerOptions> Listeners { get; init; }

    /// <summary><c>database</c>: which engine and where.</summary>
    public required DatabaseOptions Database { get; init; }

    /// <summary><c>enable_registration</c>: whether anyone may register through the client API.</summary>
    public bool EnableRegistration { get; init; }

    /// <summary><c>enable_registration_without_verification</c>: allow open registration without email, captcha or token.</summary>
    public bool EnableRegistrationWithoutVerification { get; init; }

    /// <summary><c>allow_guest_access</c>: whether guests may register.</summary>
    public bool AllowGuestAccess { get; init; }

    /// <summary><c>registration_shared_secret</c> (or the contents of <c>registration_shared_secret_path</c>).</summary>
    public string? RegistrationSharedSecret { get; init; }

    /// <summary>
    /// <c>worker_replication_secret</c> (or the contents of <c>worker_replication_secret_path</c>): the secret workers
    /// prove on the replication TCP port and send on HTTP replication. Required when replication is served.
    /// </summary>
    public string? WorkerReplicationSecret { get; init; }

    /// <summary><c>tls_certificate_path</c>: a PEM certificate (chain) for listeners with <c>tls: true</c>.</summary>
    public string? TlsCertificatePath { get; init; }

    /// <summary><c>tls_private_key_path</c>: the PEM private key of <see cref="TlsCertificatePath"/>.</summary>
    public string? TlsPrivateKeyPath { get; init; }

    /// <summary><c>password_config</c> and <c>bcrypt_rounds</c>.</summary>
    public PasswordOptions Password { get; init; } = new();

    /// <summary><c>max_upload_size</c> in bytes (Synapse's "50M" notation is accepted).</summary>
    public long MaxUploadSize { get; init; } = 50L * 1024 * 1024;

    /// <summary><c>signing_key_path</c>: the server's ed25519 signing key file.</summary>
    public required string SigningKeyPath { get; init; }

    /// <summary><c>macaroon_secret_key</c>.</summary>
    public string? MacaroonSecretKey { get; init; }

    /// <summary><c>form_secret</c>.</summary>
    public string? FormSecret { get; init; }

    /// <summary><c>rc_login</c>: login rate limits.</summary>
    public LoginRateLimitOptions RcLogin { get; init; } = new();

    /// <summary><c>rc_registration</c>: registration rate limit, per client address.</summary>
    public RateLimitOptions RcRegistration { get; init; } = new();

    /// <summary><c>log_config</c> (a Synapse/Python logging YAML file) read into levels per category.</summary>
    public LoggingOptions Logging { get; init; } = new();

    /// <summary><c>default_room_version</c>: the version of new rooms when the client does not ask for one.</summary>
    public string DefaultRoomVersion { get; init; } = "10";

    /// <summary><c>old_signing_keys</c>: retired verify keys published under <c>old_verify_keys</c>.</summary>
    public IReadOnlyList<Crypto.OldVerifyKey> OldSigningKeys { get; init; } = [];

    /// <summary>
    /// <c>presence.enabled</c> (or the older top-level <c>use_presence</c>; default true): whether presence is tracked and
    /// sent to clients. When false the presence endpoints still answer, but nothing is recorded and /sync carries none.
    /// </summary>
    public bool PresenceEnabled { get; init; } = true;

    /// <summary><c>media_store_path</c>.</summary>
    public string? MediaStorePath { get; init; }

    /// <summary><c>pid_file</c> (a worker's <c>worker_pid_file</c>): written at start, removed at stop.</summary>
    public string? PidFile { get; init; }

    /// <summary>
    /// <c>daemonize</c> (a worker's <c>worker_daemonize</c>): start in the background, detached from the terminal, with
    /// output appended to the log file beside <see cref="PidFile"/> (which it requires).
    /// </summary>
    public bool Daemonize { get; init; }

    /// <summary>
    /// <c>update_user_directory</c> (default true): whether this deployment's main process keeps the user directory up to
    /// date. Set it to false on main when a <c>synapse.app.user_dir</c> worker does it instead.
    /// </summary>
    public bool UpdateUserDirectory { get; init; } = true;

    /// <summary><c>user_directory</c>: who the user directory search finds (docs/user-directory.md).</summary>
    public UserDirectoryOptions UserDirectory { get; init; } = new();

    /// <summary>The worker settings when this process is a worker (<c>worker_app</c> set and not the main app); else null.</summary>
    public WorkerOptions? Worker { get; init; }

    /// <summary>The files this configuration was read from, in merge order.</summary>
    public IReadOnlyList<string> SourceFiles { get; init; } = [];
}

/// <summary>
/// A worker's own keys (Synapse's names). A worker reads the shared configuration (server name, database, secrets) and
/// overrides what is its own; its <see cref="HomeserverOptions.Listeners"/> are <c>worker_listeners</c>.
/// </summary>
public sealed class WorkerOptions
{
    /// <summary>The <c>worker_app</c> of the main process; also what an absent <c>worker_app</c> means.</summary>
    public const string MainApp = "synapse.app.homeserver";

    /// <summary><c>worker_app</c>: the worker type, such as <c>synapse.app.synchrotron</c>.</summary>
    public required string App { get; init; }

    /// <summary><c>worker_name</c>: the instance name, unique among live workers (main refuses a second one).</summary>
    public required string Name { get; init; }

    /// <summary><c>worker_replication_host</c>: main's address, for TCP and HTTP replication.</summary>
    public required string ReplicationHost { get; init; }

    /// <summary><c>worker_replication_port</c>: main's <c>type: replication</c> listener.</summary>
    public required int ReplicationPort { get; init; }

    /// <summary><c>worker_replication_http_port</c>: main's HTTP listener with the <c>replication</c> resource.</summary>
    public required int ReplicationHttpPort { get; init; }

    /// <summary><c>worker_main_http_uri</c>: main's client API, where a worker proxies what it does not do itself.</summary>
    public Uri? MainHttpUri { get; init; }

    /// <summary><c>worker_pid_file</c>.</summary>
    public string? PidFile { get; init; }

    /// <summary><c>worker_daemonize</c>.</summary>
    public bool Daemonize { get; init; }

    /// <summary><c>worker_log_config</c>: the worker's own logging configuration file.</summary>
    public string? LogConfig { get; init; }
}

/// <summary>One entry of <c>listeners</c>.</summary>
public sealed class ListenerOptions
{
    /// <summary>The <c>type</c> of the TCP replication listener (main process).</summary>
    public const string ReplicationType = "replication";

    /// <summary>The resource name of HTTP replication on a <c>type: http</c> listener.</summary>
    public const string ReplicationResource = "replication";

    /// <summary><c>port</c>; 0 asks the OS for a free port (tests).</summary>
    public required int Port { get; init; }

    /// <summary><c>bind_addresses</c> (Synapse's default is <c>['::', '0.0.0.0']</c>).</summary>
    public required IReadOnlyList<string> BindAddresses { get; init; }

    /// <summary><c>type</c>: <c>http</c> and <c>replication</c> are served; other types are reported at start.</summary>
    public required string Type { get; init; }

    /// <summary><c>x_forwarded</c>: trust <c>X-Forwarded-For</c> from a reverse proxy.</summary>
    public bool XForwarded { get; init; }

    /// <summary>The union of <c>resources[].names</c> (client, federation, keys, media, ...).</summary>
    public required IReadOnlySet<string> Resources { get; init; }

    /// <summary><c>tls</c>: serve TLS with <c>tls_certificate_path</c> (replication listeners only).</summary>
    public bool Tls { get; init; }
}

/// <summary>Database engine selected by <c>database.name</c>.</summary>
public enum DatabaseEngine
{
    /// <summary><c>sqlite3</c>: embedded, single process.</summary>
    Sqlite,

    /// <summary><c>psycopg2</c>: PostgreSQL.</summary>
    Postgres,
}

/// <summary>The <c>database</c> section.</summary>
public sealed class DatabaseOptions
{
    /// <summary>The engine.</summary>
    public required DatabaseEngine Engine { get; init; }

    /// <summary>SQLite: <c>args.database</c>, a file path.</summary>
    public string? SqlitePath { get; init; }

    /// <summary>PostgreSQL: <c>args.host</c> (default localhost; a path means a Unix socket directory).</summary>
    public string? Host { get; init; }

    /// <summary>PostgreSQL: <c>args.port</c> (default 5432).</summary>
    public int Port { get; init; } = 5432;

    /// <summary>PostgreSQL: <c>args.user</c>.</summary>
    public string? User { get; init; }

    /// <summary>PostgreSQL: <c>args.password</c>.</summary>
    public string? Password { get; init; }

    /// <summary>PostgreSQL: <c>args.database</c> or <c>args.dbname</c>.</summary>
    public string? DatabaseName { get; init; }

    /// <summary><c>args.cp_min</c>: minimum pooled connections.</summary>
    public int MinPoolSize { get; init; } = 5;

    /// <summary><c>args.cp_max</c>: maximum pooled connections.</summary>
    public int MaxPoolSize { get; init; } = 10;
}

/// <summary>The <c>user_directory</c> section.</summary>
public sealed class UserDirectoryOptions
{
    /// <summary><c>user_directory.enabled</c> (default true): when false, every search returns no results.</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>
    /// <c>user_directory.search_all_users</c> (default false): a search finds every user the server knows, not only those
    /// who share a room with the searcher or are in a public room.
    /// </summary>
    public bool SearchAllUsers { get; init; }
}

/// <summary><c>password_config</c> plus the top-level <c>bcrypt_rounds</c>.</summary>
public sealed class PasswordOptions
{
    /// <summary><c>password_config.enabled</c>: password login and registration with a password.</summary>
    public bool Enabled { get; init; } = true;

    /// <summary><c>password_config.localdb_enabled</c>: check passwords against our own database.</summary>
    public bool LocalDbEnabled { get; init; } = true;

    /// <summary><c>password_config.pepper</c>: appended to every password before hashing.</summary>
    public string Pepper { get; init; } = "";

    /// <summary><c>bcrypt_rounds</c> (Synapse's top-level key; <c>password_config.bcrypt_rounds</c> is accepted too).</summary>
    public int BcryptRounds { get; init; } = 12;
}

/// <summary>A token bucket: <c>per_second</c> and <c>burst_count</c>.</summary>
public sealed class RateLimitOptions
{
    /// <summary><c>per_second</c>: sustained actions per second.</summary>
    public double PerSecond { get; init; } = 0.17;

    /// <summary><c>burst_count</c>: actions allowed at once.</summary>
    public double BurstCount { get; init; } = 3;
}

/// <summary><c>rc_login</c>: per address, per account, and per account for failed attempts.</summary>
public sealed class LoginRateLimitOptions
{
    /// <summary><c>rc_login.address</c>.</summary>
    public RateLimitOptions Address { get; init; } = new();

    /// <summary><c>rc_login.account</c>.</summary>
    public RateLimitOptions Account { get; init; } = new();

    /// <summary><c>rc_login.failed_attempts</c>.</summary>
    public RateLimitOptions FailedAttempts { get; init; } = new();
}

/// <summary>Log levels, from <c>log_config</c>'s <c>root.level</c> and <c>loggers.*.level</c>.</summary>
public sealed class LoggingOptions
{
    /// <summary>The root level.</summary>
    public Microsoft.Extensions.Logging.LogLevel MinimumLevel { get; init; } = Microsoft.Extensions.Logging.LogLevel.Information;

    /// <summary>Levels per logger category; Synapse's <c>synapse.*</c> names map to our <c>Synapse.*</c> categories.</summary>
    public IReadOnlyDictionary<string, Microsoft.Extensions.Logging.LogLevel> Categories { get; init; } =
        new Dictionary<string, Microsoft.Extensions.Logging.LogLevel>();
}
