using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Synapse.Streams;

namespace Synapse.Replication.Protocol;

/// <summary>
/// The JSON form of a <see cref="StreamRow"/> in an RDATA line: <c>{"data":{...},"notify":["r:!room:hs",...]}</c>.
/// Our rows are objects rather than the reference protocol's positional arrays, so a receiver ignores fields it
/// does not know instead of misreading a row whose layout changed; <c>notify</c> carries the notifier keys, so a
/// worker wakes the same syncs main would without knowing each stream's layout.
/// </summary>
public static class StreamRowCodec
{
    private static readonly JsonWriterOptions WriterOptions = new()
    {
        // Non-ASCII stays UTF-8 (JSON strings still escape control characters, so no newline can appear).
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        SkipValidation = true,
    };

    /// <summary>Writes the row as compact UTF-8 JSON.</summary>
    public static void Write(IBufferWriter<byte> output, StreamRow row)
    {
        ArgumentNullException.ThrowIfNull(row);
        using var writer = new Utf8JsonWriter(output, WriterOptions);
        Write(writer, row);
    }

    /// <summary>Writes the row through a writer the caller reuses (reset it to a new output between rows).</summary>
    public static void Write(Utf8JsonWriter writer, StreamRow row)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(row);
        writer.WriteStartObject();
        writer.WritePropertyName("data"u8);
        row.Data.WriteTo(writer);
        writer.WriteStartArray("notify"u8);
        foreach (string key in row.NotifierKeys)
        {
            writer.WriteStringValue(key);
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
        writer.Flush();
    }

    /// <summary>A writer with the options rows are written with, for <see cref="Write(Utf8JsonWriter, StreamRow)"/>.</summary>
    public static Utf8JsonWriter CreateWriter(IBufferWriter<byte> output) => new(output, WriterOptions);

    /// <summary>Reads a row; unknown fields are ignored.</summary>
    /// <exception cref="ReplicationProtocolException">The JSON is not a row.</exception>
    public static StreamRow Read(ReadOnlySpan<byte> json)
    {
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(json);
        }
        catch (JsonException e)
        {
            throw new ReplicationProtocolException("A row is not valid JSON.", e);
        }

        if (node is not JsonObject row || row["data"] is not JsonObject data)
        {
            throw new ReplicationProtocolException("A row must be an object with a \"data\" object.");
        }

        row.Remove("data");
        List<string> keys = [];
        if (row["notify"] is JsonArray notify)
        {
            foreach (var key in notify)
            {
                if (key is JsonValue value && value.TryGetValue(out string? text))
                {
                    keys.Add(text);
                }
            }
        }

        return new StreamRow(data, keys);
    }
}
