using System.Buffers.Binary;
using System.Net;

namespace RdpWire.Capture.Decoding;

/// <summary>
/// An IPv4 or IPv6 address held by value (no allocation), usable as a dictionary key: the 128 bits
/// as two 64-bit halves, most significant first (network order). IPv4 addresses keep their 32 bits
/// in the low part of <see cref="Lower"/>.
/// </summary>
/// <remarks>
/// Two <see cref="ulong"/>s rather than one <see cref="UInt128"/>: UInt128's layout belongs to the
/// runtime, so a precompiled (ReadyToRun) build could not precompile any code holding one, and every
/// per-packet method (decoding, the flow key, the reassembler) was compiled at start-up instead.
/// </remarks>
public readonly record struct NetAddress(ulong Upper, ulong Lower, bool IsIPv6)
{
    public static NetAddress FromIPv4(ReadOnlySpan<byte> fourBytes) =>
        new(0, BinaryPrimitives.ReadUInt32BigEndian(fourBytes), false);

    public static NetAddress FromIPv6(ReadOnlySpan<byte> sixteenBytes) =>
        new(BinaryPrimitives.ReadUInt64BigEndian(sixteenBytes), BinaryPrimitives.ReadUInt64BigEndian(sixteenBytes[8..]), true);

    /// <summary>The unspecified address (0.0.0.0 or ::), also what an absent address reads as.</summary>
    public bool IsZero => (Upper | Lower) == 0;

    /// <summary>Orders addresses as 128-bit numbers (the family is not compared: ::a.b.c.d and a.b.c.d tie).</summary>
    public int CompareTo(NetAddress other) =>
        Upper != other.Upper ? Upper.CompareTo(other.Upper) : Lower.CompareTo(other.Lower);

    public IPAddress ToIPAddress()
    {
        if (!IsIPv6)
        {
            Span<byte> v4 = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(v4, (uint)Lower);
            return new IPAddress(v4);
        }
        Span<byte> v6 = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64BigEndian(v6, Upper);
        BinaryPrimitives.WriteUInt64BigEndian(v6[8..], Lower);
        return new IPAddress(v6);
    }

    public override string ToString() => ToIPAddress().ToString();
}
