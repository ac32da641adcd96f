using System.Buffers.Binary;

namespace RdpWire.Capture.Decoding;

/// <summary>
/// RFC 8200 3 IPv6 Header Format: version, traffic class, flow label, payload length,
/// next header, hop limit, source, destination. Fixed 40 bytes; extension headers follow
/// (<see cref="Ipv6ExtensionHeaders"/>).
/// </summary>
internal readonly struct Ipv6Header
{
    public const byte Version = 6;
    public const byte Length = 40;

    private Ipv6Header(ushort payloadLength, byte nextHeader, byte hopLimit, NetAddress source, NetAddress destination)
    {
        PayloadLength = payloadLength;
        NextHeader = nextHeader;
        HopLimit = hopLimit;
        Source = source;
        Destination = destination;
    }

    /// <summary>Bytes after the fixed header, extension headers included; 0 for jumbograms.</summary>
    public ushort PayloadLength { get; }
    public byte NextHeader { get; }
    public byte HopLimit { get; }
    public NetAddress Source { get; }
    public NetAddress Destination { get; }

    public static DecodeResult TryRead(ReadOnlySpan<byte> data, out Ipv6Header header)
    {
        header = default;
        if (data.Length < Length)
        {
            return DecodeResult.Truncated;
        }
        if (data[0] >> 4 != Version)
        {
            return DecodeResult.Malformed;
        }
        header = new Ipv6Header(
            payloadLength: BinaryPrimitives.ReadUInt16BigEndian(data[4..]),
            nextHeader: data[6],
            hopLimit: data[7],
            source: NetAddress.FromIPv6(data.Slice(8, 16)),
            destination: NetAddress.FromIPv6(data.Slice(24, 16)));
        return DecodeResult.Ok;
    }
}

/// <summary>
/// The chain of IPv6 extension headers between the fixed header and the upper-layer
/// header (RFC 8200 4): hop-by-hop options (4.3), routing (4.4), fragment (4.5),
/// destination options (4.6), and the authentication header (RFC 4302 2.2).
/// </summary>
internal readonly struct Ipv6ExtensionHeaders
{
    /// <summary>Longer chains are treated as malformed rather than walked.</summary>
    public const int MaxExtensionHeaders = 16;

    /// <summary>RFC 8200 4.5: next header, reserved, offset + M flag, identification.</summary>
    private const int FragmentHeaderLength = 8;
    private const ushort FragmentOffsetMask = 0xFFF8;
    private const ushort MoreFragmentsBit = 0x0001;
    /// <summary>Hop-by-hop, routing and destination options: "Hdr Ext Len" in 8-octet units, not counting the first 8.</summary>
    private const int OptionsLengthUnit = 8;
    /// <summary>RFC 4302 2.2: "Payload Len" in 4-octet units, minus 2.</summary>
    private const int AuthenticationHeaderLengthUnit = 4;

    private Ipv6ExtensionHeaders(byte upperLayerProtocol, int length, uint fragmentIdentification,
        int fragmentOffset, bool moreFragments)
    {
        UpperLayerProtocol = upperLayerProtocol;
        Length = length;
        FragmentIdentification = fragmentIdentification;
        FragmentOffset = fragmentOffset;
        MoreFragments = moreFragments;
    }

    /// <summary>
    /// The next header after the last extension header walked: the transport protocol,
    /// 59 (no next header), 50 (ESP), or for a non-first fragment the fragment's next header.
    /// </summary>
    public byte UpperLayerProtocol { get; }
    /// <summary>Bytes of extension headers walked.</summary>
    public int Length { get; }
    public uint FragmentIdentification { get; }
    /// <summary>Fragment offset in bytes.</summary>
    public int FragmentOffset { get; }
    public bool MoreFragments { get; }

    /// <summary>
    /// Walks the extension headers at the start of <paramref name="captured"/> (the bytes after
    /// the fixed header that were captured, within the datagram). Stops at the first header that
    /// is not an extension header, and after the fragment header of a non-first fragment (what
    /// follows is fragment data). Malformed: a header runs past <paramref name="wireLength"/>, or
    /// the chain is longer than <see cref="MaxExtensionHeaders"/>. Truncated: a header runs past
    /// the captured bytes.
    /// </summary>
    public static DecodeResult TryWalk(ReadOnlySpan<byte> captured, int wireLength, byte firstNextHeader,
        out Ipv6ExtensionHeaders extensions)
    {
        byte nextHeader = firstNextHeader;
        int offset = 0;
        uint identification = 0;
        int fragmentOffset = 0;
        bool moreFragments = false;
        for (int count = 0; ; count++)
        {
            bool isExtension = (IpProtocolNumber)nextHeader is IpProtocolNumber.Ipv6HopByHopOptions
                or IpProtocolNumber.Ipv6Routing or IpProtocolNumber.Ipv6Fragment
                or IpProtocolNumber.Ipv6DestinationOptions or IpProtocolNumber.AuthenticationHeader;
            if (!isExtension || fragmentOffset != 0)
            {
                extensions = new Ipv6ExtensionHeaders(nextHeader, offset, identification, fragmentOffset, moreFragments);
                return DecodeResult.Ok;
            }
            extensions = default;
            if (count == MaxExtensionHeaders)
            {
                return DecodeResult.Malformed;
            }

            // Every extension header starts with next header and a length byte (the fragment
            // header's second byte is reserved; its length is fixed).
            int minimum = (IpProtocolNumber)nextHeader == IpProtocolNumber.Ipv6Fragment ? FragmentHeaderLength : 2;
            if (wireLength - offset < minimum)
            {
                return DecodeResult.Malformed;
            }
            if (captured.Length - offset < minimum)
            {
                return DecodeResult.Truncated;
            }
            ReadOnlySpan<byte> header = captured[offset..];
            int length = (IpProtocolNumber)nextHeader switch
            {
                IpProtocolNumber.Ipv6Fragment => FragmentHeaderLength,
                IpProtocolNumber.AuthenticationHeader => (header[1] + 2) * AuthenticationHeaderLengthUnit,
                _ => (header[1] + 1) * OptionsLengthUnit,
            };
            if (wireLength - offset < length)
            {
                return DecodeResult.Malformed;
            }
            if (captured.Length - offset < length)
            {
                return DecodeResult.Truncated;
            }
            if ((IpProtocolNumber)nextHeader == IpProtocolNumber.Ipv6Fragment)
            {
                ushort offsetAndFlags = BinaryPrimitives.ReadUInt16BigEndian(header[2..]);
                fragmentOffset = offsetAndFlags & FragmentOffsetMask;
                moreFragments = (offsetAndFlags & MoreFragmentsBit) != 0;
                identification = BinaryPrimitives.ReadUInt32BigEndian(header[4..]);
            }
            nextHeader = header[0];
            offset += length;
        }
    }
}
