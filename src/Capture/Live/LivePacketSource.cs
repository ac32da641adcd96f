using System.Buffers;
using System.Net;

namespace RdpWire.Capture.Live;

/// <summary>How to open an interface for live capture.</summary>
public sealed record LiveCaptureOptions
{
    public required string Interface { get; init; }
    /// <summary>BPF filter expression (pcap-filter(7)); null captures everything.</summary>
    public string? Filter { get; init; }
    /// <summary>Bytes kept per packet (tcpdump's default, 262144, keeps whole packets).</summary>
    public int Snaplen { get; init; } = 262_144;
    public bool Promiscuous { get; init; } = true;
    /// <summary>Kernel buffer; a larger one drops less under bursts.</summary>
    public int BufferBytes { get; init; } = 8 << 20;
    /// <summary>How long a read waits before reporting that nothing arrived (so the caller can act on time passing).</summary>
    public int ReadTimeoutMilliseconds { get; init; } = 200;
}

/// <summary>What one read from a live interface produced.</summary>
public enum LiveReadResult
{
    Packet,
    /// <summary>Nothing arrived within the read timeout.</summary>
    Idle,
    /// <summary><see cref="LivePacketSource.Stop"/> was called.</summary>
    Stopped,
}

/// <summary>Why an interface could not be opened or read; the message is one line for the user.</summary>
public enum LiveCaptureProblem
{
    LibraryMissing,
    NoSuchDevice,
    PermissionDenied,
    BadFilter,
    Other,
}

public sealed class LiveCaptureException(LiveCaptureProblem problem, string message) : Exception(message)
{
    public LiveCaptureProblem Problem { get; } = problem;
}

/// <summary>Drop counters from pcap_stats (since the capture opened).</summary>
public readonly record struct LiveCaptureStats(long Received, long DroppedByKernel, long DroppedByInterface);

/// <summary>One capture device as libpcap lists it.</summary>
public sealed record CaptureInterface(string Name, string? Description, bool Up, bool Running, bool Loopback, IReadOnlyList<string> Addresses);

/// <summary>
/// A live interface through libpcap, as an <see cref="IPacketSource"/>: the same pipeline as a
/// file. Packets are handed over in libpcap's own buffer (valid until the next read, as the
/// interface promises), so nothing is copied per packet. Time stamps are asked for in
/// nanoseconds. <see cref="Stop"/> may be called from another thread (Ctrl-C).
/// </summary>
public sealed unsafe class LivePacketSource : IPacketSource
{
    private const long UnixEpochTicks = 621_355_968_000_000_000;
    private readonly IntPtr _pcap;
    private readonly PointerMemory _memory = new();
    private readonly bool _nanoseconds;
    private readonly int _fd;
    private volatile bool _stopRequested;
    private long _frame;
    private bool _closed;

    public LivePacketSource(LiveCaptureOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Options = options;
        Name = options.Interface;
        byte* errbuf = stackalloc byte[LibPcap.ErrbufSize];
        try
        {
            _pcap = LibPcap.Create(options.Interface, errbuf);
        }
        catch (DllNotFoundException)
        {
            throw new LiveCaptureException(LiveCaptureProblem.LibraryMissing,
                "live capture needs libpcap, which is not installed (Debian/Ubuntu: apt-get install libpcap0.8; Fedora: dnf install libpcap)");
        }
        if (_pcap == IntPtr.Zero)
        {
            throw new LiveCaptureException(LiveCaptureProblem.Other, $"cannot open {options.Interface}: {LibPcap.Text(errbuf)}");
        }
        try
        {
            LibPcap.SetSnaplen(_pcap, options.Snaplen);
            LibPcap.SetPromisc(_pcap, options.Promiscuous ? 1 : 0);
            LibPcap.SetImmediateMode(_pcap, 1);
            LibPcap.SetBufferSize(_pcap, options.BufferBytes);
            LibPcap.SetTimeout(_pcap, options.ReadTimeoutMilliseconds);
            LibPcap.SetTimestampPrecision(_pcap, LibPcap.PcapTstampPrecisionNano);
            int status = LibPcap.Activate(_pcap);
            if (status < 0)
            {
                throw ActivationError(status);
            }
            if (status > 0)
            {
                Warning = $"{options.Interface}: {LibPcap.Text(LibPcap.StatusToStr(status))}: {LibPcap.Text(LibPcap.GetErr(_pcap))}";
            }
            _nanoseconds = LibPcap.GetTimestampPrecision(_pcap) == LibPcap.PcapTstampPrecisionNano;
            // Non-blocking reads plus our own poll(2): with TPACKET_V3 libpcap's read timeout only
            // fires once a packet arrived, so an idle interface would block a read forever.
            byte* nbErr = stackalloc byte[LibPcap.ErrbufSize];
            _fd = LibPcap.GetSelectableFd(_pcap);
            if (_fd < 0 || LibPcap.SetNonBlock(_pcap, 1, nbErr) != 0)
            {
                throw new LiveCaptureException(LiveCaptureProblem.Other, $"cannot read {options.Interface} without blocking: {LibPcap.Text(nbErr)}");
            }
            LinkType = (LinkType)LibPcap.DataLink(_pcap);
            Snaplen = LibPcap.Snapshot(_pcap);
            if (options.Filter is { Length: > 0 } filter)
            {
                SetFilter(filter);
            }
        }
        catch
        {
            LibPcap.Close(_pcap);
            throw;
        }
    }

    public LiveCaptureOptions Options { get; }

    public string Name { get; }

    public CaptureFormat Format => CaptureFormat.Live;

    public LinkType LinkType { get; }

    public int Snaplen { get; }

    public IReadOnlyList<LinkType> LinkTypes => [LinkType];

    public long TruncatedPackets { get; private set; }

    /// <summary>A non-fatal note from pcap_activate (e.g. promiscuous mode unsupported).</summary>
    public string? Warning { get; }

    /// <summary>Packets handed out so far.</summary>
    public long Packets => _frame;

    private LiveCaptureException ActivationError(int status)
    {
        string detail = LibPcap.Text(LibPcap.GetErr(_pcap));
        return status switch
        {
            LibPcap.PcapErrorNoSuchDevice => new LiveCaptureException(LiveCaptureProblem.NoSuchDevice,
                $"no interface named '{Options.Interface}' (see 'rdpwire interfaces')"),
            LibPcap.PcapErrorPermDenied or LibPcap.PcapErrorPromiscPermDenied => new LiveCaptureException(LiveCaptureProblem.PermissionDenied,
                $"capturing on {Options.Interface} needs root or the CAP_NET_RAW capability (and CAP_NET_ADMIN for promiscuous mode): run it with sudo, or grant them once with 'sudo setcap cap_net_raw,cap_net_admin+eip <the dotnet or rdpwire executable>'"
                + (detail.Length > 0 ? $" ({detail})" : "")),
            LibPcap.PcapErrorIfaceNotUp => new LiveCaptureException(LiveCaptureProblem.Other, $"interface {Options.Interface} is down"),
            _ => new LiveCaptureException(LiveCaptureProblem.Other,
                $"cannot capture on {Options.Interface}: {LibPcap.Text(LibPcap.StatusToStr(status))}" + (detail.Length > 0 ? $" ({detail})" : "")),
        };
    }

    private void SetFilter(string filter)
    {
        LibPcap.BpfProgram program;
        if (LibPcap.Compile(_pcap, &program, filter, 1, LibPcap.PcapNetmaskUnknown) != 0)
        {
            throw new LiveCaptureException(LiveCaptureProblem.BadFilter, $"bad capture filter '{filter}': {LibPcap.Text(LibPcap.GetErr(_pcap))}");
        }
        try
        {
            if (LibPcap.SetFilter(_pcap, &program) != 0)
            {
                throw new LiveCaptureException(LiveCaptureProblem.BadFilter, $"cannot set capture filter '{filter}': {LibPcap.Text(LibPcap.GetErr(_pcap))}");
            }
        }
        finally
        {
            LibPcap.FreeCode(&program);
        }
    }

    /// <summary>Waits for the next packet, the read timeout, or <see cref="Stop"/>.</summary>
    public LiveReadResult Read(out CapturedPacket packet)
    {
        packet = default;
        ObjectDisposedException.ThrowIf(_closed, this);
        if (_stopRequested)
        {
            return LiveReadResult.Stopped;
        }
        LibPcap.PacketHeader* header;
        byte* data;
        while (true)
        {
            int status = LibPcap.NextEx(_pcap, out header, out data);
            if (status == 1)
            {
                break;
            }
            if (status == LibPcap.PcapErrorBreak || _stopRequested)
            {
                return LiveReadResult.Stopped;
            }
            if (status != 0)
            {
                throw new CaptureFormatException($"reading from {Name} failed: {LibPcap.Text(LibPcap.GetErr(_pcap))}", _frame);
            }
            var poll = new LibPcap.PollFd { Fd = _fd, Events = LibPcap.PollIn };
            int ready = LibPcap.Poll(&poll, 1, Options.ReadTimeoutMilliseconds);
            if (ready == 0)
            {
                return _stopRequested ? LiveReadResult.Stopped : LiveReadResult.Idle;
            }
        }
        long subTicks = _nanoseconds ? header->SubSeconds / 100 : header->SubSeconds * 10;
        long ticks = UnixEpochTicks + header->Seconds * TimeSpan.TicksPerSecond + subTicks;
        int captured = (int)header->CapturedLength;
        if (header->Length > header->CapturedLength)
        {
            TruncatedPackets++;
        }
        _memory.Point(data, captured);
        _frame++;
        packet = new CapturedPacket(_frame, ticks, LinkType, 0, (int)header->Length, _memory.Memory,
            _nanoseconds ? (byte)(header->SubSeconds % 100) : (byte)0);
        return LiveReadResult.Packet;
    }

    /// <summary>IPacketSource: blocks until a packet arrives; false once stopped.</summary>
    public bool TryReadNext(out CapturedPacket packet)
    {
        while (true)
        {
            switch (Read(out packet))
            {
                case LiveReadResult.Packet:
                    return true;
                case LiveReadResult.Stopped:
                    return false;
            }
        }
    }

    /// <summary>Ends the capture: the current or next read returns <see cref="LiveReadResult.Stopped"/>. Thread-safe.</summary>
    public void Stop()
    {
        _stopRequested = true;
        if (!_closed)
        {
            LibPcap.BreakLoop(_pcap);
        }
    }

    public LiveCaptureStats Statistics()
    {
        LibPcap.Stats stats;
        if (_closed || LibPcap.GetStats(_pcap, &stats) != 0)
        {
            return default;
        }
        return new LiveCaptureStats(stats.Received, stats.Dropped, stats.InterfaceDropped);
    }

    public void Dispose()
    {
        if (!_closed)
        {
            _closed = true;
            LibPcap.Close(_pcap);
        }
    }

    /// <summary>pcap_findalldevs: every device libpcap can open, with its addresses.</summary>
    public static IReadOnlyList<CaptureInterface> ListInterfaces()
    {
        byte* errbuf = stackalloc byte[LibPcap.ErrbufSize];
        LibPcap.Interface* devices;
        try
        {
            if (LibPcap.FindAllDevs(out devices, errbuf) != 0)
            {
                throw new LiveCaptureException(LiveCaptureProblem.Other, $"cannot list interfaces: {LibPcap.Text(errbuf)}");
            }
        }
        catch (DllNotFoundException)
        {
            throw new LiveCaptureException(LiveCaptureProblem.LibraryMissing,
                "listing interfaces needs libpcap, which is not installed (Debian/Ubuntu: apt-get install libpcap0.8; Fedora: dnf install libpcap)");
        }
        var result = new List<CaptureInterface>();
        try
        {
            for (var d = devices; d is not null; d = d->Next)
            {
                var addresses = new List<string>();
                for (var a = d->Addresses; a is not null; a = a->Next)
                {
                    if (SocketAddress(a->Addr) is { } text)
                    {
                        addresses.Add(text);
                    }
                }
                result.Add(new CaptureInterface(LibPcap.Text(d->Name), d->Description is null ? null : LibPcap.Text(d->Description),
                    (d->Flags & LibPcap.PcapIfUp) != 0, (d->Flags & LibPcap.PcapIfRunning) != 0, (d->Flags & LibPcap.PcapIfLoopback) != 0, addresses));
            }
        }
        finally
        {
            LibPcap.FreeAllDevs(devices);
        }
        return result;
    }

    /// <summary>Linux struct sockaddr_in / sockaddr_in6 (sa_family first, 16 bits).</summary>
    private static string? SocketAddress(byte* sockaddr)
    {
        if (sockaddr is null)
        {
            return null;
        }
        ushort family = *(ushort*)sockaddr;
        return family switch
        {
            2 => new IPAddress(new ReadOnlySpan<byte>(sockaddr + 4, 4)).ToString(),
            10 => new IPAddress(new ReadOnlySpan<byte>(sockaddr + 8, 16)).ToString(),
            _ => null,
        };
    }

    /// <summary>A Memory view of libpcap's packet buffer, re-pointed for every packet.</summary>
    private sealed class PointerMemory : MemoryManager<byte>
    {
        private byte* _pointer;
        private int _length;

        public void Point(byte* pointer, int length)
        {
            _pointer = pointer;
            _length = length;
        }

        public override Span<byte> GetSpan() => new(_pointer, _length);

        public override MemoryHandle Pin(int elementIndex = 0) => new(_pointer + elementIndex);

        public override void Unpin()
        {
        }

        protected override void Dispose(bool disposing)
        {
        }
    }
}
