using System.Buffers.Binary;
using System.Diagnostics;
using RdpWire.Analyzer;
using RdpWire.Capture.Files;
using RdpWire.RdpParser.CredSsp;
using RdpWire.RdpParser.Streams;
using RdpWire.RdpParser.Tls;
using RdpWire.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace RdpWire.Tests.Robustness;

/// <summary>
/// Hostile input against the caps: each case runs in bounded time and memory and the report
/// says which limit was hit. The captures are hand-made bytes (named so), generated on the fly.
/// </summary>
public class ResourceLimitTests(ITestOutputHelper output)
{
    /// <summary>A classic pcap (RAW IPv4) of <paramref name="count"/> SYNs from distinct clients to 10.0.0.1:3389.</summary>
    private static string HandMadeSynFlood(int count)
    {
        string path = Path.Combine(Path.GetTempPath(), $"rdpwire-synflood-{Guid.NewGuid():N}.pcap");
        using var file = new BufferedStream(File.Create(path), 1 << 20);
        Span<byte> header = stackalloc byte[24];
        BinaryPrimitives.WriteUInt32LittleEndian(header, 0xA1B2C3D4);
        BinaryPrimitives.WriteUInt16LittleEndian(header[4..], 2);
        BinaryPrimitives.WriteUInt16LittleEndian(header[6..], 4);
        BinaryPrimitives.WriteUInt32LittleEndian(header[16..], 65535);
        BinaryPrimitives.WriteUInt32LittleEndian(header[20..], 101);
        file.Write(header);
        Span<byte> record = stackalloc byte[16 + 40];
        for (int i = 0; i < count; i++)
        {
            record.Clear();
            long micros = i * 10L;
            BinaryPrimitives.WriteUInt32LittleEndian(record, (uint)(1_700_000_000 + micros / 1_000_000));
            BinaryPrimitives.WriteUInt32LittleEndian(record[4..], (uint)(micros % 1_000_000));
            BinaryPrimitives.WriteUInt32LittleEndian(record[8..], 40);
            BinaryPrimitives.WriteUInt32LittleEndian(record[12..], 40);
            var ip = record[16..];
            ip[0] = 0x45;
            BinaryPrimitives.WriteUInt16BigEndian(ip[2..], 40);
            ip[8] = 64;
            ip[9] = 6;
            BinaryPrimitives.WriteUInt32BigEndian(ip[12..], 0x0B000000u + (uint)(i / 50_000));   // 11.0.0.N
            BinaryPrimitives.WriteUInt32BigEndian(ip[16..], 0x0A000001u);                       // 10.0.0.1
            var tcp = ip[20..];
            BinaryPrimitives.WriteUInt16BigEndian(tcp, (ushort)(10_000 + i % 50_000));
            BinaryPrimitives.WriteUInt16BigEndian(tcp[2..], 3389);
            BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], (uint)i * 7919u);
            tcp[12] = 0x50;
            tcp[13] = 0x02; // SYN
            BinaryPrimitives.WriteUInt16BigEndian(tcp[14..], 64240);
            file.Write(record);
        }
        return path;
    }

    [Fact]
    public void HandMade_MillionDistinctSyns_BoundedTimeAndMemory_LimitReported()
    {
        string path = HandMadeSynFlood(1_000_000);
        try
        {
            var clock = Stopwatch.StartNew();
            long peak = 0;
            using var source = CaptureFile.Open(path);
            var analyzer = new CaptureAnalyzer(path, source.Format, new AnalyzerOptions { SpoolConnections = true });
            long packets = 0;
            while (source.TryReadNext(out var packet))
            {
                analyzer.Process(packet);
                if (++packets % 100_000 == 0)
                {
                    peak = Math.Max(peak, GC.GetTotalMemory(forceFullCollection: true));
                }
            }
            var report = analyzer.Complete(source.LinkTypes, source.TruncatedPackets);
            using var spool = report.Spool;
            clock.Stop();
            output.WriteLine($"1,000,000 SYNs: {clock.Elapsed.TotalSeconds:F1} s, peak managed memory {peak >> 20} MiB, {spool!.Count} connections reported");

            var limit = Assert.Single(report.Findings, f => f.Code == "capture.flow-limit");
            Assert.Contains("unanswered SYN-only attempts counted", limit.Summary, StringComparison.Ordinal);
            // The table's worth of connections is reported (decided at capture end), the rest counted.
            Assert.Equal(20_000, spool.Count);
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(120), $"took {clock.Elapsed}");
            Assert.True(peak < 1L << 30, $"peak managed memory {peak >> 20} MiB");
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void HandMade_TpktClaiming65535Bytes_OneByteAtATime_BoundedAndIncomplete()
    {
        // A TPKT header announcing 65535 bytes, then the body trickling in one byte per segment.
        var events = new RecordingStreamEvents();
        var parser = new RdpStreamParser(StreamDirection.ClientToServer, events);
        var pipe = StreamParserHarness.NewPipe();
        var bytes = new byte[65535];
        bytes[0] = 0x03;
        bytes[2] = 0xFF;
        bytes[3] = 0xFF;
        bytes[4] = 0x02;
        bytes[5] = 0xF0;
        bytes[6] = 0x80;
        var clock = Stopwatch.StartNew();
        long before = GC.GetAllocatedBytesForCurrentThread();
        StreamParserHarness.Feed(parser, pipe, bytes[..^1], chunk: 1);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        clock.Stop();
        output.WriteLine($"65534 one-byte segments: {clock.Elapsed.TotalMilliseconds:F0} ms, {allocated >> 10} KiB allocated");
        // Nothing is reported until the TPKT is whole, and the parser never holds more than that one TPKT.
        Assert.Empty(events.Events);
        Assert.Equal(0, parser.Offset);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");
        Assert.True(allocated < 16L << 20, $"allocated {allocated >> 20} MiB for a 64 KiB message");
        // The last byte completes it: one X.224 Data TPDU of 65535 bytes.
        StreamParserHarness.Feed(parser, pipe, bytes[^1..], chunk: 1);
        Assert.Equal(65535, parser.Offset);
    }

    [Fact]
    public void HandMade_CertificateMessageClaiming16MiB_CollectionCappedAndReported()
    {
        // A TLS 1.2 Certificate handshake message whose length says 16 MiB - 1, sent in 16 KiB records.
        var events = new RecordingStreamEvents();
        var parser = new RdpStreamParser(StreamDirection.ServerToClient, events);
        var pipe = StreamParserHarness.NewPipe();
        const int messageLength = (1 << 24) - 1;
        var message = new byte[4 + messageLength];
        message[0] = (byte)TlsHandshakeType.Certificate;
        message[1] = 0xFF;
        message[2] = 0xFF;
        message[3] = 0xFF;
        long before = GC.GetAllocatedBytesForCurrentThread();
        var clock = Stopwatch.StartNew();
        for (int at = 0; at < message.Length; at += 16384)
        {
            int n = Math.Min(16384, message.Length - at);
            var record = new byte[5 + n];
            record[0] = 22;
            record[1] = 3;
            record[2] = 3;
            record[3] = (byte)(n >> 8);
            record[4] = (byte)n;
            message.AsSpan(at, n).CopyTo(record.AsSpan(5));
            StreamParserHarness.Feed(parser, pipe, record, chunk: 1448);
        }
        clock.Stop();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        output.WriteLine($"16 MiB certificate message: {clock.Elapsed.TotalMilliseconds:F0} ms, {allocated >> 20} MiB allocated (the test's own records included)");
        var limit = Assert.Single(events.Records.SelectMany(r => r.HandshakeMessages), m => m.Error is not null);
        Assert.Contains($"exceeds the {RdpStreamParser.MaxHandshakeMessageBytes}-byte limit", limit.Error, StringComparison.Ordinal);
        Assert.Equal(1025, events.Records.Count); // every record is still counted
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"took {clock.Elapsed}");
    }

    [Fact]
    public void HandMade_Asn1NestedTenThousandDeep_RejectedQuickly()
    {
        // SEQUENCE { SEQUENCE { ... 10000 deep ... } } with definite lengths, as a TSRequest and as a certificate.
        var blob = Nested(10_000);
        var clock = Stopwatch.StartNew();
        Assert.False(TsRequest.TryParse(blob, out _, out string? error));
        Assert.Contains("ASN.1 nesting limit", error, StringComparison.Ordinal);
        var inspected = RdpWire.Analyzer.Tls.CertificateInspector.Inspect(blob, DateTime.UtcNow);
        Assert.Contains("ASN.1 nesting limit", inspected.Report.DecodeError, StringComparison.Ordinal);
        // Just inside the limit, the walk lets the decoders judge the encoding themselves.
        Assert.True(RdpWire.RdpParser.DerNesting.WithinDepth(Nested(RdpWire.RdpParser.DerNesting.DefaultMaxDepth)));
        Assert.False(RdpWire.RdpParser.DerNesting.WithinDepth(Nested(RdpWire.RdpParser.DerNesting.DefaultMaxDepth + 1)));
        clock.Stop();
        output.WriteLine($"10000-deep ASN.1: {clock.Elapsed.TotalMilliseconds:F1} ms; TSRequest: {error}; certificate: {inspected.Report.DecodeError}");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
    }

    /// <summary>DER of <paramref name="depth"/> nested SEQUENCEs (hand-made bytes), built from the inside out.</summary>
    private static byte[] Nested(int depth)
    {
        byte[] current = [0x05, 0x00]; // NULL at the core
        for (int i = 0; i < depth; i++)
        {
            int n = current.Length;
            byte[] length = n < 0x80 ? [(byte)n] : n < 0x100 ? [0x81, (byte)n] : n < 0x10000 ? [0x82, (byte)(n >> 8), (byte)n] : [0x83, (byte)(n >> 16), (byte)(n >> 8), (byte)n];
            current = [0x30, .. length, .. current];
        }
        return current;
    }

    [Fact]
    public void MaxConnectionsOption_LimitHitIsReportedAndEveryAnsweredConnectionStillDecided()
    {
        // port-closed holds two refused attempts; with room for one, the first is decided early.
        var stdout = new StringWriter();
        int exit = RdpWire.Cli.Program.Run(["analyze", "--json", "--max-connections", "1", Path.Combine(RepoPaths.FixturesDir, "port-closed.pcap")], stdout, new StringWriter());
        Assert.Equal(0, exit);
        using var doc = System.Text.Json.JsonDocument.Parse(stdout.ToString());
        var limit = Assert.Single(doc.RootElement.GetProperty("findings").EnumerateArray(), f => f.GetProperty("code").GetString() == "capture.flow-limit");
        Assert.Contains("1 were decided early", limit.GetProperty("summary").GetString(), StringComparison.Ordinal);
        Assert.All(doc.RootElement.GetProperty("connections").EnumerateArray(),
            c => Assert.Equal("tcp.refused", c.GetProperty("verdict").GetProperty("code").GetString()));
        Assert.Equal(2, doc.RootElement.GetProperty("connections").GetArrayLength());
    }

    [Fact]
    public void HandMade_CertificateChainOverTheCaps_KeepsSixteenOfAtMost64KiBAndCountsAll()
    {
        // 20 small certificates and one of 70 KiB in one TLS 1.2 Certificate body.
        var entries = new List<byte>();
        void Add(int length)
        {
            entries.AddRange([(byte)(length >> 16), (byte)(length >> 8), (byte)length]);
            entries.AddRange(new byte[length]);
        }
        for (int i = 0; i < 20; i++)
        {
            Add(10);
        }
        Add(70 * 1024);
        int total = entries.Count;
        byte[] body = [(byte)(total >> 16), (byte)(total >> 8), (byte)total, .. entries];
        Assert.True(CertificateChain.TryParse(body, out var chain, out string? error), error);
        Assert.Equal(21, chain.CertificatesOnWire);
        Assert.Equal(CertificateChain.MaxCertificates, chain.Certificates.Count);
        Assert.All(chain.Certificates, c => Assert.True(c.Length <= CertificateChain.MaxCertificateBytes));
    }

    [Fact]
    public void FragmentBufferLimit_FromTheOptions_HitAndReported()
    {
        // fragmented-path: the router fragments the server's 1500-byte packets; with room for less
        // than one datagram's fragments, reassembly gives up on them and the report says so.
        AnalysisReportFor(RdpWire.Capture.Fragments.DefragmenterLimits.Default, out var normal);
        AnalysisReportFor(RdpWire.Capture.Fragments.DefragmenterLimits.Default with { MaxBufferedBytes = 1024 }, out var capped);
        Assert.DoesNotContain(normal.Connections.SelectMany(c => c.Findings), f => f.Code == "path.ip-fragments-incomplete");
        var incomplete = capped.Connections.SelectMany(c => c.Findings).Where(f => f.Code == "path.ip-fragments-incomplete").ToList();
        Assert.NotEmpty(incomplete);
        Assert.Contains(incomplete, f => f.Detail.Contains("RdpWire's own reassembly limit was hit", StringComparison.Ordinal));
        output.WriteLine(incomplete[0].Summary + " / " + incomplete[0].Detail);
    }

    private static void AnalysisReportFor(RdpWire.Capture.Fragments.DefragmenterLimits limits, out RdpWire.Analyzer.Report.AnalysisReport report)
    {
        using var source = CaptureFile.Open(Path.Combine(RepoPaths.FixturesDir, "fragmented-path.pcap"));
        report = CaptureAnalyzer.Analyze(source, new AnalyzerOptions { FragmentLimits = limits });
    }

    [Fact]
    public void HandshakeMessageLimit_FromTheCommandLine_HitOnARealCertificateFlightAndReported()
    {
        // cert-expired-tls12's Certificate message is 835 bytes: with a 512-byte limit it is not parsed, and the report says why.
        var stdout = new StringWriter();
        int exit = RdpWire.Cli.Program.Run(["analyze", "--json", "--max-handshake-bytes", "512", Path.Combine(RepoPaths.FixturesDir, "cert-expired-tls12.pcap")], stdout, new StringWriter());
        Assert.Equal(0, exit);
        string json = stdout.ToString();
        Assert.Contains("exceeds the 512-byte limit", json, StringComparison.Ordinal);
        Assert.DoesNotContain("\"code\": \"tls.cert-expired\"", json, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--max-asn1-depth", "4", "ASN.1 nesting limit")]
    [InlineData("--max-certificate-bytes", "100", "not inspected: over RdpWire's limits")]
    [InlineData("--max-certificates", "1", "")]
    public void ParserLimits_FromTheCommandLine_HitOnARealCertificateAndReported(string option, string value, string expected)
    {
        var stdout = new StringWriter();
        int exit = RdpWire.Cli.Program.Run(["analyze", "--json", option, value, Path.Combine(RepoPaths.FixturesDir, "cert-expired-tls12.pcap")], stdout, new StringWriter());
        Assert.Equal(0, exit);
        string json = stdout.ToString();
        if (expected.Length == 0)
        {
            // One certificate on the wire fits a limit of one: nothing is lost, the verdict stands.
            Assert.Contains("\"code\": \"tls.cert-expired\"", json, StringComparison.Ordinal);
            return;
        }
        Assert.Contains(expected, json, StringComparison.Ordinal);
        Assert.DoesNotContain("\"code\": \"tls.cert-expired\"", json, StringComparison.Ordinal);
    }
}
