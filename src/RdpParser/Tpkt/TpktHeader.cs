using System.Buffers;

namespace RdpWire.RdpParser.Tpkt;

/// <summary>
/// ITU-T T.123 section 8 TPKT header: version 3, reserved, 16-bit big-endian length of the
/// whole packet including these 4 bytes. RDP carries every slow-path PDU in one.
/// </summary>
public readonly record struct TpktHeader(byte Version, byte Reserved, ushort Length)
{
    public const byte Version3 = 3;
    public const int Size = 4;

    /// <summary>Smallest sensible TPKT: the header plus a 3-byte X.224 Data TPDU.</summary>
    public const int MinimumPacketLength = Size + 3;

    public bool IsValid => Version == Version3 && Length >= MinimumPacketLength;

    /// <summary>
    /// Reads the 4-byte header. Returns false, leaving the reader where it was, when fewer
    /// than 4 bytes are buffered.
    /// </summary>
    public static bool TryRead(ref SequenceReader<byte> reader, out TpktHeader header)
    {
        header = default;
        if (reader.Remaining < Size)
        {
            return false;
        }
        reader.TryRead(out byte version);
        reader.TryRead(out byte reserved);
        reader.TryReadBigEndian(out short length);
        header = new TpktHeader(version, reserved, (ushort)length);
        return true;
    }

    /// <summary>
    /// Reads one whole TPKT packet. <see cref="OperationStatus.NeedMoreData"/> leaves the reader
    /// unmoved; <see cref="OperationStatus.InvalidData"/> means the header is not a valid TPKT
    /// (the reader is unmoved too); on <see cref="OperationStatus.Done"/> the reader is past the
    /// packet and <paramref name="packet"/> holds it, header included.
    /// </summary>
    public static OperationStatus TryReadPacket(ref SequenceReader<byte> reader, out TpktHeader header, out ReadOnlySequence<byte> packet)
    {
        packet = default;
        var start = reader.Position;
        long consumedBefore = reader.Consumed;
        if (!TryRead(ref reader, out header))
        {
            return OperationStatus.NeedMoreData;
        }
        reader.Rewind(reader.Consumed - consumedBefore);
        if (!header.IsValid)
        {
            return OperationStatus.InvalidData;
        }
        if (reader.Remaining < header.Length)
        {
            return OperationStatus.NeedMoreData;
        }
        packet = reader.Sequence.Slice(start, header.Length);
        reader.Advance(header.Length);
        return OperationStatus.Done;
    }
}
