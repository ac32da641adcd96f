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

    /// <summary>Reads the 4-byte header without consuming it. False when fewer than 4 bytes are buffered.</summary>
    public static bool TryPeek(in ReadOnlySequence<byte> buffer, out TpktHeader header)
    {
        header = default;
        if (buffer.Length < Size)
        {
            return false;
        }
        Span<byte> bytes = stackalloc byte[Size];
        buffer.Slice(0, Size).CopyTo(bytes);
        header = new TpktHeader(bytes[0], bytes[1], (ushort)((bytes[2] << 8) | bytes[3]));
        return true;
    }
}
