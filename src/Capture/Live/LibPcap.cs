using System.Reflection;
using System.Runtime.InteropServices;

namespace RdpWire.Capture.Live;

/// <summary>
/// The part of libpcap's C API live capture needs (pcap(3PCAP), libpcap 1.x): device list,
/// pcap_create/activate with snaplen, promiscuous and immediate mode, buffer size and
/// nanosecond time stamps, BPF compile/set, pcap_next_ex, pcap_stats, pcap_breakloop.
/// Bound to Debian's libpcap.so.0.8 (libpcap0.8), or the plain sonames elsewhere.
/// </summary>
internal static unsafe partial class LibPcap
{
    private const string Library = "pcap";
    public const int ErrbufSize = 256; // PCAP_ERRBUF_SIZE

    // pcap/pcap.h status codes.
    public const int PcapWarning = 1;
    public const int PcapError = -1;
    public const int PcapErrorBreak = -2;
    public const int PcapErrorNoSuchDevice = -5;
    public const int PcapErrorPermDenied = -8;
    public const int PcapErrorIfaceNotUp = -9;
    public const int PcapErrorPromiscPermDenied = -11;
    public const int PcapTstampPrecisionNano = 1;
    public const uint PcapNetmaskUnknown = 0xffffffff;
    public const uint PcapIfLoopback = 0x1;
    public const uint PcapIfUp = 0x2;
    public const uint PcapIfRunning = 0x4;

    static LibPcap()
    {
        NativeLibrary.SetDllImportResolver(typeof(LibPcap).Assembly, Resolve);
    }

    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? path)
    {
        if (name == "libc")
        {
            return NativeLibrary.TryLoad("libc.so.6", assembly, path, out IntPtr libc) ? libc : IntPtr.Zero;
        }
        if (name != Library)
        {
            return IntPtr.Zero;
        }
        foreach (string candidate in (string[])["libpcap.so.0.8", "libpcap.so.1", "libpcap.so", "libpcap.dylib", "wpcap.dll"])
        {
            if (NativeLibrary.TryLoad(candidate, assembly, path, out IntPtr handle))
            {
                return handle;
            }
        }
        return IntPtr.Zero;
    }

    /// <summary>struct pcap_pkthdr on LP64 (struct timeval of two longs).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct PacketHeader
    {
        public nint Seconds;
        public nint SubSeconds;
        public uint CapturedLength;
        public uint Length;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct Stats
    {
        public uint Received;
        public uint Dropped;
        public uint InterfaceDropped;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct BpfProgram
    {
        public uint Length;
        public IntPtr Instructions;
    }

    /// <summary>struct pcap_if.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Interface
    {
        public Interface* Next;
        public byte* Name;
        public byte* Description;
        public Address* Addresses;
        public uint Flags;
    }

    /// <summary>struct pcap_addr.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct Address
    {
        public Address* Next;
        public byte* Addr;
        public byte* Netmask;
        public byte* BroadcastAddr;
        public byte* DestinationAddr;
    }

    [LibraryImport(Library, EntryPoint = "pcap_findalldevs")]
    public static partial int FindAllDevs(out Interface* devices, byte* errbuf);

    [LibraryImport(Library, EntryPoint = "pcap_freealldevs")]
    public static partial void FreeAllDevs(Interface* devices);

    [LibraryImport(Library, EntryPoint = "pcap_create", StringMarshalling = StringMarshalling.Utf8)]
    public static partial IntPtr Create(string source, byte* errbuf);

    [LibraryImport(Library, EntryPoint = "pcap_set_snaplen")]
    public static partial int SetSnaplen(IntPtr p, int snaplen);

    [LibraryImport(Library, EntryPoint = "pcap_set_promisc")]
    public static partial int SetPromisc(IntPtr p, int promisc);

    [LibraryImport(Library, EntryPoint = "pcap_set_immediate_mode")]
    public static partial int SetImmediateMode(IntPtr p, int immediate);

    [LibraryImport(Library, EntryPoint = "pcap_set_buffer_size")]
    public static partial int SetBufferSize(IntPtr p, int bytes);

    [LibraryImport(Library, EntryPoint = "pcap_set_timeout")]
    public static partial int SetTimeout(IntPtr p, int milliseconds);

    [LibraryImport(Library, EntryPoint = "pcap_set_tstamp_precision")]
    public static partial int SetTimestampPrecision(IntPtr p, int precision);

    [LibraryImport(Library, EntryPoint = "pcap_get_tstamp_precision")]
    public static partial int GetTimestampPrecision(IntPtr p);

    [LibraryImport(Library, EntryPoint = "pcap_activate")]
    public static partial int Activate(IntPtr p);

    [LibraryImport(Library, EntryPoint = "pcap_datalink")]
    public static partial int DataLink(IntPtr p);

    [LibraryImport(Library, EntryPoint = "pcap_snapshot")]
    public static partial int Snapshot(IntPtr p);

    [LibraryImport(Library, EntryPoint = "pcap_compile", StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Compile(IntPtr p, BpfProgram* program, string filter, int optimize, uint netmask);

    [LibraryImport(Library, EntryPoint = "pcap_setfilter")]
    public static partial int SetFilter(IntPtr p, BpfProgram* program);

    [LibraryImport(Library, EntryPoint = "pcap_freecode")]
    public static partial void FreeCode(BpfProgram* program);

    [LibraryImport(Library, EntryPoint = "pcap_next_ex")]
    public static partial int NextEx(IntPtr p, out PacketHeader* header, out byte* data);

    [LibraryImport(Library, EntryPoint = "pcap_get_selectable_fd")]
    public static partial int GetSelectableFd(IntPtr p);

    [LibraryImport(Library, EntryPoint = "pcap_setnonblock")]
    public static partial int SetNonBlock(IntPtr p, int nonblock, byte* errbuf);

    /// <summary>struct pollfd (poll(2)).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct PollFd
    {
        public int Fd;
        public short Events;
        public short ReturnedEvents;
    }

    public const short PollIn = 0x0001;

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    public static partial int Poll(PollFd* fds, nuint count, int timeoutMilliseconds);

    [LibraryImport(Library, EntryPoint = "pcap_stats")]
    public static partial int GetStats(IntPtr p, Stats* stats);

    [LibraryImport(Library, EntryPoint = "pcap_breakloop")]
    public static partial void BreakLoop(IntPtr p);

    [LibraryImport(Library, EntryPoint = "pcap_close")]
    public static partial void Close(IntPtr p);

    [LibraryImport(Library, EntryPoint = "pcap_geterr")]
    public static partial byte* GetErr(IntPtr p);

    [LibraryImport(Library, EntryPoint = "pcap_statustostr")]
    public static partial byte* StatusToStr(int status);

    [LibraryImport(Library, EntryPoint = "pcap_lib_version")]
    public static partial byte* LibVersion();

    public static string Text(byte* s) => s is null ? "" : Marshal.PtrToStringUTF8((IntPtr)s) ?? "";
}
