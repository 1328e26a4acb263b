using System.Text.Json;

namespace Synapse.Json;

/// <summary>
/// Typed access to the fields of a request body, failing with the spec's errors:
/// <c>M_MISSING_PARAM</c> for an absent required field, <c>M_BAD_JSON</c> for a wrong type.
/// </summary>
internal static class JsonFields
{
    public static string RequiredString(this JsonElement body, string name) =>
        body.OptionalString(name) ?? throw MatrixException.MissingParam(name);

    public static string? OptionalString(this JsonElement body, string name)
    {
        if (!body.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return value.ValueKind == JsonValueKind.String
            ? value.GetString()
            : throw MatrixException.BadJson($"'{name}' must be a string");
    }

    public static bool? OptionalBool(this JsonElement body, string name)
    {
        if (!body.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw MatrixException.BadJson($"'{name}' must be a boolean"),
        };
    }

    public static IReadOnlyList<string> RequiredStringArray(this JsonElement body, string name)
    {
        if (!body.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            throw MatrixException.MissingParam(name);
        }

        if (value.ValueKind != JsonValueKind.Array)
        {
            throw MatrixException.BadJson($"'{name}' must be an array of strings");
        }

        var items = new List<string>(value.GetArrayLength());
        foreach (var item in value.EnumerateArray())
        {
            items.Add(item.ValueKind == JsonValueKind.String
                ? item.GetString()!
                : throw MatrixException.BadJson($"'{name}' must be an array of strings"));
        }

        return items;
    }

    public static JsonElement? OptionalElement(this JsonElement body, string name) =>
        body.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;
}
