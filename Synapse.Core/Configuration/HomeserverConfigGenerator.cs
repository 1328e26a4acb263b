using System.Security.Cryptography;
using System.Text;
using Synapse.Identifiers;

namespace Synapse.Configuration;

/// <summary>
/// Writes a starting <c>homeserver.yaml</c> and signing key, like Synapse's <c>--generate-config</c>: SQLite, one
/// plain-HTTP listener on localhost, registration closed, fresh random secrets.
/// </summary>
public static class HomeserverConfigGenerator
{
    private const int SecretLength = 50;
    private const string SecretAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";

    /// <summary>Writes the configuration file and, unless one exists already, the signing key.</summary>
    /// <param name="serverName">The <c>server_name</c>; it cannot be changed once users exist.</param>
    /// <param name="configPath">Where to write the YAML; it must not exist yet.</param>
    /// <param name="dataDirectory">Where the database, media, pid file and signing key will live.</param>
    /// <param name="reportStats">The value written for <c>report_stats</c>.</param>
    /// <returns>The absolute paths of the files written: the configuration, then the signing key if it was new.</returns>
    /// <exception cref="ArgumentException"><paramref name="serverName"/> is not a valid server name.</exception>
    /// <exception cref="IOException"><paramref name="configPath"/> exists already.</exception>
    public static IReadOnlyList<string> Generate(string serverName, string configPath, string dataDirectory, bool reportStats = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(configPath);
        ArgumentException.ThrowIfNullOrEmpty(dataDirectory);
        if (!ServerName.TryParse(serverName, out _))
        {
            throw new ArgumentException($"'{serverName}' is not a valid server name.", nameof(serverName));
        }

        string fullConfigPath = Path.GetFullPath(configPath);
        if (File.Exists(fullConfigPath) || Directory.Exists(fullConfigPath))
        {
            throw new IOException($"Refusing to overwrite the existing configuration file '{fullConfigPath}'; move it away or choose another path.");
        }

        string dataDir = Path.GetFullPath(dataDirectory);
        string signingKeyPath = Path.Combine(dataDir, serverName + ".signing.key");
        Directory.CreateDirectory(dataDir);
        if (Path.GetDirectoryName(fullConfigPath) is { Length: > 0 } configDirectory)
        {
            Directory.CreateDirectory(configDirectory);
        }

        string yaml = Render(serverName, dataDir, signingKeyPath, reportStats);
        try
        {
            // Owner-only, because registration_shared_secret lets whoever reads it create admin accounts.
            SigningKeyFile.WriteNewPrivateFile(fullConfigPath, yaml);
        }
        catch (IOException e) when (File.Exists(fullConfigPath))
        {
            throw new IOException($"Refusing to overwrite the existing configuration file '{fullConfigPath}'; move it away or choose another path.", e);
        }

        var written = new List<string> { fullConfigPath };
        if (SigningKeyFile.Generate(signingKeyPath))
        {
            written.Add(signingKeyPath);
        }

        return written;
    }

    private static string Render(string serverName, string dataDir, string signingKeyPath, bool reportStats)
    {
        var yaml = new StringBuilder();
        yaml.Append("""
            # Configuration for Synapse for .NET. Key names and meanings follow Synapse's homeserver.yaml:
            # https://element-hq.github.io/synapse/latest/usage/configuration/config_documentation.html
            # Keys this server does not implement are listed in the log at start and otherwise ignored.

            # The domain part of every user ID here (@alice:<server_name>). It cannot be changed later.

            """);
        yaml.Append("server_name: ").AppendLine(Quote(serverName));
        yaml.Append("pid_file: ").AppendLine(Quote(Path.Combine(dataDir, "homeserver.pid")));
        yaml.Append("""

            # Plain HTTP on localhost only: put a reverse proxy that terminates TLS in front of it
            # (and set x_forwarded: true so that client addresses come from X-Forwarded-For).
            listeners:
              - port: 8008
                tls: false
                type: http
                x_forwarded: false
                bind_addresses: ['127.0.0.1']
                resources:
                  - names: [client, federation]
                    compress: false

            # SQLite suits small servers; use name: psycopg2 with PostgreSQL connection args for anything larger.
            database:
              name: sqlite3
              args:

            """);
        yaml.Append("    database: ").AppendLine(Quote(Path.Combine(dataDir, "homeserver.db")));
        yaml.AppendLine();
        yaml.Append("media_store_path: ").AppendLine(Quote(Path.Combine(dataDir, "media_store")));
        yaml.AppendLine();
        yaml.AppendLine("# Lets whoever knows it register users, including admins, through the admin API. Keep it secret.");
        yaml.Append("registration_shared_secret: ").AppendLine(Quote(NewSecret()));
        yaml.Append("report_stats: ").AppendLine(reportStats ? "true" : "false");
        yaml.Append("macaroon_secret_key: ").AppendLine(Quote(NewSecret()));
        yaml.Append("form_secret: ").AppendLine(Quote(NewSecret()));
        yaml.AppendLine();
        yaml.AppendLine("# The ed25519 key that signs this server's events and federation requests. Back it up.");
        yaml.Append("signing_key_path: ").AppendLine(Quote(signingKeyPath));
        yaml.AppendLine();
        yaml.AppendLine("# Anyone may register when true, which also needs enable_registration_without_verification: true.");
        yaml.AppendLine("enable_registration: false");
        yaml.AppendLine();
        yaml.AppendLine("# Where to fetch other servers' signing keys from when they cannot be reached directly.");
        yaml.AppendLine("trusted_key_servers:");
        yaml.AppendLine("  - server_name: 'matrix.org'");
        yaml.AppendLine("suppress_key_server_warning: true");

        // Raw literals carry the source file's line endings and AppendLine the platform's; write '\n' throughout.
        return yaml.ToString().ReplaceLineEndings("\n");
    }

    private static string NewSecret() => RandomNumberGenerator.GetString(SecretAlphabet, SecretLength);

    /// <summary>A YAML single-quoted scalar: nothing is special inside except the quote, which is doubled.</summary>
    private static string Quote(string value) => "'" + value.Replace("'", "''", StringComparison.Ordinal) + "'";
}
