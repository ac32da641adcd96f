using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace RdpWire.Analyzer.Report;

/// <summary>The one way reports become JSON: camelCase contract names, nulls kept (absent information is null).</summary>
public static class ReportJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        WriteIndented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        // Compile-time metadata (ReportJsonContext): no reflection, and far less to JIT before
        // the first report is written. Anything else still serializes by reflection.
        TypeInfoResolver = JsonTypeInfoResolver.Combine(ReportJsonContext.Default, new DefaultJsonTypeInfoResolver()),
    };

    public static readonly JsonSerializerOptions Compact = new(Options) { WriteIndented = false };

    public static string Serialize(AnalysisReport report) => JsonSerializer.Serialize(report, Options);

    /// <summary>
    /// Streams the report to <paramref name="stream"/> property by property, the connections one at
    /// a time (from the spool when there is one), so the whole report never sits in memory. The
    /// bytes are the same as <see cref="Serialize"/>'s.
    /// </summary>
    public static void Write(Stream stream, AnalysisReport report)
    {
        using var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = Options.Encoder });
        writer.WriteStartObject();
        writer.WriteString("tool", report.Tool);
        writer.WriteString("version", report.Version);
        writer.WriteNumber("schema", report.Schema);
        writer.WritePropertyName("capture");
        JsonSerializer.Serialize(writer, report.Capture, Options);
        writer.WriteStartArray("connections");
        if (report.Spool is { } spool)
        {
            foreach (var (id, json) in spool.ReadAllJson())
            {
                Transcribe(json.Span, writer, id);
                writer.Flush();
            }
        }
        else
        {
            foreach (var c in report.Connections)
            {
                JsonSerializer.Serialize(writer, c, Options);
                writer.Flush();
            }
        }
        writer.WriteEndArray();
        writer.WritePropertyName("findings");
        JsonSerializer.Serialize(writer, report.Findings, Options);
        writer.WriteEndObject();
    }

    /// <summary>
    /// Writes one value's compact JSON (made with <see cref="Compact"/>) token by token, so the
    /// writer lays it out at its own depth and indentation: the same bytes as serializing the
    /// object there, without rebuilding it (the writer escapes with the same encoder, and
    /// integers and shortest round-trip doubles format the same).
    /// </summary>
    /// <param name="id">When given, the value written for the object's top-level "id" (a connection renumbered after sharded analysis).</param>
    public static void Transcribe(ReadOnlySpan<byte> compactJson, Utf8JsonWriter writer, long? id = null)
    {
        var reader = new Utf8JsonReader(compactJson, new JsonReaderOptions { MaxDepth = 256 });
        while (reader.Read())
        {
            if (id is long newId && reader.TokenType == JsonTokenType.PropertyName && reader.CurrentDepth == 1 && reader.ValueTextEquals("id"u8))
            {
                writer.WritePropertyName("id"u8);
                reader.Read();
                writer.WriteNumberValue(newId);
                continue;
            }
            switch (reader.TokenType)
            {
                case JsonTokenType.StartObject:
                    writer.WriteStartObject();
                    break;
                case JsonTokenType.EndObject:
                    writer.WriteEndObject();
                    break;
                case JsonTokenType.StartArray:
                    writer.WriteStartArray();
                    break;
                case JsonTokenType.EndArray:
                    writer.WriteEndArray();
                    break;
                case JsonTokenType.PropertyName:
                    if (reader.ValueIsEscaped)
                    {
                        writer.WritePropertyName(reader.GetString()!);
                    }
                    else
                    {
                        writer.WritePropertyName(reader.ValueSpan);
                    }
                    break;
                case JsonTokenType.String:
                    WriteString(ref reader, writer);
                    break;
                case JsonTokenType.Number:
                    if (reader.ValueSpan.IndexOfAny(".eE"u8) >= 0 || reader.ValueSpan.SequenceEqual("-0"u8))
                    {
                        // A double (shortest round-trip text, as the serializer wrote it; -0 stays -0).
                        writer.WriteNumberValue(reader.GetDouble());
                    }
                    else if (reader.TryGetInt64(out long whole))
                    {
                        writer.WriteNumberValue(whole);
                    }
                    else if (reader.TryGetUInt64(out ulong large))
                    {
                        writer.WriteNumberValue(large);
                    }
                    else
                    {
                        writer.WriteNumberValue(reader.GetDouble());
                    }
                    break;
                case JsonTokenType.True:
                    writer.WriteBooleanValue(true);
                    break;
                case JsonTokenType.False:
                    writer.WriteBooleanValue(false);
                    break;
                case JsonTokenType.Null:
                    writer.WriteNullValue();
                    break;
            }
        }
    }

    /// <summary>A string value, unescaped and escaped again by the writer (same encoder, same bytes).</summary>
    private static void WriteString(ref Utf8JsonReader reader, Utf8JsonWriter writer)
    {
        if (!reader.ValueIsEscaped)
        {
            writer.WriteStringValue(reader.ValueSpan);
            return;
        }
        byte[]? rented = null;
        Span<byte> buffer = reader.ValueSpan.Length <= 512 ? stackalloc byte[512] : (rented = System.Buffers.ArrayPool<byte>.Shared.Rent(reader.ValueSpan.Length));
        int length = reader.CopyString(buffer);
        writer.WriteStringValue(buffer[..length]);
        if (rented is not null)
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>One line per connection, for streaming output.</summary>
    public static string SerializeLine(ConnectionReport connection) => JsonSerializer.Serialize(connection, Compact);
}

/// <summary>The report types' JSON metadata, generated at build time (same contract as <see cref="ReportJson.Options"/>).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(AnalysisReport))]
[JsonSerializable(typeof(ConnectionReport))]
[JsonSerializable(typeof(CaptureSummary))]
[JsonSerializable(typeof(List<Finding>))]
internal sealed partial class ReportJsonContext : JsonSerializerContext
{
}
