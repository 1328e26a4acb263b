using System.Text.Json;
using Synapse.Events;
using Synapse.RoomVersions;

namespace Synapse.Auth;

/// <summary>
/// Which state entries are the auth events of an event: the keys to look up in the room state before it.
/// Entries absent from the state are simply left out ("if any").
/// </summary>
/// <remarks>Spec: Server-Server API, "Auth events selection".</remarks>
public static class AuthEventSelection
{
    /// <summary>
    /// The (type, state_key) pairs whose current events are the auth events of a new event: none for
    /// <c>m.room.create</c>; otherwise the create event, the power levels and the sender's membership; for
    /// <c>m.room.member</c> also the target's membership, the join rules (for join, invite and knock), the
    /// <c>m.room.third_party_invite</c> named by <c>content.third_party_invite.signed.token</c> (for invites) and,
    /// from v8, the membership of <c>content.join_authorised_via_users_server</c> (for joins).
    /// Each pair appears once.
    /// </summary>
    public static IEnumerable<TypeStateKey> Required(string type, string? stateKey, string sender, JsonElement content, RoomVersion version)
    {
        ArgumentNullException.ThrowIfNull(type);
        ArgumentNullException.ThrowIfNull(sender);
        ArgumentNullException.ThrowIfNull(version);
        if (type == AuthEventTypes.Create && stateKey == "")
        {
            return [];
        }

        var keys = new List<TypeStateKey>(6)
        {
            new(AuthEventTypes.Create, ""),
            new(AuthEventTypes.PowerLevels, ""),
            new(AuthEventTypes.Member, sender),
        };

        if (type == AuthEventTypes.Member && stateKey is not null && content.ValueKind == JsonValueKind.Object)
        {
            AddOnce(keys, new TypeStateKey(AuthEventTypes.Member, stateKey));
            string? membership = StringProperty(content, "membership");
            if (membership is Memberships.Join or Memberships.Invite or Memberships.Knock)
            {
                keys.Add(new TypeStateKey(AuthEventTypes.JoinRules, ""));
            }

            if (membership == Memberships.Invite
                && content.TryGetProperty("third_party_invite", out var thirdParty)
                && thirdParty.ValueKind == JsonValueKind.Object
                && thirdParty.TryGetProperty("signed", out var signed)
                && StringProperty(signed, "token") is { } token)
            {
                keys.Add(new TypeStateKey(AuthEventTypes.ThirdPartyInvite, token));
            }

            if (membership == Memberships.Join && version.RestrictedJoinRule
                && StringProperty(content, "join_authorised_via_users_server") is { } authoriser)
            {
                AddOnce(keys, new TypeStateKey(AuthEventTypes.Member, authoriser));
            }
        }

        return keys;
    }

    /// <summary>The auth event keys of an existing event.</summary>
    internal static IEnumerable<TypeStateKey> Required(Pdu ev) => Required(ev.Type, ev.StateKey, ev.Sender, ev.Content, ev.RoomVersion);

    private static void AddOnce(List<TypeStateKey> keys, TypeStateKey key)
    {
        if (!keys.Contains(key))
        {
            keys.Add(key);
        }
    }

    private static string? StringProperty(JsonElement obj, string name) =>
        obj.ValueKind == JsonValueKind.Object && obj.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String
            ? value.GetString()
            : null;
}
