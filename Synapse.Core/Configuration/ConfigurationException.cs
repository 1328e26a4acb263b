using System.Globalization;

namespace Synapse.Configuration;

/// <summary>
/// A configuration file is missing, unreadable, or holds a wrong or missing value. The message is one line
/// naming the file and the key, e.g.
/// <c>Configuration error in /etc/synapse/homeserver.yaml at 'listeners[0].port': expected an integer between 0 and 65535, got 'abc'</c>.
/// </summary>
public sealed class ConfigurationException : Exception
{
    /// <summary>Creates an exception with a message and no file or key.</summary>
    public ConfigurationException()
        : this("Configuration error.")
    {
    }

    /// <summary>Creates an exception with the given message and no file or key.</summary>
    public ConfigurationException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with the given message and cause, and no file or key.</summary>
    public ConfigurationException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates an exception for a problem at <paramref name="key"/> in <paramref name="file"/>.</summary>
    /// <param name="file">The file the value came from (see <see cref="File"/>).</param>
    /// <param name="key">The dotted key path, or null when the problem is with the file as a whole.</param>
    /// <param name="detail">What is wrong, without the file and key.</param>
    /// <param name="innerException">The underlying cause, if any.</param>
    public ConfigurationException(string? file, string? key, string detail, Exception? innerException = null)
        : base(FormatMessage(file, key, detail), innerException)
    {
        File = file;
        Key = key;
    }

    /// <summary>
    /// The dotted path of the offending key, e.g. <c>database.args.database</c> or <c>listeners[0].port</c>;
    /// null when the file as a whole is at fault (missing, not YAML, not a mapping).
    /// </summary>
    public string? Key { get; }

    /// <summary>
    /// The absolute path of the file the offending value came from. A required top-level key that no file sets
    /// has no single culprit; then this lists every file read, separated by <c>", "</c>.
    /// </summary>
    public string? File { get; }

    private static string FormatMessage(string? file, string? key, string detail)
    {
        string where = file is null ? "" : " in " + file;
        return key is null
            ? string.Create(CultureInfo.InvariantCulture, $"Configuration error{where}: {detail}")
            : string.Create(CultureInfo.InvariantCulture, $"Configuration error{where} at '{key}': {detail}");
    }
}
