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
internal readonly struct TcpHeader
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

    private TcpHeader(ushort sourcePort, ushort destinationPort, uint sequenceNumber, uint acknowledgmentNumber,
        int headerLength, TcpFlags flags, ushort window, TcpOptions options)
    {
        SourcePort = sourcePort;
        DestinationPort = destinationPort;
        SequenceNumber = sequenceNumber;
        AcknowledgmentNumber = acknowledgmentNumber;
        HeaderLength = headerLength;
        Flags = flags;
        Window = window;
        Options = options;
    }

    public ushort SourcePort { get; }
    public ushort DestinationPort { get; }
    public uint SequenceNumber { get; }
    public uint AcknowledgmentNumber { get; }
    /// <summary>Data offset in bytes (20..60).</summary>
    public int HeaderLength { get; }
    public TcpFlags Flags { get; }
    /// <summary>The raw window field, not scaled.</summary>
    public ushort Window { get; }
    public TcpOptions Options { get; }

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
        header = new TcpHeader(
            sourcePort: BinaryPrimitives.ReadUInt16BigEndian(captured),
            destinationPort: BinaryPrimitives.ReadUInt16BigEndian(captured[2..]),
            sequenceNumber: BinaryPrimitives.ReadUInt32BigEndian(captured[4..]),
            acknowledgmentNumber: BinaryPrimitives.ReadUInt32BigEndian(captured[8..]),
            headerLength,
            // The low byte holds CWR..FIN; bit 8 (the former NS / AccECN AE bit) is not a TcpFlags member.
            flags: (TcpFlags)captured[13],
            window: BinaryPrimitives.ReadUInt16BigEndian(captured[14..]),
            options: ReadOptions(captured[MinimumLength..headerLength]));
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
