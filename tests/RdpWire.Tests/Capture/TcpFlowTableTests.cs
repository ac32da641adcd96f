using RdpWire.Capture;
using RdpWire.Capture.Decoding;
using RdpWire.Capture.Tcp;
using Xunit;

namespace RdpWire.Tests.Capture;

/// <summary>Flow-table behaviour with hand-made decoded segments: roles, port reuse, idle expiry, the cap.</summary>
public class TcpFlowTableTests
{
    private static readonly NetAddress Client = new(0x0A000002, false);
    private static readonly NetAddress Server = new(0x0A000001, false);

    private static DecodedPacket Segment(long frame, double seconds, bool fromClient, TcpFlags flags, uint seq,
        ushort clientPort = 50000, byte[]? payload = null)
    {
        payload ??= [];
        long ticks = new DateTime(2026, 11, 22, 0, 0, 0, DateTimeKind.Utc).Ticks + (long)(seconds * TimeSpan.TicksPerSecond);
        return new DecodedPacket
        {
            Packet = new CapturedPacket(frame, ticks, LinkType.Raw, 0, 40 + payload.Length, new byte[40 + payload.Length]),
            Transport = TransportKind.Tcp,
            IpVersion = 4,
            Source = fromClient ? Client : Server,
            Destination = fromClient ? Server : Client,
            SourcePort = fromClient ? clientPort : (ushort)3389,
            DestinationPort = fromClient ? (ushort)3389 : clientPort,
            TcpFlags = flags,
            Sequence = seq,
            Payload = payload,
            PayloadWireLength = payload.Length,
        };
    }

    private static TcpFlowTable<List<string>> Table(List<string> ended, FlowTableLimits? limits = null) =>
        new(limits ?? FlowTableLimits.Default, _ => [], (c, _, reason) => ended.Add($"{c.Id}:{reason}"));

    [Fact]
    public void HandMade_SynSender_IsTheClient_AndRetransmittedSynIsTheSameConnection()
    {
        var table = Table([]);
        var (a, _) = table.Lookup(Segment(1, 0, true, TcpFlags.Syn, 100));
        a.Process(Segment(1, 0, true, TcpFlags.Syn, 100));
        var (b, _) = table.Lookup(Segment(2, 1, true, TcpFlags.Syn, 100));
        Assert.Same(a, b);
        Assert.Equal(50000, a.Client.Port);
        Assert.Equal(3389, a.Server.Port);
    }

    [Fact]
    public void HandMade_NewSynWithOtherIsnOnSameTuple_StartsANewConnection()
    {
        var ended = new List<string>();
        var table = Table(ended);
        var first = Segment(1, 0, true, TcpFlags.Syn, 100);
        var (a, _) = table.Lookup(first);
        a.Process(first);
        var (b, _) = table.Lookup(Segment(2, 5, true, TcpFlags.Syn, 900_000));
        Assert.NotSame(a, b);
        Assert.Equal(["1:Reused"], ended);
        Assert.Equal(2, b.Id);
    }

    [Fact]
    public void HandMade_MidStreamServerSegment_RolesFromThePort()
    {
        var table = Table([]);
        var (c, _) = table.Lookup(Segment(1, 0, false, TcpFlags.Ack | TcpFlags.Psh, 5, payload: [1, 2, 3]));
        Assert.False(c.OpenedBySyn);
        Assert.Equal(3389, c.Server.Port);
    }

    [Fact]
    public void HandMade_IdleConnection_EndsWithIdleTimeout()
    {
        var ended = new List<string>();
        var table = Table(ended, new FlowTableLimits { IdleTimeout = TimeSpan.FromSeconds(60) });
        table.Lookup(Segment(1, 0, true, TcpFlags.Syn, 100, clientPort: 1000));
        table.Lookup(Segment(2, 200, true, TcpFlags.Syn, 100, clientPort: 2000));
        Assert.Equal(["1:IdleTimeout"], ended);
        Assert.Equal(1, table.Count);
    }

    [Fact]
    public void HandMade_OverTheConnectionCap_LeastRecentlyActiveIsEvicted()
    {
        var ended = new List<string>();
        var table = Table(ended, new FlowTableLimits { MaxConnections = 2 });
        table.Lookup(Segment(1, 0, true, TcpFlags.Syn, 1, clientPort: 1000));
        table.Lookup(Segment(2, 1, true, TcpFlags.Syn, 1, clientPort: 2000));
        table.Lookup(Segment(3, 2, true, TcpFlags.Syn, 1, clientPort: 1000 + 0)); // same as #1: refreshes it
        table.Lookup(Segment(4, 3, true, TcpFlags.Syn, 1, clientPort: 3000));
        Assert.Equal(["2:Evicted"], ended);
        Assert.Equal(1, table.Evictions);
    }
}
