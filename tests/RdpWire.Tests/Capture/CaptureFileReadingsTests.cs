using System.Buffers.Binary;
using System.Text;
using RdpWire.Analyzer;
using RdpWire.Analyzer.Report;
using RdpWire.Capture;
using RdpWire.Capture.Files;
using RdpWire.Tests.Support;
using Xunit;

namespace RdpWire.Tests.Capture;

/// <summary>Several readers of one capture file (analyze --threads), each reading all of it: the same packets, each reader its own share, the same reports.</summary>
public class CaptureFileReadingsTests
{
    [Theory]
    [MemberData(nameof(RepoPaths.FixtureCaptures), MemberType = typeof(RepoPaths))]
    public async Task EveryReaderSeesEveryPacketAsTheStreamReaderDoes(string fixture)
    {
        string path = Path.Combine(RepoPaths.FixturesDir, fixture);
        var expected = Packets(CaptureFile.Open(path));
        using var readings = CaptureFileReadings.Open(path);
        var a = readings.OpenSource(fixture);
        var b = readings.OpenSource(fixture);
        // Each reader on its own thread, as analyze --threads reads.
        var readA = Task.Run(() => Packets(a));
        var fromB = Packets(b);
        Assert.Equal(expected, await readA);
        Assert.Equal(expected, fromB);
        Assert.Equal(new FileInfo(path).Length, readings.BytesRead);
    }

    [Theory]
    [MemberData(nameof(RepoPaths.FixtureCaptures), MemberType = typeof(RepoPaths))]
    public void ReadersThatKeepOnlyTheirShare_EachGetTheirOwnPackets_AndTogetherAllOfThemInOrder(string fixture)
    {
        string path = Path.Combine(RepoPaths.FixturesDir, fixture);
        var expected = new List<(string Packet, int Key)>();
        long truncated;
        using (var stream = CaptureFile.Open(path))
        {
            if (stream is not PcapFileReader)
            {
                return; // pcapng: every reader reads every packet (the test above)
            }
            while (stream.TryReadNext(out var p))
            {
                expected.Add((Describe(p), RouteKey(p)));
            }
            truncated = stream.TruncatedPackets;
        }
        foreach (int readers in new[] { 2, 3 })
        {
            using var readings = CaptureFileReadings.Open(path);
            var sources = Enumerable.Range(0, readers).Select(r =>
            {
                var source = (PcapFileReader)readings.OpenSource(fixture);
                source.KeepOnly((in CapturedPacket p) => RouteKey(p) % readers, r);
                return source;
            }).ToList();
            for (int r = 0; r < readers; r++)
            {
                Assert.Equal(expected.Where(e => e.Key % readers == r).Select(e => e.Packet), Packets(sources[r], dispose: false));
            }
            Assert.Equal(truncated, sources.Sum(s => s.TruncatedPackets));
            sources.ForEach(s => s.Dispose());
        }
    }

    [Fact]
    public void ReadersThatKeepOnlyTheirShare_MeetTheDamageWhereTheStreamReaderDoes()
    {
        byte[] whole = File.ReadAllBytes(Path.Combine(RepoPaths.FixturesDir, "cert-expired-tls12.pcap"));
        // Cut inside a record, and (hand-made bytes) a record header claiming more than the snapshot limit.
        byte[] cut = whole[..(whole.Length * 2 / 3)];
        byte[] lie = (byte[])whole.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(lie.AsSpan(RecordOffset(lie, 9) + 8), 300_000);
        foreach (var bytes in new[] { cut, lie })
        {
            using var file = new TempFile(bytes);
            var expected = new List<(string Packet, int Key)>();
            string? expectedError = null;
            using (var stream = CaptureFile.Open(file.Path))
            {
                try
                {
                    while (stream.TryReadNext(out var p))
                    {
                        expected.Add((Describe(p), RouteKey(p)));
                    }
                }
                catch (CaptureFormatException e)
                {
                    expectedError = e.Message;
                }
            }
            Assert.NotNull(expectedError);
            using var readings = CaptureFileReadings.Open(file.Path);
            for (int r = 0; r < 2; r++)
            {
                var source = (PcapFileReader)readings.OpenSource("damaged");
                source.KeepOnly((in CapturedPacket p) => RouteKey(p) % 2, r);
                var (packets, error) = ReadUntilDamage(source);
                // Every reader reads every record: each stops at the damage, with the stream reader's words.
                Assert.Equal(expected.Where(e => e.Key % 2 == r).Select(e => e.Packet), packets);
                Assert.Equal(expectedError, error);
            }
        }
    }

    [Fact]
    public void AFileThatGrowsWhileRead_EveryReaderStopsWhereItEndedWhenOpened()
    {
        byte[] bytes = File.ReadAllBytes(Path.Combine(RepoPaths.FixturesDir, "cert-expired-tls12.pcap"));
        using var file = new TempFile(bytes);
        var expected = Packets(CaptureFile.Open(file.Path));
        using var readings = CaptureFileReadings.Open(file.Path);
        var early = readings.OpenSource("growing");
        Assert.True(early.TryReadNext(out _));
        // A capture tool appends the same records again (the file's records after its 24-byte header).
        using (var append = new FileStream(file.Path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite))
        {
            append.Write(bytes.AsSpan(24));
        }
        var late = readings.OpenSource("growing");
        var fromEarly = Packets(early);
        Assert.Equal(expected.Skip(1), fromEarly);
        Assert.Equal(expected, Packets(late));
        Assert.Equal(bytes.Length, readings.Length);
    }

    [Fact]
    public async Task AFileHeaderLongerThanTheFile_FailsEveryThread()
    {
        // Hand-made bytes: a recorded pcapng whose Section Header Block claims more bytes than the file holds.
        byte[] bytes = File.ReadAllBytes(Path.Combine(RepoPaths.FixturesDir, "cert-expired-tls13-embedded-keys.pcapng"));
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), (uint)bytes.Length + 4096);
        using var file = new TempFile(bytes);
        using var readings = CaptureFileReadings.Open(file.Path);
        var analysis = Task.Run(() => ShardedAnalysis.Analyze(() => readings.OpenSource("lie"), 2, new AnalyzerOptions()));
        var finished = await Task.WhenAny(analysis, Task.Delay(TimeSpan.FromSeconds(30)));
        Assert.True(ReferenceEquals(finished, analysis), "the analysis is stuck opening the capture");
        var e = await Assert.ThrowsAsync<CaptureFormatException>(() => analysis);
        Assert.Contains("section header block", e.Message);
    }

    [Fact]
    public void ShardedAnalysisOverReadingsOfTheFile_WritesTheOneThreadReport()
    {
        using var capture = new GeneratedCapture(RdpWire.Bench.CaptureGenerator.DefaultTemplates, 12L << 20, bulkBytesPerSession: 128L << 10,
            concurrentSessions: 32, TimeSpan.FromMilliseconds(5), TimeSpan.FromMilliseconds(1));
        var options = new AnalyzerOptions { SpoolConnections = true };
        string one;
        using (var source = CaptureFile.Open(capture.Path))
        {
            one = Json(CaptureAnalyzer.Analyze(source, options));
        }
        foreach (int threads in new[] { 2, 3 })
        {
            using var readings = CaptureFileReadings.Open(capture.Path);
            Assert.Equal(one, Json(ShardedAnalysis.Analyze(() => readings.OpenSource(capture.Path), threads, options)));
            Assert.Equal(new FileInfo(capture.Path).Length, readings.BytesRead);
        }
    }

    private sealed class TempFile : IDisposable
    {
        public TempFile(byte[] bytes)
        {
            Path = System.IO.Path.GetTempFileName();
            File.WriteAllBytes(Path, bytes);
        }

        public string Path { get; }

        public void Dispose() => File.Delete(Path);
    }

    /// <summary>A test router's key: by the packet's first bytes, spread over the readers by the caller.</summary>
    private static int RouteKey(in CapturedPacket p) => p.Data.Length < 16 ? 0 : p.Data.Span[12] + p.Data.Span[15];

    private static int RecordOffset(byte[] pcap, int frame)
    {
        int offset = 24;
        for (int f = 1; f < frame; f++)
        {
            offset += 16 + (int)BinaryPrimitives.ReadUInt32LittleEndian(pcap.AsSpan(offset + 8));
        }
        return offset;
    }

    private static string Json(AnalysisReport report)
    {
        using var spool = report.Spool;
        using var buffer = new MemoryStream();
        ReportJson.Write(buffer, report);
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static string Describe(in CapturedPacket p) =>
        $"{p.Frame} {p.TimestampTicks} {p.LinkType} {p.OriginalLength} {Convert.ToHexString(p.Data.Span)}";

    private static List<string> Packets(IPacketSource source, bool dispose = true)
    {
        var list = new List<string>();
        try
        {
            while (source.TryReadNext(out var p))
            {
                list.Add(Describe(p));
            }
        }
        finally
        {
            if (dispose)
            {
                source.Dispose();
            }
        }
        return list;
    }

    private static (List<string> Packets, string? Error) ReadUntilDamage(IPacketSource source)
    {
        var list = new List<string>();
        using (source)
        {
            try
            {
                while (source.TryReadNext(out var p))
                {
                    list.Add(Describe(p));
                }
            }
            catch (CaptureFormatException e)
            {
                return (list, e.Message);
            }
        }
        return (list, null);
    }
}
