using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Synapse.Configuration;

/// <summary>
/// Typed reads from one YAML mapping that remember where each value came from, so that every error names
/// the file and the dotted key path. A key that is absent or set to YAML null counts as not set.
/// </summary>
internal sealed class ConfigSection
{
    private const int MaxEchoedLength = 80;

    private readonly Dictionary<string, Entry> entries = new(StringComparer.Ordinal);
    private readonly List<string> keys = [];
    private readonly string missingFile;

    private ConfigSection(string path, string missingFile)
    {
        Path = path;
        this.missingFile = missingFile;
    }

    /// <summary>The dotted path of this mapping; empty for the top level.</summary>
    public string Path { get; }

    /// <summary>The keys present, in the order they first appeared.</summary>
    public IReadOnlyList<string> Keys => keys;

    /// <summary>A section with no keys, so that reads of an absent optional mapping yield defaults.</summary>
    public static ConfigSection Empty(string file, string path) => new(path, file);

    /// <summary>Wraps one mapping read from <paramref name="file"/>.</summary>
    public static ConfigSection FromMapping(YamlMappingNode mapping, string file, string path)
    {
        var section = Empty(file, path);
        section.Merge(mapping, file);
        return section;
    }

    /// <summary>
    /// Starts the top level of a multi-file configuration; a required key none of the files sets is reported
    /// against <paramref name="allFiles"/>.
    /// </summary>
    public static ConfigSection CreateRoot(string allFiles) => Empty(allFiles, "");

    /// <summary>
    /// Adds the keys of <paramref name="mapping"/>, replacing whole any value an earlier file gave the same key
    /// (Synapse merges multiple <c>--config-path</c> files this way, without deep merging).
    /// </summary>
    public void Merge(YamlMappingNode mapping, string file)
    {
        foreach (var (keyNode, value) in mapping.Children)
        {
            if (keyNode is not YamlScalarNode { Value: { } key } || IsNull(keyNode))
            {
                throw new ConfigurationException(
                    file,
                    Path.Length == 0 ? null : Path,
                    string.Create(CultureInfo.InvariantCulture, $"line {keyNode.Start.Line}: mapping keys must be strings"));
            }

            if (!entries.ContainsKey(key))
            {
                keys.Add(key);
            }

            entries[key] = new Entry(value, file);
        }
    }

    /// <summary>The dotted path of <paramref name="key"/> in this section.</summary>
    public string KeyPath(string key) => Path.Length == 0 ? key : Path + "." + key;

    /// <summary>The file that set <paramref name="key"/>, or the file(s) to blame when it is absent.</summary>
    public string FileOf(string key) => entries.TryGetValue(key, out var entry) ? entry.File : missingFile;

    /// <summary>An error about <paramref name="key"/>, to throw.</summary>
    public ConfigurationException Error(string key, string detail) => new(FileOf(key), KeyPath(key), detail);

    /// <summary>Whether <paramref name="key"/> is present with a non-null value.</summary>
    public bool Has(string key) => TryGet(key, out _);

    /// <summary>The value of <paramref name="key"/>; false when absent or null.</summary>
    public bool TryGet(string key, [NotNullWhen(true)] out YamlNode? node)
    {
        if (entries.TryGetValue(key, out var entry) && !IsNull(entry.Node))
        {
            node = entry.Node;
            return true;
        }

        node = null;
        return false;
    }

    public string? GetString(string key) =>
        TryGet(key, out var node) ? ToText(node, FileOf(key), KeyPath(key), "a string") : null;

    public string RequireString(string key)
    {
        string value = GetString(key) ?? throw Missing(key);
        return value.Length > 0 ? value : throw Error(key, "expected a non-empty string");
    }

    /// <summary>A file path, made absolute against the current directory (as Synapse's <c>abspath</c> does).</summary>
    public string? GetPath(string key)
    {
        string? value = GetString(key);
        if (value is null)
        {
            return null;
        }

        if (value.Length == 0)
        {
            throw Error(key, "expected a file path, got an empty string");
        }

        try
        {
            return System.IO.Path.GetFullPath(value);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new ConfigurationException(FileOf(key), KeyPath(key), $"'{Echo(value)}' is not a valid file path", e);
        }
    }

    public string RequirePath(string key) => GetPath(key) ?? throw Missing(key);

    public bool GetBool(string key, bool defaultValue) =>
        TryGet(key, out var node) ? ToBool(node, FileOf(key), KeyPath(key)) : defaultValue;

    public int GetInt(string key, int defaultValue, int min, int max) =>
        TryGet(key, out var node) ? ToInt(node, FileOf(key), KeyPath(key), min, max) : defaultValue;

    public int RequireInt(string key, int min, int max) =>
        TryGet(key, out var node) ? ToInt(node, FileOf(key), KeyPath(key), min, max) : throw Missing(key);

    /// <summary>A finite number that is at least <paramref name="min"/>, or above it when <paramref name="exclusive"/>.</summary>
    public double GetNumber(string key, double defaultValue, double min, bool exclusive)
    {
        if (!TryGet(key, out var node))
        {
            return defaultValue;
        }

        string bound = string.Create(CultureInfo.InvariantCulture, $"{(exclusive ? "greater than" : "at least")} {min}");
        string text = ToText(node, FileOf(key), KeyPath(key), "a number " + bound);
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value)
            && double.IsFinite(value)
            && (exclusive ? value > min : value >= min))
        {
            return value;
        }

        throw Error(key, $"expected a number {bound}, got '{Echo(text)}'");
    }

    public ConfigSection? GetSection(string key) =>
        TryGet(key, out var node) ? ToSection(node, FileOf(key), KeyPath(key)) : null;

    public ConfigSection RequireSection(string key) => GetSection(key) ?? throw Missing(key);

    /// <summary>A list of mappings, e.g. <c>listeners</c>; elements are addressed as <c>listeners[0]</c>.</summary>
    public IReadOnlyList<ConfigSection>? GetSectionList(string key)
    {
        if (!TryGet(key, out var node))
        {
            return null;
        }

        string file = FileOf(key);
        var items = ToSequence(node, file, KeyPath(key), "a list of mappings");
        var sections = new List<ConfigSection>(items.Count);
        for (int i = 0; i < items.Count; i++)
        {
            sections.Add(ToSection(items[i], file, ElementPath(key, i)));
        }

        return sections;
    }

    public IReadOnlyList<ConfigSection> RequireSectionList(string key) => GetSectionList(key) ?? throw Missing(key);

    /// <summary>A list of non-empty strings, e.g. <c>bind_addresses</c>.</summary>
    public IReadOnlyList<string>? GetStringList(string key)
    {
        if (!TryGet(key, out var node))
        {
            return null;
        }

        string file = FileOf(key);
        var items = ToSequence(node, file, KeyPath(key), "a list of strings");
        var values = new List<string>(items.Count);
        for (int i = 0; i < items.Count; i++)
        {
            string path = ElementPath(key, i);
            string value = IsNull(items[i]) ? "" : ToText(items[i], file, path, "a string");
            values.Add(value.Length > 0 ? value : throw new ConfigurationException(file, path, "expected a non-empty string"));
        }

        return values;
    }

    /// <summary>The text of a scalar, or an error when <paramref name="node"/> is a mapping or list.</summary>
    public static string ToText(YamlNode node, string file, string path, string expected) =>
        node is YamlScalarNode scalar
            ? scalar.Value ?? ""
            : throw new ConfigurationException(file, path, $"expected {expected}, got {Describe(node)}");

    /// <summary>Describes a value for an error message: the scalar itself (shortened), or its kind.</summary>
    public static string Describe(YamlNode node) => node switch
    {
        _ when IsNull(node) => "nothing",
        YamlScalarNode scalar => "'" + Echo(scalar.Value ?? "") + "'",
        YamlMappingNode => "a mapping",
        YamlSequenceNode => "a list",
        _ => "an unsupported value",
    };

    /// <summary>
    /// YAML null: an untagged plain scalar that is empty, <c>~</c> or <c>null</c> (<c>key:</c> with nothing after it),
    /// or one explicitly tagged <c>!!null</c>. A quoted <c>''</c> is an empty string, not null.
    /// </summary>
    public static bool IsNull(YamlNode node)
    {
        if (node is not YamlScalarNode scalar)
        {
            return false;
        }

        if (scalar.Tag.IsGlobal)
        {
            return scalar.Tag.Value == "tag:yaml.org,2002:null";
        }

        return scalar.Style is ScalarStyle.Plain or ScalarStyle.Any
            && scalar.Value is null or "" or "~" or "null" or "Null" or "NULL";
    }

    private static bool ToBool(YamlNode node, string file, string path)
    {
        string text = ToText(node, file, path, "true or false");

        // YAML 1.2 has only true/false; Synapse reads its files with PyYAML (YAML 1.1), which also takes yes/no and on/off.
        if (text.Equals("true", StringComparison.OrdinalIgnoreCase)
            || text.Equals("yes", StringComparison.OrdinalIgnoreCase)
            || text.Equals("on", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        if (text.Equals("false", StringComparison.OrdinalIgnoreCase)
            || text.Equals("no", StringComparison.OrdinalIgnoreCase)
            || text.Equals("off", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        throw new ConfigurationException(file, path, $"expected true or false, got '{Echo(text)}'");
    }

    private static int ToInt(YamlNode node, string file, string path, int min, int max)
    {
        string expected = max == int.MaxValue
            ? string.Create(CultureInfo.InvariantCulture, $"an integer of at least {min}")
            : string.Create(CultureInfo.InvariantCulture, $"an integer between {min} and {max}");
        string text = ToText(node, file, path, expected);
        return int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int value)
            && value >= min && value <= max
            ? value
            : throw new ConfigurationException(file, path, $"expected {expected}, got '{Echo(text)}'");
    }

    private static ConfigSection ToSection(YamlNode node, string file, string path) =>
        node is YamlMappingNode mapping
            ? FromMapping(mapping, file, path)
            : throw new ConfigurationException(file, path, $"expected a mapping, got {Describe(node)}");

    private static IList<YamlNode> ToSequence(YamlNode node, string file, string path, string expected) =>
        node is YamlSequenceNode sequence
            ? sequence.Children
            : throw new ConfigurationException(file, path, $"expected {expected}, got {Describe(node)}");

    private static string Echo(string text) => text.Length <= MaxEchoedLength ? text : text[..MaxEchoedLength] + "...";

    private string ElementPath(string key, int index) =>
        string.Create(CultureInfo.InvariantCulture, $"{KeyPath(key)}[{index}]");

    private ConfigurationException Missing(string key) =>
        Error(key, entries.ContainsKey(key) ? "required key has no value" : "required key is missing");

    private readonly record struct Entry(YamlNode Node, string File);
}
