using System.Globalization;
using RdpWire.Analyzer.Findings;
using RdpWire.Analyzer.Report;
using RdpWire.Analyzer.Tls;
using RdpWire.Capture.Tcp;
using RdpWire.RdpParser.Mcs;
using RdpWire.RdpParser.Rdp;
using RdpWire.RdpParser.Tls;
using RdpWire.RdpParser.X224;

namespace RdpWire.Analyzer.Connections;

/// <summary>
/// Turns what was recorded about one connection into its report: phase reached, who closed
/// and how, and the verdict, which is the earliest finding that explains how it ended.
/// </summary>
public static partial class VerdictEngine
{
    /// <summary>Silence after which a side that owes the next message is judged to have stopped.</summary>
    public static readonly TimeSpan StallThreshold = TimeSpan.FromSeconds(5);

    /// <summary>An unanswered SYN is judged unanswered once retransmitted, or after this long.</summary>
    public static readonly TimeSpan SynWait = TimeSpan.FromSeconds(3);

    private const int C2S = (int)TcpDirection.ClientToServer;
    private const int S2C = (int)TcpDirection.ServerToClient;

    public static ConnectionReport Decide(ConnectionState s, long captureEndTicks)
    {
        var c = s.Connection;
        var report = new ConnectionReport
        {
            Id = c.Id,
            Client = new EndpointReport { Ip = c.Client.Address.ToString(), Port = c.Client.Port },
            Server = new EndpointReport { Ip = c.Server.Address.ToString(), Port = c.Server.Port },
            First = ReportTime.Format(s.FirstTicks),
            Last = ReportTime.Format(s.LastTicks),
            Verdict = new Verdict { Code = "incomplete", Summary = "" },
            Ladder = InFrameOrder(s.Ladder),
        };
        var close = Closure(s);
        report.ClosedBy = close.By;
        report.CloseKind = close.Kind;
        report.Vantage = Vantage(s);
        report.Negotiation = Negotiation(s);
        var certificates = InspectCertificates(s);
        report.Tls = TlsSummary(s, certificates);
        report.PhaseReached = PhaseReached(s);
        report.Mcs = McsSummary(s);
        report.ClientInfo = ClientInfoSummary(s);
        report.Credssp = CredSspSummary(s);
        report.Tcp = new TcpReport
        {
            HandshakeRttMicroseconds = s.ClientSyns.Count > 0 && s.HandshakeAck is { } ack
                ? (ack.Ticks - s.ClientSyns[^1].Ticks) / 10 : null,
            SynCount = s.SynCount,
            ClientPackets = s.Packets[C2S],
            ServerPackets = s.Packets[S2C],
            ClientPayloadBytes = s.PayloadBytes[C2S],
            ServerPayloadBytes = s.PayloadBytes[S2C],
            Retransmissions = s.Retransmissions,
            Gaps = s.Gaps,
            DuplicateAcks = s.Path.Of(TcpDirection.ClientToServer).DuplicateAcks + s.Path.Of(TcpDirection.ServerToClient).DuplicateAcks,
            ZeroWindows = s.Path.Of(TcpDirection.ClientToServer).ZeroWindows + s.Path.Of(TcpDirection.ServerToClient).ZeroWindows,
            KeepAlives = s.Path.Of(TcpDirection.ClientToServer).KeepAlives + s.Path.Of(TcpDirection.ServerToClient).KeepAlives,
            ClientMss = s.Path.Of(TcpDirection.ClientToServer).AdvertisedMss,
            ServerMss = s.Path.Of(TcpDirection.ServerToClient).AdvertisedMss,
        };

        var ctx = new Context(s, report, close, captureEndTicks, certificates);
        var verdict = DiagnoseCredSsp(ctx) ?? DiagnoseRdpPdus(ctx) ?? Diagnose(ctx);
        if (PathFindings(ctx, verdict) is { } pathVerdict)
        {
            // The path explains how the connection ended; what the protocols showed stays as evidence.
            if (verdict is not null && verdict.Code is not ("ok" or "incomplete"))
            {
                report.Findings.Add(verdict);
            }
            verdict = pathVerdict;
        }
        AddSideFindings(ctx, verdict);
        AddTlsSideFindings(ctx, verdict);
        AddMcsSideFindings(ctx, verdict);
        if (verdict?.Code == "tcp.icmp-unreachable")
        {
            // The attempt ended on an ICMP error from the server's side of the path, not a TCP close.
            report.ClosedBy = "server";
            report.CloseKind = null;
        }
        if (verdict?.Code == "tcp.no-response")
        {
            // The attempt ended by the client's connect timeout: no packet closes what never opened.
            report.ClosedBy = null;
            report.CloseKind = "timeout";
        }
        if (verdict is not null)
        {
            report.Findings.Insert(0, verdict);
            report.Verdict = new Verdict { Code = verdict.Code, Summary = verdict.Summary };
            report.Outcome = verdict.Code switch { "ok" => "success", "incomplete" => "incomplete", _ => "failure" };
            if (verdict.Code is not ("ok" or "incomplete"))
            {
                MarkFailureStep(report.Ladder, verdict);
            }
        }
        return report;
    }

    /// <summary>
    /// The ladder by frame, steps of one frame in the order they were added: a stable insertion sort
    /// (steps arrive almost in order, at most 48 of them), one list and no ordering buffers.
    /// </summary>
    private static List<LadderStep> InFrameOrder(List<LadderStep> steps)
    {
        var ladder = new List<LadderStep>(steps);
        for (int i = 1; i < ladder.Count; i++)
        {
            var step = ladder[i];
            int j = i - 1;
            while (j >= 0 && ladder[j].Frame > step.Frame)
            {
                ladder[j + 1] = ladder[j];
                j--;
            }
            ladder[j + 1] = step;
        }
        return ladder;
    }

    /// <summary>Marks the one ladder step the verdict is about: in its frame, the message the code names.</summary>
    private static void MarkFailureStep(List<LadderStep> ladder, Finding verdict)
    {
        var inFrame = ladder.Where(step => step.Frame == verdict.Frame).ToList();
        string? keyword = verdict.Code switch
        {
            _ when verdict.Code.StartsWith("tls.cert-", StringComparison.Ordinal) => "Certificate",
            "tls.alert" or "tls.version-mismatch" or "tls.no-shared-cipher" => "alert",
            "rdp.disconnect-ultimatum" => "Ultimatum",
            _ => null,
        };
        var step = inFrame.FirstOrDefault(x => keyword is not null && x.Message.Contains(keyword, StringComparison.Ordinal))
            ?? inFrame.FirstOrDefault();
        if (step is not null)
        {
            step.Failure = true;
        }
    }

    private sealed record Context(ConnectionState S, ConnectionReport Report, CloseInfo Close, long CaptureEnd,
        IReadOnlyList<CertificateInspector.Inspected> Certificates)
    {
        public double SilenceSeconds(long sinceTicks) => (CaptureEnd - sinceTicks) / (double)TimeSpan.TicksPerSecond;
    }

    public readonly record struct CloseInfo(string? By, string? Kind, FrameRef? At, TcpDirection? Direction);

    private static CloseInfo Closure(ConnectionState s)
    {
        FrameRef? first = null;
        TcpDirection? dir = null;
        string? kind = null;
        void Consider(FrameRef? f, TcpDirection d, string k)
        {
            if (f is { } x && (first is null || x.Frame < first.Value.Frame))
            {
                first = x;
                dir = d;
                kind = k;
            }
        }
        if (s.Rst is { } rst)
        {
            Consider(rst, s.RstDirection, "rst");
        }
        Consider(s.Fin[C2S], TcpDirection.ClientToServer, "fin");
        Consider(s.Fin[S2C], TcpDirection.ServerToClient, "fin");
        if (first is null)
        {
            return new CloseInfo(null, s.EndReason == ConnectionEndReason.IdleTimeout ? "timeout" : "capture-end", null, null);
        }
        return new CloseInfo(dir == TcpDirection.ClientToServer ? "client" : "server", kind, first, dir);
    }

    private static string Vantage(ConnectionState s)
    {
        // Where the capture was taken: the SYN→SYN-ACK and SYN-ACK→ACK delays split the RTT
        // between the two halves of the path; the long half is on the far side of the tap.
        if (s.ClientSyns.Count > 0 && s.SynAck is { } synAck && s.HandshakeAck is { } ack)
        {
            long toServer = synAck.Ticks - s.ClientSyns[^1].Ticks;
            long toClient = ack.Ticks - synAck.Ticks;
            const long minDifference = 2_000; // 200 µs in ticks
            if (toServer > 3 * toClient && toServer - toClient > minDifference)
            {
                return "client";
            }
            if (toClient > 3 * toServer && toClient - toServer > minDifference)
            {
                return "server";
            }
            if (toServer > minDifference && toClient > minDifference)
            {
                return "middle";
            }
        }
        // Packets leave their sender with an unmodified initial TTL (64, 128, 255).
        bool clientLocal = IsInitialTtl(s.ClientSynTtl), serverLocal = IsInitialTtl(s.SynAckTtl);
        if (s.ClientSyns.Count > 0 && s.SynAck is not null && clientLocal != serverLocal)
        {
            return clientLocal ? "client" : "server";
        }
        return "unknown";
    }

    private static bool IsInitialTtl(byte ttl) => ttl is 64 or 128 or 255;

    private static NegotiationReport? Negotiation(ConnectionState s)
    {
        if (s.Request is not { } req)
        {
            return null;
        }
        var r = req.Pdu;
        var n = new NegotiationReport
        {
            Cookie = r.Cookie,
            RoutingToken = r.RoutingToken,
            RequestedProtocols = RdpNegNames.Protocols(r.RequestedProtocols).ToList(),
            RequestFlags = r.NegotiationRequest is { } nr ? RdpNegNames.RequestFlags(nr.Flags).ToList() : [],
            CorrelationId = r.CorrelationId?.ToString(),
            RequestFrame = req.At.Frame,
        };
        if (s.Confirm is { } conf)
        {
            n.ConfirmFrame = conf.At.Frame;
            if (conf.Pdu.NegotiationFailure is { } f)
            {
                n.FailureCode = RdpNegNames.FailureCode(f.FailureCode);
            }
            else if (conf.Pdu.SelectedProtocol is { } sel)
            {
                n.SelectedProtocol = RdpNegNames.SelectedProtocol(sel);
                n.ResponseFlags = conf.Pdu.NegotiationResponse is { } rsp ? RdpNegNames.ResponseFlags(rsp.Flags).ToList() : [];
            }
        }
        return n;
    }

    private static SecurityProtocols? Selected(ConnectionState s) => s.Confirm?.Pdu.SelectedProtocol;

    private static bool UsesTls(SecurityProtocols? p) => p is SecurityProtocols.Ssl or SecurityProtocols.Hybrid
        or SecurityProtocols.HybridEx or SecurityProtocols.Rdstls or SecurityProtocols.Rdsaad;

    /// <summary>
    /// Both sides finished the TLS handshake: TLS ≤ 1.2 shows ChangeCipherSpec from each side
    /// followed by client application data; TLS 1.3 shows the server's encrypted flight and at
    /// least two client application-data records (its Finished, then the first real data).
    /// </summary>
    private static bool TlsEstablished(ConnectionState s) =>
        s.Tls.IsTls13 || (s.ServerHelloMessage is null && s.ChangeCipherSpec[S2C] is null)
            // TLS 1.3 (or a ServerHello not seen): the compatibility ChangeCipherSpecs (RFC 8446
            // D.4) prove nothing; the client's Finished is its first ciphertext record, data follows.
            ? s.ApplicationDataRecords[S2C] > 0 && s.ApplicationDataRecords[C2S] >= 2
            : s.ApplicationDataRecords[C2S] > 0 && s.ChangeCipherSpec[C2S] is not null && s.ChangeCipherSpec[S2C] is not null;

    private static string PhaseReached(ConnectionState s)
    {
        var selected = Selected(s);
        string phase = Phases.TcpConnect;
        void Reach(string p)
        {
            if (Phases.Rank(p) > Phases.Rank(phase))
            {
                phase = p;
            }
        }
        if (s.Request is not null || s.Confirm is not null)
        {
            Reach(Phases.X224);
        }
        // The TLS phase starts with the client's ClientHello; a server record alone (an alert
        // sent after the client already left) does not move the connection into it.
        if (s.TlsRecords[C2S] > 0)
        {
            Reach(Phases.Tls);
        }
        if (UsesTls(selected) && TlsEstablished(s))
        {
            Reach(selected is SecurityProtocols.Hybrid or SecurityProtocols.HybridEx ? Phases.Credssp : Phases.McsConnect);
        }
        // What MCS shows, in the clear (Standard RDP Security) or decrypted with a key log.
        if (s.CredSsp.Count > 0)
        {
            Reach(Phases.Credssp);
        }
        if (s.EarlyUserAuthorization is not null)
        {
            Reach(Phases.EarlyUserAuth);
        }
        if (s.FirstX224Data[C2S] is not null)
        {
            Reach(Phases.McsConnect);
        }
        if (s.ChannelJoinConfirm is not null)
        {
            Reach(Phases.ChannelJoin);
        }
        // The RDP PDUs themselves (MS-RDPBCGR 1.3.1.1 phases 4-10), where visible.
        foreach (var kind in s.RdpPdus.Keys)
        {
            switch (kind)
            {
                case RdpPduKind.SecurityExchange: Reach(Phases.SecurityExchange); break;
                case RdpPduKind.ClientInfo: Reach(Phases.ClientInfo); break;
                case RdpPduKind.Licensing or RdpPduKind.LicenseErrorAlert: Reach(Phases.Licensing); break;
                case RdpPduKind.DemandActive or RdpPduKind.ConfirmActive: Reach(Phases.Capabilities); break;
                case RdpPduKind.Synchronize or RdpPduKind.Control or RdpPduKind.FontList or RdpPduKind.PersistentKeyList: Reach(Phases.Finalization); break;
                case RdpPduKind.FontMap: Reach(Phases.Active); break;
            }
        }
        if (s.FirstSendData[C2S] is not null && s.ChannelJoinConfirm is not null)
        {
            // The client's first Send Data after joining channels: its Security Exchange PDU under
            // Standard RDP Security, else its Client Info PDU (MS-RDPBCGR 1.3.1.1 phases 4, 5).
            Reach(UsesTls(selected) ? Phases.ClientInfo : Phases.SecurityExchange);
        }
        return phase;
    }

    private static Finding Make(Context ctx, string code, FrameRef? at, string summary, string detail,
        IEnumerable<long> evidence, string? phase = null, IReadOnlyList<string>? fix = null,
        IReadOnlyList<string>? mstsc = null, string? severity = null)
    {
        var def = FindingCatalog.Get(code);
        return new Finding
        {
            Code = code,
            Severity = severity ?? def.Severity,
            Phase = phase ?? def.Phase,
            Frame = at?.Frame,
            Time = at is { } a ? ReportTime.Format(a.Ticks) : null,
            Summary = summary,
            Detail = detail,
            EvidenceFrames = EvidenceFrames(ctx, evidence),
            Fix = (fix ?? def.Fix).ToList(),
            MstscCodes = (mstsc ?? def.MstscCodes).ToList(),
        };
    }

    /// <summary>
    /// Puts frame numbers in ascending order, each once (evidence lists), in place: a sort and one
    /// pass, without the hash set and ordering buffer of Distinct().Order().
    /// </summary>
    internal static List<long> SortDistinct(List<long> list)
    {
        list.Sort();
        int kept = 0;
        for (int i = 0; i < list.Count; i++)
        {
            if (kept == 0 || list[i] != list[kept - 1])
            {
                list[kept++] = list[i];
            }
        }
        list.RemoveRange(kept, list.Count - kept);
        return list;
    }

    /// <summary>
    /// A finding's evidence: its own frames and the ones every verdict cites (first SYN, SYN-ACK,
    /// Connection Request and Confirm, the closing packet), ascending, each once. Built in one list:
    /// every connection's report has a verdict and most have side findings.
    /// </summary>
    private static List<long> EvidenceFrames(Context ctx, IEnumerable<long> evidence)
    {
        var s = ctx.S;
        var frames = new List<long>();
        foreach (long frame in evidence)
        {
            if (frame > 0)
            {
                frames.Add(frame);
            }
        }
        ReadOnlySpan<FrameRef?> key = [s.ClientSyns.Count > 0 ? s.ClientSyns[0] : null, s.SynAck, s.Request?.At, s.Confirm?.At, ctx.Close.At];
        foreach (var at in key)
        {
            if (at is { Frame: > 0 } cited)
            {
                frames.Add(cited.Frame);
            }
        }
        return SortDistinct(frames);
    }

    private static string F(FrameRef f) => f.Frame.ToString(CultureInfo.InvariantCulture);

    /// <summary>A duration as an engineer reads it: µs, ms or s.</summary>
    private static string Seconds(long ticks)
    {
        double seconds = ticks / (double)TimeSpan.TicksPerSecond;
        return seconds switch
        {
            < 0.001 => (seconds * 1e6).ToString("0", CultureInfo.InvariantCulture) + " µs",
            < 1 => (seconds * 1e3).ToString("0.0", CultureInfo.InvariantCulture) + " ms",
            _ => seconds.ToString("0.0", CultureInfo.InvariantCulture) + " s",
        };
    }

    private static string Side(TcpDirection d) => d == TcpDirection.ClientToServer ? "client" : "server";

    /// <summary>The frame numbers of the frames that are there.</summary>
    private static long[] Frames(params ReadOnlySpan<FrameRef?> frames)
    {
        int count = 0;
        foreach (var f in frames)
        {
            count += f is null ? 0 : 1;
        }
        var numbers = new long[count];
        count = 0;
        foreach (var f in frames)
        {
            if (f is { } at)
            {
                numbers[count++] = at.Frame;
            }
        }
        return numbers;
    }

    private static Finding? Diagnose(Context ctx)
    {
        var s = ctx.S;
        var close = ctx.Close;
        string server = ctx.Report.Server.ToString();

        // Bytes from the client that are not RDP at all.
        if (s.Request is null && s.Malformed.FirstOrDefault(m => m.Direction == TcpDirection.ClientToServer) is { Reason: not null } bad
            && s.FirstTls[C2S] is null)
        {
            return Make(ctx, "x224.malformed", bad.At,
                $"The client's first bytes are not an RDP Connection Request: {bad.Reason}",
                $"Frame {F(bad.At)} carries the start of the client's stream to {server}; MS-RDPBCGR 2.2.1.1 requires a TPKT-wrapped X.224 Connection Request there, but the parser found {bad.Reason}.",
                Frames(bad.At));
        }

        bool handshakeSeen = s.SynAck is not null || !s.Connection.OpenedBySyn;
        if (!handshakeSeen)
        {
            return DiagnoseConnect(ctx);
        }
        if (s.Request is null)
        {
            if (!s.Connection.OpenedBySyn && (s.FirstTls[C2S] is not null || s.FirstX224Data[C2S] is not null || s.Confirm is not null))
            {
                return DiagnoseAfterNegotiation(ctx);
            }
            return DiagnoseNoRequest(ctx);
        }
        if (s.Confirm is null)
        {
            return DiagnoseNoConfirm(ctx);
        }
        return DiagnoseConfirm(ctx) ?? DiagnoseAfterNegotiation(ctx);
    }

    private static Finding DiagnoseConnect(Context ctx)
    {
        var s = ctx.S;
        string server = ctx.Report.Server.ToString();
        if (s.ClientSyns.Count == 0)
        {
            return Make(ctx, "incomplete", s.FirstPacket,
                "The capture holds no TCP handshake for this connection",
                $"The first packet seen (frame {F(s.FirstPacket)}) is neither a SYN nor a SYN-ACK, and no RDP message was recognised.",
                Frames(s.FirstPacket));
        }
        var firstSyn = s.ClientSyns[0];
        var lastSyn = s.ClientSyns[^1];
        var unreachable = s.IcmpErrors.FirstOrDefault(e => IcmpText.IsUnreachable(e.Type, e.Code, e.V6));
        if (unreachable.At.Frame != 0)
        {
            string what = IcmpText.Describe(unreachable.Type, unreachable.Code, unreachable.V6);
            return Make(ctx, "tcp.icmp-unreachable", unreachable.At,
                $"{unreachable.From} answered the SYN to {server} with {what}",
                $"The client's SYN (frame {F(firstSyn)}) was answered in frame {F(unreachable.At)} by {what} (type {unreachable.Type}, code {unreachable.Code}) sent by {unreachable.From}"
                + (unreachable.From.ToString() == ctx.Report.Server.Ip ? ", the server itself." : ", a device on the path, not the server.")
                + $" {s.SynCount} SYN(s) and {s.IcmpErrors.Count} ICMP error(s) in all.",
                s.ClientSyns.Select(x => x.Frame).Concat(s.IcmpErrors.Select(e => e.At.Frame)));
        }
        if (s.Rst is { } rst && s.RstDirection == TcpDirection.ServerToClient)
        {
            string ttlNote = s.RstTtl != 0 ? $" The RST arrived with TTL {s.RstTtl}." : "";
            return Make(ctx, "tcp.refused", rst,
                $"{server} refused the connection: its RST answered the SYN",
                $"The client's SYN (frame {F(lastSyn)}) was answered {Seconds(rst.Ticks - lastSyn.Ticks)} later by a RST in frame {F(rst)}: nothing accepts connections on port {ctx.Report.Server.Port} there, or a firewall rejects them.{ttlNote}",
                Frames(firstSyn, lastSyn, rst));
        }
        double waited = ctx.SilenceSeconds(firstSyn.Ticks);
        if (s.SynCount >= 2 || waited >= SynWait.TotalSeconds)
        {
            return Make(ctx, "tcp.no-response", firstSyn,
                $"{server} never answered: {s.SynCount} SYN(s) over {Seconds(lastSyn.Ticks - firstSyn.Ticks)} got no reply",
                $"The client sent its SYN in frame {F(firstSyn)}" + (s.SynCount > 1 ? $" and retransmitted it {s.SynCount - 1} time(s), the last in frame {F(lastSyn)}," : ",")
                + $" and nothing came back (no SYN-ACK, RST or ICMP error) in the {waited.ToString("0.0", CultureInfo.InvariantCulture)} s the capture covers after it. A firewall silently drops the SYNs, or the host is down or unreachable.",
                s.ClientSyns.Select(x => x.Frame));
        }
        return Make(ctx, "incomplete", firstSyn,
            "The capture ended while the SYN was still waiting for an answer",
            $"One SYN in frame {F(firstSyn)} and the capture ends {waited.ToString("0.000", CultureInfo.InvariantCulture)} s later, too soon to call it unanswered.",
            Frames(firstSyn));
    }

    private static Finding DiagnoseNoRequest(Context ctx)
    {
        var s = ctx.S;
        var close = ctx.Close;
        var established = s.HandshakeAck ?? s.SynAck ?? s.FirstPacket;
        if (close.Kind == "rst" && close.At is { } rst)
        {
            return Make(ctx, "tcp.reset", rst,
                $"The {close.By} reset the connection right after the TCP handshake, before any RDP message",
                $"The TCP handshake completed (SYN-ACK in frame {F(s.SynAck ?? established)}), then the {close.By} sent a RST in frame {F(rst)} before the client's X.224 Connection Request.",
                Frames(s.SynAck, rst), Phases.TcpConnect);
        }
        if (close.Kind == "fin" && close.At is { } fin)
        {
            return close.Direction == TcpDirection.ClientToServer
                ? Make(ctx, "tcp.client-closed-before-request", fin,
                    "The client closed the connection without sending an RDP Connection Request (a port check or health probe?)",
                    $"The TCP handshake completed (SYN-ACK in frame {F(s.SynAck ?? established)}) and the client closed it with a FIN in frame {F(fin)} {Seconds(fin.Ticks - established.Ticks)} later, without sending any data.",
                    Frames(s.SynAck, fin))
                : Make(ctx, "tcp.server-closed", fin,
                    "The server closed the connection before the client sent its Connection Request",
                    $"The TCP handshake completed (SYN-ACK in frame {F(s.SynAck ?? established)}), then the server sent a FIN in frame {F(fin)} without waiting for the client's X.224 Connection Request.",
                    Frames(s.SynAck, fin));
        }
        double idle = ctx.SilenceSeconds(established.Ticks);
        if (idle >= StallThreshold.TotalSeconds)
        {
            return Make(ctx, "tcp.stalled", established,
                "The client connected but never sent its RDP Connection Request",
                $"The TCP handshake completed in frame {F(established)}; {idle.ToString("0.0", CultureInfo.InvariantCulture)} s later the capture ends and the client has sent no data.",
                Frames(s.SynAck, established), Phases.TcpConnect);
        }
        return Make(ctx, "incomplete", established,
            "The capture ended right after the TCP handshake",
            $"The TCP handshake completed in frame {F(established)} and the capture ends {idle.ToString("0.000", CultureInfo.InvariantCulture)} s later.",
            Frames(established));
    }

    private static Finding DiagnoseNoConfirm(Context ctx)
    {
        var s = ctx.S;
        var close = ctx.Close;
        var (crAt, cr) = s.Request!.Value;
        string server = ctx.Report.Server.ToString();
        if (cr.Violations.Count > 0 && close.Direction != TcpDirection.ClientToServer)
        {
            return Make(ctx, "x224.malformed", crAt,
                "The client's Connection Request breaks the specification and the server did not answer it",
                $"Frame {F(crAt)}: {string.Join("; ", cr.Violations)}. MS-RDPBCGR 3.3.5.3.1 lets the server drop such a request.",
                Frames(crAt, close.At));
        }
        if (s.Malformed.FirstOrDefault(m => m.Direction == TcpDirection.ServerToClient) is { Reason: not null } answer)
        {
            return Make(ctx, "x224.malformed", answer.At,
                "Something that is not an RDP server answered on the RDP port",
                $"The client sent its X.224 Connection Request in frame {F(crAt)}; the server's answer in frame {F(answer.At)} is not a TPKT-wrapped X.224 Connection Confirm: {answer.Reason}."
                + (close.At is { } closedAt ? $" The {close.By} then closed the connection ({close.Kind!.ToUpperInvariant()}, frame {F(closedAt)})." : ""),
                Frames(crAt, answer.At, close.At),
                fix:
                [
                    "Find what listens on the port: `netstat -ano | findstr :3389` (Windows) or `ss -ltnp 'sport = :3389'` (Linux) on the server, and check port forwards or load-balancer rules that send RDP to another service.",
                    "If a proxy or gateway sits in the path, make sure the client connects to its RDP listener, not to its web or management port.",
                ]);
        }
        if (close.Kind == "rst" && close.Direction == TcpDirection.ServerToClient && close.At is { } srst)
        {
            return Make(ctx, "tcp.reset", srst,
                "The server reset the connection in answer to the client's Connection Request",
                $"The client sent its X.224 Connection Request in frame {F(crAt)}; the server answered {Seconds(srst.Ticks - crAt.Ticks)} later with a RST (frame {F(srst)}) instead of a Connection Confirm. The RDP service rejected the request, or a middlebox inspecting RDP cut it"
                + (s.RstTtl != 0 && s.SynAckTtl != 0 && s.RstTtl != s.SynAckTtl ? $" (the RST's TTL {s.RstTtl} differs from the SYN-ACK's {s.SynAckTtl}: likely a middlebox)." : "."),
                Frames(crAt, srst), Phases.X224);
        }
        bool serverSilentAfterCr = s.LastPacket[S2C] is not { } ls || ls.Frame < crAt.Frame;
        if (s.TrailingRetransmissions[C2S] > 0 && serverSilentAfterCr)
        {
            return Make(ctx, "tcp.stalled", crAt,
                "The server stopped answering: the client's Connection Request was never even acknowledged",
                $"The client sent its X.224 Connection Request in frame {F(crAt)} and retransmitted it {s.TrailingRetransmissions[C2S]} time(s); the server sent nothing after the TCP handshake. The server or the path to it stopped passing packets.",
                Frames(s.SynAck, crAt, close.At).Concat(s.TrailingRetransmissionFrames[C2S]), Phases.X224);
        }
        double waited = ((close.At?.Ticks ?? ctx.CaptureEnd) - crAt.Ticks) / (double)TimeSpan.TicksPerSecond;
        string how = close.At is { } c
            ? $"the {close.By} closed the connection ({close.Kind!.ToUpperInvariant()}, frame {F(c)}) {waited.ToString("0.0", CultureInfo.InvariantCulture)} s after the request"
            : $"the capture ends {waited.ToString("0.0", CultureInfo.InvariantCulture)} s after the request";
        if (close.At is not null || waited >= StallThreshold.TotalSeconds)
        {
            string acked = serverSilentAfterCr ? "" : " The server's TCP stack acknowledged the request, so it reached the host; its RDP service did not answer.";
            return Make(ctx, "x224.no-confirm", crAt,
                $"{server} accepted TCP but never answered the RDP Connection Request",
                $"The client sent its X.224 Connection Request in frame {F(crAt)} (requesting {string.Join("|", RdpNegNames.Protocols(cr.RequestedProtocols))}); no Connection Confirm came back and {how}.{acked}",
                Frames(s.SynAck, crAt, close.At));
        }
        return Make(ctx, "incomplete", crAt,
            "The capture ended while the Connection Request was waiting for its Confirm",
            $"Connection Request in frame {F(crAt)}; the capture ends {waited.ToString("0.000", CultureInfo.InvariantCulture)} s later.",
            Frames(crAt));
    }

    private static Finding? DiagnoseConfirm(Context ctx)
    {
        var s = ctx.S;
        var close = ctx.Close;
        var (crAt, cr) = s.Request!.Value;
        var (ccAt, cc) = s.Confirm!.Value;
        string requested = string.Join("|", RdpNegNames.Protocols(cr.RequestedProtocols));
        if (cc.NegotiationResponse is null && cc.NegotiationFailure is null && cc.Violations.Count > 0)
        {
            return Make(ctx, "x224.malformed", ccAt,
                "The server's Connection Confirm breaks the specification",
                $"Frame {F(ccAt)}: {string.Join("; ", cc.Violations)}.",
                Frames(crAt, ccAt, close.At));
        }
        if (cc.NegotiationFailure is { } failure)
        {
            string code = RdpNegNames.FailureCode(failure.FailureCode);
            var (meaning, fix, mstsc) = NegotiationFailureAdvice.For(code);
            string after = close.At is { } c ? $" The {close.By} then closed the connection ({close.Kind!.ToUpperInvariant()}, frame {F(c)})." : "";
            return Make(ctx, "x224.negotiation-failure", ccAt,
                $"The server refused the negotiation with {code}: {meaning}",
                $"The client requested {requested} in frame {F(crAt)}; the server's Connection Confirm in frame {F(ccAt)} carries RDP_NEG_FAILURE with failureCode {code} (0x{(uint)failure.FailureCode:X8}), meaning {meaning}.{after}",
                Frames(crAt, ccAt, close.At), fix: fix, mstsc: mstsc);
        }
        var selected = cc.SelectedProtocol ?? SecurityProtocols.Rdp;
        string selectedName = RdpNegNames.SelectedProtocol(selected);
        if (selected != SecurityProtocols.Rdp && (cr.RequestedProtocols & selected) == 0)
        {
            return Make(ctx, "x224.protocol-not-offered", ccAt,
                $"The server selected {selectedName}, which the client did not offer ({requested})",
                $"Connection Request (frame {F(crAt)}) offered {requested}; the Connection Confirm (frame {F(ccAt)}) selects {selectedName}. MS-RDPBCGR 3.3.5.3.1 only allows the server to pick one of the requested protocols.",
                Frames(crAt, ccAt, close.At));
        }

        bool clientContinued = s.FirstTls[C2S] is not null || s.FirstX224Data[C2S] is not null;
        if (clientContinued)
        {
            return null;
        }
        // PROTOCOL_RDP has no bit: a client that sent a non-zero requestedProtocols did not ask
        // for Standard RDP Security, and one that leaves when the server picks it never accepted it.
        bool rdpFallback = selected == SecurityProtocols.Rdp && cr.RequestedProtocols != SecurityProtocols.Rdp;
        if (rdpFallback && close.At is { } left && close.Direction == TcpDirection.ClientToServer)
        {
            return Make(ctx, "x224.protocol-not-offered", ccAt,
                $"The server fell back to Standard RDP Security, which the client did not offer ({requested}), and the client left",
                $"Connection Request (frame {F(crAt)}) offered {requested}; the Connection Confirm (frame {F(ccAt)}) selects PROTOCOL_RDP (Standard RDP Security) instead of answering with RDP_NEG_FAILURE SSL_NOT_ALLOWED_BY_SERVER; {Seconds(left.Ticks - ccAt.Ticks)} later the client closed the connection ({close.Kind!.ToUpperInvariant()}, frame {F(left)}).",
                Frames(crAt, ccAt, left),
                fix:
                [
                    "The server is configured for Standard RDP Security only: raise its security layer (Windows: `SecurityLayer`=1 or 2 under `HKLM\\SYSTEM\\CurrentControlSet\\Control\\Terminal Server\\WinStations\\RDP-Tcp`, or the GPO \"Require use of specific security layer for remote (RDP) connections\"; xrdp: `security_layer=negotiate` or `tls` in xrdp.ini with a certificate).",
                    "Or, as a last resort, let the client accept Standard RDP Security (FreeRDP `/sec:rdp`; mstsc `authentication level:i:0`); it is weak (RC4, no server authentication).",
                ]);
        }
        if (close.At is { } at && close.Direction == TcpDirection.ClientToServer)
        {
            string why = selected == SecurityProtocols.Rdp && cr.RequestedProtocols != SecurityProtocols.Rdp
                ? $" The server fell back to Standard RDP Security although the client asked for {requested}: a client that insists on TLS or NLA gives up here."
                : (cr.RequestedProtocols & (SecurityProtocols.Hybrid | SecurityProtocols.HybridEx)) != 0 && selected == SecurityProtocols.Ssl
                    ? " The client offered NLA (CredSSP) and the server chose plain TLS: a client that requires NLA gives up here."
                    : "";
            return Make(ctx, "x224.client-abort-after-negotiation", at,
                $"The client hung up right after the server selected {selectedName}",
                $"The client requested {requested} (frame {F(crAt)}); the server's Connection Confirm selected {selectedName} (frame {F(ccAt)}); {Seconds(at.Ticks - ccAt.Ticks)} later the client closed the connection ({close.Kind!.ToUpperInvariant()}, frame {F(at)}) without starting {(UsesTls(selected) ? "the TLS handshake" : "MCS")}.{why}",
                Frames(crAt, ccAt, at));
        }
        if (close.At is { } sat)
        {
            return close.Kind == "rst"
                ? Make(ctx, "tcp.reset", sat,
                    "The server reset the connection right after its Connection Confirm",
                    $"Connection Confirm selecting {selectedName} in frame {F(ccAt)}, then a RST from the server in frame {F(sat)} before the client continued.",
                    Frames(ccAt, sat), Phases.X224)
                : Make(ctx, "tcp.server-closed", sat,
                    "The server closed the connection right after its Connection Confirm",
                    $"Connection Confirm selecting {selectedName} in frame {F(ccAt)}, then a FIN from the server in frame {F(sat)} before the client continued.",
                    Frames(ccAt, sat), Phases.X224);
        }
        double idle = ctx.SilenceSeconds(ccAt.Ticks);
        if (idle >= StallThreshold.TotalSeconds)
        {
            return Make(ctx, "tcp.stalled", ccAt,
                $"The client went silent after the server selected {selectedName}",
                $"Connection Confirm selecting {selectedName} in frame {F(ccAt)}; the client sent nothing in the {idle.ToString("0.0", CultureInfo.InvariantCulture)} s until the capture ends.",
                Frames(crAt, ccAt), Phases.X224);
        }
        return Make(ctx, "incomplete", ccAt,
            "The capture ended right after the negotiation",
            $"Connection Confirm selecting {selectedName} in frame {F(ccAt)}; the capture ends {idle.ToString("0.000", CultureInfo.InvariantCulture)} s later.",
            Frames(ccAt));
    }

    private static Finding DiagnoseAfterNegotiation(Context ctx)
    {
        var s = ctx.S;
        var close = ctx.Close;
        var selected = Selected(s);
        string phase = ctx.Report.PhaseReached;
        var evidenceBase = new FrameRef?[] { s.Request?.At, s.Confirm?.At };

        if (s.TlsRecords[C2S] + s.TlsRecords[S2C] > 0)
        {
            return DiagnoseTls(ctx, evidenceBase, phase);
        }

        // Standard RDP Security: MCS in the clear.
        var mcs = s.FirstX224Data[C2S];
        if (mcs is { } ci)
        {
            bool rdpPdusFlowed = s.FirstSendData[C2S] is not null && s.FirstSendData[S2C] is not null;
            if (s.Ultimatum is { } dpum && !(rdpPdusFlowed && dpum.At.Frame > s.FirstSendData[S2C]!.Value.Frame))
            {
                string from = Side(dpum.From);
                string reason = dpum.Reason is { } r ? McsPduHeader.ReasonName(r) : "reason not captured";
                bool noNegotiation = s.Request is { } req && req.Pdu.NegotiationRequest is null;
                return Make(ctx, "rdp.disconnect-ultimatum", dpum.At,
                    $"The {from} ended the connection with an MCS Disconnect Provider Ultimatum ({reason})",
                    $"MCS Connect Initial in frame {F(ci)}; {Seconds(dpum.At.Ticks - ci.Ticks)} later the {from} sent a Disconnect Provider Ultimatum ({reason}) in frame {F(dpum.At)}"
                    + (s.McsConnectResponse is { } cr2 ? $", after its MCS Connect Response (frame {F(cr2)})" : " instead of an MCS Connect Response")
                    + (ctx.Close.At is { } end ? $", then closed the connection ({ctx.Close.Kind!.ToUpperInvariant()}, frame {F(end)})." : ".")
                    + (noNegotiation ? " The client sent no RDP_NEG_REQ (Standard RDP Security only), so a server that requires TLS or NLA cannot refuse in the X.224 Confirm and hangs up here instead." : ""),
                    Frames([.. evidenceBase, ci, s.McsConnectResponse, dpum.At]),
                    phase: s.McsConnectResponse is null ? Phases.McsConnect : phase);
            }
            if (s.McsConnectResponse is { } response)
            {
                string closing = "";
                if (s.Ultimatum is { } later)
                {
                    closing += $"; the {Side(later.From)} ended the MCS domain later (Disconnect Provider Ultimatum, "
                        + (later.Reason is { } lr ? McsPduHeader.ReasonName(lr) : "reason not captured")
                        + $", frame {F(later.At)}, {Seconds(later.At.Ticks - response.Ticks)} after the Connect Response), after RDP PDUs had flowed both ways: the end of a session, not a setup failure";
                }
                closing += close.At is { } end ? $"; the {close.By} closed the connection ({close.Kind!.ToUpperInvariant()}) in frame {F(end)}" : "";
                return Make(ctx, "ok", s.Confirm?.At ?? ci,
                    "Negotiation completed with Standard RDP Security and the server answered the MCS Connect Initial",
                    $"MCS Connect Initial in frame {F(ci)}, the server's MCS reply in frame {F(response)}{closing}.",
                    Frames([.. evidenceBase, ci, response]), phase);
            }
            if (close.At is { } cl)
            {
                return close.Kind == "rst"
                    ? Make(ctx, "tcp.reset", cl, $"The {close.By} reset the connection after the MCS Connect Initial",
                        $"MCS Connect Initial in frame {F(ci)}, then a RST from the {close.By} in frame {F(cl)} before any server MCS reply.",
                        Frames([.. evidenceBase, ci, cl]), Phases.McsConnect)
                    : Make(ctx, close.Direction == TcpDirection.ServerToClient ? "tcp.server-closed" : "incomplete", cl,
                        $"The {close.By} closed the connection after the MCS Connect Initial",
                        $"MCS Connect Initial in frame {F(ci)}, then a FIN from the {close.By} in frame {F(cl)} before any server MCS reply.",
                        Frames([.. evidenceBase, ci, cl]), Phases.McsConnect);
            }
            return Make(ctx, "incomplete", ci, "The capture ended during the MCS connect",
                $"MCS Connect Initial in frame {F(ci)}; no server reply before the capture ends.", Frames(ci));
        }
        var last = s.LastPacket[C2S] ?? s.FirstPacket;
        return Make(ctx, "incomplete", last, "The capture does not show enough of this connection to judge it",
            $"No negotiation and no recognisable RDP message; last client packet in frame {F(last)}.", Frames(last));
    }

    private static void AddSideFindings(Context ctx, Finding? verdict)
    {
        var s = ctx.S;
        if (s.Confirm is { } conf && conf.Pdu.SelectedProtocol == SecurityProtocols.Rdp && s.FirstX224Data[C2S] is not null
            && verdict?.Code != "x224.protocol-not-offered")
        {
            bool fallback = s.Request is { } r && r.Pdu.RequestedProtocols != SecurityProtocols.Rdp;
            ctx.Report.Findings.Add(Make(ctx, "x224.standard-rdp-security", conf.At,
                fallback
                    ? "The server fell back to Standard RDP Security although the client offered TLS/NLA, and the client accepted it"
                    : "The connection uses Standard RDP Security: no TLS, no server authentication",
                $"The Connection Confirm in frame {F(conf.At)} selects PROTOCOL_RDP"
                + (fallback ? $" although the Connection Request (frame {F(s.Request!.Value.At)}) offered {string.Join("|", RdpNegNames.Protocols(s.Request.Value.Pdu.RequestedProtocols))}" : "")
                + $"; MCS follows in the clear from frame {F(s.FirstX224Data[C2S]!.Value)}. Standard RDP Security (MS-RDPBCGR 5.3) uses RC4 and does not authenticate the server.",
                Frames(conf.At)));
        }
        if (s.Confirm is { } cc && cc.Pdu.Violations.Count > 0 && verdict?.Code != "x224.malformed")
        {
            ctx.Report.Findings.Add(Make(ctx, "x224.malformed", cc.At,
                "The server's Connection Confirm bends the specification (the connection went on regardless)",
                $"Frame {F(cc.At)}: {string.Join("; ", cc.Pdu.Violations)}.", Frames(cc.At), severity: "warning"));
        }
        if (s.Request is { } cr && cr.Pdu.Violations.Count > 0 && verdict?.Code != "x224.malformed")
        {
            ctx.Report.Findings.Add(Make(ctx, "x224.malformed", cr.At,
                "The client's Connection Request bends the specification (the server answered regardless)",
                $"Frame {F(cr.At)}: {string.Join("; ", cr.Pdu.Violations)}.", Frames(cr.At), severity: "warning"));
        }
        foreach (var m in s.Malformed.Where(m => m.At.Frame != verdict?.Frame))
        {
            ctx.Report.Findings.Add(new Finding
            {
                Code = "stream.unparsed",
                Severity = "info",
                Phase = ctx.Report.PhaseReached,
                Frame = m.At.Frame,
                Time = ReportTime.Format(m.At.Ticks),
                Summary = $"Stopped parsing the {Side(m.Direction)}'s stream",
                Detail = $"At frame {F(m.At)}: {m.Reason}.",
                EvidenceFrames = [m.At.Frame],
            });
        }
    }
}
