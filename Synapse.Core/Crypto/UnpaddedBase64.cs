using System.Buffers.Text;
using System.Diagnostics.CodeAnalysis;

namespace Synapse.Crypto;

/// <summary>
/// Unpadded Base64 as Matrix uses it for keys, signatures, hashes and event IDs: RFC 4648 without <c>=</c>
/// padding, in the standard alphabet or the URL-safe one (<c>-</c> and <c>_</c> for 62 and 63).
/// </summary>
/// <remarks>
/// Spec: Appendices, "Unpadded Base64" and "URL-safe unpadded Base64". Decoding is lenient as the spec asks:
/// padding is optional, either alphabet is accepted, and the unused low bits of the last character are
/// ignored (the spec's own test seed has them set).
/// </remarks>
public static class UnpaddedBase64
{
    private static readonly sbyte[] DecodeMap = BuildDecodeMap();

    /// <summary>Encodes with the standard alphabet and no padding.</summary>
    public static string Encode(ReadOnlySpan<byte> data) => Convert.ToBase64String(data).TrimEnd('=');

    /// <summary>Encodes with the URL-safe alphabet and no padding (event IDs in room version 4 and later).</summary>
    public static string EncodeUrlSafe(ReadOnlySpan<byte> data) => Base64Url.EncodeToString(data);

    /// <summary>Decodes standard or URL-safe Base64, padded or not.</summary>
    /// <exception cref="FormatException">The text is not Base64.</exception>
    public static byte[] Decode(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        return TryDecode(value, out var bytes) ? bytes : throw new FormatException("The value is not valid base64.");
    }

    /// <summary>Decodes standard or URL-safe Base64, padded or not; false when <paramref name="value"/> is not Base64.</summary>
    public static bool TryDecode([NotNullWhen(true)] string? value, [NotNullWhen(true)] out byte[]? bytes)
    {
        bytes = null;
        if (value is null)
        {
            return false;
        }

        var text = value.AsSpan();
        if (text.EndsWith("=="))
        {
            text = text[..^2];
        }
        else if (text.EndsWith("="))
        {
            text = text[..^1];
        }

        // Padding, when present, must bring the length to a multiple of four.
        if ((text.Length != value.Length && value.Length % 4 != 0) || text.Length % 4 == 1)
        {
            return false;
        }

        var output = new byte[text.Length * 3 / 4];
        int accumulator = 0, bits = 0, written = 0;
        foreach (char c in text)
        {
            int digit = c < 128 ? DecodeMap[c] : -1;
            if (digit < 0)
            {
                return false;
            }

            accumulator = (accumulator << 6) | digit;
            bits += 6;
            if (bits >= 8)
            {
                bits -= 8;
                output[written++] = (byte)(accumulator >> bits);
                accumulator &= (1 << bits) - 1;
            }
        }

        bytes = output;
        return true;
    }

    private static sbyte[] BuildDecodeMap()
    {
        var map = new sbyte[128];
        Array.Fill(map, (sbyte)-1);
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        for (int i = 0; i < alphabet.Length; i++)
        {
            map[alphabet[i]] = (sbyte)i;
        }

        map['+'] = 62;
        map['/'] = 63;
        map['-'] = 62;
        map['_'] = 63;
        return map;
    }
}
