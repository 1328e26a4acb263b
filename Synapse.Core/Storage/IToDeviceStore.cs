using Synapse.Identifiers;

namespace Synapse.Storage;

/// <summary>
/// Send-to-device messages waiting in the inboxes of local devices (Spec: Client-Server API, "Send-to-Device
/// messaging"). A message stays until a later sync of its device proves that the client received it.
/// </summary>
public interface IToDeviceStore
{
    /// <summary>
    /// Stores one <c>PUT /sendToDevice</c> request at <paramref name="streamId"/> in one transaction: records the sender's
    /// transaction ID and puts the messages in the inboxes of the devices that exist (<c>*</c> expands to every device of
    /// the user; a message addressed to a device by name wins over the user's <c>*</c> message for that device). Unknown
    /// users and devices are skipped. Returns the recipients, or nothing when the transaction ID was already used.
    /// </summary>
    Task<IReadOnlyList<ToDeviceRecipient>> AddMessagesAsync(ToDeviceBatch batch, long streamId, CancellationToken cancellationToken);

    /// <summary>The device's messages with stream ID in (<paramref name="after"/>, <paramref name="upTo"/>], oldest first.</summary>
    Task<IReadOnlyList<ToDeviceMessage>> GetMessagesAsync(UserId userId, DeviceId deviceId, long after, long upTo, int limit,
        CancellationToken cancellationToken);

    /// <summary>Deletes the device's messages with stream ID at most <paramref name="upTo"/> (delivered); returns how many.</summary>
    Task<int> DeleteMessagesAsync(UserId userId, DeviceId deviceId, long upTo, CancellationToken cancellationToken);

    /// <summary>
    /// Forgets transaction IDs recorded before <paramref name="beforeTs"/> (ms since the epoch), except the newest, which
    /// keeps the stream's position when every inbox is empty; returns how many.
    /// </summary>
    Task<int> DeleteTransactionsAsync(long beforeTs, CancellationToken cancellationToken);

    /// <summary>
    /// The recipients of the messages still stored with stream ID in (<paramref name="after"/>, <paramref name="upTo"/>],
    /// ordered by stream ID, at most <paramref name="limit"/> stream IDs (for replication catch-up).
    /// </summary>
    Task<IReadOnlyList<(long StreamId, ToDeviceRecipient Recipient)>> GetRecipientsAsync(long after, long upTo, int limit,
        CancellationToken cancellationToken);
}

/// <summary>One <c>PUT /sendToDevice</c> request, validated.</summary>
/// <param name="Sender">The sending user.</param>
/// <param name="SenderDevice">The sending device (transaction IDs are scoped to it).</param>
/// <param name="TxnId">The client's transaction ID.</param>
/// <param name="Messages">The messages for local users.</param>
/// <param name="Ts">When the request arrived (ms since the epoch).</param>
public sealed record ToDeviceBatch(UserId Sender, DeviceId SenderDevice, string TxnId, IReadOnlyList<ToDeviceTarget> Messages,
    long Ts);

/// <summary>One message of a request.</summary>
/// <param name="UserId">The recipient user.</param>
/// <param name="DeviceId">The recipient device, or null for every device of the user (<c>*</c>).</param>
/// <param name="MessageJson">The event as the recipient's sync returns it: <c>{"content", "sender", "type"}</c>.</param>
public sealed record ToDeviceTarget(UserId UserId, DeviceId? DeviceId, string MessageJson);

/// <summary>A device a message was stored for.</summary>
public readonly record struct ToDeviceRecipient(string UserId, string DeviceId);

/// <summary>A stored message: its stream ID and the event JSON.</summary>
public sealed record ToDeviceMessage(long StreamId, string Json);
