using RdpWire.Analyzer.Connections;
using RdpWire.Analyzer.NetworkPath;
using RdpWire.Capture;
using RdpWire.Capture.Decoding;
using RdpWire.Capture.Tcp;
using Xunit;

namespace RdpWire.Tests.Analyzer;

/// <summary>
/// Unacknowledged-segment bookkeeping (what the MTU black-hole verdict rests on) against a plain
/// model of it: every segment whose end an ACK covers is acknowledged, wherever it stands in the list.
/// Hand-made segment streams with large windows, cumulative ACKs, retransmissions and segments sent
/// out of sequence order.
/// </summary>
public class PathObservationsTests
{
    private static readonly Endpoint Client = new(NetAddress.FromIPv4([10, 0, 0, 2]), 50000);
    private static readonly Endpoint Server = new(NetAddress.FromIPv4([10, 0, 0, 1]), 3389);

    [Theory]
    [InlineData(1, 0.0)]
    [InlineData(2, 0.02)]
    [InlineData(3, 0.2)]
    [InlineData(4, 0.5)]
    public void AcknowledgedSegments_MatchTheModel(int seed, double outOfOrderShare)
    {
        var random = new Random(seed);
        var connection = new TcpConnection(1, Client, Server, openedBySyn: false, new ReassemblyBudget(1 << 20), 1 << 20);
        var path = new PathObservations();
        var model = new List<(uint Seq, uint End, int IpLength)>();
        long modelAcked = 0;
        int modelLargestAcked = 0;
        uint next = 0xFFFF_0000; // sequence numbers wrap during the run
        uint acked = next;
        long frame = 0;
        for (int step = 0; step < 20_000; step++)
        {
            if (random.NextDouble() < 0.7)
            {
                // The server sends: mostly the next bytes, sometimes a segment from behind (out of order).
                int length = random.Next(1, 1461);
                uint seq = next;
                var disposition = SegmentDisposition.InOrder;
                if (random.NextDouble() < outOfOrderShare && next - acked > 3000)
                {
                    seq = acked + (uint)random.Next(0, (int)(next - acked - length));
                    disposition = model.Any(m => m.Seq == seq) ? SegmentDisposition.Retransmission : SegmentDisposition.InOrder;
                }
                else
                {
                    next += (uint)length;
                }
                path.OnSegment(Packet(fromServer: true, seq, 0, 40 + length, length), Info(TcpDirection.ServerToClient, disposition, length),
                    connection, new FrameRef(++frame, frame));
                if (disposition == SegmentDisposition.InOrder)
                {
                    if (model.Count >= PathObservations.MaxOutstanding)
                    {
                        model.RemoveAt(0);
                    }
                    model.Add((seq, seq + (uint)length, 40 + length));
                }
            }
            else
            {
                // The client acknowledges part of what was sent (cumulative), sometimes nothing new.
                acked += (uint)random.Next(0, (int)(next - acked) + 1);
                path.OnSegment(Packet(fromServer: false, 1, acked, 40, 0), Info(TcpDirection.ClientToServer, SegmentDisposition.NoPayload, 0),
                    connection, new FrameRef(++frame, frame));
                foreach (var m in model.Where(m => (int)(acked - m.End) >= 0).ToList())
                {
                    modelAcked++;
                    modelLargestAcked = Math.Max(modelLargestAcked, m.IpLength);
                    model.Remove(m);
                }
            }
            var server = path.Of(TcpDirection.ServerToClient);
            Assert.Equal(modelAcked, server.AckedSegments);
            Assert.Equal(modelLargestAcked, server.LargestIpAcked);
            Assert.Equal(model.Select(m => m.Seq), server.Outstanding.Select(s => s.Seq));
        }
        Assert.True(modelAcked > 1000, $"only {modelAcked} segments acknowledged: the stream does not test much");
    }

    private static TcpSegmentInfo Info(TcpDirection direction, SegmentDisposition disposition, int payload) =>
        new(direction, payload > 0 ? TcpFlags.Ack | TcpFlags.Psh : TcpFlags.Ack, disposition, payload, IsKeepAlive: false, AcknowledgesUnseenBytes: false);

    private static DecodedPacket Packet(bool fromServer, uint seq, uint ack, int ipLength, int payload) => new()
    {
        IpVersion = 4,
        Transport = TransportKind.Tcp,
        Source = (fromServer ? Server : Client).Address,
        Destination = (fromServer ? Client : Server).Address,
        SourcePort = (fromServer ? Server : Client).Port,
        DestinationPort = (fromServer ? Client : Server).Port,
        IpTotalLength = ipLength,
        Sequence = seq,
        Acknowledgment = ack,
        TcpFlags = payload > 0 ? TcpFlags.Ack | TcpFlags.Psh : TcpFlags.Ack,
        Window = 65535,
        PayloadWireLength = payload,
    };
}
