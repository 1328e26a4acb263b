using System.Globalization;

namespace Synapse.Configuration;

/// <summary>Synapse's size notation: a byte count, optionally followed by K, M or G (powers of 1024).</summary>
internal static class ByteSize
{
    /// <summary>Parses <c>1024</c>, <c>512K</c>, <c>50M</c> or <c>1G</c>; false on anything else or on overflow.</summary>
    public static bool TryParse(string text, out long bytes)
    {
        bytes = 0;
        if (text.Length == 0)
        {
            return false;
        }

        long multiplier = char.ToUpperInvariant(text[^1]) switch
        {
            'K' => 1024L,
            'M' => 1024L * 1024,
            'G' => 1024L * 1024 * 1024,
            _ => 1,
        };
        ReadOnlySpan<char> digits = multiplier == 1 ? text : text.AsSpan(0, text.Length - 1);
        if (digits.IsEmpty || !long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out long count))
        {
            return false;
        }

        if (count > long.MaxValue / multiplier)
        {
            return false;
        }

        bytes = count * multiplier;
        return true;
    }
}
