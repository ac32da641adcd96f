using RdpWire.Capture;
using RdpWire.Capture.Decoding;
using RdpWire.Capture.Tcp;
using Xunit;

namespace RdpWire.Tests.Capture;

/// <summary>Flow-table behaviour with hand-made decoded segments: roles, port reuse, idle expiry, the cap.</summary>
public class TcpFlowTableTests
{
    private static readonly NetAddress Client = new(0, 0x0A000002, false);
    private static readonly NetAddress Server = new(0, 0x0A000001, false);

    private static DecodedPacket Segment(long frame, double seconds, bool fromClient, TcpFlags flags, uint seq,
        ushort clientPort = 50000, byte[]? payload = null)
    {
        payload ??= [];
        long ticks = TicksAt(seconds);
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
        var (a, _) = table.Lookup(Segment(1, 0, true, TcpFlags.Syn, 100))!.Value;
        a.Process(Segment(1, 0, true, TcpFlags.Syn, 100));
        var (b, _) = table.Lookup(Segment(2, 1, true, TcpFlags.Syn, 100))!.Value;
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
        var (a, _) = table.Lookup(first)!.Value;
        a.Process(first);
        var (b, _) = table.Lookup(Segment(2, 5, true, TcpFlags.Syn, 900_000))!.Value;
        Assert.NotSame(a, b);
        Assert.Equal(["1:Reused"], ended);
        Assert.Equal(2, b.Id);
    }

    [Fact]
    public void HandMade_MidStreamServerSegment_RolesFromThePort()
    {
        var table = Table([]);
        var (c, _) = table.Lookup(Segment(1, 0, false, TcpFlags.Ack | TcpFlags.Psh, 5, payload: [1, 2, 3]))!.Value;
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

    [Fact]
    public void HandMade_ClosedConnection_FinishedAfterLinger_StragglersCountedNotANewConnection()
    {
        var ended = new List<string>();
        var table = Table(ended);
        var c = RefusedConnection(table);
        Assert.True(c.IsClosed);
        table.MarkClosed(c);

        table.Advance(TicksAt(1.5));
        Assert.Empty(ended); // still lingering: 1.5 s < 2 s
        table.Advance(TicksAt(2.5));
        Assert.Equal(["1:Closed"], ended);

        // A late ACK of the finished connection is not a new (mid-stream) connection ...
        Assert.Null(table.Lookup(Segment(3, 3, true, TcpFlags.Ack, 101)));
        Assert.Equal(1, table.LateSegments);
        Assert.Equal(0, table.Count);
        // ... but a new SYN on the same ports is.
        Assert.NotNull(table.Lookup(Segment(4, 4, true, TcpFlags.Syn, 5000)));
        Assert.Equal(1, table.Count);
    }

    [Fact]
    public void HandMade_PacketsDuringLinger_KeepTheConnection()
    {
        var ended = new List<string>();
        var table = Table(ended);
        var c = RefusedConnection(table);
        table.MarkClosed(c);
        // A segment of the client 1.9 s later: the same connection, and the linger starts over.
        Assert.Same(c, table.Lookup(Segment(3, 1.9, true, TcpFlags.Ack, 101))!.Value.Connection);
        table.Advance(TicksAt(3.0));
        Assert.Empty(ended);
        table.Advance(TicksAt(4.0));
        Assert.Equal(["1:Closed"], ended);
    }

    /// <summary>
    /// The table's index under churn: thousands of flows opened, found again and replaced (a new SYN
    /// with another ISN on a tracked 4-tuple ends the old connection), so that the index grows many
    /// times and removals shift long probe runs. Checked against a plain model after every step.
    /// </summary>
    [Fact]
    public void HandMade_ThousandsOfFlowsComingAndGoing_EachPacketFindsItsOwnConnection()
    {
        var ended = new List<string>();
        var table = Table(ended);
        var model = new Dictionary<ushort, long>();
        var random = new Random(8);
        long frame = 0;
        uint isn = 1;
        for (int step = 0; step < 40_000; step++)
        {
            ushort port = (ushort)random.Next(1024, 1024 + 3000);
            double at = step * 0.001;
            if (model.TryGetValue(port, out long id) && random.Next(4) != 0)
            {
                // A packet of a tracked flow, either way: its own connection.
                bool fromClient = random.Next(2) == 0;
                var (c, _) = table.Lookup(Segment(++frame, at, fromClient, TcpFlags.Ack, 7, clientPort: port))!.Value;
                Assert.Equal(id, c.Id);
                continue;
            }
            // A SYN: a new flow, or a new connection on a tracked 4-tuple that ends the old one.
            var syn = Segment(++frame, at, true, TcpFlags.Syn, ++isn, clientPort: port);
            var (created, _) = table.Lookup(syn)!.Value;
            created.Process(syn);
            if (model.TryGetValue(port, out long replaced))
            {
                Assert.Equal($"{replaced}:Reused", ended[^1]);
            }
            Assert.NotEqual(replaced, created.Id);
            model[port] = created.Id;
            Assert.Equal(model.Count, table.Count);
        }
        Assert.Equal(3000, table.Count);
        foreach (var (port, id) in model)
        {
            Assert.Equal(id, table.Find(new Endpoint(Client, port), new Endpoint(Server, 3389))!.Value.Connection.Id);
        }

        int before = ended.Count;
        table.Flush();
        // The capture's end finishes every open connection once, in the order they began.
        Assert.Equal(model.Values.Order().Select(id => $"{id}:CaptureEnd"), ended.Skip(before));
        Assert.Equal(0, table.Count);
    }

    /// <summary>A SYN answered by RST 1 ms later, both through the table and the connection.</summary>
    private static TcpConnection RefusedConnection(TcpFlowTable<List<string>> table)
    {
        var (c, _) = table.Lookup(Segment(1, 0, true, TcpFlags.Syn, 100))!.Value;
        c.Process(Segment(1, 0, true, TcpFlags.Syn, 100));
        table.Lookup(Segment(2, 0.001, false, TcpFlags.Rst | TcpFlags.Ack, 0));
        c.Process(Segment(2, 0.001, false, TcpFlags.Rst | TcpFlags.Ack, 0));
        return c;
    }

    private static long TicksAt(double seconds) =>
        new DateTime(2026, 11, 22, 0, 0, 0, DateTimeKind.Utc).Ticks + (long)(seconds * TimeSpan.TicksPerSecond);
}
