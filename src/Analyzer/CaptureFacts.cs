using RdpWire.Analyzer.Report;
using RdpWire.Capture.Fragments;

namespace RdpWire.Analyzer;

/// <summary>
/// What an analyzer knows of the capture as a whole once its packets are done: counters, the
/// datagrams never reassembled that no connection claimed, packets it could not decode, limits
/// hit, and its decided connections. <see cref="Merge"/> adds shards' facts up to what one
/// analyzer over every packet would have.
/// </summary>
internal sealed class CaptureFacts
{
    public long Packets { get; init; }
    public long Bytes { get; init; }
    public long UndecodedPackets { get; init; }
    public long RdpUdpDatagrams { get; init; }
    public long LateSegments { get; init; }
    public long First { get; set; }
    public long Last { get; set; }
    public required List<IncompleteDatagram> UnmatchedDatagrams { get; init; }
    public long UdpFlowsRefused { get; init; }
    /// <summary>Packets not decoded, by reason: count and first frame.</summary>
    public required List<(string What, long Count, long FirstFrame)> Undecoded { get; init; }
    public long Evictions { get; init; }
    public long EvictedUnanswered { get; init; }
    /// <summary>Capture-wide findings recorded while reading (a damaged file, skipped blocks).</summary>
    public required List<Finding> Findings { get; init; }
    /// <summary>Decided connections kept in memory, in id order (empty when spooled).</summary>
    public required List<ConnectionReport> Connections { get; init; }
    public ConnectionSpool? Spool { get; init; }

    /// <summary>
    /// The shards' facts as one: counters summed, lists joined. <paramref name="connections"/> and
    /// <paramref name="spool"/> are the shards' connections already renumbered and merged.
    /// </summary>
    public static CaptureFacts Merge(IReadOnlyList<CaptureFacts> shards, List<Finding> readingFindings,
        List<ConnectionReport> connections, ConnectionSpool? spool) => new()
    {
        Packets = shards.Sum(s => s.Packets),
        Bytes = shards.Sum(s => s.Bytes),
        UndecodedPackets = shards.Sum(s => s.UndecodedPackets),
        RdpUdpDatagrams = shards.Sum(s => s.RdpUdpDatagrams),
        LateSegments = shards.Sum(s => s.LateSegments),
        UnmatchedDatagrams = shards.SelectMany(s => s.UnmatchedDatagrams).ToList(),
        UdpFlowsRefused = shards.Sum(s => s.UdpFlowsRefused),
        Undecoded = shards.SelectMany(s => s.Undecoded).GroupBy(u => u.What)
            .Select(g => (g.Key, g.Sum(u => u.Count), g.Min(u => u.FirstFrame))).ToList(),
        Evictions = shards.Sum(s => s.Evictions),
        EvictedUnanswered = shards.Sum(s => s.EvictedUnanswered),
        Findings = readingFindings,
        Connections = connections,
        Spool = spool,
    };
}
