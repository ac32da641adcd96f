using System.Buffers.Binary;
using System.Net;

namespace RdpWire.Capture.Decoding;

/// <summary>
/// An IPv4 or IPv6 address held by value (no allocation), usable as a dictionary key.
/// IPv4 addresses keep their 32 bits in the low part of <see cref="Value"/>.
/// </summary>
public readonly record struct NetAddress(UInt128 Value, bool IsIPv6)
{
    public static NetAddress FromIPv4(ReadOnlySpan<byte> fourBytes) =>
        new(BinaryPrimitives.ReadUInt32BigEndian(fourBytes), false);

    public static NetAddress FromIPv6(ReadOnlySpan<byte> sixteenBytes) =>
        new(BinaryPrimitives.ReadUInt128BigEndian(sixteenBytes), true);

    public IPAddress ToIPAddress()
    {
        if (!IsIPv6)
        {
            Span<byte> v4 = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(v4, (uint)Value);
            return new IPAddress(v4);
        }
        Span<byte> v6 = stackalloc byte[16];
        BinaryPrimitives.WriteUInt128BigEndian(v6, Value);
        return new IPAddress(v6);
    }

    public override string ToString() => ToIPAddress().ToString();
}
