namespace Synapse.Auth;

/// <summary>The event types and membership values the authorisation rules name.</summary>
internal static class AuthEventTypes
{
    public const string Create = "m.room.create";
    public const string Member = "m.room.member";
    public const string JoinRules = "m.room.join_rules";
    public const string PowerLevels = "m.room.power_levels";
    public const string ThirdPartyInvite = "m.room.third_party_invite";
    public const string Aliases = "m.room.aliases";
    public const string Redaction = "m.room.redaction";
}

/// <summary><c>membership</c> and <c>join_rule</c> values.</summary>
internal static class Memberships
{
    public const string Join = "join";
    public const string Invite = "invite";
    public const string Leave = "leave";
    public const string Ban = "ban";
    public const string Knock = "knock";
}
