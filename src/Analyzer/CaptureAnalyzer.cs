using RdpWire.Analyzer.Connections;
using RdpWire.Analyzer.Report;
using RdpWire.Capture;
using RdpWire.Capture.Decoding;
using RdpWire.Capture.Fragments;
using RdpWire.Capture.Tcp;
using RdpWire.RdpParser.Rdpeudp;

namespace RdpWire.Analyzer;

public sealed record AnalyzerOptions
{
    public FlowTableLimits Limits { get; init; } = FlowTableLimits.Default;
    /// <summary>What the protocol parsers take in at most (handshake messages, certificates, ASN.1 nesting).</summary>
    public RdpWire.RdpParser.RdpParserLimits ParserLimits { get; init; } = RdpWire.RdpParser.RdpParserLimits.Default;

    /// <summary>IP reassembly caps (datagrams, bytes, fragments per datagram, timeouts).</summary>
    public DefragmenterLimits FragmentLimits { get; init; } = DefragmenterLimits.Default;
    /// <summary>Report connections that are not RDP too (off: only port 3389 or RDP negotiation).</summary>
    public bool IncludeNonRdp { get; init; }

    /// <summary>TLS secrets (NSS key log) to decrypt the connections they belong to.</summary>
    public RdpWire.RdpParser.Tls.Decryption.TlsKeyLog? KeyLog { get; init; }

    /// <summary>Keep decided connections in a temporary file, not in memory (flat memory for huge captures; the caller disposes the report's spool).</summary>
    public bool SpoolConnections { get; init; }

    /// <summary>With <see cref="SpoolConnections"/>: connections kept in memory before the spool is started.</summary>
    internal int SpoolAfter { get; init; } = 64;

    /// <summary>
    /// A full compacting collection every this many bytes allocated by the analyzing thread (see
    /// <see cref="HeapGovernor"/>); 0 leaves collecting to the GC. The command-line tool sets it: a library
    /// should not collect on its host's behalf.
    /// </summary>
    public long CollectEveryAllocatedBytes { get; init; }

    /// <summary>A governor shared with other analyzers (those of <see cref="ShardedAnalysis"/>), used instead of one of this analyzer's own.</summary>
    internal HeapGovernor? SharedHeapGovernor { get; init; }

    /// <summary>Skip opaque TLS records straight from the packets (off only to compare with the pipe-only path in tests).</summary>
    internal bool SkipFromPackets { get; init; } = true;
}

/// <summary>
/// Runs one packet source through the whole pipeline: decode, flow table, per-direction
/// reassembly into pipes, the RDP stream parsers, and the verdict for every connection.
/// The same code serves capture files and live capture.
/// </summary>
public sealed class CaptureAnalyzer
{
    private const ushort RdpPort = 3389;
    // RFC 792 / RFC 1191: type 3 code 4; RFC 4443: ICMPv6 type 2.
    private const byte IcmpUnreachable = 3;
    private const byte IcmpFragmentationNeeded = 4;
    private const byte Icmpv6PacketTooBig = 2;
    private readonly AnalyzerOptions _options;
    private readonly TcpFlowTable<ConnectionState> _table;
    private readonly List<ConnectionReport> _finished = [];
    private readonly CaptureSummary _summary;
    private readonly List<Finding> _captureFindings = [];
    private long _firstTicks;
    private long _lastTicks;
    private readonly Dictionary<FlowKey, UdpConnectionState> _udpFlows = [];
    private readonly IpDefragmenter _defrag;
    private readonly List<IncompleteDatagram> _incompleteDatagrams = [];
    private readonly HashSet<int> _matchedDatagrams = [];
    private RdpWire.RdpParser.Tls.Decryption.TlsKeyLog? _keyLog;

    /// <summary>Adds TLS secrets (NSS key log text), e.g. from a pcapng Decryption Secrets Block.</summary>
    public void AddKeyLog(string keyLogText)
    {
        _keyLog ??= new RdpWire.RdpParser.Tls.Decryption.TlsKeyLog();
        _keyLog.Add(new StringReader(keyLogText));
    }
    private const int MaxFragmentFindings = 20;
    private long _nextConnectionId = 1;
    private long _currentFrame;

    /// <summary>
    /// When set (a shard of <see cref="ShardedAnalysis"/>), the frame that created each connection,
    /// in id order, unreported ones too: the ids a single analyzer would have given are the ranks
    /// of these frames among every shard's.
    /// </summary>
    internal List<long>? CreationFrames { get; init; }

    private long NextConnectionId()
    {
        CreationFrames?.Add(_currentFrame);
        return _nextConnectionId++;
    }
    private long _evictedUnanswered;
    private readonly Dictionary<string, (long Count, long FirstFrame)> _undecoded = [];
    private RdpWire.Analyzer.Report.ConnectionSpool? _spool;
    private long _udpFlowsRefused;
    private readonly HeapGovernor? _heap;

    /// <summary>RDP-UDP flows tracked at once; later ones are counted, not followed.</summary>
    public const int MaxUdpFlows = 10_000;

    public CaptureAnalyzer(string name, CaptureFormat format, AnalyzerOptions? options = null)
    {
        _options = options ?? new AnalyzerOptions();
        _keyLog = _options.KeyLog;
        _defrag = new IpDefragmenter(_options.FragmentLimits);
        _heap = _options.SharedHeapGovernor
            ?? (_options.CollectEveryAllocatedBytes > 0 ? new HeapGovernor(_options.CollectEveryAllocatedBytes) : null);
        _table = new TcpFlowTable<ConnectionState>(_options.Limits, c => new ConnectionState(c, _keyLog, _options.ParserLimits), OnConnectionEnd, NextConnectionId);
        _summary = new CaptureSummary
        {
            Path = name,
            Format = format switch { CaptureFormat.Pcap => "pcap", CaptureFormat.PcapNg => "pcapng", _ => "live" },
        };
    }

    /// <summary>Called with each connection's report as soon as it is decided (closed, expired or capture end).</summary>
    public event Action<ConnectionReport>? ConnectionDecided;

    /// <summary>Reads the whole source and returns the report. Read errors end the reading, not the analysis.</summary>
    public static AnalysisReport Analyze(IPacketSource source, AnalyzerOptions? options = null)
    {
        var analyzer = new CaptureAnalyzer(source.Name, source.Format, options);
        var readError = ReadPackets(source, analyzer.AddKeyLog, (in CapturedPacket packet) =>
        {
            analyzer.Process(packet);
            return true;
        });
        analyzer.RecordReadingProblems(source, readError);
        return analyzer.Complete(source.LinkTypes, source.TruncatedPackets);
    }

    /// <summary>Takes one packet; false stops the reading.</summary>
    internal delegate bool PacketSink(in CapturedPacket packet);

    /// <summary>
    /// Reads every packet of <paramref name="source"/> into <paramref name="sink"/>. Key logs embedded
    /// in the capture (pcapng Decryption Secrets Blocks) go to <paramref name="addKeyLog"/> before the
    /// packets after them: they decrypt the connections that start later. Returns the damage that
    /// ended the reading, if any: it ends the reading, not the analysis.
    /// </summary>
    internal static CaptureFormatException? ReadPackets(IPacketSource source, Action<string> addKeyLog, PacketSink sink)
    {
        var secrets = source as IDecryptionSecretsSource;
        int secretsUsed = 0;
        try
        {
            while (source.TryReadNext(out var packet))
            {
                for (; secrets is not null && secretsUsed < secrets.TlsKeyLogs.Count; secretsUsed++)
                {
                    addKeyLog(secrets.TlsKeyLogs[secretsUsed]);
                }
                if (!sink(packet))
                {
                    break;
                }
            }
            return null;
        }
        catch (CaptureFormatException e)
        {
            return e;
        }
    }

    /// <summary>The capture-wide notes of a reading: the damage that ended it, the blocks passed over.</summary>
    internal void RecordReadingProblems(IPacketSource source, CaptureFormatException? readError)
    {
        if (readError is not null)
        {
            RecordReadError(readError);
        }
        if (source is ISkippedBlocksSource { SkippedBlocks.Count: > 0 } skipped)
        {
            RecordSkippedBlocks(skipped.SkippedBlocks);
        }
    }

    /// <summary>A capture-wide note of the file's parts that were passed over unread.</summary>
    public void RecordSkippedBlocks(IReadOnlyDictionary<string, (long Count, long FirstOffset)> blocks)
    {
        _captureFindings.Add(new Finding
        {
            Code = "capture.skipped-blocks",
            Severity = "info",
            Phase = Phases.TcpConnect,
            Summary = $"{blocks.Values.Sum(b => b.Count)} pcapng block(s) that carry no packets RdpWire reads were skipped",
            Detail = string.Join("; ", blocks.Select(b => $"{b.Value.Count} {b.Key}(s), the first at byte offset {b.Value.FirstOffset}"))
                + ". Packets, interfaces and decryption secrets were all read; these blocks (statistics, name resolution, custom or unknown types) do not change the analysis.",
        });
    }

    public void RecordReadError(CaptureFormatException e)
    {
        _summary.ReadError = e.Message;
        _captureFindings.Add(new Finding
        {
            Code = "capture.read-error",
            Severity = "warning",
            Phase = Phases.TcpConnect,
            Summary = "The capture file is damaged; the report covers only the packets before the damage",
            Detail = $"{e.Message}. {e.PacketsRead} packets were read before it; connections still open at that point are reported as the capture ended.",
        });
    }

    public void Process(in CapturedPacket packet)
    {
        _currentFrame = packet.Frame;
        _summary.Packets++;
        _summary.Bytes += packet.Data.Length;
        if (_summary.Packets == 1)
        {
            _firstTicks = packet.TimestampTicks;
        }
        _lastTicks = Math.Max(_lastTicks, packet.TimestampTicks);
        if (_heap is not null && _summary.Packets % HeapGovernor.CheckEveryPackets == 0)
        {
            _heap.Check();
        }

        var result = PacketDecoder.TryDecode(packet, out var p);
        if (p.IpVersion != 0 && p.IsFragment)
        {
            ProcessFragment(p);
            return;
        }
        if (result != DecodeResult.Ok)
        {
            _summary.UndecodedPackets++;
            if (result != DecodeResult.NotIp)
            {
                // ARP and other non-IP frames are normal; these are packets whose headers could not be read.
                var key = result == DecodeResult.UnsupportedLinkType ? $"link type {LinkTypeNames.Name(packet.LinkType)} (not decoded)" : result == DecodeResult.Truncated
                    ? "cut inside their headers (snaplen shorter than the headers, or a damaged file)"
                    : "headers that contradict themselves";
                _undecoded[key] = _undecoded.TryGetValue(key, out var seen) ? (seen.Count + 1, seen.FirstFrame) : (1, packet.Frame);
            }
            return;
        }
        Dispatch(p);
    }

    private void Dispatch(in DecodedPacket p)
    {
        switch (p.Transport)
        {
            case TransportKind.Tcp:
                ProcessTcp(p);
                break;
            case TransportKind.Udp:
                if (p.SourcePort == RdpPort || p.DestinationPort == RdpPort)
                {
                    _summary.RdpUdpDatagrams++;
                    ProcessRdpUdp(p);
                }
                break;
            case TransportKind.Icmp:
            case TransportKind.Icmpv6:
                if (p.IcmpIsError && p.IcmpQuoted.HasPorts && p.IcmpQuoted.Protocol == 6)
                {
                    ProcessIcmpError(p);
                }
                break;
        }
    }

    private void ProcessTcp(in DecodedPacket p)
    {
        if (_table.Lookup(p) is not var (conn, state))
        {
            return;
        }
        var at = new FrameRef(p.Packet.Frame, p.Packet.TimestampTicks);
        if (state.FirstPacket.Frame == 0)
        {
            state.FirstPacket = at;
            state.FirstTicks = at.Ticks;
        }
        state.LastTicks = at.Ticks;

        var stream = conn.Stream(conn.DirectionOf(p));
        int gapsBefore = stream.GapCount;
        var info = conn.Process(p);
        int d = (int)info.Direction;
        string arrow = info.Direction == TcpDirection.ClientToServer ? "c2s" : "s2c";
        state.Packets[d]++;
        state.LastPacket[d] = at;
        RecordTcpFacts(state, p, info, at, arrow);
        state.Path.OnSegment(p, info, conn, at);

        if (info.Disposition is SegmentDisposition.InOrder or SegmentDisposition.PartialRetransmission)
        {
            state.PayloadBytes[d] += info.PayloadLength;
            state.FirstPayload[d] ??= at;
            state.LastPayload[d] = at;
            if (state.TrailingRetransmissions[d] != 0)
            {
                // Frames are kept only while retransmissions trail: most in-order segments leave the list alone.
                state.TrailingRetransmissions[d] = 0;
                state.TrailingRetransmissionFrames[d].Clear();
            }
        }
        else if (info.Disposition == SegmentDisposition.Retransmission)
        {
            state.Retransmissions++;
            state.TrailingRetransmissions[d]++;
            if (state.TrailingRetransmissionFrames[d].Count < 16)
            {
                state.TrailingRetransmissionFrames[d].Add(at.Frame);
            }
        }

        if (info.AcknowledgesUnseenBytes)
        {
            // The peer acknowledged bytes this capture never saw: they will not come; skip the hole.
            var peer = conn.Stream((TcpDirection)(1 - d));
            int peerGaps = peer.GapCount;
            if (peer.SkipFirstHole(p.Acknowledgment))
            {
                NotifyGaps(state, (TcpDirection)(1 - d), peerGaps);
                Feed(state, (TcpDirection)(1 - d));
            }
        }
        if (stream.GapCount > gapsBefore)
        {
            NotifyGaps(state, info.Direction, gapsBefore);
        }
        if (info.Disposition is SegmentDisposition.InOrder or SegmentDisposition.PartialRetransmission)
        {
            Feed(state, info.Direction, p.Payload.Span);
        }
        if (conn.IsClosed)
        {
            _table.MarkClosed(conn);
        }
    }

    /// <summary>
    /// Time passed with no packet (live capture): connections that closed and fell silent, or
    /// went idle, are decided now, exactly as the next packet's time stamp would decide them.
    /// </summary>
    public void Advance(long nowTicks) => _table.Advance(nowTicks);

    /// <summary>
    /// A packet another shard analyzes (<c>analyze --threads</c>): it reaches this analyzer only as
    /// time, as it would reach one analyzer of the whole capture. It moves the capture's latest time;
    /// a TCP segment this analyzer's table would have looked up moves the table's clock (idle and
    /// closed connections end at the same packets as with one thread, even when time stamps jump), and
    /// an IP fragment the reassembly's clock (datagrams time out at the same packet). It is decoded only
    /// when one of the clocks would act. Not replayed: a fragment that completes another shard's TCP
    /// datagram also moves the TCP clock with one thread.
    /// </summary>
    internal void PassOver(in CapturedPacket packet)
    {
        long now = packet.TimestampTicks;
        _lastTicks = Math.Max(_lastTicks, now);
        bool tcpClock = _table.AdvanceWouldAct(now), fragmentClock = _defrag.ExpireWouldAct(now);
        if (!tcpClock && !fragmentClock)
        {
            return;
        }
        // As Process and Dispatch route it.
        var result = PacketDecoder.TryDecode(packet, out var p);
        if (p.IpVersion != 0 && p.IsFragment)
        {
            if (fragmentClock)
            {
                _defrag.Expire(now, _incompleteDatagrams);
            }
        }
        else if (tcpClock && result == DecodeResult.Ok && p.Transport == TransportKind.Tcp)
        {
            _table.Advance(now);
        }
    }

    private static void RecordTcpFacts(ConnectionState state, in DecodedPacket p, in TcpSegmentInfo info, FrameRef at, string arrow)
    {
        var flags = info.Flags;
        bool syn = (flags & TcpFlags.Syn) != 0, ack = (flags & TcpFlags.Ack) != 0;
        if (syn && !ack && info.Direction == TcpDirection.ClientToServer)
        {
            bool retransmit = state.SynCount > 0;
            state.AddSyn(at);
            state.ClientSynTtl = p.Ttl;
            state.AddStep(at, arrow, retransmit ? $"SYN (retransmission #{state.SynCount - 1})" : SynText("SYN", p));
        }
        else if (syn && ack && info.Direction == TcpDirection.ServerToClient)
        {
            if (state.SynAck is null)
            {
                state.SynAck = at;
                state.SynAckTtl = p.Ttl;
                state.AddStep(at, arrow, SynText("SYN-ACK", p));
            }
        }
        else if (ack && !syn && state.SynAck is not null && state.HandshakeAck is null
            && info.Direction == TcpDirection.ClientToServer)
        {
            state.HandshakeAck = at;
        }
        if ((flags & TcpFlags.Rst) != 0 && state.Rst is null)
        {
            state.Rst = at;
            state.RstDirection = info.Direction;
            state.RstTtl = p.Ttl;
            state.AddStep(at, arrow, ack ? "RST, ACK" : "RST");
        }
        if ((flags & TcpFlags.Fin) != 0 && state.Fin[(int)info.Direction] is null)
        {
            state.Fin[(int)info.Direction] = at;
            state.AddStep(at, arrow, "FIN");
        }
    }

    private static string SynText(string what, in DecodedPacket p) =>
        p.TcpOptions.Mss is ushort mss ? $"{what} (MSS {mss})" : what;

    /// <summary>IP fragments go to the defragmenter; a completed datagram is decoded and dispatched like any packet.</summary>
    private void ProcessFragment(in DecodedPacket fragment)
    {
        if (_defrag.Add(fragment, out var datagram) == DefragResult.Completed && datagram is not null)
        {
            using (datagram)
            {
                if (datagram.TryDecode(out var whole) == DecodeResult.Ok)
                {
                    Dispatch(whole);
                }
            }
        }
        _defrag.Expire(fragment.Packet.TimestampTicks, _incompleteDatagrams);
    }

    /// <summary>Datagrams between this connection's two hosts that never reassembled, during its lifetime.</summary>
    private List<IncompleteDatagram> IncompleteFor(TcpConnection connection, ConnectionState state)
    {
        var mine = new List<IncompleteDatagram>();
        for (int i = 0; i < _incompleteDatagrams.Count; i++)
        {
            var d = _incompleteDatagrams[i];
            bool pair = (d.Source == connection.Client.Address && d.Destination == connection.Server.Address)
                || (d.Source == connection.Server.Address && d.Destination == connection.Client.Address);
            if (pair && d.Protocol == 6 && d.FirstTicks >= state.FirstTicks && d.FirstTicks <= state.LastTicks)
            {
                mine.Add(d);
                _matchedDatagrams.Add(i);
            }
        }
        return mine;
    }

    private static Finding IncompleteFinding(IncompleteDatagram d)
    {
        string total = d.TotalLength is int t ? $"{d.BytesReceived} of {t} bytes" : $"{d.BytesReceived} bytes (the last fragment never arrived)";
        return new Finding
        {
            Code = "path.ip-fragments-incomplete",
            Severity = "warning",
            Phase = Phases.TcpConnect,
            Frame = d.FirstFrame,
            Time = ReportTime.Format(d.FirstTicks),
            Summary = $"IPv{d.IpVersion} datagram {d.Source} -> {d.Destination} (id 0x{d.Identification:X}, protocol {d.Protocol}) never reassembled: {IncompleteText(d.Reason)}",
            Detail = $"{d.Fragments} fragment(s), frames {d.FirstFrame}..{d.LastFrame}, {total}. "
                + (d.Reason is IncompleteReason.ByteCap or IncompleteReason.DatagramCap or IncompleteReason.FragmentCap
                    ? "RdpWire's own reassembly limit was hit, not the path: raise it (--max-fragment-mb) to reassemble these datagrams."
                    : "Fragments that never complete are lost on the path (a firewall dropping non-first fragments, a link losing them) or were not captured."),
            EvidenceFrames = d.FirstFrame == d.LastFrame ? [d.FirstFrame] : [d.FirstFrame, d.LastFrame],
            Fix =
            [
                "Find where fragments are lost: firewalls and NAT devices that drop non-first fragments, or links that lose them. Avoid fragmentation altogether by clamping the TCP MSS or lowering the MTU on the tunnel or VPN that forces it.",
            ],
        };
    }

    private static string IncompleteText(IncompleteReason reason) => reason switch
    {
        IncompleteReason.Timeout => "fragments missing when its reassembly timer ran out",
        IncompleteReason.Overlap => "overlapping fragments with different content (discarded, RFC 5722)",
        IncompleteReason.Inconsistent => "fragments that contradict each other",
        IncompleteReason.Truncated => "a fragment cut by the capture's snaplen",
        IncompleteReason.DatagramCap or IncompleteReason.ByteCap or IncompleteReason.FragmentCap => "the reassembly memory limit was reached",
        IncompleteReason.SizeCap => "it would exceed 65535 bytes",
        IncompleteReason.CaptureEnd => "fragments still missing when the capture ended",
        _ => reason.ToString(),
    };

    /// <summary>An RDP-UDP flow starts with a well-formed SYN (MS-RDPEUDP 3.1.5.1.1) to port 3389.</summary>
    private void ProcessRdpUdp(in DecodedPacket p)
    {
        var src = new Endpoint(p.Source, p.SourcePort);
        var dst = new Endpoint(p.Destination, p.DestinationPort);
        var key = FlowKey.Of(src, dst, 17);
        RdpeudpDatagram? datagram = RdpeudpDatagram.TryParse(p.Payload.Span, out var g) ? g : null;
        if (!_udpFlows.TryGetValue(key, out var flow))
        {
            if (datagram is not { IsSyn: true } || p.DestinationPort != RdpPort)
            {
                return;
            }
            if (_udpFlows.Count >= MaxUdpFlows)
            {
                _udpFlowsRefused++;
                return;
            }
            flow = new UdpConnectionState(NextConnectionId(), src, dst, new FrameRef(p.Packet.Frame, p.Packet.TimestampTicks));
            _udpFlows[key] = flow;
        }
        flow.Process(p, datagram);
    }

    private void ProcessIcmpError(in DecodedPacket p)
    {
        var q = p.IcmpQuoted;
        var found = _table.Find(new Endpoint(q.Source, q.SourcePort), new Endpoint(q.Destination, q.DestinationPort));
        if (found is not { } f)
        {
            return;
        }
        var at = new FrameRef(p.Packet.Frame, p.Packet.TimestampTicks);
        var state = f.State;
        state.IcmpErrors.Add((at, p.IcmpType, p.IcmpCode, p.Transport == TransportKind.Icmpv6, p.Source));
        bool tooBig = p.Transport == TransportKind.Icmpv6 ? p.IcmpType == Icmpv6PacketTooBig : p.IcmpType == IcmpUnreachable && p.IcmpCode == IcmpFragmentationNeeded;
        if (tooBig)
        {
            var quoted = new Endpoint(q.Source, q.SourcePort) == f.Connection.Client ? TcpDirection.ClientToServer : TcpDirection.ServerToClient;
            state.Path.TooBig.Add((at, p.IcmpMtu, p.Source, quoted));
        }
        state.LastTicks = at.Ticks;
        // An ICMP error goes back to whoever sent the packet it quotes.
        string to = new Endpoint(q.Source, q.SourcePort) == f.Connection.Client ? "client" : "server";
        state.AddStep(at, "icmp", $"{IcmpText.Describe(p.IcmpType, p.IcmpCode, p.Transport == TransportKind.Icmpv6)} from {p.Source} to the {to}", icmpTo: to);
    }

    private static void NotifyGaps(ConnectionState state, TcpDirection direction, int firstNewGap)
    {
        var gaps = state.Connection.Stream(direction).Gaps;
        for (int i = firstNewGap; i < gaps.Count; i++)
        {
            state.Gaps++;
            state.Parser(direction).OnGap(gaps[i].Offset);
        }
    }

    /// <summary>Lets the direction's parser consume what the reassembler delivered.</summary>
    /// <param name="payload">The current segment's payload, when it is in this direction: bytes the
    /// reassembler deferred (see <see cref="TcpStreamReassembler.DeferDelivery"/>) are taken from it.</param>
    private void Feed(ConnectionState state, TcpDirection direction, ReadOnlySpan<byte> payload = default)
    {
        var stream = state.Connection.Stream(direction);
        bool deferred = stream.TakeDeferred(out int skip, out int length);
        if (!state.Following || stream.Ignoring)
        {
            stream.DeferDelivery = false;
            return;
        }
        var parser = state.Parser(direction);
        if (deferred)
        {
            // Bulk session data: opaque records are skipped straight from the packet, without the pipe.
            var bytes = payload.Slice(skip, length);
            int taken = parser.TakeDirect(bytes);
            stream.WriteDeferredRest(bytes[taken..]);
            if (taken < bytes.Length)
            {
                parser.Drain(stream.Reader);
            }
        }
        else
        {
            parser.Drain(stream.Reader);
        }
        stream.Frames.TrimBefore(parser.Offset);
        bool consumed = parser.Offset == stream.NextOffset && stream.GapCount == 0;
        bool defer = _options.SkipFromPackets && parser.CanTakeDirect && consumed;
        if (consumed && !stream.DeferDelivery)
        {
            // Everything delivered was consumed: the pipe is empty until a record needs it again. Given
            // back now, not only once bulk data is skipped: a handshake that stops half-way (no Connection
            // Confirm, no ServerHello) is tracked until the idle timeout, and its pipe held a 4 KiB block.
            stream.ReleaseEmptyPipe();
        }
        stream.DeferDelivery = defer;

        // Not RDP on a non-RDP port: stop copying its bytes.
        if (direction == TcpDirection.ClientToServer && state.Connection.Server.Port != RdpPort
            && state.Request is null && (parser.IsLost || parser.Offset > 0))
        {
            state.Following = false;
            state.Connection.Stream(TcpDirection.ClientToServer).StopFollowing();
            state.Connection.Stream(TcpDirection.ServerToClient).StopFollowing();
        }
    }

    private void OnConnectionEnd(TcpConnection connection, ConnectionState state, ConnectionEndReason reason)
    {
        state.EndReason = reason;
        // Holes that never filled: skip them so the parsers see what came after, then decide.
        for (var direction = TcpDirection.ClientToServer; direction <= TcpDirection.ServerToClient; direction++)
        {
            var stream = connection.Stream(direction);
            int before = stream.GapCount;
            while (stream.SkipFirstHole())
            {
            }
            if (stream.GapCount > before)
            {
                NotifyGaps(state, direction, before);
                Feed(state, direction);
            }
        }
        if (!state.IsRdp && !_options.IncludeNonRdp)
        {
            return;
        }
        if (reason == ConnectionEndReason.Evicted && state.Packets[(int)TcpDirection.ServerToClient] == 0
            && state.PayloadBytes[(int)TcpDirection.ClientToServer] == 0)
        {
            // The table is full (a SYN flood or a scan): attempts seen only as client SYNs are counted, not reported one by one.
            _evictedUnanswered++;
            return;
        }
        // The end a decision is judged against is a function of the connection alone (its last
        // packet plus the linger or idle time), so live capture and the written file agree.
        long end = reason switch
        {
            ConnectionEndReason.Closed => state.LastTicks + _options.Limits.ClosedLinger.Ticks,
            ConnectionEndReason.IdleTimeout => state.LastTicks + _options.Limits.IdleTimeout.Ticks,
            _ => _lastTicks,
        };
        var report = VerdictEngine.Decide(state, end);
        if (_incompleteDatagrams.Count > 0)
        {
            foreach (var d in IncompleteFor(connection, state).Take(MaxFragmentFindings))
            {
                report.Findings.Add(IncompleteFinding(d));
                if (report.Verdict.Code == "path.mtu-blackhole")
                {
                    // The first fragments that arrived alone are the lost large packets themselves.
                    report.Findings[0].EvidenceFrames.Add(d.FirstFrame);
                }
            }
            VerdictEngine.SortDistinct(report.Findings[0].EvidenceFrames);
        }
        Finish(report);
    }

    private void Finish(ConnectionReport report)
    {
        if (_spool is null && _options.SpoolConnections && _finished.Count >= _options.SpoolAfter)
        {
            // Many connections: from here on they wait on disk (small captures never pay for the spool).
            _spool = RdpWire.Analyzer.Report.ConnectionSpool.Of(_finished);
            _finished.Clear();
        }
        if (_spool is { } spool)
        {
            spool.Add(report);
        }
        else
        {
            _finished.Add(report);
        }
        ConnectionDecided?.Invoke(report);
        // Deciding a connection allocates far more than a packet does, and an idle sweep decides
        // many in one packet's time: the heap is looked at after each, not only every 4,096 packets.
        _heap?.Check();
    }

    /// <summary>Ends every open connection and assembles the report.</summary>
    public AnalysisReport Complete(IReadOnlyList<LinkType> linkTypes, long truncatedPackets)
    {
        var facts = CompleteConnections();
        facts.First = _firstTicks;
        facts.Last = _lastTicks;
        return BuildReport(facts, linkTypes, truncatedPackets);
    }

    /// <summary>
    /// What one analyzer leaves when its packets are done: every open connection decided, and the
    /// capture-wide facts the report's capture section and findings are made of. Shards' facts add up
    /// (<see cref="CaptureFacts.Merge"/>) to those of one analyzer over all the packets.
    /// </summary>
    internal CaptureFacts CompleteConnections(long? captureEndTicks = null)
    {
        if (captureEndTicks is long end)
        {
            // A shard: connections open at the end are judged against the whole capture's last packet.
            _lastTicks = Math.Max(_lastTicks, end);
        }
        _defrag.Flush(_incompleteDatagrams);
        _table.Flush();
        var unmatched = _incompleteDatagrams.Where((_, i) => !_matchedDatagrams.Contains(i)).ToList();
        _incompleteDatagrams.Clear();
        foreach (var flow in _udpFlows.Values)
        {
            Finish(VerdictEngine.DecideUdp(flow, _lastTicks));
        }
        _udpFlows.Clear();
        _finished.Sort((a, b) => a.Id.CompareTo(b.Id));
        return new CaptureFacts
        {
            Packets = _summary.Packets,
            Bytes = _summary.Bytes,
            UndecodedPackets = _summary.UndecodedPackets,
            RdpUdpDatagrams = _summary.RdpUdpDatagrams,
            LateSegments = _table.LateSegments,
            UnmatchedDatagrams = unmatched,
            UdpFlowsRefused = _udpFlowsRefused,
            Undecoded = _undecoded.Select(u => (u.Key, u.Value.Count, u.Value.FirstFrame)).ToList(),
            Evictions = _table.Evictions,
            EvictedUnanswered = _evictedUnanswered,
            Findings = _captureFindings,
            Connections = _finished,
            Spool = _spool,
        };
    }

    /// <summary>The report from (merged) capture facts: the capture section and the capture-wide findings.</summary>
    internal AnalysisReport BuildReport(CaptureFacts facts, IReadOnlyList<LinkType> linkTypes, long truncatedPackets)
    {
        var findings = facts.Findings;
        // The datagrams never reassembled that no connection claimed, the earliest first.
        var unmatched = facts.UnmatchedDatagrams.OrderBy(d => d.FirstFrame).ToList();
        foreach (var d in unmatched.Take(MaxFragmentFindings))
        {
            findings.Add(IncompleteFinding(d));
        }
        if (unmatched.Count > MaxFragmentFindings)
        {
            findings.Add(new Finding
            {
                Code = "path.ip-fragments-incomplete",
                Severity = "warning",
                Phase = Phases.TcpConnect,
                Summary = $"{unmatched.Count - MaxFragmentFindings} more IP datagrams never reassembled",
                Detail = "Only the first ones are listed one by one.",
            });
        }
        if (facts.UdpFlowsRefused > 0)
        {
            findings.Add(new Finding
            {
                Code = "capture.flow-limit",
                Severity = "warning",
                Phase = Phases.RdpeudpSyn,
                Summary = $"More RDP-UDP flows than tracked: {facts.UdpFlowsRefused} SYN(s) of further flows were counted but not followed",
                Detail = $"At most {MaxUdpFlows} RDP-UDP flows are followed at once.",
            });
        }
        foreach (var (what, count, firstFrame) in facts.Undecoded.OrderBy(u => u.FirstFrame))
        {
            findings.Add(new Finding
            {
                Code = "capture.undecoded-packets",
                Severity = "warning",
                Phase = Phases.TcpConnect,
                Frame = firstFrame,
                EvidenceFrames = [firstFrame],
                Summary = $"{count} packet(s) skipped: {what}",
                Detail = $"{count} packet(s), the first frame {firstFrame}, could not be decoded down to their TCP/UDP/ICMP header: {what}. They are not part of any connection in this report; if they belonged to RDP connections, those connections miss evidence.",
            });
        }
        _summary.Packets = facts.Packets;
        _summary.Bytes = facts.Bytes;
        _summary.UndecodedPackets = facts.UndecodedPackets;
        _summary.RdpUdpDatagrams = facts.RdpUdpDatagrams;
        _summary.LinkTypes = linkTypes.Select(LinkTypeNames.Name).ToList();
        _summary.LateSegments = facts.LateSegments;
        _summary.TruncatedPackets = truncatedPackets;
        if (facts.Packets > 0)
        {
            _summary.First = ReportTime.Format(facts.First);
            _summary.Last = ReportTime.Format(facts.Last);
        }
        if (facts.Evictions > 0)
        {
            long unanswered = facts.EvictedUnanswered;
            findings.Add(new Finding
            {
                Code = "capture.flow-limit",
                Severity = "warning",
                Phase = Phases.TcpConnect,
                Summary = $"More connections than the flow table holds: {facts.Evictions} were decided early"
                    + (unanswered > 0 ? $", {unanswered} of them unanswered SYN-only attempts counted but not reported one by one" : ""),
                Detail = $"The table keeps {_options.Limits.MaxConnections} connections at once; when full, the least recently active one is decided with what was seen so far."
                    + (unanswered > 0 ? $" {unanswered} evicted connections had only client packets without payload (SYNs nobody answered): the pattern of a SYN flood or a port scan; they are counted here instead of as {unanswered} tcp.no-response reports." : ""),
            });
        }
        return new AnalysisReport
        {
            Version = typeof(CaptureAnalyzer).Assembly.GetName().Version?.ToString(3) ?? "0.0.0",
            Capture = _summary,
            Connections = facts.Connections,
            Findings = findings,
            Spool = facts.Spool,
        };
    }

}
