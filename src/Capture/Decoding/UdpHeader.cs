using System.Buffers.Binary;

namespace RdpWire.Capture.Decoding;

/// <summary>RFC 768 User Datagram Header Format: source port, destination port, length, checksum.</summary>
internal readonly struct UdpHeader
{
    public const int Length = 8;

    private UdpHeader(ushort sourcePort, ushort destinationPort, int datagramLength)
    {
        SourcePort = sourcePort;
        DestinationPort = destinationPort;
        DatagramLength = datagramLength;
    }

    public ushort SourcePort { get; }
    public ushort DestinationPort { get; }
    /// <summary>
    /// Header plus data on the wire: the length field, or the IP payload length when the
    /// field cannot apply to this packet alone (jumbogram, first fragment).
    /// </summary>
    public int DatagramLength { get; }

    /// <summary>
    /// Reads the header at the start of <paramref name="captured"/>. Malformed: the IP payload
    /// (<paramref name="wireLength"/>) is shorter than 8 bytes, or the length field is below 8
    /// or larger than the IP payload of an unfragmented datagram. Truncated: the 8 bytes are not
    /// all captured. A length field shorter than the IP payload trims it.
    /// </summary>
    public static DecodeResult TryRead(ReadOnlySpan<byte> captured, int wireLength, bool isFirstFragment,
        out UdpHeader header)
    {
        header = default;
        if (wireLength < Length)
        {
            return DecodeResult.Malformed;
        }
        if (captured.Length < Length)
        {
            return DecodeResult.Truncated;
        }
        int lengthField = BinaryPrimitives.ReadUInt16BigEndian(captured[4..]);
        int datagramLength;
        if (lengthField == 0 && wireLength > ushort.MaxValue)
        {
            // RFC 2675 4: jumbogram, the length comes from the IP layer.
            datagramLength = wireLength;
        }
        else if (lengthField > wireLength && isFirstFragment)
        {
            // The length covers the reassembled datagram; this fragment carries only part of it.
            datagramLength = wireLength;
        }
        else if (lengthField < Length || lengthField > wireLength)
        {
            return DecodeResult.Malformed;
        }
        else
        {
            datagramLength = lengthField;
        }
        header = new UdpHeader(
            sourcePort: BinaryPrimitives.ReadUInt16BigEndian(captured),
            destinationPort: BinaryPrimitives.ReadUInt16BigEndian(captured[2..]),
            datagramLength);
        return DecodeResult.Ok;
    }
}
