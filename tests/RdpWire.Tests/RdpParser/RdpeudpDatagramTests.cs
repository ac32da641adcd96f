using RdpWire.Analyzer;
using RdpWire.Capture.Files;
using RdpWire.RdpParser.Rdpeudp;
using RdpWire.Tests.Support;
using Xunit;

namespace RdpWire.Tests.RdpParser;

/// <summary>MS-RDPEUDP SYN / SYN+ACK parsing, with hand-made datagrams (boundary cases).</summary>
public class RdpeudpDatagramTests
{
    // The SYN of MS-RDPEUDP 4.1.1 (the reference's example): flags CORRELATION_ID|SYNLOSSY|SYN.
    private static byte[] HandMadeSyn(uint sourceAck = 0xFFFFFFFF, ushort mtu = 1232) =>
    [
        .. Convert.FromHexString("FFFFFFFF04000A01"), .. Convert.FromHexString("00000042"),
        (byte)(mtu >> 8), (byte)mtu, (byte)(mtu >> 8), (byte)mtu,
        .. Enumerable.Range(1, 16).Select(i => (byte)i), .. new byte[16], .. new byte[1232 - 8 - 8 - 32],
    ];

    [Fact]
    public void HandMade_SpecSyn_FieldsRead()
    {
        var bytes = HandMadeSyn();
        bytes[0] = bytes[1] = bytes[2] = bytes[3] = 0xFF;
        Assert.True(RdpeudpDatagram.TryParse(bytes, out var syn));
        Assert.True(syn.IsSyn);
        Assert.True(syn.IsLossy);
        Assert.Equal(0x42u, syn.InitialSequenceNumber);
        Assert.Equal((ushort)1232, syn.UpStreamMtu);
        Assert.NotNull(syn.CorrelationId);
        Assert.Null(syn.UdpVersion);
    }

    [Theory]
    [InlineData(0x00000001u, (ushort)1232)] // a SYN must carry snSourceAck -1
    [InlineData(0xFFFFFFFFu, (ushort)1500)] // MTU outside 1132..1232
    [InlineData(0xFFFFFFFFu, (ushort)1000)]
    public void HandMade_SynBreakingTheSpec_IsNotRdpUdp(uint sourceAck, ushort mtu)
    {
        var bytes = HandMadeSyn(sourceAck, mtu);
        bytes[0] = (byte)(sourceAck >> 24);
        bytes[1] = (byte)(sourceAck >> 16);
        bytes[2] = (byte)(sourceAck >> 8);
        bytes[3] = (byte)sourceAck;
        Assert.False(RdpeudpDatagram.TryParse(bytes, out _));
    }

    [Fact]
    public void HandMade_EveryPrefix_NeverThrows()
    {
        var bytes = HandMadeSyn();
        for (int n = 0; n <= 64; n++)
        {
            RdpeudpDatagram.TryParse(bytes.AsSpan(0, n), out _);
        }
    }

    [Fact]
    public void HandMade_SynsWithoutAnswer_AreUdpNoResponse_AWarning()
    {
        // Three SYNs one second apart from 10.0.0.2:50000 to 10.0.0.1:3389 over raw IPv4, no reply.
        var pcap = new HandMadeRawIpPcap();
        var syn = HandMadeSyn();
        for (int i = 0; i < 3; i++)
        {
            int udpLength = 8 + syn.Length, ipLength = 20 + udpLength;
            byte[] ip =
            [
                0x45, 0, (byte)(ipLength >> 8), (byte)ipLength, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 2, 10, 0, 0, 1,
                0xC3, 0x50, 0x0D, 0x3D, (byte)(udpLength >> 8), (byte)udpLength, 0, 0, .. syn,
            ];
            pcap.Add(i * 1_000_000L, ip);
        }
        using var source = CaptureFile.Open(new MemoryStream(pcap.ToArray()), "hand-made");
        var report = CaptureAnalyzer.Analyze(source);
        var c = Assert.Single(report.Connections);
        Assert.Equal("udp", c.Transport);
        Assert.Equal("udp.no-response", c.Verdict.Code);
        Assert.Equal("warning", c.Findings[0].Severity);
        Assert.Equal([1L, 2L, 3L], c.Findings[0].EvidenceFrames);
        Assert.Equal("rdpeudp-syn", c.PhaseReached);
    }
}
