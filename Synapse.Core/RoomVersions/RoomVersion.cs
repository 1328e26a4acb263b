using System.Collections.Frozen;

namespace Synapse.RoomVersions;

/// <summary>How event IDs are formed in a room version.</summary>
public enum EventIdFormat
{
    /// <summary>v1, v2: <c>$random:server_name</c>, carried in the event.</summary>
    V1,

    /// <summary>v3: <c>$</c> + standard unpadded base64 of the reference hash.</summary>
    V2,

    /// <summary>v4 and later: <c>$</c> + URL-safe unpadded base64 of the reference hash.</summary>
    V3,
}

/// <summary>The state resolution algorithm of a room version.</summary>
public enum StateResolutionAlgorithm
{
    /// <summary>Room version 1.</summary>
    V1,

    /// <summary>Room versions 2 and later.</summary>
    V2,
}

/// <summary>
/// The rules that differ between room versions. Everything version-dependent in event handling reads
/// these flags instead of comparing version strings.
/// </summary>
/// <remarks>Spec: Room Versions, one page per version.</remarks>
public sealed record RoomVersion
{
    /// <summary>The identifier clients and servers use, e.g. "10".</summary>
    public required string Identifier { get; init; }

    /// <summary>Whether the spec calls this version stable.</summary>
    public bool IsStable { get; init; } = true;

    /// <summary>Event ID format.</summary>
    public required EventIdFormat EventIdFormat { get; init; }

    /// <summary>State resolution algorithm.</summary>
    public required StateResolutionAlgorithm StateResolution { get; init; }

    /// <summary>v5+: signing keys must be valid at the event's origin_server_ts.</summary>
    public bool EnforceKeyValidity { get; init; }

    /// <summary>v1–v5: <c>m.room.aliases</c> events have their own auth rule (sender's domain = state key).</summary>
    public bool SpecialCaseAliasesAuth { get; init; }

    /// <summary>v6+: canonical JSON is enforced (integers in range, no floats).</summary>
    public bool StrictCanonicalJson { get; init; }

    /// <summary>v6+: <c>notifications</c> power levels are checked like the other keys.</summary>
    public bool LimitNotificationsPowerLevels { get; init; }

    /// <summary>v7+: the <c>knock</c> join rule and membership.</summary>
    public bool KnockJoinRule { get; init; }

    /// <summary>v8+: the <c>restricted</c> join rule.</summary>
    public bool RestrictedJoinRule { get; init; }

    /// <summary>v9+: <c>join_authorised_via_users_server</c> is kept by redaction.</summary>
    public bool RestrictedJoinRuleFix { get; init; }

    /// <summary>v10+: the <c>knock_restricted</c> join rule.</summary>
    public bool KnockRestrictedJoinRule { get; init; }

    /// <summary>v10+: power level values must be integers, not strings.</summary>
    public bool EnforceIntPowerLevels { get; init; }

    /// <summary>
    /// v11 (MSC2174, MSC2175, MSC2176, MSC3989, MSC3821): <c>redacts</c> in content, no <c>creator</c> in
    /// <c>m.room.create</c>, the updated redaction algorithm, third-party-invite state key rule.
    /// </summary>
    public bool V11Rules { get; init; }

    /// <summary>v1–v2 events carry <c>event_id</c> and reference prev/auth events as [id, hashes] pairs.</summary>
    public bool HasEventIdInPdu => EventIdFormat == EventIdFormat.V1;
}

/// <summary>The room versions this server knows.</summary>
public static class KnownRoomVersions
{
    /// <summary>Version 1.</summary>
    public static readonly RoomVersion V1 = new()
    {
        Identifier = "1", EventIdFormat = EventIdFormat.V1, StateResolution = StateResolutionAlgorithm.V1,
        SpecialCaseAliasesAuth = true,
    };

    /// <summary>Version 2: state resolution v2.</summary>
    public static readonly RoomVersion V2 = V1 with { Identifier = "2", StateResolution = StateResolutionAlgorithm.V2 };

    /// <summary>Version 3: event IDs are hashes.</summary>
    public static readonly RoomVersion V3 = V2 with { Identifier = "3", EventIdFormat = EventIdFormat.V2 };

    /// <summary>Version 4: URL-safe event IDs.</summary>
    public static readonly RoomVersion V4 = V3 with { Identifier = "4", EventIdFormat = EventIdFormat.V3 };

    /// <summary>Version 5: signing key validity.</summary>
    public static readonly RoomVersion V5 = V4 with { Identifier = "5", EnforceKeyValidity = true };

    /// <summary>Version 6: strict canonical JSON, alias auth removed, notifications power levels.</summary>
    public static readonly RoomVersion V6 = V5 with
    {
        Identifier = "6", SpecialCaseAliasesAuth = false, StrictCanonicalJson = true, LimitNotificationsPowerLevels = true,
    };

    /// <summary>Version 7: knocking.</summary>
    public static readonly RoomVersion V7 = V6 with { Identifier = "7", KnockJoinRule = true };

    /// <summary>Version 8: restricted joins.</summary>
    public static readonly RoomVersion V8 = V7 with { Identifier = "8", RestrictedJoinRule = true };

    /// <summary>Version 9: restricted join redaction fix.</summary>
    public static readonly RoomVersion V9 = V8 with { Identifier = "9", RestrictedJoinRuleFix = true };

    /// <summary>Version 10: knock_restricted, integer power levels.</summary>
    public static readonly RoomVersion V10 = V9 with { Identifier = "10", KnockRestrictedJoinRule = true, EnforceIntPowerLevels = true };

    /// <summary>Version 11: the v11 clean-ups.</summary>
    public static readonly RoomVersion V11 = V10 with { Identifier = "11", V11Rules = true };

    /// <summary>The default for new rooms when <c>default_room_version</c> is not set.</summary>
    public static RoomVersion Default => V10;

    /// <summary>Every known version by identifier.</summary>
    public static readonly FrozenDictionary<string, RoomVersion> All =
        new[] { V1, V2, V3, V4, V5, V6, V7, V8, V9, V10, V11 }.ToFrozenDictionary(v => v.Identifier, StringComparer.Ordinal);

    /// <summary>The version with this identifier, or null when unknown.</summary>
    public static RoomVersion? Find(string? identifier) =>
        identifier is not null && All.TryGetValue(identifier, out var version) ? version : null;
}
