using System.Buffers.Binary;

namespace RdpWire.RdpParser.Rdpeudp;

/// <summary>MS-RDPEUDP 2.2.2.1 RDPUDP_FEC_HEADER uFlags.</summary>
[Flags]
public enum RdpudpFlags : ushort
{
    None = 0,
    /// <summary>RDPUDP_FLAG_SYN</summary>
    Syn = 0x0001,
    /// <summary>RDPUDP_FLAG_FIN</summary>
    Fin = 0x0002,
    /// <summary>RDPUDP_FLAG_ACK</summary>
    Ack = 0x0004,
    /// <summary>RDPUDP_FLAG_DATA</summary>
    Data = 0x0008,
    /// <summary>RDPUDP_FLAG_FEC</summary>
    Fec = 0x0010,
    /// <summary>RDPUDP_FLAG_CN</summary>
    Cn = 0x0020,
    /// <summary>RDPUDP_FLAG_CWR</summary>
    Cwr = 0x0040,
    /// <summary>RDPUDP_FLAG_SACK_OPTION</summary>
    SackOption = 0x0080,
    /// <summary>RDPUDP_FLAG_ACK_OF_ACKS</summary>
    AckOfAcks = 0x0100,
    /// <summary>RDPUDP_FLAG_SYNLOSSY</summary>
    SynLossy = 0x0200,
    /// <summary>RDPUDP_FLAG_ACKDELAYED</summary>
    AckDelayed = 0x0400,
    /// <summary>RDPUDP_FLAG_CORRELATION_ID</summary>
    CorrelationId = 0x0800,
    /// <summary>RDPUDP_FLAG_SYNEX</summary>
    SynEx = 0x1000,
}

/// <summary>
/// One RDP-UDP datagram's connection-setup view (MS-RDPEUDP 2.2.2.1 RDPUDP_FEC_HEADER,
/// 2.2.2.5 RDPUDP_SYNDATA_PAYLOAD, 2.2.2.8 RDPUDP_CORRELATION_ID_PAYLOAD, 2.2.2.9
/// RDPUDP_SYNDATAEX_PAYLOAD). All fields are big-endian. Data datagrams after the handshake
/// are only classified, not decoded.
/// </summary>
public readonly record struct RdpeudpDatagram(
    uint SnSourceAck,
    ushort ReceiveWindowSize,
    RdpudpFlags Flags,
    uint? InitialSequenceNumber,
    ushort? UpStreamMtu,
    ushort? DownStreamMtu,
    Guid? CorrelationId,
    ushort? SynExFlags,
    ushort? UdpVersion)
{
    public const int FecHeaderSize = 8;
    /// <summary>MS-RDPEUDP 3.1.5.1.1: both MTU fields lie in 1132..1232.</summary>
    public const ushort MinMtu = 1132;
    public const ushort MaxMtu = 1232;
    /// <summary>snSourceAck of a SYN (3.1.5.1.1): -1.</summary>
    public const uint SynSourceAck = 0xFFFFFFFF;

    public bool IsSyn => (Flags & (RdpudpFlags.Syn | RdpudpFlags.Ack)) == RdpudpFlags.Syn;
    public bool IsSynAck => (Flags & (RdpudpFlags.Syn | RdpudpFlags.Ack)) == (RdpudpFlags.Syn | RdpudpFlags.Ack);
    public bool IsLossy => (Flags & RdpudpFlags.SynLossy) != 0;

    /// <summary>
    /// Reads the FEC header and, for SYN and SYN+ACK datagrams, the payloads that follow. Returns
    /// false for datagrams too short to be RDP-UDP or a SYN whose fields break 3.1.5.1.1 (a SYN
    /// must carry snSourceAck -1 and MTUs in range): such bytes are some other protocol on the port.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> datagram, out RdpeudpDatagram result)
    {
        result = default;
        if (datagram.Length < FecHeaderSize)
        {
            return false;
        }
        uint ack = BinaryPrimitives.ReadUInt32BigEndian(datagram);
        ushort window = BinaryPrimitives.ReadUInt16BigEndian(datagram[4..]);
        var flags = (RdpudpFlags)BinaryPrimitives.ReadUInt16BigEndian(datagram[6..]);
        result = new RdpeudpDatagram(ack, window, flags, null, null, null, null, null, null);
        if ((flags & RdpudpFlags.Syn) == 0)
        {
            return true;
        }
        var rest = datagram[FecHeaderSize..];
        if (rest.Length < 8)
        {
            return false;
        }
        uint isn = BinaryPrimitives.ReadUInt32BigEndian(rest);
        ushort up = BinaryPrimitives.ReadUInt16BigEndian(rest[4..]);
        ushort down = BinaryPrimitives.ReadUInt16BigEndian(rest[6..]);
        rest = rest[8..];
        bool isSyn = (flags & RdpudpFlags.Ack) == 0;
        if (isSyn && ack != SynSourceAck)
        {
            return false;
        }
        if (up is < MinMtu or > MaxMtu || down is < MinMtu or > MaxMtu)
        {
            return false;
        }
        Guid? correlation = null;
        if ((flags & RdpudpFlags.CorrelationId) != 0 && rest.Length >= 32)
        {
            correlation = new Guid(rest[..16]);
            rest = rest[32..];
        }
        ushort? synExFlags = null, version = null;
        if ((flags & RdpudpFlags.SynEx) != 0 && rest.Length >= 4)
        {
            synExFlags = BinaryPrimitives.ReadUInt16BigEndian(rest);
            version = BinaryPrimitives.ReadUInt16BigEndian(rest[2..]);
        }
        result = result with
        {
            InitialSequenceNumber = isn,
            UpStreamMtu = up,
            DownStreamMtu = down,
            CorrelationId = correlation,
            SynExFlags = synExFlags,
            UdpVersion = version,
        };
        return true;
    }

    /// <summary>MS-RDPEUDP 2.2.2.9 uUdpVer names (0x0101 is RDP-UDP2, MS-RDPEUDP2 1.3.1).</summary>
    public static string VersionName(ushort version) => version switch
    {
        0x0001 => "RDPUDP_PROTOCOL_VERSION_1",
        0x0002 => "RDPUDP_PROTOCOL_VERSION_2",
        0x0101 => "RDPUDP_PROTOCOL_VERSION_3",
        _ => $"0x{version:X4}",
    };
}
