using System.Buffers;
using System.Text;
using System.Text.Json;

namespace Synapse.Json;

/// <summary>
/// Canonical JSON: object keys sorted by Unicode code point, no insignificant whitespace, UTF-8,
/// minimal string escaping, integers only within [-(2^53)+1, 2^53-1].
/// </summary>
/// <remarks>Spec: Appendices, "Canonical JSON". Hashes and signatures are computed over this form.</remarks>
public static class CanonicalJson
{
    /// <summary>The largest integer canonical JSON allows (2^53 - 1).</summary>
    public const long MaxSafeInteger = 9007199254740991;

    /// <summary>The smallest integer canonical JSON allows (-(2^53) + 1).</summary>
    public const long MinSafeInteger = -9007199254740991;

    private static readonly byte[] HexDigits = "0123456789abcdef"u8.ToArray();

    /// <summary>Encodes <paramref name="value"/> as canonical JSON bytes.</summary>
    /// <param name="value">Any JSON value.</param>
    /// <param name="strict">
    /// Room versions 6 and later: a number that is not an integer in the safe range is an error. Lenient mode
    /// (older rooms) copies such numbers as written.
    /// </param>
    /// <exception cref="CanonicalJsonException">A number outside the rules, in strict mode.</exception>
    public static byte[] Encode(JsonElement value, bool strict = true)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        Write(buffer, value, strict);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Encodes to a string (tests, logs); hashing should use <see cref="Encode"/>.</summary>
    public static string EncodeToString(JsonElement value, bool strict = true) => Encoding.UTF8.GetString(Encode(value, strict));

    /// <summary>Writes <paramref name="value"/> as canonical JSON to <paramref name="output"/>.</summary>
    public static void Write(IBufferWriter<byte> output, JsonElement value, bool strict = true)
    {
        ArgumentNullException.ThrowIfNull(output);
        switch (value.ValueKind)
        {
            case JsonValueKind.Object:
                WriteObject(output, value, strict);
                break;
            case JsonValueKind.Array:
                output.Write("["u8);
                bool first = true;
                foreach (var item in value.EnumerateArray())
                {
                    if (!first)
                    {
                        output.Write(","u8);
                    }

                    first = false;
                    Write(output, item, strict);
                }

                output.Write("]"u8);
                break;
            case JsonValueKind.String:
                WriteString(output, value.GetString()!);
                break;
            case JsonValueKind.Number:
                WriteNumber(output, value, strict);
                break;
            case JsonValueKind.True:
                output.Write("true"u8);
                break;
            case JsonValueKind.False:
                output.Write("false"u8);
                break;
            case JsonValueKind.Null:
                output.Write("null"u8);
                break;
            default:
                throw new CanonicalJsonException($"Cannot encode a JSON value of kind {value.ValueKind}.");
        }
    }

    /// <summary>True when every number in <paramref name="value"/> is an integer in the canonical range.</summary>
    public static bool HasOnlySafeIntegers(JsonElement value)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var property in value.EnumerateObject())
                {
                    if (!HasOnlySafeIntegers(property.Value))
                    {
                        return false;
                    }
                }

                return true;
            case JsonValueKind.Array:
                foreach (var item in value.EnumerateArray())
                {
                    if (!HasOnlySafeIntegers(item))
                    {
                        return false;
                    }
                }

                return true;
            case JsonValueKind.Number:
                return value.TryGetInt64(out long n) && n is >= MinSafeInteger and <= MaxSafeInteger && IsPlainInteger(value);
            default:
                return true;
        }
    }

    /// <summary>Orders strings by Unicode code point (UTF-16 ordinal order differs above U+D7FF).</summary>
    public static int CompareCodePoints(string a, string b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        int i = 0, j = 0;
        while (i < a.Length && j < b.Length)
        {
            Rune.DecodeFromUtf16(a.AsSpan(i), out var ra, out int la);
            Rune.DecodeFromUtf16(b.AsSpan(j), out var rb, out int lb);
            if (ra.Value != rb.Value)
            {
                return ra.Value.CompareTo(rb.Value);
            }

            i += la;
            j += lb;
        }

        return (a.Length - i).CompareTo(b.Length - j);
    }

    private static void WriteObject(IBufferWriter<byte> output, JsonElement value, bool strict)
    {
        int count = 0;
        foreach (var _ in value.EnumerateObject())
        {
            count++;
        }

        var properties = ArrayPool<JsonProperty>.Shared.Rent(count);
        try
        {
            int n = 0;
            foreach (var property in value.EnumerateObject())
            {
                properties[n++] = property;
            }

            var span = properties.AsSpan(0, n);
            span.Sort(static (x, y) => CompareCodePoints(x.Name, y.Name));
            output.Write("{"u8);
            for (int i = 0; i < span.Length; i++)
            {
                if (i > 0)
                {
                    if (span[i].Name == span[i - 1].Name)
                    {
                        throw new CanonicalJsonException($"Duplicate key '{span[i].Name}'.");
                    }

                    output.Write(","u8);
                }

                WriteString(output, span[i].Name);
                output.Write(":"u8);
                Write(output, span[i].Value, strict);
            }

            output.Write("}"u8);
        }
        finally
        {
            ArrayPool<JsonProperty>.Shared.Return(properties, clearArray: true);
        }
    }

    private static void WriteNumber(IBufferWriter<byte> output, JsonElement value, bool strict)
    {
        // Spec example: {"a": -0, "b": 1e10} encodes as {"a":0,"b":10000000000}. A whole number in range is
        // written as a plain integer whatever its notation.
        if (TryGetSafeInteger(value, out long n))
        {
            Span<byte> digits = stackalloc byte[20];
            n.TryFormat(digits, out int written, default, System.Globalization.CultureInfo.InvariantCulture);
            output.Write(digits[..written]);
            return;
        }

        if (strict)
        {
            throw new CanonicalJsonException($"'{value.GetRawText()}' is not an integer between -(2^53)+1 and 2^53-1.");
        }

        output.Write(Encoding.UTF8.GetBytes(value.GetRawText()));
    }

    private static bool TryGetSafeInteger(JsonElement value, out long n)
    {
        if (value.TryGetInt64(out n))
        {
            return n is >= MinSafeInteger and <= MaxSafeInteger;
        }

        if (value.TryGetDouble(out double d) && Math.Floor(d) == d && d is >= MinSafeInteger and <= MaxSafeInteger)
        {
            n = (long)d;
            return true;
        }

        n = 0;
        return false;
    }

    // What a JSON parser that distinguishes ints from floats (as the reference implementation's does) reads as
    // an integer: no fraction, no exponent. Room versions 6+ reject everything else.
    private static bool IsPlainInteger(JsonElement value)
    {
        string raw = value.GetRawText();
        foreach (char c in raw)
        {
            if (c is '.' or 'e' or 'E')
            {
                return false;
            }
        }

        return true;
    }

    private static void WriteString(IBufferWriter<byte> output, string value)
    {
        int max = Encoding.UTF8.GetMaxByteCount(value.Length) + 2;
        Span<byte> span = output.GetSpan(max + (value.Length * 5));
        int pos = 0;
        span[pos++] = (byte)'"';
        foreach (var rune in value.EnumerateRunes())
        {
            int c = rune.Value;
            switch (c)
            {
                case '"': span[pos++] = (byte)'\\'; span[pos++] = (byte)'"'; break;
                case '\\': span[pos++] = (byte)'\\'; span[pos++] = (byte)'\\'; break;
                case '\b': span[pos++] = (byte)'\\'; span[pos++] = (byte)'b'; break;
                case '\f': span[pos++] = (byte)'\\'; span[pos++] = (byte)'f'; break;
                case '\n': span[pos++] = (byte)'\\'; span[pos++] = (byte)'n'; break;
                case '\r': span[pos++] = (byte)'\\'; span[pos++] = (byte)'r'; break;
                case '\t': span[pos++] = (byte)'\\'; span[pos++] = (byte)'t'; break;
                default:
                    if (c < 0x20)
                    {
                        span[pos++] = (byte)'\\';
                        span[pos++] = (byte)'u';
                        span[pos++] = (byte)'0';
                        span[pos++] = (byte)'0';
                        span[pos++] = HexDigits[c >> 4];
                        span[pos++] = HexDigits[c & 0xF];
                    }
                    else
                    {
                        pos += rune.EncodeToUtf8(span[pos..]);
                    }

                    break;
            }
        }

        span[pos++] = (byte)'"';
        output.Advance(pos);
    }
}

/// <summary>A value cannot be represented in canonical JSON.</summary>
public sealed class CanonicalJsonException : Exception
{
    /// <summary>Creates the error.</summary>
    public CanonicalJsonException()
    {
    }

    /// <summary>Creates the error.</summary>
    public CanonicalJsonException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the error.</summary>
    public CanonicalJsonException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
