using System.Buffers.Binary;
using System.Text;
using RdpWire.Capture;
using RdpWire.Capture.Files;
using RdpWire.Tests.Support;
using Xunit;

namespace RdpWire.Tests.Capture;

public sealed class CaptureFileReaderTests
{
    private const uint MicrosecondMagic = 0xA1B2C3D4;
    private const uint NanosecondMagic = 0xA1B23C4D;
    private const uint Ethernet = 1;
    private const ushort LinkEthernet = 1;
    private const ushort LinkRaw = 101;
    private const ushort LinkSll = 113;

    // ---------------------------------------------------------------- real captures

    /// <summary>
    /// Expected values come from tshark 4.x on the corpus files:
    /// packets: `tshark -r FILE -T fields -e frame.number | wc -l`;
    /// bytes: the sum of `tshark -r FILE -T fields -e frame.cap_len`.
    /// </summary>
    [CorpusFact]
    public void ZeekCorpus_PacketCountsAndCapturedBytes_MatchTshark()
    {
        (string File, long Packets, long Bytes)[] expected =
        [
            ("rdp-no-cookie-mstshash.pcap", 20, 4004),
            ("rdp-proprietary-encryption.pcap", 542, 134214),
            ("rdp-to-ssl.pcap", 658, 124430),
            ("rdpeudp-handshake-success.pcap", 10, 5013),
        ];

        foreach (var (file, packets, bytes) in expected)
        {
            string path = Path.Combine(RepoPaths.CorpusDir, "zeek", file);
            using IPacketSource source = CaptureFile.Open(path);
            Assert.Equal(CaptureFormat.Pcap, source.Format);
            long count = 0;
            long total = 0;
            while (source.TryReadNext(out CapturedPacket packet))
            {
                count++;
                total += packet.Data.Length;
                Assert.Equal(count, packet.Frame);
                Assert.Equal(LinkType.Ethernet, packet.LinkType);
            }

            Assert.Equal((file, packets, bytes), (file, count, total));
            Assert.Equal(new[] { LinkType.Ethernet }, source.LinkTypes);
            Assert.Equal(0, source.TruncatedPackets);
        }
    }

    /// <summary>
    /// tshark -r rdp-to-ssl.pcap -T fields -e frame.time_epoch: first 1297551041.283662000,
    /// last (frame 658) 1297551082.679566000.
    /// </summary>
    [CorpusFact]
    public void ZeekCorpus_RdpToSsl_FirstAndLastTimestampsMatchTshark()
    {
        using IPacketSource source = CaptureFile.Open(Path.Combine(RepoPaths.CorpusDir, "zeek", "rdp-to-ssl.pcap"));
        Assert.True(source.TryReadNext(out CapturedPacket first));
        Assert.Equal(1, first.Frame);
        Assert.Equal(EpochTicks(1297551041, 283662_0), first.TimestampTicks);
        Assert.Equal(66, first.Data.Length);

        CapturedPacket last = first;
        while (source.TryReadNext(out CapturedPacket packet))
        {
            last = packet;
        }

        Assert.Equal(658, last.Frame);
        Assert.Equal(EpochTicks(1297551082, 679566_0), last.TimestampTicks);
        Assert.Equal(new DateTime(2011, 2, 12, 22, 51, 22, DateTimeKind.Utc).AddTicks(679566_0), last.Timestamp);
    }

    // ---------------------------------------------------------------- classic pcap

    [Theory]
    [InlineData(false, false)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void HandMadePcap_EveryMagicAndByteOrder_FieldsExact(bool nanosecond, bool bigEndian)
    {
        byte[] image = HandMadePcap.Build(nanosecond ? NanosecondMagic : MicrosecondMagic, bigEndian, Ethernet,
            new PcapRecord(1_700_000_000, nanosecond ? 123_456_789u : 123_456u, Bytes(60, seed: 1)),
            new PcapRecord(1_700_000_001, 0, Bytes(1514, seed: 2)));

        using IPacketSource source = CaptureFile.Open(new MemoryStream(image), "hand-made.pcap");
        var reader = Assert.IsType<PcapFileReader>(source);
        Assert.Equal(nanosecond, reader.NanosecondTimestamps);
        Assert.Equal((ushort)2, reader.VersionMajor);
        Assert.Equal((ushort)4, reader.VersionMinor);
        Assert.Equal(65535u, reader.SnapLength);
        Assert.Null(reader.FcsLength);

        List<Frame> frames = ReadAll(source);
        Assert.Equal(2, frames.Count);
        long fractionTicks = nanosecond ? 1_234_567 : 1_234_560;
        Assert.Equal(new Frame(1, EpochTicks(1_700_000_000, fractionTicks), LinkType.Ethernet, 0, 60, Bytes(60, seed: 1)), frames[0]);
        Assert.Equal(new Frame(2, EpochTicks(1_700_000_001, 0), LinkType.Ethernet, 0, 1514, Bytes(1514, seed: 2)), frames[1]);
        Assert.Equal(CaptureFormat.Pcap, source.Format);
        Assert.Equal("hand-made.pcap", source.Name);
    }

    [Fact]
    public void HandMadePcap_NanosecondBigEndian_TimestampsRoundedDownTo100ns()
    {
        byte[] image = HandMadePcap.Build(NanosecondMagic, bigEndian: true, Ethernet,
            new PcapRecord(0, 99, Bytes(20, 1)),
            new PcapRecord(1, 999_999_999, Bytes(20, 2)),
            new PcapRecord(uint.MaxValue, 100, Bytes(20, 3)));

        List<Frame> frames = ReadAll(CaptureFile.Open(new MemoryStream(image), "ns.pcap"));

        Assert.Equal(EpochTicks(0, 0), frames[0].Ticks);
        Assert.Equal(EpochTicks(1, 9_999_999), frames[1].Ticks);
        Assert.Equal(EpochTicks(uint.MaxValue, 1), frames[2].Ticks);
    }

    [Fact]
    public void HandMadePcap_FcsBitsInLinkTypeField_LinkTypeIsLow16BitsAndFcsLengthReported()
    {
        // draft-ietf-opsawg-pcap section 4: FCS len 2 (16-bit words) in bits 28-31, P bit 26.
        const uint linkField = (2u << 28) | 0x0400_0000 | Ethernet;
        byte[] image = HandMadePcap.Build(MicrosecondMagic, bigEndian: false, linkField, new PcapRecord(5, 6, Bytes(64, 1)));

        using IPacketSource source = CaptureFile.Open(new MemoryStream(image), "fcs.pcap");

        Assert.Equal(4, Assert.IsType<PcapFileReader>(source).FcsLength);
        Assert.Equal(new[] { LinkType.Ethernet }, source.LinkTypes);
        Assert.True(source.TryReadNext(out CapturedPacket packet));
        Assert.Equal(LinkType.Ethernet, packet.LinkType);
        Assert.Equal(64, packet.Data.Length);
    }

    [Fact]
    public void HandMadePcap_FcsLengthWithoutPresentBit_NotReported()
    {
        byte[] image = HandMadePcap.Build(MicrosecondMagic, bigEndian: true, (3u << 28) | LinkRaw);

        using IPacketSource source = CaptureFile.Open(new MemoryStream(image), "fcs.pcap");

        Assert.Null(Assert.IsType<PcapFileReader>(source).FcsLength);
        Assert.Equal(new[] { LinkType.Raw }, source.LinkTypes);
        Assert.False(source.TryReadNext(out _));
    }

    [Fact]
    public void HandMadePcap_SnaplenCutAndInclLenAboveOrigLen_CountedAndTolerated()
    {
        byte[] image = HandMadePcap.Build(MicrosecondMagic, bigEndian: false, Ethernet,
            new PcapRecord(1, 0, Bytes(96, 1), OriginalLength: 1500),
            new PcapRecord(2, 0, Bytes(100, 2), OriginalLength: 40),
            new PcapRecord(3, 0, Bytes(70, 3)));

        using IPacketSource source = CaptureFile.Open(new MemoryStream(image), "snap.pcap");
        List<Frame> frames = ReadAll(source);

        Assert.Equal(1500, frames[0].OriginalLength);
        Assert.Equal(96, frames[0].Data.Length);
        Assert.Equal(100, frames[1].OriginalLength);
        Assert.Equal(Bytes(100, 2), frames[1].Data);
        Assert.Equal(70, frames[2].OriginalLength);
        Assert.Equal(1, source.TruncatedPackets);
    }

    [Theory]
    [InlineData(10)] // inside the third record header
    [InlineData(16 + 30)] // inside the third record's data
    [InlineData(16 + 99)] // one byte short
    public void HandMadePcap_TruncatedMidPacket_EarlierPacketsReturnedThenThrows(int bytesOfThirdRecord)
    {
        byte[] whole = HandMadePcap.Build(MicrosecondMagic, bigEndian: false, Ethernet,
            new PcapRecord(1, 0, Bytes(50, 1)),
            new PcapRecord(2, 0, Bytes(60, 2)),
            new PcapRecord(3, 0, Bytes(100, 3)));
        const long thirdRecordOffset = 24 + 16 + 50 + 16 + 60;
        byte[] image = whole[..(int)(thirdRecordOffset + bytesOfThirdRecord)];

        using IPacketSource source = CaptureFile.Open(new MemoryStream(image), "cut.pcap");
        Assert.True(source.TryReadNext(out CapturedPacket first));
        Assert.Equal(Bytes(50, 1), first.Data.ToArray());
        Assert.True(source.TryReadNext(out CapturedPacket second));
        Assert.Equal(Bytes(60, 2), second.Data.ToArray());
        var error = Assert.Throws<CaptureFormatException>(() => source.TryReadNext(out _));

        Assert.Equal($"capture is truncated: packet 3 (at byte offset {thirdRecordOffset}) is cut short", error.Message);
        Assert.Equal(2, error.PacketsRead);
        Assert.Equal(thirdRecordOffset, error.ByteOffset);
    }

    [Fact]
    public void HandMadePcap_OversizedInclLen_ThrowsWithoutReadingIt()
    {
        byte[] image = HandMadePcap.Build(MicrosecondMagic, bigEndian: true, Ethernet,
            new PcapRecord(1, 0, Bytes(10, 1)),
            new PcapRecord(2, 0, Bytes(10, 2), IncludedLength: 262145));

        using IPacketSource source = CaptureFile.Open(new MemoryStream(image), "big.pcap");
        Assert.True(source.TryReadNext(out _));
        var error = Assert.Throws<CaptureFormatException>(() => source.TryReadNext(out _));

        Assert.Equal("packet 2 claims 262145 bytes, more than the 262144 limit", error.Message);
        Assert.Equal(1, error.PacketsRead);
        Assert.Equal(24 + 16 + 10, error.ByteOffset);
    }

    [Fact]
    public void HandMadePcap_InclLenAtLimit_Accepted()
    {
        byte[] image = HandMadePcap.Build(MicrosecondMagic, bigEndian: false, Ethernet,
            new PcapRecord(1, 0, Bytes(PcapFileReader.MaxPacketLength, 1)));

        List<Frame> frames = ReadAll(CaptureFile.Open(new MemoryStream(image), "max.pcap"));

        Assert.Equal(Bytes(PcapFileReader.MaxPacketLength, 1), Assert.Single(frames).Data);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    [InlineData(23)]
    public void HandMadePcap_TruncatedFileHeader_Throws(int length)
    {
        byte[] image = HandMadePcap.Build(NanosecondMagic, bigEndian: true, Ethernet)[..length];

        var error = Assert.Throws<CaptureFormatException>(() => CaptureFile.Open(new MemoryStream(image), "short.pcap"));

        Assert.Equal($"short.pcap: the pcap file header is truncated ({length} of 24 bytes)", error.Message);
    }

    [Fact]
    public void HandMadePcap_RecordsStraddlingRefillsOfNonSeekableStream_DataIntact()
    {
        // More than the 1 MiB buffer, in odd-sized reads, so records straddle every refill.
        var random = new Random(7);
        var records = new List<PcapRecord>();
        long total = 0;
        for (int i = 0; total < 3 * 1024 * 1024; i++)
        {
            int size = i % 10 == 0 ? random.Next(100_000, PcapFileReader.MaxPacketLength + 1) : random.Next(0, 2000);
            records.Add(new PcapRecord((uint)i, 0, Bytes(size, i)));
            total += 16 + size;
        }

        byte[] image = HandMadePcap.Build(MicrosecondMagic, bigEndian: false, Ethernet, [.. records]);
        var stream = new TrickleStream(image, maxChunk: 7919);

        List<Frame> frames = ReadAll(CaptureFile.Open(stream, "trickle.pcap"));

        Assert.Equal(records.Count, frames.Count);
        for (int i = 0; i < records.Count; i++)
        {
            Assert.Equal(i + 1, frames[i].Number);
            Assert.Equal(records[i].Data, frames[i].Data);
        }

        Assert.True(stream.Disposed);
    }

    [Fact]
    public void HandMadePcap_SteadyState_NoPerPacketAllocations()
    {
        var records = Enumerable.Range(0, 30_000).Select(i => new PcapRecord((uint)i, 0, Bytes(60 + i % 40, i))).ToArray();
        AssertNoAllocationsAfterWarmUp(HandMadePcap.Build(MicrosecondMagic, bigEndian: false, Ethernet, records));
    }

    [Fact]
    public void HandMadePcapNg_SteadyState_NoPerPacketAllocations()
    {
        var ng = new HandMadePcapNg().Section(bigEndian: true).Interface(LinkEthernet, 0).Interface(LinkRaw, 0, (IfTsresol, [9]));
        for (int i = 0; i < 30_000; i++)
        {
            if (i % 3 == 2)
            {
                ng.Simple((uint)(60 + i % 40), Bytes(60 + i % 40, i));
            }
            else
            {
                ng.Enhanced((uint)(i % 2), (ulong)i * 1000, Bytes(60 + i % 40, i));
            }

            if (i % 1000 == 0)
            {
                ng.Block(0x00000005, Bytes(20, i)); // statistics blocks are skipped in passing
            }
        }

        AssertNoAllocationsAfterWarmUp(ng.ToArray());
    }

    private static void AssertNoAllocationsAfterWarmUp(byte[] image)
    {
        using IPacketSource source = CaptureFile.Open(new MemoryStream(image), "many");
        long bytes = 0;
        for (int i = 0; i < 1000; i++)
        {
            Assert.True(source.TryReadNext(out CapturedPacket packet));
            bytes += packet.Data.Length;
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        long packets = 0;
        while (source.TryReadNext(out CapturedPacket packet))
        {
            bytes += packet.Data.Length;
            packets++;
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.True(bytes > 2 * 1024 * 1024, "the image must span several buffer refills");
        // A per-packet allocation of even one small object would cost >= 24 bytes x packets. The bound is
        // one byte per packet so that one-off runtime work on this thread (tier-up, OSR) cannot flake it.
        Assert.True(packets > 10_000, "the steady-state loop must read many packets");
        Assert.True(allocated < packets, $"{allocated} bytes allocated while reading {packets} packets");
    }

    // ---------------------------------------------------------------- pcapng

    [Fact]
    public void HandMadePcapNg_TwoInterfacesDifferentLinkTypesAndTsresol_TimestampsAndLinkTypesExact()
    {
        byte[] image = new HandMadePcapNg()
            .Section(bigEndian: false)
            .Interface(LinkEthernet, 65535) // default resolution: microseconds
            .Interface(LinkRaw, 262144, (IfTsresol, [9])) // nanoseconds
            .Enhanced(0, 1_700_000_000_123_456, Bytes(60, 1))
            .Enhanced(1, 1_700_000_000_123_456_789, Bytes(40, 2))
            .Enhanced(0, 1_700_000_001_000_000, Bytes(70, 3), originalLength: 1514)
            .ToArray();

        using IPacketSource source = CaptureFile.Open(new MemoryStream(image), "two-if.pcapng");
        List<Frame> frames = ReadAll(source);

        Assert.Equal(CaptureFormat.PcapNg, source.Format);
        Assert.Equal(new[] { LinkType.Ethernet, LinkType.Raw }, source.LinkTypes);
        Assert.Equal(new Frame(1, EpochTicks(1_700_000_000, 1_234_560), LinkType.Ethernet, 0, 60, Bytes(60, 1)), frames[0]);
        Assert.Equal(new Frame(2, EpochTicks(1_700_000_000, 1_234_567), LinkType.Raw, 1, 40, Bytes(40, 2)), frames[1]);
        Assert.Equal(new Frame(3, EpochTicks(1_700_000_001, 0), LinkType.Ethernet, 0, 1514, Bytes(70, 3)), frames[2]);
        Assert.Equal(1, source.TruncatedPackets);
    }

    [Fact]
    public void HandMadePcapNg_TsresolPowerOfTwoAndTsoffset_Honoured()
    {
        byte[] image = new HandMadePcapNg()
            .Section(bigEndian: true)
            .Interface(LinkEthernet, 0, (IfTsresol, [0x8A]), (IfTsoffset, Int64(-3600, bigEndian: true))) // 1/1024 s
            .Interface(LinkEthernet, 0, (IfTsresol, [0]), (IfTsoffset, Int64(1_000_000_000, bigEndian: true))) // seconds
            .Enhanced(0, (10_000UL * 1024) + 512, Bytes(10, 1))
            .Enhanced(1, 5, Bytes(10, 2))
            .ToArray();

        List<Frame> frames = ReadAll(CaptureFile.Open(new MemoryStream(image), "tsres.pcapng"));

        Assert.Equal(EpochTicks(10_000 - 3600, 5_000_000), frames[0].Ticks);
        Assert.Equal(EpochTicks(1_000_000_005, 0), frames[1].Ticks);
    }

    [Fact]
    public void HandMadePcapNg_SimplePacketBlock_UsesInterfaceZeroAndItsSnaplen()
    {
        byte[] image = new HandMadePcapNg()
            .Section(bigEndian: false)
            .Interface(LinkSll, 64)
            .Simple(originalLength: 1000, Bytes(64, 1)) // cut by snaplen
            .Simple(originalLength: 5, Bytes(5, 2)) // 3 padding bytes are not data
            .Enhanced(0, 0, Bytes(3, 3))
            .ToArray();

        using IPacketSource source = CaptureFile.Open(new MemoryStream(image), "spb.pcapng");
        List<Frame> frames = ReadAll(source);

        Assert.Equal(new Frame(1, EpochTicks(0, 0), LinkType.LinuxSll, 0, 1000, Bytes(64, 1)), frames[0]);
        Assert.Equal(new Frame(2, EpochTicks(0, 0), LinkType.LinuxSll, 0, 5, Bytes(5, 2)), frames[1]);
        Assert.Equal(3, frames[2].Number);
        Assert.Equal(1, source.TruncatedPackets);
    }

    [Fact]
    public void HandMadePcapNg_ObsoletePacketBlock_ReadLikeEnhanced()
    {
        byte[] image = new HandMadePcapNg()
            .Section(bigEndian: true)
            .Interface(LinkEthernet, 0)
            .Interface(LinkRaw, 0)
            .ObsoletePacket(1, 1_600_000_000_000_001, Bytes(33, 1))
            .ToArray();

        Frame frame = Assert.Single(ReadAll(CaptureFile.Open(new MemoryStream(image), "pb.pcapng")));

        Assert.Equal(new Frame(1, EpochTicks(1_600_000_000, 10), LinkType.Raw, 1, 33, Bytes(33, 1)), frame);
    }

    [Fact]
    public void HandMadePcapNg_UnknownAndNonPacketBlocks_SkippedAndNotCountedAsFrames()
    {
        byte[] image = new HandMadePcapNg()
            .Section(bigEndian: false)
            .Block(0x00000004, Bytes(30, 9)) // Name Resolution Block
            .Interface(LinkEthernet, 0)
            .Block(0x0000000A, Bytes(101, 8)) // Decryption Secrets Block
            .Enhanced(0, 1, Bytes(10, 1))
            .Block(0x00000005, Bytes(24, 7)) // Interface Statistics Block
            .Block(0x00000BAD, Bytes(3, 6)) // custom block
            .Block(0x40000BAD, []) // custom block, do not copy
            .Block(0x12345678, Bytes(CaptureInputBufferSize + 5, 5)) // unknown, larger than the read buffer
            .Enhanced(0, 2, Bytes(20, 2))
            .Block(0x00000005, Bytes(8, 7))
            .ToArray();

        List<Frame> frames = ReadAll(CaptureFile.Open(new MemoryStream(image), "blocks.pcapng"));

        Assert.Equal(new[] { 1L, 2L }, frames.Select(f => f.Number));
        Assert.Equal(Bytes(10, 1), frames[0].Data);
        Assert.Equal(Bytes(20, 2), frames[1].Data);
    }

    [Fact]
    public void HandMadePcapNg_OptionsWithOddLengths_PaddedCorrectly()
    {
        byte[] image = new HandMadePcapNg()
            .Section(bigEndian: false, (1, Encoding.UTF8.GetBytes("odd")), (2, Encoding.UTF8.GetBytes("x86_64 box")))
            .Interface(LinkRaw, 0,
                (2, Encoding.UTF8.GetBytes("en0")), // if_name, 3 bytes + 1 padding
                (3, [0x41]), // if_description, 1 byte + 3 padding
                (IfTsresol, [3]), // milliseconds, 1 byte + 3 padding
                (2989, Bytes(5, 4)), // custom option, 5 bytes + 3 padding
                (IfTsoffset, Int64(100, bigEndian: false)))
            .Enhanced(0, 1_234, Bytes(7, 1), options: [(1, Encoding.UTF8.GetBytes("a comment")), (2, [1, 0, 0, 0])])
            .Enhanced(0, 5_678, Bytes(9, 2), options: [(0x8001, Bytes(13, 3))])
            .ToArray();

        List<Frame> frames = ReadAll(CaptureFile.Open(new MemoryStream(image), "options.pcapng"));

        Assert.Equal(new Frame(1, EpochTicks(101, 2_340_000), LinkType.Raw, 0, 7, Bytes(7, 1)), frames[0]);
        Assert.Equal(new Frame(2, EpochTicks(105, 6_780_000), LinkType.Raw, 0, 9, Bytes(9, 2)), frames[1]);
    }

    [Fact]
    public void HandMadePcapNg_OptionRunningPastItsBlock_RestOfOptionsIgnored()
    {
        var ng = new HandMadePcapNg().Section(bigEndian: false);
        // IDB whose second option claims 200 bytes in a block that holds 4.
        ng.Block(0x00000001, Concat(Le16(LinkRaw), Le16(0), Le32(0), Le16(IfTsresol), Le16(1), [9, 0, 0, 0],
            Le16(IfTsoffset), Le16(200), Bytes(4, 1)));
        byte[] image = ng.Enhanced(0, 1_500_000_000, Bytes(4, 2)).ToArray();

        Frame frame = Assert.Single(ReadAll(CaptureFile.Open(new MemoryStream(image), "bad-option.pcapng")));

        Assert.Equal(EpochTicks(1, 5_000_000), frame.Ticks); // ns resolution kept, offset ignored
    }

    [Fact]
    public void HandMadePcapNg_TwoSectionsDifferentByteOrder_InterfacesResetPerSection()
    {
        byte[] image = new HandMadePcapNg()
            .Section(bigEndian: false)
            .Interface(LinkEthernet, 0)
            .Interface(LinkSll, 0)
            .Enhanced(1, 1_000_000, Bytes(10, 1))
            .Section(bigEndian: true)
            .Interface(LinkRaw, 0, (IfTsresol, [9]))
            .Enhanced(0, 2_000_000_000, Bytes(11, 2))
            .Simple(11, Bytes(11, 3))
            .Section(bigEndian: false)
            .Interface(LinkEthernet, 0)
            .Enhanced(0, 3_000_000, Bytes(12, 4))
            .ToArray();

        using IPacketSource source = CaptureFile.Open(new MemoryStream(image), "sections.pcapng");
        List<Frame> frames = ReadAll(source);

        Assert.Equal(new Frame(1, EpochTicks(1, 0), LinkType.LinuxSll, 1, 10, Bytes(10, 1)), frames[0]);
        Assert.Equal(new Frame(2, EpochTicks(2, 0), LinkType.Raw, 0, 11, Bytes(11, 2)), frames[1]);
        Assert.Equal(new Frame(3, EpochTicks(0, 0), LinkType.Raw, 0, 11, Bytes(11, 3)), frames[2]);
        Assert.Equal(new Frame(4, EpochTicks(3, 0), LinkType.Ethernet, 0, 12, Bytes(12, 4)), frames[3]);
        Assert.Equal(new[] { LinkType.Ethernet, LinkType.LinuxSll, LinkType.Raw }, source.LinkTypes);
        Assert.Equal(3, Assert.IsType<PcapNgFileReader>(source).SectionCount);
    }

    [Fact]
    public void HandMadePcapNg_PacketOnInterfaceOfPreviousSection_Throws()
    {
        var ng = new HandMadePcapNg()
            .Section(bigEndian: false)
            .Interface(LinkEthernet, 0)
            .Interface(LinkEthernet, 0)
            .Enhanced(1, 0, Bytes(10, 1))
            .Section(bigEndian: false)
            .Interface(LinkRaw, 0);
        long offset = ng.Length;
        byte[] image = ng.Enhanced(1, 0, Bytes(10, 2)).ToArray();

        using IPacketSource source = CaptureFile.Open(new MemoryStream(image), "if.pcapng");
        Assert.True(source.TryReadNext(out _));
        var error = Assert.Throws<CaptureFormatException>(() => source.TryReadNext(out _));

        Assert.Equal($"packet 2 (pcapng block at byte offset {offset}) refers to interface 1, but its section describes 1", error.Message);
        Assert.Equal(1, error.PacketsRead);
    }

    [Fact]
    public void HandMadePcapNg_UnknownLinkType_PassedThroughAsNumber()
    {
        byte[] image = new HandMadePcapNg().Section(false).Interface(147, 0).Enhanced(0, 0, Bytes(8, 1)).ToArray();

        using IPacketSource source = CaptureFile.Open(new MemoryStream(image), "user0.pcapng");
        Frame frame = Assert.Single(ReadAll(source));

        Assert.Equal((LinkType)147, frame.LinkType);
        Assert.Equal(new[] { (LinkType)147 }, source.LinkTypes);
    }

    public enum BlockLengthLie
    {
        BelowTwelve,
        NotMultipleOfFour,
        BeyondEndOfFile,
        BeyondEndOfNonSeekableStream,
        TrailerDisagrees,
        EnhancedPacketCapturedLengthBeyondBlock,
        AboveSixteenMebibytes,
        SkippedBlockBeyondEndOfFile,
    }

    [Theory]
    [InlineData(BlockLengthLie.BelowTwelve, "pcapng enhanced packet block at byte offset {0} claims 8 bytes, less than the 32 it needs")]
    [InlineData(BlockLengthLie.NotMultipleOfFour, "pcapng enhanced packet block at byte offset {0} claims 46 bytes, not a multiple of 4")]
    [InlineData(BlockLengthLie.BeyondEndOfFile, "capture is truncated: packet 2 (at byte offset {0}) is cut short")]
    [InlineData(BlockLengthLie.BeyondEndOfNonSeekableStream, "capture is truncated: packet 2 (at byte offset {0}) is cut short")]
    [InlineData(BlockLengthLie.TrailerDisagrees, "pcapng enhanced packet block at byte offset {0} has mismatched lengths (44 at its start, 48 at its end)")]
    [InlineData(BlockLengthLie.EnhancedPacketCapturedLengthBeyondBlock, "packet 2 (pcapng block at byte offset {0}) claims 13 captured bytes, more than its 44-byte block holds")]
    [InlineData(BlockLengthLie.AboveSixteenMebibytes, "pcapng enhanced packet block at byte offset {0} claims 16777220 bytes, more than the 16777216 limit")]
    [InlineData(BlockLengthLie.SkippedBlockBeyondEndOfFile, "capture is truncated: the block of type 0x00000BAD at byte offset {0} is cut short")]
    public void HandMadePcapNg_BlockLengthLies_FirstPacketReturnedThenThrows(BlockLengthLie lie, string message)
    {
        var ng = new HandMadePcapNg().Section(bigEndian: true).Interface(LinkEthernet, 0).Enhanced(0, 0, Bytes(10, 1));
        long offset = ng.Length;
        if (lie == BlockLengthLie.SkippedBlockBeyondEndOfFile)
        {
            ng.Block(0x00000BAD, Bytes(40, 2));
        }
        else
        {
            ng.Enhanced(0, 0, Bytes(12, 2)); // 28 + 12 + 4 = 44 bytes
        }

        ng.Enhanced(0, 0, Bytes(4, 3));
        byte[] image = ng.ToArray();
        int lengthAt = (int)offset + 4;
        switch (lie)
        {
            case BlockLengthLie.BelowTwelve: Put32(image, lengthAt, 8); break;
            case BlockLengthLie.NotMultipleOfFour: Put32(image, lengthAt, 46); break;
            case BlockLengthLie.BeyondEndOfFile or BlockLengthLie.BeyondEndOfNonSeekableStream or BlockLengthLie.SkippedBlockBeyondEndOfFile:
                Put32(image, lengthAt, 0x0100_0000); break;
            case BlockLengthLie.TrailerDisagrees: Put32(image, (int)offset + 40, 48); break;
            case BlockLengthLie.EnhancedPacketCapturedLengthBeyondBlock: Put32(image, (int)offset + 20, 13); break;
            case BlockLengthLie.AboveSixteenMebibytes: Put32(image, lengthAt, 0x0100_0004); break;
        }

        Stream stream = lie == BlockLengthLie.BeyondEndOfNonSeekableStream
            ? new TrickleStream(image, maxChunk: 4096)
            : new MemoryStream(image);
        using IPacketSource source = CaptureFile.Open(stream, "lies.pcapng");
        Assert.True(source.TryReadNext(out CapturedPacket first));
        Assert.Equal(Bytes(10, 1), first.Data.ToArray());
        var error = Assert.Throws<CaptureFormatException>(() => source.TryReadNext(out _));

        Assert.Equal(string.Format(System.Globalization.CultureInfo.InvariantCulture, message, offset), error.Message);
        Assert.Equal(1, error.PacketsRead);
        Assert.Equal(offset, error.ByteOffset);
    }

    [Theory]
    [InlineData(4)] // inside the block header
    [InlineData(30)] // inside the packet data
    [InlineData(40)] // before the trailing length
    public void HandMadePcapNg_TruncatedMidPacket_EarlierPacketsReturnedThenThrows(int bytesOfThirdBlock)
    {
        var ng = new HandMadePcapNg().Section(bigEndian: false).Interface(LinkEthernet, 0)
            .Enhanced(0, 0, Bytes(10, 1))
            .Enhanced(0, 0, Bytes(20, 2));
        long offset = ng.Length;
        byte[] image = ng.Enhanced(0, 0, Bytes(16, 3)).ToArray()[..(int)(offset + bytesOfThirdBlock)];

        using IPacketSource source = CaptureFile.Open(new MemoryStream(image), "cut.pcapng");
        Assert.True(source.TryReadNext(out _));
        Assert.True(source.TryReadNext(out CapturedPacket second));
        Assert.Equal(Bytes(20, 2), second.Data.ToArray());
        var error = Assert.Throws<CaptureFormatException>(() => source.TryReadNext(out _));

        Assert.Equal($"capture is truncated: packet 3 (at byte offset {offset}) is cut short", error.Message);
        Assert.Equal(2, error.PacketsRead);
    }

    [Theory]
    [InlineData(3)]
    [InlineData(12)]
    [InlineData(27)]
    public void HandMadePcapNg_TruncatedSectionHeader_Throws(int length)
    {
        byte[] image = new HandMadePcapNg().Section(bigEndian: false).ToArray()[..length];

        var error = Assert.Throws<CaptureFormatException>(() => CaptureFile.Open(new MemoryStream(image), "short.pcapng"));

        Assert.Equal($"short.pcapng: the pcapng section header is truncated ({length} of 28 bytes)", error.Message);
    }

    [Fact]
    public void HandMadePcapNg_BadByteOrderMagic_Throws()
    {
        byte[] image = new HandMadePcapNg().Section(bigEndian: false).ToArray();
        Put32(image, 8, 0x11223344);

        var error = Assert.Throws<CaptureFormatException>(() => CaptureFile.Open(new MemoryStream(image), "bom.pcapng"));

        Assert.Equal("pcapng section header block at byte offset 0 has a bad byte-order magic 0x44332211", error.Message);
    }

    [Fact]
    public void HandMadePcapNg_BlockLargerThanInitialBuffer_BufferGrowsAndDataIntact()
    {
        byte[] big = Bytes(5 * 1024 * 1024 + 3, 1);
        byte[] image = new HandMadePcapNg().Section(false).Interface(LinkEthernet, 0)
            .Enhanced(0, 0, Bytes(100, 2))
            .Enhanced(0, 0, big)
            .Enhanced(0, 0, Bytes(100, 3))
            .ToArray();

        List<Frame> frames = ReadAll(CaptureFile.Open(new TrickleStream(image, maxChunk: 65537), "big.pcapng"));

        Assert.Equal(3, frames.Count);
        Assert.Equal(big, frames[1].Data);
        Assert.Equal(Bytes(100, 3), frames[2].Data);
    }

    // ---------------------------------------------------------------- sniffing and ownership

    [Fact]
    public void HandMade_EmptyFile_Throws()
    {
        string path = Path.GetTempFileName();
        try
        {
            var error = Assert.Throws<CaptureFormatException>(() => CaptureFile.Open(path));
            Assert.Equal($"{path} is empty", error.Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData("GET / HTTP/1.1\r\n", "474554202F")]
    [InlineData("\u001f\u008b\b\0rest", "1F8B0800")]
    [InlineData("ab", "6162")]
    public void HandMade_NotACapture_Throws(string content, string hex)
    {
        byte[] bytes = Encoding.Latin1.GetBytes(content);

        var error = Assert.Throws<CaptureFormatException>(() => CaptureFile.Open(new MemoryStream(bytes), "notes.txt"));

        Assert.Equal($"notes.txt is not a pcap or pcapng capture (starts with 0x{hex[..Math.Min(hex.Length, 8)]})", error.Message);
    }

    [Fact]
    public void HandMade_MissingFile_FileNotFoundPropagates()
    {
        string path = Path.Combine(Path.GetTempPath(), Guid.NewGuid().ToString("N") + ".pcap");

        Assert.Throws<FileNotFoundException>(() => CaptureFile.Open(path));
    }

    [Fact]
    public void HandMade_OpenFromPath_ReadsAndReleasesFile()
    {
        string path = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(path, HandMadePcap.Build(MicrosecondMagic, false, Ethernet, new PcapRecord(1, 2, Bytes(10, 1))));
            using (IPacketSource source = CaptureFile.Open(path))
            {
                Assert.Equal(path, source.Name);
                Assert.Single(ReadAll(source));
            }

            File.Delete(path); // would fail on Windows if the reader kept the file open
        }
        finally
        {
            if (File.Exists(path))
            {
                File.Delete(path);
            }
        }
    }

    [Fact]
    public void HandMade_ReaderConstructors_LeaveOpenRespected()
    {
        byte[] pcap = HandMadePcap.Build(MicrosecondMagic, false, Ethernet, new PcapRecord(1, 2, Bytes(10, 1)));
        byte[] pcapng = new HandMadePcapNg().Section(false).Interface(LinkEthernet, 0).Enhanced(0, 0, Bytes(10, 1)).ToArray();

        var kept = new TrickleStream(pcap, 100);
        new PcapFileReader(kept, "kept.pcap", leaveOpen: true).Dispose();
        var owned = new TrickleStream(pcapng, 100);
        var reader = new PcapNgFileReader(owned, "owned.pcapng");
        Assert.True(reader.TryReadNext(out _));
        reader.Dispose();
        reader.Dispose();

        Assert.False(kept.Disposed);
        Assert.True(owned.Disposed);
        Assert.Throws<ObjectDisposedException>(() => reader.TryReadNext(out _));
    }

    [Fact]
    public void HandMade_FailedOpen_DisposesStream()
    {
        var stream = new TrickleStream(Encoding.ASCII.GetBytes("not a capture"), 100);

        Assert.Throws<CaptureFormatException>(() => CaptureFile.Open(stream, "x"));

        Assert.True(stream.Disposed);
    }

    // ---------------------------------------------------------------- helpers

    private const ushort IfTsresol = 9;
    private const ushort IfTsoffset = 14;
    private const int CaptureInputBufferSize = 1 << 20;

    private sealed record Frame(long Number, long Ticks, LinkType LinkType, int InterfaceId, int OriginalLength, byte[] Data)
    {
        public bool Equals(Frame? other) => other is not null && Number == other.Number && Ticks == other.Ticks
            && LinkType == other.LinkType && InterfaceId == other.InterfaceId
            && OriginalLength == other.OriginalLength && Data.AsSpan().SequenceEqual(other.Data);

        public override int GetHashCode() => HashCode.Combine(Number, Ticks);

        public override string ToString() =>
            $"#{Number} ticks={Ticks} {LinkType} if={InterfaceId} orig={OriginalLength} data={Data.Length}B";
    }

    private static List<Frame> ReadAll(IPacketSource source)
    {
        var frames = new List<Frame>();
        using (source)
        {
            while (source.TryReadNext(out CapturedPacket p))
            {
                frames.Add(new Frame(p.Frame, p.TimestampTicks, p.LinkType, p.InterfaceId, p.OriginalLength, p.Data.ToArray()));
            }
        }

        return frames;
    }

    private static long EpochTicks(long seconds, long fractionTicks) =>
        DateTime.UnixEpoch.Ticks + seconds * TimeSpan.TicksPerSecond + fractionTicks;

    /// <summary>Deterministic payload bytes, different per seed.</summary>
    private static byte[] Bytes(int length, int seed)
    {
        var bytes = new byte[length];
        for (int i = 0; i < length; i++)
        {
            bytes[i] = (byte)(i * 31 + seed * 17 + (i >> 8));
        }

        return bytes;
    }

    private static void Put32(byte[] image, int at, uint value)
    {
        // Only the lies tests patch big-endian sections; BOM patching writes raw bytes.
        if (BinaryPrimitives.ReadUInt32LittleEndian(image.AsSpan(8)) == 0x1A2B3C4D)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(image.AsSpan(at), value);
        }
        else
        {
            BinaryPrimitives.WriteUInt32BigEndian(image.AsSpan(at), value);
        }
    }

    private static byte[] Le16(ushort value) => [(byte)value, (byte)(value >> 8)];

    private static byte[] Le32(uint value) => [.. Le16((ushort)value), .. Le16((ushort)(value >> 16))];

    private static byte[] Int64(long value, bool bigEndian)
    {
        var bytes = new byte[8];
        if (bigEndian)
        {
            BinaryPrimitives.WriteInt64BigEndian(bytes, value);
        }
        else
        {
            BinaryPrimitives.WriteInt64LittleEndian(bytes, value);
        }

        return bytes;
    }

    private static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();

    private sealed record PcapRecord(uint Seconds, uint Fraction, byte[] Data, uint? OriginalLength = null, uint? IncludedLength = null);

    /// <summary>Byte images of classic pcap files (draft-ietf-opsawg-pcap), for format tests.</summary>
    private static class HandMadePcap
    {
        public static byte[] Build(uint magic, bool bigEndian, uint linkField, params PcapRecord[] records)
        {
            var w = new ImageWriter { BigEndian = bigEndian };
            w.U32(magic).U16(2).U16(4).U32(0).U32(0).U32(65535).U32(linkField);
            foreach (PcapRecord r in records)
            {
                w.U32(r.Seconds).U32(r.Fraction).U32(r.IncludedLength ?? (uint)r.Data.Length)
                    .U32(r.OriginalLength ?? (uint)r.Data.Length).Bytes(r.Data);
            }

            return w.ToArray();
        }
    }

    /// <summary>Byte images of pcapng files (draft-ietf-opsawg-pcapng), for format tests.</summary>
    private sealed class HandMadePcapNg
    {
        private readonly ImageWriter _w = new();

        public long Length => _w.Length;

        public HandMadePcapNg Section(bool bigEndian, params (ushort Code, byte[] Value)[] options)
        {
            _w.BigEndian = bigEndian;
            return Block(0x0A0D0D0A, w => w.U32(0x1A2B3C4D).U16(1).U16(0).U64(ulong.MaxValue).Options(options));
        }

        public HandMadePcapNg Interface(ushort linkType, uint snapLength, params (ushort Code, byte[] Value)[] options) =>
            Block(0x00000001, w => w.U16(linkType).U16(0).U32(snapLength).Options(options));

        public HandMadePcapNg Enhanced(uint interfaceId, ulong timestamp, byte[] data, uint? originalLength = null,
            (ushort Code, byte[] Value)[]? options = null) =>
            Block(0x00000006, w => w.U32(interfaceId).U32((uint)(timestamp >> 32)).U32((uint)timestamp)
                .U32((uint)data.Length).U32(originalLength ?? (uint)data.Length).Bytes(data).Pad().Options(options ?? []));

        public HandMadePcapNg Simple(uint originalLength, byte[] data) =>
            Block(0x00000003, w => w.U32(originalLength).Bytes(data));

        public HandMadePcapNg ObsoletePacket(ushort interfaceId, ulong timestamp, byte[] data) =>
            Block(0x00000002, w => w.U16(interfaceId).U16(0).U32((uint)(timestamp >> 32)).U32((uint)timestamp)
                .U32((uint)data.Length).U32((uint)data.Length).Bytes(data));

        public HandMadePcapNg Block(uint type, byte[] body) => Block(type, w => w.Bytes(body));

        public HandMadePcapNg Block(uint type, Action<ImageWriter> body)
        {
            long start = _w.Length;
            _w.U32(type).U32(0);
            body(_w);
            _w.Pad();
            uint length = (uint)(_w.Length - start + 4);
            _w.U32(length);
            _w.Patch32(start + 4, length);
            return this;
        }

        public byte[] ToArray() => _w.ToArray();
    }

    private sealed class ImageWriter
    {
        private readonly MemoryStream _bytes = new();

        public bool BigEndian { get; set; }

        public long Length => _bytes.Length;

        public ImageWriter U16(ushort value)
        {
            Span<byte> b = stackalloc byte[2];
            if (BigEndian) BinaryPrimitives.WriteUInt16BigEndian(b, value); else BinaryPrimitives.WriteUInt16LittleEndian(b, value);
            _bytes.Write(b);
            return this;
        }

        public ImageWriter U32(uint value)
        {
            Span<byte> b = stackalloc byte[4];
            if (BigEndian) BinaryPrimitives.WriteUInt32BigEndian(b, value); else BinaryPrimitives.WriteUInt32LittleEndian(b, value);
            _bytes.Write(b);
            return this;
        }

        public ImageWriter U64(ulong value)
        {
            Span<byte> b = stackalloc byte[8];
            if (BigEndian) BinaryPrimitives.WriteUInt64BigEndian(b, value); else BinaryPrimitives.WriteUInt64LittleEndian(b, value);
            _bytes.Write(b);
            return this;
        }

        public ImageWriter Bytes(ReadOnlySpan<byte> value)
        {
            _bytes.Write(value);
            return this;
        }

        public ImageWriter Pad()
        {
            while (_bytes.Length % 4 != 0)
            {
                _bytes.WriteByte(0);
            }

            return this;
        }

        /// <summary>pcapng options (section 3.5): code, length, value padded to 32 bits, then opt_endofopt.</summary>
        public ImageWriter Options((ushort Code, byte[] Value)[] options)
        {
            if (options.Length == 0)
            {
                return this;
            }

            foreach (var (code, value) in options)
            {
                U16(code).U16((ushort)value.Length).Bytes(value).Pad();
            }

            return U16(0).U16(0);
        }

        public void Patch32(long at, uint value)
        {
            long end = _bytes.Position;
            _bytes.Position = at;
            U32(value);
            _bytes.Position = end;
        }

        public byte[] ToArray() => _bytes.ToArray();
    }

    /// <summary>A non-seekable stream that returns at most <c>maxChunk</c> bytes per read.</summary>
    private sealed class TrickleStream(byte[] data, int maxChunk) : Stream
    {
        private int _position;

        public bool Disposed { get; private set; }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            ObjectDisposedException.ThrowIf(Disposed, this);
            int n = Math.Min(Math.Min(count, maxChunk), data.Length - _position);
            data.AsSpan(_position, n).CopyTo(buffer.AsSpan(offset));
            _position += n;
            return n;
        }

        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            Disposed = true;
            base.Dispose(disposing);
        }
    }
}
