using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Synapse.LoadTest;

/// <summary>The run hit one of its limits (<c>--max-seconds</c>, <c>--max-requests</c>) or was interrupted.</summary>
internal sealed class RunStoppedException(string reason) : Exception(reason);

/// <summary>A Client-Server API request that did not succeed.</summary>
internal sealed class MatrixRequestException(string request, int status, string? errcode, string body)
    : Exception($"{request} -> {status} {errcode} {(body.Length > 300 ? body[..300] : body)}")
{
    public int Status { get; } = status;

    public string? ErrorCode { get; } = errcode;

    /// <summary>The response body as text.</summary>
    public string Body { get; } = body;
}

/// <summary>A logged-in account: who and with which access token.</summary>
internal sealed record Account(string UserId, string AccessToken);

/// <summary>
/// The few Client-Server API requests the scenarios make, counted against the run's request limit and bounded by its
/// deadline. 429 answers are waited out (<c>retry_after_ms</c>) and counted, so a rate-limited server is slow, not broken.
/// </summary>
internal sealed class MatrixApi : IDisposable
{
    private const int MaxThrottleRetries = 20;

    private readonly HttpClient _http;
    private readonly long _maxRequests;
    private readonly CancellationToken _stop;
    private long _requests;
    private long _throttled;

    public MatrixApi(long maxRequests, int connections, CancellationToken stop)
    {
        _maxRequests = maxRequests;
        _stop = stop;
        _http = new HttpClient(new SocketsHttpHandler
        {
            MaxConnectionsPerServer = connections,
            PooledConnectionLifetime = TimeSpan.FromMinutes(10),
            AutomaticDecompression = DecompressionMethods.All,
        })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
    }

    public long Requests => Interlocked.Read(ref _requests);

    public long Throttled => Interlocked.Read(ref _throttled);

    /// <summary>Sends one request and returns the JSON body of its 2xx answer.</summary>
    public async Task<JsonElement> SendAsync(HttpMethod method, Uri server, string path, string? token, object? body,
        CancellationToken cancellationToken = default)
    {
        var (json, _) = await SendMeasuredAsync(method, server, path, token, body, cancellationToken);
        return json;
    }

    /// <summary>Like <see cref="SendAsync"/>, also returning the size of the response body in bytes.</summary>
    public async Task<(JsonElement Body, long Bytes)> SendMeasuredAsync(HttpMethod method, Uri server, string path, string? token,
        object? body, CancellationToken cancellationToken = default)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(_stop, cancellationToken);
        for (int attempt = 0; ; attempt++)
        {
            if (Interlocked.Increment(ref _requests) > _maxRequests)
            {
                throw new RunStoppedException($"the request limit ({_maxRequests.ToString(CultureInfo.InvariantCulture)}) was reached");
            }

            using var request = new HttpRequestMessage(method, new Uri(server, path.TrimStart('/')));
            if (body is not null)
            {
                request.Content = body is string raw
                    ? new StringContent(raw, Encoding.UTF8, "application/json")
                    : JsonContent.Create(body);
            }

            if (token is not null)
            {
                request.Headers.Authorization = new("Bearer", token);
            }

            HttpResponseMessage response;
            byte[] bytes;
            try
            {
                response = await _http.SendAsync(request, linked.Token);
                bytes = await response.Content.ReadAsByteArrayAsync(linked.Token);
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                throw new RunStoppedException("the time limit was reached (or the run was interrupted)");
            }

            using (response)
            {
                int status = (int)response.StatusCode;
                if (status is >= 200 and < 300)
                {
                    return (bytes.Length == 0 ? default : JsonDocument.Parse(bytes).RootElement, bytes.Length);
                }

                string text = Encoding.UTF8.GetString(bytes);
                string? errcode = null;
                long retryAfterMs = 1000;
                try
                {
                    using var error = JsonDocument.Parse(bytes);
                    if (error.RootElement.ValueKind == JsonValueKind.Object)
                    {
                        errcode = error.RootElement.TryGetProperty("errcode", out var e) ? e.GetString() : null;
                        if (error.RootElement.TryGetProperty("retry_after_ms", out var r) && r.TryGetInt64(out long ms))
                        {
                            retryAfterMs = ms;
                        }
                    }
                }
                catch (JsonException)
                {
                }

                if (status == 429 && attempt < MaxThrottleRetries)
                {
                    Interlocked.Increment(ref _throttled);
                    await Task.Delay(TimeSpan.FromMilliseconds(Math.Clamp(retryAfterMs, 50, 10_000)), linked.Token);
                    continue;
                }

                throw new MatrixRequestException($"{method} {path.Split('?')[0]}", status, errcode, text);
            }
        }
    }

    /// <summary>
    /// Creates an account: open registration completing <c>m.login.dummy</c>, or the shared-secret admin endpoint. With
    /// <paramref name="reuse"/>, an existing account of that name is logged into instead.
    /// </summary>
    public async Task<Account> RegisterAsync(Uri server, string localpart, string password, string? sharedSecret, bool reuse)
    {
        try
        {
            return sharedSecret is null
                ? await RegisterOpenAsync(server, localpart, password)
                : await RegisterWithSecretAsync(server, localpart, password, sharedSecret);
        }
        catch (MatrixRequestException e) when (reuse && e.ErrorCode == "M_USER_IN_USE")
        {
            var login = await SendAsync(HttpMethod.Post, server, "_matrix/client/v3/login", null, new
            {
                type = "m.login.password",
                identifier = new { type = "m.id.user", user = localpart },
                password,
                initial_device_display_name = "synapse-loadtest",
            });
            return ToAccount(login);
        }
    }

    private async Task<Account> RegisterOpenAsync(Uri server, string localpart, string password)
    {
        string? session = null;
        try
        {
            // Without auth the server answers 401 with the flows and a session; a server without UIA may register at once.
            return ToAccount(await SendAsync(HttpMethod.Post, server, "_matrix/client/v3/register", null,
                new { username = localpart, password, initial_device_display_name = "synapse-loadtest" }));
        }
        catch (MatrixRequestException e) when (e.Status == 401)
        {
            using var challenge = JsonDocument.Parse(e.Body);
            session = challenge.RootElement.TryGetProperty("session", out var s) ? s.GetString() : null;
        }

        return ToAccount(await SendAsync(HttpMethod.Post, server, "_matrix/client/v3/register", null, new
        {
            username = localpart,
            password,
            initial_device_display_name = "synapse-loadtest",
            auth = new { type = "m.login.dummy", session },
        }));
    }

    private async Task<Account> RegisterWithSecretAsync(Uri server, string localpart, string password, string secret)
    {
        var nonceResponse = await SendAsync(HttpMethod.Get, server, "_synapse/admin/v1/register", null, null);
        string nonce = nonceResponse.GetProperty("nonce").GetString()!;
        byte[] message = Encoding.UTF8.GetBytes($"{nonce}\0{localpart}\0{password}\0notadmin");
        // The endpoint's protocol fixes HMAC-SHA1 (Synapse admin API, "Shared-Secret Registration").
#pragma warning disable CA5350
        string mac = Convert.ToHexStringLower(HMACSHA1.HashData(Encoding.UTF8.GetBytes(secret), message));
#pragma warning restore CA5350
        return ToAccount(await SendAsync(HttpMethod.Post, server, "_synapse/admin/v1/register", null,
            new { nonce, username = localpart, password, admin = false, mac }));
    }

    private static Account ToAccount(JsonElement response) =>
        new(response.GetProperty("user_id").GetString()!, response.GetProperty("access_token").GetString()!);

    public void Dispose() => _http.Dispose();
}

/// <summary>Latencies (or any durations) in milliseconds, and their percentiles.</summary>
internal sealed class Latencies
{
    private readonly List<double> _values = [];

    public int Count
    {
        get
        {
            lock (_values)
            {
                return _values.Count;
            }
        }
    }

    public void Add(double milliseconds)
    {
        lock (_values)
        {
            _values.Add(milliseconds);
        }
    }

    /// <summary>Adds the time since <paramref name="startTimestamp"/> (a <see cref="Stopwatch"/> timestamp).</summary>
    public void AddSince(long startTimestamp) => Add(Stopwatch.GetElapsedTime(startTimestamp).TotalMilliseconds);

    /// <summary>The <paramref name="p"/>-quantile (nearest rank); NaN when empty.</summary>
    public double Percentile(double p)
    {
        lock (_values)
        {
            if (_values.Count == 0)
            {
                return double.NaN;
            }

            _values.Sort();
            return _values[Math.Clamp((int)Math.Ceiling(p * _values.Count) - 1, 0, _values.Count - 1)];
        }
    }

    public double Max => Percentile(1.0);
}
