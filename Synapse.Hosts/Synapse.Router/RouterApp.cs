using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Synapse.Replication.Workers;
using Yarp.ReverseProxy.Forwarder;

namespace Synapse.Router;

/// <summary>
/// The router: one address in front of main and its workers. Each request goes where <see cref="WorkerRouteTable"/>
/// says; a worker that cannot be reached is skipped for a while and, for requests without a body, the next instance is
/// tried — a user's long polls move to another synchrotron while theirs restarts.
/// </summary>
public static partial class RouterApp
{
    /// <summary>How long an instance that refused a connection is left out.</summary>
    public static readonly TimeSpan DownFor = TimeSpan.FromSeconds(5);

    /// <summary>Builds the router for <paramref name="deployment"/>, listening on <paramref name="urls"/>; the caller starts it.</summary>
    public static WebApplication Build(WorkerDeployment deployment, IReadOnlyList<string> urls, Action<ILoggingBuilder>? configureLogging = null)
    {
        ArgumentNullException.ThrowIfNull(deployment);
        ArgumentNullException.ThrowIfNull(urls);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            ApplicationName = "Synapse.Router",
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(console =>
        {
            console.SingleLine = true;
            console.TimestampFormat = "yyyy-MM-dd HH:mm:ss.fff ";
            console.UseUtcTimestamp = true;
        });
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Yarp", LogLevel.Warning);
        configureLogging?.Invoke(builder.Logging);
        builder.WebHost.UseUrls([.. urls]);
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = null);
        builder.Services.AddHttpForwarder();
        builder.Services.AddSingleton(new WorkerRouteTable(deployment));
        builder.Services.AddSingleton<Forwarding>();

        var app = builder.Build();
        var forwarding = app.Services.GetRequiredService<Forwarding>();
        app.Run(forwarding.HandleAsync);
        return app;
    }

    /// <summary>Forwards one request: find the route, order the instances, skip those down, retry what is safe to retry.</summary>
    internal sealed partial class Forwarding : IDisposable
    {
        private const int MaxCachedTokens = 100_000;

        private readonly WorkerRouteTable _table;
        private readonly IHttpForwarder _forwarder;
        private readonly ILogger<Forwarding> _logger;
        private readonly TimeProvider _time;
        private readonly HttpMessageInvoker _invoker = new(new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            ConnectTimeout = TimeSpan.FromSeconds(5),
            PooledConnectionLifetime = TimeSpan.FromMinutes(2),
        });

        private readonly HttpClient _whoami;
        private readonly ConcurrentDictionary<string, string> _users = new(StringComparer.Ordinal);
        private readonly ConcurrentDictionary<Uri, long> _downUntil = new();
        private readonly ForwarderRequestConfig _config = new() { ActivityTimeout = TimeSpan.FromMinutes(10) };

        public Forwarding(WorkerRouteTable table, IHttpForwarder forwarder, ILogger<Forwarding> logger, TimeProvider time)
        {
            _table = table;
            _forwarder = forwarder;
            _logger = logger;
            _time = time;
            _whoami = new HttpClient(new SocketsHttpHandler { UseProxy = false, ConnectTimeout = TimeSpan.FromSeconds(5) })
            {
                BaseAddress = table.Deployment.MainClientUri,
                Timeout = TimeSpan.FromSeconds(10),
            };
        }

        public async Task HandleAsync(HttpContext context)
        {
            string method = context.Request.Method;
            string path = context.Request.Path.Value ?? "/";
            var choice = _table.Find(method, path);
            string? user = null;
            if (choice.Route?.Affinity == RouteAffinity.User && choice.Instances.Count > 1 && TokenOf(context.Request) is { } token)
            {
                // Unknown tokens still stick together: the instance answers 401 either way.
                user = await UserOfAsync(token, context.RequestAborted).ConfigureAwait(false) ?? token;
            }

            IReadOnlyList<Uri> targets = choice.ToMain
                ? [_table.Deployment.MainClientUri]
                : [.. _table.Order(choice, path, user).Select(i => i.ClientUri)];
            long now = _time.GetTimestamp();
            var up = targets.Where(t => !_downUntil.TryGetValue(t, out long until) || until <= now).ToList();
            var attempts = up.Count > 0 ? up.Concat(targets.Except(up)).ToList() : [.. targets];
            bool retryable = context.Request.ContentLength is null or 0 && context.Request.Headers.TransferEncoding.Count == 0;
            ForwarderError error = ForwarderError.None;
            for (int i = 0; i < attempts.Count; i++)
            {
                var target = attempts[i];
                error = await _forwarder.SendAsync(context, target.ToString(), _invoker, _config, Transformer.Instance).ConfigureAwait(false);
                if (error == ForwarderError.None)
                {
                    _downUntil.TryRemove(target, out _);
                    return;
                }

                if (error != ForwarderError.Request || context.Response.HasStarted)
                {
                    return;
                }

                // Nothing was sent: the instance is not there (connection refused, reset before an answer).
                _downUntil[target] = _time.GetTimestamp() + (long)(DownFor.TotalSeconds * _time.TimestampFrequency);
                Log.InstanceDown(_logger, target, method, path);
                if (!retryable || i == attempts.Count - 1)
                {
                    break;
                }

                context.Response.Clear();
                context.Features.Set<IForwarderErrorFeature>(null);
            }

            if (!context.Response.HasStarted)
            {
                context.Response.Clear();
                context.Response.StatusCode = StatusCodes.Status502BadGateway;
                context.Response.ContentType = "application/json";
                await JsonSerializer.SerializeAsync(context.Response.Body, new Dictionary<string, string>
                {
                    ["errcode"] = "M_UNKNOWN",
                    ["error"] = $"No process that serves {method} {path} can be reached ({error})",
                }, cancellationToken: context.RequestAborted).ConfigureAwait(false);
            }
        }

        public void Dispose()
        {
            _invoker.Dispose();
            _whoami.Dispose();
        }

        /// <summary>The access token of a request: the Authorization header, or the (deprecated) access_token parameter.</summary>
        internal static string? TokenOf(HttpRequest request)
        {
            string? header = request.Headers.Authorization;
            if (header is not null && header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            {
                return header["Bearer ".Length..].Trim();
            }

            string? query = request.Query["access_token"];
            return string.IsNullOrEmpty(query) ? null : query;
        }

        /// <summary>The user an access token belongs to, asked of main once (a token never changes owner); null when unknown.</summary>
        private async Task<string?> UserOfAsync(string token, CancellationToken cancellationToken)
        {
            if (_users.TryGetValue(token, out string? known))
            {
                return known;
            }

            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, "_matrix/client/v3/account/whoami");
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
                using var response = await _whoami.SendAsync(request, cancellationToken).ConfigureAwait(false);
                if (!response.IsSuccessStatusCode)
                {
                    return null;
                }

                using var body = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false),
                    cancellationToken: cancellationToken).ConfigureAwait(false);
                if (body.RootElement.TryGetProperty("user_id", out var userId) && userId.GetString() is { } user)
                {
                    if (_users.Count >= MaxCachedTokens)
                    {
                        _users.Clear();
                    }

                    _users[token] = user;
                    return user;
                }
            }
            catch (Exception e) when (e is HttpRequestException or JsonException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
            {
                Log.WhoamiFailed(_logger, e);
            }

            return null;
        }

        private static partial class Log
        {
            [LoggerMessage(EventId = 5001, Level = LogLevel.Warning, Message = "{Target} cannot be reached for {Method} {Path}; leaving it out for a while")]
            public static partial void InstanceDown(ILogger logger, Uri target, string method, string path);

            [LoggerMessage(EventId = 5002, Level = LogLevel.Warning, Message = "Asking main whose an access token is failed; routing by the token")]
            public static partial void WhoamiFailed(ILogger logger, Exception exception);
        }
    }

    /// <summary>YARP's default request copy, plus who the client is (main trusts it on a listener with <c>x_forwarded</c>).</summary>
    private sealed class Transformer : HttpTransformer
    {
        public static readonly Transformer Instance = new();

        public override async ValueTask TransformRequestAsync(HttpContext httpContext, HttpRequestMessage proxyRequest,
            string destinationPrefix, CancellationToken cancellationToken)
        {
            await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken).ConfigureAwait(false);
            if (httpContext.Connection.RemoteIpAddress is { } client)
            {
                proxyRequest.Headers.Remove("X-Forwarded-For");
                proxyRequest.Headers.TryAddWithoutValidation("X-Forwarded-For", client.ToString());
            }

            proxyRequest.Headers.Remove("X-Forwarded-Proto");
            proxyRequest.Headers.TryAddWithoutValidation("X-Forwarded-Proto", httpContext.Request.Scheme);
        }
    }
}
