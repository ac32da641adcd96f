using System.Buffers.Binary;

namespace RdpWire.Capture.Decoding;

/// <summary>ICMPv6 error message types (RFC 4443 2.1); 128 and above are informational.</summary>
internal enum Icmpv6Type : byte
{
    DestinationUnreachable = 1,
    PacketTooBig = 2,
    TimeExceeded = 3,
    ParameterProblem = 4,
    EchoRequest = 128,
    EchoReply = 129,
}

/// <summary>
/// RFC 4443 2.1 ICMPv6 message: type, code, checksum, body. The error messages (3.1-3.4)
/// carry 4 type-specific bytes and then "as much of invoking packet as possible", read into
/// an <see cref="IcmpQuotedPacket"/> so the error can be tied to its flow.
/// </summary>
internal readonly struct Icmpv6Message
{
    /// <summary>Type, code, checksum and the 4-byte field that follows in every error and echo message.</summary>
    public const int HeaderLength = 8;
    /// <summary>RFC 4443 3.2: the MTU field of Packet Too Big.</summary>
    private const int MtuOffset = 4;

    private Icmpv6Message(byte type, byte code, uint mtu, bool isError, IcmpQuotedPacket quoted)
    {
        Type = type;
        Code = code;
        Mtu = mtu;
        IsError = isError;
        Quoted = quoted;
    }

    public byte Type { get; }
    public byte Code { get; }
    /// <summary>Packet Too Big's MTU; 0 for other types.</summary>
    public uint Mtu { get; }
    public bool IsError { get; }
    /// <summary>What an error quotes; default when not an error or the quoted header is not all captured.</summary>
    public IcmpQuotedPacket Quoted { get; }

    public static bool IsErrorType(byte type) => (Icmpv6Type)type is Icmpv6Type.DestinationUnreachable
        or Icmpv6Type.PacketTooBig or Icmpv6Type.TimeExceeded or Icmpv6Type.ParameterProblem;

    /// <summary>
    /// Reads the message at the start of <paramref name="captured"/>. Malformed: the message on
    /// the wire is shorter than 8 bytes. Truncated: the 8 bytes are not all captured. A quoted
    /// packet that is cut short leaves <see cref="Quoted"/> partly or wholly empty.
    /// </summary>
    public static DecodeResult TryRead(ReadOnlySpan<byte> captured, int wireLength, out Icmpv6Message message)
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
        bool isError = IsErrorType(type);
        uint mtu = (Icmpv6Type)type == Icmpv6Type.PacketTooBig
            ? BinaryPrimitives.ReadUInt32BigEndian(captured[MtuOffset..])
            : 0u;
        IcmpQuotedPacket quoted = isError ? ReadQuotedIpv6(captured[HeaderLength..]) : default;
        message = new Icmpv6Message(type, captured[1], mtu, isError, quoted);
        return DecodeResult.Ok;
    }

    /// <summary>
    /// The quoted IPv6 header, its extension headers as far as they were quoted, then ports
    /// (and the TCP sequence number) of the upper-layer header.
    /// </summary>
    private static IcmpQuotedPacket ReadQuotedIpv6(ReadOnlySpan<byte> quoted)
    {
        if (Ipv6Header.TryRead(quoted, out Ipv6Header header) != DecodeResult.Ok)
        {
            return default;
        }
        // The quote is cut wherever the 1280-byte minimum MTU ran out, so the quoted length
        // is the bound, not the quoted header's payload length.
        ReadOnlySpan<byte> rest = quoted[Ipv6Header.Length..];
        DecodeResult walk = Ipv6ExtensionHeaders.TryWalk(rest, rest.Length, header.NextHeader,
            out Ipv6ExtensionHeaders extensions);
        if (walk != DecodeResult.Ok)
        {
            return new IcmpQuotedPacket(header.Source, header.Destination, header.NextHeader, 0, 0, 0, false);
        }
        ReadOnlySpan<byte> transport = extensions.FragmentOffset == 0 ? rest[extensions.Length..] : default;
        return QuotedTransport.Read(header.Source, header.Destination, extensions.UpperLayerProtocol, transport);
    }
}
