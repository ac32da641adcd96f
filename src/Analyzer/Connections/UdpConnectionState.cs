using RdpWire.Analyzer.Report;
using RdpWire.Capture.Decoding;
using RdpWire.Capture.Tcp;
using RdpWire.RdpParser.Rdpeudp;

namespace RdpWire.Analyzer.Connections;

/// <summary>
/// One RDP-UDP (MS-RDPEUDP) flow: the client's SYN datagrams, the server's SYN+ACK, the
/// client's first acknowledgment (3.1.5.1.3: the connection is established), and counts.
/// </summary>
public sealed class UdpConnectionState
{
    private const int MaxSynsRemembered = 16;
    private const int MaxLadderSteps = 24;

    public UdpConnectionState(long id, Endpoint client, Endpoint server, FrameRef first)
    {
        Id = id;
        Client = client;
        Server = server;
        FirstPacket = first;
        LastTicks = first.Ticks;
    }

    public long Id { get; }
    public Endpoint Client { get; }
    public Endpoint Server { get; }
    public FrameRef FirstPacket { get; }
    public long LastTicks { get; private set; }
    public List<FrameRef> Syns { get; } = [];
    public int SynCount { get; private set; }
    public RdpeudpDatagram? ClientSyn { get; private set; }
    public FrameRef? SynAck { get; private set; }
    public RdpeudpDatagram? ServerSynAck { get; private set; }
    public FrameRef? Established { get; private set; }
    public PerDirection<long> Datagrams;
    public PerDirection<long> Bytes;
    public List<LadderStep> Ladder { get; } = [];

    public void Process(in DecodedPacket p, RdpeudpDatagram? datagram)
    {
        var at = new FrameRef(p.Packet.Frame, p.Packet.TimestampTicks);
        bool fromClient = p.Source == Client.Address && p.SourcePort == Client.Port;
        int d = fromClient ? 0 : 1;
        Datagrams[d]++;
        Bytes[d] += p.PayloadWireLength;
        LastTicks = at.Ticks;
        if (datagram is not { } g)
        {
            return;
        }
        if (fromClient && g.IsSyn)
        {
            SynCount++;
            ClientSyn ??= g;
            if (Syns.Count < MaxSynsRemembered)
            {
                Syns.Add(at);
            }
            AddStep(at, "c2s", SynCount == 1
                ? $"RDP-UDP SYN ({(g.IsLossy ? "lossy" : "reliable")}, MTU {g.UpStreamMtu}/{g.DownStreamMtu}" + (g.UdpVersion is { } v ? $", {RdpeudpDatagram.VersionName(v)})" : ")")
                : $"RDP-UDP SYN (retransmission #{SynCount - 1})");
        }
        else if (!fromClient && g.IsSynAck && SynAck is null)
        {
            SynAck = at;
            ServerSynAck = g;
            AddStep(at, "s2c", $"RDP-UDP SYN+ACK (MTU {g.UpStreamMtu}/{g.DownStreamMtu}" + (g.UdpVersion is { } v ? $", {RdpeudpDatagram.VersionName(v)})" : ")"));
        }
        else if (fromClient && SynAck is not null && Established is null && (g.Flags & RdpudpFlags.Ack) != 0
            && (g.Flags & RdpudpFlags.Syn) == 0 && ServerSynAck?.InitialSequenceNumber == g.SnSourceAck)
        {
            // MS-RDPEUDP 3.1.5.1.3: the client's ACK of the SYN+ACK's sequence number.
            Established = at;
            AddStep(at, "c2s", "RDP-UDP ACK: connection established" + ((g.Flags & RdpudpFlags.Data) != 0 ? " (carries data)" : ""));
        }
    }

    private void AddStep(FrameRef at, string direction, string message)
    {
        if (Ladder.Count < MaxLadderSteps)
        {
            Ladder.Add(new LadderStep
            {
                Frame = at.Frame,
                Ticks = at.Ticks,
                Offset = Math.Round((at.Ticks - FirstPacket.Ticks) / (double)TimeSpan.TicksPerSecond, 6),
                Direction = direction,
                Message = message,
            });
        }
    }
}
