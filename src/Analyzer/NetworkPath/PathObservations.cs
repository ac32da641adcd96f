using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
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

    /// <summary>
    /// Early packets a direction first has room for. Connections that never get past a few packets
    /// (unanswered SYNs, refused or silent servers) stay tracked until the idle timeout, and there are
    /// hundreds of them in a long capture: they keep 128 bytes instead of 1 KiB per direction. A
    /// direction that gets past this many grows once, to <see cref="MaxEarlyPackets"/>.
    /// </summary>
    private const int FewEarlyPackets = 8;

    /// <summary>Largest IP packet an Ethernet path carries without offload (RFC 894).</summary>
    public const int EthernetMtu = 1500;

    // Two fields, not a two-element array: the array was one more object (and cache line) to read
    // on the way to a direction, for every packet.
    private readonly Direction _clientToServer = new(), _serverToClient = new();

    public Direction Of(TcpDirection direction) => direction == TcpDirection.ClientToServer ? _clientToServer : _serverToClient;

    /// <summary>ICMP "fragmentation needed" (RFC 1191) or ICMPv6 "packet too big" (RFC 8201) about this connection.</summary>
    public List<(FrameRef At, uint Mtu, NetAddress From, TcpDirection QuotedDirection)> TooBig { get; } = [];

    /// <summary>
    /// What one direction of the connection showed. It is its own ring of unacknowledged segments
    /// (<see cref="Outstanding"/> is the direction itself): every data segment and every ACK reads
    /// the ring's fields right after the direction's, and as a separate object they were one more
    /// object to reach on every packet (5 GB bench capture, pinned, interleaved: 1.93 -> 1.90 s).
    /// </summary>
    public sealed class Direction : OutstandingSegments
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
        public OutstandingSegments Outstanding => this;
        /// <summary>Outstanding is in order of sequence (each segment ends after the one before): an ACK then takes a prefix.</summary>
        internal bool OutstandingInOrder { get; set; } = true;
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
        // The early packets, 8 bytes each: the frame as a distance from the first one (32 bits), the
        // IP length (31 bits) and whether it carried data (1 bit). A tuple list took 16 bytes each and
        // was the largest single share of a tracked connection's memory on the 5 GB bench capture.
        private ulong[] _early = [];
        private int _earlyCount;
        private long _earlyBase;

        /// <summary>The first packets of this direction (frame, IP length, carries data): the handshake's share.</summary>
        public IEnumerable<(long Frame, int IpLength, bool Data)> EarlyPackets
        {
            get
            {
                for (int i = 0; i < _earlyCount; i++)
                {
                    ulong packed = _early[i];
                    yield return (_earlyBase + (long)(packed >> 32), (int)((uint)packed >> 1), (packed & 1) != 0);
                }
            }
        }

        /// <summary>True while fewer than <see cref="MaxEarlyPackets"/> are recorded: every packet asks, so the answer is inline.</summary>
        internal bool WantsEarlyPackets => _earlyCount < MaxEarlyPackets;

        /// <summary>Records one of the first <see cref="MaxEarlyPackets"/> packets (frames in increasing order).</summary>
        internal void AddEarlyPacket(long frame, int ipLength, bool data)
        {
            if (!WantsEarlyPackets)
            {
                return;
            }
            if (_earlyCount == 0)
            {
                _earlyBase = frame;
            }
            long distance = frame - _earlyBase;
            if ((ulong)distance > uint.MaxValue)
            {
                return; // four billion frames into the connection: no longer its handshake
            }
            if (_earlyCount == _early.Length)
            {
                // Two sizes, not doubling: 8, then room for all (doubling allocated twice as much).
                Array.Resize(ref _early, _earlyCount < FewEarlyPackets ? FewEarlyPackets : MaxEarlyPackets);
            }
            _early[_earlyCount++] = ((ulong)distance << 32) | (((ulong)(uint)Math.Max(ipLength, 0) << 1) & 0xFFFF_FFFE) | (data ? 1UL : 0);
        }
        /// <summary>Largest IP packet of this direction that arrived after the first sign of loss.</summary>
        public int LargestIpAfterJump { get; set; }
        public long DataSegmentsAfterJump { get; set; }
    }

    /// <summary>
    /// One data segment not yet acknowledged (sequence numbers as on the wire). Values only: storing
    /// one in the ring costs no write barrier. Its retransmissions' frames are kept by the ring.
    /// </summary>
    public readonly record struct Segment(uint Seq, int Length, int IpLength, FrameRef At, bool DontFragment, int Retransmits)
    {
        public uint End => Seq + (uint)Length;
    }

    /// <summary>
    /// The unacknowledged data segments of one direction, oldest first: a ring of values. Remembering
    /// one and acknowledging a prefix (the usual ACK) allocate nothing and move nothing; only an ACK
    /// of segments that arrived out of order removes from the middle. (It was a list of pooled
    /// objects: every data segment popped one from a stack, and every ACK shifted the list.)
    /// </summary>
    public class OutstandingSegments : IReadOnlyList<Segment>
    {
        // Allocated at the first data segment: a connection that never carries data (an unanswered SYN,
        // tracked until the idle timeout) keeps no ring.
        private Segment[] _ring = [];
        // _ring.Length - 1, kept here: reading it from the array was the first touch of the array's
        // header line, a cache miss on most packets (74 % of Add's samples, 83 % of the indexer's).
        private int _mask = -1;
        private int _head;
        /// <summary>Frames that retransmitted a segment (at most 16 each), by the frame that first sent it; only segments retransmitted have one.</summary>
        private Dictionary<long, List<long>>? _retransmitFrames;

        public int Count { get; private set; }

        /// <summary>Where the newest segment ends (meaningful while <see cref="Count"/> is not 0): the order check of each new segment reads it here, not from the ring.</summary>
        internal uint NewestEnd { get; private set; }

        /// <summary>By reference: the ACK walks read one field of a 40-byte segment.</summary>
        public ref readonly Segment this[int index]
        {
            get
            {
                if ((uint)index >= (uint)Count)
                {
                    throw new ArgumentOutOfRangeException(nameof(index));
                }
                // In range: index < Count <= the ring's length, a power of two, and the mask is that length - 1.
                return ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_ring), (_head + index) & _mask);
            }
        }

        Segment IReadOnlyList<Segment>.this[int index] => this[index];

        /// <summary>Frames that retransmitted <paramref name="segment"/> (at most 16 kept).</summary>
        public IReadOnlyList<long> RetransmitFramesOf(in Segment segment) =>
            _retransmitFrames?.GetValueOrDefault(segment.At.Frame) ?? (IReadOnlyList<long>)[];

        /// <summary>The segment at <paramref name="index"/> was sent again, in <paramref name="frame"/>.</summary>
        internal void Retransmitted(int index, long frame)
        {
            ref var segment = ref _ring[(_head + index) & _mask];
            segment = segment with { Retransmits = segment.Retransmits + 1 };
            _retransmitFrames ??= [];
            if (!_retransmitFrames.TryGetValue(segment.At.Frame, out var frames))
            {
                _retransmitFrames[segment.At.Frame] = frames = [];
            }
            if (frames.Count < 16)
            {
                frames.Add(frame);
            }
        }

        /// <summary>A segment leaves the ring: so do its retransmissions' frames.</summary>
        private void Forget(in Segment segment)
        {
            if (segment.Retransmits > 0)
            {
                _retransmitFrames?.Remove(segment.At.Frame);
            }
        }

        internal void Add(in Segment segment)
        {
            if (Count == _mask + 1)
            {
                // Eight, then doubles up to MaxOutstanding (a power of two); the oldest comes first in the new ring.
                var larger = new Segment[Math.Max(8, _ring.Length * 2)];
                for (int i = 0; i < Count; i++)
                {
                    larger[i] = _ring[(_head + i) & _mask];
                }
                (_ring, _mask, _head) = (larger, larger.Length - 1, 0);
            }
            Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_ring), (_head + Count) & _mask) = segment;
            Count++;
            NewestEnd = segment.End;
        }

        /// <summary>Drops the <paramref name="count"/> oldest segments.</summary>
        internal void RemoveOldest(int count)
        {
            for (int i = 0; i < count; i++)
            {
                Forget(this[i]);
            }
            _head = (_head + count) & _mask;
            Count -= count;
        }

        /// <summary>Drops the segment at <paramref name="index"/>; the later ones move up.</summary>
        internal void RemoveAt(int index)
        {
            Forget(this[index]);
            for (int i = index; i < Count - 1; i++)
            {
                _ring[(_head + i) & _mask] = _ring[(_head + i + 1) & _mask];
            }
            Count--;
            if (Count > 0)
            {
                NewestEnd = this[Count - 1].End;
            }
        }

        public Enumerator GetEnumerator() => new(this);

        IEnumerator<Segment> IEnumerable<Segment>.GetEnumerator() => GetEnumerator();

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

        public struct Enumerator(OutstandingSegments segments) : IEnumerator<Segment>
        {
            private int _index = -1;

            public readonly Segment Current => segments[_index];

            readonly object System.Collections.IEnumerator.Current => Current;

            public bool MoveNext() => ++_index < segments.Count;

            public void Reset() => _index = -1;

            public readonly void Dispose()
            {
            }
        }
    }

    /// <summary>Takes one TCP segment after the reassembler judged it.</summary>
    public void OnSegment(in DecodedPacket p, in TcpSegmentInfo info, TcpConnection connection, FrameRef at)
    {
        var (me, peer) = info.Direction == TcpDirection.ClientToServer ? (_clientToServer, _serverToClient) : (_serverToClient, _clientToServer);
        if ((info.Flags & TcpFlags.Syn) != 0 && p.TcpOptions.Mss is ushort mss)
        {
            me.AdvertisedMss = mss;
        }
        if (me.WantsEarlyPackets)
        {
            me.AddEarlyPacket(at.Frame, p.IpTotalLength, info.PayloadLength > 0);
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
                int known = -1;
                for (int i = 0; i < me.Outstanding.Count && known < 0; i++)
                {
                    known = me.Outstanding[i].Seq == seq ? i : -1;
                }
                if (known >= 0)
                {
                    me.Outstanding.Retransmitted(known, at.Frame);
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
        var outstanding = d.Outstanding;
        if (outstanding.Count >= MaxOutstanding)
        {
            outstanding.RemoveOldest(1);
        }
        var segment = new Segment(seq, length, ipLength, at, df, retransmits);
        if (outstanding.Count == 0)
        {
            d.OutstandingInOrder = true;
        }
        else if ((int)(segment.End - outstanding.NewestEnd) < 0)
        {
            d.OutstandingInOrder = false;
        }
        outstanding.Add(segment);
    }

    private static void Acknowledge(Direction d, uint ack)
    {
        var outstanding = d.Outstanding;
        if (d.OutstandingInOrder)
        {
            // Each segment ends after the one before it: the acknowledged ones are a prefix, and the
            // first one not acknowledged ends the walk (a large window costs its acknowledged part only).
            int acked = 0;
            while (acked < outstanding.Count && (int)(ack - outstanding[acked].End) >= 0)
            {
                d.AckedSegments++;
                d.LargestIpAcked = Math.Max(d.LargestIpAcked, outstanding[acked].IpLength);
                acked++;
            }
            if (acked > 0)
            {
                outstanding.RemoveOldest(acked);
            }
            return;
        }
        for (int i = outstanding.Count - 1; i >= 0; i--)
        {
            ref readonly var s = ref outstanding[i];
            if ((int)(ack - s.End) >= 0)
            {
                d.AckedSegments++;
                d.LargestIpAcked = Math.Max(d.LargestIpAcked, s.IpLength);
                outstanding.RemoveAt(i);
            }
        }
        if (outstanding.Count == 0)
        {
            d.OutstandingInOrder = true;
        }
    }
}
