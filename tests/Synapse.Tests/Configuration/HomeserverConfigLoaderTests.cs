using Microsoft.Extensions.Logging;
using Synapse.Configuration;

namespace Synapse.Tests.Configuration;

public sealed class HomeserverConfigLoaderTests : IDisposable
{
    private readonly TempDirectory temp = new();

    public void Dispose() => temp.Dispose();

    [Fact]
    public void Load_MinimalConfig_AppliesDefaults()
    {
        string path = WriteConfig();

        var options = HomeserverConfigLoader.Load([path], out var unknownKeys);

        Assert.Empty(unknownKeys);
        Assert.Equal("example.com", options.ServerName);
        Assert.Null(options.PublicBaseUrl);
        var listener = Assert.Single(options.Listeners);
        Assert.Equal(8008, listener.Port);
        Assert.Equal("http", listener.Type);
        Assert.Equal(["::", "0.0.0.0"], listener.BindAddresses);
        Assert.False(listener.XForwarded);
        Assert.Equal(["client", "federation"], listener.Resources.Order(StringComparer.Ordinal));
        Assert.Equal(DatabaseEngine.Sqlite, options.Database.Engine);
        Assert.Equal(temp.Combine("homeserver.db"), options.Database.SqlitePath);
        Assert.Equal(temp.Combine("example.com.signing.key"), options.SigningKeyPath);
        Assert.False(options.EnableRegistration);
        Assert.False(options.AllowGuestAccess);
        Assert.Null(options.RegistrationSharedSecret);
        Assert.True(options.Password.Enabled);
        Assert.True(options.Password.LocalDbEnabled);
        Assert.Equal("", options.Password.Pepper);
        Assert.Equal(12, options.Password.BcryptRounds);
        Assert.Equal(50L * 1024 * 1024, options.MaxUploadSize);
        Assert.Equal(0.17, options.RcLogin.FailedAttempts.PerSecond);
        Assert.Equal(3, options.RcRegistration.BurstCount);
        Assert.Equal(LogLevel.Information, options.Logging.MinimumLevel);
        Assert.Empty(options.Logging.Categories);
        Assert.Equal([path], options.SourceFiles);
    }

    [Fact]
    public void Load_FullConfig_BindsEveryKey()
    {
        string secretFile = temp.Write("secret.txt", "  s3cret-from-file \n");
        string path = WriteConfig(
            ("public_baseurl", "public_baseurl: https://matrix.example.com/base"),
            ("listeners", """
                listeners:
                  - port: 8008
                    type: http
                    x_forwarded: yes
                    bind_addresses: ['127.0.0.1', '::1']
                    resources:
                      - names: [client]
                        compress: true
                      - names: [federation, client, media]
                  - port: 9093
                    type: replication
                    bind_addresses: ['127.0.0.1']
                """),
            ("enable_registration", "enable_registration: true\nenable_registration_without_verification: True"),
            ("allow_guest_access", "allow_guest_access: on"),
            ("registration_shared_secret_path", $"registration_shared_secret_path: '{secretFile}'"),
            ("worker_replication_secret", "worker_replication_secret: 'w0rker'"),
            ("password_config", "password_config:\n  enabled: false\n  localdb_enabled: no\n  pepper: 'pep'\n  bcrypt_rounds: 4"),
            ("max_upload_size", "max_upload_size: 512K"),
            ("macaroon_secret_key", "macaroon_secret_key: mac"),
            ("form_secret", "form_secret: \"form\""),
            ("rc_login", "rc_login:\n  address: {per_second: 1.5, burst_count: 10}\n  failed_attempts:\n    per_second: 0.5"),
            ("rc_registration", "rc_registration:\n  burst_count: 7"),
            ("media_store_path", $"media_store_path: '{temp.Combine("media")}'"),
            ("pid_file", $"pid_file: '{temp.Combine("hs.pid")}'"));

        var options = HomeserverConfigLoader.Load([path]);

        Assert.Equal(new Uri("https://matrix.example.com/base/"), options.PublicBaseUrl);
        Assert.Equal(2, options.Listeners.Count);
        var http = options.Listeners[0];
        Assert.True(http.XForwarded);
        Assert.Equal(["127.0.0.1", "::1"], http.BindAddresses);
        Assert.Equal(["client", "federation", "media"], http.Resources.Order(StringComparer.Ordinal));
        Assert.Equal("replication", options.Listeners[1].Type);
        Assert.Empty(options.Listeners[1].Resources);
        Assert.True(options.EnableRegistration);
        Assert.True(options.EnableRegistrationWithoutVerification);
        Assert.True(options.AllowGuestAccess);
        Assert.Equal("s3cret-from-file", options.RegistrationSharedSecret);
        Assert.Equal("w0rker", options.WorkerReplicationSecret);
        Assert.False(options.Password.Enabled);
        Assert.False(options.Password.LocalDbEnabled);
        Assert.Equal("pep", options.Password.Pepper);
        Assert.Equal(4, options.Password.BcryptRounds);
        Assert.Equal(512L * 1024, options.MaxUploadSize);
        Assert.Equal("mac", options.MacaroonSecretKey);
        Assert.Equal("form", options.FormSecret);
        Assert.Equal(1.5, options.RcLogin.Address.PerSecond);
        Assert.Equal(10, options.RcLogin.Address.BurstCount);
        Assert.Equal(0.17, options.RcLogin.Account.PerSecond);
        Assert.Equal(0.5, options.RcLogin.FailedAttempts.PerSecond);
        Assert.Equal(3, options.RcLogin.FailedAttempts.BurstCount);
        Assert.Equal(0.17, options.RcRegistration.PerSecond);
        Assert.Equal(7, options.RcRegistration.BurstCount);
        Assert.Equal(temp.Combine("media"), options.MediaStorePath);
        Assert.Equal(temp.Combine("hs.pid"), options.PidFile);
    }

    [Fact]
    public void Load_TwoFiles_LaterTopLevelKeyReplacesWhole()
    {
        string first = WriteConfig(
            ("listeners", """
                listeners:
                  - port: 8008
                    type: http
                    x_forwarded: true
                  - port: 9000
                    type: metrics
                """),
            ("database", """
                database:
                  name: psycopg2
                  args:
                    user: synapse
                    database: synapse
                    cp_min: 2
                """),
            ("macaroon_secret_key", "macaroon_secret_key: from-first"));
        string second = temp.Write("conf.d/override.yaml", $$"""
            listeners:
              - port: 8448
                type: http
            database:
              name: sqlite3
              args:
                database: '{{temp.Combine("other.db")}}'
            """);

        var options = HomeserverConfigLoader.Load([first, second]);

        var listener = Assert.Single(options.Listeners);
        Assert.Equal(8448, listener.Port);
        Assert.False(listener.XForwarded);
        Assert.Equal(DatabaseEngine.Sqlite, options.Database.Engine);
        Assert.Equal(temp.Combine("other.db"), options.Database.SqlitePath);
        Assert.Null(options.Database.User);
        Assert.Equal(5, options.Database.MinPoolSize);
        Assert.Equal("example.com", options.ServerName);
        Assert.Equal("from-first", options.MacaroonSecretKey);
        Assert.Equal([first, second], options.SourceFiles);
    }

    [Theory]
    [InlineData("server_name", null, "server_name", "required key is missing")]
    [InlineData("server_name", "server_name:", "server_name", "required key has no value")]
    [InlineData("server_name", "server_name: 'bad name!'", "server_name", "'bad name!' is not a valid server name")]
    [InlineData("signing_key_path", null, "signing_key_path", "required key is missing")]
    [InlineData("public_baseurl", "public_baseurl: ftp://example.com", "public_baseurl", "expected an absolute http or https URL")]
    [InlineData("listeners", null, "listeners", "required key is missing")]
    [InlineData("listeners", "listeners: []", "listeners", "expected at least one listener")]
    [InlineData("listeners", "listeners: {port: 8008}", "listeners", "expected a list of mappings, got a mapping")]
    [InlineData("listeners", "listeners:\n  - port: abc\n    type: http", "listeners[0].port", "expected an integer between 0 and 65535, got 'abc'")]
    [InlineData("listeners", "listeners:\n  - port: 8008\n    type: http\n  - port: 65536\n    type: http", "listeners[1].port", "expected an integer between 0 and 65535, got '65536'")]
    [InlineData("listeners", "listeners:\n  - type: http", "listeners[0].port", "required key is missing")]
    [InlineData("listeners", "listeners:\n  - port: 8008", "listeners[0].type", "required key is missing")]
    [InlineData("listeners", "listeners:\n  - port: 8448\n    type: http\n    tls: true", "listeners[0].tls", "TLS is supported on 'type: replication' listeners only; terminate client TLS in a reverse proxy")]
    [InlineData("listeners", "listeners:\n  - port: 8008\n    type: http\n    resources:\n      - names: [client, [x]]", "listeners[0].resources[0].names[1]", "expected a string, got a list")]
    [InlineData("database", null, "database", "required key is missing")]
    [InlineData("database", "database:\n  name: mysql", "database.name", "unknown database engine 'mysql'; expected 'sqlite3' or 'psycopg2'")]
    [InlineData("database", "database:\n  name: psycopg2\n  args:\n    user: synapse", "database.args.database", "required key is missing")]
    [InlineData("database", "database:\n  name: psycopg2\n  args:\n    database: a\n    dbname: b", "database.args.dbname", "not both")]
    [InlineData("database", "database:\n  name: psycopg2\n  args:\n    database: a\n    cp_min: 10\n    cp_max: 5", "database.args.cp_min", "cp_min (10) must not be greater than cp_max (5)")]
    [InlineData("database", "database:\n  name: psycopg2\n  args:\n    database: a\n    cp_max: 0", "database.args.cp_max", "expected an integer of at least 1, got '0'")]
    [InlineData("database", "database:\n  name: sqlite3", "database.args.database", "required key is missing")]
    [InlineData("max_upload_size", "max_upload_size: 50X", "max_upload_size", "optionally with a K, M or G suffix (e.g. 50M), got '50X'")]
    [InlineData("max_upload_size", "max_upload_size: 0", "max_upload_size", "greater than 0")]
    [InlineData("max_upload_size", "max_upload_size: [1]", "max_upload_size", "got a list")]
    [InlineData("enable_registration", "enable_registration: true", "enable_registration", "set 'enable_registration_without_verification: true'")]
    [InlineData("enable_registration", "enable_registration: maybe", "enable_registration", "expected true or false, got 'maybe'")]
    [InlineData("registration_shared_secret", "registration_shared_secret: a\nregistration_shared_secret_path: /x", "registration_shared_secret_path", "not both")]
    [InlineData("registration_shared_secret", "registration_shared_secret: ''", "registration_shared_secret", "must not be empty")]
    [InlineData("registration_shared_secret", "registration_shared_secret_path: /nonexistent/secret", "registration_shared_secret_path", "cannot read")]
    [InlineData("listeners", "listeners:\n  - port: 9093\n    type: replication", "worker_replication_secret", "needs worker_replication_secret")]
    [InlineData("listeners", "listeners:\n  - port: 9093\n    type: http\n    resources:\n      - names: [replication]", "worker_replication_secret", "needs worker_replication_secret")]
    [InlineData("listeners", "worker_replication_secret: s\nlisteners:\n  - port: 9092\n    type: replication\n    tls: true", "tls_certificate_path", "needs tls_certificate_path and tls_private_key_path")]
    [InlineData("worker_replication_secret", "worker_replication_secret: ''", "worker_replication_secret", "must not be empty")]
    [InlineData("worker_replication_secret", "worker_replication_secret: a\nworker_replication_secret_path: /x", "worker_replication_secret_path", "not both")]
    [InlineData("bcrypt_rounds", "bcrypt_rounds: 3", "bcrypt_rounds", "expected an integer between 4 and 31, got '3'")]
    [InlineData("bcrypt_rounds", "bcrypt_rounds: 10\npassword_config:\n  bcrypt_rounds: 11", "password_config.bcrypt_rounds", "set it in one place only")]
    [InlineData("password_config", "password_config:\n  enabled: only_for_reauth", "password_config.enabled", "'only_for_reauth' is not supported")]
    [InlineData("rc_login", "rc_login:\n  address:\n    per_second: 0", "rc_login.address.per_second", "expected a number greater than 0, got '0'")]
    [InlineData("rc_registration", "rc_registration:\n  burst_count: 0.5", "rc_registration.burst_count", "expected a number at least 1, got '0.5'")]
    [InlineData("rc_registration", "rc_registration: 5", "rc_registration", "expected a mapping, got '5'")]
    [InlineData("log_config", "log_config: /nonexistent/log.yaml", "log_config", "does not exist")]
    public void Load_InvalidValue_ThrowsNamingKeyAndFile(string replacedKey, string? replacement, string expectedKey, string expectedDetail)
    {
        string path = WriteConfig((replacedKey, replacement));

        var error = Assert.Throws<ConfigurationException>(() => HomeserverConfigLoader.Load([path]));

        Assert.Equal(expectedKey, error.Key);
        Assert.Equal(path, error.File);
        Assert.StartsWith($"Configuration error in {path} at '{expectedKey}': ", error.Message, StringComparison.Ordinal);
        Assert.Contains(expectedDetail, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Fact]
    public void Load_ErrorInLaterFile_NamesThatFile()
    {
        string first = WriteConfig();
        string second = temp.Write("second.yaml", "listeners:\n  - port: -1\n    type: http\n");

        var error = Assert.Throws<ConfigurationException>(() => HomeserverConfigLoader.Load([first, second]));

        Assert.Equal(second, error.File);
        Assert.Equal("listeners[0].port", error.Key);
    }

    [Fact]
    public void Load_RequiredKeyInNoFile_NamesAllFiles()
    {
        string first = WriteConfig(("server_name", null));
        string second = temp.Write("second.yaml", "report_stats: false\n");

        var error = Assert.Throws<ConfigurationException>(() => HomeserverConfigLoader.Load([first, second]));

        Assert.Equal("server_name", error.Key);
        Assert.Equal($"{first}, {second}", error.File);
    }

    [Theory]
    [InlineData("server_name: example.com\nlisteners:\n  - port: [8008\n    type: http\n", 4)]
    [InlineData("server_name: example.com\ndatabase: {name: sqlite3\n", 3)]
    [InlineData("server_name: example.com\nform_secret: \"abc\n", 2)]
    [InlineData("server_name: example.com\nenable_registration: a: b\n", 2)]
    [InlineData("server_name: example.com\nlisteners:\n  - port: 1\n type: http\n", 4)]
    public void Load_YamlSyntaxError_ReportsFileAndLine(string contents, int line)
    {
        string path = temp.Write("homeserver.yaml", contents);

        var error = Assert.Throws<ConfigurationException>(() => HomeserverConfigLoader.Load([path]));

        Assert.Null(error.Key);
        Assert.Equal(path, error.File);
        Assert.StartsWith($"Configuration error in {path}: invalid YAML at line {line}, column ", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_DuplicateKey_ReportsLine()
    {
        string path = temp.Write("homeserver.yaml", "server_name: a.example\nserver_name: b.example\n");

        var error = Assert.Throws<ConfigurationException>(() => HomeserverConfigLoader.Load([path]));

        Assert.Equal(path, error.File);
        Assert.Contains("line 2", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_NoPaths_Throws()
    {
        Assert.Throws<ArgumentException>(() => HomeserverConfigLoader.Load([]));
    }

    [Fact]
    public void Load_MissingFile_Throws()
    {
        string path = temp.Combine("absent.yaml");

        var error = Assert.Throws<ConfigurationException>(() => HomeserverConfigLoader.Load([path]));

        Assert.Equal(path, error.File);
        Assert.Contains("does not exist", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("- server_name: example.com\n")]
    [InlineData("just a string\n")]
    [InlineData("# nothing but a comment\n")]
    [InlineData("")]
    public void Load_TopLevelNotMapping_Throws(string contents)
    {
        string path = temp.Write("homeserver.yaml", contents);

        var error = Assert.Throws<ConfigurationException>(() => HomeserverConfigLoader.Load([path]));

        Assert.Null(error.Key);
        Assert.Equal(path, error.File);
        Assert.Contains("mapping", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_UnknownKeys_ReportedNotFatal()
    {
        string path = WriteConfig(
            ("url_preview_enabled", "url_preview_enabled: true"),
            ("report_stats", "report_stats: true"),
            ("enable_metrics", "enable_metrics: true"),
            ("trusted_key_servers", "trusted_key_servers:\n  - server_name: matrix.org"),
            ("worker_app", "worker_app: synapse.app.homeserver"));

        var options = HomeserverConfigLoader.Load([path], out var unknownKeys);

        Assert.Equal(["url_preview_enabled", "enable_metrics"], unknownKeys);
        Assert.Equal("example.com", options.ServerName);
    }

    [Fact]
    public void Load_LegacyBindAddress_UsedAsOnlyAddress()
    {
        string path = WriteConfig(("listeners", "listeners:\n  - port: 8008\n    type: http\n    bind_address: '127.0.0.1'"));

        var options = HomeserverConfigLoader.Load([path]);

        Assert.Equal(["127.0.0.1"], Assert.Single(options.Listeners).BindAddresses);
    }

    [Fact]
    public void Load_PostgresWithDbnameAlias_BindsDatabaseNameAndDefaults()
    {
        string path = WriteConfig(("database", """
            database:
              name: psycopg2
              txn_limit: 10000
              args:
                user: synapse_user
                password: secretpassword
                dbname: synapse
                cp_min: 1
                cp_max: 1
                keepalives_idle: 10
            """));

        var database = HomeserverConfigLoader.Load([path]).Database;

        Assert.Equal(DatabaseEngine.Postgres, database.Engine);
        Assert.Equal("synapse", database.DatabaseName);
        Assert.Equal("synapse_user", database.User);
        Assert.Equal("secretpassword", database.Password);
        Assert.Equal("localhost", database.Host);
        Assert.Equal(5432, database.Port);
        Assert.Equal(1, database.MinPoolSize);
        Assert.Equal(1, database.MaxPoolSize);
        Assert.Null(database.SqlitePath);
    }

    [Fact]
    public void Load_PostgresHostAndPort_Bound()
    {
        string path = WriteConfig(("database", "database:\n  name: psycopg2\n  args:\n    database: synapse\n    host: /var/run/postgresql\n    port: 5433"));

        var database = HomeserverConfigLoader.Load([path]).Database;

        Assert.Equal("/var/run/postgresql", database.Host);
        Assert.Equal(5433, database.Port);
    }

    [Theory]
    [InlineData("50M", 50L * 1024 * 1024)]
    [InlineData("1G", 1024L * 1024 * 1024)]
    [InlineData("512K", 512L * 1024)]
    [InlineData("1024", 1024L)]
    [InlineData("'2048'", 2048L)]
    public void Load_MaxUploadSize_ParsesSuffixes(string value, long expected)
    {
        string path = WriteConfig(("max_upload_size", "max_upload_size: " + value));

        Assert.Equal(expected, HomeserverConfigLoader.Load([path]).MaxUploadSize);
    }

    [Fact]
    public void Load_RelativePaths_ResolvedAgainstCurrentDirectory()
    {
        string path = WriteConfig(
            ("signing_key_path", "signing_key_path: keys/example.signing.key"),
            ("database", "database:\n  name: sqlite3\n  args:\n    database: data/homeserver.db"),
            ("media_store_path", "media_store_path: media"));

        var options = HomeserverConfigLoader.Load([path]);

        Assert.Equal(Path.GetFullPath("keys/example.signing.key"), options.SigningKeyPath);
        Assert.Equal(Path.GetFullPath("data/homeserver.db"), options.Database.SqlitePath);
        Assert.Equal(Path.GetFullPath("media"), options.MediaStorePath);
    }

    [Fact]
    public void Load_SqliteInMemory_KeptAsIs()
    {
        string path = WriteConfig(("database", "database:\n  name: sqlite3\n  args:\n    database: ':memory:'"));

        Assert.Equal(":memory:", HomeserverConfigLoader.Load([path]).Database.SqlitePath);
    }

    [Fact]
    public void Load_EmptyOptionalValues_TreatedAsNotSet()
    {
        string path = WriteConfig(
            ("public_baseurl", "public_baseurl:"),
            ("media_store_path", "media_store_path: ~"),
            ("log_config", "log_config: null"),
            ("rc_login", "rc_login:"),
            ("max_upload_size", "max_upload_size:"),
            ("enable_registration", "enable_registration:"));

        var options = HomeserverConfigLoader.Load([path]);

        Assert.Null(options.PublicBaseUrl);
        Assert.Null(options.MediaStorePath);
        Assert.Equal(LogLevel.Information, options.Logging.MinimumLevel);
        Assert.Equal(50L * 1024 * 1024, options.MaxUploadSize);
        Assert.False(options.EnableRegistration);
    }

    [Fact]
    public void Load_SharedSecretInline_Bound()
    {
        string path = WriteConfig(("registration_shared_secret", "registration_shared_secret: 'abc''def'"));

        Assert.Equal("abc'def", HomeserverConfigLoader.Load([path]).RegistrationSharedSecret);
    }

    [Fact]
    public void Load_LogConfig_MapsLevelsAndCategories()
    {
        string logConfig = temp.Write("log.yaml", """
            version: 1
            formatters:
              precise:
                format: '%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(request)s - %(message)s'
            handlers:
              console:
                class: logging.StreamHandler
                formatter: precise
            loggers:
              synapse:
                level: error
              synapse.storage.SQL:
                level: DEBUG
              synapse.http.server:
                level: Warn
              twisted:
                level: CRITICAL
              Microsoft.AspNetCore:
                level: WARNING
              synapse.quiet:
                level: NOTSET
              synapse.handlers_only:
                handlers: [console]
            root:
              level: WARNING
              handlers: [console]
            disable_existing_loggers: false
            """);
        string path = WriteConfig(("log_config", $"log_config: '{logConfig}'"));

        var logging = HomeserverConfigLoader.Load([path]).Logging;

        Assert.Equal(LogLevel.Warning, logging.MinimumLevel);
        Assert.Equal(
            new Dictionary<string, LogLevel>
            {
                ["Synapse"] = LogLevel.Error,
                ["Synapse.Storage.SQL"] = LogLevel.Debug,
                ["Synapse.Http.Server"] = LogLevel.Warning,
                ["twisted"] = LogLevel.Critical,
                ["Microsoft.AspNetCore"] = LogLevel.Warning,
            },
            logging.Categories);
    }

    [Fact]
    public void Load_LogConfigBadLevel_NamesLogFileAndKey()
    {
        string logConfig = temp.Write("log.yaml", "version: 1\nloggers:\n  synapse.storage:\n    level: LOUD\n");
        string path = WriteConfig(("log_config", $"log_config: '{logConfig}'"));

        var error = Assert.Throws<ConfigurationException>(() => HomeserverConfigLoader.Load([path]));

        Assert.Equal(logConfig, error.File);
        Assert.Equal("loggers.synapse.storage.level", error.Key);
        Assert.Contains("got 'LOUD'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_PublicBaseUrlWithTrailingSlash_Kept()
    {
        string path = WriteConfig(("public_baseurl", "public_baseurl: 'http://localhost:8008/'"));

        Assert.Equal("http://localhost:8008/", HomeserverConfigLoader.Load([path]).PublicBaseUrl!.ToString());
    }

    [Fact]
    public void Load_BcryptRoundsInPasswordConfig_Used()
    {
        string path = WriteConfig(("password_config", "password_config:\n  bcrypt_rounds: 14"));

        Assert.Equal(14, HomeserverConfigLoader.Load([path]).Password.BcryptRounds);
    }

    /// <summary>
    /// Writes a valid minimal config to homeserver.yaml, with each override replacing (or, when null, removing)
    /// the block for its key, or appended when the key is not in the base.
    /// </summary>
    [Theory]
    [InlineData(null, null, true)]
    [InlineData("use_presence: false", null, false)]
    [InlineData("use_presence: false", "presence:\n  enabled: true", true)]
    [InlineData(null, "presence:\n  enabled: false", false)]
    [InlineData(null, "presence:\n  enabled: untracked", true)]
    [InlineData(null, "presence: {}", true)]
    public void Load_Presence_EnabledFromPresenceOrUsePresence(string? usePresence, string? presence, bool expected)
    {
        var overrides = new List<(string, string?)>();
        if (usePresence is not null)
        {
            overrides.Add(("use_presence", usePresence));
        }

        if (presence is not null)
        {
            overrides.Add(("presence", presence));
        }

        var options = HomeserverConfigLoader.Load([WriteConfig([.. overrides])], out var unknownKeys);
        Assert.Equal(expected, options.PresenceEnabled);
        Assert.Empty(unknownKeys);
    }

    [Fact]
    public void Load_PresenceEnabledNotBoolean_NamesTheKey()
    {
        var error = Assert.Throws<ConfigurationException>(() => HomeserverConfigLoader.Load([WriteConfig(("presence", "presence:\n  enabled: sometimes"))]));
        Assert.Contains("presence.enabled", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_ReplicationListeners_ReadSecretResourceAndTls()
    {
        string secretFile = temp.Write("replication.secret", "  s3cret\n");
        var options = HomeserverConfigLoader.Load([WriteConfig(
            ("listeners", "listeners:\n  - port: 9093\n    type: http\n    resources:\n      - names: [replication]\n"
                + "  - port: 9092\n    type: replication\n    bind_addresses: ['127.0.0.1']\n    tls: true"),
            ("worker_replication_secret_path", $"worker_replication_secret_path: '{secretFile}'"),
            ("tls_certificate_path", "tls_certificate_path: /etc/synapse/cert.pem\ntls_private_key_path: /etc/synapse/key.pem"))]);

        Assert.Equal("s3cret", options.WorkerReplicationSecret);
        Assert.Contains(ListenerOptions.ReplicationResource, options.Listeners[0].Resources);
        Assert.Equal((ListenerOptions.ReplicationType, 9092, true), (options.Listeners[1].Type, options.Listeners[1].Port, options.Listeners[1].Tls));
        Assert.Equal("/etc/synapse/cert.pem", options.TlsCertificatePath);
        Assert.Equal("/etc/synapse/key.pem", options.TlsPrivateKeyPath);
    }

    private string WriteConfig(params (string Key, string? Block)[] overrides)
    {
        var blocks = new List<(string Key, string? Block)>
        {
            ("server_name", "server_name: example.com"),
            ("signing_key_path", $"signing_key_path: '{temp.Combine("example.com.signing.key")}'"),
            ("listeners", "listeners:\n  - port: 8008\n    type: http\n    resources:\n      - names: [client, federation]"),
            ("database", $"database:\n  name: sqlite3\n  args:\n    database: '{temp.Combine("homeserver.db")}'"),
        };
        foreach (var (key, block) in overrides)
        {
            int index = blocks.FindIndex(b => b.Key == key);
            if (index >= 0)
            {
                blocks[index] = (key, block);
            }
            else
            {
                blocks.Add((key, block));
            }
        }

        return temp.Write(
            "homeserver.yaml",
            string.Join('\n', blocks.Where(b => b.Block is not null).Select(b => b.Block!.ReplaceLineEndings("\n"))) + "\n");
    }
}
