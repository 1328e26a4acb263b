using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using Synapse.Identifiers;

namespace Synapse.Accounts;

/// <summary>Access token generation and the hash under which a token is stored.</summary>
internal static class AccessTokens
{
    /// <summary>
    /// <c>syt_&lt;base64url localpart&gt;_&lt;32 random bytes, base64url&gt;</c>: the prefix lets secret
    /// scanners recognise a leaked token, the localpart helps an operator tell whose it is.
    /// </summary>
    public static string Generate(UserId userId)
    {
        Span<byte> random = stackalloc byte[32];
        RandomNumberGenerator.Fill(random);
        return string.Concat("syt_", Base64Url.EncodeToString(Encoding.UTF8.GetBytes(userId.Localpart)), "_",
            Base64Url.EncodeToString(random));
    }

    /// <summary>SHA-256 of the token, hex: the database never holds a usable token.</summary>
    public static string Hash(string token)
    {
        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(token), digest);
        return Convert.ToHexStringLower(digest);
    }
}
