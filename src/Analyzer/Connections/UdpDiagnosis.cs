using System.Globalization;
using RdpWire.Analyzer.Report;
using RdpWire.RdpParser.Rdpeudp;

namespace RdpWire.Analyzer.Connections;

/// <summary>The RDP-UDP side channel (MS-RDPEUDP 3.1.5.1): SYN, SYN+ACK, ACK.</summary>
public static partial class VerdictEngine
{
    public static ConnectionReport DecideUdp(UdpConnectionState u, long captureEndTicks)
    {
        var report = new ConnectionReport
        {
            Id = u.Id,
            Transport = "udp",
            Client = new EndpointReport { Ip = u.Client.Address.ToString(), Port = u.Client.Port },
            Server = new EndpointReport { Ip = u.Server.Address.ToString(), Port = u.Server.Port },
            First = ReportTime.Format(u.FirstPacket.Ticks),
            Last = ReportTime.Format(u.LastTicks),
            Verdict = new Verdict { Code = "incomplete", Summary = "" },
            Ladder = u.Ladder,
            PhaseReached = u.Established is not null ? Phases.RdpeudpEstablished : Phases.RdpeudpSyn,
            // UDP has no close: the flow ends by the peers' keep-alive timeout (65 s, 3.1.6) or the capture's end.
            CloseKind = "capture-end",
            Rdpeudp = new RdpeudpReport
            {
                Lossy = u.ClientSyn?.IsLossy ?? false,
                ClientVersion = u.ClientSyn?.UdpVersion is { } cv ? RdpeudpDatagram.VersionName(cv) : null,
                ServerVersion = u.ServerSynAck?.UdpVersion is { } sv ? RdpeudpDatagram.VersionName(sv) : null,
                UpStreamMtu = u.ServerSynAck?.UpStreamMtu ?? u.ClientSyn?.UpStreamMtu,
                DownStreamMtu = u.ServerSynAck?.DownStreamMtu ?? u.ClientSyn?.DownStreamMtu,
                CorrelationId = u.ClientSyn?.CorrelationId?.ToString(),
                SynCount = u.SynCount,
                SynAckFrame = u.SynAck?.Frame,
                EstablishedFrame = u.Established?.Frame,
                ClientDatagrams = u.Datagrams[0],
                ServerDatagrams = u.Datagrams[1],
            },
        };
        var frames = u.Syns.Select(f => f.Frame).ToList();
        string server = report.Server.ToString();
        Finding verdict;
        if (u.Established is { } est)
        {
            string version = report.Rdpeudp.ServerVersion is { } v ? $", {v}" : "";
            verdict = new Finding
            {
                Code = "ok",
                Severity = "info",
                Phase = Phases.RdpeudpEstablished,
                Frame = est.Frame,
                Time = ReportTime.Format(est.Ticks),
                Summary = $"RDP-UDP transport established ({(report.Rdpeudp.Lossy ? "lossy" : "reliable")}{version})",
                Detail = $"SYN in frame {u.Syns.FirstOrDefault().Frame}, SYN+ACK in frame {u.SynAck!.Value.Frame}, the client's ACK in frame {est.Frame} (MS-RDPEUDP 3.1.5.1.3); {u.Datagrams[0]} client and {u.Datagrams[1]} server datagrams. MTU {report.Rdpeudp.UpStreamMtu}/{report.Rdpeudp.DownStreamMtu}.",
                EvidenceFrames = [.. frames.Take(1), u.SynAck!.Value.Frame, est.Frame],
            };
            report.Outcome = "success";
        }
        else if (u.SynAck is { } synAck)
        {
            verdict = new Finding
            {
                Code = "incomplete",
                Severity = "info",
                Phase = Phases.RdpeudpSyn,
                Frame = synAck.Frame,
                Time = ReportTime.Format(synAck.Ticks),
                Summary = "The server answered the RDP-UDP SYN, but the capture shows no acknowledgment from the client",
                Detail = $"SYN+ACK in frame {synAck.Frame}; no client datagram acknowledges it before the capture ends.",
                EvidenceFrames = [.. frames.Take(1), synAck.Frame],
            };
        }
        else
        {
            double waited = (captureEndTicks - (u.Syns.Count > 0 ? u.Syns[0].Ticks : u.FirstPacket.Ticks)) / (double)TimeSpan.TicksPerSecond;
            bool unanswered = u.SynCount >= 2 || waited >= 2;
            verdict = new Finding
            {
                Code = unanswered ? "udp.no-response" : "incomplete",
                Severity = unanswered ? "warning" : "info",
                Phase = Phases.RdpeudpSyn,
                Frame = u.Syns.Count > 0 ? u.Syns[0].Frame : u.FirstPacket.Frame,
                Time = ReportTime.Format(u.Syns.Count > 0 ? u.Syns[0].Ticks : u.FirstPacket.Ticks),
                Summary = unanswered
                    ? $"RDP-UDP to {server} got no answer: {u.SynCount} SYN datagram(s), no SYN+ACK; the client falls back to TCP"
                    : "The capture ended right after the RDP-UDP SYN",
                Detail = unanswered
                    ? $"The client sent {u.SynCount} RDP-UDP SYN datagram(s) (frames {string.Join(", ", frames)}) and nothing came back in the {waited.ToString("0.0", CultureInfo.InvariantCulture)} s the capture covers. UDP 3389 is blocked on the path (or only in one direction), or the server does not offer the UDP transport. The session carries on over TCP: slower on lossy or high-latency links, but not a failure."
                    : $"SYN in frame {frames.FirstOrDefault()}; the capture ends {waited.ToString("0.000", CultureInfo.InvariantCulture)} s later.",
                EvidenceFrames = frames,
                Fix = unanswered
                    ?
                    [
                        "Allow UDP 3389 in both directions on every firewall in the path (Windows Defender Firewall rule \"Remote Desktop - User Mode (UDP-In)\", cloud security groups, NAT).",
                        "Make sure the server offers UDP: GPO Computer Configuration > Administrative Templates > Windows Components > Remote Desktop Services > Remote Desktop Session Host > Connections > \"Select RDP transport protocols\" = Use both UDP and TCP.",
                    ]
                    : [],
            };
            report.Outcome = unanswered ? "failure" : "incomplete";
        }
        report.Findings.Add(verdict);
        report.Verdict = new Verdict { Code = verdict.Code, Summary = verdict.Summary };
        return report;
    }
}
