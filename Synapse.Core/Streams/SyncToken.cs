using System.Globalization;
using System.Text;

namespace Synapse.Streams;

/// <summary>
/// A sync token: the position of every token stream (<see cref="StreamRegistry.TokenStreams"/>), written
/// <c>s{events}_{typing}_{receipts}_{presence}_{account_data}_{to_device}_{device_lists}_{push_rules}</c>.
/// Opaque to clients; stable across restarts for the streams kept in the database.
/// </summary>
public sealed class SyncToken
{
    private readonly long[] _positions;

    /// <summary>Wraps positions in token order.</summary>
    public SyncToken(long[] positions)
    {
        ArgumentNullException.ThrowIfNull(positions);
        if (positions.Length != StreamRegistry.TokenStreams.Count)
        {
            throw new ArgumentException("One position per token stream is required.", nameof(positions));
        }

        _positions = positions;
    }

    /// <summary>The position of a token stream.</summary>
    public long this[string stream]
    {
        get
        {
            for (int i = 0; i < StreamRegistry.TokenStreams.Count; i++)
            {
                if (StreamRegistry.TokenStreams[i] == stream)
                {
                    return _positions[i];
                }
            }

            throw new ArgumentException($"{stream} is not part of the sync token.", nameof(stream));
        }
    }

    /// <summary>Parses a token; 400 <c>M_INVALID_PARAM</c> when malformed.</summary>
    public static SyncToken Parse(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        var positions = new long[StreamRegistry.TokenStreams.Count];
        var parts = token.Length > 1 && token[0] == 's' ? token[1..].Split('_') : [];

        // Fewer parts than streams: a token from an older release; the missing streams start at 0.
        if (parts.Length == 0 || parts.Length > positions.Length)
        {
            throw InvalidToken(token);
        }

        for (int i = 0; i < parts.Length; i++)
        {
            if (!long.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out positions[i]))
            {
                throw InvalidToken(token);
            }
        }

        return new SyncToken(positions);
    }

    /// <summary>True when every position equals <paramref name="other"/>'s.</summary>
    public bool SameAs(SyncToken other) => other is not null && _positions.AsSpan().SequenceEqual(other._positions);

    /// <inheritdoc />
    public override string ToString()
    {
        var text = new StringBuilder("s");
        for (int i = 0; i < _positions.Length; i++)
        {
            if (i > 0)
            {
                text.Append('_');
            }

            text.Append(_positions[i].ToString(CultureInfo.InvariantCulture));
        }

        return text.ToString();
    }

    private static MatrixException InvalidToken(string token) => MatrixException.InvalidParam($"Invalid sync token '{token}'");
}
