using System.Buffers.Binary;
using RdpWire.Analyzer;
using RdpWire.Capture.Files;
using RdpWire.Tests.Support;
using Xunit;

namespace RdpWire.Tests.Analyzer;

/// <summary>
/// TCP health findings on hand-made packets (boundary cases the lab cannot force: a slow path
/// and a receiver that stops reading). Recorded fixtures cover loss, MTU and fragments.
/// </summary>
public class TcpHealthTests
{
    private const uint ClientIsn = 1000, ServerIsn = 5000;

    /// <summary>Raw-IPv4 pcap of TCP segments between 10.0.0.2:50000 and 10.0.0.1:3389.</summary>
    private sealed class HandMadeCapture
    {
        private readonly HandMadeRawIpPcap _pcap = new();

        public void Add(double seconds, bool fromClient, byte flags, uint seq, uint ack, ushort window, byte[]? payload = null)
        {
            payload ??= [];
            int ipLength = 20 + 20 + payload.Length;
            var p = new byte[ipLength];
            p[0] = 0x45;
            BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(2), (ushort)ipLength);
            p[6] = 0x40;
            p[8] = 64;
            p[9] = 6;
            byte[] client = [10, 0, 0, 2], server = [10, 0, 0, 1];
            (fromClient ? client : server).CopyTo(p, 12);
            (fromClient ? server : client).CopyTo(p, 16);
            BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(20), fromClient ? (ushort)50000 : (ushort)3389);
            BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(22), fromClient ? (ushort)3389 : (ushort)50000);
            BinaryPrimitives.WriteUInt32BigEndian(p.AsSpan(24), seq);
            BinaryPrimitives.WriteUInt32BigEndian(p.AsSpan(28), ack);
            p[32] = 0x50;
            p[33] = flags;
            BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(34), window);
            payload.CopyTo(p, 40);
            _pcap.Add((long)(seconds * 1_000_000), p);
        }

        public RdpWire.Analyzer.Report.ConnectionReport AnalyzeSingle()
        {
            using var source = CaptureFile.Open(new MemoryStream(_pcap.ToArray()), "hand-made");
            return Assert.Single(CaptureAnalyzer.Analyze(source).Connections);
        }
    }

    private const byte Syn = 0x02, Ack = 0x10, SynAck = 0x12, PshAck = 0x18, FinAck = 0x11;

    [Fact]
    public void HandMade_SlowHandshake_HighRttReported()
    {
        var c = new HandMadeCapture();
        c.Add(0.0, true, Syn, ClientIsn, 0, 64240);
        c.Add(0.45, false, SynAck, ServerIsn, ClientIsn + 1, 65160);
        c.Add(0.90, true, Ack, ClientIsn + 1, ServerIsn + 1, 64240);
        c.Add(10.0, true, FinAck, ClientIsn + 1, ServerIsn + 1, 64240);
        var report = c.AnalyzeSingle();
        Assert.Equal(900_000, report.Tcp!.HandshakeRttMicroseconds);
        var rtt = Assert.Single(report.Findings, f => f.Code == "path.high-rtt");
        Assert.Equal(3, rtt.Frame);
    }

    [Fact]
    public void HandMade_ServerStopsReading_ZeroWindowReported()
    {
        var c = new HandMadeCapture();
        c.Add(0.0, true, Syn, ClientIsn, 0, 64240);
        c.Add(0.001, false, SynAck, ServerIsn, ClientIsn + 1, 65160);
        c.Add(0.002, true, Ack, ClientIsn + 1, ServerIsn + 1, 64240);
        c.Add(0.003, true, PshAck, ClientIsn + 1, ServerIsn + 1, 64240, new byte[100]);
        c.Add(0.004, false, Ack, ServerIsn + 1, ClientIsn + 101, 0);
        c.Add(0.5, false, Ack, ServerIsn + 1, ClientIsn + 101, 0);
        var report = c.AnalyzeSingle();
        Assert.Equal(2, report.Tcp!.ZeroWindows);
        var zero = Assert.Single(report.Findings, f => f.Code == "path.zero-window");
        Assert.Equal(5, zero.Frame);
        Assert.Contains("server", zero.Summary, StringComparison.Ordinal);
    }
}
