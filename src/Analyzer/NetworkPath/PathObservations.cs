using RdpWire.Analyzer.Connections;
using RdpWire.Capture.Decoding;
using RdpWire.Capture.Tcp;

namespace RdpWire.Analyzer.NetworkPath;

/// <summary>
/// What one connection shows about the network path, per direction: segment sizes that were
/// acknowledged and ones that never were, retransmissions, sequence numbers that prove bytes
/// were sent but never reached the capture, zero windows, offload-sized frames and ICMP
/// "fragmentation needed" / "packet too big". Bounded: at most <see cref="MaxOutstanding"/>
/// unacknowledged segments are remembered per direction.
/// </summary>
public sealed class PathObservations
{
    public const int MaxOutstanding = 256;
    public const int MaxEarlyPackets = 64;

    /// <summary>Largest IP packet an Ethernet path carries without offload (RFC 894).</summary>
    public const int EthernetMtu = 1500;

    private readonly Direction[] _d = [new(), new()];

    public Direction Of(TcpDirection direction) => _d[(int)direction];

    /// <summary>ICMP "fragmentation needed" (RFC 1191) or ICMPv6 "packet too big" (RFC 8201) about this connection.</summary>
    public List<(FrameRef At, uint Mtu, NetAddress From, TcpDirection QuotedDirection)> TooBig { get; } = [];

    public sealed class Direction
    {
        public ushort? AdvertisedMss { get; set; }
        public long DataSegments { get; set; }
        public long Retransmissions { get; set; }
        /// <summary>Segments that arrived ahead of a hole: the ones before them were lost (or reordered) before the capture point.</summary>
        public long OutOfOrder { get; set; }
        public int LargestIpSent { get; set; }
        public int LargestIpAcked { get; set; }
        public long AckedSegments { get; set; }
        /// <summary>Frames far larger than the MTU: TSO/GSO or GRO artefacts of a capture on an end host.</summary>
        public long OffloadFrames { get; set; }
        public int LargestOffloadFrame { get; set; }
        public List<Segment> Outstanding { get; } = [];
        /// <summary>Outstanding is in order of sequence (each segment ends after the one before): an ACK then takes a prefix.</summary>
        internal bool OutstandingInOrder { get; set; } = true;
        /// <summary>Acknowledged segments kept for reuse: the bulk-data path allocates none per packet.</summary>
        internal Stack<Segment> Free { get; } = new();
        /// <summary>Segments carrying no data whose sequence number is beyond the bytes seen: sent bytes that never arrived here.</summary>
        public FrameRef? FirstSequenceJump { get; set; }
        public long SequenceJumps { get; set; }
        public long LargestSequenceJump { get; set; }
        public FrameRef? FirstZeroWindow { get; set; }
        public long ZeroWindows { get; set; }
        /// <summary>Pure ACKs repeating the previous acknowledgment number (RFC 5681 2: the receiver saw a hole).</summary>
        public long DuplicateAcks { get; set; }
        public long KeepAlives { get; set; }
        internal uint? LastAck { get; set; }
        /// <summary>The first packets of this direction (frame, IP length, carries data): the handshake's share.</summary>
        public List<(FrameRef At, int IpLength, bool Data)> EarlyPackets { get; } = [];
        /// <summary>Largest IP packet of this direction that arrived after the first sign of loss.</summary>
        public int LargestIpAfterJump { get; set; }
        public long DataSegmentsAfterJump { get; set; }
    }

    /// <summary>One data segment not yet acknowledged (sequence numbers as on the wire).</summary>
    public sealed class Segment
    {
        private List<long>? _retransmitFrames;

        public uint Seq { get; private set; }
        public int Length { get; private set; }
        public int IpLength { get; private set; }
        public FrameRef At { get; private set; }
        public bool DontFragment { get; private set; }
        public int Retransmits { get; set; }
        public FrameRef? LastRetransmit { get; set; }
        /// <summary>Frames that retransmitted this segment (at most 16 kept).</summary>
        public IReadOnlyList<long> RetransmitFrames => (IReadOnlyList<long>?)_retransmitFrames ?? [];
        public uint End => Seq + (uint)Length;

        internal void Set(uint seq, int length, int ipLength, FrameRef at, bool df, int retransmits)
        {
            (Seq, Length, IpLength, At, DontFragment, Retransmits, LastRetransmit) = (seq, length, ipLength, at, df, retransmits, null);
            _retransmitFrames?.Clear();
        }

        internal void AddRetransmitFrame(long frame)
        {
            _retransmitFrames ??= [];
            if (_retransmitFrames.Count < 16)
            {
                _retransmitFrames.Add(frame);
            }
        }
    }

    /// <summary>Takes one TCP segment after the reassembler judged it.</summary>
    public void OnSegment(in DecodedPacket p, in TcpSegmentInfo info, TcpConnection connection, FrameRef at)
    {
        var me = _d[(int)info.Direction];
        var peer = _d[1 - (int)info.Direction];
        if ((info.Flags & TcpFlags.Syn) != 0 && p.TcpOptions.Mss is ushort mss)
        {
            me.AdvertisedMss = mss;
        }
        if (me.EarlyPackets.Count < MaxEarlyPackets)
        {
            me.EarlyPackets.Add((at, p.IpTotalLength, info.PayloadLength > 0));
        }
        if (me.FirstSequenceJump is not null && info.PayloadLength > 0 && at.Frame != me.FirstSequenceJump.Value.Frame)
        {
            me.LargestIpAfterJump = Math.Max(me.LargestIpAfterJump, p.IpTotalLength);
            me.DataSegmentsAfterJump++;
        }
        if (p.IpTotalLength > EthernetMtu)
        {
            me.OffloadFrames++;
            me.LargestOffloadFrame = Math.Max(me.LargestOffloadFrame, p.IpTotalLength);
        }
        if (info.PayloadLength > 0 && !info.IsKeepAlive && (info.Flags & TcpFlags.Rst) == 0)
        {
            me.DataSegments++;
            me.LargestIpSent = Math.Max(me.LargestIpSent, p.IpTotalLength);
            uint seq = p.Sequence + ((info.Flags & TcpFlags.Syn) != 0 ? 1u : 0u);
            if (info.Disposition is SegmentDisposition.OutOfOrder or SegmentDisposition.DroppedOverCap)
            {
                // Data beyond a hole: the bytes before it were sent and did not arrive (yet).
                me.OutOfOrder++;
                var stream = connection.Stream(info.Direction);
                long jump = stream.OffsetOf(p.Sequence) - stream.NextOffset;
                me.SequenceJumps++;
                me.FirstSequenceJump ??= at;
                me.LargestSequenceJump = Math.Max(me.LargestSequenceJump, jump);
            }
            if (info.Disposition is SegmentDisposition.Retransmission or SegmentDisposition.PartialRetransmission)
            {
                me.Retransmissions++;
                // A loop, not Find(lambda): the lambda's closure would be allocated for every data segment.
                Segment? known = null;
                foreach (var s in me.Outstanding)
                {
                    if (s.Seq == seq)
                    {
                        known = s;
                        break;
                    }
                }
                if (known is not null)
                {
                    known.Retransmits++;
                    known.LastRetransmit = at;
                    known.AddRetransmitFrame(at.Frame);
                }
                else
                {
                    Remember(me, seq, info.PayloadLength, p.IpTotalLength, at, p.DontFragment, retransmits: 1);
                }
            }
            else
            {
                Remember(me, seq, info.PayloadLength, p.IpTotalLength, at, p.DontFragment, retransmits: 0);
            }
        }
        else if (info.PayloadLength == 0 && (info.Flags & (TcpFlags.Syn | TcpFlags.Rst | TcpFlags.Fin)) == 0)
        {
            var stream = connection.Stream(info.Direction);
            if (stream.HasBase)
            {
                // A FIN takes one sequence number: a pure ACK after it sits one beyond the data.
                long expected = stream.NextOffset + stream.HeldBytes + (connection.FinSeen(info.Direction) ? 1 : 0);
                long jump = stream.OffsetOf(p.Sequence) - expected;
                if (jump > 0)
                {
                    me.SequenceJumps++;
                    me.FirstSequenceJump ??= at;
                    me.LargestSequenceJump = Math.Max(me.LargestSequenceJump, jump);
                }
            }
        }
        if (info.IsKeepAlive)
        {
            me.KeepAlives++;
        }
        if ((info.Flags & TcpFlags.Ack) != 0)
        {
            bool pureAck = info.PayloadLength == 0 && (info.Flags & (TcpFlags.Syn | TcpFlags.Fin | TcpFlags.Rst)) == 0;
            if (pureAck && !info.IsKeepAlive && me.LastAck == p.Acknowledgment && peer.Outstanding.Count > 0)
            {
                me.DuplicateAcks++;
            }
            me.LastAck = p.Acknowledgment;
            Acknowledge(peer, p.Acknowledgment);
            if (p.Window == 0 && (info.Flags & (TcpFlags.Syn | TcpFlags.Rst | TcpFlags.Fin)) == 0)
            {
                me.ZeroWindows++;
                me.FirstZeroWindow ??= at;
            }
        }
    }

    private static void Remember(Direction d, uint seq, int length, int ipLength, FrameRef at, bool df, int retransmits)
    {
        if (d.Outstanding.Count >= MaxOutstanding)
        {
            Release(d, d.Outstanding[0]);
            d.Outstanding.RemoveAt(0);
        }
        var segment = d.Free.Count > 0 ? d.Free.Pop() : new Segment();
        segment.Set(seq, length, ipLength, at, df, retransmits);
        if (d.Outstanding.Count == 0)
        {
            d.OutstandingInOrder = true;
        }
        else if ((int)(segment.End - d.Outstanding[^1].End) < 0)
        {
            d.OutstandingInOrder = false;
        }
        d.Outstanding.Add(segment);
    }

    private static void Release(Direction d, Segment segment)
    {
        if (d.Free.Count < MaxOutstanding)
        {
            d.Free.Push(segment);
        }
    }

    private static void Acknowledge(Direction d, uint ack)
    {
        if (d.OutstandingInOrder)
        {
            // Each segment ends after the one before it: the acknowledged ones are a prefix, and the
            // first one not acknowledged ends the walk (a large window costs its acknowledged part only).
            int acked = 0;
            while (acked < d.Outstanding.Count && (int)(ack - d.Outstanding[acked].End) >= 0)
            {
                var s = d.Outstanding[acked++];
                d.AckedSegments++;
                d.LargestIpAcked = Math.Max(d.LargestIpAcked, s.IpLength);
                Release(d, s);
            }
            if (acked > 0)
            {
                d.Outstanding.RemoveRange(0, acked);
            }
            return;
        }
        for (int i = d.Outstanding.Count - 1; i >= 0; i--)
        {
            var s = d.Outstanding[i];
            if ((int)(ack - s.End) >= 0)
            {
                d.AckedSegments++;
                d.LargestIpAcked = Math.Max(d.LargestIpAcked, s.IpLength);
                d.Outstanding.RemoveAt(i);
                Release(d, s);
            }
        }
        if (d.Outstanding.Count == 0)
        {
            d.OutstandingInOrder = true;
        }
    }
}
