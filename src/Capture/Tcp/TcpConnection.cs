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
/// <remarks>
/// Looked up for every packet, so it is five 64-bit words (40 bytes) compared and hashed directly:
/// the two endpoints' addresses in canonical order, then both ports, the protocol and the address
/// families in one word. (As two nested endpoint records it was 72 bytes, copied into every
/// comparison.)
/// </remarks>
public readonly struct FlowKey : IEquatable<FlowKey>
{
    private readonly ulong _lowUpper, _lowLower, _highUpper, _highLower;
    /// <summary>Low endpoint's port (bits 0-15), high endpoint's port (16-31), protocol (32-39), low is IPv6 (40), high is IPv6 (41).</summary>
    private readonly ulong _portsAndKinds;

    public FlowKey(Endpoint low, Endpoint high, byte protocol)
        : this(low.Address, low.Port, high.Address, high.Port, protocol)
    {
    }

    private FlowKey(in NetAddress low, ushort lowPort, in NetAddress high, ushort highPort, byte protocol)
    {
        (_lowUpper, _lowLower) = (low.Upper, low.Lower);
        (_highUpper, _highLower) = (high.Upper, high.Lower);
        _portsAndKinds = lowPort | (ulong)highPort << 16 | (ulong)protocol << 32
            | (low.IsIPv6 ? 1UL << 40 : 0) | (high.IsIPv6 ? 1UL << 41 : 0);
    }

    /// <summary>The endpoint with the lower address (or, between equal addresses, the lower port).</summary>
    public Endpoint Low => new(new NetAddress(_lowUpper, _lowLower, (_portsAndKinds & 1UL << 40) != 0), (ushort)_portsAndKinds);

    public Endpoint High => new(new NetAddress(_highUpper, _highLower, (_portsAndKinds & 1UL << 41) != 0), (ushort)(_portsAndKinds >> 16));

    public byte Protocol => (byte)(_portsAndKinds >> 32);

    public static FlowKey Of(Endpoint a, Endpoint b, byte protocol) => Of(a.Address, a.Port, b.Address, b.Port, protocol);

    /// <summary>
    /// The key of the conversation between two addresses and ports, straight from the words of the
    /// addresses: building two <see cref="Endpoint"/>s first (a packet's lookup did) meant writing
    /// each field and reading them back whole to pass them on, and those wide reads of fresh narrow
    /// writes stalled.
    /// </summary>
    public static FlowKey Of(in NetAddress a, ushort aPort, in NetAddress b, ushort bPort, byte protocol)
    {
        int byAddress = a.CompareTo(b);
        bool aFirst = byAddress < 0 || (byAddress == 0 && aPort <= bPort);
        return aFirst ? new FlowKey(a, aPort, b, bPort, protocol) : new FlowKey(b, bPort, a, aPort, protocol);
    }

    public bool Equals(FlowKey other) =>
        _lowLower == other._lowLower && _highLower == other._highLower && _portsAndKinds == other._portsAndKinds
        && _lowUpper == other._lowUpper && _highUpper == other._highUpper;

    public override bool Equals(object? obj) => obj is FlowKey other && Equals(other);

    public static bool operator ==(FlowKey left, FlowKey right) => left.Equals(right);

    public static bool operator !=(FlowKey left, FlowKey right) => !left.Equals(right);

    /// <summary>
    /// NH (the universal hash of UMAC, RFC 4418 section 5.2.2, Black et al. 1999) of the key's ten
    /// 32-bit words under a key drawn once per process: five multiplies instead of ten seeded
    /// <see cref="HashCode"/> rounds on the per-packet path. Two different flow keys get the same
    /// 64-bit sum with probability at most 2^-32 over the process key, so a capture cannot be
    /// crafted to make the flow table's keys collide.
    /// </summary>
    public override int GetHashCode()
    {
        ulong sum = (ulong)((uint)_lowLower + NhKey.K0) * ((uint)(_lowLower >> 32) + NhKey.K1)
            + (ulong)((uint)_lowUpper + NhKey.K2) * ((uint)(_lowUpper >> 32) + NhKey.K3)
            + (ulong)((uint)_highLower + NhKey.K4) * ((uint)(_highLower >> 32) + NhKey.K5)
            + (ulong)((uint)_highUpper + NhKey.K6) * ((uint)(_highUpper >> 32) + NhKey.K7)
            + (ulong)((uint)_portsAndKinds + NhKey.K8) * ((uint)(_portsAndKinds >> 32) + NhKey.K9);
        return (int)(sum >> 32) ^ (int)sum;
    }

    /// <summary>The per-process NH key: ten random 32-bit words (static readonly, so optimized code holds them as constants).</summary>
    private static class NhKey
    {
        private static readonly uint[] Words = Draw();
        public static readonly uint K0 = Words[0], K1 = Words[1], K2 = Words[2], K3 = Words[3], K4 = Words[4],
            K5 = Words[5], K6 = Words[6], K7 = Words[7], K8 = Words[8], K9 = Words[9];

        private static uint[] Draw()
        {
            // Random.Shared is seeded from the operating system's entropy; unlike RandomNumberGenerator
            // it does not load OpenSSL, which cost every start-up about 10 ms.
            var key = new uint[10];
            Random.Shared.NextBytes(System.Runtime.InteropServices.MemoryMarshal.AsBytes(key.AsSpan()));
            return key;
        }
    }

    /// <summary>
    /// 64 bits standing for the key where keeping the whole key would cost too much: two
    /// differently salted seeded hashes, so two flows share one with probability about 2^-64
    /// and a capture cannot be crafted to make them collide.
    /// </summary>
    public ulong Fingerprint() => (ulong)(uint)Hash(1) << 32 | (uint)Hash(2);

    private int Hash(int salt)
    {
        // Every address word as its two halves: HashCode.Add(ulong) folds the halves together
        // before mixing, so IPv6 addresses with equal folds would collide whatever the seed.
        var h = new HashCode();
        h.Add(salt);
        AddWord(ref h, _lowLower);
        AddWord(ref h, _lowUpper);
        AddWord(ref h, _highLower);
        AddWord(ref h, _highUpper);
        h.Add(_portsAndKinds);
        return h.ToHashCode();
    }

    private static void AddWord(ref HashCode h, ulong word)
    {
        h.Add((uint)word);
        h.Add((uint)(word >> 32));
    }

    public override string ToString() => $"{Low} <-> {High} (protocol {Protocol})";
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
/// <remarks>
/// Not sealed only for the flow table, whose entry for a connection is the connection itself (its
/// bookkeeping added): a packet's lookup then reaches the connection's fields in the object it has
/// just found, not through one more reference. The constructor is internal, so nothing outside this
/// assembly derives from it. The two directions' reassemblers and FIN flags are fields, not arrays,
/// for the same reason: one object fewer to load for every packet.
/// </remarks>
public class TcpConnection
{
    private readonly TcpStreamReassembler _clientToServer;
    private readonly TcpStreamReassembler _serverToClient;

    internal TcpConnection(long id, Endpoint client, Endpoint server, bool openedBySyn,
        ReassemblyBudget budget, int maxHeldBytesPerDirection)
    {
        Id = id;
        Client = client;
        Server = server;
        OpenedBySyn = openedBySyn;
        _clientToServer = new TcpStreamReassembler(budget, maxHeldBytesPerDirection);
        _serverToClient = new TcpStreamReassembler(budget, maxHeldBytesPerDirection);
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
    public bool FinSeen(TcpDirection d) => d == TcpDirection.ClientToServer ? _clientFin : _serverFin;
    private bool _clientFin;
    private bool _serverFin;

    public TcpStreamReassembler Stream(TcpDirection direction) =>
        direction == TcpDirection.ClientToServer ? _clientToServer : _serverToClient;

    public TcpDirection DirectionOf(in DecodedPacket p) =>
        p.Source == Client.Address && p.SourcePort == Client.Port ? TcpDirection.ClientToServer : TcpDirection.ServerToClient;

    /// <summary>True after RST, or after both sides sent FIN.</summary>
    public bool IsClosed => ResetSeen || (_clientFin && _serverFin);

    /// <summary>Feeds one decoded TCP segment of this connection to its reassembler.</summary>
    public TcpSegmentInfo Process(in DecodedPacket p)
    {
        var dir = DirectionOf(p);
        var stream = Stream(dir);
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
            var peer = Stream(1 - dir);
            if (peer.HasBase)
            {
                long ackedOffset = peer.OffsetOf(p.Acknowledgment);
                // Wireshark's "ACKed unseen segment": the ACK covers bytes (plus the peer's FIN,
                // which takes one sequence number) that never reached this capture in order.
                acksUnseen = ackedOffset > peer.NextOffset + (FinSeen(1 - dir) ? 1 : 0);
            }
        }

        if ((flags & TcpFlags.Fin) != 0)
        {
            if (dir == TcpDirection.ClientToServer)
            {
                _clientFin = true;
            }
            else
            {
                _serverFin = true;
            }
        }
        if ((flags & TcpFlags.Rst) != 0)
        {
            ResetSeen = true;
        }
        return new TcpSegmentInfo(dir, flags, disposition, p.PayloadWireLength, keepAlive, acksUnseen);
    }

    internal void Release()
    {
        _clientToServer.Close();
        _serverToClient.Close();
    }
}
