using System.Buffers.Binary;

namespace RdpWire.Capture.Decoding;

/// <summary>
/// RFC 791 3.1 Internet Header Format: version, IHL, type of service, total length,
/// identification, flags, fragment offset, time to live, protocol, checksum, source,
/// destination, options.
/// </summary>
/// <remarks>
/// A view of the header's bytes, each field read where it is when asked for. (As a struct of
/// decoded fields it was built field by field and then copied whole into the decoded packet, and
/// the copy's wide loads of what the narrow stores had just written stalled: 35 % of
/// <c>DecodeIpv4</c>'s samples on the 5 GB bench capture.)
/// </remarks>
internal readonly ref struct Ipv4Header
{
    public const byte Version = 4;
    /// <summary>IHL 5: the header without options.</summary>
    public const int MinimumLength = 20;

    // RFC 791 3.1 "Flags": bit 0 reserved, bit 1 DF, bit 2 MF, then 13 bits of offset in 8-byte units.
    private const ushort DontFragmentBit = 0x4000;
    private const ushort MoreFragmentsBit = 0x2000;
    private const ushort FragmentOffsetMask = 0x1FFF;
    private const int FragmentOffsetUnit = 8;

    /// <summary>The header, options included: <see cref="HeaderLength"/> bytes, at least <see cref="MinimumLength"/>.</summary>
    private readonly ReadOnlySpan<byte> _bytes;

    private Ipv4Header(ReadOnlySpan<byte> bytes) => _bytes = bytes;

    /// <summary>IHL in bytes, options included (20..60).</summary>
    public int HeaderLength => _bytes.Length;
    /// <summary>Datagram length, header included; 0 in segmentation-offload captures.</summary>
    public ushort TotalLength => BinaryPrimitives.ReadUInt16BigEndian(_bytes[2..]);
    public ushort Identification => BinaryPrimitives.ReadUInt16BigEndian(_bytes[4..]);
    private ushort FlagsAndOffset => BinaryPrimitives.ReadUInt16BigEndian(_bytes[6..]);
    public bool DontFragment => (FlagsAndOffset & DontFragmentBit) != 0;
    public bool MoreFragments => (FlagsAndOffset & MoreFragmentsBit) != 0;
    /// <summary>Fragment offset in bytes.</summary>
    public int FragmentOffset => (FlagsAndOffset & FragmentOffsetMask) * FragmentOffsetUnit;
    public byte TimeToLive => _bytes[8];
    public byte Protocol => _bytes[9];
    public NetAddress Source => NetAddress.FromIPv4(_bytes.Slice(12, 4));
    public NetAddress Destination => NetAddress.FromIPv4(_bytes.Slice(16, 4));

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
        header = new Ipv4Header(data[..headerLength]);
        return DecodeResult.Ok;
    }
}
