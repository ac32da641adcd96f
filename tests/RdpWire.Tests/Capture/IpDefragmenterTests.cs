using RdpWire.Capture;
using RdpWire.Capture.Decoding;
using RdpWire.Capture.Fragments;
using Xunit;

namespace RdpWire.Tests.Capture;

/// <summary>
/// Hand-made fragment sets (real IPv4/IPv6 bytes run through <see cref="PacketDecoder.TryDecode"/>):
/// the boundaries of RFC 791 3.2 / RFC 8200 4.5 reassembly, RFC 5722 overlaps, timeouts and caps.
/// </summary>
public sealed class IpDefragmenterTests
{
    private const ushort RdpPort = 3389;
    private const ushort ClientPort = 50123;
    private static readonly long Start = new DateTime(2025, 3, 1, 12, 0, 0, DateTimeKind.Utc).Ticks;

    // ---- Happy paths -------------------------------------------------------------------

    [Fact]
    public void HandMade_Ipv4TcpSegmentInThreeFragmentsInOrder_IsRebuiltAndDecoded()
    {
        byte[] tcp = HandMadePacket.Tcp(ClientPort, RdpPort, 1000, 2000, TcpFlags.Ack | TcpFlags.Psh,
            payload: Pattern(2944, 1));
        var wire = new Wire();
        var defrag = new IpDefragmenter();

        Assert.Equal(DefragResult.Buffered, defrag.Add(wire.Ethernet(V4(tcp, 0, 1480, more: true, id: 0x4242, ttl: 113)), out _));
        Assert.Equal(DefragResult.Buffered, defrag.Add(wire.Ethernet(V4(tcp, 1480, 1480, more: true, id: 0x4242)), out _));
        // The last fragment is 24 bytes of IP: Ethernet pads the frame to its 60-byte minimum.
        DefragResult last = defrag.Add(wire.Ethernet(V4(tcp, 2960, 4, more: false, id: 0x4242), padTo: 60), out ReassembledDatagram? datagram);

        Assert.Equal(DefragResult.Completed, last);
        using (datagram)
        {
            Assert.NotNull(datagram);
            Assert.Equal(new long[] { 1, 2, 3 }, datagram.Frames.ToArray());
            Assert.Equal(wire.Ticks, datagram.TimestampTicks);
            Assert.Equal(tcp, datagram.Payload.ToArray());
            Assert.Equal((byte)113, datagram.Ttl);

            Assert.Equal(DecodeResult.Ok, datagram.TryDecode(out DecodedPacket d));
            Assert.Equal(TransportKind.Tcp, d.Transport);
            Assert.False(d.IsFragment);
            Assert.Equal(3L, d.Packet.Frame);
            Assert.Equal((byte)4, d.IpVersion);
            Assert.Equal((byte)6, d.IpProtocol);
            Assert.Equal((byte)113, d.Ttl);
            Assert.Equal(0x4242u, d.IpIdentification);
            Assert.Equal(20 + tcp.Length, d.IpTotalLength);
            Assert.Equal(ClientPort, d.SourcePort);
            Assert.Equal(RdpPort, d.DestinationPort);
            Assert.Equal(1000u, d.Sequence);
            Assert.Equal(2000u, d.Acknowledgment);
            Assert.Equal(Pattern(2944, 1), d.Payload.ToArray());
            Assert.Equal(2944, d.PayloadWireLength);
        }
        Assert.Equal(1, defrag.DatagramsReassembled);
        Assert.Equal(3, defrag.FragmentsSeen);
        Assert.Equal(0, defrag.BufferedBytes);
        Assert.Empty(FlushAll(defrag));
    }

    [Fact]
    public void HandMade_Ipv6UdpFragmentsInReverseOrder_AreRebuiltAndDecoded()
    {
        byte[] udp = HandMadePacket.Udp(ClientPort, RdpPort, Pattern(3000, 2));
        var wire = new Wire();
        var defrag = new IpDefragmenter();

        Assert.Equal(DefragResult.Buffered, defrag.Add(wire.Raw(V6(udp, 2464, 544, more: false, id: 0xA1B2C3D4)), out _));
        Assert.Equal(DefragResult.Buffered, defrag.Add(wire.Raw(V6(udp, 1232, 1232, more: true, id: 0xA1B2C3D4)), out _));
        DefragResult last = defrag.Add(wire.Raw(V6(udp, 0, 1232, more: true, id: 0xA1B2C3D4)), out ReassembledDatagram? datagram);

        Assert.Equal(DefragResult.Completed, last);
        using (datagram)
        {
            Assert.NotNull(datagram);
            Assert.Equal(new long[] { 1, 2, 3 }, datagram.Frames.ToArray());
            Assert.Equal(DecodeResult.Ok, datagram.TryDecode(out DecodedPacket d));
            Assert.Equal(TransportKind.Udp, d.Transport);
            Assert.Equal((byte)6, d.IpVersion);
            Assert.Equal((byte)17, d.IpProtocol);
            Assert.Equal(40 + udp.Length, d.IpTotalLength);
            Assert.Equal(0xA1B2C3D4u, d.IpIdentification);
            Assert.Equal(ClientPort, d.SourcePort);
            Assert.Equal(RdpPort, d.DestinationPort);
            Assert.Equal(Pattern(3000, 2), d.Payload.ToArray());
            Assert.False(d.IsFragment);
        }
    }

    [Fact]
    public void HandMade_InterleavedDatagrams_AreKeptApartByIdentificationAndProtocol()
    {
        byte[] tcpA = HandMadePacket.Tcp(ClientPort, RdpPort, 1, 0, TcpFlags.Ack, payload: Pattern(2000, 10));
        byte[] tcpB = HandMadePacket.Tcp(ClientPort, RdpPort, 2, 0, TcpFlags.Ack, payload: Pattern(2000, 20));
        // Same identification as A but UDP: a different datagram under RFC 791 3.2.
        byte[] udpC = HandMadePacket.Udp(ClientPort, RdpPort, Pattern(2012, 30));
        var wire = new Wire();
        var defrag = new IpDefragmenter();
        var completed = new Dictionary<long, byte[]>();

        void Feed(byte[] frame)
        {
            if (defrag.Add(wire.Raw(frame), out ReassembledDatagram? datagram) == DefragResult.Completed)
            {
                using (datagram)
                {
                    completed[datagram!.Frames[^1]] = datagram.Payload.ToArray();
                }
            }
        }

        Feed(V4(tcpA, 0, 1480, more: true, id: 1));
        Feed(V4(tcpB, 0, 1480, more: true, id: 2));
        Feed(V4(udpC, 0, 1480, more: true, id: 1, protocol: HandMadePacket.ProtocolUdp));
        Feed(V4(tcpB, 1480, tcpB.Length - 1480, more: false, id: 2));
        Feed(V4(udpC, 1480, udpC.Length - 1480, more: false, id: 1, protocol: HandMadePacket.ProtocolUdp));
        Feed(V4(tcpA, 1480, tcpA.Length - 1480, more: false, id: 1));

        Assert.Equal(tcpB, completed[4]);
        Assert.Equal(udpC, completed[5]);
        Assert.Equal(tcpA, completed[6]);
        Assert.Equal(3, defrag.DatagramsReassembled);
        Assert.Equal(0, defrag.OverlapsDiscarded);
    }

    // ---- Duplicates and overlaps -------------------------------------------------------

    [Fact]
    public void HandMade_DuplicateFragments_BeforeAndAfterCompletion_AreIgnoredAndCounted()
    {
        byte[] tcp = HandMadePacket.Tcp(ClientPort, RdpPort, 7, 0, TcpFlags.Ack, payload: Pattern(3000, 3));
        byte[] first = V4(tcp, 0, 1480, more: true, id: 9);
        byte[] middle = V4(tcp, 1480, 1480, more: true, id: 9);
        byte[] last = V4(tcp, 2960, tcp.Length - 2960, more: false, id: 9);
        var wire = new Wire();
        var defrag = new IpDefragmenter();

        Assert.Equal(DefragResult.Buffered, defrag.Add(wire.Raw(first), out _));
        Assert.Equal(DefragResult.Duplicate, defrag.Add(wire.Raw(first), out _));
        Assert.Equal(DefragResult.Buffered, defrag.Add(wire.Raw(middle), out _));
        Assert.Equal(DefragResult.Completed, defrag.Add(wire.Raw(last), out ReassembledDatagram? datagram));
        using (datagram)
        {
            Assert.Equal(new long[] { 1, 3, 4 }, datagram!.Frames.ToArray());
            Assert.Equal(tcp, datagram.Payload.ToArray());
        }
        // Captured twice (both sides of a bridge): the late copy is not the start of a new datagram.
        Assert.Equal(DefragResult.Duplicate, defrag.Add(wire.Raw(last), out _));

        Assert.Equal(2, defrag.DuplicatesIgnored);
        Assert.Empty(FlushAll(defrag));
    }

    [Fact]
    public void HandMade_IdentificationReusedAfterCompletion_StartsANewDatagram()
    {
        byte[] one = HandMadePacket.Udp(ClientPort, RdpPort, Pattern(2000, 4));
        byte[] two = HandMadePacket.Udp(ClientPort, RdpPort, Pattern(2000, 5));
        var wire = new Wire();
        var defrag = new IpDefragmenter();

        defrag.Add(wire.Raw(V4(one, 0, 1480, more: true, id: 5, protocol: HandMadePacket.ProtocolUdp)), out _);
        defrag.Add(wire.Raw(V4(one, 1480, one.Length - 1480, more: false, id: 5, protocol: HandMadePacket.ProtocolUdp)), out var d1);
        d1!.Dispose();
        Assert.Equal(DefragResult.Buffered,
            defrag.Add(wire.Raw(V4(two, 0, 1480, more: true, id: 5, protocol: HandMadePacket.ProtocolUdp)), out _));
        Assert.Equal(DefragResult.Completed,
            defrag.Add(wire.Raw(V4(two, 1480, two.Length - 1480, more: false, id: 5, protocol: HandMadePacket.ProtocolUdp)), out var d2));
        using (d2)
        {
            Assert.Equal(two, d2!.Payload.ToArray());
        }
    }

    [Fact]
    public void HandMade_Ipv4OverlapWithSameContent_IsReassembled()
    {
        byte[] tcp = HandMadePacket.Tcp(ClientPort, RdpPort, 11, 0, TcpFlags.Ack, payload: Pattern(2500, 6));
        var wire = new Wire();
        var defrag = new IpDefragmenter();

        defrag.Add(wire.Raw(V4(tcp, 0, 1480, more: true, id: 3)), out _);
        // Re-fragmented retransmission: starts inside the first fragment, same bytes.
        Assert.Equal(DefragResult.Buffered, defrag.Add(wire.Raw(V4(tcp, 1000, 1000, more: true, id: 3)), out _));
        // Wholly inside what is held, same bytes: nothing new.
        Assert.Equal(DefragResult.Duplicate, defrag.Add(wire.Raw(V4(tcp, 800, 400, more: true, id: 3)), out _));
        Assert.Equal(DefragResult.Completed, defrag.Add(wire.Raw(V4(tcp, 2000, tcp.Length - 2000, more: false, id: 3)), out var datagram));

        using (datagram)
        {
            Assert.Equal(tcp, datagram!.Payload.ToArray());
            Assert.Equal(new long[] { 1, 2, 4 }, datagram.Frames.ToArray());
        }
        Assert.Equal(0, defrag.OverlapsDiscarded);
        Assert.Equal(1, defrag.DuplicatesIgnored);
    }

    [Fact]
    public void HandMade_Ipv4OverlapWithDifferentContent_IsDiscardedAndReportedOnce()
    {
        byte[] tcp = HandMadePacket.Tcp(ClientPort, RdpPort, 11, 0, TcpFlags.Ack, payload: Pattern(2500, 6));
        byte[] forged = (byte[])tcp.Clone();
        forged[1200] ^= 0xFF;
        var wire = new Wire();
        var defrag = new IpDefragmenter();

        Assert.Equal(DefragResult.Buffered, defrag.Add(wire.Raw(V4(tcp, 0, 1480, more: true, id: 3)), out _));
        Assert.Equal(DefragResult.Dropped, defrag.Add(wire.Raw(V4(forged, 1000, 1000, more: true, id: 3)), out _));
        // RFC 5722 applied to IPv4 too: the rest of the datagram is dropped, not rebuilt without the overlap.
        Assert.Equal(DefragResult.Dropped, defrag.Add(wire.Raw(V4(tcp, 2000, tcp.Length - 2000, more: false, id: 3)), out _));

        IncompleteDatagram report = Assert.Single(ExpireAll(defrag, wire.Ticks));
        Assert.Equal(IncompleteReason.Overlap, report.Reason);
        Assert.Equal(1, report.FirstFrame);
        Assert.Equal(2, report.LastFrame);
        Assert.Equal(1480, report.BytesReceived);
        Assert.Null(report.TotalLength);
        Assert.Equal((byte)4, report.IpVersion);
        Assert.Equal((byte)6, report.Protocol);
        Assert.Equal(3u, report.Identification);
        Assert.Equal("10.0.0.1", report.Source.ToString());
        Assert.Equal(1, defrag.OverlapsDiscarded);
        Assert.Equal(2, defrag.FragmentsDropped);
        Assert.Equal(0, defrag.BufferedBytes);
        Assert.Empty(FlushAll(defrag));
    }

    [Fact]
    public void HandMade_Ipv6AnyOverlap_EvenWithSameContent_DiscardsTheWholeDatagram()
    {
        byte[] udp = HandMadePacket.Udp(ClientPort, RdpPort, Pattern(3000, 7));
        var wire = new Wire();
        var defrag = new IpDefragmenter();

        Assert.Equal(DefragResult.Buffered, defrag.Add(wire.Raw(V6(udp, 0, 1232, more: true, id: 77)), out _));
        // RFC 8200 4.5: an exact duplicate may be dropped without discarding the datagram.
        Assert.Equal(DefragResult.Duplicate, defrag.Add(wire.Raw(V6(udp, 0, 1232, more: true, id: 77)), out _));
        // RFC 5722: any other overlap, same bytes or not, discards the datagram.
        Assert.Equal(DefragResult.Dropped, defrag.Add(wire.Raw(V6(udp, 1224, 1232, more: true, id: 77)), out _));
        Assert.Equal(DefragResult.Dropped, defrag.Add(wire.Raw(V6(udp, 1232, 1232, more: true, id: 77)), out _));
        Assert.Equal(DefragResult.Dropped, defrag.Add(wire.Raw(V6(udp, 2464, udp.Length - 2464, more: false, id: 77)), out _));

        IncompleteDatagram report = Assert.Single(FlushAll(defrag));
        Assert.Equal(IncompleteReason.Overlap, report.Reason);
        Assert.Equal((byte)6, report.IpVersion);
        Assert.Equal(77u, report.Identification);
        Assert.Equal(3, report.LastFrame);
        Assert.Equal(0, defrag.DatagramsReassembled);
        Assert.Equal(1, defrag.OverlapsDiscarded);
    }

    // ---- Timeouts and capture end ------------------------------------------------------

    [Fact]
    public void HandMade_MissingMiddleFragment_ExpiresAfterTheTimeoutWithBytesReceived()
    {
        byte[] tcp = HandMadePacket.Tcp(ClientPort, RdpPort, 1, 0, TcpFlags.Ack, payload: Pattern(3000, 8));
        var wire = new Wire();
        var defrag = new IpDefragmenter();
        defrag.Add(wire.Raw(V4(tcp, 0, 1480, more: true, id: 21)), out _);
        long firstTicks = wire.Ticks;
        defrag.Add(wire.Raw(V4(tcp, 2960, tcp.Length - 2960, more: false, id: 21)), out _);

        Assert.Empty(ExpireAll(defrag, firstTicks + TimeSpan.FromSeconds(30).Ticks));
        IncompleteDatagram report = Assert.Single(ExpireAll(defrag, firstTicks + TimeSpan.FromSeconds(30).Ticks + 1));

        Assert.Equal(IncompleteReason.Timeout, report.Reason);
        Assert.Equal(1480 + tcp.Length - 2960, report.BytesReceived);
        Assert.Equal(tcp.Length, report.TotalLength);
        Assert.Equal(2, report.Fragments);
        Assert.Equal(1, report.FirstFrame);
        Assert.Equal(2, report.LastFrame);
        Assert.Equal(firstTicks, report.FirstTicks);
        Assert.Equal(1, defrag.DatagramsExpired);
        Assert.Equal(0, defrag.BufferedBytes);
        Assert.Equal(0, defrag.TrackedDatagrams);
    }

    [Fact]
    public void HandMade_Ipv6_WaitsSixtySecondsBeforeExpiring()
    {
        byte[] udp = HandMadePacket.Udp(ClientPort, RdpPort, Pattern(3000, 9));
        var wire = new Wire();
        var defrag = new IpDefragmenter();
        defrag.Add(wire.Raw(V6(udp, 0, 1232, more: true, id: 1)), out _);

        Assert.Empty(ExpireAll(defrag, wire.Ticks + TimeSpan.FromSeconds(45).Ticks));
        Assert.Equal(IncompleteReason.Timeout,
            Assert.Single(ExpireAll(defrag, wire.Ticks + TimeSpan.FromSeconds(61).Ticks)).Reason);
    }

    [Fact]
    public void HandMade_FragmentArrivingAfterItsDatagramTimedOut_StartsAfreshAndTheOldOneIsReported()
    {
        byte[] tcp = HandMadePacket.Tcp(ClientPort, RdpPort, 1, 0, TcpFlags.Ack, payload: Pattern(3000, 8));
        var wire = new Wire();
        var defrag = new IpDefragmenter();
        defrag.Add(wire.Raw(V4(tcp, 0, 1480, more: true, id: 21)), out _);
        wire.Ticks += TimeSpan.FromSeconds(40).Ticks;

        Assert.Equal(DefragResult.Buffered, defrag.Add(wire.Raw(V4(tcp, 1480, 1480, more: true, id: 21)), out _));

        var reports = FlushAll(defrag);
        Assert.Equal(2, reports.Count);
        Assert.Equal((IncompleteReason.Timeout, 1L), (reports[0].Reason, reports[0].FirstFrame));
        Assert.Equal((IncompleteReason.CaptureEnd, 2L), (reports[1].Reason, reports[1].FirstFrame));
    }

    [Fact]
    public void HandMade_MissingLastFragment_FlushAtCaptureEndReportsTotalUnknown()
    {
        byte[] tcp = HandMadePacket.Tcp(ClientPort, RdpPort, 1, 0, TcpFlags.Ack, payload: Pattern(3000, 8));
        var wire = new Wire();
        var defrag = new IpDefragmenter();
        defrag.Add(wire.Raw(V4(tcp, 1480, 1480, more: true, id: 4)), out _);
        defrag.Add(wire.Raw(V4(tcp, 0, 1480, more: true, id: 4)), out _);

        IncompleteDatagram report = Assert.Single(FlushAll(defrag));

        Assert.Equal(IncompleteReason.CaptureEnd, report.Reason);
        Assert.Null(report.TotalLength);
        Assert.Equal(2960, report.BytesReceived);
        Assert.Equal(1, report.FirstFrame);
        Assert.Equal(2, report.LastFrame);
        Assert.Equal(0, defrag.BufferedBytes);
        Assert.Equal(0, defrag.TrackedDatagrams);
    }

    // ---- Caps --------------------------------------------------------------------------

    [Fact]
    public void HandMade_DatagramCap_EvictsTheLeastRecentlyActiveAndReportsIt()
    {
        byte[] tcp = HandMadePacket.Tcp(ClientPort, RdpPort, 1, 0, TcpFlags.Ack, payload: Pattern(2000, 1));
        var wire = new Wire();
        var defrag = new IpDefragmenter(new DefragmenterLimits { MaxDatagrams = 3 });

        for (ushort id = 1; id <= 4; id++)
        {
            Assert.Equal(DefragResult.Buffered, defrag.Add(wire.Raw(V4(tcp, 0, 1480, more: true, id: id)), out _));
            Assert.True(defrag.TrackedDatagrams <= 3);
        }

        IncompleteDatagram report = Assert.Single(ExpireAll(defrag, wire.Ticks));
        Assert.Equal(IncompleteReason.DatagramCap, report.Reason);
        Assert.Equal(1u, report.Identification);
        Assert.Equal(1480, report.BytesReceived);
        Assert.Equal(1, defrag.CapDrops);
        Assert.Equal(DefragResult.Completed,
            defrag.Add(wire.Raw(V4(tcp, 1480, tcp.Length - 1480, more: false, id: 4)), out var datagram));
        datagram!.Dispose();
    }

    [Fact]
    public void HandMade_ByteCap_IsNeverExceededAndEachDropIsReported()
    {
        const int cap = 8192;
        byte[] tcp = HandMadePacket.Tcp(ClientPort, RdpPort, 1, 0, TcpFlags.Ack, payload: Pattern(2000, 1));
        var wire = new Wire();
        var defrag = new IpDefragmenter(new DefragmenterLimits { MaxBufferedBytes = cap });

        for (ushort id = 1; id <= 10; id++)
        {
            defrag.Add(wire.Raw(V4(tcp, 0, 1480, more: true, id: id)), out _);
            Assert.InRange(defrag.BufferedBytes, 1, cap);
        }

        var reports = ExpireAll(defrag, wire.Ticks);
        Assert.NotEmpty(reports);
        Assert.All(reports, r => Assert.Equal(IncompleteReason.ByteCap, r.Reason));
        // The least recently active go first.
        Assert.Equal(Enumerable.Range(1, reports.Count).Select(i => (uint)i), reports.Select(r => r.Identification));
        Assert.Equal(reports.Count, defrag.CapDrops);
        Assert.Equal(10 - reports.Count, FlushAll(defrag).Count(r => r.Reason == IncompleteReason.CaptureEnd));
    }

    [Fact]
    public void HandMade_DatagramLargerThanTheByteCapOnItsOwn_IsDropped()
    {
        byte[] udp = HandMadePacket.Udp(ClientPort, RdpPort, Pattern(9000, 1));
        var wire = new Wire();
        var defrag = new IpDefragmenter(new DefragmenterLimits { MaxBufferedBytes = 4096 });

        Assert.Equal(DefragResult.Buffered, defrag.Add(wire.Raw(V4(udp, 0, 1480, more: true, id: 1, protocol: HandMadePacket.ProtocolUdp)), out _));
        Assert.Equal(DefragResult.Dropped, defrag.Add(wire.Raw(V4(udp, 8000, udp.Length - 8000, more: false, id: 1, protocol: HandMadePacket.ProtocolUdp)), out _));

        Assert.Equal(IncompleteReason.ByteCap, Assert.Single(FlushAll(defrag)).Reason);
        Assert.Equal(0, defrag.BufferedBytes);
    }

    [Fact]
    public void HandMade_Ipv4FragmentEndingPast65535Bytes_IsDroppedAsSizeCap()
    {
        // Ping of death: the last possible offset (8191 * 8) plus 100 bytes.
        byte[] data = Pattern(65528 + 100, 1);
        var wire = new Wire();
        var defrag = new IpDefragmenter();

        Assert.Equal(DefragResult.Dropped, defrag.Add(wire.Raw(V4(data, 65528, 100, more: false, id: 1, protocol: HandMadePacket.ProtocolIcmp)), out _));

        IncompleteDatagram report = Assert.Single(FlushAll(defrag));
        Assert.Equal(IncompleteReason.SizeCap, report.Reason);
        Assert.Equal(1, defrag.CapDrops);
    }

    [Fact]
    public void HandMade_MoreFragmentsThanTheCap_IsDroppedAsFragmentCap()
    {
        byte[] udp = HandMadePacket.Udp(ClientPort, RdpPort, Pattern(992, 1));
        var wire = new Wire();
        var defrag = new IpDefragmenter(new DefragmenterLimits { MaxFragmentsPerDatagram = 4 });

        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(DefragResult.Buffered, defrag.Add(wire.Raw(V4(udp, i * 8, 8, more: true, id: 1, protocol: HandMadePacket.ProtocolUdp)), out _));
        }
        Assert.Equal(DefragResult.Dropped, defrag.Add(wire.Raw(V4(udp, 32, 8, more: true, id: 1, protocol: HandMadePacket.ProtocolUdp)), out _));

        Assert.Equal(IncompleteReason.FragmentCap, Assert.Single(FlushAll(defrag)).Reason);
    }

    // ---- Malformed and awkward fragments -----------------------------------------------

    [Fact]
    public void HandMade_FragmentCutBySnaplen_IsDroppedAsTruncated()
    {
        byte[] tcp = HandMadePacket.Tcp(ClientPort, RdpPort, 1, 0, TcpFlags.Ack, payload: Pattern(3000, 1));
        var wire = new Wire();
        var defrag = new IpDefragmenter();

        defrag.Add(wire.Raw(V4(tcp, 0, 1480, more: true, id: 1)), out _);
        Assert.Equal(DefragResult.Dropped, defrag.Add(wire.Raw(V4(tcp, 1480, 1480, more: true, id: 1), snapLength: 200), out _));

        IncompleteDatagram report = Assert.Single(FlushAll(defrag));
        Assert.Equal(IncompleteReason.Truncated, report.Reason);
        Assert.Equal(2, report.LastFrame);
        Assert.Equal(1, defrag.MalformedDiscarded);
    }

    [Fact]
    public void HandMade_TwoLastFragmentsDisagreeingOnTheLength_AreInconsistent()
    {
        byte[] tcp = HandMadePacket.Tcp(ClientPort, RdpPort, 1, 0, TcpFlags.Ack, payload: Pattern(3000, 1));
        var wire = new Wire();
        var defrag = new IpDefragmenter();

        defrag.Add(wire.Raw(V4(tcp, 2960, tcp.Length - 2960, more: false, id: 1)), out _);
        Assert.Equal(DefragResult.Dropped, defrag.Add(wire.Raw(V4(tcp, 1480, 1488, more: false, id: 1)), out _));

        IncompleteDatagram report = Assert.Single(FlushAll(defrag));
        Assert.Equal(IncompleteReason.Inconsistent, report.Reason);
        Assert.Equal(tcp.Length, report.TotalLength);
    }

    [Fact]
    public void HandMade_TinyFirstFragmentShorterThanTheTcpHeader_IsReassembledAndDecoded()
    {
        byte[] tcp = HandMadePacket.Tcp(ClientPort, RdpPort, 0xDEADBEEF, 0x01020304, TcpFlags.Ack | TcpFlags.Psh,
            options: HandMadePacket.TimestampsOption(5, 6), payload: Pattern(100, 4));
        var wire = new Wire();
        var defrag = new IpDefragmenter();

        DecodedPacket tiny = wire.Raw(V4(tcp, 0, 8, more: true, id: 99));
        Assert.Equal(TransportKind.Fragment, tiny.Transport);
        Assert.Equal(DefragResult.Buffered, defrag.Add(tiny, out _));
        Assert.Equal(DefragResult.Completed, defrag.Add(wire.Raw(V4(tcp, 8, tcp.Length - 8, more: false, id: 99)), out var datagram));

        using (datagram)
        {
            Assert.Equal(DecodeResult.Ok, datagram!.TryDecode(out DecodedPacket d));
            Assert.Equal(TransportKind.Tcp, d.Transport);
            Assert.Equal(ClientPort, d.SourcePort);
            Assert.Equal(RdpPort, d.DestinationPort);
            Assert.Equal(0xDEADBEEFu, d.Sequence);
            Assert.Equal(TcpFlags.Ack | TcpFlags.Psh, d.TcpFlags);
            Assert.Equal(5u, d.TcpOptions.TimestampValue);
            Assert.Equal(Pattern(100, 4), d.Payload.ToArray());
        }
    }

    [Fact]
    public void HandMade_Ipv6DestinationOptionsInTheFragmentablePart_AreWalkedAfterReassembly()
    {
        // Unfragmentable part: hop-by-hop (8 bytes). Fragmentable part: destination options, then TCP.
        byte[] tcp = HandMadePacket.Tcp(ClientPort, RdpPort, 42, 43, TcpFlags.Ack, payload: Pattern(2000, 5));
        byte[] fragmentable = HandMadePacket.Concat(HandMadePacket.Ipv6OptionsHeader(HandMadePacket.ProtocolTcp, 0), tcp);
        byte[] hopByHop = HandMadePacket.Ipv6OptionsHeader(HandMadePacket.NextHeaderFragment, 0);
        byte[] Fragment(int offset, int length, bool more) => HandMadePacket.Ipv6(HandMadePacket.NextHeaderHopByHop,
            HandMadePacket.Concat(hopByHop,
                HandMadePacket.Ipv6FragmentHeader(HandMadePacket.NextHeaderDestinationOptions, offset, more, 0x55),
                fragmentable.AsSpan(offset, length).ToArray()));
        var wire = new Wire();
        var defrag = new IpDefragmenter();

        DecodedPacket first = wire.Raw(Fragment(0, 1232, more: true));
        Assert.Equal((byte)6, first.IpProtocol); // the decoder walked past the destination options
        defrag.Add(first, out _);
        Assert.Equal(DefragResult.Completed, defrag.Add(wire.Raw(Fragment(1232, fragmentable.Length - 1232, more: false)), out var datagram));

        using (datagram)
        {
            Assert.Equal(HandMadePacket.NextHeaderDestinationOptions, datagram!.Protocol);
            Assert.Equal(48, datagram.IpHeaderLength);
            Assert.Equal(DecodeResult.Ok, datagram.TryDecode(out DecodedPacket d));
            Assert.Equal(TransportKind.Tcp, d.Transport);
            Assert.Equal((byte)6, d.IpProtocol);
            Assert.Equal(48 + fragmentable.Length, d.IpTotalLength);
            Assert.Equal(42u, d.Sequence);
            Assert.Equal(Pattern(2000, 5), d.Payload.ToArray());
        }
    }

    [Fact]
    public void HandMade_NotAFragment_IsRejected()
    {
        var defrag = new IpDefragmenter();
        DecodedPacket whole = new Wire().Raw(HandMadePacket.Ipv4TcpSyn());

        Assert.Throws<ArgumentException>(() => defrag.Add(whole, out _));
    }

    // ---- Sixteen fragments decode like the unfragmented segment ------------------------

    [Theory]
    [InlineData(4)]
    [InlineData(6)]
    public void HandMade_SixteenFragmentTcpSegment_DecodesExactlyLikeTheUnfragmentedSegment(int version)
    {
        byte[] options = HandMadePacket.Concat(HandMadePacket.TimestampsOption(0x11111111, 0x22222222), [1, 1]);
        // 32-byte header + 1504 bytes = 1536 = 16 fragments of 96.
        byte[] tcp = HandMadePacket.Tcp(ClientPort, RdpPort, 0x10203040, 0x50607080, TcpFlags.Ack | TcpFlags.Psh,
            window: 511, options: options, payload: Pattern(1504, 12));
        byte[] whole = version == 4
            ? HandMadePacket.Ipv4(HandMadePacket.ProtocolTcp, tcp, id: 0x7777, ttl: 50, dontFragment: false)
            : HandMadePacket.Ipv6(HandMadePacket.ProtocolTcp, tcp, hopLimit: 50);
        Assert.Equal(DecodeResult.Ok, PacketDecoder.TryDecode(HandMadePacket.Captured(LinkType.Raw, whole), out DecodedPacket expected));

        var order = Enumerable.Range(0, 16).ToArray();
        new Random(16).Shuffle(order);
        var wire = new Wire();
        var defrag = new IpDefragmenter();
        ReassembledDatagram? datagram = null;
        for (int i = 0; i < order.Length; i++)
        {
            int offset = order[i] * 96;
            bool more = order[i] != 15;
            byte[] fragment = version == 4
                ? V4(tcp, offset, 96, more, id: 0x7777, ttl: 50)
                : V6(tcp, offset, 96, more, id: 0x7777, nextHeader: HandMadePacket.ProtocolTcp, hopLimit: 50);
            DefragResult result = defrag.Add(wire.Raw(fragment), out datagram);
            Assert.Equal(i == 15 ? DefragResult.Completed : DefragResult.Buffered, result);
        }

        using (datagram)
        {
            Assert.Equal(Enumerable.Range(1, 16).Select(f => (long)f), datagram!.Frames.ToArray());
            Assert.Equal(DecodeResult.Ok, datagram.TryDecode(out DecodedPacket d));
            Assert.Equal(16L, d.Packet.Frame);
            Assert.Equal(expected.Transport, d.Transport);
            Assert.Equal(expected.IpVersion, d.IpVersion);
            Assert.Equal(expected.Source, d.Source);
            Assert.Equal(expected.Destination, d.Destination);
            Assert.Equal(expected.IpProtocol, d.IpProtocol);
            Assert.Equal(expected.IpTotalLength, d.IpTotalLength);
            Assert.Equal(expected.IpHeaderLength, d.IpHeaderLength);
            Assert.Equal(expected.Ttl, d.Ttl);
            Assert.Equal(expected.IsFragment, d.IsFragment);
            Assert.Equal(expected.SourcePort, d.SourcePort);
            Assert.Equal(expected.DestinationPort, d.DestinationPort);
            Assert.Equal(expected.Sequence, d.Sequence);
            Assert.Equal(expected.Acknowledgment, d.Acknowledgment);
            Assert.Equal(expected.TcpFlags, d.TcpFlags);
            Assert.Equal(expected.Window, d.Window);
            Assert.Equal(expected.TcpHeaderLength, d.TcpHeaderLength);
            Assert.Equal(expected.TcpOptions, d.TcpOptions);
            Assert.Equal(expected.Payload.ToArray(), d.Payload.ToArray());
            Assert.Equal(expected.PayloadWireLength, d.PayloadWireLength);
        }
    }

    // ---- Random fragment sets ----------------------------------------------------------

    [Fact]
    public void HandMade_RandomFragmentSets_NeverThrowAndStayWithinTheCaps()
    {
        int rounds = int.TryParse(Environment.GetEnvironmentVariable("RDPWIRE_FUZZ_ROUNDS"), out int r) ? r : 60;
        int seed = int.TryParse(Environment.GetEnvironmentVariable("RDPWIRE_FUZZ_SEED"), out int s) ? s : 20261122;
        var random = new Random(seed);
        var limits = new DefragmenterLimits { MaxBufferedBytes = 96 * 1024, MaxDatagrams = 8, MaxFragmentsPerDatagram = 48 };
        byte[][] contents = Enumerable.Range(0, 4).Select(i => Pattern(67200, (byte)(i * 37))).ToArray();
        long completed = 0;

        for (int round = 0; round < rounds; round++)
        {
            // Well-formed fragment sets of a few datagrams, shuffled together with random fragments,
            // some lost, duplicated, corrupted or cut by snaplen.
            var frames = new List<byte[]>();
            for (int n = 0; n < 12; n++)
            {
                bool v6 = random.Next(3) == 0;
                byte[] content = contents[random.Next(contents.Length)];
                ushort id = (ushort)random.Next(12);
                byte protocol = random.Next(2) == 0 ? HandMadePacket.ProtocolTcp : HandMadePacket.ProtocolUdp;
                int total = random.Next(9, random.Next(3) == 0 ? 66000 : 6000);
                int size = random.Next(1, 186) * 8;
                for (int offset = 0; offset < total; offset += size)
                {
                    int length = Math.Min(size, total - offset);
                    bool more = offset + length < total;
                    frames.Add(v6 ? V6(content, offset, length, more, id, nextHeader: protocol)
                        : V4(content, offset, length, more, id, protocol: protocol));
                }
            }
            for (int n = 0; n < 100; n++)
            {
                bool v6 = random.Next(3) == 0;
                byte[] content = contents[random.Next(contents.Length)];
                int offset = Math.Min(random.Next(4) == 0 ? random.Next(8192) * 8 : random.Next(1, 200) * 8 * random.Next(12), 65528);
                int length = random.Next(4) == 0 ? random.Next(0, 16) : random.Next(0, 1480);
                bool more = offset == 0 || random.Next(3) != 0;
                ushort id = (ushort)random.Next(12);
                byte protocol = random.Next(2) == 0 ? HandMadePacket.ProtocolTcp : HandMadePacket.ProtocolUdp;
                frames.Add(v6 ? V6(content, offset, length, more, id, nextHeader: protocol)
                    : V4(content, offset, length, more, id, protocol: protocol));
            }
            for (int i = frames.Count - 1; i > 0; i--)
            {
                int j = random.Next(i + 1);
                if (random.Next(4) == 0)
                {
                    (frames[i], frames[j]) = (frames[j], frames[i]);
                }
            }

            var wire = new Wire();
            var defrag = new IpDefragmenter(limits);
            var reports = new List<IncompleteDatagram>();
            foreach (byte[] original in frames)
            {
                int fate = random.Next(40);
                if (fate == 0)
                {
                    continue; // lost
                }
                byte[] frame = original;
                if (fate == 1 && frame.Length > 60)
                {
                    frame = (byte[])frame.Clone();
                    frame[random.Next(48, frame.Length)] ^= 0x5A;
                }
                wire.Ticks += random.Next(30) == 0 ? TimeSpan.FromSeconds(random.Next(70)).Ticks : 1;
                int? snap = fate == 2 ? random.Next(frame.Length + 1) : null;
                for (int copy = fate == 3 ? 2 : 1; copy > 0; copy--)
                {
                    CapturedPacket captured = wire.Capture(frame, LinkType.Raw, snap);
                    PacketDecoder.TryDecode(captured, out DecodedPacket d);
                    if (!d.IsFragment || d.IpVersion == 0)
                    {
                        continue;
                    }
                    if (defrag.Add(d, out ReassembledDatagram? datagram) == DefragResult.Completed)
                    {
                        completed++;
                        using (datagram)
                        {
                            datagram!.TryDecode(out _);
                            Assert.Equal(captured.Frame, datagram.Frames[^1]);
                            Assert.InRange(datagram.Payload.Length, 1, 65535);
                        }
                    }
                    Assert.InRange(defrag.BufferedBytes, 0, limits.MaxBufferedBytes);
                    Assert.InRange(defrag.TrackedDatagrams, 0, limits.MaxDatagrams);
                }
                if (random.Next(10) == 0)
                {
                    defrag.Expire(wire.Ticks, reports);
                }
            }
            defrag.Flush(reports);
            Assert.Equal(0, defrag.BufferedBytes);
            Assert.Equal(0, defrag.TrackedDatagrams);
            Assert.All(reports, x => Assert.InRange(x.BytesReceived, 0, 65535));
            Assert.All(reports, x => Assert.True(x.TotalLength is null || x.BytesReceived <= x.TotalLength));
        }
        Assert.True(rounds == 0 || completed > 0, "no datagram ever completed: the generator is broken");
    }

    // ---- Builders ----------------------------------------------------------------------

    private static byte[] V4(byte[] datagramPayload, int offset, int length, bool more, ushort id, byte ttl = 64,
        byte protocol = HandMadePacket.ProtocolTcp) =>
        HandMadePacket.Ipv4(protocol, datagramPayload.AsSpan(offset, length).ToArray(), id: id, ttl: ttl,
            dontFragment: false, moreFragments: more, fragmentOffset: offset);

    private static byte[] V6(byte[] datagramPayload, int offset, int length, bool more, uint id,
        byte nextHeader = HandMadePacket.ProtocolUdp, byte hopLimit = 64) =>
        HandMadePacket.Ipv6(HandMadePacket.NextHeaderFragment, HandMadePacket.Concat(
            HandMadePacket.Ipv6FragmentHeader(nextHeader, offset, more, id),
            datagramPayload.AsSpan(offset, length).ToArray()), hopLimit: hopLimit);

    private static byte[] Pattern(int length, byte seed)
    {
        byte[] bytes = new byte[length];
        for (int i = 0; i < length; i++)
        {
            bytes[i] = (byte)(seed + i * 7 + (i >> 8));
        }
        return bytes;
    }

    private static List<IncompleteDatagram> ExpireAll(IpDefragmenter defrag, long now)
    {
        var into = new List<IncompleteDatagram>();
        defrag.Expire(now, into);
        return into;
    }

    private static List<IncompleteDatagram> FlushAll(IpDefragmenter defrag)
    {
        var into = new List<IncompleteDatagram>();
        defrag.Flush(into);
        return into;
    }

    /// <summary>Numbers frames from 1 and advances the clock 1 ms per frame, as a capture would.</summary>
    private sealed class Wire
    {
        private long _frame;

        public long Ticks { get; set; } = Start;

        public CapturedPacket Capture(byte[] frame, LinkType linkType, int? snapLength = null)
        {
            _frame++;
            Ticks += TimeSpan.TicksPerMillisecond;
            byte[] data = snapLength is int snap && snap < frame.Length ? frame[..snap] : frame;
            return new CapturedPacket(_frame, Ticks, linkType, 0, frame.Length, data);
        }

        public DecodedPacket Raw(byte[] ip, int? snapLength = null) => Decode(Capture(ip, LinkType.Raw, snapLength));

        public DecodedPacket Ethernet(byte[] ip, int padTo = 0)
        {
            byte[] frame = HandMadePacket.Ethernet(HandMadePacket.EtherTypeIpv4, ip);
            if (frame.Length < padTo)
            {
                frame = HandMadePacket.Concat(frame, HandMadePacket.Bytes(padTo - frame.Length, 0xEE));
            }
            return Decode(Capture(frame, LinkType.Ethernet));
        }

        private static DecodedPacket Decode(in CapturedPacket packet)
        {
            DecodeResult result = PacketDecoder.TryDecode(packet, out DecodedPacket decoded);
            Assert.True(result is DecodeResult.Ok or DecodeResult.Truncated, result.ToString());
            return decoded;
        }
    }
}
