using System.Buffers.Binary;

namespace RdpWire.Capture.Decoding;

/// <summary>IEEE 802 EtherType values (IEEE Registration Authority) the decoder follows.</summary>
internal enum EtherType : ushort
{
    /// <summary>Values below this are IEEE 802.3 length fields, not EtherTypes (IEEE 802.3 3.2.6).</summary>
    MinimumEtherType = 0x0600,
    Ipv4 = 0x0800,
    /// <summary>IEEE 802.1Q customer VLAN tag (C-TAG).</summary>
    Vlan = 0x8100,
    Ipv6 = 0x86DD,
    /// <summary>IEEE 802.1ad provider bridging service tag (S-TAG, "QinQ" outer tag).</summary>
    ProviderBridging = 0x88A8,
    /// <summary>Pre-802.1ad vendor QinQ outer tag.</summary>
    LegacyQinQ = 0x9100,
}

/// <summary>
/// BSD loopback address-family values found in LINKTYPE_NULL / LINKTYPE_LOOP headers
/// (tcpdump.org link-layer header types: AF_INET6 differs per BSD).
/// </summary>
internal enum BsdAddressFamily : uint
{
    Inet = 2,
    /// <summary>NetBSD, OpenBSD, BSD/OS.</summary>
    Inet6Bsd = 24,
    /// <summary>FreeBSD, DragonFly BSD.</summary>
    Inet6FreeBsd = 28,
    /// <summary>macOS, iOS.</summary>
    Inet6Darwin = 30,
}

/// <summary>
/// Finds the IP header behind the link-layer header of each supported link type
/// (tcpdump.org "Link-layer header types").
/// </summary>
internal static class LinkLayer
{
    /// <summary>Ethernet II: destination MAC, source MAC, EtherType (IEEE 802.3 3.1.1).</summary>
    public const int EthernetTypeOffset = 12;
    /// <summary>An 802.1Q / 802.1ad tag: TPID then 2-byte TCI, before the inner EtherType.</summary>
    public const int VlanTagLength = 4;
    /// <summary>More stacked tags than this is treated as malformed rather than walked.</summary>
    public const int MaxVlanTags = 4;

    /// <summary>LINKTYPE_LINUX_SLL: packet type, ARPHRD, address length, 8-byte address, protocol.</summary>
    public const int LinuxSllProtocolOffset = 14;
    /// <summary>LINKTYPE_LINUX_SLL2: protocol, reserved, interface index, ARPHRD, packet type, address length, 8-byte address.</summary>
    public const int LinuxSll2ProtocolOffset = 0;
    public const int LinuxSll2HeaderLength = 20;

    /// <summary>LINKTYPE_NULL / LINKTYPE_LOOP: a 4-byte address family.</summary>
    public const int LoopbackHeaderLength = 4;

    public static DecodeResult TryLocateIpHeader(LinkType linkType, ReadOnlySpan<byte> frame,
        out int ipOffset, out byte ipVersion)
    {
        ipOffset = 0;
        ipVersion = 0;
        switch (linkType)
        {
            case LinkType.Ethernet:
                return FollowEtherType(frame, EthernetTypeOffset, out ipOffset, out ipVersion);
            case LinkType.LinuxSll:
                return FollowEtherType(frame, LinuxSllProtocolOffset, out ipOffset, out ipVersion);
            case LinkType.LinuxSll2:
                if (frame.Length < LinuxSll2HeaderLength)
                {
                    return DecodeResult.Truncated;
                }
                return ClassifyEtherType(BinaryPrimitives.ReadUInt16BigEndian(frame[LinuxSll2ProtocolOffset..]),
                    LinuxSll2HeaderLength, out ipOffset, out ipVersion);
            case LinkType.Raw:
                return FromVersionNibble(frame, expected: 0, out ipOffset, out ipVersion);
            case LinkType.Ipv4:
                return FromVersionNibble(frame, expected: Ipv4Header.Version, out ipOffset, out ipVersion);
            case LinkType.Ipv6:
                return FromVersionNibble(frame, expected: Ipv6Header.Version, out ipOffset, out ipVersion);
            case LinkType.Null:
            case LinkType.Loop:
                if (frame.Length < LoopbackHeaderLength)
                {
                    return DecodeResult.Truncated;
                }
                uint family = linkType == LinkType.Loop
                    ? BinaryPrimitives.ReadUInt32BigEndian(frame)
                    : ReadHostOrderFamily(frame);
                ipOffset = LoopbackHeaderLength;
                switch ((BsdAddressFamily)family)
                {
                    case BsdAddressFamily.Inet:
                        ipVersion = Ipv4Header.Version;
                        return DecodeResult.Ok;
                    case BsdAddressFamily.Inet6Bsd:
                    case BsdAddressFamily.Inet6FreeBsd:
                    case BsdAddressFamily.Inet6Darwin:
                        ipVersion = Ipv6Header.Version;
                        return DecodeResult.Ok;
                    default:
                        ipOffset = 0;
                        return DecodeResult.NotIp;
                }
            default:
                return DecodeResult.UnsupportedLinkType;
        }
    }

    /// <summary>
    /// LINKTYPE_NULL stores the family in the capturing host's byte order, which the file
    /// does not record; families are small numbers, so the order that yields one is right.
    /// </summary>
    private static uint ReadHostOrderFamily(ReadOnlySpan<byte> frame)
    {
        uint littleEndian = BinaryPrimitives.ReadUInt32LittleEndian(frame);
        return littleEndian <= 0xFFFF ? littleEndian : BinaryPrimitives.ReadUInt32BigEndian(frame);
    }

    /// <summary>Reads the EtherType at <paramref name="typeOffset"/>, skipping stacked 802.1Q / 802.1ad tags.</summary>
    private static DecodeResult FollowEtherType(ReadOnlySpan<byte> frame, int typeOffset,
        out int ipOffset, out byte ipVersion)
    {
        for (int tags = 0; ; tags++)
        {
            if (frame.Length < typeOffset + sizeof(ushort))
            {
                ipOffset = 0;
                ipVersion = 0;
                return DecodeResult.Truncated;
            }
            ushort type = BinaryPrimitives.ReadUInt16BigEndian(frame[typeOffset..]);
            switch ((EtherType)type)
            {
                case EtherType.Vlan:
                case EtherType.ProviderBridging:
                case EtherType.LegacyQinQ:
                    if (tags == MaxVlanTags)
                    {
                        ipOffset = 0;
                        ipVersion = 0;
                        return DecodeResult.Malformed;
                    }
                    typeOffset += VlanTagLength;
                    continue;
                default:
                    return ClassifyEtherType(type, typeOffset + sizeof(ushort), out ipOffset, out ipVersion);
            }
        }
    }

    private static DecodeResult ClassifyEtherType(ushort type, int payloadOffset, out int ipOffset, out byte ipVersion)
    {
        switch ((EtherType)type)
        {
            case EtherType.Ipv4:
                ipOffset = payloadOffset;
                ipVersion = Ipv4Header.Version;
                return DecodeResult.Ok;
            case EtherType.Ipv6:
                ipOffset = payloadOffset;
                ipVersion = Ipv6Header.Version;
                return DecodeResult.Ok;
            default:
                ipOffset = 0;
                ipVersion = 0;
                return DecodeResult.NotIp;
        }
    }

    /// <summary>Raw IP link types: the version nibble says which IP it is.</summary>
    /// <param name="expected">The version the link type promises, or 0 when either is allowed.</param>
    private static DecodeResult FromVersionNibble(ReadOnlySpan<byte> frame, byte expected,
        out int ipOffset, out byte ipVersion)
    {
        ipOffset = 0;
        ipVersion = 0;
        if (frame.IsEmpty)
        {
            return DecodeResult.Truncated;
        }
        byte version = (byte)(frame[0] >> 4);
        if (version != Ipv4Header.Version && version != Ipv6Header.Version)
        {
            return expected == 0 ? DecodeResult.NotIp : DecodeResult.Malformed;
        }
        if (expected != 0 && version != expected)
        {
            return DecodeResult.Malformed;
        }
        ipVersion = version;
        return DecodeResult.Ok;
    }
}
