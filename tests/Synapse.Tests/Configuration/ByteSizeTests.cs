using Synapse.Configuration;

namespace Synapse.Tests.Configuration;

public sealed class ByteSizeTests
{
    [Theory]
    [InlineData("1024", 1024L)]
    [InlineData("512K", 512L * 1024)]
    [InlineData("50M", 50L * 1024 * 1024)]
    [InlineData("1G", 1024L * 1024 * 1024)]
    [InlineData("10m", 10L * 1024 * 1024)]
    [InlineData("0", 0L)]
    public void TryParse_ValidSize_ReturnsBytes(string text, long expected)
    {
        Assert.True(ByteSize.TryParse(text, out long bytes));
        Assert.Equal(expected, bytes);
    }

    [Theory]
    [InlineData("")]
    [InlineData("M")]
    [InlineData("50X")]
    [InlineData("-5")]
    [InlineData("1.5M")]
    [InlineData("50 M")]
    [InlineData("99999999999999999999")]
    [InlineData("9999999999999G")]
    public void TryParse_InvalidSize_ReturnsFalse(string text)
    {
        Assert.False(ByteSize.TryParse(text, out _));
    }
}
