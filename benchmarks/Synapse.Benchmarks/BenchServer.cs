using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Synapse.Configuration;
using Synapse.Homeserver;

namespace Synapse.Benchmarks;

/// <summary>
/// The real homeserver host in this process (Kestrel on a free loopback port, open registration, no rate limits,
/// cheap bcrypt) and an <see cref="HttpClient"/> for it, for the end-to-end harnesses. PostgreSQL comes from
/// SYNAPSE_TEST_PG_HOST/PORT/USER and the database named by SYNAPSE_BENCH_PG_DB (default postgres).
/// </summary>
internal sealed class BenchServer : IAsyncDisposable
{
    private static readonly RateLimitOptions Unlimited = new() { PerSecond = 1_000_000, BurstCount = 1_000_000 };

    private readonly WebApplication _app;

    private BenchServer(WebApplication app, HttpClient http)
    {
        _app = app;
        Http = http;
    }

    public HttpClient Http { get; }

    public static async Task<BenchServer> StartAsync(string engine, int maxConnections)
    {
        string directory = Directory.CreateTempSubdirectory("synapse-bench-").FullName;
        var options = new HomeserverOptions
        {
            ServerName = "bench.local",
            Listeners = [new ListenerOptions { Port = 0, BindAddresses = ["127.0.0.1"], Type = "http", Resources = new HashSet<string> { "client" } }],
            Database = engine == "postgres"
                ? new DatabaseOptions
                {
                    Engine = DatabaseEngine.Postgres,
                    Host = Environment.GetEnvironmentVariable("SYNAPSE_TEST_PG_HOST") ?? "127.0.0.1",
                    Port = int.Parse(Environment.GetEnvironmentVariable("SYNAPSE_TEST_PG_PORT") ?? "5432", CultureInfo.InvariantCulture),
                    User = Environment.GetEnvironmentVariable("SYNAPSE_TEST_PG_USER") ?? "postgres",
                    DatabaseName = Environment.GetEnvironmentVariable("SYNAPSE_BENCH_PG_DB") ?? "postgres",
                    MinPoolSize = 10,
                    MaxPoolSize = 50,
                }
                : new DatabaseOptions { Engine = DatabaseEngine.Sqlite, SqlitePath = Path.Combine(directory, "bench.db") },
            EnableRegistration = true,
            EnableRegistrationWithoutVerification = true,
            SigningKeyPath = Path.Combine(directory, "signing.key"),
            Password = new PasswordOptions { BcryptRounds = 4 },
            RcLogin = new LoginRateLimitOptions { Address = Unlimited, Account = Unlimited, FailedAttempts = Unlimited },
            RcRegistration = Unlimited,
        };

        var app = await HomeserverApp.BuildAsync(options, [], logging =>
            logging.Services.Configure<Microsoft.Extensions.Logging.LoggerFilterOptions>(o => o.MinLevel = Microsoft.Extensions.Logging.LogLevel.Warning));
        await app.StartAsync();
        var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = maxConnections, PooledConnectionLifetime = TimeSpan.FromMinutes(30) })
        {
            BaseAddress = new Uri(app.BoundAddresses()[0]),
            Timeout = TimeSpan.FromMinutes(5),
        };
        return new BenchServer(app, http);
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>Client-Server requests the harnesses make, and their small statistics.</summary>
internal static class BenchHttp
{
    /// <summary>Registers <paramref name="name"/> with m.login.dummy; returns (access token, device ID).</summary>
    public static async Task<(string Token, string DeviceId)> RegisterDeviceAsync(HttpClient http, string name)
    {
        using var response = await http.PostAsJsonAsync("/_matrix/client/v3/register",
            new { username = name, password = "benchmark", auth = new { type = "m.login.dummy" } });
        response.EnsureSuccessStatusCode();
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        return (body.GetProperty("access_token").GetString()!, body.GetProperty("device_id").GetString()!);
    }

    public static async Task<string> RegisterAsync(HttpClient http, string name) => (await RegisterDeviceAsync(http, name)).Token;

    public static async Task<string> CreateRoomAsync(HttpClient http, string token) =>
        (await PostAsync(http, token, "/_matrix/client/v3/createRoom", new { preset = "public_chat" })).GetProperty("room_id").GetString()!;

    /// <summary>Sends an m.text message; returns its event ID and the timestamp when the response arrived.</summary>
    public static async Task<(string EventId, long At)> SendAsync(HttpClient http, string token, string room, string body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Put, $"/_matrix/client/v3/rooms/{room}/send/m.room.message/{Guid.NewGuid():N}")
        {
            Content = JsonContent.Create(new { msgtype = "m.text", body }),
        };
        request.Headers.Authorization = new("Bearer", token);
        using var response = await http.SendAsync(request);
        long at = Stopwatch.GetTimestamp();
        response.EnsureSuccessStatusCode();
        return ((await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("event_id").GetString()!, at);
    }

    public static async Task<JsonElement> PostAsync(HttpClient http, string token, string path, object body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body) };
        request.Headers.Authorization = new("Bearer", token);
        using var response = await http.SendAsync(request);
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    public static async Task<JsonElement> GetAsync(HttpClient http, string token, string path, CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Authorization = new("Bearer", token);
        using var response = await http.SendAsync(request, cancellationToken);
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadFromJsonAsync<JsonElement>(cancellationToken);
    }

    public static double Percentile(List<double> sorted, double p) =>
        sorted.Count == 0 ? double.NaN : sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];

    public static string Arg(string[] args, string name, string fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
    }
}
