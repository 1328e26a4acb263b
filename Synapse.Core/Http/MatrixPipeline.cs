using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Synapse.Accounts;

namespace Synapse.Http;

/// <summary>
/// The middleware every Matrix request passes: request logging (never the query string, which can
/// carry an access token), CORS, the spec's error JSON for every failure, and the listener's resources.
/// </summary>
internal sealed partial class MatrixPipeline
{
    private readonly ILogger<MatrixPipeline> _logger;

    public MatrixPipeline(ILogger<MatrixPipeline> logger) => _logger = logger;

    /// <summary>Outermost: logging, CORS and errors.</summary>
    public async Task HandleAsync(HttpContext context, RequestDelegate next)
    {
        long started = Stopwatch.GetTimestamp();
        AddCorsHeaders(context.Response);
        try
        {
            if (HttpMethods.IsOptions(context.Request.Method))
            {
                // Spec: Client-Server API, "Web Browser Clients": preflight answers on every path.
                context.Response.StatusCode = StatusCodes.Status204NoContent;
                return;
            }

            await next(context).ConfigureAwait(false);
            if (!context.Response.HasStarted && context.Response.StatusCode is 404 or 405 && context.GetEndpoint() is null or { DisplayName: "405 HTTP Method Not Supported" })
            {
                await WriteErrorAsync(context, new MatrixException((HttpStatusCode)context.Response.StatusCode,
                    ErrorCodes.Unrecognized, "Unrecognized request")).ConfigureAwait(false);
            }
        }
        catch (MatrixException e)
        {
            await WriteErrorAsync(context, e).ConfigureAwait(false);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            await WriteErrorAsync(context, new MatrixException(HttpStatusCode.RequestEntityTooLarge, ErrorCodes.TooLarge,
                "Request body too large")).ConfigureAwait(false);
        }
        catch (BadHttpRequestException e)
        {
            await WriteErrorAsync(context, new MatrixException((HttpStatusCode)e.StatusCode, ErrorCodes.Unknown, e.Message))
                .ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away; there is nobody to answer.
        }
        catch (Exception e)
        {
            Log.UnhandledException(_logger, context.Request.Method, context.Request.Path, e);
            await WriteErrorAsync(context, new MatrixException(HttpStatusCode.InternalServerError, ErrorCodes.Unknown,
                "Internal server error")).ConfigureAwait(false);
        }
        finally
        {
            LogRequest(context, started);
        }
    }

    private void LogRequest(HttpContext context, long started)
    {
        // The guard is here; CA1873 does not see through the generated method.
#pragma warning disable CA1873
        if (_logger.IsEnabled(LogLevel.Information))
        {
            string user = context.Items.TryGetValue(MatrixHttp.RequesterItemKey, out var r) && r is Requester requester
                ? requester.UserId.Value
                : "-";
            Log.Request(_logger, context.ClientAddress() ?? "-", user, context.Request.Method, context.Request.Path,
                context.Response.StatusCode, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
#pragma warning restore CA1873
    }

    /// <summary>After routing: refuses endpoints whose resource the listener does not serve.</summary>
    public static Task GateResourcesAsync(HttpContext context, RequestDelegate next)
    {
        var resource = context.GetEndpoint()?.Metadata.GetMetadata<MatrixResourceAttribute>();
        var listener = context.Listener();
        if (resource is not null && listener is not null && !resource.Names.Any(listener.Resources.Contains))
        {
            throw new MatrixException(HttpStatusCode.NotFound, ErrorCodes.Unrecognized, "Unrecognized request");
        }

        return next(context);
    }

    internal static async Task WriteErrorAsync(HttpContext context, MatrixException error)
    {
        if (context.Response.HasStarted)
        {
            return;
        }

        var body = new Dictionary<string, object?>();
        if (error.ErrorCode.Length > 0)
        {
            body["errcode"] = error.ErrorCode;
            body["error"] = error.Message;
        }

        if (error.Extra is not null)
        {
            foreach (var (key, value) in error.Extra)
            {
                body[key] = value;
            }
        }

        context.Response.Clear();
        AddCorsHeaders(context.Response);
        context.Response.StatusCode = (int)error.Status;
        if (error.ErrorCode == ErrorCodes.LimitExceeded && error.Extra?["retry_after_ms"] is long ms)
        {
            context.Response.Headers.RetryAfter = ((ms + 999) / 1000).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        await context.Response.WriteAsJsonAsync(body, MatrixHttp.ResponseJson).ConfigureAwait(false);
    }

    private static void AddCorsHeaders(HttpResponse response)
    {
        response.Headers.AccessControlAllowOrigin = "*";
        response.Headers.AccessControlAllowMethods = "GET, HEAD, POST, PUT, DELETE, OPTIONS";
        response.Headers.AccessControlAllowHeaders = "X-Requested-With, Content-Type, Authorization, Date";
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 1001, Level = LogLevel.Information,
            Message = "{Client} {User} {Method} {Path} {Status} {ElapsedMs:F1}ms")]
        public static partial void Request(ILogger logger, string client, string user, string method, PathString path,
            int status, double elapsedMs);

        [LoggerMessage(EventId = 1002, Level = LogLevel.Error, Message = "Unhandled exception in {Method} {Path}")]
        public static partial void UnhandledException(ILogger logger, string method, PathString path, Exception exception);
    }
}

/// <summary>
/// Marks an endpoint with the listener resources (<c>client</c>, <c>federation</c>, <c>keys</c>, ...) that serve it;
/// a listener naming any of them serves the endpoint.
/// </summary>
[AttributeUsage(AttributeTargets.Method | AttributeTargets.Class)]
internal sealed class MatrixResourceAttribute(params string[] names) : Attribute
{
    public IReadOnlyList<string> Names { get; } = names;
}
