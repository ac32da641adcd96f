using System.Buffers.Binary;
using System.Text;
using RdpWire.Analyzer;
using RdpWire.Analyzer.Report;
using RdpWire.Bench;
using RdpWire.Capture.Files;
using RdpWire.RdpParser.Tls.Decryption;
using RdpWire.Tests.Support;
using Xunit;

namespace RdpWire.Tests.Analyzer;

/// <summary>
/// Issue 8, <c>--threads</c>: the report of the sharded analysis is byte for byte the report of
/// one analyzer, on every recorded fixture (with its key log when it has one: key material is
/// copied per thread) and on a generated capture of many interleaved sessions.
/// </summary>
public class ShardedAnalysisTests
{
    [Theory]
    [MemberData(nameof(RepoPaths.FixtureCaptures), MemberType = typeof(RepoPaths))]
    public void Fixture_SameJsonOnOneTwoAndThreeThreads(string fixture)
    {
        string path = Path.Combine(RepoPaths.FixturesDir, fixture);
        string keyLog = Path.ChangeExtension(path, ".keylog");
        var keys = File.Exists(keyLog) ? TlsKeyLog.Load(keyLog) : null;
        foreach (var (spool, after) in new[] { (true, 0), (true, 64), (false, 0) })
        {
            var options = new AnalyzerOptions { KeyLog = keys, SpoolConnections = spool, SpoolAfter = after };
            string one = Json(path, options, 1);
            Assert.Equal(one, Json(path, options, 2));
            Assert.Equal(one, Json(path, options, 3));
        }
    }

    [Fact]
    public void GeneratedCaptureOfInterleavedSessions_SameJsonOnTwoThreads()
    {
        using var capture = new GeneratedCapture(CaptureGenerator.DefaultTemplates, 24L << 20, bulkBytesPerSession: 256L << 10,
            concurrentSessions: 48, TimeSpan.FromMilliseconds(5), TimeSpan.FromMilliseconds(1));
        // Spooled from the first connection, after the first 20 (some shards spool, some not), and never.
        foreach (var (spool, after) in new[] { (true, 0), (true, 20), (false, 0) })
        {
            var options = new AnalyzerOptions { SpoolConnections = spool, SpoolAfter = after };
            string one = Json(capture.Path, options, 1);
            Assert.Contains("\"tcp.refused\"", one);
            Assert.Contains("\"ok\"", one);
            Assert.Equal(one, Json(capture.Path, options, 2));
        }
    }

    [Theory]
    [InlineData(300, 700)]
    [InlineData(1000, 1200)]
    [InlineData(500, -700)]
    public void HandMade_TimeStampsThatJump_SameJsonOnOneTwoAndThreeThreads(int every, int seconds)
    {
        // A generated capture whose every Nth record is stamped minutes away from its neighbours (a
        // clock stepped while capturing, captures merged out of order). With one analyzer, a packet
        // stamped ahead ends every connection idle by its time; each shard must see that time too.
        using var capture = new GeneratedCapture(CaptureGenerator.DefaultTemplates, 24L << 20, bulkBytesPerSession: 256L << 10,
            concurrentSessions: 48, TimeSpan.FromMilliseconds(5), TimeSpan.FromMilliseconds(1));
        byte[] bytes = File.ReadAllBytes(capture.Path);
        int records = 0;
        for (int at = 24; at + 16 <= bytes.Length; at += 16 + (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 8)))
        {
            if (++records % every == 0)
            {
                uint stamped = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at));
                BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(at), (uint)(stamped + seconds));
            }
        }
        File.WriteAllBytes(capture.Path, bytes);
        var options = new AnalyzerOptions { SpoolConnections = true };
        string one = Json(capture.Path, options, 1);
        Assert.Contains("\"closeKind\": \"timeout\"", one);
        Assert.Equal(one, Json(capture.Path, options, 2));
        Assert.Equal(one, Json(capture.Path, options, 3));
    }

    [Fact]
    public void HandMade_FragmentsOfTwoHostPairsOnDifferentThreads_TimeOutAtTheSamePacket()
    {
        // The recorded fragments-dropped capture twice: as recorded, then again 35 s after it ends with
        // the client's address changed so that the pair falls to the other of two threads. With one
        // analyzer, the second copy's first fragment runs out the first copy's reassembly timers; the
        // first copy's thread must see that time too, or its datagrams are "still missing when the
        // capture ended" instead.
        byte[] recorded = File.ReadAllBytes(Path.Combine(RepoPaths.FixturesDir, "fragments-dropped.pcap"));
        var records = new List<(uint Seconds, uint Fraction, byte[] Frame)>();
        for (int at = 24; at + 16 <= recorded.Length;)
        {
            int length = (int)BinaryPrimitives.ReadUInt32LittleEndian(recorded.AsSpan(at + 8));
            records.Add((BinaryPrimitives.ReadUInt32LittleEndian(recorded.AsSpan(at)),
                BinaryPrimitives.ReadUInt32LittleEndian(recorded.AsSpan(at + 4)), recorded.AsSpan(at + 16, length).ToArray()));
            at += 16 + length;
        }
        byte[] client = [10, 77, 1, 2];
        int Shard(byte[] frame) => ShardedAnalysis.ShardOf(new RdpWire.Capture.CapturedPacket(1, 0, RdpWire.Capture.LinkType.Ethernet, 0, frame.Length, frame), 2);
        byte[] Moved(byte[] frame, byte second)
        {
            byte[] copy = (byte[])frame.Clone();
            foreach (int offset in (int[])[26, 30]) // IPv4 source and destination behind a 14-byte Ethernet header
            {
                if (copy.AsSpan(offset, 4).SequenceEqual(client))
                {
                    copy[offset + 1] = second;
                }
            }
            int headerLength = (copy[14] & 0x0F) * 4;
            copy[24] = copy[25] = 0;
            uint sum = 0;
            for (int i = 14; i < 14 + headerLength; i += 2)
            {
                sum += (uint)(copy[i] << 8 | copy[i + 1]);
            }
            sum = (sum & 0xFFFF) + (sum >> 16);
            sum = (sum & 0xFFFF) + (sum >> 16);
            BinaryPrimitives.WriteUInt16BigEndian(copy.AsSpan(24), (ushort)~sum);
            return copy;
        }
        byte second = Enumerable.Range(78, 100).Select(b => (byte)b).First(b => Shard(Moved(records[0].Frame, b)) != Shard(records[0].Frame));
        uint shift = records[^1].Seconds - records[0].Seconds + 35;
        using var file = new MemoryStream();
        file.Write(recorded.AsSpan(0, 24));
        foreach (var (seconds, fraction, frame) in records.Select(r => r).Concat(records.Select(r => (r.Seconds + shift, r.Fraction, Moved(r.Frame, second)))))
        {
            foreach (uint field in (uint[])[seconds, fraction, (uint)frame.Length, (uint)frame.Length])
            {
                file.Write(BitConverter.GetBytes(field));
            }
            file.Write(frame);
        }
        string path = Path.Combine(Path.GetTempPath(), $"rdpwire-test-{Guid.NewGuid():N}.pcap");
        File.WriteAllBytes(path, file.ToArray());
        try
        {
            var options = new AnalyzerOptions();
            string one = Json(path, options, 1);
            Assert.Contains("reassembly timer ran out", one);
            Assert.Equal(one, Json(path, options, 2));
            Assert.Equal(one, Json(path, options, 3));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void HeapGovernor_CollectingDuringTheAnalysis_LeavesTheReportAsItWas()
    {
        using var capture = new GeneratedCapture(CaptureGenerator.DefaultTemplates, 24L << 20, bulkBytesPerSession: 64L << 10,
            concurrentSessions: 48, TimeSpan.FromMilliseconds(5), TimeSpan.FromMilliseconds(1));
        var plain = new AnalyzerOptions { SpoolConnections = true };
        string expected = Json(capture.Path, plain, 1);
        // 64 KiB between collections: nearly every look at the counter (each 4,096 packets) collects.
        var governed = plain with { CollectEveryAllocatedBytes = 64L << 10 };
        Assert.Equal(expected, Json(capture.Path, governed, 1));
        Assert.Equal(expected, Json(capture.Path, governed, 2));
    }

    [Fact]
    public void HeapGovernor_CollectsOnlyPastItsBudget()
    {
        var governor = new HeapGovernor(1L << 20);
        governor.Check();
        governor.Check();
        Assert.Equal(0, governor.Collections);
        var keep = new List<byte[]>();
        for (int i = 0; i < 48; i++)
        {
            keep.Add(new byte[64 << 10]); // 3 MiB in all: three budgets
            governor.Check();
        }
        // Three budgets; up to twice as many collections when the test process keeps more than the
        // live allowance alive (the budget then halves, see NextBudget).
        Assert.InRange(governor.Collections, 2, 6);
        GC.KeepAlive(keep);
    }

    [Fact]
    public void HeapGovernor_NextBudget_ShrinksByWhatStaysAliveBeyondTheAllowance_ToHalfAtLeast()
    {
        const long MiB = 1L << 20;
        var governor = new HeapGovernor(4 * MiB);
        Assert.Equal(4 * MiB, governor.NextBudget(2 * MiB));
        Assert.Equal(4 * MiB, governor.NextBudget(HeapGovernor.LiveAllowanceBytes));
        Assert.Equal(3 * MiB, governor.NextBudget(HeapGovernor.LiveAllowanceBytes + MiB));
        Assert.Equal(2 * MiB, governor.NextBudget(HeapGovernor.LiveAllowanceBytes + 3 * MiB));
        Assert.Equal(2 * MiB, governor.NextBudget(100 * MiB));
    }

    [Fact]
    public void ShardOf_AnEthernetFrameWithAVlanTagInserted_StaysInItsShard()
    {
        // The shard is the IP address pair's, whatever the link layer around it: every untagged
        // Ethernet IPv4 packet of every fixture against the same frame with an 802.1Q tag, 7 shards.
        int compared = 0;
        foreach (string path in Directory.GetFiles(RepoPaths.FixturesDir, "*.pcap*"))
        {
            using var source = CaptureFile.Open(path);
            while (source.TryReadNext(out var packet))
            {
                var d = packet.Data.Span;
                if (packet.LinkType != RdpWire.Capture.LinkType.Ethernet || d.Length < 34 || d[12] != 0x08 || d[13] != 0x00)
                {
                    continue;
                }
                byte[] tagged = [.. d[..12], 0x81, 0x00, 0x00, 0x2A, .. d[12..]];
                var viaTag = new RdpWire.Capture.CapturedPacket(packet.Frame, packet.TimestampTicks, packet.LinkType, 0, tagged.Length, tagged);
                Assert.Equal(ShardedAnalysis.ShardOf(viaTag, 7), ShardedAnalysis.ShardOf(packet, 7));
                compared++;
            }
        }
        Assert.True(compared > 1000, $"{compared} packets compared");
    }

    [Fact]
    public void GlobalIds_RankCreationFramesAcrossShards()
    {
        // Shard 0 created connections at frames 1, 4, 9; shard 1 at 2, 3, 10; shard 2 none.
        var ids = ShardedAnalysis.GlobalIds([[1, 4, 9], [2, 3, 10], []]);
        Assert.Equal([1L, 4, 5], ids[0]);
        Assert.Equal([2L, 3, 6], ids[1]);
        Assert.Empty(ids[2]);
    }

    private static string Json(string path, AnalyzerOptions options, int threads)
    {
        // As analyze --threads reads: each thread reads the whole file itself.
        using var readings = CaptureFileReadings.Open(path);
        var report = ShardedAnalysis.Analyze(() => readings.OpenSource(path), threads, options);
        using var spool = report.Spool;
        using var buffer = new MemoryStream();
        ReportJson.Write(buffer, report);
        return Encoding.UTF8.GetString(buffer.ToArray());
    }
}
