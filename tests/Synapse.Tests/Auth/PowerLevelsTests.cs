using System.Text.Json;
using Synapse.Auth;
using Synapse.RoomVersions;
using static Synapse.Tests.Auth.TestRoom;
using Versions = Synapse.RoomVersions.KnownRoomVersions;

namespace Synapse.Tests.Auth;

public sealed class PowerLevelsTests
{
    [Fact]
    public void FromContent_Empty_HasSpecDefaults()
    {
        var levels = Parse("{}", Versions.V10);

        Assert.True(levels.FromEvent);
        Assert.Equal(0, levels.UsersDefault);
        Assert.Equal(0, levels.EventsDefault);
        Assert.Equal(50, levels.StateDefault);
        Assert.Equal(50, levels.Ban);
        Assert.Equal(50, levels.Kick);
        Assert.Equal(50, levels.Redact);
        Assert.Equal(0, levels.Invite);
        Assert.Equal(50, levels.NotificationLevel("room"));
        Assert.Equal(0, levels.UserLevel(Alice));
    }

    [Fact]
    public void WithoutEvent_CreatorHas100_StateDefaultStays50()
    {
        var levels = PowerLevels.WithoutEvent(Alice);

        Assert.False(levels.FromEvent);
        Assert.Equal(100, levels.UserLevel(Alice));
        Assert.Equal(0, levels.UserLevel(Bob));
        Assert.Equal(50, levels.EventLevel("m.room.name", isState: true));
        Assert.Equal(0, levels.EventLevel("m.room.message", isState: false));
    }

    [Fact]
    public void FromContent_Values_OverrideDefaults()
    {
        var levels = Parse($$$"""
            {"users": {"{{{Alice}}}": 100}, "users_default": 5, "events": {"m.room.name": 20, "m.reaction": 3},
             "state_default": 60, "events_default": 1, "invite": 10, "notifications": {"room": 20}}
            """, Versions.V10);

        Assert.Equal(100, levels.UserLevel(Alice));
        Assert.Equal(5, levels.UserLevel(Bob));
        Assert.Equal(20, levels.EventLevel("m.room.name", isState: true));
        Assert.Equal(3, levels.EventLevel("m.reaction", isState: false));
        Assert.Equal(60, levels.EventLevel("m.room.topic", isState: true));
        Assert.Equal(1, levels.EventLevel("m.room.message", isState: false));
        Assert.Equal(10, levels.Invite);
        Assert.Equal(20, levels.NotificationLevel("room"));
    }

    [Fact]
    public void FromContent_UnparseableValue_FallsBackToDefault()
    {
        var levels = Parse("""{"ban": "lots", "users": {"@x:a.test": true}}""", Versions.V9);

        Assert.Equal(50, levels.Ban);
        Assert.Empty(levels.Users);
    }

    [Theory]
    [InlineData(Alice, false, "10", 100)]
    [InlineData(Dave, false, "10", 0)]
    [InlineData(Dave, true, "10", 100)]
    [InlineData(Dave, true, "11", 0)]
    [InlineData(Alice, true, "11", 100)]
    [InlineData(Alice, false, "11", 100)]
    public void FromState_NoPowerLevels_CreatorByVersion(string user, bool contentCreatorIsDave, string version, long expected)
    {
        var room = new TestRoom(Versions.Find(version)!).Create(Alice, creator: contentCreatorIsDave ? Dave : Alice);

        Assert.Equal(expected, PowerLevels.FromState(room.State, room.Version).UserLevel(user));
    }

    [Fact]
    public void FromState_PowerLevelsEvent_IsUsed()
    {
        var room = new TestRoom(Versions.V11).Standard();

        var levels = PowerLevels.FromState(room.State, room.Version);

        Assert.True(levels.FromEvent);
        Assert.Equal(100, levels.UserLevel(Alice));
    }

    [Theory]
    [InlineData("50", "10", true, 50)]
    [InlineData("-7", "10", true, -7)]
    [InlineData("\"50\"", "9", true, 50)]
    [InlineData("\"50\"", "10", false, 0)]
    [InlineData("\" +0050 \"", "1", true, 50)]
    [InlineData("\"-50\"", "9", true, -50)]
    [InlineData("\"5 0\"", "9", false, 0)]
    [InlineData("\"50.0\"", "9", false, 0)]
    [InlineData("\"\"", "9", false, 0)]
    [InlineData("\"+-5\"", "9", false, 0)]
    [InlineData("50.9", "5", true, 50)]
    [InlineData("-50.9", "5", true, -50)]
    [InlineData("5.114698E4", "1", true, 51146)]
    [InlineData("50.9", "6", false, 0)]
    [InlineData("9007199254740991", "10", true, 9007199254740991)]
    [InlineData("9007199254740992", "10", false, 0)]
    [InlineData("true", "1", false, 0)]
    [InlineData("null", "1", false, 0)]
    public void TryParseLevel_Value_FollowsVersionRules(string json, string version, bool ok, long expected)
    {
        using var doc = JsonDocument.Parse(json);

        bool parsed = PowerLevels.TryParseLevel(doc.RootElement, Versions.Find(version)!, out long level);

        Assert.Equal(ok, parsed);
        Assert.Equal(expected, level);
    }

    [Theory]
    [InlineData("""{"users": {"@a:a.test": 1}}""", "10", true)]
    [InlineData("""{}""", "10", true)]
    [InlineData("""{"users": {"a": 1}}""", "1", false)]
    [InlineData("""{"users": []}""", "1", false)]
    [InlineData("""{"users": {"@a:a.test": "1"}}""", "9", true)]
    [InlineData("""{"users": {"@a:a.test": "1"}}""", "10", false)]
    [InlineData("""{"kick": "1"}""", "10", false)]
    [InlineData("""{"events": {"m.room.name": "1"}}""", "10", false)]
    [InlineData("""{"events": []}""", "10", false)]
    [InlineData("""{"notifications": {"room": "x"}}""", "5", true)]
    [InlineData("""{"notifications": {"room": "x"}}""", "6", false)]
    [InlineData("""{"notifications": 1}""", "10", false)]
    [InlineData("""[]""", "10", false)]
    public void IsValidContent_Shape_FollowsVersionRules(string json, string version, bool valid)
    {
        using var doc = JsonDocument.Parse(json);

        bool ok = PowerLevels.IsValidContent(doc.RootElement, Versions.Find(version)!, out string? error);

        Assert.Equal(valid, ok);
        Assert.Equal(valid, error is null);
    }

    private static PowerLevels Parse(string json, RoomVersion version)
    {
        using var doc = JsonDocument.Parse(json);
        return PowerLevels.FromContent(doc.RootElement.Clone(), version);
    }
}
