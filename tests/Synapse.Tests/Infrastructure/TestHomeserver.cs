using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Synapse.Configuration;
using Synapse.Homeserver;

namespace Synapse.Tests.Infrastructure;

/// <summary>
/// The real host (Kestrel, real HTTP) on a random loopback port over a fresh database of one engine.
/// </summary>
public sealed class TestHomeserver : IAsyncDisposable
{
    public const string ServerName = "test.local";
    public const string SharedSecret = "test-shared-secret";

    private WebApplication _app;
    private readonly TestDatabase _database;
    private readonly string _directory;

    private TestHomeserver(WebApplication app, TestDatabase database, string directory, HomeserverOptions options)
    {
        _app = app;
        _database = database;
        _directory = directory;
        Options = options;
        BaseAddress = new Uri(app.BoundAddresses()[0]);
        Client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromMinutes(2) };
    }

    public HttpClient Client { get; private set; }

    public Uri BaseAddress { get; private set; }

    public HomeserverOptions Options { get; }

    public IServiceProvider Services => _app.Services;

    public static async Task<TestHomeserver> StartAsync(DatabaseEngine engine,
        Func<HomeserverOptions, HomeserverOptions>? configure = null)
    {
        var database = await TestDatabase.CreateAsync(engine);
        string directory = Directory.CreateTempSubdirectory("synapse-host-").FullName;
        var options = new HomeserverOptions
        {
            ServerName = ServerName,
            Listeners =
            [
                new ListenerOptions
                {
                    Port = 0,
                    BindAddresses = ["127.0.0.1"],
                    Type = "http",
                    Resources = new HashSet<string> { "client", "federation" },
                },
            ],
            Database = database.Options,
            EnableRegistration = true,
            EnableRegistrationWithoutVerification = true,
            RegistrationSharedSecret = SharedSecret,
            SigningKeyPath = Path.Combine(directory, "signing.key"),
            // Cheap hashes keep the suite fast; the cost factor is not what these tests check.
            Password = new PasswordOptions { BcryptRounds = 4 },
            RcLogin = new LoginRateLimitOptions
            {
                Address = Generous, Account = Generous, FailedAttempts = Generous,
            },
            RcRegistration = Generous,
        };
        options = configure?.Invoke(options) ?? options;
        var app = await HomeserverApp.BuildAsync(options, [], logging => logging.SetMinimumLevelForTests());
        await app.StartAsync();
        return new TestHomeserver(app, database, directory, options);
    }

    public static RateLimitOptions Generous { get; } = new() { PerSecond = 1000, BurstCount = 1000 };

    /// <summary>Registers through the real UIA dance (401, then m.login.dummy) and returns the session.</summary>
    public async Task<Session> RegisterAsync(string username, string password = "correct horse battery", string? deviceId = null)
    {
        var body = new JsonObject { ["username"] = username, ["password"] = password };
        if (deviceId is not null)
        {
            body["device_id"] = deviceId;
        }

        using var challenge = await Client.PostAsJsonAsync("/_matrix/client/v3/register", body);
        var challengeJson = await challenge.Content.ReadFromJsonAsync<JsonElement>();
        if ((int)challenge.StatusCode != 401)
        {
            throw new InvalidOperationException($"Expected a UIA challenge, got {(int)challenge.StatusCode}: {challengeJson}");
        }

        body["auth"] = new JsonObject { ["type"] = "m.login.dummy", ["session"] = challengeJson.GetProperty("session").GetString() };
        using var response = await Client.PostAsJsonAsync("/_matrix/client/v3/register", body);
        var json = await response.Content.ReadFromJsonAsync<JsonElement>();
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"Registration failed: {(int)response.StatusCode} {json}");
        }

        return new Session(json.GetProperty("user_id").GetString()!, json.GetProperty("access_token").GetString()!,
            json.GetProperty("device_id").GetString()!);
    }

    /// <summary>Sends a request with an access token and returns status and parsed body.</summary>
    public async Task<(int Status, JsonElement Body)> SendAsync(HttpMethod method, string path, string? token = null,
        object? body = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        if (body is string raw)
        {
            request.Content = new StringContent(raw, System.Text.Encoding.UTF8, "application/json");
        }
        else if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }

        using var response = await Client.SendAsync(request);
        string text = await response.Content.ReadAsStringAsync();
        var json = text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone();
        return ((int)response.StatusCode, json);
    }

    /// <summary>Stops the server and starts a new one on the same database (in-memory state is lost, as in a crash).</summary>
    public async Task RestartAsync()
    {
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        _app = await HomeserverApp.BuildAsync(Options, [], logging => logging.SetMinimumLevelForTests());
        await _app.StartAsync();
        BaseAddress = new Uri(_app.BoundAddresses()[0]);
        Client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromMinutes(2) };
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        await _database.DisposeAsync();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

public sealed record Session(string UserId, string AccessToken, string DeviceId);

internal static class TestLogging
{
    public static void SetMinimumLevelForTests(this Microsoft.Extensions.Logging.ILoggingBuilder logging) =>
        logging.Services.Configure<Microsoft.Extensions.Logging.LoggerFilterOptions>(
            o => o.MinLevel = Microsoft.Extensions.Logging.LogLevel.Warning);
}
