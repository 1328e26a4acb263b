using System.Text.Json;
using Synapse.Events;
using Synapse.Identifiers;
using Synapse.RoomVersions;
using static Synapse.Auth.AuthResult;

namespace Synapse.Auth;

/// <summary>
/// The authorisation rules of room versions 1–11: whether an event is allowed given a set of state. The version
/// is the event's own (<see cref="Pdu.RoomVersion"/>).
/// </summary>
/// <remarks>
/// Spec: Room Versions v1–v11, "Authorisation rules"; Server-Server API, "Checks performed on receipt of a PDU".
/// The same check runs against the event's auth events, the state before the event and the current state; the
/// caller chooses the map. Rule 2 about the <c>auth_events</c> list itself (duplicates, unexpected entries) is
/// <see cref="CheckAuthEvents"/>; whether those events were themselves rejected is the caller's to know.
/// </remarks>
public static class EventAuthorizer
{
    private const string Restricted = "restricted";
    private const string KnockRestricted = "knock_restricted";
    private const string Public = "public";

    private static readonly TypeStateKey CreateKey = new(AuthEventTypes.Create, "");
    private static readonly TypeStateKey PowerLevelsKey = new(AuthEventTypes.PowerLevels, "");
    private static readonly TypeStateKey JoinRulesKey = new(AuthEventTypes.JoinRules, "");

    /// <summary>
    /// Checks <paramref name="ev"/> against <paramref name="authState"/> without the two signature checks of the
    /// rules: a <c>join_authorised_via_users_server</c> signature is not checked, and an invite carrying
    /// <c>third_party_invite</c> is rejected because its <c>signed</c> block cannot be verified. Use it for events
    /// this server creates (and will sign) itself.
    /// </summary>
    /// <param name="ev">The event to authorise.</param>
    /// <param name="authState">
    /// The state to check against, keyed by (type, state_key): the event's auth events, or the room state before
    /// the event. Entries the rules do not name are ignored.
    /// </param>
    public static AuthResult Check(Pdu ev, IReadOnlyDictionary<TypeStateKey, Pdu> authState) => Check(ev, authState, null);

    /// <summary>
    /// Checks <paramref name="ev"/> against <paramref name="authState"/>, using <paramref name="signatures"/> for the
    /// rules that need a signature checked; with null, see <see cref="Check(Pdu, IReadOnlyDictionary{TypeStateKey, Pdu})"/>.
    /// </summary>
    /// <param name="ev">The event to authorise.</param>
    /// <param name="authState">
    /// The state to check against, keyed by (type, state_key): the event's auth events, or the room state before
    /// the event. Entries the rules do not name are ignored.
    /// </param>
    /// <param name="signatures">Verifies the <c>join_authorised_via_users_server</c> and third-party invite signatures.</param>
    public static AuthResult Check(Pdu ev, IReadOnlyDictionary<TypeStateKey, Pdu> authState, IAuthSignatureVerifier? signatures)
    {
        ArgumentNullException.ThrowIfNull(ev);
        ArgumentNullException.ThrowIfNull(authState);

        if (ev.Type == AuthEventTypes.Create)
        {
            return CheckCreate(ev);
        }

        if (!authState.TryGetValue(CreateKey, out var create))
        {
            return Deny("there is no m.room.create event among the auth events");
        }

        foreach (var key in AuthEventSelection.Required(ev))
        {
            if (authState.TryGetValue(key, out var authEvent) && authEvent.RoomId != ev.RoomId)
            {
                return Deny($"auth event {authEvent.EventId} ({key.Type}) belongs to room {authEvent.RoomId}, not {ev.RoomId}");
            }
        }

        if (create.Content.TryGetProperty("m.federate", out var federate) && federate.ValueKind == JsonValueKind.False
            && Domain(ev.Sender) != Domain(create.Sender))
        {
            return Deny($"the room does not federate and {ev.Sender} is not on the creator's server {Domain(create.Sender)}");
        }

        var version = ev.RoomVersion;
        if (version.SpecialCaseAliasesAuth && ev.Type == AuthEventTypes.Aliases)
        {
            // Spec: v1–v5 rule 4. Removed in v6, where m.room.aliases is an ordinary state event.
            if (ev.StateKey is null)
            {
                return Deny("m.room.aliases must have a state_key");
            }

            return ev.StateKey == Domain(ev.Sender)
                ? Allow("m.room.aliases state key is the sender's server")
                : Deny($"m.room.aliases state key '{ev.StateKey}' is not the sender's server {Domain(ev.Sender)}");
        }

        var room = new RoomState(authState, create, version);
        if (ev.Type == AuthEventTypes.Member)
        {
            return CheckMembership(ev, room, signatures);
        }

        string? senderMembership = room.Membership(ev.Sender);
        if (senderMembership != Memberships.Join)
        {
            return Deny($"{ev.Sender} is not joined to the room{Describe(senderMembership)}");
        }

        var levels = room.PowerLevels;
        long senderLevel = levels.UserLevel(ev.Sender);
        if (ev.Type == AuthEventTypes.ThirdPartyInvite)
        {
            return senderLevel >= levels.Invite
                ? Allow($"sender's power level {senderLevel} meets the invite level {levels.Invite}")
                : Deny($"sender's power level {senderLevel} is below the invite level {levels.Invite} needed to send m.room.third_party_invite");
        }

        long required = levels.EventLevel(ev.Type, ev.IsState);
        if (required > senderLevel)
        {
            return Deny($"sender's power level {senderLevel} is below the {required} needed to send {ev.Type}{(ev.IsState ? " state" : "")} events");
        }

        if (ev.StateKey is ['@', ..] && ev.StateKey != ev.Sender)
        {
            return Deny($"state key {ev.StateKey} starts with '@' and is not the sender {ev.Sender}");
        }

        if (ev.Type == AuthEventTypes.PowerLevels)
        {
            return CheckPowerLevels(ev, room, senderLevel);
        }

        if (ev.Type == AuthEventTypes.Redaction && RedactionsInAuthRules(version))
        {
            // Spec: v1–v2 rule 11. From v3 the redact level and domain check move to when the redaction is applied.
            if (senderLevel >= levels.Redact)
            {
                return Allow($"sender's power level {senderLevel} meets the redact level {levels.Redact}");
            }

            return ev.Redacts is not null && Domain(ev.Redacts) is { Length: > 0 } redactedDomain && redactedDomain == Domain(ev.EventId)
                ? Allow("the redacted event comes from the same server as the redaction")
                : Deny($"sender's power level {senderLevel} is below the redact level {levels.Redact} and the redacted event {ev.Redacts} is not from the redaction's server {Domain(ev.EventId)}");
        }

        return Allow($"sender is joined and power level {senderLevel} meets the {required} needed to send {ev.Type}");
    }

    /// <summary>
    /// Rule 2 of every version, on the event's <c>auth_events</c> as a list: no two entries with the same
    /// (type, state_key), no entry the auth events selection would not pick, an <c>m.room.create</c> among them, and
    /// all in the event's room. Whether each of them was itself rejected is for the caller to check.
    /// </summary>
    public static AuthResult CheckAuthEvents(Pdu ev, IReadOnlyList<Pdu> authEvents)
    {
        ArgumentNullException.ThrowIfNull(ev);
        ArgumentNullException.ThrowIfNull(authEvents);
        if (ev.Type == AuthEventTypes.Create)
        {
            // Rule 1 decides m.room.create before rule 2 is reached.
            return Allow("m.room.create is decided by its own rule");
        }

        var selectable = new HashSet<TypeStateKey>(AuthEventSelection.Required(ev));
        var seen = new HashSet<TypeStateKey>();
        foreach (var authEvent in authEvents)
        {
            if (authEvent.StateKey is null)
            {
                return Deny($"auth event {authEvent.EventId} is not a state event");
            }

            var key = new TypeStateKey(authEvent.Type, authEvent.StateKey);
            if (!seen.Add(key))
            {
                return Deny($"auth events contain more than one {key}");
            }

            if (!selectable.Contains(key))
            {
                return Deny($"auth event {authEvent.EventId} {key} is not one the auth events selection allows for this event");
            }

            if (authEvent.RoomId != ev.RoomId)
            {
                return Deny($"auth event {authEvent.EventId} belongs to room {authEvent.RoomId}, not {ev.RoomId}");
            }
        }

        return seen.Contains(CreateKey)
            ? Allow("auth events match the auth events selection")
            : Deny("there is no m.room.create event among the auth events");
    }

    private static AuthResult CheckCreate(Pdu ev)
    {
        if (ev.PrevEvents.Count > 0)
        {
            return Deny("m.room.create must not have prev_events");
        }

        if (Domain(ev.RoomId) != Domain(ev.Sender))
        {
            return Deny($"room ID {ev.RoomId} is not on the sender's server {Domain(ev.Sender)}");
        }

        if (ev.Content.TryGetProperty("room_version", out var roomVersion))
        {
            if (roomVersion.ValueKind != JsonValueKind.String)
            {
                return Deny("m.room.create content.room_version must be a string");
            }

            if (KnownRoomVersions.Find(roomVersion.GetString()) is null)
            {
                return Deny($"unknown room version '{roomVersion.GetString()}'");
            }
        }

        // Spec: v11 drops the creator property (MSC2175); the creator is the create event's sender.
        if (!ev.RoomVersion.V11Rules && !ev.Content.TryGetProperty("creator", out _))
        {
            return Deny("m.room.create content has no 'creator'");
        }

        return Allow("valid m.room.create");
    }

    private static AuthResult CheckMembership(Pdu ev, RoomState room, IAuthSignatureVerifier? signatures)
    {
        var version = ev.RoomVersion;
        string? target = ev.StateKey;
        if (target is null)
        {
            return Deny("m.room.member must have a state_key");
        }

        string? membership = ev.ContentString("membership");
        if (membership is null)
        {
            return Deny("m.room.member content has no 'membership' string");
        }

        if (version.RestrictedJoinRule && ev.Content.TryGetProperty("join_authorised_via_users_server", out var authoriserValue))
        {
            // Spec: v8+ rule 4.2. The authorising server vouches for the join by signing it.
            if (authoriserValue.ValueKind != JsonValueKind.String || !UserId.TryParse(authoriserValue.GetString(), out var authoriser))
            {
                return Deny("join_authorised_via_users_server is not a valid user ID");
            }

            if (signatures is not null && !signatures.IsSignedByServer(ev, authoriser.ServerName))
            {
                return Deny($"the event is not signed by {authoriser.ServerName}, the server of join_authorised_via_users_server");
            }
        }

        string? senderMembership = room.Membership(ev.Sender);
        switch (membership)
        {
            case Memberships.Join:
                return CheckJoin(ev, room, senderMembership);

            case Memberships.Invite:
                return ev.Content.TryGetProperty("third_party_invite", out var thirdPartyInvite)
                    ? CheckThirdPartyInvite(ev, room, thirdPartyInvite, signatures)
                    : CheckInvite(ev, room, senderMembership);

            case Memberships.Leave:
                return CheckLeave(ev, room, senderMembership);

            case Memberships.Ban:
                return CheckBan(ev, room, senderMembership);

            case Memberships.Knock when version.KnockJoinRule:
                return CheckKnock(ev, room, senderMembership);

            case Memberships.Knock:
                return Deny($"room version {version.Identifier} does not support knocking");

            default:
                return Deny($"unknown membership '{membership}'");
        }
    }

    private static AuthResult CheckJoin(Pdu ev, RoomState room, string? senderMembership)
    {
        var version = ev.RoomVersion;
        if (ev.PrevEvents.Count == 1 && ev.PrevEvents[0] == room.Create.EventId && ev.StateKey == PowerLevels.CreatorOf(room.Create, version))
        {
            return Allow("the creator's join directly after m.room.create");
        }

        if (ev.Sender != ev.StateKey)
        {
            return Deny($"{ev.Sender} cannot join on behalf of {ev.StateKey}");
        }

        if (senderMembership == Memberships.Ban)
        {
            return Deny($"{ev.Sender} is banned from the room");
        }

        string joinRule = room.JoinRule;
        bool invitedOrJoined = senderMembership is Memberships.Invite or Memberships.Join;
        string invitedOrJoinedText = senderMembership == Memberships.Join ? "already joined" : "invited";
        if (joinRule == Memberships.Invite || (joinRule == Memberships.Knock && version.KnockJoinRule))
        {
            return invitedOrJoined
                ? Allow($"join rule is {joinRule} and {ev.Sender} is {invitedOrJoinedText}")
                : Deny($"join rule is {joinRule} and {ev.Sender} has not been invited");
        }

        if ((joinRule == Restricted && version.RestrictedJoinRule) || (joinRule == KnockRestricted && version.KnockRestrictedJoinRule))
        {
            if (invitedOrJoined)
            {
                return Allow($"join rule is {joinRule} and {ev.Sender} is {invitedOrJoinedText}");
            }

            string? authoriser = ev.ContentString("join_authorised_via_users_server");
            if (authoriser is null)
            {
                return Deny($"join rule is {joinRule}: the join needs an invite or join_authorised_via_users_server");
            }

            if (room.Membership(authoriser) != Memberships.Join)
            {
                return Deny($"{authoriser} (join_authorised_via_users_server) is not joined to the room");
            }

            var levels = room.PowerLevels;
            long authoriserLevel = levels.UserLevel(authoriser);
            return authoriserLevel >= levels.Invite
                ? Allow($"join rule is {joinRule} and the join is authorised by {authoriser}")
                : Deny($"{authoriser} (join_authorised_via_users_server) has power level {authoriserLevel}, below the invite level {levels.Invite}");
        }

        if (joinRule == Public)
        {
            return Allow("join rule is public");
        }

        return Deny($"join rule '{joinRule}' does not allow joining in room version {version.Identifier}");
    }

    private static AuthResult CheckInvite(Pdu ev, RoomState room, string? senderMembership)
    {
        if (senderMembership != Memberships.Join)
        {
            return Deny($"{ev.Sender} cannot invite: not joined to the room{Describe(senderMembership)}");
        }

        string target = ev.StateKey!;
        string? targetMembership = room.Membership(target);
        if (targetMembership is Memberships.Join)
        {
            return Deny($"{target} is already joined to the room");
        }

        if (targetMembership is Memberships.Ban)
        {
            return Deny($"{target} is banned from the room");
        }

        var levels = room.PowerLevels;
        long senderLevel = levels.UserLevel(ev.Sender);
        return senderLevel >= levels.Invite
            ? Allow($"sender's power level {senderLevel} meets the invite level {levels.Invite}")
            : Deny($"sender's power level {senderLevel} is below the invite level {levels.Invite}");
    }

    private static AuthResult CheckThirdPartyInvite(Pdu ev, RoomState room, JsonElement thirdPartyInvite, IAuthSignatureVerifier? signatures)
    {
        string target = ev.StateKey!;
        if (room.Membership(target) == Memberships.Ban)
        {
            return Deny($"{target} is banned from the room");
        }

        if (thirdPartyInvite.ValueKind != JsonValueKind.Object
            || !thirdPartyInvite.TryGetProperty("signed", out var signed) || signed.ValueKind != JsonValueKind.Object)
        {
            return Deny("third_party_invite has no 'signed' object");
        }

        if (!signed.TryGetProperty("mxid", out var mxid) || mxid.ValueKind != JsonValueKind.String
            || !signed.TryGetProperty("token", out var token) || token.ValueKind != JsonValueKind.String)
        {
            return Deny("third_party_invite.signed must have 'mxid' and 'token' strings");
        }

        if (mxid.GetString() != target)
        {
            return Deny($"third_party_invite.signed.mxid {mxid.GetString()} is not the invited user {target}");
        }

        if (!room.State.TryGetValue(new TypeStateKey(AuthEventTypes.ThirdPartyInvite, token.GetString()!), out var inviteEvent))
        {
            return Deny($"there is no m.room.third_party_invite with token {token.GetString()} in the room");
        }

        if (inviteEvent.Sender != ev.Sender)
        {
            return Deny($"the third-party invite was sent by {inviteEvent.Sender}, not {ev.Sender}");
        }

        if (signatures is null)
        {
            return Deny("the third-party invite's signature cannot be verified here");
        }

        var publicKeys = PublicKeys(inviteEvent.Content);
        return publicKeys.Count > 0 && signatures.VerifyThirdPartyInviteSignature(signed, publicKeys)
            ? Allow("third_party_invite is signed by a key of the m.room.third_party_invite event")
            : Deny("no signature in third_party_invite.signed matches a public key of the m.room.third_party_invite event");
    }

    private static AuthResult CheckLeave(Pdu ev, RoomState room, string? senderMembership)
    {
        string target = ev.StateKey!;
        if (ev.Sender == target)
        {
            bool mayLeave = senderMembership is Memberships.Invite or Memberships.Join
                || (senderMembership == Memberships.Knock && ev.RoomVersion.KnockJoinRule);
            return mayLeave
                ? Allow($"{target} leaves (was {senderMembership})")
                : Deny($"{target} cannot leave: not in the room{Describe(senderMembership)}");
        }

        if (senderMembership != Memberships.Join)
        {
            return Deny($"{ev.Sender} cannot kick: not joined to the room{Describe(senderMembership)}");
        }

        var levels = room.PowerLevels;
        long senderLevel = levels.UserLevel(ev.Sender);
        if (room.Membership(target) == Memberships.Ban && senderLevel < levels.Ban)
        {
            return Deny($"sender's power level {senderLevel} is below the ban level {levels.Ban} needed to unban");
        }

        if (senderLevel < levels.Kick)
        {
            return Deny($"sender's power level {senderLevel} is below the kick level {levels.Kick}");
        }

        long targetLevel = levels.UserLevel(target);
        return targetLevel < senderLevel
            ? Allow($"sender's power level {senderLevel} meets the kick level {levels.Kick} and exceeds {target}'s {targetLevel}")
            : Deny($"{target}'s power level {targetLevel} is not below the sender's power level {senderLevel}");
    }

    private static AuthResult CheckBan(Pdu ev, RoomState room, string? senderMembership)
    {
        if (senderMembership != Memberships.Join)
        {
            return Deny($"{ev.Sender} cannot ban: not joined to the room{Describe(senderMembership)}");
        }

        string target = ev.StateKey!;
        var levels = room.PowerLevels;
        long senderLevel = levels.UserLevel(ev.Sender);
        if (senderLevel < levels.Ban)
        {
            return Deny($"sender's power level {senderLevel} is below the ban level {levels.Ban}");
        }

        long targetLevel = levels.UserLevel(target);
        return targetLevel < senderLevel
            ? Allow($"sender's power level {senderLevel} meets the ban level {levels.Ban} and exceeds {target}'s {targetLevel}")
            : Deny($"{target}'s power level {targetLevel} is not below the sender's power level {senderLevel}");
    }

    private static AuthResult CheckKnock(Pdu ev, RoomState room, string? senderMembership)
    {
        string joinRule = room.JoinRule;
        bool knockable = joinRule == Memberships.Knock || (joinRule == KnockRestricted && ev.RoomVersion.KnockRestrictedJoinRule);
        if (!knockable)
        {
            string allowed = ev.RoomVersion.KnockRestrictedJoinRule ? "knock or knock_restricted" : "knock";
            return Deny($"join rule is '{joinRule}': knocking needs {allowed}");
        }

        if (ev.Sender != ev.StateKey)
        {
            return Deny($"{ev.Sender} cannot knock on behalf of {ev.StateKey}");
        }

        return senderMembership is Memberships.Ban or Memberships.Invite or Memberships.Join
            ? Deny($"{ev.Sender} cannot knock: membership is {senderMembership}")
            : Allow($"join rule is {joinRule}");
    }

    private static AuthResult CheckPowerLevels(Pdu ev, RoomState room, long senderLevel)
    {
        var version = ev.RoomVersion;
        if (!PowerLevels.IsValidContent(ev.Content, version, out string? error))
        {
            return Deny(error);
        }

        if (!room.State.TryGetValue(PowerLevelsKey, out var currentEvent))
        {
            return Allow("first m.room.power_levels event of the room");
        }

        var current = PowerLevels.FromContent(currentEvent.Content, version);
        var proposed = PowerLevels.FromContent(ev.Content, version);

        foreach (string key in PowerLevels.LevelKeys)
        {
            long? before = current.ExplicitLevel(key);
            long? after = proposed.ExplicitLevel(key);
            if (before == after)
            {
                continue;
            }

            if (before > senderLevel)
            {
                return Deny($"cannot change '{key}' from {before}: above the sender's power level {senderLevel}");
            }

            if (after > senderLevel)
            {
                return Deny($"cannot set '{key}' to {after}: above the sender's power level {senderLevel}");
            }
        }

        // Spec: v6+ (changed-in v6) checks notifications like events.
        var maps = version.LimitNotificationsPowerLevels
            ? new[] { ("events", current.Events, proposed.Events), ("notifications", current.Notifications, proposed.Notifications) }
            : new[] { ("events", current.Events, proposed.Events) };
        foreach (var (name, before, after) in maps)
        {
            foreach (string key in before.Keys.Union(after.Keys))
            {
                long? old = before.TryGetValue(key, out long o) ? o : null;
                long? updated = after.TryGetValue(key, out long u) ? u : null;
                if (old == updated)
                {
                    continue;
                }

                if (old > senderLevel)
                {
                    return Deny($"cannot change {name} '{key}' from {old}: above the sender's power level {senderLevel}");
                }

                if (updated > senderLevel)
                {
                    return Deny($"cannot set {name} '{key}' to {updated}: above the sender's power level {senderLevel}");
                }
            }
        }

        foreach (string user in current.Users.Keys.Union(proposed.Users.Keys))
        {
            long? old = current.Users.TryGetValue(user, out long o) ? o : null;
            long? updated = proposed.Users.TryGetValue(user, out long u) ? u : null;
            if (old == updated)
            {
                continue;
            }

            if (user != ev.Sender && old >= senderLevel)
            {
                return Deny($"cannot change the power level of {user} ({old}): not below the sender's power level {senderLevel}");
            }

            if (updated > senderLevel)
            {
                return Deny($"cannot give {user} power level {updated}: above the sender's power level {senderLevel}");
            }
        }

        return Allow("power level changes are within the sender's power level");
    }

    // Only v1 and v2 keep the redaction rule; they are also exactly the versions with v1 event IDs.
    // (RoomVersion has no flag of its own for it.)
    private static bool RedactionsInAuthRules(RoomVersion version) => version.EventIdFormat == EventIdFormat.V1;

    private static List<string> PublicKeys(JsonElement content)
    {
        var keys = new List<string>();
        if (content.TryGetProperty("public_key", out var single) && single.ValueKind == JsonValueKind.String)
        {
            keys.Add(single.GetString()!);
        }

        if (content.TryGetProperty("public_keys", out var list) && list.ValueKind == JsonValueKind.Array)
        {
            foreach (var entry in list.EnumerateArray())
            {
                if (entry.ValueKind == JsonValueKind.Object
                    && entry.TryGetProperty("public_key", out var key) && key.ValueKind == JsonValueKind.String)
                {
                    keys.Add(key.GetString()!);
                }
            }
        }

        return keys;
    }

    /// <summary>The server part of a user, room or (v1/v2) event ID: everything after the first colon.</summary>
    private static string Domain(string id)
    {
        int colon = id.IndexOf(':', StringComparison.Ordinal);
        return colon < 0 ? "" : id[(colon + 1)..];
    }

    private static string Describe(string? membership) => membership is null ? "" : $" (membership is {membership})";

    /// <summary>The parts of the auth state the rules read, looked up once.</summary>
    private sealed class RoomState(IReadOnlyDictionary<TypeStateKey, Pdu> state, Pdu create, RoomVersion version)
    {
        private PowerLevels? _powerLevels;

        public IReadOnlyDictionary<TypeStateKey, Pdu> State => state;

        public Pdu Create => create;

        public PowerLevels PowerLevels => _powerLevels ??= Auth.PowerLevels.FromState(state, version);

        /// <summary>
        /// The join rule; "invite" when the room has no join rules event or it names none. The rules do not say;
        /// invite is the reading under which nobody joins uninvited.
        /// </summary>
        public string JoinRule =>
            state.TryGetValue(JoinRulesKey, out var joinRules) && joinRules.ContentString("join_rule") is { } rule ? rule : Memberships.Invite;

        public string? Membership(string userId) =>
            state.TryGetValue(new TypeStateKey(AuthEventTypes.Member, userId), out var member) ? member.ContentString("membership") : null;
    }
}
