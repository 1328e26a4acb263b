using System.Diagnostics.CodeAnalysis;
using System.Net;

namespace Synapse.Identifiers;

/// <summary>
/// A Matrix server name: a DNS name, IPv4 literal or bracketed IPv6 literal, with an optional port.
/// </summary>
/// <remarks>Spec: Appendices, "Server Name".</remarks>
public readonly record struct ServerName
{
    private ServerName(string value) => Value = value;

    /// <summary>The server name as written, e.g. <c>matrix.org</c> or <c>[::1]:8448</c>.</summary>
    public string Value { get; }

    /// <summary>Parses a server name, returning false when it does not follow the grammar.</summary>
    public static bool TryParse([NotNullWhen(true)] string? value, out ServerName serverName)
    {
        serverName = default;
        if (string.IsNullOrEmpty(value) || value.Length > 255)
        {
            return false;
        }

        string host = value;
        if (value.StartsWith('['))
        {
            int close = value.IndexOf(']', StringComparison.Ordinal);
            if (close < 0 || !IPAddress.TryParse(value.AsSpan(1, close - 1), out var v6)
                || v6.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
            {
                return false;
            }

            string rest = value[(close + 1)..];
            if (rest.Length > 0 && !IsPort(rest))
            {
                return false;
            }
        }
        else
        {
            int colon = value.LastIndexOf(':');
            if (colon >= 0)
            {
                if (!IsPort(value[colon..]))
                {
                    return false;
                }

                host = value[..colon];
            }

            if (!IsDnsNameOrIpv4(host))
            {
                return false;
            }
        }

        serverName = new ServerName(value);
        return true;
    }

    /// <summary>Parses a server name or throws <see cref="FormatException"/>.</summary>
    public static ServerName Parse(string value) =>
        TryParse(value, out var name) ? name : throw new FormatException($"'{value}' is not a valid server name.");

    /// <inheritdoc />
    public override string ToString() => Value;

    private static bool IsPort(string colonAndDigits)
    {
        // ":" followed by 1-5 digits.
        if (colonAndDigits.Length is < 2 or > 6 || colonAndDigits[0] != ':')
        {
            return false;
        }

        foreach (char c in colonAndDigits.AsSpan(1))
        {
            if (!char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        return int.Parse(colonAndDigits.AsSpan(1), System.Globalization.CultureInfo.InvariantCulture) <= 65535;
    }

    private static bool IsDnsNameOrIpv4(string host)
    {
        if (host.Length == 0)
        {
            return false;
        }

        foreach (char c in host)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '.'))
            {
                return false;
            }
        }

        return true;
    }
}
