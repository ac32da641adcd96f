using System.Buffers;
using System.Buffers.Binary;

namespace RdpWire.Capture.Files;

/// <summary>
/// Opens a capture file by its content, not its extension: the first four bytes say
/// whether it is classic pcap (draft-ietf-opsawg-pcap section 4) or pcapng
/// (draft-ietf-opsawg-pcapng section 4.1, the Section Header Block).
/// </summary>
public static class CaptureFile
{
    /// <summary>
    /// Opens <paramref name="path"/>. File-system problems (missing file, no permission)
    /// surface as the usual <see cref="IOException"/>s; content problems as
    /// <see cref="CaptureFormatException"/>.
    /// </summary>
    public static IPacketSource Open(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return Open(OpenRead(path), path);
    }

    /// <summary>The file stream <see cref="Open(string)"/> reads (callers may watch its position for progress).</summary>
    public static FileStream OpenRead(string path) =>
        // bufferSize 1 turns FileStream's own buffering off: the reader buffers itself.
        // FileShare.ReadWrite lets us read a file that a capture tool is still writing.
        new(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 1, FileOptions.SequentialScan);

    /// <summary>
    /// Reads a capture from <paramref name="stream"/>, which need not be seekable. The
    /// returned source owns the stream and disposes it; so does this method when it throws.
    /// </summary>
    public static IPacketSource Open(Stream stream, string name)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(name);
        return Open(new CaptureInputBuffer(stream, ownsStream: true), name);
    }

    /// <summary>Reads a capture from <paramref name="input"/>; the returned source owns it, and so does this method when it throws.</summary>
    internal static IPacketSource Open(CaptureInputBuffer input, string name)
    {
        try
        {
            input.EnsureAvailable(MagicLength);
            int available = Math.Min(input.Available, MagicLength);
            if (available == 0)
            {
                throw new CaptureFormatException($"{name} is empty", 0, 0);
            }

            ReadOnlySpan<byte> head = input.Span(0, available);
            if (StartsLike(head, PcapFileReader.Magics))
            {
                return new PcapFileReader(input, name);
            }

            if (StartsLike(head, [PcapNgFileReader.SectionHeaderBlockType]))
            {
                return new PcapNgFileReader(input, name);
            }

            throw new CaptureFormatException(
                $"{name} is not a pcap or pcapng capture (starts with 0x{Convert.ToHexString(head)})", 0, 0);
        }
        catch
        {
            input.Dispose();
            throw;
        }
    }

    private const int MagicLength = 4;

    /// <summary>
    /// True when <paramref name="head"/> (up to four bytes) is the start of one of the magic
    /// numbers in either byte order. A file shorter than four bytes that begins like a
    /// capture goes to its reader, which reports the truncated header.
    /// </summary>
    private static bool StartsLike(ReadOnlySpan<byte> head, ReadOnlySpan<uint> magics)
    {
        Span<byte> magic = stackalloc byte[MagicLength];
        foreach (uint value in magics)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(magic, value);
            if (magic.StartsWith(head))
            {
                return true;
            }

            BinaryPrimitives.WriteUInt32BigEndian(magic, value);
            if (magic.StartsWith(head))
            {
                return true;
            }
        }

        return false;
    }
}

/// <summary>
/// The one reusable read buffer behind a capture file reader. Bytes between
/// <see cref="Offset"/> and <see cref="Offset"/> + <see cref="Available"/> are held;
/// spans and memory handed out stay valid until the next <see cref="EnsureAvailable"/> or
/// <see cref="Skip"/>, which may move or refill the buffer.
/// </summary>
internal sealed class CaptureInputBuffer : IDisposable
{
    // 128 KiB: the block just read is still in the core's cache when its packets are decoded
    // (5 GB bench capture, five alternating runs each: 2.17-2.40 s against 2.29-3.15 s with 1 MiB);
    // a record larger than this grows the buffer.
    public const int InitialSize = 1 << 17;

    private readonly Stream? _stream;
    private readonly bool _ownsStream;
    // Shared mode (SharedCaptureReads): _buffer is a shared block, or _joined while a record cut by a
    // block boundary is put together; then _pending is the block whose head was copied to the end of
    // _joined, starting there at _pendingAt.
    private readonly SharedCaptureReads.Consumer? _blocks;
    private byte[]? _joined;
    private (byte[] Buffer, int Length, long Index)? _pending;
    private int _pendingAt;
    private long _blockIndex = -1;
    private byte[] _buffer;
    private int _start;
    private int _end;
    private long _offset;
    private bool _endOfStream;
    private bool _disposed;

    public CaptureInputBuffer(Stream stream, bool ownsStream)
    {
        _stream = stream;
        _ownsStream = ownsStream;
        _buffer = ArrayPool<byte>.Shared.Rent(InitialSize);
    }

    /// <summary>A reader's buffer over a reading shared with other readers: packets are slices of the shared blocks.</summary>
    public CaptureInputBuffer(SharedCaptureReads.Consumer blocks)
    {
        _blocks = blocks;
        _buffer = [];
    }

    /// <summary>Input offset of the first held byte, counted from where reading began.</summary>
    public long Offset => _offset;

    /// <summary>The reader's walk over a shared reading, when this buffer reads one.</summary>
    internal SharedCaptureReads.Consumer? SharedBlocks => _blocks;

    /// <summary>
    /// Shared mode: moves on to input offset <paramref name="offset"/> (not before <see cref="Offset"/>).
    /// Held bytes are passed over in place; beyond them the buffer goes straight to the block that
    /// holds the offset, without touching the blocks between, which may already be reused (a routed
    /// reader lets go of them while it waits for its next record).
    /// </summary>
    public void MoveTo(long offset)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        long step = offset - _offset;
        ArgumentOutOfRangeException.ThrowIfNegative(step);
        if (_blocks is null)
        {
            throw new InvalidOperationException("only a shared reading moves by offset");
        }
        if (step <= Available)
        {
            Advance((int)step);
            return;
        }
        // Nothing held is needed any more: a joined record's bytes, or the block being read.
        _pending = null;
        long block = offset / _blocks.BlockSize;
        _blocks.Seek(block);
        var next = _blocks.Next();
        _offset = offset;
        if (next is null)
        {
            _buffer = [];
            _start = _end = 0;
            return;
        }
        (_buffer, _end, _blockIndex) = next.Value;
        _start = (int)Math.Min(offset - block * _blocks.BlockSize, _end);
    }

    public int Available => _end - _start;

    /// <summary>
    /// Makes at least <paramref name="count"/> bytes available, reading and, when needed,
    /// growing the buffer to <paramref name="count"/> (callers bound it). False when the
    /// input ends first; whatever was there stays available.
    /// </summary>
    public bool EnsureAvailable(int count)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (Available >= count)
        {
            return true;
        }

        if (_blocks is not null)
        {
            return EnsureAvailableShared(count);
        }

        if (_endOfStream)
        {
            return false;
        }

        if (count > _buffer.Length - _start)
        {
            if (count > _buffer.Length)
            {
                // Do not grow for a length the input cannot hold; a seekable input can tell.
                if (KnownRemaining() is long remaining && remaining < count)
                {
                    return false;
                }

                Grow(count);
            }
            else
            {
                Compact();
            }
        }

        while (Available < count)
        {
            if (!Fill())
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Discards <paramref name="count"/> bytes without holding them all at once.</summary>
    public bool Skip(long count)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        while (count > 0)
        {
            if (_blocks is not null)
            {
                SwitchToPendingWhenReached();
                if (Available == 0 && !NextSharedBlock())
                {
                    return false;
                }
            }
            else if (Available == 0)
            {
                _start = _end = 0;
                if (!Fill())
                {
                    return false;
                }
            }

            int step = (int)Math.Min(count, Available);
            Advance(step);
            count -= step;
        }

        return true;
    }

    public ReadOnlySpan<byte> Span(int offset, int count) => _buffer.AsSpan(_start + offset, count);

    public ReadOnlyMemory<byte> Memory(int offset, int count) => _buffer.AsMemory(_start + offset, count);

    public void Advance(int count)
    {
        _start += count;
        _offset += count;
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        if (_blocks is not null)
        {
            _blocks.Close();
            if (_joined is not null)
            {
                ArrayPool<byte>.Shared.Return(_joined);
                _joined = null;
            }
        }
        else
        {
            ArrayPool<byte>.Shared.Return(_buffer);
        }
        _buffer = [];
        if (_ownsStream)
        {
            _stream!.Dispose();
        }
    }

    /// <summary>
    /// Shared mode: the next block when the current one is used up (no copy), else the held bytes
    /// and as much of the following blocks as <paramref name="count"/> needs joined in this reader's
    /// own buffer.
    /// </summary>
    private bool EnsureAvailableShared(int count)
    {
        SwitchToPendingWhenReached();
        while (Available < count)
        {
            if (Available == 0 && _pending is null)
            {
                if (!NextSharedBlock())
                {
                    return false;
                }
                continue;
            }
            if (!ReferenceEquals(_buffer, _joined))
            {
                // Start joining: the held tail of the current block goes to the front of _joined.
                // Sized for what is held, not for count: a corrupt length must not allocate what the input does not hold.
                int held = Available;
                if (_joined is null || _joined.Length < held)
                {
                    ReplaceJoined(Math.Max(held, InitialSize), keep: 0);
                }
                Buffer.BlockCopy(_buffer, _start, _joined!, 0, held);
                _buffer = _joined!;
                _start = 0;
                _end = held;
            }
            else if (_start > 0)
            {
                Buffer.BlockCopy(_joined!, _start, _joined!, 0, Available);
                _end -= _start;
                _pendingAt -= _start;
                _start = 0;
            }
            if (_pending is null)
            {
                // The joined bytes end where the current block ends: the next block follows them.
                long current = _blockIndex;
                var next = _blocks!.Next();
                _blocks.ReleaseBelow(current + 1);
                if (next is null)
                {
                    return false;
                }
                _pending = next;
                _blockIndex = next.Value.Index;
                _pendingAt = _end;
            }
            var pending = _pending.Value;
            int copied = _end - _pendingAt;
            int take = Math.Min(pending.Length - copied, count - Available);
            if (_joined!.Length < _end + take)
            {
                ReplaceJoined(Math.Max(_end + take, _joined.Length * 2), keep: _end);
            }
            Buffer.BlockCopy(pending.Buffer, copied, _joined!, _end, take);
            _end += take;
            if (copied + take == pending.Length && Available < count)
            {
                // The whole block is joined and more is needed: it is not needed as a block any more.
                _pending = null;
            }
        }
        return true;
    }

    /// <summary>Shared mode: once every joined byte before the pending block is consumed, read on in that block itself.</summary>
    private void SwitchToPendingWhenReached()
    {
        if (_pending is { } pending && _start >= _pendingAt)
        {
            _start -= _pendingAt;
            _end = pending.Length;
            _buffer = pending.Buffer;
            _pending = null;
        }
    }

    /// <summary>Shared mode, nothing held: moves to the next block; false at the input's end.</summary>
    private bool NextSharedBlock()
    {
        long current = _blockIndex;
        var next = _blocks!.Next();
        _blocks.ReleaseBelow(current + 1);
        if (next is null)
        {
            _start = _end = 0;
            return false;
        }
        (_buffer, _end, _blockIndex) = next.Value;
        _start = 0;
        return true;
    }

    private void ReplaceJoined(int size, int keep)
    {
        byte[] larger = ArrayPool<byte>.Shared.Rent(size);
        if (_joined is not null)
        {
            Buffer.BlockCopy(_joined, 0, larger, 0, keep);
            bool current = ReferenceEquals(_buffer, _joined);
            ArrayPool<byte>.Shared.Return(_joined);
            if (current)
            {
                _buffer = larger;
            }
        }
        _joined = larger;
    }

    private bool Fill()
    {
        if (_end == _buffer.Length)
        {
            Compact();
        }

        int read = _stream!.Read(_buffer, _end, _buffer.Length - _end);
        if (read == 0)
        {
            _endOfStream = true;
            return false;
        }

        _end += read;
        return true;
    }

    private void Compact()
    {
        int held = Available;
        if (_start > 0)
        {
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, held);
        }

        _start = 0;
        _end = held;
    }

    private void Grow(int count)
    {
        byte[] larger = ArrayPool<byte>.Shared.Rent(count);
        int held = Available;
        Buffer.BlockCopy(_buffer, _start, larger, 0, held);
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = larger;
        _start = 0;
        _end = held;
    }

    private long? KnownRemaining()
    {
        if (_stream is null || !_stream.CanSeek)
        {
            return null;
        }

        try
        {
            return _stream.Length - _stream.Position + Available;
        }
        catch (NotSupportedException)
        {
            return null;
        }
    }
}
