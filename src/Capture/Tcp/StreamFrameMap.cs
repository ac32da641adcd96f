namespace RdpWire.Capture.Tcp;

/// <summary>
/// Remembers which frame carried which bytes of a reassembled stream, so a message parsed
/// from the stream can name the packet(s) it arrived in. Entries are appended in stream
/// order and trimmed once the parser has consumed past them, so the map stays small.
/// </summary>
public sealed class StreamFrameMap
{
    // A ring whose length is a power of two (8, 16, ...): positions wrap with a mask, not a division.
    private (long EndOffset, long Frame, long Ticks)[] _entries = [];
    private int _start;
    private int _count;

    /// <summary>Records that <paramref name="frame"/> delivered stream bytes up to (excluding) <paramref name="endOffset"/>.</summary>
    public void Add(long endOffset, long frame, long ticks)
    {
        if (_count > 0)
        {
            ref var last = ref _entries[(_start + _count - 1) & (_entries.Length - 1)];
            if (last.Frame == frame)
            {
                last.EndOffset = endOffset;
                return;
            }
        }
        if (_count == _entries.Length)
        {
            var bigger = new (long, long, long)[Math.Max(8, _entries.Length * 2)];
            for (int i = 0; i < _count; i++)
            {
                bigger[i] = _entries[(_start + i) & (_entries.Length - 1)];
            }
            _entries = bigger;
            _start = 0;
        }
        _entries[(_start + _count) & (_entries.Length - 1)] = (endOffset, frame, ticks);
        _count++;
    }

    /// <summary>The frame (and its time) that carried the byte at <paramref name="offset"/>; (0, 0) when unknown.</summary>
    public (long Frame, long Ticks) FrameAt(long offset)
    {
        for (int i = 0; i < _count; i++)
        {
            var e = _entries[(_start + i) & (_entries.Length - 1)];
            if (offset < e.EndOffset)
            {
                return (e.Frame, e.Ticks);
            }
        }
        if (_count > 0)
        {
            var last = _entries[(_start + _count - 1) & (_entries.Length - 1)];
            return (last.Frame, last.Ticks);
        }
        return (0, 0);
    }

    /// <summary>Every distinct frame that carried bytes in [start, end), in stream order.</summary>
    public void FramesIn(long start, long end, List<long> into)
    {
        long previousEnd = long.MinValue;
        for (int i = 0; i < _count; i++)
        {
            var e = _entries[(_start + i) & (_entries.Length - 1)];
            long entryStart = previousEnd == long.MinValue ? long.MinValue : previousEnd;
            previousEnd = e.EndOffset;
            if (e.EndOffset > start && entryStart < end && (into.Count == 0 || into[^1] != e.Frame))
            {
                into.Add(e.Frame);
            }
        }
    }

    /// <summary>Forgets entries that end at or before <paramref name="offset"/>, keeping the last one.</summary>
    public void TrimBefore(long offset)
    {
        while (_count > 1 && _entries[_start].EndOffset <= offset)
        {
            _start = (_start + 1) & (_entries.Length - 1);
            _count--;
        }
    }
}
