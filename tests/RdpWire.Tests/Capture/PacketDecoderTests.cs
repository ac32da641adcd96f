using System.Buffers.Binary;
using System.Net;
using RdpWire.Capture;
using RdpWire.Capture.Decoding;
using RdpWire.Tests.Support;
using Xunit;

namespace RdpWire.Tests.Capture;

public sealed class PacketDecoderTests
{
    private const ushort RdpPort = 3389;
    private const ushort ClientPort = 50123;

    // ---- Link layers -------------------------------------------------------------------

    public static TheoryData<string, LinkType, byte[]> EveryLinkType()
    {
        byte[] v4 = HandMadePacket.Ipv4TcpSyn();
        byte[] v6 = HandMadePacket.Ipv6TcpSyn();
        return new TheoryData<string, LinkType, byte[]>
        {
            { "Ethernet v4", LinkType.Ethernet, HandMadePacket.Ethernet(HandMadePacket.EtherTypeIpv4, v4) },
            { "Ethernet v6", LinkType.Ethernet, HandMadePacket.Ethernet(HandMadePacket.EtherTypeIpv6, v6) },
            { "802.1Q", LinkType.Ethernet, HandMadePacket.Ethernet(HandMadePacket.EtherTypeIpv4, v4, 0x8100) },
            { "802.1ad QinQ", LinkType.Ethernet, HandMadePacket.Ethernet(HandMadePacket.EtherTypeIpv6, v6, 0x88A8, 0x8100) },
            { "0x9100 QinQ", LinkType.Ethernet, HandMadePacket.Ethernet(HandMadePacket.EtherTypeIpv4, v4, 0x9100, 0x8100) },
            { "four tags", LinkType.Ethernet, HandMadePacket.Ethernet(HandMadePacket.EtherTypeIpv4, v4, 0x88A8, 0x9100, 0x8100, 0x8100) },
            { "SLL v4", LinkType.LinuxSll, HandMadePacket.Sll(HandMadePacket.EtherTypeIpv4, v4) },
            { "SLL v6", LinkType.LinuxSll, HandMadePacket.Sll(HandMadePacket.EtherTypeIpv6, v6) },
            { "SLL2 v4", LinkType.LinuxSll2, HandMadePacket.Sll2(HandMadePacket.EtherTypeIpv4, v4) },
            { "SLL2 v6", LinkType.LinuxSll2, HandMadePacket.Sll2(HandMadePacket.EtherTypeIpv6, v6) },
            { "RAW v4", LinkType.Raw, v4 },
            { "RAW v6", LinkType.Raw, v6 },
            { "IPV4", LinkType.Ipv4, v4 },
            { "IPV6", LinkType.Ipv6, v6 },
            { "NULL little-endian AF_INET", LinkType.Null, HandMadePacket.Null(2, bigEndian: false, v4) },
            { "NULL big-endian AF_INET", LinkType.Null, HandMadePacket.Null(2, bigEndian: true, v4) },
            { "NULL AF_INET6 24", LinkType.Null, HandMadePacket.Null(24, bigEndian: false, v6) },
            { "NULL AF_INET6 28", LinkType.Null, HandMadePacket.Null(28, bigEndian: true, v6) },
            { "NULL AF_INET6 30", LinkType.Null, HandMadePacket.Null(30, bigEndian: false, v6) },
            { "LOOP AF_INET", LinkType.Loop, HandMadePacket.Loop(2, v4) },
            { "LOOP AF_INET6", LinkType.Loop, HandMadePacket.Loop(24, v6) },
        };
    }

    [Theory]
    [MemberData(nameof(EveryLinkType))]
    public void HandMade_EveryLinkType_FindsTheTcpSyn(string name, LinkType linkType, byte[] frame)
    {
        DecodeResult result = PacketDecoder.TryDecode(HandMadePacket.Captured(linkType, frame), out DecodedPacket decoded);

        Assert.True(result == DecodeResult.Ok, name + ": " + result);
        Assert.Equal(TransportKind.Tcp, decoded.Transport);
        Assert.Equal(ClientPort, decoded.SourcePort);
        Assert.Equal(RdpPort, decoded.DestinationPort);
        Assert.Equal(TcpFlags.Syn, decoded.TcpFlags);
        Assert.Equal(1000u, decoded.Sequence);
        Assert.Equal((byte)6, decoded.IpProtocol);
        Assert.Equal(0, decoded.Payload.Length);
        Assert.Equal(frame.Length, decoded.Packet.Data.Length);
    }

    public static TheoryData<string, LinkType, byte[]> NonIpFrames() => new()
    {
        { "ARP", LinkType.Ethernet, HandMadePacket.Ethernet(0x0806, new byte[28]) },
        { "802.3 length field", LinkType.Ethernet, HandMadePacket.Ethernet(0x0040, new byte[64]) },
        { "ARP in VLAN", LinkType.Ethernet, HandMadePacket.Ethernet(0x0806, new byte[28], 0x8100) },
        { "SLL ARP", LinkType.LinuxSll, HandMadePacket.Sll(0x0806, new byte[28]) },
        { "SLL2 LLC", LinkType.LinuxSll2, HandMadePacket.Sll2(0x0004, new byte[28]) },
        { "NULL AF 7", LinkType.Null, HandMadePacket.Null(7, bigEndian: false, new byte[28]) },
        { "LOOP AF 17", LinkType.Loop, HandMadePacket.Loop(17, new byte[28]) },
        { "RAW version 5", LinkType.Raw, [0x50, 0, 0, 0] },
    };

    [Theory]
    [MemberData(nameof(NonIpFrames))]
    public void HandMade_NonIpFrame_IsNotIp(string name, LinkType linkType, byte[] frame)
    {
        DecodeResult result = PacketDecoder.TryDecode(HandMadePacket.Captured(linkType, frame), out DecodedPacket decoded);

        Assert.True(result == DecodeResult.NotIp, name + ": " + result);
        Assert.Equal(TransportKind.None, decoded.Transport);
        Assert.Equal((byte)0, decoded.IpVersion);
    }

    [Fact]
    public void HandMade_UnknownLinkType_IsUnsupported()
    {
        DecodeResult result = PacketDecoder.TryDecode(
            HandMadePacket.Captured((LinkType)147, HandMadePacket.Ipv4TcpSyn()), out _);

        Assert.Equal(DecodeResult.UnsupportedLinkType, result);
    }

    [Fact]
    public void HandMade_FiveStackedVlanTags_IsMalformed()
    {
        byte[] frame = HandMadePacket.Ethernet(HandMadePacket.EtherTypeIpv4, HandMadePacket.Ipv4TcpSyn(),
            0x88A8, 0x8100, 0x8100, 0x8100, 0x8100);

        Assert.Equal(DecodeResult.Malformed, PacketDecoder.TryDecode(HandMadePacket.Captured(LinkType.Ethernet, frame), out _));
    }

    [Theory]
    [InlineData(LinkType.Ipv4, 6)]
    [InlineData(LinkType.Ipv6, 4)]
    public void HandMade_RawLinkTypeWithTheOtherIpVersion_IsMalformed(LinkType linkType, int version)
    {
        byte[] ip = version == 4 ? HandMadePacket.Ipv4TcpSyn() : HandMadePacket.Ipv6TcpSyn();

        Assert.Equal(DecodeResult.Malformed, PacketDecoder.TryDecode(HandMadePacket.Captured(linkType, ip), out _));
    }

    [Fact]
    public void HandMade_EthernetTypeSaysIpv4ButHeaderIsIpv6_IsMalformed()
    {
        byte[] frame = HandMadePacket.Ethernet(HandMadePacket.EtherTypeIpv4, HandMadePacket.Ipv6TcpSyn());

        Assert.Equal(DecodeResult.Malformed, PacketDecoder.TryDecode(HandMadePacket.Captured(LinkType.Ethernet, frame), out _));
    }

    // ---- IPv4 --------------------------------------------------------------------------

    [Fact]
    public void HandMade_EthernetIpv4TcpSyn_FillsEveryIpAndTcpField()
    {
        byte[] options = HandMadePacket.Concat(
            HandMadePacket.MssOption(1460), [1], HandMadePacket.WindowScaleOption(8),
            HandMadePacket.SackPermittedOption(), HandMadePacket.TimestampsOption(0x01020304, 0));
        byte[] tcp = HandMadePacket.Tcp(ClientPort, RdpPort, 0xA1B2C3D4, 0, TcpFlags.Syn | TcpFlags.Ece | TcpFlags.Cwr,
            window: 64240, options: options);
        byte[] ip = HandMadePacket.Ipv4(HandMadePacket.ProtocolTcp, tcp, id: 0xBEEF, ttl: 128, dontFragment: true);
        byte[] frame = HandMadePacket.Ethernet(HandMadePacket.EtherTypeIpv4, ip);

        DecodeResult result = PacketDecoder.TryDecode(HandMadePacket.Captured(LinkType.Ethernet, frame), out DecodedPacket d);

        Assert.Equal(DecodeResult.Ok, result);
        Assert.Equal(TransportKind.Tcp, d.Transport);
        Assert.Equal((byte)4, d.IpVersion);
        Assert.Equal("10.0.0.1", d.Source.ToString());
        Assert.Equal("10.0.0.2", d.Destination.ToString());
        Assert.False(d.Source.IsIPv6);
        Assert.Equal((byte)6, d.IpProtocol);
        Assert.Equal(ip.Length, d.IpTotalLength);
        Assert.Equal((byte)20, d.IpHeaderLength);
        Assert.Equal((byte)128, d.Ttl);
        Assert.Equal(0xBEEFu, d.IpIdentification);
        Assert.True(d.DontFragment);
        Assert.False(d.IsFragment);
        Assert.Equal(0xA1B2C3D4u, d.Sequence);
        Assert.Equal(0u, d.Acknowledgment);
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ece | TcpFlags.Cwr, d.TcpFlags);
        Assert.Equal((ushort)64240, d.Window);
        Assert.Equal((byte)(20 + 20), d.TcpHeaderLength);
        Assert.Equal(new TcpOptions(1460, 8, true, 0, 0x01020304u, 0u), d.TcpOptions);
        Assert.Equal(0, d.Payload.Length);
        Assert.Equal(0, d.PayloadWireLength);
    }

    [Fact]
    public void HandMade_Ipv4WithOptions_HeaderLengthIncludesOptionsAndPortsFollowThem()
    {
        // RFC 2113 router alert (4 bytes) + NOP + EOL padding: IHL 7.
        byte[] ipOptions = [0x94, 0x04, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00];
        byte[] payload = HandMadePacket.Bytes(10, 0x42);
        byte[] ip = HandMadePacket.Ipv4(HandMadePacket.ProtocolTcp,
            HandMadePacket.Tcp(RdpPort, ClientPort, 5, 6, TcpFlags.Ack | TcpFlags.Psh, payload: payload), options: ipOptions);

        DecodeResult result = PacketDecoder.TryDecode(HandMadePacket.Captured(LinkType.Raw, ip), out DecodedPacket d);

        Assert.Equal(DecodeResult.Ok, result);
        Assert.Equal((byte)28, d.IpHeaderLength);
        Assert.Equal(RdpPort, d.SourcePort);
        Assert.Equal(ClientPort, d.DestinationPort);
        Assert.Equal(payload, d.Payload.ToArray());
        Assert.Equal(10, d.PayloadWireLength);
    }

    [Fact]
    public void HandMade_EthernetPaddingAfterShortDatagram_IsNotPayload()
    {
        byte[] payload = [0x03, 0x00];
        byte[] ip = HandMadePacket.Ipv4(HandMadePacket.ProtocolTcp,
            HandMadePacket.Tcp(ClientPort, RdpPort, 1, 1, TcpFlags.Ack, payload: payload));
        byte[] frame = HandMadePacket.Ethernet(HandMadePacket.EtherTypeIpv4, ip);
        byte[] padded = HandMadePacket.Concat(frame, HandMadePacket.Bytes(60 - frame.Length, 0xEE));

        DecodeResult result = PacketDecoder.TryDecode(HandMadePacket.Captured(LinkType.Ethernet, padded), out DecodedPacket d);

        Assert.Equal(DecodeResult.Ok, result);
        Assert.Equal(60, padded.Length);
        Assert.Equal(payload, d.Payload.ToArray());
        Assert.Equal(2, d.PayloadWireLength);
        Assert.Equal(42, d.IpTotalLength);
    }

    [Fact]
    public void HandMade_SnaplenCutInsidePayload_PayloadWireLengthExceedsPayload()
    {
        byte[] ip = HandMadePacket.Ipv4(HandMadePacket.ProtocolTcp,
            HandMadePacket.Tcp(RdpPort, ClientPort, 1, 1, TcpFlags.Ack, payload: HandMadePacket.Bytes(1400, 0x17)));
        byte[] frame = HandMadePacket.Ethernet(HandMadePacket.EtherTypeIpv4, ip);
        var packet = new CapturedPacket(1, 0, LinkType.Ethernet, 0, frame.Length, frame.AsMemory(0, 96));

        DecodeResult result = PacketDecoder.TryDecode(packet, out DecodedPacket d);

        Assert.Equal(DecodeResult.Ok, result);
        Assert.Equal(96 - 14 - 20 - 20, d.Payload.Length);
        Assert.Equal(1400, d.PayloadWireLength);
        Assert.Equal(1440, d.IpTotalLength);
        Assert.True(d.Packet.IsTruncated);
    }

    [Fact]
    public void HandMade_Ipv4TotalLengthShorterThanHeader_IsMalformed()
    {
        byte[] ip = HandMadePacket.Ipv4(HandMadePacket.ProtocolTcp, HandMadePacket.Tcp(1, 2, 0, 0, TcpFlags.Syn),
            totalLengthOverride: 19);

        Assert.Equal(DecodeResult.Malformed, PacketDecoder.TryDecode(HandMadePacket.Captured(LinkType.Raw, ip), out _));
    }

    [Fact]
    public void HandMade_Ipv4HeaderLengthBelowFive_IsMalformed()
    {
        byte[] ip = HandMadePacket.Ipv4TcpSyn();
        ip[0] = 0x44;

        Assert.Equal(DecodeResult.Malformed, PacketDecoder.TryDecode(HandMadePacket.Captured(LinkType.Raw, ip), out _));
    }

    [Fact]
    public void HandMade_Ipv4TotalLengthZeroFromSegmentationOffload_TakesTheCapturedLength()
    {
        byte[] ip = HandMadePacket.Ipv4(HandMadePacket.ProtocolTcp,
            HandMadePacket.Tcp(RdpPort, ClientPort, 1, 1, TcpFlags.Ack, payload: HandMadePacket.Bytes(3000, 1)),
            totalLengthOverride: 0);

        DecodeResult result = PacketDecoder.TryDecode(HandMadePacket.Captured(LinkType.Raw, ip), out DecodedPacket d);

        Assert.Equal(DecodeResult.Ok, result);
        Assert.Equal(3040, d.IpTotalLength);
        Assert.Equal(3000, d.Payload.Length);
        Assert.Equal(3000, d.PayloadWireLength);
    }

    [Fact]
    public void HandMade_Ipv4NonFirstFragment_IsFragmentWithoutPorts()
    {
        byte[] fragmentData = HandMadePacket.Bytes(64, 0x55);
        byte[] ip = HandMadePacket.Ipv4(HandMadePacket.ProtocolUdp, fragmentData, id: 77,
            dontFragment: false, moreFragments: false, fragmentOffset: 1480);

        DecodeResult result = PacketDecoder.TryDecode(HandMadePacket.Captured(LinkType.Raw, ip), out DecodedPacket d);

        Assert.Equal(DecodeResult.Ok, result);
        Assert.Equal(TransportKind.Fragment, d.Transport);
        Assert.Equal((byte)17, d.IpProtocol);
        Assert.Equal(1480, d.FragmentOffset);
        Assert.False(d.MoreFragments);
        Assert.True(d.IsFragment);
        Assert.Equal(77u, d.IpIdentification);
        Assert.Equal((ushort)0, d.SourcePort);
        Assert.Equal((ushort)0, d.DestinationPort);
        Assert.Equal(fragmentData, d.Payload.ToArray());
        Assert.Equal(64, d.PayloadWireLength);
    }

    [Fact]
    public void HandMade_Ipv4FirstFragmentWithMoreFragments_StillDecodesTheUdpHeader()
    {
        // The UDP length covers the whole 3000-byte datagram; this fragment carries 1480 bytes of it.
        byte[] udp = HandMadePacket.Udp(ClientPort, RdpPort, HandMadePacket.Bytes(1472, 9), lengthOverride: 3008);
        byte[] ip = HandMadePacket.Ipv4(HandMadePacket.ProtocolUdp, udp, dontFragment: false, moreFragments: true);

        DecodeResult result = PacketDecoder.TryDecode(HandMadePacket.Captured(LinkType.Raw, ip), out DecodedPacket d);

        Assert.Equal(DecodeResult.Ok, result);
        Assert.Equal(TransportKind.Udp, d.Transport);
        Assert.True(d.MoreFragments);
        Assert.Equal(0, d.FragmentOffset);
        Assert.Equal(RdpPort, d.DestinationPort);
        Assert.Equal(1472, d.Payload.Length);
        Assert.Equal(1472, d.PayloadWireLength);
    }

    [Fact]
    public void HandMade_Ipv4TinyFirstFragmentShorterThanTcpHeader_IsFragment()
    {
        byte[] ip = HandMadePacket.Ipv4(HandMadePacket.ProtocolTcp, HandMadePacket.Bytes(8, 0),
            dontFragment: false, moreFragments: true);

        DecodeResult result = PacketDecoder.TryDecode(HandMadePacket.Captured(LinkType.Raw, ip), out DecodedPacket d);

        Assert.Equal(DecodeResult.Ok, result);
        Assert.Equal(TransportKind.Fragment, d.Transport);
    }

    [Fact]
    public void HandMade_Ipv4UnfollowedProtocol_IsOkWithTransportNone()
    {
        byte[] gre = HandMadePacket.Bytes(24, 0x47);
        byte[] ip = HandMadePacket.Ipv4(47, gre);

        DecodeResult result = PacketDecoder.TryDecode(HandMadePacket.Captured(LinkType.Raw, ip), out DecodedPacket d);

        Assert.Equal(DecodeResult.Ok, result);
        Assert.Equal(TransportKind.None, d.Transport);
        Assert.Equal((byte)47, d.IpProtocol);
        Assert.Equal(gre, d.Payload.ToArray());
    }

    // ---- IPv6 --------------------------------------------------------------------------

    [Fact]
    public void HandMade_Ipv6WithEveryExtensionHeader_FindsTheTcpHeader()
    {
        byte[] tcp = HandMadePacket.Tcp(ClientPort, RdpPort, 42, 0, TcpFlags.Syn);
        byte[] chain = HandMadePacket.Concat(
            HandMadePacket.Ipv6OptionsHeader(HandMadePacket.NextHeaderRouting, lengthUnits: 0),
            HandMadePacket.Ipv6OptionsHeader(HandMadePacket.NextHeaderFragment, lengthUnits: 1),
            HandMadePacket.Ipv6FragmentHeader(HandMadePacket.NextHeaderAuthentication, offset: 0, more: false, id: 0xCAFE),
            HandMadePacket.Ipv6AuthenticationHeader(HandMadePacket.NextHeaderDestinationOptions, payloadLengthField: 4),
            HandMadePacket.Ipv6OptionsHeader(HandMadePacket.ProtocolTcp, lengthUnits: 0),
            tcp);
        byte[] ip = HandMadePacket.Ipv6(HandMadePacket.NextHeaderHopByHop, chain, hopLimit: 55);

        DecodeResult result = PacketDecoder.TryDecode(HandMadePacket.Captured(LinkType.Raw, ip), out DecodedPacket d);

        Assert.Equal(DecodeResult.Ok, result);
        Assert.Equal(TransportKind.Tcp, d.Transport);
        Assert.Equal((byte)6, d.IpVersion);
        Assert.True(d.Source.IsIPv6);
        Assert.Equal("2001:db8::1", d.Source.ToString());
        Assert.Equal("2001:db8::2", d.Destination.ToString());
        Assert.Equal((byte)6, d.IpProtocol);
        Assert.Equal(ip.Length, d.IpTotalLength);
        Assert.Equal((byte)40, d.IpHeaderLength);
        Assert.Equal((byte)55, d.Ttl);
        Assert.Equal(0xCAFEu, d.IpIdentification);
        Assert.False(d.IsFragment);
        Assert.Equal(42u, d.Sequence);
        Assert.Equal(RdpPort, d.DestinationPort);
    }

    [Fact]
    public void HandMade_Ipv6WithFragmentHeader_NonFirstFragmentHasNoPorts()
    {
        byte[] fragmentData = HandMadePacket.Bytes(40, 0x66);
        byte[] ip = HandMadePacket.Ipv6(HandMadePacket.NextHeaderFragment, HandMadePacket.Concat(
            HandMadePacket.Ipv6FragmentHeader(HandMadePacket.ProtocolUdp, offset: 1232, more: true, id: 0x01020304),
            fragmentData));

        DecodeResult result = PacketDecoder.TryDecode(HandMadePacket.Captured(LinkType.Raw, ip), out DecodedPacket d);

        Assert.Equal(DecodeResult.Ok, result);
        Assert.Equal(TransportKind.Fragment, d.Transport);
        Assert.Equal((byte)17, d.IpProtocol);
        Assert.Equal(1232, d.FragmentOffset);
        Assert.True(d.MoreFragments);
        Assert.Equal(0x01020304u, d.IpIdentification);
        Assert.Equal((ushort)0, d.SourcePort);
        Assert.Equal(fragmentData, d.Payload.ToArray());
    }

    [Fact]
    public void HandMade_Ipv6FirstFragment_DecodesUdpPorts()
    {
        byte[] udp = HandMadePacket.Udp(ClientPort, RdpPort, HandMadePacket.Bytes(100, 3), lengthOverride: 2000);
        byte[] ip = HandMadePacket.Ipv6(HandMadePacket.NextHeaderFragment, HandMadePacket.Concat(
            HandMadePacket.Ipv6FragmentHeader(HandMadePacket.ProtocolUdp, offset: 0, more: true, id: 9), udp));

        DecodeResult result = PacketDecoder.TryDecode(HandMadePacket.Captured(LinkType.Raw, ip), out DecodedPacket d);

        Assert.Equal(DecodeResult.Ok, result);
        Assert.Equal(TransportKind.Udp, d.Transport);
        Assert.True(d.MoreFragments);
        Assert.Equal(9u, d.IpIdentification);
        Assert.Equal(RdpPort, d.DestinationPort);
        Assert.Equal(100, d.Payload.Length);
    }

    [Fact]
    public void HandMade_Ipv6NoNextHeader_IsOkWithTransportNone()
    {
        byte[] ip = HandMadePacket.Ipv6(HandMadePacket.NextHeaderNone, []);
        byte[] frame = HandMadePacket.Ethernet(HandMadePacket.EtherTypeIpv6, ip);
        byte[] padded = HandMadePacket.Concat(frame, HandMadePacket.Bytes(6, 0));

        DecodeResult result = PacketDecoder.TryDecode(HandMadePacket.Captured(LinkType.Ethernet, padded), out DecodedPacket d);

        Assert.Equal(DecodeResult.Ok, result);
        Assert.Equal(TransportKind.None, d.Transport);
        Assert.Equal((byte)59, d.IpProtocol);
        Assert.Equal(0, d.Payload.Length);
        Assert.Equal(40, d.IpTotalLength);
    }

    [Fact]
    public void HandMade_Ipv6SeventeenExtensionHeaders_IsMalformed()
    {
        byte[] chain = HandMadePacket.Concat(HandMadePacket.Udp(1, 2, []));
        for (int i = 0; i < 17; i++)
        {
            byte next = i == 0 ? HandMadePacket.ProtocolUdp : HandMadePacket.NextHeaderDestinationOptions;
            chain = HandMadePacket.Concat(HandMadePacket.Ipv6OptionsHeader(next, 0), chain);
        }
        byte[] ip = HandMadePacket.Ipv6(HandMadePacket.NextHeaderDestinationOptions, chain);

        Assert.Equal(DecodeResult.Malformed, PacketDecoder.TryDecode(HandMadePacket.Captured(LinkType.Raw, ip), out _));
    }

    [Fact]
    public void HandMade_Ipv6ExtensionHeaderLongerThanPayloadLength_IsMalformed()
    {
        byte[] ip = HandMadePacket.Ipv6(HandMadePacket.NextHeaderHopByHop, HandMadePacket.Concat(
            HandMadePacket.Ipv6OptionsHeader(HandMadePacket.ProtocolTcp, lengthUnits: 0),
            HandMadePacket.Tcp(1, 2, 0, 0, TcpFlags.Syn)));
        ip[41] = 10; // 88 bytes of options in a 28-byte payload

        Assert.Equal(DecodeResult.Malformed, PacketDecoder.TryDecode(HandMadePacket.Captured(LinkType.Raw, ip), out _));
    }

    [Fact]
    public void HandMade_Ipv6ExtensionHeaderCutBySnaplen_IsTruncatedButKeepsAddresses()
    {
        byte[] ip = HandMadePacket.Ipv6(HandMadePacket.NextHeaderHopByHop, HandMadePacket.Concat(
            HandMadePacket.Ipv6OptionsHeader(HandMadePacket.ProtocolTcp, lengthUnits: 2),
            HandMadePacket.Tcp(1, 2, 0, 0, TcpFlags.Syn)));
        var packet = new CapturedPacket(1, 0, LinkType.Raw, 0, ip.Length, ip.AsMemory(0, 50));

        DecodeResult result = PacketDecoder.TryDecode(packet, out DecodedPacket d);

        Assert.Equal(DecodeResult.Truncated, result);
        Assert.Equal((byte)6, d.IpVersion);
        Assert.Equal("2001:db8::2", d.Destination.ToString());
        Assert.Equal(TransportKind.None, d.Transport);
    }

    // ---- TCP ---------------------------------------------------------------------------

    public static TheoryData<string, byte[], TcpOptions> EachTcpOption() => new()
    {
        { "MSS", HandMadePacket.MssOption(1360), new TcpOptions(1360, null, false, 0, null, null) },
        { "window scale", HandMadePacket.WindowScaleOption(14), new TcpOptions(null, 14, false, 0, null, null) },
        { "SACK permitted", HandMadePacket.SackPermittedOption(), new TcpOptions(null, null, true, 0, null, null) },
        { "SACK 1 block", HandMadePacket.SackOption(1), new TcpOptions(null, null, false, 1, null, null) },
        { "SACK 3 blocks", HandMadePacket.Concat([1, 1], HandMadePacket.SackOption(3)), new TcpOptions(null, null, false, 3, null, null) },
        { "timestamps", HandMadePacket.Concat([1, 1], HandMadePacket.TimestampsOption(7, 0xFFFFFFFF)), new TcpOptions(null, null, false, 0, 7u, 0xFFFFFFFFu) },
        { "NOPs only", [1, 1, 1, 1], default },
        { "EOL hides what follows", HandMadePacket.Concat([0], HandMadePacket.MssOption(1460)), default },
        { "unknown kind skipped", HandMadePacket.Concat([30, 4, 0, 0], HandMadePacket.MssOption(536)), new TcpOptions(536, null, false, 0, null, null) },
    };

    [Theory]
    [MemberData(nameof(EachTcpOption))]
    public void HandMade_TcpOption_IsRead(string name, byte[] options, TcpOptions expected)
    {
        byte[] ip = HandMadePacket.Ipv4(HandMadePacket.ProtocolTcp,
            HandMadePacket.Tcp(ClientPort, RdpPort, 1, 2, TcpFlags.Ack, options: options, payload: [0xAA]));

        DecodeResult result = PacketDecoder.TryDecode(HandMadePacket.Captured(LinkType.Raw, ip), out DecodedPacket d);

        Assert.True(result == DecodeResult.Ok, name);
        Assert.Equal(expected, d.TcpOptions);
        Assert.Equal([0xAA], d.Payload.ToArray());
    }

    public static TheoryData<string, byte[], TcpOptions> MalformedTcpOptions() => new()
    {
        { "length 0", HandMadePacket.Concat(HandMadePacket.MssOption(1460), [8, 0]), new TcpOptions(1460, null, false, 0, null, null) },
        { "length 1", HandMadePacket.Concat(HandMadePacket.WindowScaleOption(2), [30, 1, 2, 2]), new TcpOptions(null, 2, false, 0, null, null) },
        { "length past header", HandMadePacket.Concat(HandMadePacket.MssOption(1460), [5, 40]), new TcpOptions(1460, null, false, 0, null, null) },
        { "MSS length 3", HandMadePacket.Concat(HandMadePacket.SackPermittedOption(), [2, 3, 5], HandMadePacket.WindowScaleOption(7)), new TcpOptions(null, null, true, 0, null, null) },
        { "SACK not a multiple of 8", HandMadePacket.Concat([5, 7, 0, 0, 0, 0, 0], HandMadePacket.MssOption(1)), default },
        { "kind without length byte", HandMadePacket.Concat(HandMadePacket.MssOption(1200), [1, 1, 1, 8]), new TcpOptions(1200, null, false, 0, null, null) },
    };

    [Theory]
    [MemberData(nameof(MalformedTcpOptions))]
    public void HandMade_MalformedTcpOptionLength_StopsOptionParsingButNotThePacket(string name, byte[] options, TcpOptions expected)
    {
        byte[] ip = HandMadePacket.Ipv4(HandMadePacket.ProtocolTcp,
            HandMadePacket.Tcp(ClientPort, RdpPort, 1, 2, TcpFlags.Syn, options: options, payload: [1, 2, 3]));

        DecodeResult result = PacketDecoder.TryDecode(HandMadePacket.Captured(LinkType.Raw, ip), out DecodedPacket d);

        Assert.True(result == DecodeResult.Ok, name);
        Assert.Equal(TransportKind.Tcp, d.Transport);
        Assert.Equal(expected, d.TcpOptions);
        Assert.Equal([1, 2, 3], d.Payload.ToArray());
    }

    [Theory]
    [InlineData(4)]
    [InlineData(0)]
    public void HandMade_TcpDataOffsetBelowFive_IsMalformed(int dataOffsetWords)
    {
        byte[] ip = HandMadePacket.Ipv4(HandMadePacket.ProtocolTcp,
            HandMadePacket.Tcp(1, 2, 0, 0, TcpFlags.Syn, dataOffsetWordsOverride: dataOffsetWords));

        Assert.Equal(DecodeResult.Malformed, PacketDecoder.TryDecode(HandMadePacket.Captured(LinkType.Raw, ip), out _));
    }

    [Fact]
    public void HandMade_TcpDataOffsetPastTheSegment_IsMalformed()
    {
        byte[] ip = HandMadePacket.Ipv4(HandMadePacket.ProtocolTcp,
            HandMadePacket.Tcp(1, 2, 0, 0, TcpFlags.Syn, payload: new byte[4], dataOffsetWordsOverride: 15));

        Assert.Equal(DecodeResult.Malformed, PacketDecoder.TryDecode(HandMadePacket.Captured(LinkType.Raw, ip), out _));
    }

    [Fact]
    public void HandMade_TcpHeaderCutBySnaplen_IsTruncated()
    {
        byte[] ip = HandMadePacket.Ipv4(HandMadePacket.ProtocolTcp,
            HandMadePacket.Tcp(1, 2, 0, 0, TcpFlags.Syn, options: HandMadePacket.MssOption(1460)));
        var packet = new CapturedPacket(1, 0, LinkType.Raw, 0, ip.Length, ip.AsMemory(0, ip.Length - 1));

        DecodeResult result = PacketDecoder.TryDecode(packet, out DecodedPacket d);

        Assert.Equal(DecodeResult.Truncated, result);
        Assert.Equal((byte)6, d.IpProtocol);
        Assert.Equal(TransportKind.None, d.Transport);
    }

    // ---- UDP ---------------------------------------------------------------------------

    [Fact]
    public void HandMade_UdpLengthShorterThanIpPayload_TrimsThePayload()
    {
        byte[] udp = HandMadePacket.Concat(HandMadePacket.Udp(ClientPort, RdpPort, [1, 2, 3, 4]), [0xEE, 0xEE]);
        byte[] ip = HandMadePacket.Ipv6(HandMadePacket.ProtocolUdp, udp);

        DecodeResult result = PacketDecoder.TryDecode(HandMadePacket.Captured(LinkType.Ipv6, ip), out DecodedPacket d);

        Assert.Equal(DecodeResult.Ok, result);
        Assert.Equal(TransportKind.Udp, d.Transport);
        Assert.Equal(ClientPort, d.SourcePort);
        Assert.Equal(RdpPort, d.DestinationPort);
        Assert.Equal([1, 2, 3, 4], d.Payload.ToArray());
        Assert.Equal(4, d.PayloadWireLength);
    }

    [Theory]
    [InlineData(7)]
    [InlineData(0)]
    [InlineData(30)]
    public void HandMade_UdpLengthContradictingTheIpPayload_IsMalformed(int udpLength)
    {
        byte[] ip = HandMadePacket.Ipv4(HandMadePacket.ProtocolUdp,
            HandMadePacket.Udp(ClientPort, RdpPort, new byte[12], lengthOverride: udpLength));

        Assert.Equal(DecodeResult.Malformed, PacketDecoder.TryDecode(HandMadePacket.Captured(LinkType.Raw, ip), out _));
    }

    [Fact]
    public void HandMade_IpPayloadShorterThanUdpHeader_IsMalformed()
    {
        byte[] ip = HandMadePacket.Ipv4(HandMadePacket.ProtocolUdp, new byte[6]);

        Assert.Equal(DecodeResult.Malformed, PacketDecoder.TryDecode(HandMadePacket.Captured(LinkType.Raw, ip), out _));
    }

    // ---- ICMP / ICMPv6 -----------------------------------------------------------------

    [Fact]
    public void HandMade_IcmpFragmentationNeededQuotingTcpSyn_NamesTheFlowAndTheMtu()
    {
        byte[] ip = HandMadePacket.IcmpFragmentationNeeded(mtu: 1400);

        DecodeResult result = PacketDecoder.TryDecode(HandMadePacket.Captured(LinkType.Raw, ip), out DecodedPacket d);

        Assert.Equal(DecodeResult.Ok, result);
        Assert.Equal(TransportKind.Icmp, d.Transport);
        Assert.Equal((byte)1, d.IpProtocol);
        Assert.Equal((byte)3, d.IcmpType);
        Assert.Equal((byte)4, d.IcmpCode);
        Assert.Equal(1400u, d.IcmpMtu);
        Assert.True(d.IcmpIsError);
        Assert.Equal("192.0.2.254", d.Source.ToString());
        IcmpQuotedPacket q = d.IcmpQuoted;
        Assert.Equal("10.0.0.2", q.Source.ToString());
        Assert.Equal("10.0.0.1", q.Destination.ToString());
        Assert.Equal((byte)6, q.Protocol);
        Assert.True(q.HasPorts);
        Assert.Equal(RdpPort, q.SourcePort);
        Assert.Equal(ClientPort, q.DestinationPort);
        Assert.Equal(0x11223344u, q.TcpSequence);
        Assert.Equal(20 + 8, d.Payload.Length);
    }

    [Fact]
    public void HandMade_IcmpTimeExceededQuotingUdpBehindIpOptions_HasPortsAndNoSequence()
    {
        byte[] quotedIp = HandMadePacket.Ipv4(HandMadePacket.ProtocolUdp, HandMadePacket.Udp(ClientPort, RdpPort, new byte[100]),
            options: [1, 1, 1, 0]);
        byte[] icmp = HandMadePacket.Icmp(11, 0, 0, quotedIp.AsSpan(0, 24 + 8).ToArray());
        byte[] ip = HandMadePacket.Ipv4(HandMadePacket.ProtocolIcmp, icmp);

        DecodeResult result = PacketDecoder.TryDecode(HandMadePacket.Captured(LinkType.Raw, ip), out DecodedPacket d);

        Assert.Equal(DecodeResult.Ok, result);
        Assert.True(d.IcmpIsError);
        Assert.Equal(0u, d.IcmpMtu);
        Assert.Equal((byte)17, d.IcmpQuoted.Protocol);
        Assert.True(d.IcmpQuoted.HasPorts);
        Assert.Equal(RdpPort, d.IcmpQuoted.DestinationPort);
        Assert.Equal(0u, d.IcmpQuoted.TcpSequence);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(8)]
    public void HandMade_IcmpEcho_IsNotAnError(byte type)
    {
        byte[] ip = HandMadePacket.Ipv4(HandMadePacket.ProtocolIcmp, HandMadePacket.Icmp(type, 0, 0x00010002, HandMadePacket.Bytes(32, 0x61)));

        DecodeResult result = PacketDecoder.TryDecode(HandMadePacket.Captured(LinkType.Raw, ip), out DecodedPacket d);

        Assert.Equal(DecodeResult.Ok, result);
        Assert.Equal(TransportKind.Icmp, d.Transport);
        Assert.Equal(type, d.IcmpType);
        Assert.False(d.IcmpIsError);
        Assert.Equal(default, d.IcmpQuoted);
        Assert.Equal(32, d.Payload.Length);
    }

    [Fact]
    public void HandMade_IcmpErrorQuotingTooLittle_IsOkWithoutQuotedFlow()
    {
        byte[] ip = HandMadePacket.Ipv4(HandMadePacket.ProtocolIcmp, HandMadePacket.Icmp(3, 1, 0, new byte[12]));

        DecodeResult result = PacketDecoder.TryDecode(HandMadePacket.Captured(LinkType.Raw, ip), out DecodedPacket d);

        Assert.Equal(DecodeResult.Ok, result);
        Assert.True(d.IcmpIsError);
        Assert.False(d.IcmpQuoted.HasPorts);
        Assert.Equal(default, d.IcmpQuoted);
    }

    [Fact]
    public void HandMade_IcmpErrorQuotingOnlyTheIpHeader_HasAddressesButNoPorts()
    {
        byte[] quotedIp = HandMadePacket.Ipv4TcpSyn();
        byte[] ip = HandMadePacket.Ipv4(HandMadePacket.ProtocolIcmp, HandMadePacket.Icmp(3, 3, 0, quotedIp.AsSpan(0, 22).ToArray()));

        DecodeResult result = PacketDecoder.TryDecode(HandMadePacket.Captured(LinkType.Raw, ip), out DecodedPacket d);

        Assert.Equal(DecodeResult.Ok, result);
        Assert.Equal("10.0.0.2", d.IcmpQuoted.Destination.ToString());
        Assert.Equal((byte)6, d.IcmpQuoted.Protocol);
        Assert.False(d.IcmpQuoted.HasPorts);
    }

    [Fact]
    public void HandMade_Icmpv6PacketTooBigQuotingTcpBehindExtensionHeader_NamesTheFlowAndTheMtu()
    {
        byte[] ip = HandMadePacket.Icmpv6PacketTooBig(mtu: 1280);

        DecodeResult result = PacketDecoder.TryDecode(HandMadePacket.Captured(LinkType.Ipv6, ip), out DecodedPacket d);

        Assert.Equal(DecodeResult.Ok, result);
        Assert.Equal(TransportKind.Icmpv6, d.Transport);
        Assert.Equal((byte)58, d.IpProtocol);
        Assert.Equal((byte)2, d.IcmpType);
        Assert.Equal(1280u, d.IcmpMtu);
        Assert.True(d.IcmpIsError);
        IcmpQuotedPacket q = d.IcmpQuoted;
        Assert.True(q.Source.IsIPv6);
        Assert.Equal("2001:db8::2", q.Source.ToString());
        Assert.Equal("2001:db8::1", q.Destination.ToString());
        Assert.Equal((byte)6, q.Protocol);
        Assert.True(q.HasPorts);
        Assert.Equal(RdpPort, q.SourcePort);
        Assert.Equal(ClientPort, q.DestinationPort);
        Assert.Equal(0x55667788u, q.TcpSequence);
    }

    [Fact]
    public void HandMade_Icmpv6EchoRequest_IsNotAnError()
    {
        byte[] ip = HandMadePacket.Ipv6(HandMadePacket.ProtocolIcmpv6, HandMadePacket.Icmp(128, 0, 0x00070001, new byte[16]));

        DecodeResult result = PacketDecoder.TryDecode(HandMadePacket.Captured(LinkType.Ipv6, ip), out DecodedPacket d);

        Assert.Equal(DecodeResult.Ok, result);
        Assert.Equal(TransportKind.Icmpv6, d.Transport);
        Assert.False(d.IcmpIsError);
        Assert.Equal(0u, d.IcmpMtu);
        Assert.Equal(16, d.Payload.Length);
    }

    [Fact]
    public void HandMade_Icmpv6DestinationUnreachableQuotingUdp_HasPorts()
    {
        byte[] quoted = HandMadePacket.Ipv6(HandMadePacket.ProtocolUdp, HandMadePacket.Udp(ClientPort, RdpPort, new byte[20]));
        byte[] ip = HandMadePacket.Ipv6(HandMadePacket.ProtocolIcmpv6, HandMadePacket.Icmp(1, 4, 0, quoted));

        DecodeResult result = PacketDecoder.TryDecode(HandMadePacket.Captured(LinkType.Ipv6, ip), out DecodedPacket d);

        Assert.Equal(DecodeResult.Ok, result);
        Assert.True(d.IcmpIsError);
        Assert.Equal((byte)17, d.IcmpQuoted.Protocol);
        Assert.Equal(ClientPort, d.IcmpQuoted.SourcePort);
        Assert.Equal(RdpPort, d.IcmpQuoted.DestinationPort);
    }

    // ---- Truncation and robustness -----------------------------------------------------

    /// <summary>Good hand-made frames and how many leading bytes are headers (the decoder needs all of them).</summary>
    private static IEnumerable<(string Name, LinkType LinkType, byte[] Frame, int HeadersLength)> GoodFrames()
    {
        byte[] tcpOptions = HandMadePacket.Concat(HandMadePacket.MssOption(1460), [1], HandMadePacket.WindowScaleOption(8),
            HandMadePacket.SackPermittedOption(), HandMadePacket.SackOption(2), HandMadePacket.TimestampsOption(1, 2));
        // 38 option bytes padded to 40: the 60-byte maximum TCP header.
        byte[] tcp = HandMadePacket.Tcp(ClientPort, RdpPort, 1, 2, TcpFlags.Ack, options: tcpOptions, payload: HandMadePacket.Bytes(30, 7));
        int tcpHeader = tcp.Length - 30;
        byte[] v4 = HandMadePacket.Ipv4(HandMadePacket.ProtocolTcp, tcp, options: [0x94, 4, 0, 0]);
        byte[] v6 = HandMadePacket.Ipv6(HandMadePacket.NextHeaderHopByHop, HandMadePacket.Concat(
            HandMadePacket.Ipv6OptionsHeader(HandMadePacket.NextHeaderAuthentication, 1),
            HandMadePacket.Ipv6AuthenticationHeader(HandMadePacket.ProtocolTcp, 4), tcp));
        byte[] udp = HandMadePacket.Ipv6(HandMadePacket.ProtocolUdp, HandMadePacket.Udp(ClientPort, RdpPort, new byte[10]));
        byte[] fragment = HandMadePacket.Ipv6(HandMadePacket.NextHeaderFragment, HandMadePacket.Concat(
            HandMadePacket.Ipv6FragmentHeader(HandMadePacket.ProtocolTcp, 8, false, 1), new byte[16]));

        yield return ("Ethernet QinQ IPv4 TCP", LinkType.Ethernet,
            HandMadePacket.Ethernet(HandMadePacket.EtherTypeIpv4, v4, 0x88A8, 0x8100), 14 + 8 + 24 + tcpHeader);
        yield return ("SLL IPv6 ext TCP", LinkType.LinuxSll, HandMadePacket.Sll(HandMadePacket.EtherTypeIpv6, v6), 16 + 40 + 16 + 24 + tcpHeader);
        yield return ("SLL2 IPv6 UDP", LinkType.LinuxSll2, HandMadePacket.Sll2(HandMadePacket.EtherTypeIpv6, udp), 20 + 40 + 8);
        yield return ("NULL IPv4 TCP", LinkType.Null, HandMadePacket.Null(2, false, v4), 4 + 24 + tcpHeader);
        yield return ("LOOP IPv6 fragment", LinkType.Loop, HandMadePacket.Loop(30, fragment), 4 + 40 + 8);
        yield return ("RAW ICMP frag needed", LinkType.Raw, HandMadePacket.IcmpFragmentationNeeded(1400), 20 + 8);
        yield return ("IPV6 ICMPv6 too big", LinkType.Ipv6, HandMadePacket.Icmpv6PacketTooBig(1280), 40 + 8);
        yield return ("Ethernet padded IPv4 TCP", LinkType.Ethernet, HandMadePacket.Concat(HandMadePacket.Ethernet(
            HandMadePacket.EtherTypeIpv4, HandMadePacket.Ipv4TcpSyn()), [0, 0, 0, 0, 0, 0]), 14 + 20 + 20);
    }

    [Fact]
    public void HandMade_EveryPrefixOfGoodFrames_IsTruncatedInsideHeadersAndOkAfterThem()
    {
        foreach ((string name, LinkType linkType, byte[] frame, int headersLength) in GoodFrames())
        {
            Assert.True(PacketDecoder.TryDecode(HandMadePacket.Captured(linkType, frame), out _) == DecodeResult.Ok, name);
            for (int length = 0; length < frame.Length; length++)
            {
                var packet = new CapturedPacket(1, 0, linkType, 0, frame.Length, frame.AsMemory(0, length));
                DecodeResult result = PacketDecoder.TryDecode(packet, out DecodedPacket d);

                DecodeResult expected = length < headersLength ? DecodeResult.Truncated : DecodeResult.Ok;
                Assert.True(result == expected, $"{name}, {length} of {frame.Length} bytes: {result}");
                Assert.True(d.Payload.Length <= Math.Max(0, length - headersLength), $"{name}, {length}: payload");
            }
        }
    }

    [Fact]
    public void HandMade_RandomMutationsOfGoodFrames_NeverThrowAndKeepPayloadInsideTheWireLength()
    {
        var random = new Random(20240611);
        (string Name, LinkType LinkType, byte[] Frame, int HeadersLength)[] frames = GoodFrames().ToArray();
        for (int i = 0; i < 5000; i++)
        {
            (string name, LinkType linkType, byte[] original, _) = frames[i % frames.Length];
            byte[] frame = (byte[])original.Clone();
            int mutations = 1 + random.Next(4);
            for (int m = 0; m < mutations; m++)
            {
                // Mostly small values and boundary bytes: they hit length fields' edge cases.
                frame[random.Next(frame.Length)] = random.Next(3) switch
                {
                    0 => (byte)random.Next(256),
                    1 => (byte)random.Next(8),
                    _ => 0xFF,
                };
            }
            int captured = random.Next(4) == 0 ? random.Next(frame.Length + 1) : frame.Length;
            var packet = new CapturedPacket(i, 0, linkType, 0, frame.Length, frame.AsMemory(0, captured));

            DecodeResult result = PacketDecoder.TryDecode(packet, out DecodedPacket d);

            if (result == DecodeResult.Ok)
            {
                Assert.True(d.PayloadWireLength >= 0, $"{name} #{i}: negative wire length");
                Assert.True(d.Payload.Length <= d.PayloadWireLength, $"{name} #{i}: payload beyond the wire length");
                Assert.True(d.Payload.Length <= captured, $"{name} #{i}: payload beyond the capture");
            }
        }
    }

    [Fact]
    public void HandMade_DecodingGoodFrames_AllocatesNothing()
    {
        CapturedPacket[] packets = GoodFrames().Select(f => HandMadePacket.Captured(f.LinkType, f.Frame)).ToArray();
        foreach (CapturedPacket packet in packets)
        {
            PacketDecoder.TryDecode(packet, out _); // warm-up: JIT and static initialisation
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int round = 0; round < 100; round++)
        {
            foreach (CapturedPacket packet in packets)
            {
                PacketDecoder.TryDecode(packet, out _);
            }
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
    }

    // ---- Real captures -----------------------------------------------------------------

    /// <summary>
    /// Every frame of the Zeek RDP captures decodes. Expected counts are from
    /// <c>tshark -r FILE -Y tcp | wc -l</c> and <c>-Y udp</c>: rdp-no-cookie-mstshash 20 TCP,
    /// rdp-proprietary-encryption 542 TCP, rdp-to-ssl 658 TCP, rdpeudp-handshake-success 10 UDP
    /// over IPv6 between ::1 and ::1; every RDP frame has port 3389 on one side.
    /// </summary>
    [CorpusFact]
    public void ZeekCorpus_EveryFrameDecodesWithItsTransport()
    {
        (string File, TransportKind Transport, int Count, int IpVersion)[] expectations =
        [
            ("rdp-no-cookie-mstshash.pcap", TransportKind.Tcp, 20, 4),
            ("rdp-proprietary-encryption.pcap", TransportKind.Tcp, 542, 4),
            ("rdp-to-ssl.pcap", TransportKind.Tcp, 658, 4),
            ("rdpeudp-handshake-success.pcap", TransportKind.Udp, 10, 6),
        ];
        foreach ((string file, TransportKind transport, int count, int ipVersion) in expectations)
        {
            string path = Path.Combine(RepoPaths.CorpusDir, "zeek", file);
            int decodedCount = 0;
            foreach (CapturedPacket packet in MinimalPcap.Read(path))
            {
                DecodeResult result = PacketDecoder.TryDecode(packet, out DecodedPacket d);

                Assert.True(result == DecodeResult.Ok, $"{file} frame {packet.Frame}: {result}");
                Assert.True(d.Transport == transport, $"{file} frame {packet.Frame}: {d.Transport}");
                Assert.Equal(ipVersion, d.IpVersion);
                Assert.True(d.SourcePort == RdpPort || d.DestinationPort == RdpPort, $"{file} frame {packet.Frame}: ports");
                Assert.Equal(d.PayloadWireLength, d.Payload.Length);
                if (ipVersion == 6)
                {
                    Assert.Equal(IPAddress.IPv6Loopback, d.Source.ToIPAddress());
                    Assert.Equal(IPAddress.IPv6Loopback, d.Destination.ToIPAddress());
                }
                decodedCount++;
            }
            Assert.Equal(count, decodedCount);
        }
    }

    /// <summary>Classic little-endian pcap, enough for the corpus test (the project's reader is tested elsewhere).</summary>
    private static class MinimalPcap
    {
        public static IEnumerable<CapturedPacket> Read(string path)
        {
            byte[] file = File.ReadAllBytes(path);
            uint magic = BinaryPrimitives.ReadUInt32LittleEndian(file);
            Assert.True(magic is 0xA1B2C3D4 or 0xA1B23C4D, $"{path}: not a little-endian classic pcap");
            var linkType = (LinkType)BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(20));
            int offset = 24;
            long frame = 0;
            while (offset + 16 <= file.Length)
            {
                int included = (int)BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(offset + 8));
                int original = (int)BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan(offset + 12));
                offset += 16;
                Assert.True(offset + included <= file.Length, $"{path}: record runs past the end");
                yield return new CapturedPacket(++frame, 0, linkType, 0, original, file.AsMemory(offset, included));
                offset += included;
            }
        }
    }
}

/// <summary>
/// Builds frames byte by byte for header-format and boundary tests. Checksums are left zero:
/// the decoder does not verify them.
/// </summary>
internal static class HandMadePacket
{
    public const ushort EtherTypeIpv4 = 0x0800;
    public const ushort EtherTypeIpv6 = 0x86DD;
    public const byte NextHeaderHopByHop = 0;
    public const byte ProtocolIcmp = 1;
    public const byte ProtocolTcp = 6;
    public const byte ProtocolUdp = 17;
    public const byte NextHeaderRouting = 43;
    public const byte NextHeaderFragment = 44;
    public const byte NextHeaderAuthentication = 51;
    public const byte ProtocolIcmpv6 = 58;
    public const byte NextHeaderNone = 59;
    public const byte NextHeaderDestinationOptions = 60;

    public static readonly byte[] ClientV4 = [10, 0, 0, 1];
    public static readonly byte[] ServerV4 = [10, 0, 0, 2];
    public static readonly byte[] ClientV6 = IPAddress.Parse("2001:db8::1").GetAddressBytes();
    public static readonly byte[] ServerV6 = IPAddress.Parse("2001:db8::2").GetAddressBytes();

    public static CapturedPacket Captured(LinkType linkType, byte[] frame) =>
        new(1, 0, linkType, 0, frame.Length, frame);

    public static byte[] Ipv4TcpSyn() =>
        Ipv4(ProtocolTcp, Tcp(50123, 3389, 1000, 0, TcpFlags.Syn));

    public static byte[] Ipv6TcpSyn() =>
        Ipv6(ProtocolTcp, Tcp(50123, 3389, 1000, 0, TcpFlags.Syn));

    /// <summary>A router's "fragmentation needed" about the server's SYN-ACK toward the client.</summary>
    public static byte[] IcmpFragmentationNeeded(ushort mtu)
    {
        byte[] synAck = Ipv4(ProtocolTcp, Tcp(3389, 50123, 0x11223344, 1001, TcpFlags.Syn | TcpFlags.Ack,
            options: MssOption(1460)), source: ServerV4, destination: ClientV4);
        byte[] icmp = Icmp(3, 4, mtu, synAck.AsSpan(0, 20 + 8).ToArray());
        return Ipv4(ProtocolIcmp, icmp, source: [192, 0, 2, 254], destination: ServerV4);
    }

    /// <summary>An ICMPv6 packet-too-big about a server segment that carried a destination-options header.</summary>
    public static byte[] Icmpv6PacketTooBig(uint mtu)
    {
        byte[] segment = Ipv6(NextHeaderDestinationOptions, Concat(
            Ipv6OptionsHeader(ProtocolTcp, 0),
            Tcp(3389, 50123, 0x55667788, 1, TcpFlags.Ack, payload: Bytes(1400, 0x17))),
            source: ServerV6, destination: ClientV6);
        byte[] icmp = Icmp(2, 0, mtu, segment.AsSpan(0, 1280 - 40 - 8).ToArray());
        return Ipv6(ProtocolIcmpv6, icmp, source: IPAddress.Parse("2001:db8::fe").GetAddressBytes(), destination: ServerV6);
    }

    public static byte[] Tcp(ushort sourcePort, ushort destinationPort, uint sequence, uint acknowledgment, TcpFlags flags,
        ushort window = 8192, byte[]? options = null, byte[]? payload = null, int? dataOffsetWordsOverride = null)
    {
        options ??= [];
        payload ??= [];
        int optionsLength = (options.Length + 3) / 4 * 4;
        byte[] tcp = new byte[20 + optionsLength + payload.Length];
        BinaryPrimitives.WriteUInt16BigEndian(tcp, sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(tcp.AsSpan(2), destinationPort);
        BinaryPrimitives.WriteUInt32BigEndian(tcp.AsSpan(4), sequence);
        BinaryPrimitives.WriteUInt32BigEndian(tcp.AsSpan(8), acknowledgment);
        tcp[12] = (byte)((dataOffsetWordsOverride ?? (20 + optionsLength) / 4) << 4);
        tcp[13] = (byte)flags;
        BinaryPrimitives.WriteUInt16BigEndian(tcp.AsSpan(14), window);
        options.CopyTo(tcp, 20);
        payload.CopyTo(tcp, 20 + optionsLength);
        return tcp;
    }

    public static byte[] MssOption(ushort mss) => [2, 4, (byte)(mss >> 8), (byte)mss];

    public static byte[] WindowScaleOption(byte shift) => [3, 3, shift];

    public static byte[] SackPermittedOption() => [4, 2];

    public static byte[] SackOption(int blocks)
    {
        byte[] option = new byte[2 + 8 * blocks];
        option[0] = 5;
        option[1] = (byte)option.Length;
        return option;
    }

    public static byte[] TimestampsOption(uint value, uint echo)
    {
        byte[] option = new byte[10];
        option[0] = 8;
        option[1] = 10;
        BinaryPrimitives.WriteUInt32BigEndian(option.AsSpan(2), value);
        BinaryPrimitives.WriteUInt32BigEndian(option.AsSpan(6), echo);
        return option;
    }

    public static byte[] Udp(ushort sourcePort, ushort destinationPort, byte[] payload, int? lengthOverride = null)
    {
        byte[] udp = new byte[8 + payload.Length];
        BinaryPrimitives.WriteUInt16BigEndian(udp, sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(udp.AsSpan(2), destinationPort);
        BinaryPrimitives.WriteUInt16BigEndian(udp.AsSpan(4), (ushort)(lengthOverride ?? udp.Length));
        payload.CopyTo(udp, 8);
        return udp;
    }

    /// <summary>ICMP or ICMPv6: type, code, zero checksum, 4-byte rest of header, body.</summary>
    public static byte[] Icmp(byte type, byte code, uint restOfHeader, byte[] body)
    {
        byte[] icmp = new byte[8 + body.Length];
        icmp[0] = type;
        icmp[1] = code;
        BinaryPrimitives.WriteUInt32BigEndian(icmp.AsSpan(4), restOfHeader);
        body.CopyTo(icmp, 8);
        return icmp;
    }

    public static byte[] Ipv4(byte protocol, byte[] payload, byte[]? options = null, int? totalLengthOverride = null,
        ushort id = 0x1234, byte ttl = 64, bool dontFragment = true, bool moreFragments = false, int fragmentOffset = 0,
        byte[]? source = null, byte[]? destination = null)
    {
        options ??= [];
        int headerLength = 20 + (options.Length + 3) / 4 * 4;
        byte[] ip = new byte[headerLength + payload.Length];
        ip[0] = (byte)(0x40 | headerLength / 4);
        BinaryPrimitives.WriteUInt16BigEndian(ip.AsSpan(2), (ushort)(totalLengthOverride ?? ip.Length));
        BinaryPrimitives.WriteUInt16BigEndian(ip.AsSpan(4), id);
        ushort flags = (ushort)((dontFragment ? 0x4000 : 0) | (moreFragments ? 0x2000 : 0) | fragmentOffset / 8);
        BinaryPrimitives.WriteUInt16BigEndian(ip.AsSpan(6), flags);
        ip[8] = ttl;
        ip[9] = protocol;
        (source ?? ClientV4).CopyTo(ip, 12);
        (destination ?? ServerV4).CopyTo(ip, 16);
        options.CopyTo(ip, 20);
        payload.CopyTo(ip, headerLength);
        return ip;
    }

    public static byte[] Ipv6(byte nextHeader, byte[] payload, int? payloadLengthOverride = null, byte hopLimit = 64,
        byte[]? source = null, byte[]? destination = null)
    {
        byte[] ip = new byte[40 + payload.Length];
        ip[0] = 0x60;
        BinaryPrimitives.WriteUInt16BigEndian(ip.AsSpan(4), (ushort)(payloadLengthOverride ?? payload.Length));
        ip[6] = nextHeader;
        ip[7] = hopLimit;
        (source ?? ClientV6).CopyTo(ip, 8);
        (destination ?? ServerV6).CopyTo(ip, 24);
        payload.CopyTo(ip, 40);
        return ip;
    }

    /// <summary>Hop-by-hop, routing or destination options shape: (lengthUnits + 1) * 8 bytes, PadN filled.</summary>
    public static byte[] Ipv6OptionsHeader(byte nextHeader, int lengthUnits)
    {
        byte[] header = new byte[(lengthUnits + 1) * 8];
        header[0] = nextHeader;
        header[1] = (byte)lengthUnits;
        header[2] = 1; // PadN
        header[3] = (byte)(header.Length - 4);
        return header;
    }

    public static byte[] Ipv6FragmentHeader(byte nextHeader, int offset, bool more, uint id)
    {
        byte[] header = new byte[8];
        header[0] = nextHeader;
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(2), (ushort)(offset | (more ? 1 : 0)));
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(4), id);
        return header;
    }

    /// <summary>RFC 4302 AH: (payloadLengthField + 2) * 4 bytes.</summary>
    public static byte[] Ipv6AuthenticationHeader(byte nextHeader, int payloadLengthField)
    {
        byte[] header = new byte[(payloadLengthField + 2) * 4];
        header[0] = nextHeader;
        header[1] = (byte)payloadLengthField;
        return header;
    }

    public static byte[] Ethernet(ushort etherType, byte[] payload, params ushort[] tagProtocolIds)
    {
        byte[] frame = new byte[14 + 4 * tagProtocolIds.Length + payload.Length];
        byte[] mac = [0x02, 0, 0, 0, 0, 1];
        mac.CopyTo(frame, 0);
        mac.CopyTo(frame, 6);
        int offset = 12;
        for (int i = 0; i < tagProtocolIds.Length; i++)
        {
            BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(offset), tagProtocolIds[i]);
            BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(offset + 2), (ushort)(100 + i));
            offset += 4;
        }
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(offset), etherType);
        payload.CopyTo(frame, offset + 2);
        return frame;
    }

    public static byte[] Sll(ushort protocol, byte[] payload)
    {
        byte[] frame = new byte[16 + payload.Length];
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(2), 1); // ARPHRD_ETHER
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(4), 6);
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(14), protocol);
        payload.CopyTo(frame, 16);
        return frame;
    }

    public static byte[] Sll2(ushort protocol, byte[] payload)
    {
        byte[] frame = new byte[20 + payload.Length];
        BinaryPrimitives.WriteUInt16BigEndian(frame, protocol);
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(4), 3); // interface index
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(8), 1); // ARPHRD_ETHER
        frame[11] = 6;
        payload.CopyTo(frame, 20);
        return frame;
    }

    public static byte[] Null(uint family, bool bigEndian, byte[] payload)
    {
        byte[] frame = new byte[4 + payload.Length];
        if (bigEndian)
        {
            BinaryPrimitives.WriteUInt32BigEndian(frame, family);
        }
        else
        {
            BinaryPrimitives.WriteUInt32LittleEndian(frame, family);
        }
        payload.CopyTo(frame, 4);
        return frame;
    }

    public static byte[] Loop(uint family, byte[] payload) => Null(family, bigEndian: true, payload);

    public static byte[] Bytes(int count, byte value)
    {
        byte[] bytes = new byte[count];
        Array.Fill(bytes, value);
        return bytes;
    }

    public static byte[] Concat(params byte[][] parts)
    {
        byte[] all = new byte[parts.Sum(p => p.Length)];
        int offset = 0;
        foreach (byte[] part in parts)
        {
            part.CopyTo(all, offset);
            offset += part.Length;
        }
        return all;
    }
}
