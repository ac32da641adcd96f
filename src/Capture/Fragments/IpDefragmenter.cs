using System.Buffers;
using RdpWire.Capture.Decoding;

namespace RdpWire.Capture.Fragments;

/// <summary>Caps and timeouts that keep reassembly bounded whatever the capture holds.</summary>
public sealed record DefragmenterLimits
{
    /// <summary>
    /// How long an IPv4 datagram may stay incomplete, in capture time from its first-arriving
    /// fragment. RFC 791 3.2 suggests a 15 s initial timer raised by each fragment's TTL and
    /// RFC 1122 3.3.2 60-120 s; 30 s is what Linux uses (ipfrag_time), and a fragment later than
    /// that is lost for any receiver that matters.
    /// </summary>
    public TimeSpan Ipv4FragmentTimeout { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>RFC 8200 4.5: reassembly is abandoned 60 s after the first-arriving fragment.</summary>
    public TimeSpan Ipv6FragmentTimeout { get; init; } = TimeSpan.FromSeconds(60);
    /// <summary>Reassembly buffers held across all datagrams (pooled array sizes, not just data).</summary>
    public long MaxBufferedBytes { get; init; } = 16L << 20;
    /// <summary>Datagrams tracked at once, in progress or remembered as completed/discarded.</summary>
    public int MaxDatagrams { get; init; } = 4096;
    /// <summary>Distinct fragments one datagram may have (a 64 KiB datagram at the 576-byte IPv4 minimum MTU needs 120).</summary>
    public int MaxFragmentsPerDatagram { get; init; } = 1024;

    public static DefragmenterLimits Default { get; } = new();
}

/// <summary>What <see cref="IpDefragmenter.Add"/> did with one fragment.</summary>
public enum DefragResult : byte
{
    /// <summary>Held until the rest of its datagram arrives.</summary>
    Buffered,
    /// <summary>The datagram is complete: the out parameter carries it.</summary>
    Completed,
    /// <summary>Bytes already held (or already delivered) with the same content: ignored.</summary>
    Duplicate,
    /// <summary>The fragment's datagram is discarded (now or earlier); the reason comes from <see cref="IpDefragmenter.Expire"/>.</summary>
    Dropped,
}

/// <summary>Why a datagram never completed.</summary>
public enum IncompleteReason : byte
{
    /// <summary>Still incomplete after the fragment timeout.</summary>
    Timeout,
    /// <summary>Fragments overlapped (IPv6: any overlap, RFC 5722; IPv4: overlap with different content).</summary>
    Overlap,
    /// <summary>Fragments disagree on the datagram's end, or a fragment runs past it, or its IP header is unusable.</summary>
    Inconsistent,
    /// <summary>A fragment was cut by the capture's snaplen: its bytes cannot be rebuilt.</summary>
    Truncated,
    /// <summary>Evicted (least recently active) when <see cref="DefragmenterLimits.MaxDatagrams"/> were tracked.</summary>
    DatagramCap,
    /// <summary>Dropped to stay within <see cref="DefragmenterLimits.MaxBufferedBytes"/>.</summary>
    ByteCap,
    /// <summary>The datagram would exceed 65535 bytes (RFC 791 total length; RFC 8200 payload length without jumbograms).</summary>
    SizeCap,
    /// <summary>More fragments than <see cref="DefragmenterLimits.MaxFragmentsPerDatagram"/>.</summary>
    FragmentCap,
    /// <summary>Still incomplete when the capture ended.</summary>
    CaptureEnd,
}

/// <summary>A datagram that never completed: who it was, how much of it arrived, and why it was given up.</summary>
/// <param name="Protocol">IPv4 protocol, or the next header of the IPv6 offset-zero fragment (the first-arriving one when that never came).</param>
/// <param name="BytesReceived">Distinct fragment-data bytes received (IP payload bytes, headers excluded).</param>
/// <param name="TotalLength">IP payload length of the whole datagram, known once its last fragment (MF clear) arrived.</param>
/// <param name="Fragments">Distinct fragments held (duplicates not counted).</param>
/// <param name="LastFrame">The latest fragment's frame: for overlap, inconsistency and truncation, the fragment that caused the discard.</param>
public readonly record struct IncompleteDatagram(
    byte IpVersion,
    NetAddress Source,
    NetAddress Destination,
    byte Protocol,
    uint Identification,
    int BytesReceived,
    int? TotalLength,
    int Fragments,
    long FirstFrame,
    long LastFrame,
    long FirstTicks,
    long LastTicks,
    IncompleteReason Reason);

/// <summary>
/// A datagram rebuilt from its fragments. <see cref="Payload"/> lives in a pooled buffer: dispose
/// the datagram once the payload has been consumed (decoded and copied on), and do not use the
/// payload or anything decoded from it afterwards.
/// </summary>
public sealed class ReassembledDatagram : IDisposable
{
    private byte[]? _buffer;
    private readonly int _length;
    private readonly long[] _frames;

    internal ReassembledDatagram(byte[] buffer, int length, long[] frames, in CapturedPacket completingPacket,
        byte ipVersion, NetAddress source, NetAddress destination, byte protocol, byte ttl, uint identification,
        int ipHeaderLength)
    {
        _buffer = buffer;
        _length = length;
        _frames = frames;
        CompletingPacket = completingPacket;
        IpVersion = ipVersion;
        Source = source;
        Destination = destination;
        Protocol = protocol;
        Ttl = ttl;
        Identification = identification;
        IpHeaderLength = ipHeaderLength;
    }

    public byte IpVersion { get; }
    public NetAddress Source { get; }
    public NetAddress Destination { get; }
    /// <summary>IPv4 protocol, or the next header in the offset-zero fragment's fragment header (RFC 8200 4.5).</summary>
    public byte Protocol { get; }
    /// <summary>TTL / hop limit of the offset-zero fragment.</summary>
    public byte Ttl { get; }
    public uint Identification { get; }
    /// <summary>The offset-zero fragment's IPv4 header length, or 40 plus the IPv6 unfragmentable extension headers.</summary>
    public int IpHeaderLength { get; }

    /// <summary>
    /// The fragment that completed the datagram, as handed to <see cref="IpDefragmenter.Add"/>:
    /// its <see cref="CapturedPacket.Data"/> is borrowed like any source packet's.
    /// </summary>
    public CapturedPacket CompletingPacket { get; }

    /// <summary>Capture time of the completing fragment.</summary>
    public long TimestampTicks => CompletingPacket.TimestampTicks;

    /// <summary>Frames of the fragments that contributed, in arrival order; the completing frame is last. Duplicates are not listed.</summary>
    public ReadOnlySpan<long> Frames => _frames;

    /// <summary>The IP payload (transport header and data; IPv6: the fragmentable part) rebuilt.</summary>
    public ReadOnlyMemory<byte> Payload =>
        _buffer is null ? throw new ObjectDisposedException(nameof(ReassembledDatagram)) : _buffer.AsMemory(0, _length);

    /// <summary>Decodes the transport header as for an unfragmented packet (<see cref="PacketDecoder.TryDecodeReassembled"/>).</summary>
    public DecodeResult TryDecode(out DecodedPacket decoded) =>
        PacketDecoder.TryDecodeReassembled(CompletingPacket, IpVersion, Source, Destination, Protocol, Ttl,
            Identification, IpHeaderLength, Payload, out decoded);

    public void Dispose()
    {
        byte[]? buffer = Interlocked.Exchange(ref _buffer, null);
        if (buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}

/// <summary>
/// Rebuilds IPv4 (RFC 791 3.2) and IPv6 (RFC 8200 4.5) datagrams from their fragments, bounded
/// by <see cref="DefragmenterLimits"/>. Datagrams that never complete — timed out, overlapping,
/// inconsistent, cut by snaplen, over a cap, or open at capture end — are reported through
/// <see cref="Expire"/> and <see cref="Flush"/>, never silently lost and never held without bound.
/// Fragment data is copied into pooled buffers, so the source may reuse its packet buffer.
/// </summary>
public sealed class IpDefragmenter
{
    /// <summary>RFC 791 3.1: total length is 16 bits, header included.</summary>
    private const int MaxIpv4DatagramLength = 65535;
    /// <summary>RFC 8200 3: payload length is 16 bits, the 40-byte fixed header excluded (no jumbograms, RFC 2675).</summary>
    private const int MaxIpv6PayloadLength = 65535;
    private const int Ipv4MinimumHeaderLength = 20;
    private const int Ipv6FixedHeaderLength = 40;
    private const int MaxPooledEntries = 64;

    private readonly DefragmenterLimits _limits;
    private readonly Dictionary<DatagramKey, Entry> _entries = [];
    private readonly List<IncompleteDatagram> _pending = [];
    private readonly Stack<Entry> _freeEntries = new();
    private long _bufferedBytes;
    private long _nextExpiryTicks = long.MaxValue;
    private long _touch;

    public IpDefragmenter() : this(DefragmenterLimits.Default)
    {
    }

    public IpDefragmenter(DefragmenterLimits limits)
    {
        ArgumentNullException.ThrowIfNull(limits);
        ArgumentOutOfRangeException.ThrowIfLessThan(limits.MaxDatagrams, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(limits.MaxFragmentsPerDatagram, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(limits.MaxBufferedBytes);
        _limits = limits;
    }

    /// <summary>Fragments handed to <see cref="Add"/>.</summary>
    public long FragmentsSeen { get; private set; }
    public long DatagramsReassembled { get; private set; }
    /// <summary>Datagrams discarded for overlapping fragments.</summary>
    public long OverlapsDiscarded { get; private set; }
    /// <summary>Fragments whose bytes were already held or delivered with the same content.</summary>
    public long DuplicatesIgnored { get; private set; }
    /// <summary>Datagrams dropped by a cap (datagram count, bytes, size, fragments per datagram).</summary>
    public long CapDrops { get; private set; }
    public long DatagramsExpired { get; private set; }
    /// <summary>Datagrams discarded as inconsistent or cut by snaplen.</summary>
    public long MalformedDiscarded { get; private set; }
    /// <summary>Fragments for which <see cref="Add"/> returned <see cref="DefragResult.Dropped"/>.</summary>
    public long FragmentsDropped { get; private set; }
    /// <summary>Reports lost because <see cref="Expire"/> was not called for a long time (the queue is capped).</summary>
    public long ReportsLost { get; private set; }

    /// <summary>Bytes of reassembly buffers currently held.</summary>
    public long BufferedBytes => _bufferedBytes;
    /// <summary>Datagrams tracked: in progress, plus completed or discarded ones remembered until their timeout.</summary>
    public int TrackedDatagrams => _entries.Count;

    /// <summary>
    /// Adds one fragment (<see cref="DecodedPacket.IsFragment"/>; its IP header decoded, whatever
    /// happened to its transport header). Returns <see cref="DefragResult.Completed"/> with the
    /// rebuilt datagram, which the caller disposes. Datagrams given up on along the way (this one or
    /// others evicted for room) are queued for the next <see cref="Expire"/> or <see cref="Flush"/>;
    /// call <see cref="Expire"/> regularly (it is cheap when nothing is due).
    /// </summary>
    public DefragResult Add(in DecodedPacket fragment, out ReassembledDatagram? datagram)
    {
        datagram = null;
        if (!fragment.IsFragment || fragment.IpVersion is not (4 or 6))
        {
            throw new ArgumentException("Not an IP fragment.", nameof(fragment));
        }
        FragmentsSeen++;
        CapturedPacket packet = fragment.Packet;
        long now = packet.TimestampTicks;
        if (now > _nextExpiryTicks)
        {
            ExpireDue(now);
        }

        bool isV6 = fragment.IpVersion == 6;
        DecodeResult located = PacketDecoder.TryLocateFragmentData(packet, out IpFragmentLocation location);
        byte protocol = located == DecodeResult.Ok ? location.NextHeader : fragment.IpProtocol;
        // RFC 791 3.2 identifies a datagram by source, destination, protocol and identification.
        // RFC 8200 4.5 uses source, destination and identification only: the fragment headers'
        // next header may differ between fragments, and only the offset-zero one counts.
        var key = new DatagramKey(fragment.IpVersion, fragment.Source, fragment.Destination,
            isV6 ? (byte)0 : protocol, fragment.IpIdentification);

        if (_entries.TryGetValue(key, out Entry? entry))
        {
            if (now > entry.ExpiresTicks)
            {
                // Its timeout passed between sweeps: report it and start afresh.
                Retire(entry, IncompleteReason.Timeout);
                entry = null;
            }
            else if (entry.State == EntryState.Discarded)
            {
                // RFC 5722: fragments of a discarded datagram, even ones not yet received, are discarded too.
                FragmentsDropped++;
                return DefragResult.Dropped;
            }
            else if (entry.State == EntryState.Completed)
            {
                if (located == DecodeResult.Ok && IsDeliveredDuplicate(entry, fragment.FragmentOffset, packet, location))
                {
                    DuplicatesIgnored++;
                    return DefragResult.Duplicate;
                }
                // Same identification, new content: the identification was reused (RFC 6864 4).
                Remove(entry);
                entry = null;
            }
        }
        entry ??= Create(key, fragment, protocol, now);
        entry.LastFrame = packet.Frame;
        entry.LastTicks = now;
        entry.Touch = ++_touch;

        if (located != DecodeResult.Ok)
        {
            return Discard(entry, located == DecodeResult.Truncated ? IncompleteReason.Truncated : IncompleteReason.Inconsistent);
        }
        int offset = fragment.FragmentOffset;
        int length = location.WireLength;
        int end = offset + length;
        if (location.CapturedEnd - location.DataStart < length)
        {
            return Discard(entry, IncompleteReason.Truncated);
        }

        // RFC 791 3.1 / RFC 8200 3: the rebuilt datagram must fit its 16-bit length field.
        int headerLength = offset == 0 ? location.UnfragmentableLength
            : entry.HaveFirst ? entry.HeaderLength : isV6 ? location.UnfragmentableLength : Ipv4MinimumHeaderLength;
        int maxEnd = isV6
            ? MaxIpv6PayloadLength - (headerLength - Ipv6FixedHeaderLength)
            : MaxIpv4DatagramLength - headerLength;
        if (end > maxEnd || entry.MaxEnd > maxEnd)
        {
            return Discard(entry, IncompleteReason.SizeCap);
        }

        // The last fragment fixes the datagram's length (RFC 791 3.2, RFC 8200 4.5): a second
        // last fragment that disagrees, or any fragment past the end, leaves no consistent datagram.
        if (!fragment.MoreFragments
            ? (entry.TotalLength >= 0 && entry.TotalLength != end) || end < entry.MaxEnd
            : entry.TotalLength >= 0 && end > entry.TotalLength)
        {
            return Discard(entry, IncompleteReason.Inconsistent);
        }

        ReadOnlySpan<byte> data = packet.Data.Span.Slice(location.DataStart, length);
        int overlapped = entry.CoveredBytes(offset, end);
        bool sameRange = entry.HasFragment(offset, length);
        if (overlapped > 0 || sameRange)
        {
            bool sameContent = entry.Matches(offset, data);
            // Exact duplicates (the same fragment captured twice, or retransmitted) are not
            // overlaps: RFC 8200 4.5 lets a receiver drop them and keep the datagram. For IPv4,
            // bytes already held with the same content are duplicates whatever the boundaries.
            if (sameContent && (sameRange || (!isV6 && overlapped == length)))
            {
                DuplicatesIgnored++;
                return DefragResult.Duplicate;
            }
            // IPv6: RFC 5722 3 (kept by RFC 8200 4.5) — any other overlap discards the whole
            // datagram. IPv4: RFC 791 lets the later copy win, which is how overlap attacks
            // (RFC 1858 4, RFC 3128) hide data from a monitor; a receiver's rebuilt bytes cannot
            // be known, so overlap with different content discards the datagram and is reported.
            // Overlap with identical content (re-fragmented retransmissions) is harmless and kept.
            if (isV6 || !sameContent)
            {
                OverlapsDiscarded++;
                return Discard(entry, IncompleteReason.Overlap);
            }
        }

        if (entry.Fragments.Count >= _limits.MaxFragmentsPerDatagram)
        {
            return Discard(entry, IncompleteReason.FragmentCap);
        }
        if (!EnsureCapacity(entry, end))
        {
            return Discard(entry, IncompleteReason.ByteCap);
        }
        if (length > 0)
        {
            data.CopyTo(entry.Buffer.AsSpan(offset));
        }
        entry.BytesReceived += entry.Cover(offset, end);
        entry.Fragments.Add(new FragmentRecord(offset, length, packet.Frame));
        entry.MaxEnd = Math.Max(entry.MaxEnd, end);
        if (offset == 0)
        {
            entry.HaveFirst = true;
            entry.HeaderLength = location.UnfragmentableLength;
            entry.Ttl = fragment.Ttl;
            entry.Protocol = location.NextHeader;
        }
        if (!fragment.MoreFragments)
        {
            entry.TotalLength = end;
        }

        if (entry.HaveFirst && entry.TotalLength >= 0 && entry.BytesReceived == entry.TotalLength)
        {
            datagram = Complete(entry, packet);
            DatagramsReassembled++;
            return DefragResult.Completed;
        }
        return DefragResult.Buffered;
    }

    /// <summary>
    /// Whether <see cref="Expire"/>(<paramref name="nowTicks"/>, ...) would do anything: a datagram's
    /// reassembly timer has run out by then, or datagrams given up on wait to be handed over.
    /// </summary>
    public bool ExpireWouldAct(long nowTicks) => nowTicks > _nextExpiryTicks || _pending.Count > 0;

    /// <summary>
    /// Gives up on datagrams incomplete for longer than their timeout at capture time
    /// <paramref name="nowTicks"/>, and hands over every datagram given up on so far (overlap,
    /// caps, ...) in the order they were given up on.
    /// </summary>
    public void Expire(long nowTicks, List<IncompleteDatagram> into)
    {
        ArgumentNullException.ThrowIfNull(into);
        if (nowTicks > _nextExpiryTicks)
        {
            ExpireDue(nowTicks);
        }
        DrainPending(into);
    }

    /// <summary>Capture end: reports every datagram still incomplete and releases all buffers.</summary>
    public void Flush(List<IncompleteDatagram> into)
    {
        ArgumentNullException.ThrowIfNull(into);
        var open = new List<Entry>();
        foreach (Entry entry in _entries.Values)
        {
            if (entry.State == EntryState.Assembling)
            {
                open.Add(entry);
            }
        }
        open.Sort(static (a, b) => a.FirstFrame.CompareTo(b.FirstFrame));
        foreach (Entry entry in open)
        {
            Report(entry, IncompleteReason.CaptureEnd);
        }
        foreach (Entry entry in _entries.Values.ToArray())
        {
            Remove(entry);
        }
        _nextExpiryTicks = long.MaxValue;
        DrainPending(into);
    }

    private void DrainPending(List<IncompleteDatagram> into)
    {
        into.AddRange(_pending);
        _pending.Clear();
    }

    private void ExpireDue(long now)
    {
        List<Entry>? due = null;
        long next = long.MaxValue;
        foreach (Entry entry in _entries.Values)
        {
            if (now > entry.ExpiresTicks)
            {
                (due ??= []).Add(entry);
            }
            else
            {
                next = Math.Min(next, entry.ExpiresTicks);
            }
        }
        _nextExpiryTicks = next;
        if (due is null)
        {
            return;
        }
        due.Sort(static (a, b) => a.FirstFrame.CompareTo(b.FirstFrame));
        foreach (Entry entry in due)
        {
            Retire(entry, IncompleteReason.Timeout);
        }
    }

    /// <summary>Removes an entry whose time is up: reported when it was still being assembled.</summary>
    private void Retire(Entry entry, IncompleteReason reason)
    {
        if (entry.State == EntryState.Assembling)
        {
            if (reason == IncompleteReason.Timeout)
            {
                DatagramsExpired++;
            }
            Report(entry, reason);
        }
        Remove(entry);
    }

    private Entry Create(DatagramKey key, in DecodedPacket fragment, byte protocol, long now)
    {
        if (_entries.Count >= _limits.MaxDatagrams)
        {
            EvictForRoom();
        }
        Entry entry = _freeEntries.Count > 0 ? _freeEntries.Pop() : new Entry();
        entry.Key = key;
        entry.State = EntryState.Assembling;
        entry.Protocol = protocol;
        entry.FirstFrame = fragment.Packet.Frame;
        entry.FirstTicks = now;
        TimeSpan timeout = key.Version == 6 ? _limits.Ipv6FragmentTimeout : _limits.Ipv4FragmentTimeout;
        entry.ExpiresTicks = now > long.MaxValue - timeout.Ticks ? long.MaxValue : now + timeout.Ticks;
        _nextExpiryTicks = Math.Min(_nextExpiryTicks, entry.ExpiresTicks);
        _entries.Add(key, entry);
        return entry;
    }

    /// <summary>
    /// The table is full: forget the least recently active completed or discarded datagram (already
    /// reported, holding no bytes) or, when there is none, drop the least recently active datagram
    /// in progress — the one most likely never to complete — and report it.
    /// </summary>
    private void EvictForRoom()
    {
        Entry? oldestRemembered = null;
        Entry? oldestOpen = null;
        foreach (Entry entry in _entries.Values)
        {
            if (entry.State == EntryState.Assembling)
            {
                if (oldestOpen is null || entry.Touch < oldestOpen.Touch)
                {
                    oldestOpen = entry;
                }
            }
            else if (oldestRemembered is null || entry.Touch < oldestRemembered.Touch)
            {
                oldestRemembered = entry;
            }
        }
        if (oldestRemembered is not null)
        {
            Remove(oldestRemembered);
        }
        else if (oldestOpen is not null)
        {
            CapDrops++;
            Report(oldestOpen, IncompleteReason.DatagramCap);
            Remove(oldestOpen);
        }
    }

    /// <summary>
    /// Makes the entry's buffer hold <paramref name="end"/> bytes within the byte cap, dropping the
    /// least recently active other datagrams if needed. False when this datagram alone does not fit.
    /// </summary>
    private bool EnsureCapacity(Entry entry, int end)
    {
        int have = entry.Buffer?.Length ?? 0;
        if (end <= have)
        {
            return true;
        }
        int want = Math.Max(end, Math.Min(have * 2, MaxIpv6PayloadLength + 1));
        byte[] bigger = ArrayPool<byte>.Shared.Rent(want);
        long over = _bufferedBytes - have + bigger.Length - _limits.MaxBufferedBytes;
        while (over > 0 && DropOldestBufferedExcept(entry) is long freed)
        {
            over -= freed;
        }
        if (over > 0)
        {
            ArrayPool<byte>.Shared.Return(bigger);
            return false;
        }
        if (entry.Buffer is not null)
        {
            entry.Buffer.AsSpan().CopyTo(bigger);
            ArrayPool<byte>.Shared.Return(entry.Buffer);
        }
        entry.Buffer = bigger;
        _bufferedBytes += bigger.Length - have;
        return true;
    }

    private long? DropOldestBufferedExcept(Entry keep)
    {
        Entry? oldest = null;
        foreach (Entry entry in _entries.Values)
        {
            if (entry != keep && entry.Buffer is not null && (oldest is null || entry.Touch < oldest.Touch))
            {
                oldest = entry;
            }
        }
        if (oldest is null)
        {
            return null;
        }
        long freed = oldest.Buffer!.Length;
        Discard(oldest, IncompleteReason.ByteCap);
        return freed;
    }

    /// <summary>
    /// Gives up on a datagram in progress: reports it, releases its bytes and remembers its
    /// identity until its timeout so that its later fragments are dropped rather than starting
    /// a datagram that could never complete.
    /// </summary>
    private DefragResult Discard(Entry entry, IncompleteReason reason)
    {
        switch (reason)
        {
            case IncompleteReason.ByteCap or IncompleteReason.SizeCap or IncompleteReason.FragmentCap or IncompleteReason.DatagramCap:
                CapDrops++;
                break;
            case IncompleteReason.Inconsistent or IncompleteReason.Truncated:
                MalformedDiscarded++;
                break;
        }
        Report(entry, reason);
        ReleaseBuffer(entry);
        entry.ClearAssembly();
        entry.State = EntryState.Discarded;
        FragmentsDropped++;
        return DefragResult.Dropped;
    }

    private ReassembledDatagram Complete(Entry entry, in CapturedPacket completingPacket)
    {
        byte[] buffer = entry.Buffer!;
        var frames = new long[entry.Fragments.Count];
        for (int i = 0; i < frames.Length; i++)
        {
            FragmentRecord record = entry.Fragments[i];
            frames[i] = record.Frame;
            // Remembered so that copies of these fragments arriving later are known as duplicates.
            entry.Fragments[i] = record with { ContentHash = Hash(buffer.AsSpan(record.Offset, record.Length)) };
        }
        var datagram = new ReassembledDatagram(buffer, entry.TotalLength, frames, completingPacket,
            entry.Key.Version, entry.Key.Source, entry.Key.Destination, entry.Protocol, entry.Ttl,
            entry.Key.Identification, entry.HeaderLength);
        // The buffer now belongs to the datagram (and its caller): no longer ours to count.
        _bufferedBytes -= buffer.Length;
        entry.Buffer = null;
        entry.ClearCoverage();
        entry.State = EntryState.Completed;
        return datagram;
    }

    private static bool IsDeliveredDuplicate(Entry entry, int offset, in CapturedPacket packet, IpFragmentLocation location)
    {
        int length = location.WireLength;
        if (location.CapturedEnd - location.DataStart < length)
        {
            return false;
        }
        foreach (FragmentRecord record in entry.Fragments)
        {
            if (record.Offset == offset && record.Length == length)
            {
                return record.ContentHash == Hash(packet.Data.Span.Slice(location.DataStart, length));
            }
        }
        return false;
    }

    private static int Hash(ReadOnlySpan<byte> bytes)
    {
        var hash = new HashCode();
        hash.AddBytes(bytes);
        return hash.ToHashCode();
    }

    private void Report(Entry entry, IncompleteReason reason)
    {
        // Bounded like everything else: a caller that never drains loses reports, counted.
        if (_pending.Count >= _limits.MaxDatagrams)
        {
            ReportsLost++;
            return;
        }
        _pending.Add(new IncompleteDatagram(entry.Key.Version, entry.Key.Source, entry.Key.Destination,
            entry.Protocol, entry.Key.Identification, entry.BytesReceived,
            entry.TotalLength >= 0 ? entry.TotalLength : null, entry.Fragments.Count,
            entry.FirstFrame, entry.LastFrame, entry.FirstTicks, entry.LastTicks, reason));
    }

    private void Remove(Entry entry)
    {
        _entries.Remove(entry.Key);
        ReleaseBuffer(entry);
        entry.ClearAssembly();
        if (_freeEntries.Count < MaxPooledEntries)
        {
            _freeEntries.Push(entry);
        }
    }

    private void ReleaseBuffer(Entry entry)
    {
        if (entry.Buffer is not null)
        {
            _bufferedBytes -= entry.Buffer.Length;
            ArrayPool<byte>.Shared.Return(entry.Buffer);
            entry.Buffer = null;
        }
    }

    private readonly record struct DatagramKey(byte Version, NetAddress Source, NetAddress Destination, byte Protocol, uint Identification);

    private readonly record struct FragmentRecord(int Offset, int Length, long Frame, int ContentHash = 0);

    private enum EntryState : byte
    {
        Assembling,
        /// <summary>Delivered; remembered until its timeout to recognise late duplicates.</summary>
        Completed,
        /// <summary>Given up on and reported; remembered until its timeout to drop its later fragments.</summary>
        Discarded,
    }

    private sealed class Entry
    {
        /// <summary>Received byte ranges of the fragment data, sorted and merged.</summary>
        private readonly List<(int Start, int End)> _coverage = [];

        public DatagramKey Key;
        public EntryState State;
        public byte[]? Buffer;
        public readonly List<FragmentRecord> Fragments = [];
        public int BytesReceived;
        /// <summary>Fragment-data length of the whole datagram; -1 until the last fragment arrives.</summary>
        public int TotalLength = -1;
        public int MaxEnd;
        public bool HaveFirst;
        public int HeaderLength;
        public byte Ttl;
        public byte Protocol;
        public long FirstFrame;
        public long LastFrame;
        public long FirstTicks;
        public long LastTicks;
        public long ExpiresTicks;
        public long Touch;

        public int CoveredBytes(int start, int end)
        {
            int covered = 0;
            foreach (var (s, e) in _coverage)
            {
                if (s >= end)
                {
                    break;
                }
                covered += Math.Max(0, Math.Min(e, end) - Math.Max(s, start));
            }
            return covered;
        }

        public bool HasFragment(int offset, int length)
        {
            foreach (FragmentRecord record in Fragments)
            {
                if (record.Offset == offset && record.Length == length)
                {
                    return true;
                }
            }
            return false;
        }

        /// <summary>Whether <paramref name="data"/> agrees with every byte already held in its range.</summary>
        public bool Matches(int offset, ReadOnlySpan<byte> data)
        {
            int end = offset + data.Length;
            foreach (var (s, e) in _coverage)
            {
                if (s >= end)
                {
                    break;
                }
                int from = Math.Max(s, offset);
                int to = Math.Min(e, end);
                if (to > from && !data[(from - offset)..(to - offset)].SequenceEqual(Buffer.AsSpan(from, to - from)))
                {
                    return false;
                }
            }
            return true;
        }

        /// <summary>Adds [start, end) to the received ranges; returns how many bytes were new.</summary>
        public int Cover(int start, int end)
        {
            if (end <= start)
            {
                return 0;
            }
            int before = CoveredBytes(start, end);
            int i = 0;
            while (i < _coverage.Count && _coverage[i].End < start)
            {
                i++;
            }
            int mergedStart = start;
            int mergedEnd = end;
            while (i < _coverage.Count && _coverage[i].Start <= end)
            {
                mergedStart = Math.Min(mergedStart, _coverage[i].Start);
                mergedEnd = Math.Max(mergedEnd, _coverage[i].End);
                _coverage.RemoveAt(i);
            }
            _coverage.Insert(i, (mergedStart, mergedEnd));
            return end - start - before;
        }

        public void ClearCoverage() => _coverage.Clear();

        public void ClearAssembly()
        {
            _coverage.Clear();
            Fragments.Clear();
            BytesReceived = 0;
            TotalLength = -1;
            MaxEnd = 0;
            HaveFirst = false;
            HeaderLength = 0;
            Ttl = 0;
        }
    }
}
