using System.Text;
using RdpWire.Analyzer;
using RdpWire.Analyzer.Report;
using RdpWire.Capture;
using RdpWire.Capture.Files;
using RdpWire.Tests.Support;
using Xunit;

namespace RdpWire.Tests.Capture;

/// <summary>One reading of a capture shared by several readers (analyze --threads): the same packets, the same reports, each block read once.</summary>
public class SharedCaptureReadsTests
{
    [Theory]
    [MemberData(nameof(RepoPaths.FixtureCaptures), MemberType = typeof(RepoPaths))]
    public async Task EveryReaderSeesEveryPacketAsTheStreamReaderDoes(string fixture)
    {
        byte[] bytes = File.ReadAllBytes(Path.Combine(RepoPaths.FixturesDir, fixture));
        var expected = Packets(CaptureFile.Open(new MemoryStream(bytes), fixture));
        // Block sizes below, around and above a packet's size: records joined across 1, 2 and many blocks.
        foreach (int blockSize in new[] { 64, 1000, 1514, 4096, 1 << 18 })
        {
            using var shared = SharedCaptureReads.OfBytes(bytes, readers: 2, blockSize, slots: 3);
            var a = shared.OpenSource(fixture);
            var b = shared.OpenSource(fixture);
            // Each reader on its own thread, as analyze --threads reads: one runs ahead until the ring is full, then waits.
            var readA = Task.Run(() => Packets(a));
            var fromB = Packets(b);
            var fromA = await readA;
            Assert.Equal(expected, fromA);
            Assert.Equal(expected, fromB);
            long blocks = (bytes.Length + blockSize - 1) / blockSize;
            Assert.InRange(shared.BlocksRead, blocks, blocks + 2); // each block once, plus empty reads at the end (two readers can each ask for one)
        }
    }

    [Fact]
    public async Task AReaderThatTrailsReadsTheBlocksThatFallToIt()
    {
        // The reader that runs ahead would otherwise read every block: the copies out of the kernel,
        // a fifth of the work, all on one thread. The trailing reader frees the slots, and refills
        // those whose next block is its own (odd blocks for the second reader of two).
        byte[] bytes = File.ReadAllBytes(Path.Combine(RepoPaths.FixturesDir, "mtu-icmp-recovery.pcap"));
        const int blockSize = 1024;
        var readBy = new int[(bytes.Length + blockSize - 1) / blockSize + 1];
        using var shared = new SharedCaptureReads((buffer, offset) =>
        {
            readBy[offset / blockSize] = Environment.CurrentManagedThreadId;
            int n = (int)Math.Clamp(bytes.Length - offset, 0, buffer.Length);
            bytes.AsSpan((int)Math.Min(offset, bytes.Length), n).CopyTo(buffer);
            return n;
        }, readers: 2, blockSize, slots: 4);
        var ahead = shared.OpenSource("ahead");
        var behind = shared.OpenSource("behind");
        var readAhead = Task.Run(() => Packets(ahead));
        while (shared.BlocksRead < 4)
        {
            Thread.Sleep(1); // the reader ahead fills the ring first
        }
        int trailing = Environment.CurrentManagedThreadId;
        var slowly = new List<string>();
        using (behind)
        {
            while (behind.TryReadNext(out var p))
            {
                slowly.Add(Describe(p));
                Thread.Sleep(2); // far behind: the other reader waits at the ring, never this one
            }
        }
        Assert.Equal(await readAhead, slowly);
        int blocks = bytes.Length / blockSize;
        var pattern = string.Join("", readBy.Take(blocks).Select(t => t == trailing ? 'T' : 'L'));
        // Past the first ring's worth, the odd blocks come from the trailing reader and the even ones from the reader ahead.
        int oddByTrailer = 0, evenByLeader = 0;
        for (int i = 4; i < blocks; i++)
        {
            oddByTrailer += i % 2 == 1 && pattern[i] == 'T' ? 1 : 0;
            evenByLeader += i % 2 == 0 && pattern[i] == 'L' ? 1 : 0;
        }
        Assert.True(oddByTrailer >= (blocks - 4) / 2 * 3 / 4 && evenByLeader >= (blocks - 4) / 2 * 3 / 4, pattern);
    }

    [Fact]
    public async Task AReaderThatStopsEarlyDoesNotHoldTheOthersBack()
    {
        byte[] bytes = File.ReadAllBytes(Path.Combine(RepoPaths.FixturesDir, "mtu-blackhole-server-side.pcap"));
        int all = Packets(CaptureFile.Open(new MemoryStream(bytes), "x")).Count;
        using var shared = SharedCaptureReads.OfBytes(bytes, readers: 2, blockSize: 512, slots: 3);
        var quitter = shared.OpenSource("x");
        var reader = shared.OpenSource("x");
        Assert.True(quitter.TryReadNext(out _));
        shared.DoneReading(quitter);
        // Three slots of 512 bytes: without the release the second reader would wait for ever on the fourth block.
        var read = Task.Run(() => Packets(reader).Count);
        var finished = await Task.WhenAny(read, Task.Delay(TimeSpan.FromSeconds(30)));
        Assert.True(ReferenceEquals(finished, read), "the second reader is stuck behind the first");
        Assert.Equal(all, await read);
        quitter.Dispose();
    }

    [Fact]
    public void ADamagedCaptureEndsWhereTheStreamReaderSaysItDoes()
    {
        byte[] whole = File.ReadAllBytes(Path.Combine(RepoPaths.FixturesDir, "cert-expired-tls12.pcap"));
        byte[] cut = whole[..(whole.Length * 2 / 3)];
        var (expectedPackets, expectedError) = ReadUntilDamage(CaptureFile.Open(new MemoryStream(cut), "cut"));
        Assert.NotNull(expectedError);
        using var shared = SharedCaptureReads.OfBytes(cut, readers: 1, blockSize: 700, slots: 3);
        var (packets, error) = ReadUntilDamage(shared.OpenSource("cut"));
        Assert.Equal(expectedPackets, packets);
        Assert.Equal(expectedError, error);
    }

    [Fact]
    public async Task AFileHeaderLongerThanTheRing_FailsEveryThreadInsteadOfWaiting()
    {
        // Hand-made bytes: a recorded pcapng whose Section Header Block claims more bytes than the file
        // holds, so reading the header joins every block of the file. A reader that opened before the
        // others held any block used to wait for them for ever (found by the fuzzer).
        byte[] bytes = File.ReadAllBytes(Path.Combine(RepoPaths.FixturesDir, "cert-expired-tls13-embedded-keys.pcapng"));
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), (uint)bytes.Length + 4096);
        using var shared = SharedCaptureReads.OfBytes(bytes, readers: 2, blockSize: 256, slots: 3);
        var analysis = Task.Run(() => ShardedAnalysis.Analyze(shared, "lie", new AnalyzerOptions()));
        var finished = await Task.WhenAny(analysis, Task.Delay(TimeSpan.FromSeconds(30)));
        Assert.True(ReferenceEquals(finished, analysis), "the analysis is stuck opening the capture");
        var e = await Assert.ThrowsAsync<CaptureFormatException>(() => analysis);
        Assert.Contains("section header block", e.Message);
    }

    [Fact]
    public void ShardedAnalysisOverASharedReading_WritesTheOneThreadReport()
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
            using var shared = SharedCaptureReads.OpenFile(capture.Path, threads, blockSize: 8192, slots: 3);
            Assert.Equal(one, Json(ShardedAnalysis.Analyze(shared, capture.Path, options)));
            long blocks = (new FileInfo(capture.Path).Length + 8191) / 8192;
            Assert.InRange(shared.BlocksRead, blocks, blocks + 1);
        }
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

    private static List<string> Packets(IPacketSource source)
    {
        var list = new List<string>();
        using (source)
        {
            while (source.TryReadNext(out var p))
            {
                list.Add(Describe(p));
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
