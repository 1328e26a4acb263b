using System.Text;
using Synapse.Configuration;
using Synapse.Crypto;
using Synapse.Tests.Configuration;

namespace Synapse.Tests.Crypto;

public sealed class SigningKeyTests : IDisposable
{
    // Spec: Appendices, "Cryptographic Test Vectors", "Signing Key".
    internal const string SpecSeed = "YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1";

    private readonly TempDirectory temp = new();

    public void Dispose() => temp.Dispose();

    internal static SigningKey SpecKey() => SigningKey.FromSeed("1", UnpaddedBase64.Decode(SpecSeed));

    [Fact]
    public void FromSeed_SpecSeed_HasKeyIdAndPublicKey()
    {
        using var key = SpecKey();

        Assert.Equal("ed25519:1", key.KeyId);
        Assert.Equal("1", key.Version);
        Assert.Equal(32, key.PublicKeyBytes.Length);
        Assert.Equal(UnpaddedBase64.Encode(key.PublicKeyBytes), key.PublicKey);

        // Worked out independently with OpenSSL (Python "cryptography"); the spec does not list it.
        Assert.Equal("XGX0JRS2Af3be3knz2fBiRbApjm2Dh61gXDJA8kcJNI", key.PublicKey);
    }

    [Fact]
    public void SignVerify_RoundTrip_Succeeds()
    {
        using var key = SpecKey();
        byte[] data = Encoding.UTF8.GetBytes("hello");

        byte[] signature = key.Sign(data);

        Assert.Equal(64, signature.Length);
        Assert.True(SigningKey.Verify(key.PublicKeyBytes, data, signature));
    }

    [Fact]
    public void Verify_TamperedDataSignatureOrKey_Fails()
    {
        using var key = SpecKey();
        using var other = SigningKey.FromSeed("2", new byte[32]);
        byte[] data = Encoding.UTF8.GetBytes("hello");
        byte[] signature = key.Sign(data);
        byte[] flipped = (byte[])signature.Clone();
        flipped[10] ^= 1;

        Assert.False(SigningKey.Verify(key.PublicKeyBytes, Encoding.UTF8.GetBytes("hellp"), signature));
        Assert.False(SigningKey.Verify(key.PublicKeyBytes, data, flipped));
        Assert.False(SigningKey.Verify(other.PublicKeyBytes, data, signature));
        Assert.False(SigningKey.Verify(key.PublicKeyBytes, data, signature.AsSpan(0, 63)));
        Assert.False(SigningKey.Verify(key.PublicKeyBytes[..31], data, signature));
    }

    [Fact]
    public void Sign_AfterDispose_Throws()
    {
        var key = SpecKey();
        key.Dispose();

        Assert.Throws<ObjectDisposedException>(() => key.Sign([1, 2, 3]));
    }

    [Fact]
    public void FromSeed_BadVersionOrSeed_Throws()
    {
        Assert.Throws<ArgumentException>(() => SigningKey.FromSeed("a-b", new byte[32]));
        Assert.Throws<ArgumentException>(() => SigningKey.FromSeed("", new byte[32]));
        Assert.Throws<ArgumentException>(() => SigningKey.FromSeed("a", new byte[31]));
    }

    [Fact]
    public void Load_MultipleLines_FirstIsActive()
    {
        string path = temp.Write("signing.key", $"ed25519 a_AbCd {SpecSeed}\r\n\ned25519 old_1 {new string('A', 43)}\n");

        using var active = SigningKey.Load(path);
        var all = SigningKey.LoadAll(path);
        try
        {
            Assert.Equal("ed25519:a_AbCd", active.KeyId);
            using var spec = SpecKey();
            Assert.Equal(spec.PublicKey, active.PublicKey);
            Assert.Equal(["ed25519:a_AbCd", "ed25519:old_1"], all.Select(k => k.KeyId));
        }
        finally
        {
            foreach (var key in all)
            {
                key.Dispose();
            }
        }
    }

    [Fact]
    public void Load_FileFromSigningKeyFileGenerate_Loads()
    {
        string path = temp.Combine("generated.key");
        Assert.True(SigningKeyFile.Generate(path));

        using var key = SigningKey.Load(path);

        Assert.Matches("^ed25519:a_[A-Za-z0-9]{4}$", key.KeyId);
    }

    [Theory]
    [InlineData("", "has no key")]
    [InlineData("\n  \n", "has no key")]
    [InlineData("ed25519 a_1", "line 1")]
    [InlineData("ed25519 a_1 " + SpecSeed + " extra", "line 1")]
    [InlineData("ed25519 a_1 " + SpecSeed + "\nrsa a_2 " + SpecSeed, "line 2: unsupported key algorithm 'rsa'")]
    [InlineData("ed25519 a-1 " + SpecSeed, "key version 'a-1'")]
    [InlineData("ed25519 a_1 not*base64", "32-byte seed")]
    [InlineData("ed25519 a_1 AAAA", "32-byte seed")]
    public void Load_BadFile_ThrowsFormatExceptionNamingTheProblem(string contents, string expectedMessagePart)
    {
        string path = temp.Write("bad.key", contents);

        var error = Assert.Throws<FormatException>(() => SigningKey.Load(path));

        Assert.Contains(expectedMessagePart, error.Message, StringComparison.Ordinal);
        Assert.Contains(path, error.Message, StringComparison.Ordinal);
    }
}
