using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text.Json;
using Synapse.Events;
using Synapse.Identifiers;
using Synapse.Json;
using Synapse.RoomVersions;

namespace Synapse.Auth;

/// <summary>
/// A parsed view of an <c>m.room.power_levels</c> content with the spec's defaults filled in, or the levels a
/// room has when it has no power levels event (the creator 100, everyone else 0).
/// </summary>
/// <remarks>
/// Spec: Client-Server API, <c>m.room.power_levels</c>; Server-Server API, "Definitions" (invite level 0; kick,
/// ban and redact levels 50); Room Versions v1–v9 "accept values as strings", v1–v5 "accept values as floats",
/// v10 "values must be integers". The defaults hold with or without a power levels event: <c>state_default</c>
/// is 50 even when the room has none (changed in r0.5.0 by MSC1304; older text said 0).
/// </remarks>
public sealed class PowerLevels
{
    /// <summary>Default of <c>users_default</c>.</summary>
    public const long DefaultUsersDefault = 0;

    /// <summary>Default of <c>events_default</c>.</summary>
    public const long DefaultEventsDefault = 0;

    /// <summary>Default of <c>state_default</c>, with or without a power levels event.</summary>
    public const long DefaultStateDefault = 50;

    /// <summary>Default of <c>ban</c>.</summary>
    public const long DefaultBan = 50;

    /// <summary>Default of <c>kick</c>.</summary>
    public const long DefaultKick = 50;

    /// <summary>Default of <c>redact</c>.</summary>
    public const long DefaultRedact = 50;

    /// <summary>Default of <c>invite</c>.</summary>
    public const long DefaultInvite = 0;

    /// <summary>Default of <c>notifications.room</c> (and of any other notification key).</summary>
    public const long DefaultNotification = 50;

    /// <summary>The room creator's level in room versions 1–11 while the room has no power levels event.</summary>
    public const long CreatorLevelWithoutEvent = 100;

    /// <summary>The top-level integer properties, in the order the auth rules list them.</summary>
    internal static readonly string[] LevelKeys = ["users_default", "events_default", "state_default", "ban", "redact", "kick", "invite"];

    private static readonly Dictionary<string, long> Empty = new(StringComparer.Ordinal);

    private static readonly SearchValues<char> AsciiDigits = SearchValues.Create("0123456789");

    private readonly Dictionary<string, long> _explicit;

    private PowerLevels(
        Dictionary<string, long> explicitLevels, Dictionary<string, long> users, Dictionary<string, long> events,
        Dictionary<string, long> notifications, bool fromEvent)
    {
        _explicit = explicitLevels;
        Users = users;
        Events = events;
        Notifications = notifications;
        FromEvent = fromEvent;
    }

    /// <summary>False when the room has no power levels event and these are the implied levels.</summary>
    public bool FromEvent { get; }

    /// <summary><c>users_default</c>: the level of users not listed in <see cref="Users"/>.</summary>
    public long UsersDefault => Level("users_default", DefaultUsersDefault);

    /// <summary><c>events_default</c>: the level needed to send message events not listed in <see cref="Events"/>.</summary>
    public long EventsDefault => Level("events_default", DefaultEventsDefault);

    /// <summary><c>state_default</c>: the level needed to send state events not listed in <see cref="Events"/>.</summary>
    public long StateDefault => Level("state_default", DefaultStateDefault);

    /// <summary>The ban level.</summary>
    public long Ban => Level("ban", DefaultBan);

    /// <summary>The kick level.</summary>
    public long Kick => Level("kick", DefaultKick);

    /// <summary>The redact level (redacting other users' events).</summary>
    public long Redact => Level("redact", DefaultRedact);

    /// <summary>The invite level.</summary>
    public long Invite => Level("invite", DefaultInvite);

    /// <summary>
    /// <c>users</c>: explicit user levels. Without a power levels event it holds only the creator at 100.
    /// Entries that do not parse are left out.
    /// </summary>
    public IReadOnlyDictionary<string, long> Users { get; }

    /// <summary><c>events</c>: explicit levels by event type. Entries that do not parse are left out.</summary>
    public IReadOnlyDictionary<string, long> Events { get; }

    /// <summary><c>notifications</c>: levels by notification key (<c>room</c> for @room). Entries that do not parse are left out.</summary>
    public IReadOnlyDictionary<string, long> Notifications { get; }

    /// <summary>
    /// Reads a power levels content leniently: values that do not parse under <paramref name="version"/>'s rules
    /// are treated as absent (so the default applies). Use <see cref="IsValidContent"/> to validate a new event.
    /// </summary>
    public static PowerLevels FromContent(JsonElement content, RoomVersion version)
    {
        ArgumentNullException.ThrowIfNull(version);
        var explicitLevels = new Dictionary<string, long>(StringComparer.Ordinal);
        if (content.ValueKind == JsonValueKind.Object)
        {
            foreach (string key in LevelKeys)
            {
                if (content.TryGetProperty(key, out var value) && TryParseLevel(value, version, out long level))
                {
                    explicitLevels[key] = level;
                }
            }
        }

        return new PowerLevels(
            explicitLevels, ReadMap(content, "users", version), ReadMap(content, "events", version),
            ReadMap(content, "notifications", version), fromEvent: true);
    }

    /// <summary>
    /// The levels of a room with no power levels event: <paramref name="creator"/> (when known) has 100, everyone
    /// else 0, and every other level has its default.
    /// </summary>
    public static PowerLevels WithoutEvent(string? creator)
    {
        var users = new Dictionary<string, long>(StringComparer.Ordinal);
        if (creator is not null)
        {
            users[creator] = CreatorLevelWithoutEvent;
        }

        return new PowerLevels(Empty, users, Empty, Empty, fromEvent: false);
    }

    /// <summary>
    /// The levels in effect for a room state (or auth events) map of a room of <paramref name="version"/>: its
    /// <c>m.room.power_levels</c> event, else the implied levels with the creator taken from <c>m.room.create</c>
    /// (<c>content.creator</c> before v11, the event's <c>sender</c> from v11).
    /// </summary>
    public static PowerLevels FromState(IReadOnlyDictionary<TypeStateKey, Pdu> state, RoomVersion version)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(version);
        if (state.TryGetValue(new TypeStateKey(AuthEventTypes.PowerLevels, ""), out var powerLevels))
        {
            return FromContent(powerLevels.Content, version);
        }

        return WithoutEvent(state.TryGetValue(new TypeStateKey(AuthEventTypes.Create, ""), out var create) ? CreatorOf(create, version) : null);
    }

    /// <summary>The power level of <paramref name="userId"/>: its <c>users</c> entry, else <see cref="UsersDefault"/>.</summary>
    public long UserLevel(string userId) => Users.TryGetValue(userId, out long level) ? level : UsersDefault;

    /// <summary>
    /// The level needed to send an event of <paramref name="eventType"/>: its <c>events</c> entry, else
    /// <see cref="StateDefault"/> for state events and <see cref="EventsDefault"/> for others. Membership events and
    /// redactions of others' events have further levels of their own (<see cref="Invite"/>, <see cref="Kick"/>,
    /// <see cref="Ban"/>, <see cref="Redact"/>).
    /// </summary>
    public long EventLevel(string eventType, bool isState) =>
        Events.TryGetValue(eventType, out long level) ? level : isState ? StateDefault : EventsDefault;

    /// <summary>
    /// The level needed to trigger the notification <paramref name="key"/> (<c>room</c>: an @room mention).
    /// The spec defines a default (50) for <c>room</c> only; other absent keys get 50 as well.
    /// </summary>
    public long NotificationLevel(string key) => Notifications.TryGetValue(key, out long level) ? level : DefaultNotification;

    /// <summary>
    /// Parses one power level value under <paramref name="version"/>'s rules: an integer in every version
    /// (within ±(2^53−1) from v6, where canonical JSON applies); in v1–v9 also a string holding a base-10 integer
    /// with optional surrounding whitespace, leading zeros and one sign; in v1–v5 also a float, truncated.
    /// </summary>
    public static bool TryParseLevel(JsonElement value, RoomVersion version, out long level)
    {
        ArgumentNullException.ThrowIfNull(version);
        level = 0;
        switch (value.ValueKind)
        {
            case JsonValueKind.Number:
                if (value.TryGetInt64(out long integer))
                {
                    if (version.StrictCanonicalJson && integer is > CanonicalJson.MaxSafeInteger or < CanonicalJson.MinSafeInteger)
                    {
                        return false;
                    }

                    level = integer;
                    return true;
                }

                // Spec: v1–v5 "accept values as floats": truncate; anything beyond a double is rejected. Values beyond
                // a long are rejected too (no real room has them).
                if (version.StrictCanonicalJson || !value.TryGetDouble(out double number) || !double.IsFinite(number))
                {
                    return false;
                }

                number = Math.Truncate(number);
                if (number is < -9.2233720368547758E18 or >= 9.2233720368547758E18)
                {
                    return false;
                }

                level = (long)number;
                return true;

            case JsonValueKind.String:
                return !version.EnforceIntPowerLevels && TryParseIntegerString(value.GetString()!, out level);

            default:
                return false;
        }
    }

    /// <summary>
    /// Checks the shape an <c>m.room.power_levels</c> content must have to pass the authorisation rules of
    /// <paramref name="version"/>: <c>users</c> an object of valid user IDs to levels; the top-level levels,
    /// <c>events</c> and (v6+) <c>notifications</c> present only with values that parse by
    /// <see cref="TryParseLevel"/>.
    /// </summary>
    /// <remarks>
    /// v1–v9 only spell out the check for <c>users</c>, but their later rules compare every value as an integer;
    /// a value that is no integer at all (e.g. <c>"ban": true</c>) is rejected here in every version.
    /// </remarks>
    public static bool IsValidContent(JsonElement content, RoomVersion version, [NotNullWhen(false)] out string? error)
    {
        ArgumentNullException.ThrowIfNull(version);
        if (content.ValueKind != JsonValueKind.Object)
        {
            error = "power levels content must be an object";
            return false;
        }

        string expected = version.EnforceIntPowerLevels ? "an integer" : "an integer or a string holding an integer";
        foreach (string key in LevelKeys)
        {
            if (content.TryGetProperty(key, out var value) && !TryParseLevel(value, version, out _))
            {
                error = $"power level '{key}' must be {expected}";
                return false;
            }
        }

        string[] maps = version.LimitNotificationsPowerLevels ? ["events", "notifications", "users"] : ["events", "users"];
        foreach (string map in maps)
        {
            if (!content.TryGetProperty(map, out var value))
            {
                continue;
            }

            if (value.ValueKind != JsonValueKind.Object)
            {
                error = $"power levels '{map}' must be an object";
                return false;
            }

            foreach (var entry in value.EnumerateObject())
            {
                if (map == "users" && !UserId.TryParse(entry.Name, out _))
                {
                    error = $"power levels 'users' key '{entry.Name}' is not a valid user ID";
                    return false;
                }

                if (!TryParseLevel(entry.Value, version, out _))
                {
                    error = $"power levels '{map}' value for '{entry.Name}' must be {expected}";
                    return false;
                }
            }
        }

        error = null;
        return true;
    }

    /// <summary>A top-level level as written in the event, or null when absent (the change rules compare these).</summary>
    internal long? ExplicitLevel(string key) => _explicit.TryGetValue(key, out long level) ? level : null;

    /// <summary>The room creator as the auth rules define it: <c>content.creator</c> before v11, the <c>sender</c> from v11.</summary>
    internal static string? CreatorOf(Pdu create, RoomVersion version) => version.V11Rules ? create.Sender : create.ContentString("creator");

    private long Level(string key, long fallback) => _explicit.TryGetValue(key, out long level) ? level : fallback;

    private static Dictionary<string, long> ReadMap(JsonElement content, string name, RoomVersion version)
    {
        var map = new Dictionary<string, long>(StringComparer.Ordinal);
        if (content.ValueKind == JsonValueKind.Object
            && content.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Object)
        {
            foreach (var entry in value.EnumerateObject())
            {
                if (TryParseLevel(entry.Value, version, out long level))
                {
                    map[entry.Name] = level;
                }
            }
        }

        return map;
    }

    private static bool TryParseIntegerString(string text, out long level)
    {
        level = 0;
        var span = text.AsSpan().Trim();
        bool negative = false;
        if (span.Length > 0 && span[0] is '+' or '-')
        {
            negative = span[0] == '-';
            span = span[1..];
        }

        if (span.IsEmpty || span.ContainsAnyExcept(AsciiDigits))
        {
            return false;
        }

        if (!long.TryParse(span, NumberStyles.None, CultureInfo.InvariantCulture, out long magnitude))
        {
            return false;
        }

        level = negative ? -magnitude : magnitude;
        return true;
    }
}
