using System.Buffers.Binary;
using System.Buffers;

namespace RdpWire.RdpParser.Tls;

/// <summary>RFC 8446 5.1 / RFC 5246 6.2.1 ContentType.</summary>
public enum TlsContentType : byte
{
    ChangeCipherSpec = 20,
    Alert = 21,
    Handshake = 22,
    ApplicationData = 23,
    Heartbeat = 24,
}

/// <summary>RFC 8446 4 / RFC 5246 7.4 HandshakeType (the first byte of a handshake message).</summary>
public enum TlsHandshakeType : byte
{
    HelloRequest = 0,
    ClientHello = 1,
    ServerHello = 2,
    NewSessionTicket = 4,
    EndOfEarlyData = 5,
    EncryptedExtensions = 8,
    Certificate = 11,
    ServerKeyExchange = 12,
    CertificateRequest = 13,
    ServerHelloDone = 14,
    CertificateVerify = 15,
    ClientKeyExchange = 16,
    Finished = 20,
    KeyUpdate = 24,
    MessageHash = 254,
}

/// <summary>
/// RFC 5246 6.2.1 / RFC 8446 5.1 TLSPlaintext header: type, legacy_record_version, length.
/// </summary>
public readonly record struct TlsRecordHeader(TlsContentType ContentType, ushort Version, ushort Length)
{
    public const int Size = 5;

    /// <summary>RFC 5246 6.2.3: a TLSCiphertext fragment may not exceed 2^14 + 2048 bytes.</summary>
    public const int MaxFragmentLength = (1 << 14) + 2048;

    /// <summary>True when the bytes at the start of a stream look like a TLS record (type 20-24, version 3.x).</summary>
    public static bool LooksLikeRecord(byte first, byte second) => first is >= 20 and <= 24 && second == 3;

    /// <summary>Reads the 5-byte header; false, with the reader unmoved, when fewer bytes are buffered.</summary>
    public static bool TryRead(ref SequenceReader<byte> reader, out TlsRecordHeader header)
    {
        header = default;
        if (reader.Remaining < Size)
        {
            return false;
        }
        reader.TryRead(out byte type);
        reader.TryReadBigEndian(out short version);
        reader.TryReadBigEndian(out short length);
        header = new TlsRecordHeader((TlsContentType)type, (ushort)version, (ushort)length);
        return true;
    }

    /// <summary>Reads the 5-byte header at the start of <paramref name="bytes"/>; false when fewer bytes are there.</summary>
    public static bool TryRead(ReadOnlySpan<byte> bytes, out TlsRecordHeader header)
    {
        if (bytes.Length < Size)
        {
            header = default;
            return false;
        }
        header = new TlsRecordHeader((TlsContentType)bytes[0], BinaryPrimitives.ReadUInt16BigEndian(bytes[1..]), BinaryPrimitives.ReadUInt16BigEndian(bytes[3..]));
        return true;
    }

    public bool IsValid => ContentType is >= TlsContentType.ChangeCipherSpec and <= TlsContentType.Heartbeat
        && (Version >> 8) == 3 && Length <= MaxFragmentLength;

    /// <summary>"TLS1.0" … "TLS1.3", "SSL3.0", or hex for other values.</summary>
    public static string VersionName(ushort version) => version switch
    {
        0x0300 => "SSL3.0",
        0x0301 => "TLS1.0",
        0x0302 => "TLS1.1",
        0x0303 => "TLS1.2",
        0x0304 => "TLS1.3",
        _ => $"0x{version:X4}",
    };
}
