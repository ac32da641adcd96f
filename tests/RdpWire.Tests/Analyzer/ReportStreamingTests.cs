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
    public static TheoryData<string> Fixtures() =>
        new(Directory.GetFiles(RepoPaths.FixturesDir).Where(f => f.EndsWith(".pcap", StringComparison.Ordinal) || f.EndsWith(".pcapng", StringComparison.Ordinal)).Select(Path.GetFileName)!);

    [Theory]
    [MemberData(nameof(Fixtures))]
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
            spooled = CaptureAnalyzer.Analyze(source, new AnalyzerOptions { SpoolConnections = true });
        }
        using var spool = spooled.Spool;
        Assert.NotNull(spool);
        Assert.Empty(spooled.Connections);
        Assert.Equal(inMemory.Connections.Count, spool.Count);

        string expected = ReportJson.Serialize(inMemory);
        Assert.Equal(expected, Streamed(inMemory));
        Assert.Equal(expected, Streamed(spooled));
    }

    private static string Streamed(AnalysisReport report)
    {
        using var buffer = new MemoryStream();
        ReportJson.Write(buffer, report);
        return Encoding.UTF8.GetString(buffer.ToArray());
    }
}
