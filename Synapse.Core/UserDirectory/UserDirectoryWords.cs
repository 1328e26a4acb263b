using System.Text.RegularExpressions;

namespace Synapse.UserDirectory;

/// <summary>
/// The words of the user directory: runs of word characters (letters, digits, marks, '_'), lower-cased, so that "José" is
/// found by "JOSÉ" or "jo" and "@alice:example.org" by "alice" or "example". Entries and search terms are split the same
/// way; a term's word matches an entry's word it is a prefix of.
/// </summary>
internal static partial class UserDirectoryWords
{
    /// <summary>Words longer than this are cut: nobody types more, and it bounds the index entries.</summary>
    internal const int MaxWordLength = 64;

    /// <summary>The distinct words of <paramref name="texts"/>, in order of first appearance.</summary>
    public static IReadOnlyList<string> Of(params ReadOnlySpan<string?> texts)
    {
        var words = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (string? text in texts)
        {
            if (string.IsNullOrEmpty(text))
            {
                continue;
            }

            foreach (Match match in WordPattern().Matches(Fold(text)))
            {
                string word = match.Value.Length > MaxWordLength ? match.Value[..MaxWordLength] : match.Value;
                if (seen.Add(word))
                {
                    words.Add(word);
                }
            }
        }

        return words;
    }

    /// <summary>The words an entry is found by: those of its user ID (localpart and server name) and its display name.</summary>
    public static IReadOnlyList<string> OfEntry(string userId, string? displayName) => Of(userId, displayName);

    /// <summary>
    /// Lower-cases. Accents are kept: the server runs in globalization-invariant mode, where strings cannot be decomposed,
    /// and a partial table of our own would fold some scripts and not others.
    /// </summary>
    private static string Fold(string text) => text.ToLowerInvariant();

    [GeneratedRegex(@"\w+", RegexOptions.CultureInvariant)]
    private static partial Regex WordPattern();
}
