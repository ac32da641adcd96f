using System.Buffers;
using System.IO.Pipelines;

namespace RdpWire.Capture.Tcp;

/// <summary>What one segment did to its direction's byte stream.</summary>
public enum SegmentDisposition : byte
{
    /// <summary>No payload.</summary>
    NoPayload,
    /// <summary>Bytes at the expected sequence number, delivered to the pipe.</summary>
    InOrder,
    /// <summary>Every byte was delivered before: a retransmission.</summary>
    Retransmission,
    /// <summary>Some bytes were old, the rest new and delivered.</summary>
    PartialRetransmission,
    /// <summary>Ahead of the expected sequence number: held until the hole fills.</summary>
    OutOfOrder,
    /// <summary>Ahead of the expected sequence number and over the buffering cap: dropped, the hole becomes a gap.</summary>
    DroppedOverCap,
    /// <summary>The direction is no longer followed (not a protocol we parse).</summary>
    Ignored,
}

/// <summary>A hole in a reassembled stream that was skipped because the bytes never arrived.</summary>
public readonly record struct StreamGap(long Offset, long Length, long FrameAfter);

/// <summary>
/// Reassembles one direction of a TCP connection (RFC 9293 3.4, 3.10.7.4) into a
/// <see cref="Pipe"/>: in-order bytes are written as they arrive, early segments are held
/// (bounded), retransmitted and overlapping bytes are dropped (first copy wins, as in the
/// receiving host), sequence numbers wrap via 32-bit signed differences, and holes that
/// never fill are reported as gaps rather than papered over.
/// </summary>
public sealed class TcpStreamReassembler
{
    // Created with the first byte delivered: most connections of a flood or scan never carry one.
    private Pipe? _pipe;
    private readonly ReassemblyBudget _budget;
    private readonly int _maxHeldBytes;
    private readonly List<HeldSegment> _held = [];
    private readonly List<StreamGap> _gaps = [];
    private bool _haveBase;
    private uint _nextSeq;
    private long _heldBytes;

    public TcpStreamReassembler(ReassemblyBudget budget, int maxHeldBytes)
    {
        _budget = budget;
        _maxHeldBytes = maxHeldBytes;
    }

    /// <summary>The reassembled bytes, in order. The stream parser reads and consumes from here.</summary>
    public PipeReader Reader => Pipe.Reader;

    private Pipe Pipe => _pipe ??= (_idlePipes is { Count: > 0 } idle ? idle.Pop() : new Pipe(PipeOptionsForThread));

    /// <summary>
    /// Reset pipes that streams gave back (<see cref="ReleaseEmptyPipe"/>), for the next stream that
    /// needs one: a stream whose bytes are taken from the packets holds no pipe (the pipe's objects were
    /// half a kilobyte per direction of every tracked connection), and the rare record cut by a packet
    /// boundary borrows one instead of allocating it. At most <see cref="MaxIdlePipes"/> wait here;
    /// more are left to the collector.
    /// </summary>
    [ThreadStatic]
    private static Stack<Pipe>? _idlePipes;

    private const int MaxIdlePipes = 64;

    [ThreadStatic]
    private static PipeOptions? _pipeOptions;

    /// <summary>One options object per packet-loop thread, over that thread's pool.</summary>
    private static PipeOptions PipeOptionsForThread => _pipeOptions ??= new PipeOptions(
            pool: RecyclingMemoryPool.ForThread,
            pauseWriterThreshold: 0,
            resumeWriterThreshold: 0,
            minimumSegmentSize: 4096,
            useSynchronizationContext: false);

    /// <summary>
    /// Gives the pipe back while the consumer has read everything and takes the bytes straight from
    /// the packets (<see cref="DeferDelivery"/>): an idle pipe still holds a 4 KiB block. The pipe is
    /// reset and kept for reuse (by this stream or another on the same thread), so buffering again
    /// allocates nothing.
    /// </summary>
    public void ReleaseEmptyPipe()
    {
        if (_pipe is { } pipe)
        {
            pipe.Writer.Complete();
            pipe.Reader.Complete();
            pipe.Reset();
            _pipe = null;
            var idle = _idlePipes ??= new Stack<Pipe>(MaxIdlePipes);
            if (idle.Count < MaxIdlePipes)
            {
                idle.Push(pipe);
            }
        }
    }

    public StreamFrameMap Frames { get; } = new();

    /// <summary>Stream offset of the next byte expected (equals bytes delivered plus gaps skipped).</summary>
    public long NextOffset { get; private set; }

    /// <summary>Bytes delivered to the pipe so far.</summary>
    public long DeliveredBytes { get; private set; }

    public IReadOnlyList<StreamGap> Gaps => _gaps;

    /// <summary>
    /// How many gaps <see cref="Gaps"/> holds, kept in the reassembler's own fields: the analyzer asks
    /// before and after every segment, and reading the list's count was a cache miss of its own (the
    /// list object) on most packets.
    /// </summary>
    public int GapCount { get; private set; }

    public bool HasBase => _haveBase;

    /// <summary>Sequence number of the first stream byte (ISN + 1), once known.</summary>
    public uint InitialSequence { get; private set; }

    /// <summary>True once bytes are no longer written to the pipe (see <see cref="StopFollowing"/>).</summary>
    public bool Ignoring { get; private set; }

    public long HeldBytes => _heldBytes;

    /// <summary>
    /// Set by the consumer when it can take the next bytes straight from the packet (the pipe is
    /// empty and they may be opaque records it skips by length). An in-order segment that then
    /// arrives with nothing held and nothing cut is not copied into the pipe: it is left pending
    /// for <see cref="TakeDeferred"/>, and whatever the consumer does not take goes to the pipe
    /// through <see cref="WriteDeferredRest"/> before anything else can.
    /// </summary>
    public bool DeferDelivery { get; set; }

    private int _deferredSkip = -1;
    private int _deferredLength;

    /// <summary>The pending in-order bytes of the current segment: <paramref name="skip"/> bytes into its payload, <paramref name="length"/> long.</summary>
    public bool TakeDeferred(out int skip, out int length)
    {
        (skip, length) = (_deferredSkip, _deferredLength);
        _deferredSkip = -1;
        return skip >= 0;
    }

    /// <summary>Puts the pending bytes the consumer did not take into the pipe.</summary>
    public void WriteDeferredRest(ReadOnlySpan<byte> rest)
    {
        if (!rest.IsEmpty)
        {
            WriteToPipe(rest);
        }
    }

    /// <summary>Sets the stream start from a SYN: the first data byte has sequence number isn + 1.</summary>
    public void SetInitialSequence(uint isn)
    {
        if (!_haveBase)
        {
            _haveBase = true;
            _nextSeq = isn + 1;
            InitialSequence = _nextSeq;
        }
    }

    /// <summary>Where in the stream a sequence number falls (may be negative before the start).</summary>
    public long OffsetOf(uint seq) => NextOffset + (int)(seq - _nextSeq);

    /// <summary>
    /// Takes one segment's payload. <paramref name="wireLength"/> is the payload length on the wire;
    /// when snaplen cut the packet (payload shorter than wireLength) the missing bytes become a gap.
    /// </summary>
    public SegmentDisposition Accept(uint seq, ReadOnlySpan<byte> payload, int wireLength, long frame, long ticks)
    {
        if (wireLength <= 0)
        {
            return SegmentDisposition.NoPayload;
        }
        if (!_haveBase)
        {
            // Capture started mid-connection: the first data segment seen defines offset 0.
            _haveBase = true;
            _nextSeq = seq;
            InitialSequence = seq;
        }
        int rel = (int)(seq - _nextSeq);
        if (rel + wireLength <= 0)
        {
            return SegmentDisposition.Retransmission;
        }
        if (Ignoring)
        {
            if (rel <= 0)
            {
                Advance(rel + wireLength);
            }
            return SegmentDisposition.Ignored;
        }
        if (rel > 0)
        {
            return Hold(seq, payload, wireLength, frame, ticks);
        }

        int skip = -rel;
        if (_deferredSkip >= 0)
        {
            throw new InvalidOperationException("the previous segment's deferred bytes were not taken");
        }
        Deliver(payload, skip, wireLength, frame, ticks, defer: DeferDelivery && _held.Count == 0);
        DrainHeld();
        return skip > 0 ? SegmentDisposition.PartialRetransmission : SegmentDisposition.InOrder;
    }

    /// <summary>
    /// Gives up on the first hole: skips to the earliest held segment (or to <paramref name="uptoSeq"/>
    /// when nothing is held) and records the gap. Called when the peer closes or acknowledges
    /// bytes this capture never saw, or at the end of the capture.
    /// </summary>
    public bool SkipFirstHole(uint? uptoSeq = null)
    {
        long target;
        if (_held.Count > 0)
        {
            target = OffsetOf(_held[0].Seq);
        }
        else if (uptoSeq is uint s && _haveBase && (int)(s - _nextSeq) > 0)
        {
            target = OffsetOf(s);
        }
        else
        {
            return false;
        }
        long length = target - NextOffset;
        if (length <= 0)
        {
            return false;
        }
        long frameAfter = _held.Count > 0 ? _held[0].Frame : 0;
        _gaps.Add(new StreamGap(NextOffset, length, frameAfter));
        GapCount++;
        Advance(length);
        DrainHeld();
        return true;
    }

    /// <summary>Stops writing this direction's bytes to the pipe (a stream we do not parse); counting goes on.</summary>
    public void StopFollowing()
    {
        Ignoring = true;
        ReleaseHeld();
    }

    /// <summary>Returns held buffers to the pool and completes the pipe.</summary>
    public void Close()
    {
        ReleaseHeld();
        _pipe?.Writer.Complete();
        _pipe?.Reader.Complete();
    }

    private void Deliver(ReadOnlySpan<byte> payload, int skip, int wireLength, long frame, long ticks, bool defer = false)
    {
        int captured = Math.Max(0, payload.Length - skip);
        int missing = wireLength - skip - captured;
        if (captured > 0 && !Ignoring)
        {
            if (defer && missing <= 0)
            {
                (_deferredSkip, _deferredLength) = (skip, captured);
            }
            else
            {
                WriteToPipe(payload.Slice(skip, captured));
            }
            DeliveredBytes += captured;
        }
        Advance(captured);
        Frames.Add(NextOffset, frame, ticks);
        if (missing > 0)
        {
            // Snaplen cut the segment: these bytes were on the wire but not in the capture.
            _gaps.Add(new StreamGap(NextOffset, missing, frame));
            GapCount++;
            Advance(missing);
        }
    }

    private void WriteToPipe(ReadOnlySpan<byte> bytes)
    {
        var writer = Pipe.Writer;
        bytes.CopyTo(writer.GetSpan(bytes.Length));
        writer.Advance(bytes.Length);
        var flush = writer.FlushAsync();
        if (!flush.IsCompleted)
        {
            // Cannot happen with pauseWriterThreshold 0; never block the packet loop.
            throw new InvalidOperationException("reassembly pipe applied back-pressure");
        }
    }

    private void Advance(long bytes)
    {
        NextOffset += bytes;
        _nextSeq += (uint)bytes;
    }

    private SegmentDisposition Hold(uint seq, ReadOnlySpan<byte> payload, int wireLength, long frame, long ticks)
    {
        foreach (var h in _held)
        {
            if (h.Seq == seq && h.WireLength >= wireLength)
            {
                return SegmentDisposition.Retransmission;
            }
        }
        if (_heldBytes + payload.Length > _maxHeldBytes || !_budget.TryReserve(payload.Length))
        {
            return SegmentDisposition.DroppedOverCap;
        }
        byte[] copy = ArrayPool<byte>.Shared.Rent(Math.Max(1, payload.Length));
        payload.CopyTo(copy);
        var segment = new HeldSegment(seq, copy, payload.Length, wireLength, frame, ticks);
        int index = _held.FindIndex(h => (int)(h.Seq - seq) > 0);
        _held.Insert(index < 0 ? _held.Count : index, segment);
        _heldBytes += payload.Length;
        return SegmentDisposition.OutOfOrder;
    }

    private void DrainHeld()
    {
        while (_held.Count > 0)
        {
            var h = _held[0];
            int rel = (int)(h.Seq - _nextSeq);
            if (rel > 0)
            {
                return;
            }
            _held.RemoveAt(0);
            _heldBytes -= h.Length;
            _budget.Release(h.Length);
            if (rel + h.WireLength > 0)
            {
                Deliver(h.Buffer.AsSpan(0, h.Length), -rel, h.WireLength, h.Frame, h.Ticks);
            }
            ArrayPool<byte>.Shared.Return(h.Buffer);
        }
    }

    private void ReleaseHeld()
    {
        foreach (var h in _held)
        {
            _budget.Release(h.Length);
            ArrayPool<byte>.Shared.Return(h.Buffer);
        }
        _held.Clear();
        _heldBytes = 0;
    }

    private readonly record struct HeldSegment(uint Seq, byte[] Buffer, int Length, int WireLength, long Frame, long Ticks);
}

/// <summary>The capture-wide cap on bytes held out of order, shared by every reassembler.</summary>
public sealed class ReassemblyBudget(long maxBytes)
{
    public long MaxBytes { get; } = maxBytes;
    public long InUse { get; private set; }
    public long Refusals { get; private set; }

    public bool TryReserve(int bytes)
    {
        if (InUse + bytes > MaxBytes)
        {
            Refusals++;
            return false;
        }
        InUse += bytes;
        return true;
    }

    public void Release(int bytes) => InUse -= bytes;
}
