using System.Buffers.Binary;

namespace RdpWire.Capture.Decoding;

/// <summary>
/// RFC 791 3.1 Internet Header Format: version, IHL, type of service, total length,
/// identification, flags, fragment offset, time to live, protocol, checksum, source,
/// destination, options.
/// </summary>
internal readonly struct Ipv4Header
{
    public const byte Version = 4;
    /// <summary>IHL 5: the header without options.</summary>
    public const int MinimumLength = 20;

    // RFC 791 3.1 "Flags": bit 0 reserved, bit 1 DF, bit 2 MF, then 13 bits of offset in 8-byte units.
    private const ushort DontFragmentBit = 0x4000;
    private const ushort MoreFragmentsBit = 0x2000;
    private const ushort FragmentOffsetMask = 0x1FFF;
    private const int FragmentOffsetUnit = 8;

    private Ipv4Header(int headerLength, ushort totalLength, ushort identification, ushort flagsAndOffset,
        byte timeToLive, byte protocol, NetAddress source, NetAddress destination)
    {
        HeaderLength = headerLength;
        TotalLength = totalLength;
        Identification = identification;
        DontFragment = (flagsAndOffset & DontFragmentBit) != 0;
        MoreFragments = (flagsAndOffset & MoreFragmentsBit) != 0;
        FragmentOffset = (flagsAndOffset & FragmentOffsetMask) * FragmentOffsetUnit;
        TimeToLive = timeToLive;
        Protocol = protocol;
        Source = source;
        Destination = destination;
    }

    /// <summary>IHL in bytes, options included (20..60).</summary>
    public int HeaderLength { get; }
    /// <summary>Datagram length, header included; 0 in segmentation-offload captures.</summary>
    public ushort TotalLength { get; }
    public ushort Identification { get; }
    public bool DontFragment { get; }
    public bool MoreFragments { get; }
    /// <summary>Fragment offset in bytes.</summary>
    public int FragmentOffset { get; }
    public byte TimeToLive { get; }
    public byte Protocol { get; }
    public NetAddress Source { get; }
    public NetAddress Destination { get; }

    /// <summary>
    /// Reads the header at the start of <paramref name="data"/>. Malformed: version is not 4,
    /// IHL below 5, or a non-zero total length shorter than the header. Truncated: the fixed
    /// part or the options are not all captured. Total length is not checked against
    /// <paramref name="data"/>: the caller decides whether that is snaplen or padding.
    /// </summary>
    public static DecodeResult TryRead(ReadOnlySpan<byte> data, out Ipv4Header header)
    {
        header = default;
        if (data.Length < MinimumLength)
        {
            return DecodeResult.Truncated;
        }
        int version = data[0] >> 4;
        int headerLength = (data[0] & 0x0F) * 4;
        ushort totalLength = BinaryPrimitives.ReadUInt16BigEndian(data[2..]);
        if (version != Version || headerLength < MinimumLength || (totalLength != 0 && totalLength < headerLength))
        {
            return DecodeResult.Malformed;
        }
        if (data.Length < headerLength)
        {
            return DecodeResult.Truncated;
        }
        header = new Ipv4Header(
            headerLength,
            totalLength,
            identification: BinaryPrimitives.ReadUInt16BigEndian(data[4..]),
            flagsAndOffset: BinaryPrimitives.ReadUInt16BigEndian(data[6..]),
            timeToLive: data[8],
            protocol: data[9],
            source: NetAddress.FromIPv4(data.Slice(12, 4)),
            destination: NetAddress.FromIPv4(data.Slice(16, 4)));
        return DecodeResult.Ok;
    }
}
