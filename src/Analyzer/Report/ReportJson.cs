using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

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
        foreach (var c in report.AllConnections())
        {
            JsonSerializer.Serialize(writer, c, Options);
            writer.Flush();
        }
        writer.WriteEndArray();
        writer.WritePropertyName("findings");
        JsonSerializer.Serialize(writer, report.Findings, Options);
        writer.WriteEndObject();
    }

    /// <summary>One line per connection, for streaming output.</summary>
    public static string SerializeLine(ConnectionReport connection) => JsonSerializer.Serialize(connection, Compact);
}
