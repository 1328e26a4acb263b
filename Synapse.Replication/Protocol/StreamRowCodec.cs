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
    /// <remarks>
    /// One pass with a reader: <c>data</c> becomes a <see cref="JsonObject"/> over its own bytes (materialized when a
    /// consumer first reads it), <c>notify</c> is read straight into strings; the rest of the row builds no nodes.
    /// </remarks>
    public static StreamRow Read(ReadOnlySpan<byte> json)
    {
        JsonObject? data = null;
        List<string>? keys = null;
        try
        {
            var reader = new Utf8JsonReader(json);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                throw NotARow();
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("data"u8))
                {
                    reader.Read();
                    data = reader.TokenType == JsonTokenType.StartObject
                        ? JsonObject.Create(JsonElement.ParseValue(ref reader))
                        : throw NotARow();
                }
                else if (reader.ValueTextEquals("notify"u8))
                {
                    reader.Read();
                    if (reader.TokenType != JsonTokenType.StartArray)
                    {
                        reader.Skip();
                        continue;
                    }

                    keys = new List<string>(2);
                    while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                    {
                        if (reader.TokenType == JsonTokenType.String)
                        {
                            keys.Add(reader.GetString()!);
                        }
                        else
                        {
                            reader.Skip();
                        }
                    }
                }
                else
                {
                    reader.Skip();
                }
            }

            // One JSON value and nothing after it (trailing content makes Read throw).
            if (reader.Read())
            {
                throw NotARow();
            }
        }
        catch (JsonException e)
        {
            throw new ReplicationProtocolException("A row is not valid JSON.", e);
        }

        return data is null ? throw NotARow() : new StreamRow(data, keys ?? (IReadOnlyList<string>)[]);
    }

    private static ReplicationProtocolException NotARow() => new("A row must be an object with a \"data\" object.");
}
