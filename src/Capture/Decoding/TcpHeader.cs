using System.Buffers.Binary;

namespace RdpWire.Capture.Decoding;

/// <summary>TCP option kinds (RFC 9293 3.2, RFC 7323, RFC 2018).</summary>
internal enum TcpOptionKind : byte
{
    EndOfOptionList = 0,
    NoOperation = 1,
    MaximumSegmentSize = 2,
    /// <summary>RFC 7323 2.2.</summary>
    WindowScale = 3,
    /// <summary>RFC 2018 2.</summary>
    SackPermitted = 4,
    /// <summary>RFC 2018 3.</summary>
    Sack = 5,
    /// <summary>RFC 7323 3.2.</summary>
    Timestamps = 8,
}

/// <summary>
/// RFC 9293 3.1 Header Format: ports, sequence and acknowledgment numbers, data offset,
/// control bits (with ECE/CWR from RFC 3168), window, checksum, urgent pointer, options.
/// </summary>
/// <remarks>
/// A view of the header's bytes, each field read where it is when asked for, and the options
/// parsed only when asked for and present. (As a struct of decoded fields, with the options
/// parsed into a struct of their own even when there were none, as in most bulk segments, it was
/// copied twice on the way into the decoded packet, and the copies' wide loads of what narrow
/// stores had just written stalled: two thirds of <c>TryRead</c>'s samples on the 5 GB bench capture.)
/// </remarks>
internal readonly ref struct TcpHeader
{
    public const int MinimumLength = 20;
    public const int MaximumLength = 60;

    // Option lengths, kind and length bytes included.
    private const int MaximumSegmentSizeLength = 4;
    private const int WindowScaleLength = 3;
    private const int SackPermittedLength = 2;
    private const int SackBlockLength = 8;
    private const int TimestampsLength = 10;
    private const int OptionPrefixLength = 2;

    /// <summary>The header, options included: <see cref="HeaderLength"/> bytes, at least <see cref="MinimumLength"/>.</summary>
    private readonly ReadOnlySpan<byte> _bytes;

    private TcpHeader(ReadOnlySpan<byte> bytes) => _bytes = bytes;

    public ushort SourcePort => BinaryPrimitives.ReadUInt16BigEndian(_bytes);
    public ushort DestinationPort => BinaryPrimitives.ReadUInt16BigEndian(_bytes[2..]);
    public uint SequenceNumber => BinaryPrimitives.ReadUInt32BigEndian(_bytes[4..]);
    public uint AcknowledgmentNumber => BinaryPrimitives.ReadUInt32BigEndian(_bytes[8..]);
    /// <summary>Data offset in bytes (20..60).</summary>
    public int HeaderLength => _bytes.Length;
    /// <summary>The low byte holds CWR..FIN; bit 8 (the former NS / AccECN AE bit) is not a TcpFlags member.</summary>
    public TcpFlags Flags => (TcpFlags)_bytes[13];
    /// <summary>The raw window field, not scaled.</summary>
    public ushort Window => BinaryPrimitives.ReadUInt16BigEndian(_bytes[14..]);
    /// <summary>The options (parsed on each call; none when the header is 20 bytes).</summary>
    public TcpOptions Options => _bytes.Length == MinimumLength ? default : ReadOptions(_bytes[MinimumLength..]);

    /// <summary>
    /// Reads the header at the start of <paramref name="captured"/>. Malformed: the segment on
    /// the wire (<paramref name="wireLength"/>, from the IP header) is shorter than 20 bytes or
    /// than the data offset, or the data offset is below 5. Truncated: the header is not all
    /// captured. A malformed option ends option parsing, not the packet.
    /// </summary>
    public static DecodeResult TryRead(ReadOnlySpan<byte> captured, int wireLength, out TcpHeader header)
    {
        header = default;
        if (wireLength < MinimumLength)
        {
            return DecodeResult.Malformed;
        }
        if (captured.Length < MinimumLength)
        {
            return DecodeResult.Truncated;
        }
        int headerLength = (captured[12] >> 4) * 4;
        if (headerLength < MinimumLength || headerLength > wireLength)
        {
            return DecodeResult.Malformed;
        }
        if (captured.Length < headerLength)
        {
            return DecodeResult.Truncated;
        }
        header = new TcpHeader(captured[..headerLength]);
        return DecodeResult.Ok;
    }

    /// <summary>
    /// RFC 9293 3.2: every option but EOL and NOP is kind, length (counting both), data.
    /// An option whose length is impossible, or wrong for its kind, stops parsing; what was
    /// read before it is kept.
    /// </summary>
    public static TcpOptions ReadOptions(ReadOnlySpan<byte> options)
    {
        ushort? mss = null;
        byte? windowScale = null;
        bool sackPermitted = false;
        int sackBlocks = 0;
        uint? timestampValue = null;
        uint? timestampEcho = null;

        int offset = 0;
        while (offset < options.Length)
        {
            var kind = (TcpOptionKind)options[offset];
            if (kind == TcpOptionKind.EndOfOptionList)
            {
                break;
            }
            if (kind == TcpOptionKind.NoOperation)
            {
                offset++;
                continue;
            }
            if (options.Length - offset < OptionPrefixLength)
            {
                break;
            }
            int length = options[offset + 1];
            if (length < OptionPrefixLength || length > options.Length - offset)
            {
                break;
            }
            ReadOnlySpan<byte> data = options.Slice(offset + OptionPrefixLength, length - OptionPrefixLength);
            bool wellFormed = true;
            switch (kind)
            {
                case TcpOptionKind.MaximumSegmentSize:
                    wellFormed = length == MaximumSegmentSizeLength;
                    if (wellFormed)
                    {
                        mss = BinaryPrimitives.ReadUInt16BigEndian(data);
                    }
                    break;
                case TcpOptionKind.WindowScale:
                    wellFormed = length == WindowScaleLength;
                    if (wellFormed)
                    {
                        windowScale = data[0];
                    }
                    break;
                case TcpOptionKind.SackPermitted:
                    wellFormed = length == SackPermittedLength;
                    sackPermitted |= wellFormed;
                    break;
                case TcpOptionKind.Sack:
                    wellFormed = data.Length >= SackBlockLength && data.Length % SackBlockLength == 0;
                    if (wellFormed)
                    {
                        sackBlocks += data.Length / SackBlockLength;
                    }
                    break;
                case TcpOptionKind.Timestamps:
                    wellFormed = length == TimestampsLength;
                    if (wellFormed)
                    {
                        timestampValue = BinaryPrimitives.ReadUInt32BigEndian(data);
                        timestampEcho = BinaryPrimitives.ReadUInt32BigEndian(data[4..]);
                    }
                    break;
            }
            if (!wellFormed)
            {
                break;
            }
            offset += length;
        }
        return new TcpOptions(mss, windowScale, sackPermitted, sackBlocks, timestampValue, timestampEcho);
    }
}
