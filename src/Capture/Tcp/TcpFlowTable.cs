using RdpWire.Capture.Decoding;

namespace RdpWire.Capture.Tcp;

/// <summary>Caps that keep the flow table bounded whatever the capture holds.</summary>
public sealed record FlowTableLimits
{
    /// <summary>Connections tracked at once; beyond it the least recently active is evicted.</summary>
    public int MaxConnections { get; init; } = 20_000;
    /// <summary>Out-of-order bytes held per direction.</summary>
    public int MaxHeldBytesPerDirection { get; init; } = 1 << 20;
    /// <summary>Out-of-order bytes held across all connections.</summary>
    public long MaxHeldBytesTotal { get; init; } = 64L << 20;
    /// <summary>A connection silent this long is finished (closeKind "timeout").</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromMinutes(10);
    /// <summary>
    /// A closed connection (RST, or FIN both ways) silent this long is finished, so a live
    /// capture reports it at once and a long file does not keep it; its late stragglers are
    /// counted, not taken for a new connection.
    /// </summary>
    public TimeSpan ClosedLinger { get; init; } = TimeSpan.FromSeconds(2);
    /// <summary>How long the 4-tuple of a finished closed connection is remembered (for its stragglers).</summary>
    public TimeSpan ClosedMemory { get; init; } = TimeSpan.FromMinutes(2);

    public static FlowTableLimits Default { get; } = new();
}

public enum ConnectionEndReason : byte
{
    /// <summary>A new SYN reused the 4-tuple of a finished connection.</summary>
    Reused,
    /// <summary>No packet for longer than the idle timeout.</summary>
    IdleTimeout,
    /// <summary>The table was full and this was the least recently active connection.</summary>
    Evicted,
    /// <summary>The capture ended.</summary>
    CaptureEnd,
    /// <summary>Closed (RST, or FIN both ways) and silent for the linger time.</summary>
    Closed,
}

/// <summary>
/// Tracks TCP connections by 4-tuple, tells a port-reused SYN from a retransmitted one,
/// expires idle connections and evicts beyond the cap. The caller attaches its own state
/// (<typeparamref name="TState"/>) to each connection and hears when one ends.
/// </summary>
public sealed class TcpFlowTable<TState> where TState : class
{
    private const ushort RdpPort = 3389;
    private readonly FlowIndex _flows = new();
    // Recency without a list to reorder on every packet: each packet stamps its connection with the
    // next number of this counter, so ordering by stamp is least-recently-active order. (A linked
    // list moved on every packet cost ten reference writes per packet.)
    private long _touches;
    // The least recently active connections when the table was last full, oldest first: evictions
    // take the first still untouched one (see EvictOldest).
    private (long Touched, Entry Entry)[] _evictionCandidates = [];
    private int _evictionCandidatesCount;
    private int _nextEvictionCandidate;
    private const int EvictionBatch = 1024;
    private readonly Func<TcpConnection, TState> _createState;
    private readonly Action<TcpConnection, TState, ConnectionEndReason> _onEnd;
    private readonly FlowTableLimits _limits;
    private readonly ReassemblyBudget _budget;
    private long _nextId = 1;
    private long _lastSweepTicks;
    private long _lastClosingSweepTicks;
    private readonly Queue<Entry> _closing = new();
    // Keyed by a 64-bit fingerprint of the flow, not the 112-byte key: a busy capture closes
    // tens of thousands of connections within ClosedMemory, and this is all that remains of them.
    private readonly Dictionary<ulong, long> _recentlyClosed = [];
    private readonly Queue<(ulong Key, long Ticks)> _recentlyClosedOrder = new();
    /// <summary>Finished closed connections remembered at once (their stragglers are dropped).</summary>
    public const int MaxRecentlyClosed = 100_000;

    /// <param name="nextId">Where connection ids come from, when other flow tables share the numbering.</param>
    public TcpFlowTable(FlowTableLimits limits, Func<TcpConnection, TState> createState,
        Action<TcpConnection, TState, ConnectionEndReason> onEnd, Func<long>? nextId = null)
    {
        _limits = limits;
        _createState = createState;
        _onEnd = onEnd;
        _nextIdSource = nextId ?? (() => _nextId++);
        _budget = new ReassemblyBudget(limits.MaxHeldBytesTotal);
    }

    private readonly Func<long> _nextIdSource;

    public int Count => _flows.Count;
    public long ConnectionsCreated { get; private set; }
    public long Evictions { get; private set; }
    /// <summary>Non-SYN segments of a connection already finished as closed: counted, not analyzed.</summary>
    public long LateSegments { get; private set; }
    public ReassemblyBudget Budget => _budget;

    /// <summary>
    /// Finds or creates the connection a TCP segment belongs to; null for a straggler of a
    /// connection already finished as closed (counted in <see cref="LateSegments"/>).
    /// </summary>
    public (TcpConnection Connection, TState State)? Lookup(in DecodedPacket p)
    {
        var key = FlowKey.Of(p.Source, p.SourcePort, p.Destination, p.DestinationPort, 6);
        int hash = key.GetHashCode();
        long now = p.Packet.TimestampTicks;
        Advance(now);

        bool pureSyn = (p.TcpFlags & (TcpFlags.Syn | TcpFlags.Ack)) == TcpFlags.Syn;
        var entry = _flows.Find(key, hash);
        if (entry is null)
        {
            if (!pureSyn && _recentlyClosed.Count > 0 && _recentlyClosed.ContainsKey(key.Fingerprint()))
            {
                LateSegments++;
                return null;
            }
        }
        else
        {
            var c = entry;
            bool reused = pureSyn && (c.IsClosed || (c.ClientIsn is uint isn && isn != p.Sequence)
                || (!c.OpenedBySyn));
            if (!reused)
            {
                entry.LastTicks = now;
                entry.Touched = ++_touches;
                return (c, entry.State);
            }
            End(entry, ConnectionEndReason.Reused);
        }
        return Create(p, key, hash, pureSyn, now);
    }

    /// <summary>A new connection for a segment no known flow takes. Not inlined: the per-packet path stays small.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private (TcpConnection Connection, TState State) Create(in DecodedPacket p, in FlowKey key, int hash, bool pureSyn, long now)
    {
        var src = new Endpoint(p.Source, p.SourcePort);
        var dst = new Endpoint(p.Destination, p.DestinationPort);
        if (_flows.Count >= _limits.MaxConnections)
        {
            EvictOldest();
        }
        var (client, server) = ChooseRoles(p, src, dst);
        var created = new Entry(key, hash, _nextIdSource(), client, server, pureSyn, _budget, _limits.MaxHeldBytesPerDirection);
        ConnectionsCreated++;
        created.State = _createState(created);
        created.LastTicks = now;
        created.Touched = ++_touches;
        _flows.Add(created);
        return (created, created.State);
    }

    /// <summary>The caller saw the connection close (RST, or FIN both ways): finish it once it has been silent for the linger time.</summary>
    public void MarkClosed(TcpConnection connection)
    {
        // The connection carries its key and hash: called for every packet of a closed connection, so
        // neither is worked out again. Ended or from another table: not in this one, nothing to do.
        if (connection is Entry entry && !entry.Closing && ReferenceEquals(_flows.Find(entry.Key, entry.Hash), entry))
        {
            entry.Closing = true;
            _closing.Enqueue(entry);
        }
    }

    /// <summary>
    /// Time has reached <paramref name="now"/> (a packet's time stamp, or the clock of a live
    /// capture with nothing arriving): finishes closed connections silent for the linger time
    /// and idle ones silent for the idle timeout.
    /// </summary>
    public void Advance(long now)
    {
        long linger = _limits.ClosedLinger.Ticks;
        if (_closing.Count > 0 && now - _lastClosingSweepTicks >= linger / 4)
        {
            _lastClosingSweepTicks = now;
            for (int n = _closing.Count; n > 0; n--)
            {
                var entry = _closing.Dequeue();
                if (entry.Ended)
                {
                    // Ended otherwise (reused, evicted) since it closed: no longer in the table.
                    continue;
                }
                if (now - entry.LastTicks >= linger)
                {
                    End(entry, ConnectionEndReason.Closed);
                    Remember(entry.Key, now);
                }
                else
                {
                    _closing.Enqueue(entry);
                }
            }
        }
        while (_recentlyClosedOrder.Count > 0 && now - _recentlyClosedOrder.Peek().Ticks > _limits.ClosedMemory.Ticks)
        {
            var (old, ticks) = _recentlyClosedOrder.Dequeue();
            if (_recentlyClosed.TryGetValue(old, out long at) && at == ticks)
            {
                _recentlyClosed.Remove(old);
            }
        }
        SweepIdle(now);
    }

    /// <summary>
    /// Whether <see cref="Advance"/>(<paramref name="now"/>) would do anything: a sweep of closed or
    /// idle connections falls due, or a remembered closed flow is forgotten. When false, calling it
    /// changes nothing.
    /// </summary>
    public bool AdvanceWouldAct(long now) =>
        now - _lastSweepTicks >= _limits.IdleTimeout.Ticks / 4
        || (_closing.Count > 0 && now - _lastClosingSweepTicks >= _limits.ClosedLinger.Ticks / 4)
        || (_recentlyClosedOrder.Count > 0 && now - _recentlyClosedOrder.Peek().Ticks > _limits.ClosedMemory.Ticks);

    private void Remember(FlowKey flow, long now)
    {
        if (_recentlyClosed.Count >= MaxRecentlyClosed && _recentlyClosedOrder.TryDequeue(out var oldest))
        {
            _recentlyClosed.Remove(oldest.Key);
        }
        ulong key = flow.Fingerprint();
        _recentlyClosed[key] = now;
        _recentlyClosedOrder.Enqueue((key, now));
    }

    /// <summary>Finds an existing connection by the addresses an ICMP error quotes (the offending packet's own direction).</summary>
    public (TcpConnection Connection, TState State)? Find(Endpoint source, Endpoint destination)
    {
        var key = FlowKey.Of(source, destination, 6);
        return _flows.Find(key, key.GetHashCode()) is { } e ? (e, e.State) : null;
    }

    /// <summary>Ends every connection still open (capture end), in the order they began.</summary>
    public void Flush()
    {
        var open = _flows.ToList();
        open.Sort(static (a, b) => a.Id.CompareTo(b.Id));
        foreach (var entry in open)
        {
            End(entry, ConnectionEndReason.CaptureEnd);
        }
    }

    private static (Endpoint Client, Endpoint Server) ChooseRoles(in DecodedPacket p, Endpoint src, Endpoint dst)
    {
        var flags = p.TcpFlags;
        if ((flags & TcpFlags.Syn) != 0)
        {
            // SYN: sender is the client. SYN-ACK: sender is the server.
            return (flags & TcpFlags.Ack) == 0 ? (src, dst) : (dst, src);
        }
        if (dst.Port == RdpPort && src.Port != RdpPort)
        {
            return (src, dst);
        }
        if (src.Port == RdpPort && dst.Port != RdpPort)
        {
            return (dst, src);
        }
        // Mid-connection with no well-known port: the lower port is most likely the listener.
        return src.Port > dst.Port ? (src, dst) : (dst, src);
    }

    private void SweepIdle(long now)
    {
        long timeout = _limits.IdleTimeout.Ticks;
        if (now - _lastSweepTicks < timeout / 4)
        {
            return;
        }
        _lastSweepTicks = now;
        // In least-recently-active order, the idle connections before the first one that is not idle
        // (capture time stamps can go backwards, so an idle one may follow a busy one: it waits).
        long firstBusy = long.MaxValue;
        foreach (var entry in _flows)
        {
            if (now - entry.LastTicks <= timeout)
            {
                firstBusy = Math.Min(firstBusy, entry.Touched);
            }
        }
        List<Entry>? idle = null;
        foreach (var entry in _flows)
        {
            if (entry.Touched < firstBusy)
            {
                (idle ??= []).Add(entry);
            }
        }
        if (idle is null)
        {
            return;
        }
        idle.Sort((a, b) => a.Touched.CompareTo(b.Touched));
        foreach (var entry in idle)
        {
            End(entry, ConnectionEndReason.IdleTimeout);
        }
    }

    /// <summary>
    /// Ends the least recently active connection. The candidates are the <see cref="EvictionBatch"/>
    /// least recently active when they were chosen: every connection outside them was active later
    /// than all of them, and any touched since is newer still, so the first candidate not touched
    /// since (and not ended) is the least recently active of all. A full table (a SYN flood) thus
    /// costs a scan per thousand evictions, not per eviction.
    /// </summary>
    private void EvictOldest()
    {
        for (int round = 0; round < 2; round++)
        {
            while (_nextEvictionCandidate < _evictionCandidatesCount)
            {
                var (touched, entry) = _evictionCandidates[_nextEvictionCandidate];
                _evictionCandidates[_nextEvictionCandidate++] = default;
                if (!entry.Ended && entry.Touched == touched)
                {
                    Evictions++;
                    End(entry, ConnectionEndReason.Evicted);
                    return;
                }
            }
            ChooseEvictionCandidates();
        }
    }

    private void ChooseEvictionCandidates()
    {
        if (_evictionCandidates.Length < _flows.Count)
        {
            _evictionCandidates = new (long, Entry)[Math.Max(_flows.Count, EvictionBatch)];
        }
        int n = 0;
        foreach (var entry in _flows)
        {
            _evictionCandidates[n++] = (entry.Touched, entry);
        }
        var all = _evictionCandidates.AsSpan(0, n);
        all.Sort(static (a, b) => a.Touched.CompareTo(b.Touched));
        _evictionCandidatesCount = Math.Min(n, EvictionBatch);
        all[_evictionCandidatesCount..].Clear();
        _nextEvictionCandidate = 0;
    }

    private void End(Entry entry, ConnectionEndReason reason)
    {
        _flows.Remove(entry);
        entry.Ended = true;
        _onEnd(entry, entry.State, reason);
        entry.Release();
    }

    /// <summary>
    /// A tracked connection with the table's bookkeeping: the connection itself, so that a packet's
    /// lookup finds the connection's fields in the object it has just found (see <see cref="TcpConnection"/>).
    /// </summary>
    private sealed class Entry(FlowKey key, int hash, long id, Endpoint client, Endpoint server, bool openedBySyn,
        ReassemblyBudget budget, int maxHeldBytesPerDirection)
        : TcpConnection(id, client, server, openedBySyn, budget, maxHeldBytesPerDirection)
    {
        public readonly FlowKey Key = key;
        /// <summary>The key's hash code (<see cref="FlowKey.GetHashCode"/>), kept for the index.</summary>
        public readonly int Hash = hash;
        /// <summary>The flow table's activity counter at this connection's last packet.</summary>
        public long Touched;
        public bool Ended;
        /// <summary>The caller's state, set once right after the connection is made (it is made from the connection).</summary>
        public TState State = null!;
        public long LastTicks;
        public bool Closing;
    }

    /// <summary>
    /// The tracked connections by flow key: open addressing in one array of (hash, connection) slots,
    /// probed linearly from a slot chosen by the key's hash, at most half full, and emptied by shifting
    /// the slots after a removed one back (no tombstones, so probes stay short however many
    /// connections come and go).
    /// </summary>
    /// <remarks>
    /// A packet's lookup reads one slot and then the connection it finds, whose fields the packet
    /// needs next anyway. <see cref="Dictionary{TKey, TValue}"/> read its bucket array, then its entry
    /// array, a cache miss of its own for each packet among a few hundred busy connections (the entry's
    /// hash code load was 30 % of <c>FindValue</c>'s samples on the 5 GB bench capture), and copied the
    /// 40-byte key into every call. The key's hash is keyed per process (<see cref="FlowKey.GetHashCode"/>),
    /// so a capture cannot be crafted to pile its flows onto one probe run.
    /// </remarks>
    private sealed class FlowIndex
    {
        internal struct Slot
        {
            public Entry? Entry;
            public int Hash;
        }

        private const int InitialCapacity = 64;
        private Slot[] _slots = new Slot[InitialCapacity];
        private int _mask = InitialCapacity - 1;
        // Slot of a hash: the top bits of its product with 2^32 / golden ratio (Fibonacci hashing), so
        // every bit of the hash counts, whatever the table's size.
        private int _shift = 32 - System.Numerics.BitOperations.Log2(InitialCapacity);

        public int Count { get; private set; }

        private int Home(int hash) => (int)((uint)hash * 0x9E3779B9u >> _shift);

        /// <summary>The connection tracked under <paramref name="key"/> (whose hash code is <paramref name="hash"/>), or null.</summary>
        public Entry? Find(in FlowKey key, int hash)
        {
            var slots = _slots;
            for (int i = Home(hash); ; i = (i + 1) & _mask)
            {
                ref var slot = ref slots[i];
                if (slot.Entry is not { } entry)
                {
                    return null;
                }
                if (slot.Hash == hash && entry.Key.Equals(key))
                {
                    return entry;
                }
            }
        }

        /// <summary>Adds a connection whose key is not tracked.</summary>
        public void Add(Entry entry)
        {
            if (2 * (Count + 1) > _slots.Length)
            {
                Resize(2 * _slots.Length);
            }
            Place(entry);
            Count++;
        }

        private void Place(Entry entry)
        {
            int i = Home(entry.Hash);
            while (_slots[i].Entry is not null)
            {
                i = (i + 1) & _mask;
            }
            _slots[i] = new Slot { Entry = entry, Hash = entry.Hash };
        }

        /// <summary>Removes a tracked connection; nothing when it is not tracked.</summary>
        public void Remove(Entry entry)
        {
            int i = Home(entry.Hash);
            while (!ReferenceEquals(_slots[i].Entry, entry))
            {
                if (_slots[i].Entry is null)
                {
                    return;
                }
                i = (i + 1) & _mask;
            }
            // Backward shift: each later slot of the run moves into the hole unless its home lies
            // cyclically after the hole and at or before the slot itself (then it is where a probe finds it).
            for (int j = (i + 1) & _mask; _slots[j].Entry is not null; j = (j + 1) & _mask)
            {
                int home = Home(_slots[j].Hash);
                bool stays = i <= j ? i < home && home <= j : i < home || home <= j;
                if (!stays)
                {
                    _slots[i] = _slots[j];
                    i = j;
                }
            }
            _slots[i] = default;
            Count--;
        }

        /// <summary>The tracked connections, in no particular order (a copy: the caller may end them).</summary>
        public List<Entry> ToList()
        {
            var all = new List<Entry>(Count);
            foreach (var entry in this)
            {
                all.Add(entry);
            }
            return all;
        }

        /// <summary>The tracked connections, in no particular order, without a copy: nothing may be added or removed meanwhile.</summary>
        public Enumerator GetEnumerator() => new(_slots);

        public struct Enumerator(Slot[] slots)
        {
            private int _index = -1;

            public readonly Entry Current => slots[_index].Entry!;

            public bool MoveNext()
            {
                while (++_index < slots.Length)
                {
                    if (slots[_index].Entry is not null)
                    {
                        return true;
                    }
                }
                return false;
            }
        }

        private void Resize(int capacity)
        {
            var old = _slots;
            _slots = new Slot[capacity];
            _mask = capacity - 1;
            _shift = 32 - System.Numerics.BitOperations.Log2((uint)capacity);
            foreach (var slot in old)
            {
                if (slot.Entry is { } entry)
                {
                    Place(entry);
                }
            }
        }
    }
}
