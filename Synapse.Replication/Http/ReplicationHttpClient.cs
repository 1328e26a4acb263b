using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Synapse.Accounts;
using Synapse.Replication.Protocol;
using Synapse.Replication.Tcp;

namespace Synapse.Replication.Http;

/// <summary>Settings of a worker's <see cref="ReplicationHttpClient"/>.</summary>
public sealed class ReplicationHttpClientOptions
{
    /// <summary>Main's HTTP replication base URI (<c>worker_replication_host</c>:<c>worker_replication_http_port</c>).</summary>
    public required Uri MainUri { get; init; }

    /// <summary><c>worker_replication_secret</c>, sent as a bearer token.</summary>
    public required string Secret { get; init; }

    /// <summary>Attempts per call (the first included) when main cannot be reached or answers 502/503/504.</summary>
    public int MaxAttempts { get; init; } = 6;

    /// <summary>The wait before the first retry; it doubles per attempt up to <see cref="MaxRetryDelay"/>.</summary>
    public TimeSpan FirstRetryDelay { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>The longest wait between two attempts.</summary>
    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromSeconds(8);

    /// <summary>How long one attempt may take before it counts as lost and is retried.</summary>
    public TimeSpan AttemptTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// How long a write waits for this worker's replication stream to reach the positions main answered with. Past it,
    /// the write is returned anyway (it happened) and the wait is logged.
    /// </summary>
    public TimeSpan PositionWaitTimeout { get; init; } = TimeSpan.FromSeconds(10);
}

/// <summary>
/// A worker's calls to main's HTTP replication (<see cref="ReplicationHttpEndpoints"/>). Each logical call has one
/// transaction ID, reused by every retry; retries are bounded and back off exponentially. Main's Matrix errors come
/// back as the same <see cref="MatrixException"/>; a main that stays unreachable becomes 502. A write returns only once
/// this worker's replication stream has caught up with it (read-after-write), when a stream client is given.
/// </summary>
public sealed partial class ReplicationHttpClient
{
    private readonly HttpClient _http;
    private readonly ReplicationHttpClientOptions _options;
    private readonly IStreamPositionWaiter? _stream;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;

    /// <summary>Creates a client over <paramref name="http"/> (whose lifetime the caller owns).</summary>
    /// <param name="http">The HTTP client; its own timeout should be longer than <see cref="ReplicationHttpClientOptions.AttemptTimeout"/>.</param>
    /// <param name="options">Where main is and how to retry.</param>
    /// <param name="stream">
    /// This worker's replication stream (<see cref="ReplicationClient"/>), to wait on for read-after-write; null to not wait.
    /// </param>
    /// <param name="logger">Retries and slow position waits are logged here.</param>
    /// <param name="time">The clock for back-off delays.</param>
    public ReplicationHttpClient(HttpClient http, ReplicationHttpClientOptions options, IStreamPositionWaiter? stream,
        ILogger<ReplicationHttpClient> logger, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxAttempts, 1);
        _http = http;
        _options = options;
        _stream = stream;
        _logger = logger;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>A new transaction ID: 16 random URL-safe characters.</summary>
    public static string NewTransactionId()
    {
        const string alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        return RandomNumberGenerator.GetString(alphabet, 16);
    }

    /// <summary>Forwards a typing change (PUT /rooms/{roomId}/typing/{userId}) to main.</summary>
    public Task SetTypingAsync(Requester requester, string roomId, string userId, JsonElement body, CancellationToken cancellationToken) =>
        ForwardAsync(Path("typing", roomId, userId), requester, body, cancellationToken);

    /// <summary>Forwards a receipt (POST /rooms/{roomId}/receipt/{receiptType}/{eventId}) to main.</summary>
    public Task SendReceiptAsync(Requester requester, string roomId, string receiptType, string eventId, JsonElement body,
        CancellationToken cancellationToken) =>
        ForwardAsync(Path("receipt", roomId, receiptType, eventId), requester, body, cancellationToken);

    /// <summary>Forwards read markers (POST /rooms/{roomId}/read_markers) to main.</summary>
    public Task SetReadMarkersAsync(Requester requester, string roomId, JsonElement body, CancellationToken cancellationToken) =>
        ForwardAsync(Path("read_markers", roomId), requester, body, cancellationToken);

    /// <summary>Forwards a presence change (PUT /presence/{userId}/status) to main.</summary>
    public Task SetPresenceAsync(Requester requester, string userId, JsonElement body, CancellationToken cancellationToken) =>
        ForwardAsync(Path("presence_set_state", userId), requester, body, cancellationToken);

    /// <summary>Has main build, authorize and persist <paramref name="drafts"/> (one room); returns the events written.</summary>
    internal async Task<IReadOnlyList<Events.Pdu>> SendEventsAsync(IReadOnlyList<Rooms.EventDraft> drafts, CancellationToken cancellationToken)
    {
        var body = new JsonObject { ["drafts"] = new JsonArray([.. drafts.Select(ReplicationJson.Draft)]) };
        var response = await WriteAsync(Path("send_event"), body, cancellationToken).ConfigureAwait(false);
        if (!response.TryGetProperty("events", out var events) || events.ValueKind != JsonValueKind.Array)
        {
            throw new ReplicationProtocolException("send_event answered without events.");
        }

        return [.. events.EnumerateArray().Select(ReplicationJson.ReadWrittenEvent)];
    }

    /// <summary>Tells main that a local user acted on this worker (<c>bump_presence_active_time</c>).</summary>
    internal Task BumpPresenceActiveTimeAsync(Identifiers.UserId userId, CancellationToken cancellationToken) =>
        WriteAsync(Path("bump_presence_active_time", userId.Value), [], cancellationToken);

    /// <summary>Has main create a user (<c>register_user</c>); false when the ID is taken.</summary>
    internal async Task<bool> CreateUserAsync(Storage.NewUser user, CancellationToken cancellationToken)
    {
        try
        {
            await WriteAsync(Path("register_user", user.UserId.Value), ReplicationJson.NewUser(user), cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (MatrixException e) when (e.ErrorCode == ErrorCodes.UserInUse)
        {
            return false;
        }
    }

    /// <summary>Has main create the device if needed and give it the token with this hash (<c>device_check_registered</c>).</summary>
    internal Task AddSessionAsync(Identifiers.UserId userId, Identifiers.DeviceId deviceId, string? displayName, string tokenHash,
        CancellationToken cancellationToken) =>
        WriteAsync(Path("device_check_registered", userId.Value),
            new JsonObject { ["device_id"] = deviceId.Value, ["display_name"] = displayName, ["token_hash"] = tokenHash },
            cancellationToken);

    /// <summary>One page of a stream that lives in main's memory: updates in (<paramref name="after"/>, <paramref name="upTo"/>].</summary>
    internal async Task<IReadOnlyList<Streams.StreamUpdate>> GetStreamUpdatesAsync(string stream, long after, long upTo, int limit,
        CancellationToken cancellationToken)
    {
        string path = FormattableString.Invariant(
            $"get_repl_stream_updates/{Uri.EscapeDataString(stream)}?from_token={after}&upto_token={upTo}&limit={limit}");
        var response = await SendAsync(HttpMethod.Get, path, null, cancellationToken).ConfigureAwait(false);
        return ReplicationJson.ReadUpdates(stream, response);
    }

    private Task<JsonElement> ForwardAsync(string path, Requester requester, JsonElement body, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(requester);
        var json = new JsonObject { ["requester"] = ReplicationJson.Requester(requester), ["body"] = JsonNode.Parse(body.GetRawText()) };
        return WriteAsync(path, json, cancellationToken);
    }

    /// <summary>A write: one transaction ID for every attempt, then the read-after-write wait.</summary>
    private async Task<JsonElement> WriteAsync(string path, JsonObject body, CancellationToken cancellationToken)
    {
        var response = await SendAsync(HttpMethod.Post, path + "/" + NewTransactionId(), body, cancellationToken).ConfigureAwait(false);
        if (_stream is not null && response.TryGetProperty(ReplicationJson.PositionsKey, out var positions)
            && positions.ValueKind == JsonValueKind.Object)
        {
            await WaitForPositionsAsync(positions, cancellationToken).ConfigureAwait(false);
        }

        return response;
    }

    private async Task WaitForPositionsAsync(JsonElement positions, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.PositionWaitTimeout);
        foreach (var position in positions.EnumerateObject())
        {
            if (!position.Value.TryGetInt64(out long value))
            {
                continue;
            }

            try
            {
                await _stream!.WaitForPositionAsync(position.Name, value, timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                Log.PositionWaitTimedOut(_logger, position.Name, value, _options.PositionWaitTimeout);
                return;
            }
        }
    }

    private async Task<JsonElement> SendAsync(HttpMethod method, string path, JsonObject? body, CancellationToken cancellationToken)
    {
        var uri = new Uri(_options.MainUri, ReplicationHttpEndpoints.Prefix + "/" + path);
        byte[]? content = body is null ? null : Encoding.UTF8.GetBytes(body.ToJsonString());
        TimeSpan delay = _options.FirstRetryDelay;
        for (int attempt = 1; ; attempt++)
        {
            string failure;
            using (var attemptTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                attemptTimeout.CancelAfter(_options.AttemptTimeout);
                try
                {
                    using var request = new HttpRequestMessage(method, uri);
                    request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _options.Secret);
                    if (content is not null)
                    {
                        request.Content = new ByteArrayContent(content);
                        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                    }

                    using var response = await _http.SendAsync(request, attemptTimeout.Token).ConfigureAwait(false);
                    byte[] answer = await response.Content.ReadAsByteArrayAsync(attemptTimeout.Token).ConfigureAwait(false);
                    if (response.IsSuccessStatusCode)
                    {
                        return Parse(answer, response.StatusCode);
                    }

                    if (response.StatusCode is not (HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout))
                    {
                        throw ToMatrixException(response.StatusCode, answer);
                    }

                    failure = $"HTTP {(int)response.StatusCode}";
                }
                catch (HttpRequestException e)
                {
                    failure = e.Message;
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    failure = $"no answer within {_options.AttemptTimeout.TotalSeconds:0.#} s";
                }
            }

            if (attempt >= _options.MaxAttempts)
            {
                Log.GaveUp(_logger, path, attempt, failure);
                throw new MatrixException(HttpStatusCode.BadGateway, ErrorCodes.Unknown, "Failed to talk to the main process");
            }

            Log.Retrying(_logger, path, attempt, failure, delay);
            await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _options.MaxRetryDelay.Ticks));
        }
    }

    private static JsonElement Parse(byte[] answer, HttpStatusCode status)
    {
        try
        {
            using var document = JsonDocument.Parse(answer);
            return document.RootElement.ValueKind == JsonValueKind.Object
                ? document.RootElement.Clone()
                : throw new ReplicationProtocolException($"Main answered HTTP {(int)status} with JSON that is not an object.");
        }
        catch (JsonException e)
        {
            throw new ReplicationProtocolException($"Main answered HTTP {(int)status} with a body that is not JSON.", e);
        }
    }

    /// <summary>Main's error, as main sent it, for the worker to pass on to its client.</summary>
    private static MatrixException ToMatrixException(HttpStatusCode status, byte[] answer)
    {
        try
        {
            using var document = JsonDocument.Parse(answer);
            var root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Object && ReplicationJson.String(root, "errcode") is { } code)
            {
                Dictionary<string, object?>? extra = null;
                foreach (var property in root.EnumerateObject())
                {
                    if (property.Name is not ("errcode" or "error"))
                    {
                        (extra ??= [])[property.Name] = property.Value.Clone();
                    }
                }

                return new MatrixException(status, code, ReplicationJson.String(root, "error") ?? "", extra);
            }
        }
        catch (JsonException)
        {
        }

        return new MatrixException(status, ErrorCodes.Unknown, $"The main process answered HTTP {(int)status}");
    }

    private static string Path(string name, params string[] args)
    {
        var path = new StringBuilder(name);
        foreach (string arg in args)
        {
            path.Append('/').Append(Uri.EscapeDataString(arg));
        }

        return path.ToString();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 3101, Level = LogLevel.Warning, Message = "HTTP replication {Path}: attempt {Attempt} failed ({Failure}); retrying in {Delay}")]
        public static partial void Retrying(ILogger logger, string path, int attempt, string failure, TimeSpan delay);

        [LoggerMessage(EventId = 3102, Level = LogLevel.Error, Message = "HTTP replication {Path}: giving up after {Attempts} attempts ({Failure})")]
        public static partial void GaveUp(ILogger logger, string path, int attempts, string failure);

        [LoggerMessage(EventId = 3103, Level = LogLevel.Warning, Message = "Stream {Stream} did not reach {Position} within {Timeout} after a write; answering anyway")]
        public static partial void PositionWaitTimedOut(ILogger logger, string stream, long position, TimeSpan timeout);
    }
}
