using System.Text.Json;
using Synapse.Auth;
using Synapse.Events;
using Synapse.RoomVersions;
using Versions = Synapse.RoomVersions.KnownRoomVersions;

namespace Synapse.Tests.Auth;

public sealed class AuthEventSelectionTests
{
    private const string Alice = "@alice:a.test";
    private const string Bob = "@bob:b.test";
    private const string Carol = "@carol:c.test";

    /// <summary>description, type, state key, sender, content, version, expected keys as "type|state_key".</summary>
    public static TheoryData<string, string, string?, string, string, string, string[]> Cases => new()
    {
        { "create has none", "m.room.create", "", Alice, "{}", "10", [] },
        { "message: create, power levels, sender", "m.room.message", null, Bob, "{}", "10",
            ["m.room.create|", "m.room.power_levels|", $"m.room.member|{Bob}"] },
        { "state event: same as a message", "m.room.name", "", Bob, "{}", "1",
            ["m.room.create|", "m.room.power_levels|", $"m.room.member|{Bob}"] },
        { "own join: target is the sender, join rules", "m.room.member", Bob, Bob, """{"membership": "join"}""", "10",
            ["m.room.create|", "m.room.power_levels|", $"m.room.member|{Bob}", "m.room.join_rules|"] },
        { "invite: target and join rules", "m.room.member", Carol, Bob, """{"membership": "invite"}""", "10",
            ["m.room.create|", "m.room.power_levels|", $"m.room.member|{Bob}", $"m.room.member|{Carol}", "m.room.join_rules|"] },
        { "knock: join rules", "m.room.member", Bob, Bob, """{"membership": "knock"}""", "7",
            ["m.room.create|", "m.room.power_levels|", $"m.room.member|{Bob}", "m.room.join_rules|"] },
        { "leave: no join rules", "m.room.member", Carol, Bob, """{"membership": "leave"}""", "10",
            ["m.room.create|", "m.room.power_levels|", $"m.room.member|{Bob}", $"m.room.member|{Carol}"] },
        { "ban: no join rules", "m.room.member", Carol, Bob, """{"membership": "ban"}""", "10",
            ["m.room.create|", "m.room.power_levels|", $"m.room.member|{Bob}", $"m.room.member|{Carol}"] },
        { "third-party invite: the invite event for the token", "m.room.member", Carol, Bob,
            $$$"""{"membership": "invite", "third_party_invite": {"signed": {"mxid": "{{{Carol}}}", "token": "tok"} } }""", "10",
            ["m.room.create|", "m.room.power_levels|", $"m.room.member|{Bob}", $"m.room.member|{Carol}", "m.room.join_rules|", "m.room.third_party_invite|tok"] },
        { "third-party invite without signed.token", "m.room.member", Carol, Bob,
            """{"membership": "invite", "third_party_invite": {"display_name": "x"}}""", "10",
            ["m.room.create|", "m.room.power_levels|", $"m.room.member|{Bob}", $"m.room.member|{Carol}", "m.room.join_rules|"] },
        { "restricted join v8: the authorising user's membership", "m.room.member", Bob, Bob,
            $$$"""{"membership": "join", "join_authorised_via_users_server": "{{{Alice}}}"}""", "8",
            ["m.room.create|", "m.room.power_levels|", $"m.room.member|{Bob}", "m.room.join_rules|", $"m.room.member|{Alice}"] },
        { "restricted join v7: authoriser not selected", "m.room.member", Bob, Bob,
            $$$"""{"membership": "join", "join_authorised_via_users_server": "{{{Alice}}}"}""", "7",
            ["m.room.create|", "m.room.power_levels|", $"m.room.member|{Bob}", "m.room.join_rules|"] },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Required_Event_SelectsSpecEntries(string description, string type, string? stateKey, string sender, string content, string version, string[] expected)
    {
        using var doc = JsonDocument.Parse(content);

        var keys = AuthEventSelection.Required(type, stateKey, sender, doc.RootElement, Versions.Find(version)!).ToList();

        Assert.True(expected.Length == keys.Count, $"{description}: got {string.Join(", ", keys)}");
        Assert.Equal(expected.Select(Parse).ToHashSet(), keys.ToHashSet());
    }

    private static TypeStateKey Parse(string key) => new(key[..key.IndexOf('|', StringComparison.Ordinal)], key[(key.IndexOf('|', StringComparison.Ordinal) + 1)..]);
}
