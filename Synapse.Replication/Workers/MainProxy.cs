using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Synapse.Replication.Workers;

/// <summary>
/// Passes a client request on to main's client API (<c>worker_main_http_uri</c>) and its answer back unchanged: what a
/// worker type routes to itself but must not do itself (frontend_proxy's key uploads write the device_lists stream, which
/// only main writes).
/// </summary>
internal sealed partial class MainProxy(HttpClient http, Uri main, ILogger<MainProxy> logger)
{
    /// <summary>Headers of one connection, not of the message (RFC 9110 §7.6.1), and those the client sets itself.</summary>
    private static readonly HashSet<string> NotForwarded = new(StringComparer.OrdinalIgnoreCase)
    {
        "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization", "TE", "Trailer",
        "Transfer-Encoding", "Upgrade", "Host",
    };

    public async Task ForwardAsync(HttpContext context)
    {
        var incoming = context.Request;
        var target = new Uri(main, incoming.Path.Value + incoming.QueryString.Value);
        using var request = new HttpRequestMessage(new HttpMethod(incoming.Method), target);
        if (incoming.ContentLength > 0 || incoming.Headers.TransferEncoding.Count > 0)
        {
            request.Content = new StreamContent(incoming.Body);
        }

        foreach (var (name, values) in incoming.Headers)
        {
            if (NotForwarded.Contains(name))
            {
                continue;
            }

            if (!request.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values) && request.Content is not null)
            {
                request.Content.Headers.TryAddWithoutValidation(name, (IEnumerable<string?>)values);
            }
        }

        if (context.Connection.RemoteIpAddress is { } client)
        {
            request.Headers.TryAddWithoutValidation("X-Forwarded-For", client.ToString());
        }

        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, context.RequestAborted).ConfigureAwait(false);
        }
        catch (HttpRequestException e)
        {
            Log.MainUnreachable(logger, main, e);
            context.Response.StatusCode = StatusCodes.Status502BadGateway;
            context.Response.ContentType = "application/json";
            await JsonSerializer.SerializeAsync(context.Response.Body, new Dictionary<string, string>
            {
                ["errcode"] = ErrorCodes.Unknown,
                ["error"] = "The main process cannot be reached; try again",
            }, cancellationToken: context.RequestAborted).ConfigureAwait(false);
            return;
        }

        using (response)
        {
            context.Response.StatusCode = (int)response.StatusCode;
            foreach (var (name, values) in response.Headers.Concat(response.Content.Headers))
            {
                if (!NotForwarded.Contains(name))
                {
                    context.Response.Headers[name] = values.ToArray();
                }
            }

            await response.Content.CopyToAsync(context.Response.Body, context.RequestAborted).ConfigureAwait(false);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 3030, Level = LogLevel.Warning, Message = "Proxying to the main process at {Main} failed")]
        public static partial void MainUnreachable(ILogger logger, Uri main, Exception exception);
    }
}
