using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Synapse.LoadTest;

/// <summary>What a run measured: figures in order, with units, and the correctness failures it found.</summary>
internal sealed class Report(string scenario, SortedDictionary<string, object> parameters)
{
    private readonly List<(string Key, double Value, string Unit)> _figures = [];
    private readonly List<string> _failures = [];

    public string Scenario { get; } = scenario;

    public IReadOnlyList<string> Failures => _failures;

    /// <summary>Why the run stopped early, if it did.</summary>
    public string? StoppedBy { get; set; }

    public void Add(string key, double value, string unit = "")
    {
        lock (_figures)
        {
            _figures.Add((key, value, unit));
        }
    }

    /// <summary>Adds p50/p95/p99/max of <paramref name="latencies"/> as <c>{key}_p50_ms</c> and so on.</summary>
    public void AddLatencies(string key, Latencies latencies, bool withP95 = true)
    {
        Add($"{key}_p50_ms", latencies.Percentile(0.50), "ms");
        if (withP95)
        {
            Add($"{key}_p95_ms", latencies.Percentile(0.95), "ms");
        }

        Add($"{key}_p99_ms", latencies.Percentile(0.99), "ms");
        Add($"{key}_max_ms", latencies.Max, "ms");
    }

    public void Fail(string failure)
    {
        lock (_failures)
        {
            _failures.Add(failure);
        }
    }

    public double? Figure(string key)
    {
        lock (_figures)
        {
            return _figures.FindLast(f => f.Key == key) is { Key: not null } found ? found.Value : null;
        }
    }

    public void WriteTable(TextWriter output)
    {
        output.WriteLine($"scenario: {Scenario}");
        output.WriteLine("parameters: " + string.Join(", ", parameters.Select(p => $"{p.Key}={Format(p.Value)}")));
        int width = Math.Max(10, _figures.Count == 0 ? 0 : _figures.Max(f => f.Key.Length));
        output.WriteLine($"{"figure".PadRight(width)}  {"value",14}  unit");
        foreach (var (key, value, unit) in _figures)
        {
            output.WriteLine($"{key.PadRight(width)}  {FormatNumber(value),14}  {unit}");
        }

        if (StoppedBy is not null)
        {
            output.WriteLine($"STOPPED: {StoppedBy}");
        }

        foreach (string failure in _failures)
        {
            output.WriteLine($"FAILED: {failure}");
        }

        output.WriteLine(_failures.Count == 0 && StoppedBy is null ? "result: ok" : "result: not ok");
    }

    public void WriteJson(string path, DateTimeOffset startedAt, TimeSpan elapsed)
    {
        using var stream = File.Create(path);
        using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        json.WriteStartObject();
        json.WriteString("tool", "synapse-loadtest");
        json.WriteString("scenario", Scenario);
        json.WriteString("started_at", startedAt.ToString("O", CultureInfo.InvariantCulture));
        json.WriteNumber("elapsed_seconds", Math.Round(elapsed.TotalSeconds, 3));
        json.WriteBoolean("ok", _failures.Count == 0 && StoppedBy is null);
        if (StoppedBy is null)
        {
            json.WriteNull("stopped_by");
        }
        else
        {
            json.WriteString("stopped_by", StoppedBy);
        }

        json.WriteStartObject("parameters");
        foreach (var (key, value) in parameters)
        {
            switch (value)
            {
                case bool b: json.WriteBoolean(key, b); break;
                case int i: json.WriteNumber(key, i); break;
                case long l: json.WriteNumber(key, l); break;
                default: json.WriteString(key, Convert.ToString(value, CultureInfo.InvariantCulture)); break;
            }
        }

        json.WriteEndObject();
        json.WriteStartObject("results");
        foreach (var (key, value, _) in _figures)
        {
            if (double.IsFinite(value))
            {
                json.WriteNumber(key, Math.Round(value, 3));
            }
            else
            {
                json.WriteNull(key);
            }
        }

        json.WriteEndObject();
        json.WriteStartObject("units");
        foreach (var (key, _, unit) in _figures.Where(f => f.Unit.Length > 0))
        {
            json.WriteString(key, unit);
        }

        json.WriteEndObject();
        json.WriteStartArray("failures");
        foreach (string failure in _failures)
        {
            json.WriteStringValue(failure);
        }

        json.WriteEndArray();
        json.WriteEndObject();
    }

    private static string Format(object value) => value switch
    {
        bool b => b ? "yes" : "no",
        _ => Convert.ToString(value, CultureInfo.InvariantCulture) ?? "",
    };

    private static string FormatNumber(double value)
    {
        if (!double.IsFinite(value))
        {
            return "-";
        }

        var builder = new StringBuilder();
        builder.Append(value == Math.Floor(value) && Math.Abs(value) < 1e15
            ? value.ToString("N0", CultureInfo.InvariantCulture)
            : value.ToString("N1", CultureInfo.InvariantCulture));
        return builder.ToString();
    }
}
