using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace RdpWire.RdpParser.Tls.Decryption;

/// <summary>The AEAD of a cipher suite and the hash of its PRF / HKDF.</summary>
public readonly record struct AeadSuite(ushort Suite, int KeyLength, bool ChaCha, HashAlgorithmName Hash)
{
    /// <summary>AEAD suites RdpWire decrypts (RFC 5288, RFC 5289, RFC 7905, RFC 8446 B.4); null for others.</summary>
    public static AeadSuite? For(ushort suite) => suite switch
    {
        0x1301 => new(suite, 16, false, HashAlgorithmName.SHA256), // TLS_AES_128_GCM_SHA256
        0x1302 => new(suite, 32, false, HashAlgorithmName.SHA384), // TLS_AES_256_GCM_SHA384
        0x1303 => new(suite, 32, true, HashAlgorithmName.SHA256), // TLS_CHACHA20_POLY1305_SHA256
        0x009C or 0x009E or 0xC02B or 0xC02F or 0x00A8 or 0x00AA or 0xC0A0 => new(suite, 16, false, HashAlgorithmName.SHA256),
        0x009D or 0x009F or 0xC02C or 0xC030 or 0x00A9 or 0x00AB => new(suite, 32, false, HashAlgorithmName.SHA384),
        0xCCA8 or 0xCCA9 or 0xCCAA or 0xCCAB or 0xCCAC or 0xCCAD or 0xCCAE => new(suite, 32, true, HashAlgorithmName.SHA256),
        _ => null,
    };
}

/// <summary>
/// Decrypts one direction's TLS records with an AEAD: TLS 1.2 GCM (RFC 5288: 4-byte salt plus
/// 8-byte explicit nonce; AAD = seq || type || version || length), ChaCha20-Poly1305 (RFC 7905),
/// and TLS 1.3 (RFC 8446 5.2/5.3: nonce = iv XOR seq, AAD = the record header, inner content
/// type after the zero padding). Each instance keeps its own 64-bit sequence number.
/// </summary>
public sealed class TlsRecordDecryptor : IDisposable
{
    private const int TagLength = 16;
    private readonly AesGcm? _gcm;
    private readonly ChaCha20Poly1305? _chacha;
    private readonly byte[] _iv;
    private readonly bool _tls13;
    private ulong _sequence;

    private TlsRecordDecryptor(byte[] key, byte[] iv, bool chacha, bool tls13)
    {
        _iv = iv;
        _tls13 = tls13;
        if (chacha)
        {
            _chacha = new ChaCha20Poly1305(key);
        }
        else
        {
            _gcm = new AesGcm(key, TagLength);
        }
    }

    public ulong Sequence => _sequence;

    /// <summary>TLS 1.3 keys from a traffic secret (RFC 8446 7.3).</summary>
    public static TlsRecordDecryptor FromTrafficSecret(AeadSuite suite, byte[] secret)
    {
        byte[] key = ExpandLabel(suite.Hash, secret, "key", suite.KeyLength);
        byte[] iv = ExpandLabel(suite.Hash, secret, "iv", 12);
        return new TlsRecordDecryptor(key, iv, suite.ChaCha, tls13: true);
    }

    /// <summary>TLS 1.2 keys for both directions from the master secret (RFC 5246 6.3 key_block).</summary>
    public static (TlsRecordDecryptor Client, TlsRecordDecryptor Server) FromMasterSecret(
        AeadSuite suite, byte[] masterSecret, ReadOnlySpan<byte> clientRandom, ReadOnlySpan<byte> serverRandom)
    {
        int ivLength = suite.ChaCha ? 12 : 4;
        byte[] seed = [.. serverRandom, .. clientRandom];
        byte[] block = Prf(suite.Hash, masterSecret, "key expansion", seed, 2 * suite.KeyLength + 2 * ivLength);
        var span = block.AsSpan();
        byte[] clientKey = span[..suite.KeyLength].ToArray();
        byte[] serverKey = span.Slice(suite.KeyLength, suite.KeyLength).ToArray();
        byte[] clientIv = span.Slice(2 * suite.KeyLength, ivLength).ToArray();
        byte[] serverIv = span.Slice(2 * suite.KeyLength + ivLength, ivLength).ToArray();
        return (new TlsRecordDecryptor(clientKey, clientIv, suite.ChaCha, false),
                new TlsRecordDecryptor(serverKey, serverIv, suite.ChaCha, false));
    }

    /// <summary>
    /// Decrypts one record's fragment. Returns false (sequence unchanged) when authentication fails.
    /// <paramref name="plaintext"/> must hold fragment.Length bytes.
    /// </summary>
    public bool TryDecrypt(TlsRecordHeader header, ReadOnlySpan<byte> fragment, Span<byte> plaintext,
        out int plaintextLength, out TlsContentType innerType)
    {
        plaintextLength = 0;
        innerType = header.ContentType;
        Span<byte> nonce = stackalloc byte[12];
        ReadOnlySpan<byte> ciphertext;
        Span<byte> aad = stackalloc byte[13];
        int aadLength;
        if (!_tls13 && _gcm is not null)
        {
            if (fragment.Length < 8 + TagLength)
            {
                return false;
            }
            _iv.CopyTo(nonce);
            fragment[..8].CopyTo(nonce[4..]);
            ciphertext = fragment[8..];
            aadLength = WriteTls12Aad(aad, header, ciphertext.Length - TagLength);
        }
        else
        {
            if (fragment.Length < TagLength)
            {
                return false;
            }
            _iv.CopyTo(nonce);
            Span<byte> seq = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64BigEndian(seq, _sequence);
            for (int i = 0; i < 8; i++)
            {
                nonce[4 + i] ^= seq[i];
            }
            ciphertext = fragment;
            aadLength = _tls13
                ? WriteTls13Aad(aad, header)
                : WriteTls12Aad(aad, header, ciphertext.Length - TagLength);
        }
        int length = ciphertext.Length - TagLength;
        var output = plaintext[..length];
        try
        {
            if (_gcm is not null)
            {
                _gcm.Decrypt(nonce, ciphertext[..length], ciphertext[length..], output, aad[..aadLength]);
            }
            else
            {
                _chacha!.Decrypt(nonce, ciphertext[..length], ciphertext[length..], output, aad[..aadLength]);
            }
        }
        catch (AuthenticationTagMismatchException)
        {
            return false;
        }
        _sequence++;
        if (_tls13)
        {
            // TLSInnerPlaintext: content || ContentType || zeros.
            int end = length - 1;
            while (end >= 0 && output[end] == 0)
            {
                end--;
            }
            if (end < 0)
            {
                return false;
            }
            innerType = (TlsContentType)output[end];
            plaintextLength = end;
        }
        else
        {
            plaintextLength = length;
        }
        return true;
    }

    private int WriteTls12Aad(Span<byte> aad, TlsRecordHeader header, int plaintextLength)
    {
        BinaryPrimitives.WriteUInt64BigEndian(aad, _sequence);
        aad[8] = (byte)header.ContentType;
        BinaryPrimitives.WriteUInt16BigEndian(aad[9..], header.Version);
        BinaryPrimitives.WriteUInt16BigEndian(aad[11..], (ushort)plaintextLength);
        return 13;
    }

    private static int WriteTls13Aad(Span<byte> aad, TlsRecordHeader header)
    {
        aad[0] = (byte)header.ContentType;
        BinaryPrimitives.WriteUInt16BigEndian(aad[1..], header.Version);
        BinaryPrimitives.WriteUInt16BigEndian(aad[3..], header.Length);
        return 5;
    }

    /// <summary>RFC 8446 7.1 HKDF-Expand-Label with an empty context.</summary>
    public static byte[] ExpandLabel(HashAlgorithmName hash, byte[] secret, string label, int length)
    {
        byte[] fullLabel = Encoding.ASCII.GetBytes("tls13 " + label);
        byte[] info = [(byte)(length >> 8), (byte)length, (byte)fullLabel.Length, .. fullLabel, 0];
        return HKDF.Expand(hash, secret, length, info);
    }

    /// <summary>RFC 5246 5 PRF(secret, label, seed) = P_hash(secret, label + seed).</summary>
    public static byte[] Prf(HashAlgorithmName hash, byte[] secret, string label, byte[] seed, int length)
    {
        byte[] labelSeed = [.. Encoding.ASCII.GetBytes(label), .. seed];
        var output = new byte[length];
        byte[] a = labelSeed;
        int written = 0;
        while (written < length)
        {
            a = HMAC(hash, secret, a);
            byte[] chunk = HMAC(hash, secret, [.. a, .. labelSeed]);
            int n = Math.Min(chunk.Length, length - written);
            chunk.AsSpan(0, n).CopyTo(output.AsSpan(written));
            written += n;
        }
        return output;
    }

    private static byte[] HMAC(HashAlgorithmName hash, byte[] key, byte[] data) => hash.Name switch
    {
        "SHA384" => HMACSHA384.HashData(key, data),
        _ => HMACSHA256.HashData(key, data),
    };

    public void Dispose()
    {
        _gcm?.Dispose();
        _chacha?.Dispose();
    }
}
