using System.Buffers.Binary;
using System.Collections.ObjectModel;

namespace RdpWire.Capture.Files;

/// <summary>The reader (0 to N - 1) that takes a packet, when N readers share a capture (<see cref="PcapFileReader.KeepOnly"/>).</summary>
public delegate int PacketRouter(in CapturedPacket packet);

/// <summary>
/// Streaming reader for classic libpcap files (draft-ietf-opsawg-pcap). Packet bytes are
/// slices of one reusable buffer: <see cref="CapturedPacket.Data"/> is valid until the
/// next <see cref="TryReadNext"/>.
/// </summary>
public sealed class PcapFileReader : IPacketSource
{
    /// <summary>draft-ietf-opsawg-pcap section 4: magic for microsecond timestamps.</summary>
    public const uint MicrosecondMagic = 0xA1B2C3D4;

    /// <summary>draft-ietf-opsawg-pcap section 4: magic for nanosecond timestamps.</summary>
    public const uint NanosecondMagic = 0xA1B23C4D;

    /// <summary>
    /// Largest incl_len accepted: Wireshark's and libpcap's maximum snapshot length. A
    /// larger value means a corrupt record header, not a real packet.
    /// </summary>
    public const int MaxPacketLength = 262144;

    internal static ReadOnlySpan<uint> Magics => [MicrosecondMagic, NanosecondMagic];

    /// <summary>draft-ietf-opsawg-pcap section 4: the File Header.</summary>
    private const int FileHeaderLength = 24;

    /// <summary>draft-ietf-opsawg-pcap section 5: the Packet Record header.</summary>
    private const int RecordHeaderLength = 16;

    /// <summary>Major version this reader understands; older files are pre-1998 formats.</summary>
    private const ushort SupportedMajorVersion = 2;

    private readonly CaptureInputBuffer _input;
    private readonly bool _bigEndian;
    private readonly bool _nanosecond;
    private readonly LinkType _linkType;
    private long _packetsRead;
    private long _truncatedPackets;
    private bool _disposed;
    /// <summary>Set by <see cref="KeepOnly"/>: the router, and the reader whose packets are returned.</summary>
    private PacketRouter? _router;
    private int _reader;

    /// <summary>Reads the file header from <paramref name="stream"/>; disposes the stream unless <paramref name="leaveOpen"/>.</summary>
    public PcapFileReader(Stream stream, string name, bool leaveOpen = false)
        : this(new CaptureInputBuffer(stream ?? throw new ArgumentNullException(nameof(stream)), !leaveOpen), name, disposeInputOnError: true)
    {
    }

    internal PcapFileReader(CaptureInputBuffer input, string name)
        : this(input, name, disposeInputOnError: false)
    {
    }

    private PcapFileReader(CaptureInputBuffer input, string name, bool disposeInputOnError)
    {
        _input = input;
        Name = name ?? throw new ArgumentNullException(nameof(name));
        try
        {
            (_bigEndian, _nanosecond, VersionMajor, VersionMinor, SnapLength, _linkType, FcsLength) = ReadFileHeader();
        }
        catch when (disposeInputOnError)
        {
            input.Dispose();
            throw;
        }

        LinkTypes = new ReadOnlyCollection<LinkType>([_linkType]);
    }

    public string Name { get; }

    public CaptureFormat Format => CaptureFormat.Pcap;

    public IReadOnlyList<LinkType> LinkTypes { get; }

    public long TruncatedPackets => _truncatedPackets;

    public ushort VersionMajor { get; }

    public ushort VersionMinor { get; }

    public uint SnapLength { get; }

    /// <summary>True when timestamps carry nanoseconds (magic 0xA1B23C4D).</summary>
    public bool NanosecondTimestamps => _nanosecond;

    /// <summary>
    /// Bytes of frame check sequence at the end of every packet when the header's FCS bits
    /// say so (draft-ietf-opsawg-pcap section 4, "P" and "FCS len"); null when not stated.
    /// The bytes stay in <see cref="CapturedPacket.Data"/>, as Wireshark keeps them in the frame.
    /// </summary>
    public int? FcsLength { get; }

    /// <summary>
    /// From now on <see cref="TryReadNext"/> returns only the packets <paramref name="router"/> gives to
    /// <paramref name="reader"/> (<c>analyze --threads N</c>: each thread reads the whole file and keeps its
    /// shard). The router sees every packet as it would be returned (and may note the time stamps of the
    /// others); the others are passed over, frames still counted, and only the packets returned count towards
    /// <see cref="TruncatedPackets"/>, so the readers' counts add up to the file's.
    /// </summary>
    public void KeepOnly(PacketRouter router, int reader)
    {
        ArgumentNullException.ThrowIfNull(router);
        (_router, _reader) = (router, reader);
    }

    public bool TryReadNext(out CapturedPacket packet)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        packet = default;
        while (true)
        {
            long frame = _packetsRead + 1;
            if (!_input.EnsureAvailable(RecordHeaderLength))
            {
                if (_input.Available == 0)
                {
                    return false;
                }

                throw CutShort(frame);
            }

            ReadOnlySpan<byte> header = _input.Span(0, RecordHeaderLength);
            int captured = CapturedLength(header);
            if (captured < 0)
            {
                throw new CaptureFormatException(
                    $"packet {frame} claims {ReadUInt32(header[8..])} bytes, more than the {MaxPacketLength} limit",
                    _packetsRead, _input.Offset);
            }

            if (!_input.EnsureAvailable(RecordHeaderLength + captured))
            {
                throw CutShort(frame);
            }

            // The packet's bytes stay where they are until the next EnsureAvailable.
            var read = Packet(_input.Span(0, RecordHeaderLength), frame, _input.Memory(RecordHeaderLength, captured));
            _input.Advance(RecordHeaderLength + captured);
            _packetsRead = frame;
            if (_router is null || _router(read) == _reader)
            {
                packet = read;
                if (packet.IsTruncated)
                {
                    _truncatedPackets++;
                }
                return true;
            }
        }
    }

    /// <summary>incl_len of a Packet Record header (draft-ietf-opsawg-pcap section 5); -1 past <see cref="MaxPacketLength"/>.</summary>
    private int CapturedLength(ReadOnlySpan<byte> header)
    {
        uint includedLength = ReadUInt32(header[8..]);
        return includedLength > MaxPacketLength ? -1 : (int)includedLength;
    }

    /// <summary>The packet of a record: its header (time stamp, orig_len) and captured bytes.</summary>
    private CapturedPacket Packet(ReadOnlySpan<byte> header, long frame, ReadOnlyMemory<byte> data)
    {
        uint seconds = ReadUInt32(header);
        uint fraction = ReadUInt32(header[4..]);
        int wireLength = WireLength(ReadUInt32(header[12..]), (uint)data.Length);
        long fractionTicks = _nanosecond ? fraction / NanosecondsPerTick : fraction * TicksPerMicrosecond;
        long ticks = UnixEpochTicks + seconds * TimeSpan.TicksPerSecond + fractionTicks;
        return new CapturedPacket(frame, ticks, _linkType, 0, wireLength, data,
            _nanosecond ? (byte)(fraction % NanosecondsPerTick) : (byte)0);
    }

    /// <summary>
    /// A record with incl_len > orig_len is malformed but Wireshark shows it: the bytes present are
    /// the truth, so the wire length is at least that.
    /// </summary>
    private static int WireLength(uint originalLength, uint includedLength) =>
        (int)Math.Min(Math.Max(originalLength, includedLength), int.MaxValue);

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _input.Dispose();
    }

    private const long NanosecondsPerTick = 100;
    private const long TicksPerMicrosecond = 10;
    private static readonly long UnixEpochTicks = DateTime.UnixEpoch.Ticks;

    /// <summary>draft-ietf-opsawg-pcap section 4, LinkType and additional information.</summary>
    private const uint LinkTypeMask = 0x0000_FFFF;
    private const uint FcsPresentBit = 0x0400_0000;
    private const int FcsLengthShift = 28;
    private const int FcsLengthUnit = 2; // FCS len counts 16-bit words

    private (bool BigEndian, bool Nanosecond, ushort Major, ushort Minor, uint SnapLength, LinkType LinkType, int? Fcs) ReadFileHeader()
    {
        _input.EnsureAvailable(FileHeaderLength);
        int available = Math.Min(_input.Available, FileHeaderLength);
        if (available >= 4)
        {
            uint magic = BinaryPrimitives.ReadUInt32LittleEndian(_input.Span(0, 4));
            bool known = magic is MicrosecondMagic or NanosecondMagic
                || BinaryPrimitives.ReverseEndianness(magic) is MicrosecondMagic or NanosecondMagic;
            if (!known)
            {
                throw new CaptureFormatException(
                    $"{Name} is not a pcap capture (starts with 0x{Convert.ToHexString(_input.Span(0, 4))})", 0, 0);
            }
        }

        if (available < FileHeaderLength)
        {
            throw new CaptureFormatException(
                $"{Name}: the pcap file header is truncated ({available} of {FileHeaderLength} bytes)", 0, 0);
        }

        ReadOnlySpan<byte> header = _input.Span(0, FileHeaderLength);
        uint littleEndianMagic = BinaryPrimitives.ReadUInt32LittleEndian(header);
        bool bigEndian = littleEndianMagic is not (MicrosecondMagic or NanosecondMagic);
        uint magicValue = bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(header) : littleEndianMagic;
        ushort major = Read16(header[4..], bigEndian);
        ushort minor = Read16(header[6..], bigEndian);
        uint snapLength = Read32(header[16..], bigEndian);
        uint linkField = Read32(header[20..], bigEndian);
        if (major < SupportedMajorVersion)
        {
            throw new CaptureFormatException(
                $"{Name}: pcap version {major}.{minor} is not supported", 0, 4);
        }

        int? fcs = (linkField & FcsPresentBit) != 0
            ? (int)(linkField >> FcsLengthShift) * FcsLengthUnit
            : null;
        _input.Advance(FileHeaderLength);
        return (bigEndian, magicValue == NanosecondMagic, major, minor, snapLength,
            (LinkType)(linkField & LinkTypeMask), fcs);
    }

    private CaptureFormatException CutShort(long frame) => new(
        $"capture is truncated: packet {frame} (at byte offset {_input.Offset}) is cut short",
        _packetsRead, _input.Offset);

    private uint ReadUInt32(ReadOnlySpan<byte> bytes) => Read32(bytes, _bigEndian);

    private static uint Read32(ReadOnlySpan<byte> bytes, bool bigEndian) => bigEndian
        ? BinaryPrimitives.ReadUInt32BigEndian(bytes)
        : BinaryPrimitives.ReadUInt32LittleEndian(bytes);

    private static ushort Read16(ReadOnlySpan<byte> bytes, bool bigEndian) => bigEndian
        ? BinaryPrimitives.ReadUInt16BigEndian(bytes)
        : BinaryPrimitives.ReadUInt16LittleEndian(bytes);
}
