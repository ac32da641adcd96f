namespace RdpWire.Capture.Decoding;

public enum TransportKind : byte
{
    /// <summary>Not IP, or an IP protocol the decoders do not follow.</summary>
    None,
    Tcp,
    Udp,
    Icmp,
    Icmpv6,
    /// <summary>A non-first IP fragment (no transport header of its own).</summary>
    Fragment,
}

/// <summary>TCP header flags (RFC 9293 3.1, RFC 3168 for ECE/CWR).</summary>
[Flags]
public enum TcpFlags : ushort
{
    None = 0,
    Fin = 0x001,
    Syn = 0x002,
    Rst = 0x004,
    Psh = 0x008,
    Ack = 0x010,
    Urg = 0x020,
    Ece = 0x040,
    Cwr = 0x080,
}

/// <summary>The TCP options a failure analyzer reads (RFC 9293 3.2, RFC 7323, RFC 2018).</summary>
public readonly record struct TcpOptions(
    ushort? Mss,
    byte? WindowScale,
    bool SackPermitted,
    int SackBlocks,
    uint? TimestampValue,
    uint? TimestampEcho);

/// <summary>
/// What an ICMP or ICMPv6 error quotes of the packet that caused it (RFC 792, RFC 4443):
/// enough to find the flow it belongs to.
/// </summary>
public readonly record struct IcmpQuotedPacket(
    NetAddress Source,
    NetAddress Destination,
    byte Protocol,
    ushort SourcePort,
    ushort DestinationPort,
    uint TcpSequence,
    bool HasPorts);

/// <summary>
/// A packet decoded down to its transport header, read in place from the captured bytes.
/// <see cref="Payload"/> borrows the packet's buffer and is valid only as long as the packet is.
/// </summary>
/// <remarks>
/// Read-only outside this assembly; <see cref="PacketDecoder"/> fills one in place, layer by layer.
/// (It was a readonly struct whose layers were added with <c>with</c>: each layer copied the whole
/// ~200-byte struct twice, for every packet.)
/// </remarks>
public struct DecodedPacket
{
    public CapturedPacket Packet { get; internal set; }

    public TransportKind Transport { get; internal set; }

    /// <summary>4 or 6; 0 when the packet is not IP.</summary>
    public byte IpVersion { get; internal set; }
    public NetAddress Source { get; internal set; }
    public NetAddress Destination { get; internal set; }
    /// <summary>IP protocol / IPv6 next header of the transport (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6).</summary>
    public byte IpProtocol { get; internal set; }
    /// <summary>IPv4 total length, or IPv6 40 + payload length: the datagram's size on the wire.</summary>
    public int IpTotalLength { get; internal set; }
    public byte IpHeaderLength { get; internal set; }
    public byte Ttl { get; internal set; }
    /// <summary>IPv4 identification, or the IPv6 fragment header's identification.</summary>
    public uint IpIdentification { get; internal set; }
    public bool DontFragment { get; internal set; }
    public bool MoreFragments { get; internal set; }
    /// <summary>Fragment offset in bytes.</summary>
    public int FragmentOffset { get; internal set; }
    public readonly bool IsFragment => MoreFragments || FragmentOffset != 0;

    public ushort SourcePort { get; internal set; }
    public ushort DestinationPort { get; internal set; }

    // TCP
    public uint Sequence { get; internal set; }
    public uint Acknowledgment { get; internal set; }
    public TcpFlags TcpFlags { get; internal set; }
    public ushort Window { get; internal set; }
    public byte TcpHeaderLength { get; internal set; }
    public TcpOptions TcpOptions { get; internal set; }

    // ICMP / ICMPv6
    public byte IcmpType { get; internal set; }
    public byte IcmpCode { get; internal set; }
    /// <summary>Next-hop MTU of ICMP "fragmentation needed" (RFC 1191) or ICMPv6 "packet too big".</summary>
    public uint IcmpMtu { get; internal set; }
    /// <summary>True when the ICMP message is an error that quotes an offending packet.</summary>
    public bool IcmpIsError { get; internal set; }
    public IcmpQuotedPacket IcmpQuoted { get; internal set; }

    /// <summary>Transport payload actually captured (trimmed to the IP length; may be cut by snaplen).</summary>
    public ReadOnlyMemory<byte> Payload { get; internal set; }

    /// <summary>Transport payload length on the wire, from the IP header; larger than Payload.Length when snaplen cut it.</summary>
    public int PayloadWireLength { get; internal set; }
}
