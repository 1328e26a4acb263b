using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace Synapse.Identifiers;

/// <summary>A Matrix user ID, <c>@localpart:server_name</c>.</summary>
/// <remarks>Spec: Appendices, "User Identifiers".</remarks>
public readonly record struct UserId
{
    /// <summary>The longest user ID the spec allows, in bytes of UTF-8.</summary>
    public const int MaxLength = 255;

    private UserId(string value, int colon)
    {
        Value = value;
        _colon = colon;
    }

    private readonly int _colon;

    /// <summary>The full ID, e.g. <c>@alice:example.org</c>.</summary>
    public string Value { get; }

    /// <summary>The localpart, e.g. <c>alice</c>.</summary>
    public string Localpart => Value[1.._colon];

    /// <summary>The server name part.</summary>
    public string ServerName => Value[(_colon + 1)..];

    /// <summary>
    /// Parses any user ID a server may encounter, including the historical localparts
    /// (any printable ASCII but ':') that older servers allowed.
    /// </summary>
    public static bool TryParse([NotNullWhen(true)] string? value, out UserId userId)
    {
        userId = default;
        if (value is null || value.Length < 4 || value[0] != '@' || Encoding.UTF8.GetByteCount(value) > MaxLength)
        {
            return false;
        }

        int colon = value.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 1 || !Identifiers.ServerName.TryParse(value[(colon + 1)..], out _))
        {
            return false;
        }

        foreach (char c in value.AsSpan(1, colon - 1))
        {
            if (c is < '\x21' or > '\x7e')
            {
                return false;
            }
        }

        userId = new UserId(value, colon);
        return true;
    }

    /// <summary>Parses a user ID or throws <see cref="FormatException"/>.</summary>
    public static UserId Parse(string value) =>
        TryParse(value, out var id) ? id : throw new FormatException($"'{value}' is not a valid user ID.");

    /// <summary>Builds a user ID from a localpart that has already been validated.</summary>
    public static UserId Create(string localpart, string serverName) =>
        Parse(string.Concat("@", localpart, ":", serverName));

    /// <summary>
    /// Whether <paramref name="localpart"/> may be used for a new registration:
    /// only <c>a-z 0-9 . _ = - / +</c>, and not empty.
    /// </summary>
    public static bool IsValidNewLocalpart(string localpart)
    {
        if (localpart.Length == 0)
        {
            return false;
        }

        foreach (char c in localpart)
        {
            if (!(char.IsAsciiDigit(c) || c is >= 'a' and <= 'z' || c is '.' or '_' or '=' or '-' or '/' or '+'))
            {
                return false;
            }
        }

        return true;
    }

    /// <inheritdoc />
    public override string ToString() => Value;
}
