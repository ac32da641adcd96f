using System.Buffers.Binary;

namespace RdpWire.RdpParser.Tls;

/// <summary>
/// Reads the TLS presentation language (RFC 8446 3): big-endian integers and length-prefixed
/// vectors, over borrowed bytes. Every read is bounds-checked and returns false instead of
/// throwing; vectors are slices of the input, never copies.
/// </summary>
public ref struct TlsSpanReader
{
    private ReadOnlySpan<byte> _rest;

    public TlsSpanReader(ReadOnlySpan<byte> bytes) => _rest = bytes;

    public readonly int Remaining => _rest.Length;
    public readonly ReadOnlySpan<byte> Rest => _rest;

    public bool TryReadU8(out byte value)
    {
        value = 0;
        if (_rest.Length < 1)
        {
            return false;
        }
        value = _rest[0];
        _rest = _rest[1..];
        return true;
    }

    public bool TryReadU16(out ushort value)
    {
        value = 0;
        if (_rest.Length < 2)
        {
            return false;
        }
        value = BinaryPrimitives.ReadUInt16BigEndian(_rest);
        _rest = _rest[2..];
        return true;
    }

    public bool TryReadU24(out int value)
    {
        value = 0;
        if (_rest.Length < 3)
        {
            return false;
        }
        value = (_rest[0] << 16) | (_rest[1] << 8) | _rest[2];
        _rest = _rest[3..];
        return true;
    }

    public bool TryReadBytes(int count, out ReadOnlySpan<byte> bytes)
    {
        bytes = default;
        if (count < 0 || _rest.Length < count)
        {
            return false;
        }
        bytes = _rest[..count];
        _rest = _rest[count..];
        return true;
    }

    /// <summary>opaque vector&lt;0..2^8-1&gt;.</summary>
    public bool TryReadVector8(out ReadOnlySpan<byte> body)
    {
        body = default;
        return TryReadU8(out byte n) && TryReadBytes(n, out body);
    }

    /// <summary>opaque vector&lt;0..2^16-1&gt;.</summary>
    public bool TryReadVector16(out ReadOnlySpan<byte> body)
    {
        body = default;
        return TryReadU16(out ushort n) && TryReadBytes(n, out body);
    }

    /// <summary>opaque vector&lt;0..2^24-1&gt;.</summary>
    public bool TryReadVector24(out ReadOnlySpan<byte> body)
    {
        body = default;
        return TryReadU24(out int n) && TryReadBytes(n, out body);
    }

    /// <summary>
    /// The extensions block that ends a hello (RFC 8446 4.1.2/4.1.3; optional before TLS 1.3,
    /// RFC 5246 7.4.1.2). An absent block gives an empty reader; false when it is cut short.
    /// </summary>
    public bool TryReadExtensions(out TlsSpanReader extensions)
    {
        extensions = default;
        if (Remaining == 0)
        {
            return true;
        }
        if (!TryReadVector16(out var block))
        {
            return false;
        }
        extensions = new TlsSpanReader(block);
        return true;
    }

    /// <summary>One Extension (RFC 8446 4.2): extension_type, then extension_data as a 16-bit vector.</summary>
    public bool TryReadExtension(out ushort type, out ReadOnlySpan<byte> data)
    {
        data = default;
        return TryReadU16(out type) && TryReadVector16(out data);
    }

    /// <summary>A vector of 16-bit values (cipher suites, versions, groups, schemes), each appended to <paramref name="into"/>.</summary>
    public static bool TryReadU16List(ReadOnlySpan<byte> body, List<ushort> into, int max = 4096)
    {
        if ((body.Length & 1) != 0)
        {
            return false;
        }
        for (int i = 0; i + 1 < body.Length && into.Count < max; i += 2)
        {
            into.Add(BinaryPrimitives.ReadUInt16BigEndian(body[i..]));
        }
        return true;
    }
}
