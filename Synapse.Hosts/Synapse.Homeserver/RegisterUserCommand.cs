using System.Globalization;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Synapse.Configuration;

namespace Synapse.Homeserver;

/// <summary>
/// <c>register-user</c>: creates an account on a running server through the shared-secret admin API,
/// exactly as Synapse's <c>register_new_matrix_user</c> does, with the secret read from the config.
/// </summary>
internal static class RegisterUserCommand
{
    private const string Usage =
        "Usage: Synapse.Homeserver register-user [-c FILE]... -u USER [-p PASSWORD] [--admin | --no-admin] [--user-type TYPE] [--url URL]";

    public static async Task<int> RunAsync(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var paths = new List<string>();
        string? user = null, password = null, url = null, userType = null;
        bool admin = false;
        try
        {
            for (int i = 0; i < args.Length; i++)
            {
                string arg = args[i];
                string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{arg} needs a value");
                switch (arg)
                {
                    case "-c" or "--config" or "--config-path": paths.Add(Next()); break;
                    case "-u" or "--user": user = Next(); break;
                    case "-p" or "--password": password = Next(); break;
                    case "-a" or "--admin": admin = true; break;
                    case "--no-admin": admin = false; break;
                    case "-t" or "--user-type": userType = Next(); break;
                    case "--url": url = Next(); break;
                    default: throw new ArgumentException($"unknown argument '{arg}'");
                }
            }

            if (user is null)
            {
                throw new ArgumentException("-u USER is required");
            }
        }
        catch (ArgumentException e)
        {
            await stderr.WriteLineAsync($"Error: {e.Message}\n{Usage}").ConfigureAwait(false);
            return 2;
        }

        if (paths.Count == 0)
        {
            paths.Add(HomeserverCommand.DefaultConfigPath);
        }

        HomeserverOptions options;
        try
        {
            options = HomeserverConfigLoader.Load(paths, out _);
        }
        catch (ConfigurationException e)
        {
            await stderr.WriteLineAsync(e.Message).ConfigureAwait(false);
            return 1;
        }

        if (options.RegistrationSharedSecret is null)
        {
            await stderr.WriteLineAsync("Error: registration_shared_secret is not set in the configuration.").ConfigureAwait(false);
            return 1;
        }

        password ??= await ReadPasswordAsync(stderr).ConfigureAwait(false);
        if (string.IsNullOrEmpty(password))
        {
            await stderr.WriteLineAsync("Error: a password is required (-p PASSWORD).").ConfigureAwait(false);
            return 2;
        }

        url ??= ClientUrl(options);
        if (url is null)
        {
            await stderr.WriteLineAsync("Error: no http listener with the client resource; pass --url.").ConfigureAwait(false);
            return 1;
        }

        using var http = new HttpClient { BaseAddress = new Uri(url.TrimEnd('/') + "/") };
        try
        {
            using var nonceResponse = await http.GetAsync(new Uri("_synapse/admin/v1/register", UriKind.Relative)).ConfigureAwait(false);
            var nonceBody = await nonceResponse.Content.ReadFromJsonAsync<JsonElement>().ConfigureAwait(false);
            if (!nonceResponse.IsSuccessStatusCode)
            {
                await stderr.WriteLineAsync($"Error: {nonceBody}").ConfigureAwait(false);
                return 1;
            }

            string nonce = nonceBody.GetProperty("nonce").GetString()!;
            string mac = Mac(options.RegistrationSharedSecret, nonce, user, password, admin, userType);
            var request = new Dictionary<string, object?>
            {
                ["nonce"] = nonce,
                ["username"] = user,
                ["password"] = password,
                ["admin"] = admin,
                ["mac"] = mac,
            };
            if (userType is not null)
            {
                request["user_type"] = userType;
            }

            using var response = await http.PostAsJsonAsync(new Uri("_synapse/admin/v1/register", UriKind.Relative), request)
                .ConfigureAwait(false);
            var body = await response.Content.ReadFromJsonAsync<JsonElement>().ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                string error = body.TryGetProperty("error", out var e) ? e.GetString() ?? "" : body.ToString();
                await stderr.WriteLineAsync($"Error: {error}").ConfigureAwait(false);
                return 1;
            }

            await stdout.WriteLineAsync($"Success! Registered {body.GetProperty("user_id").GetString()}").ConfigureAwait(false);
            return 0;
        }
        catch (HttpRequestException e)
        {
            await stderr.WriteLineAsync($"Error: cannot reach the homeserver at {url}: {e.Message}. Is it running?")
                .ConfigureAwait(false);
            return 1;
        }
    }

    internal static string Mac(string secret, string nonce, string user, string password, bool admin, string? userType)
    {
        var message = new StringBuilder().Append(nonce).Append('\0').Append(user).Append('\0').Append(password)
            .Append('\0').Append(admin ? "admin" : "notadmin");
        if (userType is not null)
        {
            message.Append('\0').Append(userType);
        }

        // HMAC-SHA1 is what the shared-secret registration protocol specifies.
#pragma warning disable CA5350
        return Convert.ToHexStringLower(HMACSHA1.HashData(Encoding.UTF8.GetBytes(secret),
            Encoding.UTF8.GetBytes(message.ToString())));
#pragma warning restore CA5350
    }

    private static string? ClientUrl(HomeserverOptions options)
    {
        var listener = options.Listeners.FirstOrDefault(l => l.Type == "http" && l.Resources.Contains("client"));
        if (listener is null)
        {
            return null;
        }

        string host = (listener.BindAddresses.Count > 0 ? listener.BindAddresses[0] : null) switch
        {
            null or "0.0.0.0" or "::" or "127.0.0.1" => "127.0.0.1",
            "::1" => "[::1]",
            string other when other.Contains(':', StringComparison.Ordinal) => $"[{other}]",
            string other => other,
        };
        return string.Create(CultureInfo.InvariantCulture, $"http://{host}:{listener.Port}");
    }

    private static async Task<string?> ReadPasswordAsync(TextWriter stderr)
    {
        if (Console.IsInputRedirected)
        {
            return await Console.In.ReadLineAsync().ConfigureAwait(false);
        }

        await stderr.WriteAsync("Password: ").ConfigureAwait(false);
        var password = new StringBuilder();
        while (true)
        {
            var key = Console.ReadKey(intercept: true);
            if (key.Key == ConsoleKey.Enter)
            {
                await stderr.WriteLineAsync().ConfigureAwait(false);
                return password.ToString();
            }

            if (key.Key == ConsoleKey.Backspace)
            {
                if (password.Length > 0)
                {
                    password.Length--;
                }
            }
            else
            {
                password.Append(key.KeyChar);
            }
        }
    }
}
