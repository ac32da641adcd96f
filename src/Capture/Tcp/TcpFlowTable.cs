using RdpWire.Capture.Decoding;

namespace RdpWire.Capture.Tcp;

/// <summary>Caps that keep the flow table bounded whatever the capture holds.</summary>
public sealed record FlowTableLimits
{
    /// <summary>Connections tracked at once; beyond it the least recently active is evicted.</summary>
    public int MaxConnections { get; init; } = 100_000;
    /// <summary>Out-of-order bytes held per direction.</summary>
    public int MaxHeldBytesPerDirection { get; init; } = 1 << 20;
    /// <summary>Out-of-order bytes held across all connections.</summary>
    public long MaxHeldBytesTotal { get; init; } = 64L << 20;
    /// <summary>A connection silent this long is finished (closeKind "timeout").</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromMinutes(10);

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
}

/// <summary>
/// Tracks TCP connections by 4-tuple, tells a port-reused SYN from a retransmitted one,
/// expires idle connections and evicts beyond the cap. The caller attaches its own state
/// (<typeparamref name="TState"/>) to each connection and hears when one ends.
/// </summary>
public sealed class TcpFlowTable<TState> where TState : class
{
    private const ushort RdpPort = 3389;
    private readonly Dictionary<FlowKey, Entry> _flows = [];
    private readonly Func<TcpConnection, TState> _createState;
    private readonly Action<TcpConnection, TState, ConnectionEndReason> _onEnd;
    private readonly FlowTableLimits _limits;
    private readonly ReassemblyBudget _budget;
    private long _nextId = 1;
    private long _lastSweepTicks;

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
    public ReassemblyBudget Budget => _budget;

    /// <summary>Finds or creates the connection a TCP segment belongs to.</summary>
    public (TcpConnection Connection, TState State) Lookup(in DecodedPacket p)
    {
        var src = new Endpoint(p.Source, p.SourcePort);
        var dst = new Endpoint(p.Destination, p.DestinationPort);
        var key = FlowKey.Of(src, dst, 6);
        long now = p.Packet.TimestampTicks;
        SweepIdle(now);

        bool pureSyn = (p.TcpFlags & (TcpFlags.Syn | TcpFlags.Ack)) == TcpFlags.Syn;
        if (_flows.TryGetValue(key, out var entry))
        {
            var c = entry.Connection;
            bool reused = pureSyn && (c.IsClosed || (c.ClientIsn is uint isn && isn != p.Sequence)
                || (!c.OpenedBySyn));
            if (!reused)
            {
                entry.LastTicks = now;
                return (c, entry.State);
            }
            End(key, entry, ConnectionEndReason.Reused);
        }

        if (_flows.Count >= _limits.MaxConnections)
        {
            EvictOldest();
        }
        var (client, server) = ChooseRoles(p, src, dst);
        var conn = new TcpConnection(_nextIdSource(), client, server, pureSyn, _budget, _limits.MaxHeldBytesPerDirection);
        ConnectionsCreated++;
        var created = new Entry(conn, _createState(conn)) { LastTicks = now };
        _flows[key] = created;
        return (conn, created.State);
    }

    /// <summary>Finds an existing connection by the addresses an ICMP error quotes (the offending packet's own direction).</summary>
    public (TcpConnection Connection, TState State)? Find(Endpoint source, Endpoint destination)
    {
        return _flows.TryGetValue(FlowKey.Of(source, destination, 6), out var e) ? (e.Connection, e.State) : null;
    }

    /// <summary>Ends every connection still open (capture end).</summary>
    public void Flush()
    {
        foreach (var (key, entry) in _flows.ToArray())
        {
            End(key, entry, ConnectionEndReason.CaptureEnd);
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
        List<FlowKey>? expired = null;
        foreach (var (key, entry) in _flows)
        {
            if (now - entry.LastTicks > timeout)
            {
                (expired ??= []).Add(key);
            }
        }
        if (expired is null)
        {
            return;
        }
        foreach (var key in expired)
        {
            End(key, _flows[key], ConnectionEndReason.IdleTimeout);
        }
    }

    private void EvictOldest()
    {
        FlowKey? oldest = null;
        long oldestTicks = long.MaxValue;
        foreach (var (key, entry) in _flows)
        {
            if (entry.LastTicks < oldestTicks)
            {
                oldestTicks = entry.LastTicks;
                oldest = key;
            }
        }
        if (oldest is FlowKey k)
        {
            Evictions++;
            End(k, _flows[k], ConnectionEndReason.Evicted);
        }
    }

    private void End(FlowKey key, Entry entry, ConnectionEndReason reason)
    {
        _flows.Remove(key);
        _onEnd(entry.Connection, entry.State, reason);
        entry.Connection.Release();
    }

    private sealed class Entry(TcpConnection connection, TState state)
    {
        public TcpConnection Connection { get; } = connection;
        public TState State { get; } = state;
        public long LastTicks { get; set; }
    }
}
