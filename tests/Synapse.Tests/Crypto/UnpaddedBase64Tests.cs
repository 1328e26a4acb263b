using System.Security.Cryptography;
using System.Text;
using Synapse.Crypto;

namespace Synapse.Tests.Crypto;

public sealed class UnpaddedBase64Tests
{
    // Spec: Appendices, "Unpadded Base64".
    [Theory]
    [InlineData("", "")]
    [InlineData("f", "Zg")]
    [InlineData("fo", "Zm8")]
    [InlineData("foo", "Zm9v")]
    [InlineData("foob", "Zm9vYg")]
    [InlineData("fooba", "Zm9vYmE")]
    [InlineData("foobar", "Zm9vYmFy")]
    public void Encode_SpecExamples_AreUnpadded(string text, string expected)
    {
        Assert.Equal(expected, UnpaddedBase64.Encode(Encoding.ASCII.GetBytes(text)));
        Assert.Equal(text, Encoding.ASCII.GetString(UnpaddedBase64.Decode(expected)));
    }

    [Theory]
    [InlineData("Zg==", "f")]
    [InlineData("Zm8=", "fo")]
    [InlineData("Zm9v", "foo")]
    public void Decode_PaddedInput_IsAccepted(string encoded, string expected) =>
        Assert.Equal(expected, Encoding.ASCII.GetString(UnpaddedBase64.Decode(encoded)));

    [Fact]
    public void EncodeUrlSafe_BytesNeedingCharacters62And63_UsesMinusAndUnderscore()
    {
        byte[] data = [0xFB, 0xFF, 0xBF];

        Assert.Equal("+/+/", UnpaddedBase64.Encode(data));
        Assert.Equal("-_-_", UnpaddedBase64.EncodeUrlSafe(data));
        Assert.Equal(data, UnpaddedBase64.Decode("-_-_"));
        Assert.Equal(data, UnpaddedBase64.Decode("+/+/"));
    }

    [Theory]
    [InlineData("Z")]
    [InlineData("Zm9vY")]
    [InlineData("Zg=")]
    [InlineData("Zm9v=")]
    [InlineData("=")]
    [InlineData("Zm 9v")]
    [InlineData("Zm9v\n")]
    [InlineData("Zm*v")]
    [InlineData("Zé9v")]
    public void TryDecode_Malformed_ReturnsFalse(string encoded)
    {
        Assert.False(UnpaddedBase64.TryDecode(encoded, out _));
        Assert.Throws<FormatException>(() => UnpaddedBase64.Decode(encoded));
    }

    [Fact]
    public void TryDecode_Null_ReturnsFalse() => Assert.False(UnpaddedBase64.TryDecode(null, out _));

    [Fact]
    public void Decode_SpecSeedWithUnusedBitsSet_Decodes32Bytes() =>
        Assert.Equal(32, UnpaddedBase64.Decode("YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1").Length);

    [Fact]
    public void EncodeDecode_EveryLengthUpTo64_RoundTripsInBothAlphabets()
    {
        for (int length = 0; length <= 64; length++)
        {
            byte[] data = RandomNumberGenerator.GetBytes(length);
            string standard = UnpaddedBase64.Encode(data);
            string urlSafe = UnpaddedBase64.EncodeUrlSafe(data);

            Assert.DoesNotContain('=', standard);
            Assert.DoesNotContain('=', urlSafe);
            Assert.Equal(Convert.ToBase64String(data).TrimEnd('='), standard);
            Assert.Equal(data, UnpaddedBase64.Decode(standard));
            Assert.Equal(data, UnpaddedBase64.Decode(urlSafe));
            Assert.Equal(data, UnpaddedBase64.Decode(Convert.ToBase64String(data)));
        }
    }
}
