using RdpWire.Analyzer.Report;
using RdpWire.Capture;
using RdpWire.Capture.Decoding;
using RdpWire.Capture.Files;

namespace RdpWire.Analyzer;

/// <summary>
/// <c>analyze --threads N</c>: the capture's flows spread over N analyzers, each on its own thread
/// with its own reader of the whole capture (<see cref="CaptureFileReadings"/>), and one report at the
/// end that is the report a single analyzer writes.
/// <list type="bullet">
/// <item>Classic pcap: each reader passes over the other threads' records, looking only at their
/// addresses (<see cref="PcapFileReader.KeepOnly"/>). pcapng: every thread reads every packet and
/// analyzes those of its shard, so that its interfaces and the key logs embedded in it reach every
/// analyzer in their place. No packet is handed between threads. (Two earlier designs were measured
/// slower: one reading thread handing copied packets to the others, and one shared reading of the
/// file, whose blocks each thread read in turn and whose records were routed to their thread; see
/// <see cref="CaptureFileReadings"/>.)</item>
/// <item>A packet's shard is that of its pair of IP addresses (either order), so both directions
/// of a TCP connection, its IP fragments (which carry no ports), RDP-UDP flows between the same
/// hosts and the ICMP errors quoting them (routed by the quoted addresses) meet in one analyzer.
/// Packets that do not decode to IP go to shard 0, which counts them; packets damaged past their IP
/// header go by their addresses.</item>
/// <item>Time: the other shards' packets reach each analyzer as time only
/// (<see cref="CaptureAnalyzer.PassOver"/>), so that connections go idle and IP datagrams time out at
/// the same packet as with one analyzer, whichever shard that packet belongs to.</item>
/// <item>Connection ids: each shard records the frame that created each of its connections; the id a
/// single analyzer would have given is that frame's rank among all shards' creation frames.</item>
/// <item>Connections open at the end are judged against the whole capture's last packet; the capture
/// section and capture-wide findings are built once from the shards' facts added up.</item>
/// </list>
/// Limits (connections, buffered bytes, fragments) apply per shard, so a capture that hits them can be
/// reported differently from one thread; the report says when a limit was hit either way.
/// </summary>
public static class ShardedAnalysis
{
    private const byte TcpProtocol = 6, UdpProtocol = 17; // RFC 9293, RFC 768

    /// <summary>
    /// Analyzes a capture on <paramref name="threads"/> threads, each of which reads all of it from its
    /// own source: <paramref name="open"/> is called once on each thread, and must return a reader of the
    /// same bytes every time.
    /// </summary>
    public static AnalysisReport Analyze(Func<IPacketSource> open, int threads, AnalyzerOptions options)
    {
        ArgumentNullException.ThrowIfNull(open);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(threads);
        if (threads == 1)
        {
            using var only = open();
            return CaptureAnalyzer.Analyze(only, options);
        }
        var sources = new IPacketSource?[threads];
        try
        {
            var analyzers = new CaptureAnalyzer?[threads];
            var readErrors = new CaptureFormatException?[threads];
            var openFailures = new Exception?[threads];
            var failures = new Exception?[threads];
            // Per shard: the first frame it took, that frame's time and the latest time it saw (every
            // packet is some shard's): the capture's first and last time stamps.
            var firstFrames = new long[threads];
            var firstTicks = new long[threads];
            var lastTicks = new long[threads];
            Array.Fill(lastTicks, long.MinValue);
            // One governor for all the threads, with each one's budget: a collection stops them all. On the
            // 5 GB bench capture, a governor per thread collected as often as one thread's for the same heap.
            var governor = options.CollectEveryAllocatedBytes > 0
                ? new HeapGovernor(options.CollectEveryAllocatedBytes * threads, allThreads: true)
                : null;

            // Each thread opens its own reader of the whole capture.
            void Run(int shard)
            {
                IPacketSource source;
                try
                {
                    source = sources[shard] = open();
                }
                catch (Exception e) when (e is CaptureFormatException or IOException or UnauthorizedAccessException)
                {
                    openFailures[shard] = e;
                    return;
                }
                // Each shard its own copy of the key material: nothing in it is shared between threads.
                var analyzer = analyzers[shard] = new CaptureAnalyzer(source.Name, source.Format,
                    options with { KeyLog = options.KeyLog?.Clone(), SharedHeapGovernor = governor }) { CreationFrames = [] };
                // The shard of a packet; the other shards' packets reach this analyzer as time only (CaptureAnalyzer.PassOver).
                int Route(in CapturedPacket packet)
                {
                    int of = ShardOf(packet, threads);
                    if (of != shard)
                    {
                        analyzer.PassOver(packet);
                    }
                    return of;
                }
                // Classic pcap: the source returns this shard's packets only. Otherwise (pcapng) every
                // packet comes by and is routed here.
                bool routed = false;
                if (source is PcapFileReader pcap)
                {
                    pcap.KeepOnly(Route, shard);
                    routed = true;
                }
                long firstFrame = 0, firstAt = 0, lastAt = long.MinValue;
                readErrors[shard] = CaptureAnalyzer.ReadPackets(source, analyzer.AddKeyLog, (in CapturedPacket packet) =>
                {
                    if (routed || Route(packet) == shard)
                    {
                        if (firstFrame == 0)
                        {
                            (firstFrame, firstAt) = (packet.Frame, packet.TimestampTicks);
                        }
                        lastAt = Math.Max(lastAt, packet.TimestampTicks);
                        analyzer.Process(packet);
                    }
                    return true;
                });
                (firstFrames[shard], firstTicks[shard], lastTicks[shard]) = (firstFrame, firstAt, lastAt);
            }

            var workers = Enumerable.Range(1, threads - 1).Select(shard => new Thread(() =>
            {
                try
                {
                    Run(shard);
                }
                catch (Exception e)
                {
                    failures[shard] = e;
                }
            }) { Name = $"rdpwire shard {shard}", IsBackground = true }).ToList();
            workers.ForEach(w => w.Start());
            try
            {
                Run(0);
            }
            finally
            {
                workers.ForEach(w => w.Join());
            }
            // Every reader reads the same header: a file that cannot be opened fails all of them alike.
            if (openFailures.FirstOrDefault(f => f is not null) is { } openFailure)
            {
                System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(openFailure);
            }
            if (failures.FirstOrDefault(f => f is not null) is { } failure)
            {
                // A bug, as an exception in the one-thread analyzer would be: report it, do not hide it.
                throw new InvalidOperationException($"an analysis thread failed: {failure.Message}", failure);
            }
            long first = 0, last = 0, earliestFrame = long.MaxValue;
            for (int shard = 0; shard < threads; shard++)
            {
                if (firstFrames[shard] > 0 && firstFrames[shard] < earliestFrame)
                {
                    (earliestFrame, first) = (firstFrames[shard], firstTicks[shard]);
                }
            }
            if (earliestFrame != long.MaxValue)
            {
                last = lastTicks.Max();
            }
            // Classic pcap: each source counted the cut-short packets among its own; pcapng: each saw them all.
            long truncated = sources[0] is PcapFileReader ? sources.Sum(s => s!.TruncatedPackets) : sources[0]!.TruncatedPackets;
            // Every reader reads every record, so each meets the same damage; the earliest, should they differ.
            var readError = readErrors.Where(e => e is not null).MinBy(e => e!.PacketsRead);
            return Merge(analyzers!, sources[0]!, readError, first, last, truncated);
        }
        finally
        {
            foreach (var source in sources)
            {
                source?.Dispose();
            }
        }
    }

    /// <summary>One report from the shards: ids renumbered as one analyzer would have given them, facts added up, spools merged.</summary>
    private static AnalysisReport Merge(CaptureAnalyzer[] analyzers, IPacketSource source, CaptureFormatException? readError, long first, long last, long truncatedPackets)
    {
        var primary = analyzers[0];
        primary.RecordReadingProblems(source, readError);
        var facts = analyzers.Select(a => a.CompleteConnections(last)).ToList();
        var ids = GlobalIds(analyzers.Select(a => a.CreationFrames!).ToList());

        // Shards that spooled are merged as spools; when any did, the others' few connections join them there.
        ConnectionSpool? spool = null;
        if (facts.Any(f => f.Spool is not null))
        {
            var parts = new List<(ConnectionSpool, long[])>();
            for (int i = 0; i < facts.Count; i++)
            {
                var part = facts[i].Spool ?? (facts[i].Connections.Count > 0 ? ConnectionSpool.Of(facts[i].Connections) : null);
                if (part is not null)
                {
                    parts.Add((part, ids[i]));
                }
            }
            spool = ConnectionSpool.Merge(parts);
        }
        var connections = new List<ConnectionReport>();
        if (spool is null)
        {
            for (int i = 0; i < facts.Count; i++)
            {
                foreach (var c in facts[i].Connections)
                {
                    c.Id = ids[i][c.Id - 1];
                    connections.Add(c);
                }
            }
            connections.Sort((a, b) => a.Id.CompareTo(b.Id));
        }
        // The findings recorded while reading (damage, skipped blocks) are the primary's.
        var merged = CaptureFacts.Merge(facts, facts[0].Findings, connections, spool);
        merged.First = first;
        merged.Last = last;
        return primary.BuildReport(merged, source.LinkTypes, truncatedPackets);
    }

    /// <summary>The shard of a packet: its IP address pair (or, for an ICMP error, the pair it quotes), in either order.</summary>
    internal static int ShardOf(in CapturedPacket packet, int shards)
    {
        if (PacketDecoder.TryReadAddresses(packet, out var source, out var destination, out byte protocol)
            && protocol is TcpProtocol or UdpProtocol)
        {
            // The common case, read without decoding; fragments of TCP/UDP too (the pair is in every fragment).
            return ShardOf(source, destination, shards);
        }
        return ShardOfDecoded(packet, shards);
    }

    /// <summary>
    /// ICMP errors (routed by what they quote), IPv6 extension headers, damaged packets: decoded.
    /// A method of its own, so that the common case does not zero a DecodedPacket for every packet.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static int ShardOfDecoded(in CapturedPacket packet, int shards)
    {
        // Damaged past the IP header too: by its addresses, like the rest of its flow. (Routed readings
        // show the router only a packet's first bytes: a packet whose headers go on past them is judged
        // by the addresses it has.)
        PacketDecoder.TryDecode(packet, out var p);
        if (p.IpVersion == 0)
        {
            return 0;
        }
        var (a, b) = p.IcmpIsError && !p.IcmpQuoted.Source.IsZero ? (p.IcmpQuoted.Source, p.IcmpQuoted.Destination) : (p.Source, p.Destination);
        return ShardOf(a, b, shards);
    }

    private static int ShardOf(NetAddress a, NetAddress b, int shards)
    {
        ulong h = (a.Lower ^ b.Lower ^ a.Upper ^ b.Upper) * 0x9E3779B97F4A7C15UL; // the same in either direction
        return (int)((h >> 32) * (ulong)shards >> 32); // the top 32 bits scaled to [0, shards): no division
    }

    /// <summary>Per shard, its connection ids (1-based index) mapped to their rank among all creation frames.</summary>
    internal static long[][] GlobalIds(IReadOnlyList<List<long>> creationFrames)
    {
        var ids = creationFrames.Select(f => new long[f.Count]).ToArray();
        var next = new int[creationFrames.Count];
        long id = 0;
        while (true)
        {
            int pick = -1;
            for (int s = 0; s < creationFrames.Count; s++)
            {
                if (next[s] < creationFrames[s].Count
                    && (pick < 0 || creationFrames[s][next[s]] < creationFrames[pick][next[pick]]))
                {
                    pick = s;
                }
            }
            if (pick < 0)
            {
                return ids;
            }
            ids[pick][next[pick]++] = ++id;
        }
    }
}
