using System.Globalization;
using RdpWire.Analyzer.NetworkPath;
using RdpWire.Analyzer.Report;
using RdpWire.Capture.Tcp;

namespace RdpWire.Analyzer.Connections;

/// <summary>
/// The network path under the handshake: PMTU black holes seen from either end (RFC 2923,
/// RFC 4821), ICMP "fragmentation needed"/"packet too big" (RFC 1191, RFC 8201), offload-sized
/// frames, loss, zero windows and round-trip time.
/// </summary>
public static partial class VerdictEngine
{
    /// <summary>Below this an IP packet is never "large" (RFC 791's minimum reassembly size).</summary>
    private const int MinimumLargePacket = 576;
    private const double HighRttMilliseconds = 300;

    // The directions in the order the checks take them, allocated once: every connection's verdict walks them.
    private static readonly TcpDirection[] ServerThenClient = [TcpDirection.ServerToClient, TcpDirection.ClientToServer];
    private static readonly TcpDirection[] ClientThenServer = [TcpDirection.ClientToServer, TcpDirection.ServerToClient];

    private sealed record BlackHole(TcpDirection Direction, FrameRef At, int MtuLow, int MtuHigh, string Evidence, List<long> Frames);

    private static BlackHole? DetectBlackHole(Context ctx)
    {
        var s = ctx.S;
        foreach (var dir in ServerThenClient)
        {
            var d = s.Path.Of(dir);
            var peerMss = s.Path.Of(dir == TcpDirection.ServerToClient ? TcpDirection.ClientToServer : TcpDirection.ServerToClient).AdvertisedMss;
            string sender = Side(dir), receiver = Side(dir == TcpDirection.ServerToClient ? TcpDirection.ClientToServer : TcpDirection.ServerToClient);
            IReadOnlyList<(FrameRef At, uint Mtu, Capture.Decoding.NetAddress From, TcpDirection QuotedDirection)> icmp =
                s.Path.TooBig.Count == 0 ? [] : s.Path.TooBig.Where(t => t.QuotedDirection == dir).ToList();

            // Seen from the sender: large segments retransmitted again and again, never
            // acknowledged, while smaller segments of the same direction were. (Most connections
            // retransmit nothing twice: they skip the query.)
            IReadOnlyList<PathObservations.Segment> lost = !RetransmittedTwice(d.Outstanding) ? [] : d.Outstanding
                .Where(x => x.Retransmits >= 2 && x.IpLength > Math.Max(d.LargestIpAcked, MinimumLargePacket) && x.IpLength <= PathObservations.EthernetMtu * 64)
                .OrderBy(x => x.At.Frame)
                .ToList();
            if (lost.Count > 0 && (d.AckedSegments > 0 || s.Packets[1 - (int)dir] > 0))
            {
                int smallestLost = lost.Min(x => x.IpLength);
                int low = Math.Max(d.LargestIpAcked, 68);
                // With segmentation offload a captured "segment" is a super-frame; on the wire the
                // packets are at most the receiver's MSS plus headers, and it is those that were lost.
                int headers = s.Connection.Server.Address.IsIPv6 ? 60 : 40;
                int onWire = peerMss is ushort pm ? Math.Min(smallestLost, pm + headers) : smallestLost;
                int high = Math.Max(low, onWire - 1);
                if (icmp.Count > 0)
                {
                    low = high = (int)icmp.Min(t => t.Mtu);
                }
                var first = lost[0];
                string icmpNote = icmp.Count > 0
                    ? $" An ICMP 'fragmentation needed' (next-hop MTU {icmp[0].Mtu}, frame {F(icmp[0].At)}) reached the capture, yet the {sender} kept sending large segments: something after the capture point drops the ICMP, or the {sender} ignores it."
                    : " No ICMP 'fragmentation needed' / 'packet too big' reached the capture: a router on the path drops large packets and its ICMP is filtered.";
                var receiverDir = dir == TcpDirection.ServerToClient ? TcpDirection.ClientToServer : TcpDirection.ServerToClient;
                var stillPassing = d.EarlyPackets.Where(x => x.Frame > first.At.Frame && x.Data && x.IpLength < smallestLost).Select(x => x.Frame).Take(3)
                    .Concat(s.Path.Of(receiverDir).EarlyPackets.Where(x => x.Frame > first.At.Frame).Select(x => x.Frame).Take(3));
                return new BlackHole(dir, first.At, low, high,
                    $"Seen from the {sender}: {lost.Count} segment(s) of {smallestLost}–{lost.Max(x => x.IpLength)} bytes (IP length) were sent and retransmitted up to {lost.Max(x => x.Retransmits)} times (first in frame {F(first.At)}) and never acknowledged, while the {receiver} acknowledged smaller ones (up to {d.LargestIpAcked} bytes)"
                    + (first.DontFragment ? " and the large ones carry DF (don't fragment)." : ".") + icmpNote,
                    [.. lost.Take(8).Select(x => x.At.Frame), .. lost.Take(4).SelectMany(x => d.Outstanding.RetransmitFramesOf(x)), .. stillPassing, .. icmp.Select(t => t.At.Frame)]);
            }

            // Seen from the receiver: the sender's own sequence numbers (in ACKs, keep-alives,
            // window updates) prove it sent bytes that never arrived, and nothing large arrived.
            var stream = s.Connection.Stream(dir);
            // Data that arrives after the first jump means the capture, not the path, missed
            // bytes (e.g. tcpdump drops): only a sender that never gets data through qualifies.
            if (d.SequenceJumps > 0 && d.FirstSequenceJump is { } jumpAt && d.LargestIpSent < PathObservations.EthernetMtu
                && d.OffloadFrames == 0 && (s.LastPayload[(int)dir] is not { } lastData || lastData.Frame < jumpAt.Frame))
            {
                int low = Math.Max(d.LargestIpSent, 68);
                int high = peerMss is ushort mss ? mss + (s.Connection.Server.Address.IsIPv6 ? 60 : 40) : PathObservations.EthernetMtu;
                if (icmp.Count > 0)
                {
                    low = high = (int)icmp.Min(t => t.Mtu);
                }
                var waiting = dir == TcpDirection.ServerToClient ? s.TrailingRetransmissionFrames[C2S] : s.TrailingRetransmissionFrames[S2C];
                return new BlackHole(dir, jumpAt, low, Math.Max(low, high),
                    $"Seen from the {receiver}: the {sender}'s segments carry sequence numbers up to {d.LargestSequenceJump} bytes beyond what arrived (first in frame {F(jumpAt)}, {d.SequenceJumps} such segment(s)): it sent data that never reached the {receiver}, while its small packets (at most {d.LargestIpSent} bytes) did. The {receiver} advertised MSS {peerMss?.ToString(CultureInfo.InvariantCulture) ?? "?"}, so the {sender} sends packets up to {high} bytes."
                    + (waiting.Count > 0 ? $" The {receiver} meanwhile retransmits its own request ({waiting.Count} time(s)): the {sender} never answered it with data that got through." : ""),
                    [jumpAt.Frame, .. waiting.Take(6), .. s.Path.Of(dir == TcpDirection.ServerToClient ? TcpDirection.ClientToServer : TcpDirection.ServerToClient).EarlyPackets.Where(x => x.Frame > jumpAt.Frame).Select(x => x.Frame).Take(2)]);
            }
        }
        return null;
    }

    private static bool RetransmittedTwice(PathObservations.OutstandingSegments outstanding)
    {
        for (int i = 0; i < outstanding.Count; i++)
        {
            if (outstanding[i].Retransmits >= 2)
            {
                return true;
            }
        }
        return false;
    }

    private static Finding? PathFindings(Context ctx, Finding? verdict)
    {
        var s = ctx.S;
        bool failed = verdict is not null && verdict.Code is not ("ok" or "incomplete");
        var blackHole = DetectBlackHole(ctx);
        Finding? newVerdict = null;
        if (blackHole is { } bh)
        {
            string range = bh.MtuLow == bh.MtuHigh ? $"{bh.MtuLow} bytes" : $"between {bh.MtuLow} and {bh.MtuHigh} bytes";
            newVerdict = Make(ctx, "path.mtu-blackhole", bh.At,
                $"Path MTU black hole: large packets from the {Side(bh.Direction)} are lost while small ones pass (path MTU {range})",
                $"{bh.Evidence} Estimated path MTU: {range}. The handshake stalls at the first message too large for the path (here in the {ctx.Report.PhaseReached} phase): usually the server's TLS certificate flight.",
                bh.Frames.Concat(Frames(s.ClientHello, s.FirstX224Data[C2S])), phase: ctx.Report.PhaseReached,
                fix:
                [
                    "Let ICMP type 3 code 4 (IPv4 'fragmentation needed') and ICMPv6 type 2 ('packet too big') through every firewall between client and server; PMTU discovery depends on them (RFC 1191, RFC 8201).",
                    bh.MtuLow == bh.MtuHigh
                        ? $"Or clamp the TCP MSS on the router or VPN gateway in front of the smaller link: Linux `iptables -t mangle -A FORWARD -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss {bh.MtuLow - 40}` (or `--clamp-mss-to-pmtu`); Cisco `ip tcp adjust-mss {bh.MtuLow - 40}`."
                        : "Or clamp the TCP MSS on the router or VPN gateway in front of the smaller link: Linux `iptables -t mangle -A FORWARD -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu`; Cisco `ip tcp adjust-mss <path MTU - 40>`.",
                    $"To find the path MTU (the capture bounds it {range}): from the sender, `ping -f -l <size> <peer>` (Windows) or `ping -M do -s <size> <peer>` (Linux), where size + 28 is the packet size; then, as a workaround, set the sender's MTU to it (`netsh interface ipv4 set subinterface \"<interface>\" mtu=<pmtu> store=persistent`, `ip link set dev <if> mtu <pmtu>`) or enable black-hole detection (Windows `EnablePMTUBHDetect`=1 under `HKLM\\SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters`; Linux `sysctl net.ipv4.tcp_mtu_probing=1`).",
                ]);
            ctx.Report.Path = new PathReport { MtuLow = bh.MtuLow, MtuHigh = bh.MtuHigh, Direction = Side(bh.Direction) };
        }

        if (blackHole is null && s.Path.TooBig.Count == 0)
        {
            foreach (var dir in ServerThenClient)
            {
                var d = s.Path.Of(dir);
                var peerMss = s.Path.Of(dir == TcpDirection.ServerToClient ? TcpDirection.ClientToServer : TcpDirection.ServerToClient).AdvertisedMss;
                int headers = s.Connection.Server.Address.IsIPv6 ? 60 : 40;
                // Bytes lost in a hole, then every later segment smaller than the MSS allows: the
                // sender lowered its path MTU (an ICMP this capture did not see) and re-segmented.
                if (d.FirstSequenceJump is { } jump && peerMss is ushort pm && d.DataSegmentsAfterJump >= 3
                    && d.LargestIpAfterJump > MinimumLargePacket && d.LargestIpAfterJump < pm + headers && d.OffloadFrames == 0)
                {
                    ctx.Report.Path = new PathReport { MtuLow = d.LargestIpAfterJump, MtuHigh = pm + headers - 1, Direction = Side(dir) };
                    ctx.Report.Findings.Add(Make(ctx, "path.mtu-reduced", jump,
                        $"The {Side(dir)} lost its first large packets, then sent nothing larger than {d.LargestIpAfterJump} bytes: it lowered its path MTU and recovered",
                        $"Frame {F(jump)} arrived beyond a hole of {d.LargestSequenceJump} bytes; afterwards {d.DataSegmentsAfterJump} data segments arrived, none larger than {d.LargestIpAfterJump} bytes although the MSS allows {pm + headers}. Path MTU between {d.LargestIpAfterJump} and {pm + headers - 1} bytes; PMTU discovery worked (its ICMP is not in this capture).",
                        [jump.Frame], severity: "info"));
                    break;
                }
            }
        }

        foreach (var t in s.Path.TooBig)
        {
            var d = s.Path.Of(t.QuotedDirection);
            bool recovered = blackHole is null && d.AckedSegments > 0;
            ctx.Report.Findings.Add(Make(ctx, "path.icmp-frag-needed", t.At,
                $"{t.From} reported a smaller path MTU ({t.Mtu} bytes) for the {Side(t.QuotedDirection)}'s packets" + (recovered ? "; the sender adapted and the connection went on" : ""),
                $"Frame {F(t.At)}: ICMP 'fragmentation needed' / 'packet too big' from {t.From}, next-hop MTU {t.Mtu}, quoting a {Side(t.QuotedDirection)} packet of this connection."
                + (recovered ? " Segments sent afterwards were acknowledged: path MTU discovery worked (RFC 1191)." : ""),
                [t.At.Frame], severity: recovered ? "info" : "warning"));
            ctx.Report.Path ??= new PathReport { MtuLow = (int)t.Mtu, MtuHigh = (int)t.Mtu, Direction = Side(t.QuotedDirection) };
            ctx.Report.Path.IcmpNextHopMtu ??= (int)t.Mtu;
        }

        foreach (var dir in ClientThenServer)
        {
            var d = s.Path.Of(dir);
            if (d.OffloadFrames > 0)
            {
                ctx.Report.Findings.Add(Make(ctx, "capture.offload-artifacts", null,
                    $"{d.OffloadFrames} {Side(dir)} frame(s) larger than the {PathObservations.EthernetMtu}-byte MTU (up to {d.LargestOffloadFrame} bytes): segmentation offload on the capturing host, not jumbo frames",
                    $"The capture was taken on the {Side(dir)} itself with TSO/GSO (or GRO) on: the kernel hands tcpdump super-segments that the NIC splits into MSS-sized packets ({d.AdvertisedMss?.ToString(CultureInfo.InvariantCulture) ?? "?"} bytes or less) on the wire. Sizes in this capture are not packet sizes on the path; to see those, capture with `ethtool -K <if> tso off gso off gro off` or on another host.",
                    [], severity: "info"));
            }
            if (d.FirstZeroWindow is { } zw)
            {
                ctx.Report.Findings.Add(Make(ctx, "path.zero-window", zw,
                    $"The {Side(dir)} advertised a zero receive window {d.ZeroWindows} time(s): it stopped reading",
                    $"First zero window in frame {F(zw)}: the {Side(dir)}'s application did not read its socket, so the other side had to stop sending.",
                    [zw.Frame], severity: failed ? "warning" : "info"));
            }
        }

        var c2s = s.Path.Of(TcpDirection.ClientToServer);
        var s2c = s.Path.Of(TcpDirection.ServerToClient);
        long data = c2s.DataSegments + s2c.DataSegments;
        // Loss shows as retransmissions at the sender's vantage, and as segments arriving
        // ahead of a hole (plus duplicate ACKs) at the receiver's.
        long lossC2s = c2s.Retransmissions + c2s.OutOfOrder, lossS2c = s2c.Retransmissions + s2c.OutOfOrder;
        long loss = lossC2s + lossS2c;
        if (loss >= 3 && loss * 50 >= data)
        {
            var worst = lossS2c >= lossC2s ? TcpDirection.ServerToClient : TcpDirection.ClientToServer;
            long dupAcks = c2s.DuplicateAcks + s2c.DuplicateAcks;
            ctx.Report.Findings.Add(Make(ctx, "path.retransmissions", null,
                $"Packet loss: {loss} of {data} data segments were retransmitted or arrived after a hole ({100.0 * loss / Math.Max(1, data):0.#} %), most from the {Side(worst)}",
                $"Client data: {c2s.Retransmissions} retransmitted, {c2s.OutOfOrder} arrived out of order, of {c2s.DataSegments}; server data: {s2c.Retransmissions} retransmitted, {s2c.OutOfOrder} arrived out of order, of {s2c.DataSegments}; {dupAcks} duplicate ACKs. Loss on the path slows the handshake (each loss costs a retransmission, often a timeout) and can make clients give up.",
                [], severity: failed ? "warning" : "info"));
        }
        if (ctx.Report.Tcp?.HandshakeRttMicroseconds is long rttUs && rttUs / 1000.0 >= HighRttMilliseconds)
        {
            ctx.Report.Findings.Add(Make(ctx, "path.high-rtt", s.HandshakeAck,
                $"High round-trip time: {rttUs / 1000.0:0} ms from SYN to the handshake's ACK",
                $"The TCP handshake took {rttUs / 1000.0:0.0} ms (last SYN frame {F(s.ClientSyns[^1])} to ACK frame {F(s.HandshakeAck!.Value)}). Every step of the RDP connection sequence costs at least one round trip.",
                Frames(s.ClientSyns[^1], s.HandshakeAck), severity: failed ? "warning" : "info"));
        }
        return newVerdict;
    }
}
