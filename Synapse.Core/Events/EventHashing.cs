using System.Buffers;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Synapse.Crypto;
using Synapse.Identifiers;
using Synapse.Json;
using Synapse.RoomVersions;

namespace Synapse.Events;

/// <summary>
/// Event hashes, event IDs and event signatures: the content hash (covers the whole event), the reference hash
/// (covers the redacted event; the event ID of room versions 3 and later) and the server signature (covers the
/// redacted event too, so it survives redaction).
/// </summary>
/// <remarks>
/// Spec: Server-Server API, "Signing Events" (adding and validating hashes and signatures, calculating the
/// reference and content hashes); Room Versions, "Event IDs". Room versions 1–5 hash and sign with lenient
/// canonical JSON (<see cref="RoomVersion.StrictCanonicalJson"/>), since their events may hold numbers that strict
/// canonical JSON rejects.
/// </remarks>
public static class EventHashing
{
    private const string OpaqueIdAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    private static readonly string[] ContentHashExclusions = ["unsigned", "signatures", "hashes"];

    /// <summary>
    /// The SHA-256 content hash: the canonical JSON of the event without <c>unsigned</c>, <c>signatures</c> and
    /// <c>hashes</c>. Published in <c>hashes.sha256</c>.
    /// </summary>
    /// <exception cref="CanonicalJsonException">A number canonical JSON forbids, in a v6+ room.</exception>
    public static byte[] ComputeContentHash(JsonElement @event, RoomVersion roomVersion)
    {
        ArgumentNullException.ThrowIfNull(roomVersion);
        return SHA256.HashData(JsonSigning.EncodeCanonical(@event, roomVersion.StrictCanonicalJson, ContentHashExclusions));
    }

    /// <summary>
    /// Whether <c>hashes.sha256</c> of <paramref name="event"/> matches its content. False when it does not, when
    /// it is missing or malformed, or when the event cannot be encoded: the spec then has the receiver keep only the
    /// redacted event.
    /// </summary>
    public static bool HasValidContentHash(JsonElement @event, RoomVersion roomVersion)
    {
        ArgumentNullException.ThrowIfNull(roomVersion);
        if (@event.ValueKind != JsonValueKind.Object
            || !@event.TryGetProperty("hashes", out var hashes) || hashes.ValueKind != JsonValueKind.Object
            || !hashes.TryGetProperty("sha256", out var sha256) || sha256.ValueKind != JsonValueKind.String
            || !UnpaddedBase64.TryDecode(sha256.GetString(), out byte[]? expected))
        {
            return false;
        }

        try
        {
            return CryptographicOperations.FixedTimeEquals(expected, ComputeContentHash(@event, roomVersion));
        }
        catch (CanonicalJsonException)
        {
            return false;
        }
    }

    /// <summary>
    /// The SHA-256 reference hash: the canonical JSON of the redacted event without <c>signatures</c> and
    /// <c>unsigned</c>.
    /// </summary>
    /// <exception cref="CanonicalJsonException">A number canonical JSON forbids, in a v6+ room.</exception>
    public static byte[] ComputeReferenceHash(JsonElement @event, RoomVersion roomVersion) =>
        SHA256.HashData(EncodeRedactedForSigning(@event, roomVersion));

    /// <summary>
    /// The event's ID. Room version 3: <c>$</c> + the reference hash in standard unpadded base64; version 4 and
    /// later: in URL-safe unpadded base64. Versions 1 and 2 carry the ID in the event, which this returns.
    /// </summary>
    /// <exception cref="FormatException">A v1/v2 event without a string <c>event_id</c>.</exception>
    public static string GetEventId(JsonElement @event, RoomVersion roomVersion)
    {
        ArgumentNullException.ThrowIfNull(roomVersion);
        return roomVersion.EventIdFormat switch
        {
            EventIdFormat.V1 => @event.ValueKind == JsonValueKind.Object && @event.TryGetProperty("event_id", out var id)
                && id.ValueKind == JsonValueKind.String
                    ? id.GetString()!
                    : throw new FormatException($"Events of room version {roomVersion.Identifier} must carry an 'event_id'."),
            _ => EventIdFromReferenceHash(ComputeReferenceHash(@event, roomVersion), roomVersion),
        };
    }

    /// <summary>A new event ID for room versions 1 and 2: <c>$</c> + 18 random letters + <c>:</c> + server name.</summary>
    public static string GenerateLegacyEventId(ServerName serverName) =>
        "$" + RandomNumberGenerator.GetString(OpaqueIdAlphabet, 18) + ":" + serverName.Value;

    /// <summary>
    /// Finishes an event this server creates: adds the content hash, signs the redacted event with
    /// <paramref name="signingKey"/>, works out the event ID and wraps the result as a <see cref="Pdu"/>.
    /// </summary>
    /// <param name="event">
    /// The event without hashes. It is not changed; the PDU is built from a copy. Any <c>hashes</c> are replaced
    /// and any <c>unsigned</c> is dropped (a PDU is stored without it); existing signatures are kept. For room
    /// versions 1 and 2 an <c>event_id</c> is generated when the event has none; later versions must not have one.
    /// </param>
    /// <param name="roomVersion">The version of the event's room.</param>
    /// <param name="serverName">This server's name, under which the signature is stored.</param>
    /// <param name="signingKey">This server's signing key.</param>
    /// <exception cref="ArgumentException">A v3+ event with an <c>event_id</c>.</exception>
    /// <exception cref="FormatException">The event lacks a field every PDU has (see <see cref="Pdu.Create"/>).</exception>
    public static Pdu CreateSignedPdu(JsonObject @event, RoomVersion roomVersion, ServerName serverName, SigningKey signingKey)
    {
        ArgumentNullException.ThrowIfNull(@event);
        ArgumentNullException.ThrowIfNull(roomVersion);
        ArgumentNullException.ThrowIfNull(signingKey);
        var pdu = @event.DeepClone().AsObject();
        pdu.Remove("unsigned");
        pdu.Remove("hashes");
        if (roomVersion.HasEventIdInPdu)
        {
            if (pdu["event_id"] is not JsonValue id || id.GetValueKind() != JsonValueKind.String)
            {
                pdu["event_id"] = GenerateLegacyEventId(serverName);
            }
        }
        else if (pdu.ContainsKey("event_id"))
        {
            throw new ArgumentException(
                $"Events of room version {roomVersion.Identifier} have no 'event_id': the ID is their reference hash.", nameof(@event));
        }

        bool strict = roomVersion.StrictCanonicalJson;
        byte[] contentHash = SHA256.HashData(JsonSigning.EncodeCanonical(pdu, strict, ContentHashExclusions));
        pdu["hashes"] = new JsonObject { ["sha256"] = UnpaddedBase64.Encode(contentHash) };

        // The signature and the reference hash cover the same bytes: the redacted event without signatures.
        byte[] signed = EncodeRedactedForSigning(Redaction.ToElement(pdu), roomVersion);
        JsonSigning.AddSignature(pdu, serverName, signingKey.KeyId, UnpaddedBase64.Encode(signingKey.Sign(signed)));

        var json = Redaction.ToElement(pdu);
        string eventId = roomVersion.HasEventIdInPdu
            ? pdu["event_id"]!.GetValue<string>()
            : EventIdFromReferenceHash(SHA256.HashData(signed), roomVersion);
        return Pdu.Create(json, roomVersion, eventId);
    }

    /// <summary>
    /// Whether <paramref name="event"/> carries a valid signature by <paramref name="serverName"/> with
    /// <paramref name="keyId"/>: checked over the redacted event, so it holds for full and redacted copies alike.
    /// False, never an exception, for a missing or malformed signature or an event that cannot be encoded.
    /// </summary>
    public static bool VerifySignature(JsonElement @event, RoomVersion roomVersion, ServerName serverName, string keyId, ReadOnlySpan<byte> publicKey)
    {
        ArgumentNullException.ThrowIfNull(roomVersion);
        if (!JsonSigning.TryGetSignature(@event, serverName, keyId, out byte[]? signature))
        {
            return false;
        }

        byte[] signed;
        try
        {
            signed = EncodeRedactedForSigning(@event, roomVersion);
        }
        catch (CanonicalJsonException)
        {
            return false;
        }

        return SigningKey.Verify(publicKey, signed, signature);
    }

    private static string EventIdFromReferenceHash(byte[] referenceHash, RoomVersion roomVersion) => roomVersion.EventIdFormat switch
    {
        EventIdFormat.V2 => "$" + UnpaddedBase64.Encode(referenceHash),
        EventIdFormat.V3 => "$" + UnpaddedBase64.EncodeUrlSafe(referenceHash),
        _ => throw new ArgumentException($"Room version {roomVersion.Identifier} has no hash-based event IDs.", nameof(roomVersion)),
    };

    // Canonical JSON of the redacted event without signatures (redaction already drops unsigned).
    private static byte[] EncodeRedactedForSigning(JsonElement @event, RoomVersion roomVersion)
    {
        ArgumentNullException.ThrowIfNull(roomVersion);
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            Redaction.WriteRedacted(writer, @event, roomVersion, withoutSignatures: true);
        }

        return JsonSigning.EncodeWritten(buffer, roomVersion.StrictCanonicalJson);
    }
}
