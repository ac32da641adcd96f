using System.Buffers;
using RdpWire.Capture.Tcp;
using Xunit;

namespace RdpWire.Tests.Capture;

/// <summary>
/// Boundary tests of per-direction TCP reassembly with hand-made segments: order, overlap,
/// retransmission, sequence wrap, gaps and the buffering caps.
/// </summary>
public class TcpStreamReassemblerTests
{
    private static TcpStreamReassembler New(int maxHeld = 1 << 20, long budget = 1 << 24) =>
        new(new ReassemblyBudget(budget), maxHeld);

    private static byte[] Bytes(int start, int count) => Enumerable.Range(start, count).Select(i => (byte)i).ToArray();

    private static byte[] ReadAll(TcpStreamReassembler r)
    {
        if (!r.Reader.TryRead(out var result))
        {
            return [];
        }
        var bytes = result.Buffer.ToArray();
        r.Reader.AdvanceTo(result.Buffer.End);
        return bytes;
    }

    [Fact]
    public void HandMade_InOrderSegments_DeliveredWithTheirFrames()
    {
        var r = New();
        r.SetInitialSequence(1000);
        Assert.Equal(SegmentDisposition.InOrder, r.Accept(1001, Bytes(0, 10), 10, frame: 3, ticks: 30));
        Assert.Equal(SegmentDisposition.InOrder, r.Accept(1011, Bytes(10, 5), 5, frame: 4, ticks: 40));
        Assert.Equal(Bytes(0, 15), ReadAll(r));
        Assert.Equal((3L, 30L), r.Frames.FrameAt(9));
        Assert.Equal((4L, 40L), r.Frames.FrameAt(10));
        Assert.Equal(15, r.NextOffset);
    }

    [Fact]
    public void HandMade_StreamNotFollowed_FrameMapDoesNotGrowWithItsPackets()
    {
        // A non-RDP connection on another port: the analyzer stops following it and never trims its
        // frame map again, so its packets must not reach the map (Accept counts them and stops).
        var r = New();
        r.SetInitialSequence(0);
        r.Accept(1, Bytes(0, 10), 10, frame: 1, ticks: 1);
        r.StopFollowing();
        for (int i = 0; i < 10_000; i++)
        {
            r.Accept((uint)(11 + i * 10), Bytes(0, 10), 10, frame: 2 + i, ticks: 2 + i);
        }
        Assert.Equal(100_010, r.NextOffset);
        Assert.Equal(1, r.Frames.Count);
    }

    [Fact]
    public void HandMade_FrameMap_ConsumedStreamKeepsOneEntry_UnconsumedKeepsAll()
    {
        var map = new StreamFrameMap();
        // Consumed as it comes (bulk data): each packet's entry replaces the one before.
        for (int frame = 1; frame <= 100; frame++)
        {
            map.Add(frame * 10, frame, frame * 100);
            map.TrimBefore(frame * 10);
        }
        Assert.Equal(1, map.Count);
        Assert.Equal((100L, 10_000L), map.FrameAt(995));
        // Not consumed (a record waiting for its end): every frame is kept and found. (Frame 100's
        // entry, consumed, goes when the next comes: no offset before the consumed one is asked for.)
        map.Add(1010, 101, 10_100);
        map.Add(1020, 102, 10_200);
        map.Add(1030, 103, 10_300);
        Assert.Equal(3, map.Count);
        Assert.Equal((101L, 10_100L), map.FrameAt(1005));
        Assert.Equal((102L, 10_200L), map.FrameAt(1015));
        Assert.Equal((103L, 10_300L), map.FrameAt(1025));
        Assert.Equal((103L, 10_300L), map.FrameAt(5000));
        var frames = new List<long>();
        map.FramesIn(1005, 1025, frames);
        Assert.Equal(new long[] { 101, 102, 103 }, frames);
        map.TrimBefore(1020);
        Assert.Equal(1, map.Count);
        Assert.Equal((103L, 10_300L), map.FrameAt(1025));
    }

    [Fact]
    public void HandMade_OutOfOrderThenHoleFilled_DeliveredInOrder()
    {
        var r = New();
        r.SetInitialSequence(0);
        Assert.Equal(SegmentDisposition.OutOfOrder, r.Accept(11, Bytes(10, 10), 10, 5, 50));
        Assert.Empty(ReadAll(r));
        Assert.Equal(SegmentDisposition.InOrder, r.Accept(1, Bytes(0, 10), 10, 6, 60));
        Assert.Equal(Bytes(0, 20), ReadAll(r));
        Assert.Equal((5L, 50L), r.Frames.FrameAt(15));
        Assert.Equal(0, r.HeldBytes);
    }

    [Fact]
    public void HandMade_RetransmissionAndOverlap_FirstCopyWins()
    {
        var r = New();
        r.SetInitialSequence(0);
        r.Accept(1, Bytes(0, 10), 10, 1, 1);
        Assert.Equal(SegmentDisposition.Retransmission, r.Accept(1, Bytes(0, 10), 10, 2, 2));
        // Overlaps bytes 5..9 with different content, then adds 10..14.
        var overlap = Bytes(100, 10);
        Assert.Equal(SegmentDisposition.PartialRetransmission, r.Accept(6, overlap, 10, 3, 3));
        var all = ReadAll(r);
        Assert.Equal(Bytes(0, 10), all[..10]);
        Assert.Equal(overlap[5..], all[10..]);
    }

    [Fact]
    public void HandMade_SequenceWrap_StreamContinues()
    {
        var r = New();
        r.SetInitialSequence(uint.MaxValue - 4); // first byte at 0xFFFFFFFC
        r.Accept(uint.MaxValue - 3, Bytes(0, 8), 8, 1, 1);
        r.Accept(4, Bytes(8, 8), 8, 2, 2);
        Assert.Equal(Bytes(0, 16), ReadAll(r));
        Assert.Equal(16, r.NextOffset);
    }

    [Fact]
    public void HandMade_HoleThatNeverFills_ReportedAsGapNotInvented()
    {
        var r = New();
        r.SetInitialSequence(0);
        r.Accept(1, Bytes(0, 10), 10, 1, 1);
        r.Accept(21, Bytes(20, 10), 10, 3, 3);
        Assert.Equal(Bytes(0, 10), ReadAll(r));
        Assert.True(r.SkipFirstHole());
        var gap = Assert.Single(r.Gaps);
        Assert.Equal(new StreamGap(10, 10, 3), gap);
        Assert.Equal(Bytes(20, 10), ReadAll(r));
        Assert.Equal(30, r.NextOffset);
    }

    [Fact]
    public void HandMade_SnaplenCutSegment_MissingBytesBecomeAGap()
    {
        var r = New();
        r.SetInitialSequence(0);
        r.Accept(1, Bytes(0, 4), wireLength: 10, frame: 1, ticks: 1);
        Assert.Equal(Bytes(0, 4), ReadAll(r));
        Assert.Equal(new StreamGap(4, 6, 1), Assert.Single(r.Gaps));
        Assert.Equal(10, r.NextOffset);
    }

    [Fact]
    public void HandMade_HeldBytesOverPerDirectionCap_DroppedNotBuffered()
    {
        var r = New(maxHeld: 100);
        r.SetInitialSequence(0);
        Assert.Equal(SegmentDisposition.OutOfOrder, r.Accept(1001, new byte[60], 60, 1, 1));
        Assert.Equal(SegmentDisposition.DroppedOverCap, r.Accept(2001, new byte[60], 60, 2, 2));
        Assert.Equal(60, r.HeldBytes);
    }

    [Fact]
    public void HandMade_GlobalBudgetSharedAcrossReassemblers()
    {
        var budget = new ReassemblyBudget(100);
        var a = new TcpStreamReassembler(budget, 1000);
        var b = new TcpStreamReassembler(budget, 1000);
        a.SetInitialSequence(0);
        b.SetInitialSequence(0);
        Assert.Equal(SegmentDisposition.OutOfOrder, a.Accept(500, new byte[80], 80, 1, 1));
        Assert.Equal(SegmentDisposition.DroppedOverCap, b.Accept(500, new byte[80], 80, 2, 2));
        Assert.Equal(1, budget.Refusals);
        a.Close();
        Assert.Equal(0, budget.InUse);
    }

    [Fact]
    public void HandMade_MidStreamStart_FirstDataSegmentIsOffsetZero()
    {
        var r = New();
        Assert.Equal(SegmentDisposition.InOrder, r.Accept(123456, Bytes(0, 5), 5, 9, 9));
        Assert.Equal(Bytes(0, 5), ReadAll(r));
        Assert.Equal(123456u, r.InitialSequence);
    }
}
