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

    [Theory]
    [MemberData(nameof(RepoPaths.FixtureCaptures), MemberType = typeof(RepoPaths))]
    public async Task RoutedReaders_EachGetTheirOwnPackets_AndTogetherAllOfThemInOrder(string fixture)
    {
        byte[] bytes = File.ReadAllBytes(Path.Combine(RepoPaths.FixturesDir, fixture));
        var expected = new List<(string Packet, int Reader)>(); // Reader: the route key, reduced per reader count below
        long truncated;
        using (var stream = CaptureFile.Open(new MemoryStream(bytes), fixture))
        {
            while (stream.TryReadNext(out var p))
            {
                expected.Add((Describe(p), RouteKey(p)));
            }
            truncated = stream.TruncatedPackets;
        }
        // Blocks smaller than a packet (records, and a router's first bytes, joined across many blocks;
        // records longer than the whole ring), around one, and large.
        foreach (var (blockSize, slots, readers) in new[] { (64, 3, 2), (1000, 4, 3), (1514, 3, 2), (1 << 18, 16, 2) })
        {
            using var shared = SharedCaptureReads.OfBytes(bytes, readers, blockSize, slots);
            shared.RoutePackets((in CapturedPacket p) => Route(p, readers));
            var sources = Enumerable.Range(0, readers).Select(r => shared.OpenSource(fixture, r)).ToList();
            bool pcap = sources[0] is PcapFileReader;
            Assert.Equal(pcap, shared.RoutesPackets);
            var reads = sources.Select(s => Task.Run(() => Packets(s, dispose: false))).ToList();
            var got = await Task.WhenAll(reads);
            if (!pcap)
            {
                // pcapng is not routed: every reader reads every packet.
                Assert.All(got, g => Assert.Equal(expected.Select(e => e.Packet), g));
                continue;
            }
            for (int r = 0; r < readers; r++)
            {
                Assert.Equal(expected.Where(e => e.Reader % readers == r).Select(e => e.Packet), got[r]);
            }
            Assert.Equal(truncated, sources.Sum(s => s.TruncatedPackets));
            sources.ForEach(s => s.Dispose());
            long blocks = (bytes.Length + blockSize - 1) / blockSize;
            Assert.InRange(shared.BlocksRead, blocks, blocks + readers + 1); // each block once, plus empty reads at the end
        }
    }

    [Fact]
    public async Task RoutedReaders_MeetTheDamageWhereTheStreamReaderDoes()
    {
        byte[] whole = File.ReadAllBytes(Path.Combine(RepoPaths.FixturesDir, "cert-expired-tls12.pcap"));
        // Cut inside a record, and (hand-made bytes) a record header claiming more than the snapshot limit.
        byte[] cut = whole[..(whole.Length * 2 / 3)];
        byte[] lie = (byte[])whole.Clone();
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(lie.AsSpan(RecordOffset(lie, 9) + 8), 300_000);
        foreach (var bytes in new[] { cut, lie })
        {
            var (expectedPackets, expectedError) = ReadUntilDamage(CaptureFile.Open(new MemoryStream(bytes), "damaged"));
            Assert.NotNull(expectedError);
            using var shared = SharedCaptureReads.OfBytes(bytes, readers: 2, blockSize: 700, slots: 3);
            shared.RoutePackets((in CapturedPacket p) => (int)(p.Data.Span[^1] & 1));
            var a = shared.OpenSource("damaged", 0);
            var b = shared.OpenSource("damaged", 1);
            var readA = Task.Run(() => ReadUntilDamage(a));
            var fromB = ReadUntilDamage(b);
            var fromA = await readA;
            // Together, the packets before the damage; the record that is cut short fails the reader it
            // is routed to, and a header normal reading refuses fails both.
            Assert.Equal(expectedPackets.Order(), fromA.Packets.Concat(fromB.Packets).Order());
            Assert.Contains(expectedError, new[] { fromA.Error, fromB.Error });
        }
    }

    [Fact]
    public async Task ARouterThatFails_FailsTheReadersInsteadOfLeavingThemWaiting()
    {
        byte[] bytes = File.ReadAllBytes(Path.Combine(RepoPaths.FixturesDir, "mtu-icmp-recovery.pcap"));
        using var shared = SharedCaptureReads.OfBytes(bytes, readers: 2, blockSize: 512, slots: 3);
        shared.RoutePackets((in CapturedPacket p) => p.Frame < 30 ? (int)(p.Frame & 1) : throw new InvalidOperationException("router bug"));
        var a = shared.OpenSource("x", 0);
        var b = shared.OpenSource("x", 1);
        var reads = new[] { Task.Run(() => Packets(a)), Task.Run(() => Packets(b)) };
        var all = Task.WhenAll(reads);
        var finished = await Task.WhenAny(all, Task.Delay(TimeSpan.FromSeconds(30)));
        Assert.True(ReferenceEquals(finished, all) || reads.All(r => r.IsCompleted), "a reader is stuck");
        Assert.All(reads, r => Assert.True(r.IsFaulted));
    }

    [Fact]
    public async Task AReadThatFailsUnexpectedly_FailsEveryReaderInsteadOfLeavingThemWaiting()
    {
        // A read that throws something other than an I/O error (a bug, or the reading disposed under
        // it) used to leave its slot "being read", and the other reader waited for it for ever.
        byte[] bytes = File.ReadAllBytes(Path.Combine(RepoPaths.FixturesDir, "mtu-icmp-recovery.pcap"));
        const int blockSize = 512;
        using var shared = new SharedCaptureReads((buffer, offset) =>
        {
            if (offset == 3 * blockSize)
            {
                throw new InvalidOperationException("read bug"); // one block: one reader reads it, the other needs it too
            }
            int n = (int)Math.Clamp(bytes.Length - offset, 0, buffer.Length);
            bytes.AsSpan((int)offset, n).CopyTo(buffer);
            return n;
        }, readers: 2, blockSize, slots: 3);
        var a = shared.OpenSource("x");
        var b = shared.OpenSource("x");
        var reads = new[] { Task.Run(() => Packets(a)), Task.Run(() => Packets(b)) };
        await Task.WhenAny(Task.WhenAll(reads), Task.Delay(TimeSpan.FromSeconds(30)));
        Assert.True(reads.All(r => r.IsCompleted), "a reader is stuck");
        Assert.All(reads, r => Assert.True(r.IsFaulted));
        // The reader that read the block sees the bug itself.
        Assert.Contains(reads, r => r.Exception!.InnerException is InvalidOperationException { Message: "read bug" });
    }

    /// <summary>A test router: by the packet's first bytes (the router sees at most a prefix), spread over the readers.</summary>
    private static int Route(in CapturedPacket p, int readers) => RouteKey(p) % readers;

    private static int RouteKey(in CapturedPacket p) => p.Data.Length < 16 ? 0 : p.Data.Span[12] + p.Data.Span[15];

    private static int RecordOffset(byte[] pcap, int frame)
    {
        int offset = 24;
        for (int f = 1; f < frame; f++)
        {
            offset += 16 + (int)System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(pcap.AsSpan(offset + 8));
        }
        return offset;
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

    private static List<string> Packets(IPacketSource source) => Packets(source, dispose: true);

    private static List<string> Packets(IPacketSource source, bool dispose)
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
