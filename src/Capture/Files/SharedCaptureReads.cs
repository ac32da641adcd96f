using Microsoft.Win32.SafeHandles;

namespace RdpWire.Capture.Files;

/// <summary>
/// One reading of a capture shared by several readers of it (<c>analyze --threads N</c>): the input
/// is read once, in blocks, into a small ring that every reader walks at its own pace. A slot is
/// reused once every reader has moved past the block it held: the reader that frees it reads the next
/// block into it when that block falls to it (block number modulo readers), and otherwise the first
/// reader to need the block does, so the copies out of the kernel are split between the readers. The readers' packets are slices of the shared blocks (a record cut by a block boundary is
/// joined in the reader's own buffer), so nothing is copied between threads and the input is copied
/// out of the kernel once instead of once per thread.
/// </summary>
/// <remarks>
/// No reader waits for a slower one except when it is <see cref="Slots"/> blocks ahead; the slowest
/// reader never waits for a slot, so the ring cannot deadlock. A reader that is disposed (done or
/// failed) stops holding blocks back.
/// </remarks>
public sealed class SharedCaptureReads : IDisposable
{
    /// <summary>Bytes read at once: large enough that a block costs one system call per few hundred packets.</summary>
    public const int DefaultBlockSize = 256 << 10;

    /// <summary>Blocks held at once: how far the fastest reader may run ahead of the slowest (4 MiB in all by default).</summary>
    public const int DefaultSlots = 16;

    /// <summary>Reads up to <c>buffer.Length</c> bytes at <c>offset</c>; fewer only at the input's end.</summary>
    public delegate int PositionalRead(Span<byte> buffer, long offset);

    private readonly PositionalRead _read;
    private readonly IDisposable? _owned;
    private readonly Slot[] _slots;
    private readonly long[] _lowestHeld;
    private readonly object _gate = new();
    private int _opened;
    private int _waiting;
    /// <summary>Counts changes of the blocks and of what readers hold (under the gate), for readers that spin outside it.</summary>
    private long _changes;
    private long _lastBlock = long.MaxValue;
    private long _bytesRead;
    private readonly List<(IPacketSource Source, Consumer Consumer)> _consumers = [];
    private bool _disposed;

    // Routing (RoutePackets): the record index, under the gate except for the walk itself, which
    // one thread at a time does with _indexing set (see AdvanceIndex).
    private PacketRouter? _router;
    private RecordLayout? _layout;
    /// <summary>Where the next record to route starts (input offset), and its frame number.</summary>
    private long _indexOffset;
    private long _indexFrame = 1;
    /// <summary>The block the walk needs loaded to go on.</summary>
    private long _indexNeeds;
    private bool _indexing;
    /// <summary>Where routing ended: the input's end, or a record normal reading refuses (the readers read on from there themselves).</summary>
    private (long Offset, long Frame)? _indexStop;
    private Exception? _indexFailure;
    private byte[]? _joinedRecord;

    public SharedCaptureReads(PositionalRead read, int readers, int blockSize = DefaultBlockSize,
        int slots = DefaultSlots, IDisposable? owned = null)
    {
        ArgumentNullException.ThrowIfNull(read);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(readers);
        ArgumentOutOfRangeException.ThrowIfLessThan(blockSize, 64);
        ArgumentOutOfRangeException.ThrowIfLessThan(slots, 3);
        _read = read;
        _owned = owned;
        BlockSize = blockSize;
        Readers = readers;
        _slots = new Slot[slots];
        for (int i = 0; i < slots; i++)
        {
            _slots[i] = new Slot();
        }
        _lowestHeld = new long[readers];
        _openedReaders = new bool[readers];
    }

    private readonly bool[] _openedReaders;

    /// <summary>Shares the reading of the file at <paramref name="path"/> among <paramref name="readers"/> readers.</summary>
    public static SharedCaptureReads OpenFile(string path, int readers, int blockSize = DefaultBlockSize, int slots = DefaultSlots)
    {
        // The same sharing as CaptureFile.OpenRead: a file a capture tool is still writing can be read.
        SafeFileHandle handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete,
            FileOptions.SequentialScan);
        try
        {
            return new SharedCaptureReads((buffer, offset) => ReadFully(handle, buffer, offset), readers, blockSize, slots, handle);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Shares the reading of bytes in memory (tests and the fuzzer).</summary>
    public static SharedCaptureReads OfBytes(ReadOnlyMemory<byte> bytes, int readers, int blockSize = DefaultBlockSize, int slots = DefaultSlots) =>
        new((buffer, offset) =>
        {
            if (offset >= bytes.Length)
            {
                return 0;
            }
            int n = (int)Math.Min(buffer.Length, bytes.Length - offset);
            bytes.Span.Slice((int)offset, n).CopyTo(buffer);
            return n;
        }, readers, blockSize, slots);

    public int BlockSize { get; }

    public int Readers { get; }

    public int Slots => _slots.Length;

    /// <summary>Blocks read from the input so far (each once, whatever the number of readers).</summary>
    public long BlocksRead { get; private set; }

    /// <summary>The reader (0 to <see cref="Readers"/> - 1) that takes a packet.</summary>
    public delegate int PacketRouter(in CapturedPacket packet);

    /// <summary>
    /// Each packet goes to one reader only, the one <paramref name="router"/> names: the records are
    /// walked once, by the thread that has just read their block (while it is still in that core's
    /// cache), and each reader is handed the places of its own records and reads only those. Without
    /// routing every reader walks every record and drops the others' (on the 5 GB bench capture, the
    /// walks of the other thread's packets cost 1.3 s of CPU time, about 250 ns a packet: the block was
    /// read by the other core). Call before opening the sources. Applies to classic pcap, whose records
    /// can be walked without state; a pcapng reading is walked by every reader (its interface and
    /// secrets blocks concern them all), and <see cref="RoutesPackets"/> stays false.
    /// </summary>
    public void RoutePackets(PacketRouter router)
    {
        ArgumentNullException.ThrowIfNull(router);
        lock (_gate)
        {
            if (_opened > 0)
            {
                throw new InvalidOperationException("packets are routed before any reader is opened");
            }
            _router = router;
        }
    }

    /// <summary>True when each reader's source returns only the packets routed to it (<see cref="RoutePackets"/>, and the input is classic pcap).</summary>
    public bool RoutesPackets
    {
        get
        {
            lock (_gate)
            {
                return _layout is not null;
            }
        }
    }

    /// <summary>
    /// The reader of the file header calls this when the packets can be routed: records of
    /// <paramref name="layout"/> start at <paramref name="firstRecord"/>. The first call counts (every
    /// reader reads the same header). False when no router is set.
    /// </summary>
    internal bool BeginRouting(RecordLayout layout, long firstRecord)
    {
        lock (_gate)
        {
            if (_router is null)
            {
                return false;
            }
            if (_layout is null)
            {
                _layout = layout;
                _indexOffset = firstRecord;
                _indexNeeds = firstRecord / BlockSize;
            }
            return true;
        }
    }

    /// <summary>
    /// A packet source over the shared reading, for one of the <see cref="Readers"/> readers; like
    /// <see cref="CaptureFile.Open(string)"/> it tells pcap from pcapng by the content.
    /// </summary>
    public IPacketSource OpenSource(string name) => OpenSource(name, reader: -1);

    /// <summary>
    /// The source of reader <paramref name="reader"/> (0 to <see cref="Readers"/> - 1; -1: the next one
    /// not yet open), the one the <see cref="PacketRouter"/> means by that number.
    /// </summary>
    public IPacketSource OpenSource(string name, int reader)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(reader, -1);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(reader, Readers);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_opened == Readers)
            {
                throw new InvalidOperationException($"all {Readers} readers of this shared reading are open already");
            }
            if (reader < 0)
            {
                for (reader = 0; _openedReaders[reader]; reader++)
                {
                }
            }
            else if (_openedReaders[reader])
            {
                throw new InvalidOperationException($"reader {reader} of this shared reading is open already");
            }
            _openedReaders[reader] = true;
            _opened++;
        }
        var consumer = new Consumer(this, reader);
        var source = CaptureFile.Open(new CaptureInputBuffer(consumer), name);
        lock (_gate)
        {
            _consumers.Add((source, consumer));
        }
        return source;
    }

    /// <summary>
    /// <paramref name="source"/> (opened here) reads no further, whether it reached the end or stopped
    /// at damage or on a failure: it no longer holds blocks back from the other readers.
    /// </summary>
    public void DoneReading(IPacketSource source)
    {
        Consumer? consumer;
        lock (_gate)
        {
            consumer = _consumers.Find(c => ReferenceEquals(c.Source, source)).Consumer;
        }
        consumer?.Close();
    }

    /// <summary>Bytes read from the input so far (each once, whatever the number of readers), for progress.</summary>
    public long BytesRead => Volatile.Read(ref _bytesRead);

    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            Volatile.Write(ref _changes, _changes + 1);
            Monitor.PulseAll(_gate);
        }
        _owned?.Dispose();
    }

    private static int ReadFully(SafeFileHandle handle, Span<byte> buffer, long offset)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int n = RandomAccess.Read(handle, buffer[total..], offset + total);
            if (n == 0)
            {
                break;
            }
            total += n;
        }
        return total;
    }

    /// <summary>Block <paramref name="index"/> for <paramref name="reader"/>, read from the input if no reader has yet.</summary>
    private Slot Acquire(int reader, long index)
    {
        var slot = _slots[index % _slots.Length];
        bool locked = false;
        try
        {
            Monitor.Enter(_gate, ref locked);
            while (true)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                if (slot.Index == index)
                {
                    if (slot.Failure is not null)
                    {
                        throw ReadFailure(index, slot.Failure);
                    }
                    if (slot.Loaded)
                    {
                        return slot;
                    }
                }
                else if (CanClaim(slot, index))
                {
                    Claim(slot, index);
                    break;
                }
                // Another reader is reading this block or still holds the slot: usually well under a
                // millisecond. Spin outside the gate first, and sleep only past that: on the 5 GB bench
                // capture each --threads 2 reader slept 850-1,300 times without the spin, 30-90 times
                // with it (its waits still add up to 0.5-0.7 s), and the run went 3.47 -> 3.36 s.
                AwaitChange(ref locked);
            }
        }
        finally
        {
            if (locked)
            {
                Monitor.Exit(_gate);
            }
        }

        // This reader fills the slot outside the lock; the others wait for it above.
        if (Fill(slot, index) is { } failure)
        {
            throw ReadFailure(index, failure);
        }
        return slot;
    }

    /// <summary>
    /// With the gate held (<paramref name="locked"/>): waits for the shared state to change, spinning
    /// outside the gate up to <see cref="SpinLimit"/> and sleeping on it past that; returns with the gate held.
    /// </summary>
    private void AwaitChange(ref bool locked)
    {
        long seen = _changes;
        Monitor.Exit(_gate);
        locked = false;
        bool changed = SpinUntilChanged(seen);
        Monitor.Enter(_gate, ref locked);
        if (!changed && _changes == seen)
        {
            _waiting++;
            Monitor.Wait(_gate);
            _waiting--;
        }
    }

    /// <summary>How long a reader spins for a block or a slot before it sleeps.</summary>
    private static readonly TimeSpan SpinLimit = TimeSpan.FromMilliseconds(1);

    /// <summary>Spins (yielding to other threads) until the shared state changes; false if it did not within <see cref="SpinLimit"/>.</summary>
    private bool SpinUntilChanged(long seen)
    {
        var spinner = new SpinWait();
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        while (Volatile.Read(ref _changes) == seen)
        {
            if (System.Diagnostics.Stopwatch.GetElapsedTime(start) > SpinLimit)
            {
                return false;
            }
            spinner.SpinOnce(sleep1Threshold: -1);
        }
        return true;
    }

    /// <summary>Marks <paramref name="slot"/> as being filled with block <paramref name="index"/>; under the gate.</summary>
    private static void Claim(Slot slot, long index)
    {
        slot.Index = index;
        slot.Loaded = false;
        slot.Failure = null;
        if (slot.Routed is { } routed)
        {
            foreach (var records in routed)
            {
                records.Clear();
            }
        }
    }

    /// <summary>Reads a claimed block into its slot (outside the gate) and publishes it; the read failure, if any.</summary>
    private Exception? Fill(Slot slot, long index)
    {
        int length = 0;
        Exception? failure = null;
        try
        {
            // Pinned, so that a reader can hint the processor at its next records by address (Prefetch).
            slot.Buffer ??= GC.AllocateUninitializedArray<byte>(BlockSize, pinned: true);
            length = _read(slot.Buffer, index * BlockSize);
        }
        catch (Exception e)
        {
            // Whatever it is, it stays in the slot: the readers waiting for this block get it instead of
            // waiting for ever (an I/O failure is the input's; anything else is thrown on here too, below).
            failure = e;
        }
        lock (_gate)
        {
            slot.Length = length;
            slot.Loaded = failure is null;
            slot.Failure = failure;
            BlocksRead++;
            _bytesRead += length;
            if (length < BlockSize || failure is not null)
            {
                // The input ends in this block (or cannot be read on): nothing past it is read ahead.
                _lastBlock = Math.Min(_lastBlock, index);
            }
            WakeWaiters();
        }
        if (failure is not (null or IOException or UnauthorizedAccessException))
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        }
        // The block is in this core's cache now: route its records while it is. (_router is set before
        // any reader opens and never changes.)
        if (_router is not null)
        {
            AdvanceIndex();
        }
        return failure;
    }

    /// <summary>Under the gate: the state changed; wakes the readers waiting for a block or a slot, when there are any.</summary>
    private void WakeWaiters()
    {
        Volatile.Write(ref _changes, _changes + 1);
        if (_waiting > 0)
        {
            Monitor.PulseAll(_gate);
        }
    }

    /// <summary>The one error every reader of a block that could not be read gets.</summary>
    private IOException ReadFailure(long index, Exception failure) =>
        new($"reading the capture at byte offset {index * BlockSize} failed: {failure.Message}", failure);

    /// <summary>
    /// Under the gate: <paramref name="slot"/> may take block <paramref name="index"/> now, because every
    /// reader has moved past the block before it in that slot, <paramref name="index"/> - <see cref="Slots"/>.
    /// (Not the block the slot holds: a routed reading skips blocks no record starts in, so the slot may
    /// hold an older one while a reader still has to read the skipped block through it.)
    /// </summary>
    private bool CanClaim(Slot slot, long index) => slot.Index < index && NoReaderHolds(index - _slots.Length);

    /// <summary>True when every open reader has moved past block <paramref name="index"/> (negative: before the first block).</summary>
    private bool NoReaderHolds(long index)
    {
        if (index < 0)
        {
            return true;
        }
        for (int r = 0; r < _lowestHeld.Length; r++)
        {
            if (_lowestHeld[r] <= index)
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>
    /// The reader holds no block below <paramref name="index"/> any more (long.MaxValue: none at all).
    /// The slots this frees are refilled with their next blocks now, by this reader, for the blocks
    /// that fall to it (block number modulo <see cref="Readers"/>); the other readers fill theirs.
    /// Otherwise the reader that runs ahead would read every block, and its copies out of the kernel
    /// (a fifth of the work) would make it the one the others end up waiting for.
    /// </summary>
    private void ReleaseBelow(int reader, long index)
    {
        Slot? refill = null;
        long refillIndex = 0;
        lock (_gate)
        {
            if (index <= _lowestHeld[reader])
            {
                return;
            }
            _lowestHeld[reader] = index;
            WakeWaiters();
            if (index == long.MaxValue)
            {
                return;
            }
            // The slot of the block just left, if no reader holds it any more and its next block is this reader's.
            long left = index - 1;
            var slot = _slots[left % _slots.Length];
            long next = left + _slots.Length;
            if (!_disposed && slot.Index == left && slot.Loaded && next <= _lastBlock && next % Readers == reader && NoReaderHolds(left))
            {
                Claim(slot, next);
                (refill, refillIndex) = (slot, next);
            }
        }
        // A failure stays in the slot: the reader that needs the block gets it then.
        if (refill is not null)
        {
            Fill(refill, refillIndex);
        }
    }

    /// <summary>Under the gate: block <paramref name="index"/> is in its slot, read without failure.</summary>
    private bool IsLoaded(long index)
    {
        var slot = _slots[index % _slots.Length];
        return slot.Index == index && slot.Loaded;
    }

    /// <summary>
    /// Routes the records of the blocks loaded from the index's frontier on, one block per turn, when no
    /// other thread is routing: the walk runs outside the gate, over slots no reader can have left (no
    /// reader passes a block before its records are routed). Every thread that fills a block calls this.
    /// </summary>
    private void AdvanceIndex()
    {
        while (true)
        {
            long offset, frame, end;
            bool endKnown;
            RecordLayout layout;
            lock (_gate)
            {
                if (_layout is null || _indexing || _indexStop is not null || _indexFailure is not null || _disposed)
                {
                    return;
                }
                var needed = _slots[_indexNeeds % _slots.Length];
                if ((needed.Index == _indexNeeds && needed.Failure is not null) || _indexNeeds > _lastBlock)
                {
                    // The block cannot be read, or the last record claimed more than the input holds: the
                    // readers read on from here and meet the failure (or the end) themselves.
                    StopRouting(_indexOffset, _indexFrame);
                    return;
                }
                if (!IsLoaded(_indexNeeds))
                {
                    return;
                }
                // One block per turn, published before the next (the loop goes on with the next block if it
                // is loaded): a reader waiting for its records in this block gets them now, not after every
                // block loaded behind it has been routed too.
                end = _indexNeeds * BlockSize + needed.Length;
                endKnown = _indexNeeds == _lastBlock;
                (offset, frame, layout) = (_indexOffset, _indexFrame, _layout);
                _indexing = true;
            }
            bool stopped = false;
            try
            {
                stopped = layout.Route(this, ref offset, ref frame, end, endKnown);
            }
            catch (Exception e)
            {
                lock (_gate)
                {
                    _indexFailure = e;
                    _indexing = false;
                    WakeWaiters();
                }
                throw;
            }
            lock (_gate)
            {
                (_indexOffset, _indexFrame) = (offset, frame);
                if (stopped)
                {
                    StopRouting(offset, frame);
                }
                // Otherwise the next record (or its header) goes on past the loaded blocks: it needs the next
                // one, or (after a record longer than the loaded blocks) the block where the next record starts.
                _indexNeeds = stopped ? offset / BlockSize : Math.Max(offset, end) / BlockSize;
                _indexing = false;
                WakeWaiters();
                if (stopped || !IsLoaded(_indexNeeds))
                {
                    return;
                }
            }
        }
    }

    /// <summary>Under the gate: routing ends at <paramref name="offset"/>, before frame <paramref name="frame"/>.</summary>
    private void StopRouting(long offset, long frame)
    {
        _indexStop = (offset, frame);
        Volatile.Write(ref _stopBlock, offset / BlockSize);
        WakeWaiters();
    }

    /// <summary>The block where routing ended (long.MaxValue while it goes on): readers read on from there, so they keep it.</summary>
    private long _stopBlock = long.MaxValue;

    /// <summary>
    /// Walks the records from <paramref name="offset"/> on whose header and routed first bytes lie
    /// before <paramref name="end"/> (the end of the loaded blocks), and adds each to the routed records
    /// of its reader in the block where it starts. True when routing ends here: the input's end
    /// (<paramref name="endKnown"/>), a record cut short by it or a header normal reading refuses.
    /// </summary>
    internal bool RouteRecords<TLayout>(in TLayout layout, ref long offset, ref long frame, long end, bool endKnown)
        where TLayout : struct, IRecordLayout
    {
        int headerLength = layout.HeaderLength;
        Span<byte> joinedHeader = stackalloc byte[headerLength];
        var router = _router!;
        int prefix = RoutingPrefix;
        while (true)
        {
            if (offset + headerLength > end)
            {
                return endKnown;
            }
            // Read in place; copied only when a block boundary cuts the header.
            var slot = _slots[offset / BlockSize % _slots.Length];
            if (slot.Index != offset / BlockSize)
            {
                throw new InvalidOperationException($"routing read block {offset / BlockSize}, which is not loaded");
            }
            int at = (int)(offset - slot.Index * BlockSize);
            scoped ReadOnlySpan<byte> header;
            if (at + headerLength <= slot.Length)
            {
                header = slot.Buffer.AsSpan(at, headerLength);
            }
            else
            {
                Copy(offset, joinedHeader);
                header = joinedHeader;
            }
            int captured = layout.CapturedLength(header);
            if (captured < 0)
            {
                return true;
            }
            long dataAt = offset + headerLength;
            if (endKnown && dataAt + captured > end)
            {
                return true; // cut short by the input's end
            }
            int routedBytes = Math.Min(captured, prefix);
            if (dataAt + routedBytes > end)
            {
                return false;
            }
            ReadOnlyMemory<byte> data;
            int dataIn = at + headerLength;
            if (dataIn + routedBytes <= slot.Length)
            {
                data = slot.Buffer.AsMemory(dataIn, routedBytes);
            }
            else
            {
                // Cut by a block boundary: joined once, here, for the router.
                _joinedRecord ??= new byte[prefix];
                Copy(dataAt, _joinedRecord.AsSpan(0, routedBytes));
                data = _joinedRecord.AsMemory(0, routedBytes);
            }
            int reader = router(layout.RoutedPacket(header, frame, data));
            if ((uint)reader >= (uint)Readers)
            {
                reader = 0;
            }
            slot.Routed ??= CreateRouted();
            slot.Routed[reader].Add(new RoutedRecord(offset, frame));
            // The rest of the record need not be here: its reader joins it as it reads it.
            offset = dataAt + captured;
            frame++;
        }
    }

    /// <summary>
    /// The router sees at most this many of a packet's first bytes, as if the snapshot length had cut
    /// it there: enough for any link, IP and transport header and the headers an ICMP error quotes,
    /// and few enough to be in the ring at once with the record's header, whatever the record's size
    /// (a record larger than the ring is routed before its end has been read).
    /// </summary>
    private int RoutingPrefix => Math.Min(2048, (_slots.Length - 2) * BlockSize);

    private List<RoutedRecord>[] CreateRouted()
    {
        var routed = new List<RoutedRecord>[Readers];
        for (int r = 0; r < routed.Length; r++)
        {
            routed[r] = new List<RoutedRecord>(256);
        }
        return routed;
    }

    /// <summary>Copies input bytes at <paramref name="offset"/> out of the loaded blocks that hold them.</summary>
    private void Copy(long offset, Span<byte> destination)
    {
        while (destination.Length > 0)
        {
            var slot = _slots[offset / BlockSize % _slots.Length];
            if (slot.Index != offset / BlockSize)
            {
                throw new InvalidOperationException($"routing read block {offset / BlockSize}, which is not loaded");
            }
            int at = (int)(offset - slot.Index * BlockSize);
            int n = Math.Min(destination.Length, slot.Length - at);
            slot.Buffer.AsSpan(at, n).CopyTo(destination);
            destination = destination[n..];
            offset += n;
        }
    }

    /// <summary>
    /// The records routed to <paramref name="reader"/> that start in block <paramref name="index"/>,
    /// once all of them are known; null when routing ended before that block (<paramref name="stop"/>
    /// says where). While it waits, the reader helps: it routes the loaded blocks, or reads the block
    /// the routing needs next. The reader holds no block below <paramref name="index"/>.
    /// </summary>
    private bool WaitRouted(int reader, long index, List<RoutedRecord> records, out (long Offset, long Frame) stop)
    {
        stop = default;
        bool locked = false;
        try
        {
            Monitor.Enter(_gate, ref locked);
            while (true)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                if (_indexFailure is not null)
                {
                    throw new InvalidOperationException($"routing the capture's records failed: {_indexFailure.Message}", _indexFailure);
                }
                long frontier = _indexOffset / BlockSize;
                if (index < frontier || (_indexStop is not null && index == frontier))
                {
                    // Copied: the slot's lists are reused once every reader has left the block, and this
                    // reader leaves it as soon as a record of its own goes on into the next. A slot that
                    // holds another block now: this reader read past it in one record, so no record of
                    // its own starts there.
                    var slot = _slots[index % _slots.Length];
                    records.Clear();
                    if (slot.Index == index && slot.Routed is { } routed)
                    {
                        records.AddRange(routed[reader]);
                    }
                    return true;
                }
                if (_indexStop is { } stopped)
                {
                    stop = stopped;
                    return false;
                }
                long needs = _indexNeeds;
                var needed = _slots[needs % _slots.Length];
                if (!_indexing && (IsLoaded(needs) || needs > _lastBlock || (needed.Index == needs && needed.Failure is not null)))
                {
                    // The routing can go on (or end): this reader does it.
                    Monitor.Exit(_gate);
                    locked = false;
                    AdvanceIndex();
                    Monitor.Enter(_gate, ref locked);
                    continue;
                }
                if (needs <= _lastBlock && CanClaim(needed, needs))
                {
                    Claim(needed, needs);
                    Monitor.Exit(_gate);
                    locked = false;
                    Fill(needed, needs);
                    Monitor.Enter(_gate, ref locked);
                    continue;
                }
                AwaitChange(ref locked);
            }
        }
        finally
        {
            if (locked)
            {
                Monitor.Exit(_gate);
            }
        }
    }

    /// <summary>A routed record: where it starts in the input, and its frame number.</summary>
    internal readonly record struct RoutedRecord(long Offset, long Frame);

    /// <summary>A record's first bytes the hint covers: the 16-byte pcap record header, Ethernet, IPv4 and TCP with its usual options.</summary>
    private const int PrefetchedBytes = 96;

    /// <summary>How many records ahead of the one being read a reader hints at: enough to cover a miss to memory at a few hundred nanoseconds a packet.</summary>
    private const int PrefetchDistance = 4;

    private sealed class Slot
    {
        public long Index = -1;
        public byte[]? Buffer;
        public int Length;
        public bool Loaded;
        public Exception? Failure;
        /// <summary>Per reader, the routed records that start in this block (routing only).</summary>
        public List<RoutedRecord>[]? Routed;
    }

    /// <summary>One reader's walk over the blocks: what <see cref="CaptureInputBuffer"/> asks of its input in shared mode.</summary>
    internal sealed class Consumer(SharedCaptureReads shared, int reader)
    {
        private long _next;
        private bool _done;

        /// <summary>The next block in input order, or null at the input's end. The block stays valid until <see cref="ReleaseBelow"/> passes it.</summary>
        public (byte[] Buffer, int Length, long Index)? Next()
        {
            if (_done)
            {
                return null;
            }
            var slot = shared.Acquire(reader, _next);
            if (slot.Length == 0)
            {
                _done = true;
                return null;
            }
            var block = (slot.Buffer!, slot.Length, _next);
            _next++;
            return block;
        }

        /// <summary>Blocks before <paramref name="index"/> are no longer used by this reader.</summary>
        public void ReleaseBelow(long index) => shared.ReleaseBelow(reader, index);

        /// <summary>The next <see cref="Next"/> is block <paramref name="index"/>: the blocks before it are no longer used.</summary>
        public void Seek(long index)
        {
            shared.ReleaseBelow(reader, index);
            _next = index;
        }

        public int BlockSize => shared.BlockSize;

        public SharedCaptureReads Shared => shared;

        // Routed records: the block whose records are being taken, and the next of them.
        private long _routedBlock = -1;
        private readonly List<RoutedRecord> _routed = [];
        private int _routedNext;

        /// <summary>
        /// Routing: where this reader's next record starts and its frame number; false when routing
        /// ended first, and then <paramref name="record"/> is where it ended (the reader reads on from
        /// there: at the input's end it finds nothing, at damage it fails as normal reading does). The
        /// previous record is no longer used.
        /// </summary>
        public bool NextRouted(out RoutedRecord record)
        {
            while (true)
            {
                if (_routedNext < _routed.Count)
                {
                    if (_routedNext == 0)
                    {
                        for (int i = 1; i < PrefetchDistance && i < _routed.Count; i++)
                        {
                            Prefetch(_routed[i].Offset);
                        }
                    }
                    if (_routedNext + PrefetchDistance < _routed.Count)
                    {
                        Prefetch(_routed[_routedNext + PrefetchDistance].Offset);
                    }
                    record = _routed[_routedNext++];
                    return true;
                }
                long index = _routedBlock + 1; // from block 0, where the first record starts
                // This reader reads nothing before its next record, which is in this block or later; or
                // before the block where routing ended, where it reads on. (Routing that ends later ends
                // at or past the frontier, which is at or past this block.)
                shared.ReleaseBelow(reader, Math.Min(index, Volatile.Read(ref shared._stopBlock)));
                _routedNext = 0;
                if (!shared.WaitRouted(reader, index, _routed, out var stop))
                {
                    _routed.Clear();
                    record = new RoutedRecord(stop.Offset, stop.Frame);
                    return false;
                }
                _routedBlock = index;
                // The records of this list start in this block, which this reader holds until it has
                // taken them: its slot's buffer is where they are.
                var slot = shared._slots[index % shared._slots.Length];
                (_routedBuffer, _routedBufferStart) = slot.Index == index ? (slot.Buffer, index * shared.BlockSize) : (null, 0);
            }
        }

        // The buffer of the block whose routed records are being taken (pinned, see Fill), and the input offset of its first byte.
        private byte[]? _routedBuffer;
        private long _routedBufferStart;

        /// <summary>
        /// Asks the processor to start loading the first bytes of the record at <paramref name="offset"/>
        /// (its header and the packet's link, IP and transport headers) while this reader is still busy with
        /// earlier ones. The block was read by whichever thread filled it, so without this hint the reader's
        /// first touch of each of its records waits on another core's cache or on memory: on the 5 GB bench
        /// capture with two readers, the load of the record header was 81 % of the reader's time in
        /// PcapFileReader.TryReadNext, about 0.4 s of CPU. Only a hint: nothing is read.
        /// </summary>
        private unsafe void Prefetch(long offset)
        {
            byte[]? buffer = _routedBuffer;
            long at = offset - _routedBufferStart;
            if (!System.Runtime.Intrinsics.X86.Sse.IsSupported || buffer is null || (ulong)at >= (ulong)buffer.Length)
            {
                return;
            }
            byte* start = (byte*)System.Runtime.CompilerServices.Unsafe.AsPointer(
                ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(buffer)); // pinned (Fill)
            // Every cache line the first PrefetchedBytes touch (the record need not start on a line).
            long last = Math.Min(at + PrefetchedBytes, buffer.Length) - 1;
            for (long line = at & ~63L; line <= last; line += 64)
            {
                System.Runtime.Intrinsics.X86.Sse.Prefetch0(start + line);
            }
        }

        /// <summary>This reader is finished: it holds back no block.</summary>
        public void Close() => shared.ReleaseBelow(reader, long.MaxValue);
    }
}

/// <summary>
/// What routing (<see cref="SharedCaptureReads.RoutePackets"/>) needs to know of a capture format whose
/// records follow one another with nothing between them that concerns every reader: classic pcap. A
/// struct, so that the walk over the records is compiled for it (no virtual call per record).
/// </summary>
internal interface IRecordLayout
{
    /// <summary>Bytes of a record's header.</summary>
    int HeaderLength { get; }

    /// <summary>The captured bytes after <paramref name="header"/>; -1 when normal reading refuses the header (it fails there).</summary>
    int CapturedLength(ReadOnlySpan<byte> header);

    /// <summary>
    /// The packet the router sees for this record: its frame number, link type and wire length as normal
    /// reading hands them over, and <paramref name="data"/> (its first captured bytes). The time stamp is
    /// not read (no router needs it).
    /// </summary>
    CapturedPacket RoutedPacket(ReadOnlySpan<byte> header, long frame, ReadOnlyMemory<byte> data);
}

/// <summary>A record layout as the shared reading keeps it: one virtual call per walk, not per record.</summary>
internal abstract class RecordLayout
{
    public static RecordLayout Of<TLayout>(TLayout layout) where TLayout : struct, IRecordLayout => new Typed<TLayout>(layout);

    /// <summary>Routes the records from <paramref name="offset"/> on (see SharedCaptureReads.RouteRecords).</summary>
    internal abstract bool Route(SharedCaptureReads shared, ref long offset, ref long frame, long end, bool endKnown);

    private sealed class Typed<TLayout>(TLayout layout) : RecordLayout where TLayout : struct, IRecordLayout
    {
        private readonly TLayout _layout = layout;

        internal override bool Route(SharedCaptureReads shared, ref long offset, ref long frame, long end, bool endKnown) =>
            shared.RouteRecords(_layout, ref offset, ref frame, end, endKnown);
    }
}
