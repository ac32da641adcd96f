using System.Buffers.Binary;
using System.Text;

namespace RdpWire.Capture.Files;

/// <summary>
/// Writes pcapng (draft-ietf-opsawg-pcapng): one Section Header Block (4.1), an Interface
/// Description Block per interface (4.2: link type, snaplen, if_name, if_tsresol = 9, i.e.
/// nanoseconds) and an Enhanced Packet Block per packet (4.3), optionally with an opt_comment.
/// Little-endian, like the files tcpdump and Wireshark write on x86.
/// </summary>
public sealed class PcapNgWriter : IDisposable
{
    private const uint SectionHeaderBlock = 0x0A0D0D0A;
    private const uint InterfaceDescriptionBlock = 0x00000001;
    private const uint EnhancedPacketBlock = 0x00000006;
    private const uint ByteOrderMagic = 0x1A2B3C4D;
    private const ushort OptEndOfOpt = 0;
    private const ushort OptComment = 1;
    private const ushort ShbUserAppl = 4;
    private const ushort IfName = 2;
    private const ushort IfTsResol = 9;
    private readonly Stream _stream;
    private readonly bool _ownsStream;
    private byte[] _block = new byte[64 * 1024];

    public PcapNgWriter(Stream stream, string application, bool ownsStream = true)
    {
        _stream = stream;
        _ownsStream = ownsStream;
        var b = new BlockBuilder(this);
        b.U32(ByteOrderMagic);
        b.U16(1);
        b.U16(0);
        b.U64(ulong.MaxValue); // section length not given
        b.Option(ShbUserAppl, Encoding.UTF8.GetBytes(application));
        b.EndOptions();
        b.Write(SectionHeaderBlock);
    }

    public static PcapNgWriter Create(string path, string application) =>
        new(new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, 1 << 16), application);

    public int Interfaces { get; private set; }

    /// <summary>Adds an interface; returns its id for <see cref="WritePacket"/>.</summary>
    public int AddInterface(LinkType linkType, int snaplen, string? name)
    {
        var b = new BlockBuilder(this);
        b.U16((ushort)linkType);
        b.U16(0);
        b.U32((uint)Math.Max(0, snaplen));
        if (name is not null)
        {
            b.Option(IfName, Encoding.UTF8.GetBytes(name));
        }
        b.Option(IfTsResol, [9]);
        b.EndOptions();
        b.Write(InterfaceDescriptionBlock);
        return Interfaces++;
    }

    /// <summary>Writes one packet as it was captured, time stamp to the nanosecond; each comment becomes an opt_comment (Wireshark's frame.comment).</summary>
    public void WritePacket(int interfaceId, in CapturedPacket packet, IReadOnlyList<string>? comments = null) =>
        WritePacket(interfaceId, packet.UnixNanoseconds, packet.OriginalLength, packet.Data.Span, comments);

    public void WritePacket(int interfaceId, long unixNanoseconds, int originalLength, ReadOnlySpan<byte> data, IReadOnlyList<string>? comments = null)
    {
        ulong nanoseconds = (ulong)Math.Max(0, unixNanoseconds);
        int commentBytes = 0;
        foreach (string c in comments ?? [])
        {
            commentBytes += Encoding.UTF8.GetByteCount(c) + 8;
        }
        var b = new BlockBuilder(this, 28 + data.Length + commentBytes + 16);
        b.U32((uint)interfaceId);
        b.U32((uint)(nanoseconds >> 32));
        b.U32((uint)nanoseconds);
        b.U32((uint)data.Length);
        b.U32((uint)Math.Max(originalLength, data.Length));
        b.Bytes(data);
        if (comments is { Count: > 0 })
        {
            foreach (string c in comments)
            {
                b.Option(OptComment, Encoding.UTF8.GetBytes(c));
            }
            b.EndOptions();
        }
        b.Write(EnhancedPacketBlock);
    }

    public void Flush() => _stream.Flush();

    public void Dispose()
    {
        _stream.Flush();
        if (_ownsStream)
        {
            _stream.Dispose();
        }
    }

    /// <summary>Assembles one block body in the writer's reusable buffer, then frames and writes it.</summary>
    private ref struct BlockBuilder
    {
        private readonly PcapNgWriter _writer;
        private int _at;

        public BlockBuilder(PcapNgWriter writer, int capacity = 256)
        {
            _writer = writer;
            if (writer._block.Length < capacity + 12)
            {
                writer._block = new byte[capacity + 12];
            }
            _at = 8; // type and total length come first
        }

        private readonly Span<byte> Rest => _writer._block.AsSpan(_at);

        public void U16(ushort v)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(Rest, v);
            _at += 2;
        }

        public void U32(uint v)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(Rest, v);
            _at += 4;
        }

        public void U64(ulong v)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(Rest, v);
            _at += 8;
        }

        /// <summary>Bytes padded to 32 bits with zeros.</summary>
        public void Bytes(ReadOnlySpan<byte> bytes)
        {
            int padded = (bytes.Length + 3) & ~3;
            Ensure(padded);
            bytes.CopyTo(Rest);
            Rest.Slice(bytes.Length, padded - bytes.Length).Clear();
            _at += padded;
        }

        public void Option(ushort code, ReadOnlySpan<byte> value)
        {
            Ensure(4 + value.Length + 3);
            U16(code);
            U16((ushort)value.Length);
            Bytes(value);
        }

        public void EndOptions()
        {
            U16(OptEndOfOpt);
            U16(0);
        }

        private void Ensure(int more)
        {
            if (_at + more + 4 > _writer._block.Length)
            {
                Array.Resize(ref _writer._block, Math.Max(_writer._block.Length * 2, _at + more + 4));
            }
        }

        public void Write(uint type)
        {
            int total = _at + 4;
            var block = _writer._block;
            BinaryPrimitives.WriteUInt32LittleEndian(block, type);
            BinaryPrimitives.WriteUInt32LittleEndian(block.AsSpan(4), (uint)total);
            BinaryPrimitives.WriteUInt32LittleEndian(block.AsSpan(_at), (uint)total);
            _writer._stream.Write(block, 0, total);
        }
    }
}
