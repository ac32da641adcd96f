using System.Text;
using RdpWire.Analyzer;
using RdpWire.Analyzer.Report;
using RdpWire.Capture.Files;
using RdpWire.Tests.Support;
using Xunit;

namespace RdpWire.Tests.Analyzer;

/// <summary>
/// The streamed JSON report equals the one-piece serialization byte for byte, and spooling the
/// decided connections to disk (flat memory) changes nothing in it.
/// </summary>
public class ReportStreamingTests
{
    [Theory]
    [MemberData(nameof(RepoPaths.FixtureCaptures), MemberType = typeof(RepoPaths))]
    public void StreamedAndSpooledJson_SameBytesAsOnePieceSerialization(string fixture)
    {
        string path = Path.Combine(RepoPaths.FixturesDir, fixture);
        AnalysisReport inMemory, spooled;
        using (var source = CaptureFile.Open(path))
        {
            inMemory = CaptureAnalyzer.Analyze(source);
        }
        using (var source = CaptureFile.Open(path))
        {
            spooled = CaptureAnalyzer.Analyze(source, new AnalyzerOptions { SpoolConnections = true, SpoolAfter = 0 });
        }
        using var spool = spooled.Spool;
        Assert.NotNull(spool);
        Assert.Empty(spooled.Connections);
        Assert.Equal(inMemory.Connections.Count, spool.Count);

        string expected = ReportJson.Serialize(inMemory);
        Assert.Equal(expected, Streamed(inMemory));
        Assert.Equal(expected, Streamed(spooled));
    }

    private sealed record Awkward(string Text, string? Missing, double Ratio, double Tiny, double Huge, long Negative,
        ulong Beyond, bool Flag, int[] Numbers, string[] Texts, Dictionary<string, string> Names, Awkward? Child);

    [Fact]
    public void IndentedAtDepth_SameBytesAsSerializingInPlace_ForEscapesUnicodeLongStringsAndNumbers()
    {
        // Hand-made values at the edges of the raw copy: escapes (a line feed in a string is written
        // \n, never raw), non-ASCII, long strings, doubles, integers beyond long, nesting, empty
        // arrays and objects, dictionary keys needing escapes.
        string longText = string.Concat(Enumerable.Repeat("\"<é>\\\u0001 ", 200));
        var value = new Awkward("quote \" back \\ tab \t nl \n bell \u0007 é 漢 😀 <script>", null, 0.1, 1e-7, 1.7976931348623157e308,
            long.MinValue, ulong.MaxValue, true, [1, -2, 3], ["a", longText, ""],
            new() { ["plain"] = "x", ["needs \"escape\"\n"] = longText },
            new Awkward("child", "here", 2.5, -0.0, 12345.678, -1, 0, false, [], [], [], null));
        var spooled = new System.Buffers.ArrayBufferWriter<byte>();
        ReportJson.WriteIndentedAt(value, TypeInfo(value), ReportJson.ConnectionDepth, spooled, new System.Buffers.ArrayBufferWriter<byte>());

        Assert.Equal(InArray(w => System.Text.Json.JsonSerializer.Serialize(w, value, ReportOptionsForAnyType)),
            InArray(w => w.WriteRawValue(spooled.WrittenSpan, skipInputValidation: true)));
    }

    [Fact]
    public void WithId_RenumbersTheFirstPropertyOnly()
    {
        var spooled = new System.Buffers.ArrayBufferWriter<byte>();
        var value = new { Id = 7, Other = 7, Text = "id 7" };
        ReportJson.WriteIndentedAt(value, TypeInfo(value), ReportJson.ConnectionDepth, spooled, new System.Buffers.ArrayBufferWriter<byte>());
        byte[] buffer = [];

        Assert.Equal(Encoding.UTF8.GetString(spooled.WrittenSpan), Encoding.UTF8.GetString(ReportJson.WithId(spooled.WrittenSpan, 7, ref buffer)));
        Assert.Equal(Encoding.UTF8.GetString(spooled.WrittenSpan).Replace("\"id\": 7,", "\"id\": 123456,"),
            Encoding.UTF8.GetString(ReportJson.WithId(spooled.WrittenSpan, 123456, ref buffer)));
        Assert.Throws<InvalidOperationException>(() => ReportJson.WithId("\n    {\n      \"other\": 7\n    }"u8, 1, ref buffer));
    }

    /// <summary>The report's options (naming, escaping, indentation) for the hand-made types here, which the report's build-time context does not know.</summary>
    private static readonly System.Text.Json.JsonSerializerOptions ReportOptionsForAnyType = new(ReportJson.Options)
    {
        TypeInfoResolver = System.Text.Json.Serialization.Metadata.JsonTypeInfoResolver.Combine(
            ReportJson.Options.TypeInfoResolver!, new System.Text.Json.Serialization.Metadata.DefaultJsonTypeInfoResolver()),
    };

    private static System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> TypeInfo<T>(T _) =>
        (System.Text.Json.Serialization.Metadata.JsonTypeInfo<T>)ReportOptionsForAnyType.GetTypeInfo(typeof(T));

    /// <summary>Writes one value inside {"list":[ ... ]}, indented, as the report's connections are.</summary>
    private static string InArray(Action<System.Text.Json.Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var writer = new System.Text.Json.Utf8JsonWriter(buffer, new System.Text.Json.JsonWriterOptions { Indented = true, Encoder = ReportJson.Options.Encoder }))
        {
            writer.WriteStartObject();
            writer.WriteStartArray("list");
            write(writer);
            write(writer);
            writer.WriteEndArray();
            writer.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static string Streamed(AnalysisReport report)
    {
        using var buffer = new MemoryStream();
        ReportJson.Write(buffer, report);
        return Encoding.UTF8.GetString(buffer.ToArray());
    }
}
