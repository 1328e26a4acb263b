using System.Buffers;
using System.Collections.Frozen;
using System.Text.Json;
using System.Text.Json.Nodes;
using Synapse.Crypto;
using Synapse.RoomVersions;

namespace Synapse.Events;

/// <summary>
/// The redaction algorithm: what is left of an event when it is redacted, and what event hashes and
/// signatures cover. Room versions differ in which keys survive, so the version is always an input.
/// </summary>
/// <remarks>
/// Spec: Room Versions, "Redactions" of each version (fragments v1, v6, v9 and v11 of the redaction algorithm;
/// room version 8 writes its list out in full). The result always has a <c>content</c> object, empty when the
/// event had none or had one that was not an object.
/// </remarks>
public static class Redaction
{
    private static readonly FrozenSet<string> TopLevelKeys = FrozenSet.Create(
        StringComparer.Ordinal,
        "event_id", "type", "room_id", "sender", "state_key", "content", "hashes", "signatures", "depth",
        "prev_events", "prev_state", "auth_events", "origin", "origin_server_ts", "membership");

    // v11 (MSC2176) stops protecting origin, membership and prev_state.
    private static readonly FrozenSet<string> TopLevelKeysV11 = FrozenSet.Create(
        StringComparer.Ordinal,
        "event_id", "type", "room_id", "sender", "state_key", "content", "hashes", "signatures", "depth",
        "prev_events", "auth_events", "origin_server_ts");

    private static readonly JsonDocumentOptions ParseOptions = new() { MaxDepth = 1000 };

    /// <summary>Returns the redacted form of <paramref name="event"/> as a new object; the input is not changed.</summary>
    /// <param name="event">An event (PDU or client format) as a JSON object.</param>
    /// <param name="roomVersion">The version of the event's room.</param>
    public static JsonObject Redact(JsonElement @event, RoomVersion roomVersion)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            WriteRedacted(writer, @event, roomVersion, withoutSignatures: false);
        }

        return JsonNode.Parse(buffer.WrittenSpan, documentOptions: ParseOptions)!.AsObject();
    }

    /// <inheritdoc cref="Redact(JsonElement, RoomVersion)"/>
    public static JsonObject Redact(JsonObject @event, RoomVersion roomVersion)
    {
        ArgumentNullException.ThrowIfNull(@event);
        return Redact(ToElement(@event), roomVersion);
    }

    /// <summary>
    /// Writes the redacted form of <paramref name="event"/>. With <paramref name="withoutSignatures"/> the
    /// <c>signatures</c> member is left out too: that is the form signatures and the reference hash cover.
    /// </summary>
    internal static void WriteRedacted(Utf8JsonWriter writer, JsonElement @event, RoomVersion roomVersion, bool withoutSignatures)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(roomVersion);
        if (@event.ValueKind != JsonValueKind.Object)
        {
            throw new ArgumentException("An event must be a JSON object.", nameof(@event));
        }

        var keep = roomVersion.V11Rules ? TopLevelKeysV11 : TopLevelKeys;
        string? type = @event.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        bool wroteContent = false;
        writer.WriteStartObject();
        foreach (var property in @event.EnumerateObject())
        {
            if (!keep.Contains(property.Name) || (withoutSignatures && property.NameEquals("signatures")))
            {
                continue;
            }

            if (property.NameEquals("content"))
            {
                writer.WritePropertyName(property.Name);
                WriteRedactedContent(writer, property.Value, type, roomVersion);
                wroteContent = true;
            }
            else
            {
                property.WriteTo(writer);
            }
        }

        if (!wroteContent)
        {
            writer.WritePropertyName("content");
            writer.WriteStartObject();
            writer.WriteEndObject();
        }

        writer.WriteEndObject();
    }

    /// <summary>Whether redaction keeps <c>content[key]</c> of an event of <paramref name="type"/>.</summary>
    /// <remarks>v11's partial <c>third_party_invite</c> is handled by the writer, not here.</remarks>
    internal static bool KeepsContentKey(string? type, string key, RoomVersion version) => type switch
    {
        "m.room.member" => key == "membership" || (key == "join_authorised_via_users_server" && version.RestrictedJoinRuleFix),
        "m.room.create" => version.V11Rules || key == "creator",
        "m.room.join_rules" => key == "join_rule" || (key == "allow" && version.RestrictedJoinRule),
        "m.room.power_levels" => key is "ban" or "events" or "events_default" or "kick" or "redact" or "state_default"
            or "users" or "users_default" || (key == "invite" && version.V11Rules),

        // Protected in v1–v5 only: the versions with the m.room.aliases auth rule (v6 removed both together).
        "m.room.aliases" => key == "aliases" && version.SpecialCaseAliasesAuth,
        "m.room.history_visibility" => key == "history_visibility",
        "m.room.redaction" => key == "redacts" && version.V11Rules,
        _ => false,
    };

    internal static JsonElement ToElement(JsonObject json)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            json.WriteTo(writer);
        }

        using var document = JsonDocument.Parse(buffer.WrittenMemory, ParseOptions);
        return document.RootElement.Clone();
    }

    private static void WriteRedactedContent(Utf8JsonWriter writer, JsonElement content, string? type, RoomVersion version)
    {
        writer.WriteStartObject();
        if (content.ValueKind == JsonValueKind.Object)
        {
            foreach (var property in content.EnumerateObject())
            {
                if (KeepsContentKey(type, property.Name, version))
                {
                    property.WriteTo(writer);
                }
                else if (version.V11Rules && type == "m.room.member" && property.NameEquals("third_party_invite"))
                {
                    WriteThirdPartyInviteSigned(writer, property.Value);
                }
            }
        }

        writer.WriteEndObject();
    }

    // v11 (MSC3821) keeps third_party_invite.signed and nothing else of it, since auth needs the signed block.
    // An invite without "signed" (invalid anyway) loses third_party_invite altogether.
    private static void WriteThirdPartyInviteSigned(Utf8JsonWriter writer, JsonElement invite)
    {
        if (invite.ValueKind == JsonValueKind.Object && invite.TryGetProperty("signed", out var signed))
        {
            writer.WritePropertyName("third_party_invite");
            writer.WriteStartObject();
            writer.WritePropertyName("signed");
            signed.WriteTo(writer);
            writer.WriteEndObject();
        }
    }
}
