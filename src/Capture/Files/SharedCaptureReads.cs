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
    }

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

    /// <summary>
    /// A packet source over the shared reading, for one of the <see cref="Readers"/> readers; like
    /// <see cref="CaptureFile.Open(string)"/> it tells pcap from pcapng by the content.
    /// </summary>
    public IPacketSource OpenSource(string name)
    {
        int reader;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_opened == Readers)
            {
                throw new InvalidOperationException($"all {Readers} readers of this shared reading are open already");
            }
            reader = _opened++;
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
                else if (slot.Index < index && NoReaderHolds(slot.Index))
                {
                    Claim(slot, index);
                    break;
                }
                // Another reader is reading this block or still holds the slot: usually well under a
                // millisecond. Spin outside the gate first, and sleep only past that: on the 5 GB bench
                // capture each --threads 2 reader slept 850-1,300 times without the spin, 30-90 times
                // with it (its waits still add up to 0.5-0.7 s), and the run went 3.47 -> 3.36 s.
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
    }

    /// <summary>Reads a claimed block into its slot (outside the gate) and publishes it; the read failure, if any.</summary>
    private Exception? Fill(Slot slot, long index)
    {
        int length = 0;
        Exception? failure = null;
        try
        {
            slot.Buffer ??= new byte[BlockSize];
            length = _read(slot.Buffer, index * BlockSize);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
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

    /// <summary>True when every open reader has moved past block <paramref name="index"/> (-1: the slot was never used).</summary>
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

    private sealed class Slot
    {
        public long Index = -1;
        public byte[]? Buffer;
        public int Length;
        public bool Loaded;
        public Exception? Failure;
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

        /// <summary>This reader is finished: it holds back no block.</summary>
        public void Close() => shared.ReleaseBelow(reader, long.MaxValue);
    }
}
