namespace RdpWire.Tests.Support;

/// <summary>
/// A classic little-endian microsecond pcap with link type RAW (101), written record by record:
/// the envelope hand-made IPv4 packets go into for analyzer and CLI tests.
/// </summary>
public sealed class HandMadeRawIpPcap
{
    private readonly List<byte> _bytes = [.. HandMadeBytes.Hex("D4C3B2A1 0200 0400 00000000 00000000 FFFF0000 65000000")];

    /// <summary>Appends one record at 1,700,000,000 s plus <paramref name="micros"/> microseconds.</summary>
    public HandMadeRawIpPcap Add(long micros, byte[] ip)
    {
        _bytes.AddRange(BitConverter.GetBytes((int)(1_700_000_000 + micros / 1_000_000)));
        _bytes.AddRange(BitConverter.GetBytes((int)(micros % 1_000_000)));
        _bytes.AddRange(BitConverter.GetBytes(ip.Length));
        _bytes.AddRange(BitConverter.GetBytes(ip.Length));
        _bytes.AddRange(ip);
        return this;
    }

    public byte[] ToArray() => [.. _bytes];
}
