namespace RdpWire.Capture.Decoding;

/// <summary>How far <see cref="PacketDecoder.TryDecode"/> got.</summary>
public enum DecodeResult
{
    /// <summary>
    /// Decoded down to the transport header, or an IP packet whose protocol is not followed
    /// (<see cref="TransportKind.None"/>) or a non-first fragment (<see cref="TransportKind.Fragment"/>).
    /// </summary>
    Ok,
    /// <summary>The link layer carries something other than IPv4 or IPv6 (ARP, LLC, ...).</summary>
    NotIp,
    /// <summary>A link type the decoder has no header layout for.</summary>
    UnsupportedLinkType,
    /// <summary>The captured bytes end inside a header (snaplen, or a damaged file).</summary>
    Truncated,
    /// <summary>A header contradicts itself or the header around it.</summary>
    Malformed,
}

/// <summary>
/// Decodes a captured frame down to its transport header, in place: link layer
/// (<see cref="LinkLayer"/>), IPv4 (<see cref="Ipv4Header"/>) or IPv6 with extension headers
/// (<see cref="Ipv6Header"/>, <see cref="Ipv6ExtensionHeaders"/>), then TCP, UDP, ICMP or ICMPv6.
/// Never throws and never allocates: every length is checked against the captured bytes
/// before it is trusted.
/// </summary>
public static class PacketDecoder
{
    /// <summary>
    /// Decodes <paramref name="packet"/>. When the result is not <see cref="DecodeResult.Ok"/>,
    /// <paramref name="decoded"/> still carries the layers decoded before the failure (for
    /// example the IP addresses of a packet whose TCP header was cut by snaplen), with
    /// <see cref="DecodedPacket.Transport"/> left at <see cref="TransportKind.None"/>.
    /// </summary>
    public static DecodeResult TryDecode(in CapturedPacket packet, out DecodedPacket decoded)
    {
        // Cleared and filled in place (an initializer would build a copy and move it over with write barriers).
        decoded = default;
        decoded.Packet = packet;
        DecodeResult result = LinkLayer.TryLocateIpHeader(packet.LinkType, packet.Data.Span,
            out int ipOffset, out byte ipVersion);
        if (result != DecodeResult.Ok)
        {
            return result;
        }
        return ipVersion == Ipv4Header.Version
            ? DecodeIpv4(packet, ipOffset, ref decoded)
            : DecodeIpv6(packet, ipOffset, ref decoded);
    }

    /// <summary>
    /// Just the IP addresses and the protocol (IPv4 protocol, or the IPv6 next header after the
    /// fixed header), for spreading packets over threads without decoding them twice. False when no
    /// IP header is found.
    /// </summary>
    public static bool TryReadAddresses(in CapturedPacket packet, out NetAddress source, out NetAddress destination, out byte protocol)
    {
        (source, destination, protocol) = (default, default, 0);
        ReadOnlySpan<byte> frame = packet.Data.Span;
        if (LinkLayer.TryLocateIpHeader(packet.LinkType, frame, out int ipOffset, out byte ipVersion) != DecodeResult.Ok)
        {
            return false;
        }
        ReadOnlySpan<byte> ip = frame[ipOffset..];
        if (ipVersion == Ipv4Header.Version)
        {
            if (Ipv4Header.TryRead(ip, out var v4) != DecodeResult.Ok)
            {
                return false;
            }
            (source, destination, protocol) = (v4.Source, v4.Destination, v4.Protocol);
            return true;
        }
        if (Ipv6Header.TryRead(ip, out var v6) != DecodeResult.Ok)
        {
            return false;
        }
        (source, destination, protocol) = (v6.Source, v6.Destination, v6.NextHeader);
        return true;
    }

    /// <summary>
    /// Decodes the transport header of a datagram rebuilt from fragments (RFC 791 3.2, RFC 8200 4.5)
    /// exactly as <see cref="TryDecode"/> decodes an unfragmented one: ports, sequence, TCP options,
    /// payload. <paramref name="ipPayload"/> is everything after the first fragment's header (for
    /// IPv6, after the unfragmentable part: extension headers of the fragmentable part such as
    /// destination options are walked here). <paramref name="protocol"/> is the IPv4 protocol, or the
    /// next header of the offset-zero fragment's fragment header. <paramref name="ipHeaderLength"/> is
    /// the first fragment's IPv4 header length, or 40 plus the IPv6 unfragmentable extension headers.
    /// The result carries <paramref name="completingPacket"/> (frame number, time) and a
    /// <see cref="DecodedPacket.Payload"/> that borrows <paramref name="ipPayload"/>; it is not a
    /// fragment (<see cref="DecodedPacket.IsFragment"/> false).
    /// </summary>
    public static DecodeResult TryDecodeReassembled(in CapturedPacket completingPacket, byte ipVersion,
        NetAddress source, NetAddress destination, byte protocol, byte ttl, uint identification,
        int ipHeaderLength, ReadOnlyMemory<byte> ipPayload, out DecodedPacket decoded)
    {
        decoded = new DecodedPacket
        {
            Packet = completingPacket,
            IpVersion = ipVersion,
            Source = source,
            Destination = destination,
            IpProtocol = protocol,
            IpTotalLength = ipHeaderLength + ipPayload.Length,
            IpHeaderLength = ipVersion == Ipv4Header.Version ? (byte)Math.Min(ipHeaderLength, byte.MaxValue) : Ipv6Header.Length,
            Ttl = ttl,
            IpIdentification = identification,
        };
        if (ipVersion is not (Ipv4Header.Version or Ipv6Header.Version))
        {
            return DecodeResult.Malformed;
        }

        // The rebuilt payload stands in for the frame: every offset below is relative to it.
        var carrier = new CapturedPacket(completingPacket.Frame, completingPacket.TimestampTicks,
            completingPacket.LinkType, completingPacket.InterfaceId, ipPayload.Length, ipPayload);
        int transportStart = 0;
        byte upperLayer = protocol;
        if (ipVersion == Ipv6Header.Version)
        {
            DecodeResult walked = Ipv6ExtensionHeaders.TryWalk(ipPayload.Span, ipPayload.Length, protocol,
                out Ipv6ExtensionHeaders extensions);
            if (walked != DecodeResult.Ok)
            {
                return walked;
            }
            transportStart = extensions.Length;
            upperLayer = extensions.UpperLayerProtocol;
            decoded.IpProtocol = upperLayer;
        }
        return DecodeTransport(carrier, ref decoded, new TransportSpan(
            upperLayer, ipVersion, transportStart, ipPayload.Length, ipPayload.Length - transportStart,
            IsNonFirstFragment: false, MoreFragments: false));
    }

    /// <summary>
    /// Finds the fragment data of an IP fragment in its frame, for reassembly: after the IPv4 header
    /// (RFC 791 3.2), or after the IPv6 fragment header (RFC 8200 4.5: the unfragmentable part, then
    /// the fragment header, then this fragment's share of the fragmentable part). Malformed: not IP,
    /// an IPv6 packet without a fragment header, or an IPv6 jumbogram (RFC 2675 3: never fragmented).
    /// </summary>
    internal static DecodeResult TryLocateFragmentData(in CapturedPacket packet, out IpFragmentLocation location)
    {
        location = default;
        ReadOnlySpan<byte> frame = packet.Data.Span;
        DecodeResult result = LinkLayer.TryLocateIpHeader(packet.LinkType, frame, out int ipOffset, out byte ipVersion);
        if (result != DecodeResult.Ok)
        {
            return result == DecodeResult.Truncated ? result : DecodeResult.Malformed;
        }
        ReadOnlySpan<byte> ip = frame[ipOffset..];
        if (ipVersion == Ipv4Header.Version)
        {
            result = Ipv4Header.TryRead(ip, out Ipv4Header v4);
            if (result != DecodeResult.Ok)
            {
                return result;
            }
            int datagramLength = v4.TotalLength == 0 ? ip.Length : v4.TotalLength;
            location = new IpFragmentLocation(ipOffset + v4.HeaderLength, ipOffset + Math.Min(datagramLength, ip.Length),
                datagramLength - v4.HeaderLength, v4.Protocol, v4.HeaderLength);
            return DecodeResult.Ok;
        }

        result = Ipv6Header.TryRead(ip, out Ipv6Header v6);
        if (result != DecodeResult.Ok)
        {
            return result;
        }
        if (v6.PayloadLength == 0)
        {
            return DecodeResult.Malformed;
        }
        int wireLength = v6.PayloadLength;
        ReadOnlySpan<byte> captured = ip[Ipv6Header.Length..Math.Min(ip.Length, Ipv6Header.Length + wireLength)];
        byte nextHeader = v6.NextHeader;
        int offset = 0;
        // RFC 8200 4.5 fragment header: next header, reserved, offset + M, identification. Options
        // headers count 8-octet units past the first 8; RFC 4302 2.2 AH counts 4-octet units minus 2.
        const int fragmentHeaderLength = 8;
        const int optionsLengthUnit = 8;
        const int authenticationLengthUnit = 4;
        for (int count = 0; count < Ipv6ExtensionHeaders.MaxExtensionHeaders; count++)
        {
            var kind = (IpProtocolNumber)nextHeader;
            int minimum = kind == IpProtocolNumber.Ipv6Fragment ? fragmentHeaderLength : 2;
            if (kind is not (IpProtocolNumber.Ipv6HopByHopOptions or IpProtocolNumber.Ipv6Routing
                or IpProtocolNumber.Ipv6Fragment or IpProtocolNumber.Ipv6DestinationOptions
                or IpProtocolNumber.AuthenticationHeader) || wireLength - offset < minimum)
            {
                return DecodeResult.Malformed;
            }
            if (captured.Length - offset < minimum)
            {
                return DecodeResult.Truncated;
            }
            ReadOnlySpan<byte> header = captured[offset..];
            if (kind == IpProtocolNumber.Ipv6Fragment)
            {
                int dataStart = offset + fragmentHeaderLength;
                location = new IpFragmentLocation(ipOffset + Ipv6Header.Length + dataStart,
                    ipOffset + Ipv6Header.Length + captured.Length, wireLength - dataStart, header[0],
                    Ipv6Header.Length + offset);
                return DecodeResult.Ok;
            }
            nextHeader = header[0];
            offset += kind == IpProtocolNumber.AuthenticationHeader
                ? (header[1] + 2) * authenticationLengthUnit
                : (header[1] + 1) * optionsLengthUnit;
            if (wireLength < offset)
            {
                return DecodeResult.Malformed;
            }
        }
        return DecodeResult.Malformed;
    }

    private static DecodeResult DecodeIpv4(in CapturedPacket packet, int ipOffset, ref DecodedPacket decoded)
    {
        ReadOnlySpan<byte> ip = packet.Data.Span[ipOffset..];
        DecodeResult result = Ipv4Header.TryRead(ip, out Ipv4Header header);
        if (result != DecodeResult.Ok)
        {
            return result;
        }

        // Total length 0 is what a capture taken on a host with TCP segmentation offload
        // records for oversized segments (Wireshark treats it the same way): the datagram
        // is whatever was captured.
        int datagramLength = header.TotalLength == 0 ? ip.Length : header.TotalLength;
        // Bytes past the total length are link-layer padding (Ethernet's 60-byte minimum),
        // not payload; a total length past the captured bytes means snaplen cut the datagram.
        int capturedEnd = ipOffset + Math.Min(datagramLength, ip.Length);

        decoded.IpVersion = Ipv4Header.Version;
        decoded.Source = header.Source;
        decoded.Destination = header.Destination;
        decoded.IpProtocol = header.Protocol;
        decoded.IpTotalLength = datagramLength;
        decoded.IpHeaderLength = (byte)header.HeaderLength;
        decoded.Ttl = header.TimeToLive;
        decoded.IpIdentification = header.Identification;
        decoded.DontFragment = header.DontFragment;
        decoded.MoreFragments = header.MoreFragments;
        decoded.FragmentOffset = header.FragmentOffset;

        return DecodeTransport(packet, ref decoded, new TransportSpan(
            header.Protocol, Ipv4Header.Version, ipOffset + header.HeaderLength, capturedEnd,
            datagramLength - header.HeaderLength, header.FragmentOffset != 0, header.MoreFragments));
    }

    private static DecodeResult DecodeIpv6(in CapturedPacket packet, int ipOffset, ref DecodedPacket decoded)
    {
        ReadOnlySpan<byte> ip = packet.Data.Span[ipOffset..];
        DecodeResult result = Ipv6Header.TryRead(ip, out Ipv6Header header);
        if (result != DecodeResult.Ok)
        {
            return result;
        }

        // Payload length 0 with something following is a jumbogram (RFC 2675) or a
        // segmentation-offload capture: the datagram is whatever was captured.
        int datagramLength = header.PayloadLength == 0 && header.NextHeader != (byte)IpProtocolNumber.Ipv6NoNextHeader
            ? ip.Length
            : Ipv6Header.Length + header.PayloadLength;
        int capturedEnd = ipOffset + Math.Min(datagramLength, ip.Length);

        decoded.IpVersion = Ipv6Header.Version;
        decoded.Source = header.Source;
        decoded.Destination = header.Destination;
        decoded.IpProtocol = header.NextHeader;
        decoded.IpTotalLength = datagramLength;
        decoded.IpHeaderLength = Ipv6Header.Length;
        decoded.Ttl = header.HopLimit;

        int extensionsStart = ipOffset + Ipv6Header.Length;
        result = Ipv6ExtensionHeaders.TryWalk(packet.Data.Span[extensionsStart..capturedEnd],
            datagramLength - Ipv6Header.Length, header.NextHeader, out Ipv6ExtensionHeaders extensions);
        if (result != DecodeResult.Ok)
        {
            return result;
        }

        decoded.IpProtocol = extensions.UpperLayerProtocol;
        decoded.IpIdentification = extensions.FragmentIdentification;
        decoded.MoreFragments = extensions.MoreFragments;
        decoded.FragmentOffset = extensions.FragmentOffset;

        return DecodeTransport(packet, ref decoded, new TransportSpan(
            extensions.UpperLayerProtocol, Ipv6Header.Version, extensionsStart + extensions.Length, capturedEnd,
            datagramLength - Ipv6Header.Length - extensions.Length, extensions.FragmentOffset != 0,
            extensions.MoreFragments));
    }

    /// <summary>Where the transport header sits in the frame and what the IP layer said about it.</summary>
    /// <param name="Start">Offset of the transport header in the frame.</param>
    /// <param name="CapturedEnd">End of the datagram's captured bytes in the frame.</param>
    /// <param name="WireLength">Transport bytes on the wire, from the IP header.</param>
    private readonly record struct TransportSpan(
        byte Protocol, byte IpVersion, int Start, int CapturedEnd, int WireLength,
        bool IsNonFirstFragment, bool MoreFragments);

    private static DecodeResult DecodeTransport(in CapturedPacket packet, ref DecodedPacket decoded, in TransportSpan span)
    {
        if (span.IsNonFirstFragment)
        {
            SetPayload(packet, ref decoded, span.Start, span.CapturedEnd, span.WireLength, TransportKind.Fragment);
            return DecodeResult.Ok;
        }

        ReadOnlySpan<byte> segment = packet.Data.Span[span.Start..span.CapturedEnd];
        var protocol = (IpProtocolNumber)span.Protocol;
        switch (protocol)
        {
            case IpProtocolNumber.Tcp:
                return span.MoreFragments && span.WireLength < TcpHeader.MinimumLength
                    ? TinyFirstFragment(packet, ref decoded, span)
                    : DecodeTcp(packet, ref decoded, segment, span);
            case IpProtocolNumber.Udp:
                return span.MoreFragments && span.WireLength < UdpHeader.Length
                    ? TinyFirstFragment(packet, ref decoded, span)
                    : DecodeUdp(packet, ref decoded, segment, span);
            case IpProtocolNumber.Icmp when span.IpVersion == Ipv4Header.Version:
                return span.MoreFragments && span.WireLength < IcmpMessage.HeaderLength
                    ? TinyFirstFragment(packet, ref decoded, span)
                    : DecodeIcmp(packet, ref decoded, segment, span);
            case IpProtocolNumber.Icmpv6 when span.IpVersion == Ipv6Header.Version:
                return span.MoreFragments && span.WireLength < Icmpv6Message.HeaderLength
                    ? TinyFirstFragment(packet, ref decoded, span)
                    : DecodeIcmpv6(packet, ref decoded, segment, span);
            default:
                SetPayload(packet, ref decoded, span.Start, span.CapturedEnd, span.WireLength, TransportKind.None);
                return DecodeResult.Ok;
        }
    }

    /// <summary>
    /// A first fragment too short to hold its transport header (RFC 1858): the header
    /// continues in a later fragment, so this one is reported as fragment data.
    /// </summary>
    private static DecodeResult TinyFirstFragment(in CapturedPacket packet, ref DecodedPacket decoded, in TransportSpan span)
    {
        SetPayload(packet, ref decoded, span.Start, span.CapturedEnd, span.WireLength, TransportKind.Fragment);
        return DecodeResult.Ok;
    }

    private static DecodeResult DecodeTcp(in CapturedPacket packet, ref DecodedPacket decoded,
        ReadOnlySpan<byte> segment, in TransportSpan span)
    {
        DecodeResult result = TcpHeader.TryRead(segment, span.WireLength, out TcpHeader tcp);
        if (result != DecodeResult.Ok)
        {
            return result;
        }
        decoded.SourcePort = tcp.SourcePort;
        decoded.DestinationPort = tcp.DestinationPort;
        decoded.Sequence = tcp.SequenceNumber;
        decoded.Acknowledgment = tcp.AcknowledgmentNumber;
        decoded.TcpFlags = tcp.Flags;
        decoded.Window = tcp.Window;
        decoded.TcpHeaderLength = (byte)tcp.HeaderLength;
        if (tcp.HeaderLength > TcpHeader.MinimumLength)
        {
            // Left as TryDecode cleared it otherwise: most bulk segments carry no options, and
            // copying an empty options struct in stalled on its own fresh stores.
            decoded.TcpOptions = tcp.Options;
        }
        SetPayload(packet, ref decoded, span.Start + tcp.HeaderLength, span.CapturedEnd,
            span.WireLength - tcp.HeaderLength, TransportKind.Tcp);
        return DecodeResult.Ok;
    }

    private static DecodeResult DecodeUdp(in CapturedPacket packet, ref DecodedPacket decoded,
        ReadOnlySpan<byte> segment, in TransportSpan span)
    {
        DecodeResult result = UdpHeader.TryRead(segment, span.WireLength, span.MoreFragments, out UdpHeader udp);
        if (result != DecodeResult.Ok)
        {
            return result;
        }
        // The UDP length may be shorter than the IP payload; the rest is not UDP data.
        int datagramEnd = span.Start + udp.DatagramLength;
        decoded.SourcePort = udp.SourcePort;
        decoded.DestinationPort = udp.DestinationPort;
        SetPayload(packet, ref decoded, span.Start + UdpHeader.Length, Math.Min(span.CapturedEnd, datagramEnd),
            udp.DatagramLength - UdpHeader.Length, TransportKind.Udp);
        return DecodeResult.Ok;
    }

    private static DecodeResult DecodeIcmp(in CapturedPacket packet, ref DecodedPacket decoded,
        ReadOnlySpan<byte> segment, in TransportSpan span)
    {
        DecodeResult result = IcmpMessage.TryRead(segment, span.WireLength, out IcmpMessage icmp);
        if (result != DecodeResult.Ok)
        {
            return result;
        }
        decoded.IcmpType = icmp.Type;
        decoded.IcmpCode = icmp.Code;
        decoded.IcmpMtu = icmp.NextHopMtu;
        decoded.IcmpIsError = icmp.IsError;
        decoded.IcmpQuoted = icmp.Quoted;
        SetPayload(packet, ref decoded, span.Start + IcmpMessage.HeaderLength, span.CapturedEnd,
            span.WireLength - IcmpMessage.HeaderLength, TransportKind.Icmp);
        return DecodeResult.Ok;
    }

    private static DecodeResult DecodeIcmpv6(in CapturedPacket packet, ref DecodedPacket decoded,
        ReadOnlySpan<byte> segment, in TransportSpan span)
    {
        DecodeResult result = Icmpv6Message.TryRead(segment, span.WireLength, out Icmpv6Message icmp);
        if (result != DecodeResult.Ok)
        {
            return result;
        }
        decoded.IcmpType = icmp.Type;
        decoded.IcmpCode = icmp.Code;
        decoded.IcmpMtu = icmp.Mtu;
        decoded.IcmpIsError = icmp.IsError;
        decoded.IcmpQuoted = icmp.Quoted;
        SetPayload(packet, ref decoded, span.Start + Icmpv6Message.HeaderLength, span.CapturedEnd,
            span.WireLength - Icmpv6Message.HeaderLength, TransportKind.Icmpv6);
        return DecodeResult.Ok;
    }

    private static void SetPayload(in CapturedPacket packet, ref DecodedPacket decoded,
        int start, int capturedEnd, int wireLength, TransportKind transport)
    {
        int end = Math.Max(start, capturedEnd);
        decoded.Transport = transport;
        decoded.Payload = packet.Data[start..end];
        decoded.PayloadWireLength = wireLength;
    }
}

/// <summary>Where an IP fragment's data lies in its frame (<see cref="PacketDecoder.TryLocateFragmentData"/>).</summary>
/// <param name="DataStart">Offset of the fragment data in the frame.</param>
/// <param name="CapturedEnd">End of the fragment's captured bytes in the frame (Ethernet padding excluded).</param>
/// <param name="WireLength">Fragment data bytes on the wire, from the IP header.</param>
/// <param name="NextHeader">IPv4 protocol, or the IPv6 fragment header's next header.</param>
/// <param name="UnfragmentableLength">IPv4 header length, or 40 plus the IPv6 extension headers before the fragment header.</param>
internal readonly record struct IpFragmentLocation(
    int DataStart, int CapturedEnd, int WireLength, byte NextHeader, int UnfragmentableLength);

/// <summary>IANA Assigned Internet Protocol Numbers (IPv4 protocol / IPv6 next header) the decoder follows.</summary>
internal enum IpProtocolNumber : byte
{
    /// <summary>RFC 8200 4.3.</summary>
    Ipv6HopByHopOptions = 0,
    /// <summary>RFC 792.</summary>
    Icmp = 1,
    /// <summary>RFC 9293.</summary>
    Tcp = 6,
    /// <summary>RFC 768.</summary>
    Udp = 17,
    /// <summary>RFC 8200 4.4.</summary>
    Ipv6Routing = 43,
    /// <summary>RFC 8200 4.5.</summary>
    Ipv6Fragment = 44,
    /// <summary>RFC 4303: encrypted, nothing behind it can be read.</summary>
    EncapsulatingSecurityPayload = 50,
    /// <summary>RFC 4302.</summary>
    AuthenticationHeader = 51,
    /// <summary>RFC 4443.</summary>
    Icmpv6 = 58,
    /// <summary>RFC 8200 4.7.</summary>
    Ipv6NoNextHeader = 59,
    /// <summary>RFC 8200 4.6.</summary>
    Ipv6DestinationOptions = 60,
}
