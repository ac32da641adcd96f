using System.Buffers.Binary;

namespace RdpWire.Capture.Decoding;

/// <summary>ICMP message types (RFC 792) the decoder interprets.</summary>
internal enum IcmpType : byte
{
    EchoReply = 0,
    DestinationUnreachable = 3,
    SourceQuench = 4,
    Redirect = 5,
    Echo = 8,
    TimeExceeded = 11,
    ParameterProblem = 12,
}

/// <summary>RFC 792 Destination Unreachable codes the decoder interprets.</summary>
internal enum IcmpDestinationUnreachableCode : byte
{
    /// <summary>"Fragmentation needed and DF set"; RFC 1191 4 puts the next-hop MTU in the header.</summary>
    FragmentationNeeded = 4,
}

/// <summary>
/// RFC 792 ICMP message: type, code, checksum, 4 type-specific bytes, body. The error
/// messages quote "the internet header + 64 bits of original data datagram", which is
/// read into an <see cref="IcmpQuotedPacket"/> so the error can be tied to its flow.
/// </summary>
internal readonly struct IcmpMessage
{
    /// <summary>Type, code, checksum and the 4-byte rest-of-header every RFC 792 message has.</summary>
    public const int HeaderLength = 8;
    /// <summary>RFC 1191 4: next-hop MTU in the low-order 16 bits of the rest-of-header.</summary>
    private const int NextHopMtuOffset = 6;

    private IcmpMessage(byte type, byte code, uint nextHopMtu, bool isError, IcmpQuotedPacket quoted)
    {
        Type = type;
        Code = code;
        NextHopMtu = nextHopMtu;
        IsError = isError;
        Quoted = quoted;
    }

    public byte Type { get; }
    public byte Code { get; }
    /// <summary>RFC 1191 next-hop MTU of "fragmentation needed"; 0 otherwise (or from a pre-RFC 1191 router).</summary>
    public uint NextHopMtu { get; }
    public bool IsError { get; }
    /// <summary>What an error quotes; default when not an error or the quoted header is not all captured.</summary>
    public IcmpQuotedPacket Quoted { get; }

    public static bool IsErrorType(byte type) => (IcmpType)type is IcmpType.DestinationUnreachable
        or IcmpType.SourceQuench or IcmpType.Redirect or IcmpType.TimeExceeded or IcmpType.ParameterProblem;

    /// <summary>
    /// Reads the message at the start of <paramref name="captured"/>. Malformed: the message on
    /// the wire is shorter than 8 bytes. Truncated: the 8 bytes are not all captured. A quoted
    /// packet that is cut short or damaged leaves <see cref="Quoted"/> partly or wholly empty
    /// rather than failing: the message itself is intact.
    /// </summary>
    public static DecodeResult TryRead(ReadOnlySpan<byte> captured, int wireLength, out IcmpMessage message)
    {
        message = default;
        if (wireLength < HeaderLength)
        {
            return DecodeResult.Malformed;
        }
        if (captured.Length < HeaderLength)
        {
            return DecodeResult.Truncated;
        }
        byte type = captured[0];
        byte code = captured[1];
        bool isError = IsErrorType(type);
        uint mtu = (IcmpType)type == IcmpType.DestinationUnreachable
            && (IcmpDestinationUnreachableCode)code == IcmpDestinationUnreachableCode.FragmentationNeeded
            ? BinaryPrimitives.ReadUInt16BigEndian(captured[NextHopMtuOffset..])
            : 0u;
        IcmpQuotedPacket quoted = isError ? ReadQuotedIpv4(captured[HeaderLength..]) : default;
        message = new IcmpMessage(type, code, mtu, isError, quoted);
        return DecodeResult.Ok;
    }

    /// <summary>The quoted IPv4 header, then ports (and the TCP sequence number) from its first 8 data bytes.</summary>
    private static IcmpQuotedPacket ReadQuotedIpv4(ReadOnlySpan<byte> quoted)
    {
        if (Ipv4Header.TryRead(quoted, out Ipv4Header header) != DecodeResult.Ok)
        {
            return default;
        }
        ReadOnlySpan<byte> transport = header.FragmentOffset == 0 ? quoted[header.HeaderLength..] : default;
        return QuotedTransport.Read(header.Source, header.Destination, header.Protocol, transport);
    }
}

/// <summary>
/// The first 8 bytes of a quoted TCP or UDP header: both start with the ports, and TCP
/// continues with its sequence number (RFC 9293 3.1, RFC 768).
/// </summary>
internal static class QuotedTransport
{
    private const int PortsLength = 4;
    private const int TcpSequenceEnd = 8;

    public static IcmpQuotedPacket Read(NetAddress source, NetAddress destination, byte protocol,
        ReadOnlySpan<byte> transport)
    {
        var kind = (IpProtocolNumber)protocol;
        bool hasPorts = (kind == IpProtocolNumber.Tcp || kind == IpProtocolNumber.Udp) && transport.Length >= PortsLength;
        if (!hasPorts)
        {
            return new IcmpQuotedPacket(source, destination, protocol, 0, 0, 0, false);
        }
        uint sequence = kind == IpProtocolNumber.Tcp && transport.Length >= TcpSequenceEnd
            ? BinaryPrimitives.ReadUInt32BigEndian(transport[4..])
            : 0u;
        return new IcmpQuotedPacket(
            source,
            destination,
            protocol,
            SourcePort: BinaryPrimitives.ReadUInt16BigEndian(transport),
            DestinationPort: BinaryPrimitives.ReadUInt16BigEndian(transport[2..]),
            TcpSequence: sequence,
            HasPorts: true);
    }
}
