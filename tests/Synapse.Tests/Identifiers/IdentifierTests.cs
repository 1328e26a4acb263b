using Synapse.Identifiers;

namespace Synapse.Tests.Identifiers;

public sealed class IdentifierTests
{
    [Theory]
    [InlineData("example.org", true)]
    [InlineData("example.org:8448", true)]
    [InlineData("1.2.3.4", true)]
    [InlineData("[::1]", true)]
    [InlineData("[::1]:8008", true)]
    [InlineData("localhost", true)]
    [InlineData("", false)]
    [InlineData("exa mple.org", false)]
    [InlineData("example.org:", false)]
    [InlineData("example.org:99999", false)]
    [InlineData("[::1", false)]
    [InlineData("[1.2.3.4]", false)]
    public void ServerName_TryParse_FollowsGrammar(string value, bool valid) =>
        Assert.Equal(valid, ServerName.TryParse(value, out _));

    [Theory]
    [InlineData("@alice:example.org", true)]
    [InlineData("@Alice_Historical!:example.org", true)]
    [InlineData("alice:example.org", false)]
    [InlineData("@:example.org", false)]
    [InlineData("@alice", false)]
    [InlineData("@ali ce:example.org", false)]
    [InlineData("@alice:bad host", false)]
    public void UserId_TryParse_AcceptsHistoricalRejectsMalformed(string value, bool valid) =>
        Assert.Equal(valid, UserId.TryParse(value, out _));

    [Fact]
    public void UserId_Parts_AreSplitAtFirstColon()
    {
        var id = UserId.Parse("@alice:example.org:8448");
        Assert.Equal("alice", id.Localpart);
        Assert.Equal("example.org:8448", id.ServerName);
    }

    [Fact]
    public void UserId_LongerThan255Bytes_IsRejected() =>
        Assert.False(UserId.TryParse("@" + new string('a', 250) + ":example.org", out _));

    [Theory]
    [InlineData("alice", true)]
    [InlineData("a.b_c=d-e/f+g", true)]
    [InlineData("Alice", false)]
    [InlineData("al ice", false)]
    [InlineData("al:ice", false)]
    [InlineData("", false)]
    public void UserId_IsValidNewLocalpart_OnlySpecCharacters(string localpart, bool valid) =>
        Assert.Equal(valid, UserId.IsValidNewLocalpart(localpart));

    [Fact]
    public void DeviceId_NewRandom_IsTenUpperCaseLetters()
    {
        var id = DeviceId.NewRandom();
        Assert.Matches("^[A-Z]{10}$", id.Value);
        Assert.NotEqual(id, DeviceId.NewRandom());
    }
}
