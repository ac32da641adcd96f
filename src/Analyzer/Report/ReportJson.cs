using System.Buffers;
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
        // Compile-time metadata (ReportJsonContext) only: no reflection, so the tool compiles ahead
        // of time (README "Installing"), and nothing to JIT before the first report is written.
        TypeInfoResolver = ReportJsonContext.Default,
    };

    public static readonly JsonSerializerOptions Compact = new(Options) { WriteIndented = false };

    public static string Serialize(AnalysisReport report) => JsonSerializer.Serialize(report, TypeInfo<AnalysisReport>(Options));

    /// <summary>The metadata of <typeparamref name="T"/> under <paramref name="options"/>: the serializer's overloads that need no reflection.</summary>
    internal static JsonTypeInfo<T> TypeInfo<T>(JsonSerializerOptions options) => (JsonTypeInfo<T>)options.GetTypeInfo(typeof(T));

    /// <summary>
    /// Streams the report to <paramref name="stream"/> property by property (with the build-time
    /// context's generated writing code: the same contract as <see cref="Options"/>, checked byte
    /// for byte against <see cref="Serialize"/> by the tests), the connections one at
    /// a time (from the spool when there is one, copied as spooled: already laid out at their depth),
    /// so the whole report never sits in memory. The bytes are the same as <see cref="Serialize"/>'s.
    /// </summary>
    public static void Write(Stream stream, AnalysisReport report)
    {
        using var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = Options.Encoder });
        writer.WriteStartObject();
        writer.WriteString("tool", report.Tool);
        writer.WriteString("version", report.Version);
        writer.WriteNumber("schema", report.Schema);
        writer.WritePropertyName("capture");
        JsonSerializer.Serialize(writer, report.Capture, ReportJsonContext.Default.CaptureSummary);
        writer.WriteStartArray("connections");
        if (report.Spool is { } spool)
        {
            byte[] renumbered = [];
            foreach (var (id, json) in spool.ReadAllJson())
            {
                writer.WriteRawValue(WithId(json.Span, id, ref renumbered), skipInputValidation: true);
                FlushWhenFull(writer);
            }
        }
        else
        {
            foreach (var c in report.Connections)
            {
                JsonSerializer.Serialize(writer, c, ReportJsonContext.Default.ConnectionReport);
                FlushWhenFull(writer);
            }
        }
        writer.WriteEndArray();
        writer.WritePropertyName("findings");
        JsonSerializer.Serialize(writer, report.Findings, ReportJsonContext.Default.ListFinding);
        writer.WriteEndObject();
    }

    /// <summary>
    /// Hands the written bytes to the stream once 64 KiB are pending: memory stays bounded however
    /// many connections there are, with one write per 64 KiB rather than one per connection.
    /// </summary>
    private static void FlushWhenFull(Utf8JsonWriter writer)
    {
        if (writer.BytesPending >= 1 << 16)
        {
            writer.Flush();
        }
    }

    /// <summary>Where the report's connection objects sit: in the "connections" array of the top-level object.</summary>
    internal const int ConnectionDepth = 2;

    /// <summary>
    /// <paramref name="value"/> as <see cref="Options"/> writes it at <paramref name="depth"/> of an
    /// indented document (the line break and indentation before it, and every line indented two
    /// spaces per level), so that <see cref="Utf8JsonWriter.WriteRawValue(ReadOnlySpan{byte}, bool)"/>
    /// there (which adds only the comma between values) gives the same bytes as serializing it
    /// there. <paramref name="type"/> is <see cref="Options"/>' metadata for T, or the build-time
    /// context's own (<see cref="ReportJsonContext"/>, same contract), whose generated writing code
    /// skips the metadata walk (indentation and escaping are the writer's either way).
    /// </summary>
    /// <remarks>
    /// The writer opens <paramref name="depth"/> arrays first and writes the value as their first
    /// element, so it indents the value itself; only the value's bytes are kept. (The value used to be
    /// written at depth 0 and then copied line by line with the indentation added: a search for every
    /// line feed and a copy per line, for every connection.)
    /// </remarks>
    internal static void WriteIndentedAt<T>(T value, JsonTypeInfo<T> type, int depth, ArrayBufferWriter<byte> output, ArrayBufferWriter<byte> scratch)
    {
        scratch.ResetWrittenCount();
        int opened;
        using (var writer = new Utf8JsonWriter(scratch, new JsonWriterOptions { Indented = true, Encoder = Options.Encoder }))
        {
            for (int i = 0; i < depth; i++)
            {
                writer.WriteStartArray();
            }
            writer.Flush();
            opened = scratch.WrittenCount;
            JsonSerializer.Serialize(writer, value, type);
        }
        output.Write(scratch.WrittenSpan[opened..]);
    }

    /// <summary>
    /// A spooled connection (from <see cref="WriteIndentedAt"/>, at <see cref="ConnectionDepth"/>)
    /// with <paramref name="id"/> as its "id", the first property: the same bytes when the id is
    /// unchanged, else a copy in <paramref name="buffer"/> (a connection renumbered after sharded
    /// analysis).
    /// </summary>
    internal static ReadOnlySpan<byte> WithId(ReadOnlySpan<byte> connection, long id, ref byte[] buffer)
    {
        int prefixLength = IdPrefixLength;
        if (connection.Length <= prefixLength || connection.IndexOf((byte)'{') != NewLine.Length + 2 * ConnectionDepth
            || !connection[..prefixLength].EndsWith("\"id\": "u8))
        {
            throw new InvalidOperationException("a spooled connection does not start with its id");
        }
        ReadOnlySpan<byte> rest = connection[prefixLength..];
        int digits = rest.IndexOf((byte)',');
        if (digits <= 0 || !System.Buffers.Text.Utf8Parser.TryParse(rest[..digits], out long spooledId, out int consumed) || consumed != digits)
        {
            throw new InvalidOperationException("a spooled connection does not start with its id");
        }
        if (spooledId == id)
        {
            return connection;
        }
        Span<byte> text = stackalloc byte[20];
        System.Buffers.Text.Utf8Formatter.TryFormat(id, text, out int written);
        int length = connection.Length - digits + written;
        if (buffer.Length < length)
        {
            buffer = new byte[Math.Max(length, buffer.Length * 2)];
        }
        connection[..prefixLength].CopyTo(buffer);
        text[..written].CopyTo(buffer.AsSpan(prefixLength));
        rest[digits..].CopyTo(buffer.AsSpan(prefixLength + written));
        return buffer.AsSpan(0, length);
    }

    private static readonly byte[] NewLine = System.Text.Encoding.UTF8.GetBytes(Environment.NewLine);

    /// <summary>The line break and indentation before the object, "{", the line break, the first property's indentation, <c>"id": </c>.</summary>
    private static int IdPrefixLength => 2 * NewLine.Length + 2 * ConnectionDepth + 1 + 2 * (ConnectionDepth + 1) + "\"id\": ".Length;

    /// <summary>One line per connection, for streaming output.</summary>
    public static string SerializeLine(ConnectionReport connection) => JsonSerializer.Serialize(connection, TypeInfo<ConnectionReport>(Compact));
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
