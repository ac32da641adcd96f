using System.Buffers.Binary;
using System.Collections.ObjectModel;
using System.Text;

namespace RdpWire.Capture.Files;

/// <summary>
/// Streaming reader for pcapng files (draft-ietf-opsawg-pcapng). Understands several
/// sections in either byte order, Interface Description Blocks with if_tsresol and
/// if_tsoffset, and the three packet blocks (Enhanced, Simple, obsolete Packet); every
/// other block is skipped by its length. Packet bytes are slices of one reusable buffer:
/// <see cref="CapturedPacket.Data"/> is valid until the next <see cref="TryReadNext"/>.
/// </summary>
public sealed class PcapNgFileReader : IPacketSource, IDecryptionSecretsSource, ISkippedBlocksSource
{
    /// <summary>draft-ietf-opsawg-pcapng section 4.1: the SHB type, a byte-order palindrome.</summary>
    public const uint SectionHeaderBlockType = 0x0A0D0D0A;

    /// <summary>
    /// Largest block this reader holds in memory (packet, interface and section header
    /// blocks). Other blocks are skipped as a stream whatever their size.
    /// </summary>
    public const int MaxBlockLength = 16 * 1024 * 1024;

    /// <summary>draft-ietf-opsawg-pcapng section 10.1, Block Type Codes.</summary>
    private enum BlockType : uint
    {
        InterfaceDescription = 0x00000001,
        Packet = 0x00000002,
        SimplePacket = 0x00000003,
        NameResolution = 0x00000004,
        InterfaceStatistics = 0x00000005,
        EnhancedPacket = 0x00000006,
        DecryptionSecrets = 0x0000000A,
        SectionHeader = SectionHeaderBlockType,
    }

    /// <summary>draft-ietf-opsawg-pcapng sections 3.5 and 4.2, option codes used here.</summary>
    private enum OptionCode : ushort
    {
        EndOfOptions = 0,
        Comment = 1, // opt_comment (UTF-8)
        InterfaceTimestampResolution = 9, // if_tsresol
        InterfaceTimestampOffset = 14, // if_tsoffset
    }

    /// <summary>draft-ietf-opsawg-pcapng section 4.1: Byte-Order Magic as written by the host.</summary>
    private const uint ByteOrderMagic = 0x1A2B3C4D;

    private const ushort SupportedMajorVersion = 1;

    /// <summary>Block Type, Block Total Length ... Block Total Length (section 3.1).</summary>
    private const int BlockHeaderLength = 8;
    private const int BlockTrailerLength = 4;
    private const int MinBlockLength = BlockHeaderLength + BlockTrailerLength;

    // Fixed parts of each block, counted from the block start, trailer included.
    private const int SectionHeaderMinLength = 28;
    private const int InterfaceDescriptionMinLength = 20;
    private const int InterfaceDescriptionOptionsStart = 16;
    private const int EnhancedPacketMinLength = 32;
    private const int EnhancedPacketDataStart = 28;
    private const int SimplePacketMinLength = 16;
    private const int SimplePacketDataStart = 12;

    private const int OptionHeaderLength = 4;

    /// <summary>Section 4.2 if_tsresol: high bit set means a negative power of 2, else of 10.</summary>
    private const byte TimestampResolutionBase2Bit = 0x80;
    private const ulong DefaultUnitsPerSecond = 1_000_000;
    private const int MaxDecimalResolutionExponent = 19; // 10^19 is the last power of 10 in a ulong
    private const int MaxBinaryResolutionExponent = 63;

    private static readonly long UnixEpochTicks = DateTime.UnixEpoch.Ticks;

    private readonly CaptureInputBuffer _input;
    private readonly List<InterfaceDescription> _interfaces = [];
    private readonly List<LinkType> _linkTypes = [];
    private bool _bigEndian;
    private int _sectionCount;
    private long _packetsRead;
    private long _truncatedPackets;
    private bool _disposed;

    /// <summary>Reads the first Section Header Block; disposes the stream unless <paramref name="leaveOpen"/>.</summary>
    public PcapNgFileReader(Stream stream, string name, bool leaveOpen = false)
        : this(new CaptureInputBuffer(stream ?? throw new ArgumentNullException(nameof(stream)), !leaveOpen), name, disposeInputOnError: true)
    {
    }

    internal PcapNgFileReader(CaptureInputBuffer input, string name)
        : this(input, name, disposeInputOnError: false)
    {
    }

    private PcapNgFileReader(CaptureInputBuffer input, string name, bool disposeInputOnError)
    {
        _input = input;
        Name = name ?? throw new ArgumentNullException(nameof(name));
        LinkTypes = _linkTypes.AsReadOnly();
        try
        {
            ReadFirstSectionHeader();
        }
        catch when (disposeInputOnError)
        {
            input.Dispose();
            throw;
        }
    }

    public string Name { get; }

    public CaptureFormat Format => CaptureFormat.PcapNg;

    public IReadOnlyList<LinkType> LinkTypes { get; }

    public long TruncatedPackets => _truncatedPackets;

    /// <summary>
    /// When set, the packet blocks' comments (opt_comment, section 3.5) are read into
    /// <see cref="Comments"/>; off by default, so analysis does not decode them.
    /// </summary>
    public bool KeepComments { get; set; }

    /// <summary>The comments of the packet <see cref="TryReadNext"/> returned last, in the block's order (<see cref="KeepComments"/>); valid until the next call.</summary>
    public IReadOnlyList<string> Comments => _comments;

    private readonly List<string> _comments = [];

    /// <summary>Section Header Blocks read so far.</summary>
    public int SectionCount => _sectionCount;

    public bool TryReadNext(out CapturedPacket packet)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        while (true)
        {
            if (!_input.EnsureAvailable(BlockHeaderLength))
            {
                if (_input.Available == 0)
                {
                    packet = default;
                    return false;
                }

                throw CutShortHeader();
            }

            var type = (BlockType)BinaryPrimitives.ReadUInt32LittleEndian(_input.Span(0, 4));
            if (type == BlockType.SectionHeader)
            {
                ReadSectionHeader();
                continue;
            }

            type = (BlockType)Read32(_input.Span(0, 4));
            switch (type)
            {
                case BlockType.EnhancedPacket:
                case BlockType.Packet:
                case BlockType.SimplePacket:
                    packet = ReadPacketBlock(type);
                    return true;
                case BlockType.InterfaceDescription:
                    ReadInterfaceDescription();
                    break;
                case BlockType.DecryptionSecrets:
                    ReadDecryptionSecrets();
                    break;
                default:
                    SkipBlock(type);
                    break;
            }
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _input.Dispose();
    }

    private void ReadFirstSectionHeader()
    {
        _input.EnsureAvailable(SectionHeaderMinLength);
        int available = Math.Min(_input.Available, SectionHeaderMinLength);
        if (available >= 4)
        {
            uint type = BinaryPrimitives.ReadUInt32LittleEndian(_input.Span(0, 4));
            if (type != SectionHeaderBlockType)
            {
                throw new CaptureFormatException(
                    $"{Name} is not a pcapng capture (starts with 0x{Convert.ToHexString(_input.Span(0, 4))})", 0, 0);
            }
        }

        if (available < SectionHeaderMinLength)
        {
            throw new CaptureFormatException(
                $"{Name}: the pcapng section header is truncated ({available} of {SectionHeaderMinLength} bytes)", 0, 0);
        }

        ReadSectionHeader();
    }

    /// <summary>Section 4.1. A new section starts afresh: byte order and interfaces.</summary>
    private void ReadSectionHeader()
    {
        long offset = _input.Offset;
        if (!_input.EnsureAvailable(BlockHeaderLength + 4))
        {
            throw CutShort("section header block", offset);
        }

        uint magic = BinaryPrimitives.ReadUInt32LittleEndian(_input.Span(BlockHeaderLength, 4));
        bool bigEndian;
        if (magic == ByteOrderMagic)
        {
            bigEndian = false;
        }
        else if (BinaryPrimitives.ReverseEndianness(magic) == ByteOrderMagic)
        {
            bigEndian = true;
        }
        else
        {
            throw new CaptureFormatException(
                $"pcapng section header block at byte offset {offset} has a bad byte-order magic 0x{Convert.ToHexString(_input.Span(BlockHeaderLength, 4))}",
                _packetsRead, offset);
        }

        _bigEndian = bigEndian;
        int length = ReadBufferedBlock("section header block", SectionHeaderMinLength);
        ReadOnlySpan<byte> block = _input.Span(0, length);
        ushort major = Read16(block[12..]);
        ushort minor = Read16(block[14..]);
        if (major != SupportedMajorVersion)
        {
            throw new CaptureFormatException(
                $"pcapng section at byte offset {offset} has version {major}.{minor}, which is not supported",
                _packetsRead, offset);
        }

        // Section length and SHB options (hardware, OS, application) are not needed.
        _interfaces.Clear();
        _sectionCount++;
        _input.Advance(length);
    }

    /// <summary>Section 4.2.</summary>
    private void ReadInterfaceDescription()
    {
        long offset = _input.Offset;
        int length = ReadBufferedBlock("interface description block", InterfaceDescriptionMinLength);
        ReadOnlySpan<byte> block = _input.Span(0, length);
        var linkType = (LinkType)Read16(block[8..]);
        uint snapLength = Read32(block[12..]);
        var description = new InterfaceDescription(linkType, snapLength, DefaultUnitsPerSecond, 0);
        int interfaceId = _interfaces.Count;

        ReadOnlySpan<byte> options = block[InterfaceDescriptionOptionsStart..(length - BlockTrailerLength)];
        while (TryReadOption(ref options, out var code, out var value))
        {
            switch (code)
            {
                case OptionCode.InterfaceTimestampResolution when value.Length == 1:
                    description = description with { UnitsPerSecond = UnitsPerSecond(value[0], interfaceId, offset) };
                    break;
                case OptionCode.InterfaceTimestampOffset when value.Length == 8:
                    description = description with { OffsetSeconds = (long)Read64(value) };
                    break;
            }
        }

        _interfaces.Add(description);
        if (!_linkTypes.Contains(linkType))
        {
            _linkTypes.Add(linkType);
        }

        _input.Advance(length);
    }

    /// <summary>
    /// Section 3.5: the next option of a block's options (code, length, value padded to 32 bits).
    /// False at opt_endofopt, at the end, or at an option running past the block: that is malformed,
    /// but the block length is still sound, so what was read is kept and the rest ignored.
    /// </summary>
    private bool TryReadOption(ref ReadOnlySpan<byte> options, out OptionCode code, out ReadOnlySpan<byte> value)
    {
        code = OptionCode.EndOfOptions;
        value = default;
        if (options.Length < OptionHeaderLength)
        {
            return false;
        }
        code = (OptionCode)Read16(options);
        int valueLength = Read16(options[2..]);
        int paddedLength = (valueLength + 3) & ~3;
        if (code == OptionCode.EndOfOptions || paddedLength > options.Length - OptionHeaderLength)
        {
            return false;
        }
        value = options.Slice(OptionHeaderLength, valueLength);
        options = options[(OptionHeaderLength + paddedLength)..];
        return true;
    }

    /// <summary>Sections 4.3 (Enhanced Packet), 4.4 (Simple Packet), Appendix A (obsolete Packet Block).</summary>
    private CapturedPacket ReadPacketBlock(BlockType type)
    {
        long frame = _packetsRead + 1;
        long offset = _input.Offset;
        int minLength = type == BlockType.SimplePacket ? SimplePacketMinLength : EnhancedPacketMinLength;
        int length = ReadBufferedBlock(type, minLength, frame);
        ReadOnlySpan<byte> block = _input.Span(0, length);

        int interfaceId;
        ulong timestamp;
        uint captured;
        uint original;
        int dataStart;
        if (type == BlockType.SimplePacket)
        {
            interfaceId = 0;
            timestamp = 0;
            original = Read32(block[8..]);
            dataStart = SimplePacketDataStart;
            RequireInterface(interfaceId, frame, offset);
            // Section 4.4: captured length is the original length cut to interface 0's
            // snaplen (0 means none), and it can never exceed the data the block holds.
            uint snapLength = _interfaces[0].SnapLength;
            captured = Math.Min(original, (uint)(length - SimplePacketMinLength));
            if (snapLength != 0)
            {
                captured = Math.Min(captured, snapLength);
            }
        }
        else
        {
            interfaceId = type == BlockType.Packet ? Read16(block[8..]) : (int)Math.Min(Read32(block[8..]), int.MaxValue);
            timestamp = ((ulong)Read32(block[12..]) << 32) | Read32(block[16..]);
            captured = Read32(block[20..]);
            original = Read32(block[24..]);
            dataStart = EnhancedPacketDataStart;
            if (captured > length - EnhancedPacketMinLength)
            {
                throw new CaptureFormatException(
                    $"packet {frame} (pcapng block at byte offset {offset}) claims {captured} captured bytes, more than its {length}-byte block holds",
                    _packetsRead, offset);
            }

            RequireInterface(interfaceId, frame, offset);
        }

        InterfaceDescription description = _interfaces[interfaceId];
        int wireLength = (int)Math.Min(Math.Max(original, captured), int.MaxValue);
        if (captured < wireLength)
        {
            _truncatedPackets++;
        }

        if (KeepComments)
        {
            _comments.Clear();
            // Options follow the packet data, padded to 32 bits (sections 4.3, Appendix A); a Simple Packet Block has none.
            int optionsStart = dataStart + (int)((captured + 3) & ~3u);
            if (type != BlockType.SimplePacket && optionsStart < length - BlockTrailerLength)
            {
                ReadOnlySpan<byte> options = block[optionsStart..(length - BlockTrailerLength)];
                while (TryReadOption(ref options, out var code, out var value))
                {
                    if (code == OptionCode.Comment)
                    {
                        _comments.Add(Encoding.UTF8.GetString(value));
                    }
                }
            }
        }

        // Simple Packet Blocks carry no timestamp; they get the Unix epoch (what Wireshark
        // shows as time 0), plus the interface offset like any other.
        long ticks = ToTicks(timestamp, description.UnitsPerSecond, description.OffsetSeconds);
        var packet = new CapturedPacket(frame, ticks, description.LinkType, interfaceId, wireLength,
            _input.Memory(dataStart, (int)captured), SubTickNanoseconds(timestamp, description.UnitsPerSecond));
        _input.Advance(length);
        _packetsRead = frame;
        return packet;
    }

    private void RequireInterface(int interfaceId, long frame, long offset)
    {
        if (interfaceId >= _interfaces.Count)
        {
            throw new CaptureFormatException(
                $"packet {frame} (pcapng block at byte offset {offset}) refers to interface {interfaceId}, but its section describes {_interfaces.Count}",
                _packetsRead, offset);
        }
    }

    /// <summary>
    /// pcapng Decryption Secrets Block (draft-ietf-opsawg-pcapng 4.7): Secrets Type, Secrets
    /// Length, data. TLS key logs (type "TLSK", 0x544C534B; what `editcap --inject-secrets` writes)
    /// are kept as text for the analyzer; other secret types are skipped. Capped in count and size.
    /// </summary>
    private void ReadDecryptionSecrets()
    {
        const uint TlsKeyLogType = 0x544C534B;
        const int DsbHeader = 16; // block type, length, secrets type, secrets length
        int length = ReadBufferedBlock("decryption secrets block", DsbHeader + BlockTrailerLength);
        var block = _input.Span(0, length);
        uint secretsType = Read32(block[8..]);
        uint secretsLength = Read32(block[12..]);
        if (secretsType == TlsKeyLogType && secretsLength <= length - DsbHeader - BlockTrailerLength
            && _tlsKeyLogs.Count < MaxKeyLogs)
        {
            _tlsKeyLogs.Add(System.Text.Encoding.UTF8.GetString(block.Slice(DsbHeader, (int)secretsLength)));
        }
        _input.Advance(length);
    }

    private const int MaxKeyLogs = 64;
    private readonly List<string> _tlsKeyLogs = [];

    /// <summary>TLS key logs embedded in the file so far (Decryption Secrets Blocks), in file order.</summary>
    public IReadOnlyList<string> TlsKeyLogs => _tlsKeyLogs;

    /// <summary>Blocks passed over, by kind (ISkippedBlocksSource).</summary>
    public IReadOnlyDictionary<string, (long Count, long FirstOffset)> SkippedBlocks => _skipped;

    private readonly Dictionary<string, (long Count, long FirstOffset)> _skipped = [];

    private void SkipBlock(BlockType type)
    {
        long offset = _input.Offset;
        string kind = BlockName(type);
        _skipped[kind] = _skipped.TryGetValue(kind, out var seen) ? (seen.Count + 1, seen.FirstOffset) : (1, offset);
        uint length = Read32(_input.Span(4, 4));
        CheckLength(kind, length, MinBlockLength, offset);
        if (!_input.Skip(length - BlockTrailerLength) || !_input.EnsureAvailable(BlockTrailerLength))
        {
            throw CutShort(kind, offset);
        }

        CheckTrailer(kind, length, Read32(_input.Span(0, BlockTrailerLength)), offset);
        _input.Advance(BlockTrailerLength);
    }

    private int ReadBufferedBlock(BlockType type, int minLength, long frame) =>
        ReadBufferedBlock(BlockName(type), minLength, frame);

    /// <summary>
    /// Validates the length of the block at the buffer start, loads all of it and checks
    /// the trailing length. Returns the block length.
    /// </summary>
    private int ReadBufferedBlock(string kind, int minLength, long frame = 0)
    {
        long offset = _input.Offset;
        uint length = Read32(_input.Span(4, 4));
        CheckLength(kind, length, minLength, offset);
        if (length > MaxBlockLength)
        {
            throw new CaptureFormatException(
                $"pcapng {kind} at byte offset {offset} claims {length} bytes, more than the {MaxBlockLength} limit",
                _packetsRead, offset);
        }

        if (!_input.EnsureAvailable((int)length))
        {
            throw CutShort(kind, offset, frame);
        }

        CheckTrailer(kind, length, Read32(_input.Span((int)length - BlockTrailerLength, BlockTrailerLength)), offset);
        return (int)length;
    }

    /// <summary>Section 3.1: a block is at least 12 bytes and a multiple of 4 long.</summary>
    private void CheckLength(string kind, uint length, int minLength, long offset)
    {
        if (length < minLength)
        {
            throw new CaptureFormatException(
                $"pcapng {kind} at byte offset {offset} claims {length} bytes, less than the {minLength} it needs",
                _packetsRead, offset);
        }

        if (length % 4 != 0)
        {
            throw new CaptureFormatException(
                $"pcapng {kind} at byte offset {offset} claims {length} bytes, not a multiple of 4",
                _packetsRead, offset);
        }
    }

    private void CheckTrailer(string kind, uint length, uint trailer, long offset)
    {
        if (trailer != length)
        {
            throw new CaptureFormatException(
                $"pcapng {kind} at byte offset {offset} has mismatched lengths ({length} at its start, {trailer} at its end)",
                _packetsRead, offset);
        }
    }

    /// <summary>The input ended inside a block header (fewer than 8 bytes left).</summary>
    private CaptureFormatException CutShortHeader()
    {
        if (_input.Available < 4)
        {
            return CutShort("block", _input.Offset);
        }

        var type = (BlockType)Read32(_input.Span(0, 4));
        bool isPacket = type is BlockType.EnhancedPacket or BlockType.Packet or BlockType.SimplePacket;
        return CutShort(BlockName(type), _input.Offset, isPacket ? _packetsRead + 1 : 0);
    }

    /// <summary>A block cut short by the end of input; packet blocks are named by their frame.</summary>
    private CaptureFormatException CutShort(string kind, long offset, long frame = 0) => new(
        frame > 0
            ? $"capture is truncated: packet {frame} (at byte offset {offset}) is cut short"
            : $"capture is truncated: the {kind} at byte offset {offset} is cut short",
        _packetsRead, offset);

    private static string BlockName(BlockType type) => type switch
    {
        BlockType.SectionHeader => "section header block",
        BlockType.InterfaceDescription => "interface description block",
        BlockType.Packet => "packet block",
        BlockType.SimplePacket => "simple packet block",
        BlockType.NameResolution => "name resolution block",
        BlockType.InterfaceStatistics => "interface statistics block",
        BlockType.EnhancedPacket => "enhanced packet block",
        BlockType.DecryptionSecrets => "decryption secrets block",
        _ => $"block of type 0x{(uint)type:X8}",
    };

    /// <summary>Section 4.2 if_tsresol: units per second for the stored resolution byte.</summary>
    private ulong UnitsPerSecond(byte resolution, int interfaceId, long offset)
    {
        int exponent = resolution & (TimestampResolutionBase2Bit - 1);
        if ((resolution & TimestampResolutionBase2Bit) != 0)
        {
            if (exponent <= MaxBinaryResolutionExponent)
            {
                return 1UL << exponent;
            }
        }
        else if (exponent <= MaxDecimalResolutionExponent)
        {
            ulong units = 1;
            for (int i = 0; i < exponent; i++)
            {
                units *= 10;
            }

            return units;
        }

        throw new CaptureFormatException(
            $"pcapng interface {interfaceId} (block at byte offset {offset}) has if_tsresol 0x{resolution:X2}, finer than 64-bit timestamps can count",
            _packetsRead, offset);
    }

    /// <summary>
    /// Timestamp units since 1970 plus if_tsoffset seconds, as UTC ticks rounded down to
    /// 100 ns. Values outside what <see cref="DateTime"/> holds are clamped to its range.
    /// </summary>
    private static byte SubTickNanoseconds(ulong timestamp, ulong unitsPerSecond) =>
        unitsPerSecond <= TimeSpan.TicksPerSecond ? (byte)0
            : (byte)((ulong)((UInt128)(timestamp % unitsPerSecond) * 1_000_000_000 / unitsPerSecond) % 100);

    private static long ToTicks(ulong timestamp, ulong unitsPerSecond, long offsetSeconds)
    {
        ulong seconds = timestamp / unitsPerSecond;
        ulong remainder = timestamp % unitsPerSecond;
        var fractionTicks = (ulong)((UInt128)remainder * TimeSpan.TicksPerSecond / unitsPerSecond);
        Int128 ticks = UnixEpochTicks + ((Int128)seconds + offsetSeconds) * TimeSpan.TicksPerSecond + fractionTicks;
        return (long)Int128.Clamp(ticks, DateTime.MinValue.Ticks, DateTime.MaxValue.Ticks);
    }

    private uint Read32(ReadOnlySpan<byte> bytes) => _bigEndian
        ? BinaryPrimitives.ReadUInt32BigEndian(bytes)
        : BinaryPrimitives.ReadUInt32LittleEndian(bytes);

    private ushort Read16(ReadOnlySpan<byte> bytes) => _bigEndian
        ? BinaryPrimitives.ReadUInt16BigEndian(bytes)
        : BinaryPrimitives.ReadUInt16LittleEndian(bytes);

    private ulong Read64(ReadOnlySpan<byte> bytes) => _bigEndian
        ? BinaryPrimitives.ReadUInt64BigEndian(bytes)
        : BinaryPrimitives.ReadUInt64LittleEndian(bytes);

    /// <summary>What a packet needs from its Interface Description Block.</summary>
    private readonly record struct InterfaceDescription(
        LinkType LinkType, uint SnapLength, ulong UnitsPerSecond, long OffsetSeconds);
}
