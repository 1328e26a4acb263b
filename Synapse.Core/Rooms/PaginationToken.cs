using System.Globalization;
using Synapse.Storage;

namespace Synapse.Rooms;

/// <summary>
/// Room pagination tokens: <c>t{depth}_{stream}</c> names a boundary in topological order (events at or after
/// it are "after"); <c>s{stream}</c> is a stream position, as <c>/sync</c> hands out in <c>prev_batch</c>.
/// </summary>
internal static class PaginationToken
{
    public static string Format(TopologicalPosition position) =>
        string.Create(CultureInfo.InvariantCulture, $"t{position.Depth}_{position.StreamOrdering}");

    /// <summary>Parses a token; a stream token is turned into a boundary by <paramref name="atStream"/>.</summary>
    public static async Task<TopologicalPosition> ParseAsync(string token, Func<long, Task<TopologicalPosition>> atStream)
    {
        if (token.Length > 1 && token[0] == 't')
        {
            int underscore = token.IndexOf('_', StringComparison.Ordinal);
            if (underscore > 1
                && long.TryParse(token.AsSpan(1, underscore - 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long depth)
                && long.TryParse(token.AsSpan(underscore + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long stream))
            {
                return new TopologicalPosition(depth, stream);
            }
        }
        else if (token.Length > 1 && token[0] == 's')
        {
            // A whole sync token (s{events}_{typing}_...) is accepted too: clients pass next_batch here.
            int end = token.IndexOf('_', StringComparison.Ordinal);
            if (long.TryParse(token.AsSpan(1, (end < 0 ? token.Length : end) - 1), NumberStyles.None, CultureInfo.InvariantCulture, out long stream))
            {
                return await atStream(stream).ConfigureAwait(false);
            }
        }

        throw MatrixException.InvalidParam($"Invalid pagination token '{token}'");
    }
}
