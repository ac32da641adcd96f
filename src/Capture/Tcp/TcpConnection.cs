using RdpWire.Capture.Decoding;

namespace RdpWire.Capture.Tcp;

public enum TcpDirection : byte
{
    ClientToServer = 0,
    ServerToClient = 1,
}

public readonly record struct Endpoint(NetAddress Address, ushort Port)
{
    public override string ToString() => Address.IsIPv6 ? $"[{Address}]:{Port}" : $"{Address}:{Port}";
}

/// <summary>Direction-independent key of a TCP or UDP conversation.</summary>
public readonly record struct FlowKey(Endpoint Low, Endpoint High, byte Protocol)
{
    public static FlowKey Of(Endpoint a, Endpoint b, byte protocol)
    {
        int byAddress = a.Address.CompareTo(b.Address);
        bool aFirst = byAddress < 0 || (byAddress == 0 && a.Port <= b.Port);
        return aFirst ? new FlowKey(a, b, protocol) : new FlowKey(b, a, protocol);
    }

    // Looked up for every packet: compare and hash the primitive fields directly instead of
    // through the nested records' comparers. HashCode is seeded per process, so a capture cannot
    // be crafted to make the flow table's keys collide.
    public bool Equals(FlowKey other) =>
        Low.Address.Lower == other.Low.Address.Lower && Low.Address.Upper == other.Low.Address.Upper
        && High.Address.Lower == other.High.Address.Lower && High.Address.Upper == other.High.Address.Upper
        && Low.Port == other.Low.Port && High.Port == other.High.Port && Protocol == other.Protocol
        && Low.Address.IsIPv6 == other.Low.Address.IsIPv6 && High.Address.IsIPv6 == other.High.Address.IsIPv6;

    public override int GetHashCode() => Hash(0);

    /// <summary>
    /// 64 bits standing for the key where keeping the whole key would cost too much: two
    /// differently salted seeded hashes, so two flows share one with probability about 2^-64
    /// and a capture cannot be crafted to make them collide.
    /// </summary>
    public ulong Fingerprint() => (ulong)(uint)Hash(1) << 32 | (uint)Hash(2);

    private int Hash(int salt)
    {
        var h = new HashCode();
        h.Add(salt);
        h.Add(Low.Address.Lower);
        h.Add(Low.Address.Upper);
        h.Add(High.Address.Lower);
        h.Add(High.Address.Upper);
        h.Add(Low.Port << 16 | High.Port);
        h.Add(Protocol);
        return h.ToHashCode();
    }
}

/// <summary>What one TCP segment was, seen from its connection.</summary>
public readonly record struct TcpSegmentInfo(
    TcpDirection Direction,
    TcpFlags Flags,
    SegmentDisposition Disposition,
    int PayloadLength,
    bool IsKeepAlive,
    bool AcknowledgesUnseenBytes);

/// <summary>
/// One TCP connection: its endpoints (client = the side that sent the SYN, or the best guess
/// when the capture began mid-connection), one reassembler per direction and the raw TCP
/// facts later stages reason about.
/// </summary>
public sealed class TcpConnection
{
    private readonly TcpStreamReassembler[] _streams;

    internal TcpConnection(long id, Endpoint client, Endpoint server, bool openedBySyn,
        ReassemblyBudget budget, int maxHeldBytesPerDirection)
    {
        Id = id;
        Client = client;
        Server = server;
        OpenedBySyn = openedBySyn;
        _streams =
        [
            new TcpStreamReassembler(budget, maxHeldBytesPerDirection),
            new TcpStreamReassembler(budget, maxHeldBytesPerDirection),
        ];
    }

    /// <summary>1-based, in order of each connection's first packet in the capture.</summary>
    public long Id { get; }
    public Endpoint Client { get; }
    public Endpoint Server { get; }

    /// <summary>False when the capture holds no SYN from the client (it began mid-connection).</summary>
    public bool OpenedBySyn { get; }

    public uint? ClientIsn { get; private set; }
    public bool SynAckSeen { get; private set; }
    public bool ResetSeen { get; private set; }
    public bool FinSeen(TcpDirection d) => _finSeen[(int)d];
    private readonly bool[] _finSeen = new bool[2];

    public TcpStreamReassembler Stream(TcpDirection direction) => _streams[(int)direction];

    public TcpDirection DirectionOf(in DecodedPacket p) =>
        p.Source == Client.Address && p.SourcePort == Client.Port ? TcpDirection.ClientToServer : TcpDirection.ServerToClient;

    /// <summary>True after RST, or after both sides sent FIN.</summary>
    public bool IsClosed => ResetSeen || (_finSeen[0] && _finSeen[1]);

    /// <summary>Feeds one decoded TCP segment of this connection to its reassembler.</summary>
    public TcpSegmentInfo Process(in DecodedPacket p)
    {
        var dir = DirectionOf(p);
        var stream = _streams[(int)dir];
        var flags = p.TcpFlags;
        if ((flags & TcpFlags.Syn) != 0)
        {
            stream.SetInitialSequence(p.Sequence);
            if (dir == TcpDirection.ClientToServer && (flags & TcpFlags.Ack) == 0)
            {
                ClientIsn ??= p.Sequence;
            }
            else if (dir == TcpDirection.ServerToClient && (flags & TcpFlags.Ack) != 0)
            {
                SynAckSeen = true;
            }
        }

        // RFC 9293 3.8.4 keep-alive: zero or one byte at SEG.SEQ = SND.NXT - 1, flags ACK only.
        bool keepAlive = stream.HasBase && (flags & (TcpFlags.Syn | TcpFlags.Fin | TcpFlags.Rst)) == 0
            && p.PayloadWireLength <= 1 && (int)(p.Sequence - (uint)(stream.InitialSequence + stream.NextOffset)) == -1;

        var disposition = SegmentDisposition.NoPayload;
        int synAdjust = (flags & TcpFlags.Syn) != 0 ? 1 : 0;
        if (p.PayloadWireLength > 0 && !keepAlive && (flags & TcpFlags.Rst) == 0)
        {
            disposition = stream.Accept(p.Sequence + (uint)synAdjust, p.Payload.Span, p.PayloadWireLength,
                p.Packet.Frame, p.Packet.TimestampTicks);
        }

        bool acksUnseen = false;
        if ((flags & TcpFlags.Ack) != 0)
        {
            var peer = _streams[1 - (int)dir];
            if (peer.HasBase)
            {
                long ackedOffset = peer.OffsetOf(p.Acknowledgment);
                // Wireshark's "ACKed unseen segment": the ACK covers bytes (plus the peer's FIN,
                // which takes one sequence number) that never reached this capture in order.
                acksUnseen = ackedOffset > peer.NextOffset + (_finSeen[1 - (int)dir] ? 1 : 0);
            }
        }

        if ((flags & TcpFlags.Fin) != 0)
        {
            _finSeen[(int)dir] = true;
        }
        if ((flags & TcpFlags.Rst) != 0)
        {
            ResetSeen = true;
        }
        return new TcpSegmentInfo(dir, flags, disposition, p.PayloadWireLength, keepAlive, acksUnseen);
    }

    internal void Release()
    {
        _streams[0].Close();
        _streams[1].Close();
    }
}
