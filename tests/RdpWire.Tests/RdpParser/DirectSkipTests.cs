using System.Text;
using RdpWire.Analyzer;
using RdpWire.Analyzer.Report;
using RdpWire.Bench;
using RdpWire.Capture.Files;
using RdpWire.RdpParser.Streams;
using RdpWire.Tests.Support;
using Xunit;

namespace RdpWire.Tests.RdpParser;

/// <summary>
/// The skip path for bulk data (RdpStreamParser.TakeDirect): bytes taken straight from TCP
/// segments give exactly the events the pipe gives, whatever the segment cuts, and it takes only
/// application-data records it cannot decrypt, leaving cut headers and other records to the pipe.
/// The records are hand-made bytes: a server ChangeCipherSpec, then ciphertext records.
/// </summary>
public class DirectSkipTests
{
    private static byte[] Record(byte type, int length, byte fill)
    {
        var r = new byte[5 + length];
        r[0] = type;
        r[1] = 3;
        r[2] = 3;
        r[3] = (byte)(length >> 8);
        r[4] = (byte)length;
        r.AsSpan(5).Fill(fill);
        return r;
    }

    private static byte[] HandMadeEncryptedServerStream() =>
    [
        .. Record(20, 1, 1), // ChangeCipherSpec: the server encrypts from here (RFC 5246 7.1)
        .. Record(23, 1, 0xAA),
        .. Record(23, 100, 0xBB),
        .. Record(23, 16_384, 0xCC),
        .. Record(23, 3, 0xDD),
        .. Record(21, 26, 0xEE), // an encrypted alert: for the pipe
        .. Record(23, 16_408, 0x11),
        .. Record(23, 2, 0x22),
    ];

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(7)]
    [InlineData(1448)]
    [InlineData(4096)]
    [InlineData(70_000)]
    public void TakenFromSegments_SameEventsAsThroughThePipe(int segment)
    {
        byte[] stream = HandMadeEncryptedServerStream();

        var viaPipe = new RecordingStreamEvents();
        var pipeParser = new RdpStreamParser(StreamDirection.ServerToClient, viaPipe);
        StreamParserHarness.Feed(pipeParser, StreamParserHarness.NewPipe(), stream, segment);

        var direct = new RecordingStreamEvents();
        var parser = new RdpStreamParser(StreamDirection.ServerToClient, direct);
        var pipe = StreamParserHarness.NewPipe();
        long delivered = 0;
        for (int i = 0; i < stream.Length; i += segment)
        {
            var bytes = stream.AsSpan(i, Math.Min(segment, stream.Length - i));
            // As the analyzer does: straight from the segment only when the pipe holds nothing.
            int taken = parser.CanTakeDirect && parser.Offset == delivered ? parser.TakeDirect(bytes) : 0;
            delivered += bytes.Length;
            if (taken < bytes.Length)
            {
                StreamParserHarness.Feed(parser, pipe, bytes[taken..].ToArray(), bytes.Length);
            }
        }

        Assert.Equal(viaPipe.Events, direct.Events);
        Assert.Equal(8, direct.Events.Count);
        Assert.Equal(stream.Length, parser.Offset);
        if (segment >= 5 && segment < stream.Length)
        {
            // Once the ChangeCipherSpec is parsed, whole records come straight from the segments.
            Assert.True(parser.BytesTakenDirect > 16_384, $"only {parser.BytesTakenDirect} bytes skipped from the segments");
        }
        // The ChangeCipherSpec and the alert went through the pipe, not TakeDirect.
        Assert.True(parser.BytesTakenDirect <= stream.Length - 31 - 6);
    }

    [Fact]
    public void WholePipelineOnInterleavedBulkSessions_SameReportWithAndWithoutTheSkipPath()
    {
        using var capture = new GeneratedCapture(CaptureGenerator.DefaultTemplates, 16L << 20, bulkBytesPerSession: 512L << 10,
            concurrentSessions: 24, TimeSpan.FromMilliseconds(5), TimeSpan.FromMilliseconds(1));
        Assert.Equal(Json(capture.Path, new AnalyzerOptions { SkipFromPackets = false }), Json(capture.Path, new AnalyzerOptions()));
    }

    private static string Json(string path, AnalyzerOptions options)
    {
        using var source = CaptureFile.Open(path);
        return ReportJson.Serialize(CaptureAnalyzer.Analyze(source, options));
    }
}
