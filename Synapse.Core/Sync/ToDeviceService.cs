using System.Net;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Synapse.Accounts;
using Synapse.Configuration;
using Synapse.Identifiers;
using Synapse.Storage;
using Synapse.Streams;

namespace Synapse.Sync;

/// <summary>
/// <c>PUT /sendToDevice</c> (Spec: Client-Server API, "Send-to-Device messaging"): puts one message per addressed device
/// into its inbox, once per transaction ID of the sending device. Delivery is <see cref="ToDeviceContributor"/>'s.
/// </summary>
internal sealed class ToDeviceService
{
    /// <summary>
    /// The largest message, as stored and delivered. Over federation a message must fit in one EDU (Spec: 413 "too large to
    /// fit in a single EDU"; 64 KiB is the size deployed servers use for one EDU), so it is refused for local users too:
    /// a client must not depend on where the recipient lives.
    /// </summary>
    public const int MaxMessageBytes = 65536;

    /// <summary>How long a transaction ID is remembered for retries.</summary>
    public static readonly TimeSpan TransactionLifetime = TimeSpan.FromDays(1);

    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private readonly HomeserverOptions _options;
    private readonly IToDeviceStore _store;
    private readonly StreamRegistry _streams;
    private readonly TimeProvider _time;

    public ToDeviceService(HomeserverOptions options, IToDeviceStore store, StreamRegistry streams, TimeProvider time)
    {
        _options = options;
        _store = store;
        _streams = streams;
        _time = time;
    }

    /// <summary>
    /// Sends <paramref name="body"/>'s <c>messages</c> (user ID → device ID or <c>*</c> → content). Unknown local users and
    /// devices are skipped silently, as the spec's "all known devices" implies; remote users are skipped too, for now.
    /// </summary>
    public async Task SendAsync(Requester requester, string eventType, string txnId, JsonElement body,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(requester);
        var messages = Parse(requester.UserId, eventType, body);
        if (messages.Count == 0)
        {
            return;
        }

        var batch = new ToDeviceBatch(requester.UserId, requester.DeviceId, txnId, messages,
            _time.GetUtcNow().ToUnixTimeMilliseconds());
        var stream = _streams[StreamNames.ToDevice];
        long position = stream.Allocate();
        IReadOnlyList<StreamRow> rows = [];
        try
        {
            var recipients = await _store.AddMessagesAsync(batch, position, cancellationToken).ConfigureAwait(false);
            rows = [.. recipients.Select(r => r.UserId).Distinct(StringComparer.Ordinal)
                .Select(u => new StreamRow(new JsonObject { ["user_id"] = u }, [NotifierKey.User(u)]))];
        }
        finally
        {
            stream.Complete(position, rows);
        }
    }

    /// <summary>Forgets transaction IDs older than <see cref="TransactionLifetime"/>.</summary>
    public Task<int> DeleteExpiredTransactionsAsync(CancellationToken cancellationToken) =>
        _store.DeleteTransactionsAsync((_time.GetUtcNow() - TransactionLifetime).ToUnixTimeMilliseconds(), cancellationToken);

    /// <summary>
    /// Validates the whole body first (a bad entry fails the request even when addressed to a remote user), then keeps the
    /// messages for local users.
    /// </summary>
    private List<ToDeviceTarget> Parse(UserId sender, string eventType, JsonElement body)
    {
        if (!body.TryGetProperty("messages", out var messages) || messages.ValueKind == JsonValueKind.Null)
        {
            throw MatrixException.MissingParam("messages");
        }

        if (messages.ValueKind != JsonValueKind.Object)
        {
            throw MatrixException.BadJson("'messages' must be an object of user IDs to objects of device IDs to content");
        }

        var targets = new List<ToDeviceTarget>();
        foreach (var user in messages.EnumerateObject())
        {
            if (!UserId.TryParse(user.Name, out var userId))
            {
                throw MatrixException.InvalidParam($"'{user.Name}' is not a valid user ID");
            }

            if (user.Value.ValueKind != JsonValueKind.Object)
            {
                throw MatrixException.BadJson($"The messages for {user.Name} must be an object of device IDs to content");
            }

            // Federation is not available yet: messages for remote users are dropped (they will be queued for their
            // servers once it is).
            bool local = userId.ServerName == _options.ServerName;
            foreach (var device in user.Value.EnumerateObject())
            {
                if (device.Value.ValueKind != JsonValueKind.Object)
                {
                    throw MatrixException.BadJson($"The message for {user.Name} device {device.Name} must be an object");
                }

                string json = Serialize(sender, eventType, device.Value);
                if (System.Text.Encoding.UTF8.GetByteCount(json) > MaxMessageBytes)
                {
                    throw new MatrixException(HttpStatusCode.RequestEntityTooLarge, ErrorCodes.TooLarge,
                        $"device message to {user.Name} too large to fit in a single EDU");
                }

                if (!local)
                {
                    continue;
                }

                if (device.Name == "*")
                {
                    targets.Add(new ToDeviceTarget(userId, null, json));
                }
                else if (DeviceId.TryParse(device.Name, out var deviceId))
                {
                    targets.Add(new ToDeviceTarget(userId, deviceId, json));
                }

                // A device ID that cannot exist names no device: skipped like any unknown device.
            }
        }

        return targets;
    }

    /// <summary>The event as the recipient's sync returns it.</summary>
    private static string Serialize(UserId sender, string eventType, JsonElement content)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            writer.WriteStartObject();
            writer.WritePropertyName("content");
            content.WriteTo(writer);
            writer.WriteString("sender", sender.Value);
            writer.WriteString("type", eventType);
            writer.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }
}

/// <summary>Forgets old send-to-device transaction IDs every hour.</summary>
internal sealed partial class ToDeviceTransactionCleaner : BackgroundService
{
    private readonly ToDeviceService _toDevice;
    private readonly ILogger<ToDeviceTransactionCleaner> _logger;

    public ToDeviceTransactionCleaner(ToDeviceService toDevice, ILogger<ToDeviceTransactionCleaner> logger)
    {
        _toDevice = toDevice;
        _logger = logger;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromHours(1));
        try
        {
            do
            {
                try
                {
                    await _toDevice.DeleteExpiredTransactionsAsync(stoppingToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // A failed clean-up only delays the next one; it must not stop the host.
                    Log.CleanupFailed(_logger, e);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 4601, Level = LogLevel.Warning, Message = "Deleting expired send-to-device transaction IDs failed")]
        public static partial void CleanupFailed(ILogger logger, Exception exception);
    }
}
