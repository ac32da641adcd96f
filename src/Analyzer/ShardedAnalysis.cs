using System.Collections.Concurrent;
using RdpWire.Analyzer.Report;
using RdpWire.Capture;
using RdpWire.Capture.Decoding;

namespace RdpWire.Analyzer;

/// <summary>
/// <c>analyze --threads N</c>: the capture's flows spread over N analyzers on their own threads,
/// fed by the reading thread, and one report at the end that is the report a single analyzer
/// writes.
/// <list type="bullet">
/// <item>A packet goes to the shard of its pair of IP addresses (either order), so both directions
/// of a TCP connection, its IP fragments (which carry no ports), RDP-UDP flows between the same
/// hosts and the ICMP errors quoting them (routed by the quoted addresses) meet in one analyzer.
/// Packets that do not decode to IP go to shard 0, which counts them.</item>
/// <item>Packets are copied into batches (the reader's buffer is reused at the next read) and
/// handed over through a bounded queue, so a slow shard holds the reader back instead of memory
/// growing.</item>
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

    /// <summary>Bytes of packet data per batch handed to a shard.</summary>
    private const int BatchBytes = 1 << 20;
    private const int BatchPackets = 8192;
    /// <summary>Batches queued per shard before the reader waits.</summary>
    private const int QueueDepth = 4;

    public static AnalysisReport Analyze(IPacketSource source, AnalyzerOptions options, int threads)
    {
        if (threads <= 1)
        {
            return CaptureAnalyzer.Analyze(source, options);
        }
        // Shard 0 runs on the reading thread itself (no copy, no hand-over); the others on their own.
        var shards = Enumerable.Range(0, threads).Select(i => new Shard(i, source, options, inline: i == 0)).ToArray();
        foreach (var shard in shards)
        {
            shard.Start();
        }
        long first = 0, last = 0, packets = 0;
        CaptureFormatException? readError;
        try
        {
            readError = CaptureAnalyzer.ReadPackets(source,
                keyLog =>
                {
                    // Every shard decrypts with the key logs embedded in the capture.
                    foreach (var shard in shards)
                    {
                        shard.AddKeyLog(keyLog);
                    }
                },
                (in CapturedPacket packet) =>
                {
                    if (packets++ == 0)
                    {
                        first = packet.TimestampTicks;
                    }
                    last = Math.Max(last, packet.TimestampTicks);
                    shards[ShardOf(packet, threads)].Add(packet);
                    return !AnyFailed(shards);
                });
        }
        finally
        {
            foreach (var shard in shards)
            {
                shard.Finish();
            }
        }
        if (shards.FirstOrDefault(s => s.Failure is not null) is { } broken)
        {
            // A bug, as an exception in the one-thread analyzer would be: report it, do not hide it.
            throw new InvalidOperationException($"analysis thread {broken.Index} failed: {broken.Failure!.Message}", broken.Failure);
        }

        var primary = shards[0].Analyzer;
        primary.RecordReadingProblems(source, readError);
        var facts = shards.Select(s => s.Analyzer.CompleteConnections(last)).ToList();

        // Ids as one analyzer would have numbered them: the rank of each creating frame.
        var ids = GlobalIds(shards.Select(s => s.CreationFrames).ToList());
        // Shards that spooled are merged as spools; when any did, the others' few connections join them there.
        ConnectionSpool? spool = null;
        if (facts.Any(f => f.Spool is not null))
        {
            var parts = new List<(ConnectionSpool, long[])>();
            for (int i = 0; i < facts.Count; i++)
            {
                var part = facts[i].Spool;
                if (part is null && facts[i].Connections.Count > 0)
                {
                    part = new ConnectionSpool();
                    foreach (var c in facts[i].Connections)
                    {
                        part.Add(c);
                    }
                }
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
            for (int i = 0; i < shards.Length; i++)
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
        return primary.BuildReport(merged, source.LinkTypes, source.TruncatedPackets);
    }

    private static bool AnyFailed(Shard[] shards)
    {
        for (int i = 1; i < shards.Length; i++)
        {
            if (shards[i].Failure is not null)
            {
                return true;
            }
        }
        return false;
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
        // ICMP errors (routed by what they quote), IPv6 extension headers, damaged packets: decode.
        var result = PacketDecoder.TryDecode(packet, out var p);
        if (p.IpVersion == 0)
        {
            return 0;
        }
        if (!p.IsFragment && result != DecodeResult.Ok)
        {
            return 0;
        }
        var (a, b) = p.IcmpIsError && p.IcmpQuoted.Source.Value != 0 ? (p.IcmpQuoted.Source, p.IcmpQuoted.Destination) : (p.Source, p.Destination);
        return ShardOf(a, b, shards);
    }

    /// <summary>
    /// Shard 0's weight against 1 for each of the others: the reading thread also reads, routes and
    /// copies every packet, so it takes fewer flows (a fifth of them with two threads; measured with
    /// bench/run.sh, 0.5 and 0.35 were slower).
    /// </summary>
    private const double ReaderWeight = 0.25;

    private static int ShardOf(NetAddress a, NetAddress b, int shards)
    {
        UInt128 pair = a.Value ^ b.Value; // the same in either direction
        ulong h = ((ulong)pair ^ (ulong)(pair >> 64)) * 0x9E3779B97F4A7C15UL;
        double x = (h >> 11) * (1.0 / (1UL << 53)); // uniform in [0, 1)
        double readerShare = ReaderWeight / (ReaderWeight + shards - 1);
        if (x < readerShare)
        {
            return 0;
        }
        return 1 + Math.Min(shards - 2, (int)((x - readerShare) / (1 - readerShare) * (shards - 1)));
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

    /// <summary>Packets of one shard, copied out of the reader's buffer.</summary>
    private sealed class Batch
    {
        public byte[] Data = new byte[BatchBytes];
        public int Used;
        public readonly List<(long Frame, long Ticks, byte SubTick, LinkType LinkType, int InterfaceId, int OriginalLength, int Offset, int Length)> Packets = new(BatchPackets);
        /// <summary>Key log text to add before this batch's packets.</summary>
        public string? KeyLog;

        public bool Fits(int length) => Packets.Count < BatchPackets && Used + length <= Data.Length;

        public void Clear()
        {
            Used = 0;
            Packets.Clear();
            KeyLog = null;
        }
    }

    private sealed class Shard
    {
        private readonly BlockingCollection<Batch> _queue = new(QueueDepth);
        private readonly ConcurrentBag<Batch> _free = [];
        private readonly Thread? _thread;
        private Batch _current = new();

        public Shard(int index, IPacketSource source, AnalyzerOptions options, bool inline)
        {
            Index = index;
            // Each shard its own copy of the key material: nothing in it is shared between threads.
            var own = options with { KeyLog = options.KeyLog?.Clone() };
            Analyzer = new CaptureAnalyzer(source.Name, source.Format, own) { CreationFrames = CreationFrames };
            _thread = inline ? null : new Thread(Run) { Name = $"rdpwire shard {index}", IsBackground = true };
        }

        public int Index { get; }
        public CaptureAnalyzer Analyzer { get; }
        public List<long> CreationFrames { get; } = [];
        public Exception? Failure { get; private set; }

        public void Start() => _thread?.Start();

        public void Add(in CapturedPacket packet)
        {
            if (_thread is null)
            {
                Analyzer.Process(packet);
                return;
            }
            var data = packet.Data.Span;
            if (!_current.Fits(data.Length))
            {
                Send();
                if (_current.Data.Length < data.Length)
                {
                    _current.Data = new byte[data.Length];
                }
            }
            data.CopyTo(_current.Data.AsSpan(_current.Used));
            _current.Packets.Add((packet.Frame, packet.TimestampTicks, packet.SubTickNanoseconds, packet.LinkType, packet.InterfaceId, packet.OriginalLength, _current.Used, data.Length));
            _current.Used += data.Length;
        }

        public void AddKeyLog(string text)
        {
            if (_thread is null)
            {
                Analyzer.AddKeyLog(text);
                return;
            }
            Send();
            _current.KeyLog = text;
            Send(evenIfEmpty: true);
        }

        /// <summary>Hands the last batch over and waits for the shard to process everything.</summary>
        public void Finish()
        {
            if (_thread is null)
            {
                return;
            }
            Send();
            _queue.CompleteAdding();
            _thread.Join();
        }

        private void Send(bool evenIfEmpty = false)
        {
            if (_current.Packets.Count == 0 && !evenIfEmpty)
            {
                return;
            }
            if (Failure is null)
            {
                _queue.Add(_current);
            }
            if (!_free.TryTake(out var next))
            {
                next = new Batch();
            }
            _current = next;
        }

        private void Run()
        {
            try
            {
                foreach (var batch in _queue.GetConsumingEnumerable())
                {
                    if (batch.KeyLog is { } keyLog)
                    {
                        Analyzer.AddKeyLog(keyLog);
                    }
                    foreach (var (frame, ticks, subTick, linkType, interfaceId, originalLength, offset, length) in batch.Packets)
                    {
                        Analyzer.Process(new CapturedPacket(frame, ticks, linkType, interfaceId, originalLength, batch.Data.AsMemory(offset, length), subTick));
                    }
                    if (batch.Data.Length == BatchBytes)
                    {
                        batch.Clear();
                        _free.Add(batch);
                    }
                }
            }
            catch (Exception e)
            {
                Failure = e;
                // Keep taking batches so the reader never blocks on a full queue.
                foreach (var _ in _queue.GetConsumingEnumerable())
                {
                }
            }
        }
    }
}
