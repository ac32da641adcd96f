using System.Buffers.Binary;
using System.Security.Cryptography;

namespace RdpWire.RdpParser.Tls.Decryption;

/// <summary>
/// Decrypts one direction's protected TLS records in order; each instance keeps that
/// direction's 64-bit record sequence number (RFC 5246 6.1, RFC 8446 5.3).
/// </summary>
public abstract class TlsRecordDecryptor : IDisposable
{
    protected ulong SequenceNumber;

    public ulong Sequence => SequenceNumber;

    /// <summary>
    /// Decrypts and authenticates one record's fragment. Returns false (sequence unchanged) when
    /// authentication fails. <paramref name="plaintext"/> must hold fragment.Length bytes.
    /// </summary>
    public abstract bool TryDecrypt(TlsRecordHeader header, ReadOnlySpan<byte> fragment, Span<byte> plaintext,
        out int plaintextLength, out TlsContentType innerType);

    /// <summary>TLS 1.3 keys from a traffic secret (RFC 8446 7.3).</summary>
    public static TlsRecordDecryptor FromTrafficSecret(TlsCipherSuiteKeys suite, byte[] secret)
    {
        byte[] key = TlsKeySchedule.ExpandLabel(suite.PrfHash, secret, "key", suite.KeyLength);
        byte[] iv = TlsKeySchedule.ExpandLabel(suite.PrfHash, secret, "iv", 12);
        return new TlsAeadRecordDecryptor(key, iv, suite.Cipher == TlsBulkCipher.ChaCha20Poly1305, tls13: true);
    }

    /// <summary>
    /// TLS ≤ 1.2 keys for both directions from the master secret: key_block = PRF(master_secret,
    /// "key expansion", server_random + client_random), cut into the MAC keys, the write keys and
    /// the IVs (RFC 5246 6.3).
    /// </summary>
    public static (TlsRecordDecryptor Client, TlsRecordDecryptor Server) FromMasterSecret(
        TlsCipherSuiteKeys suite, ushort version, bool encryptThenMac, byte[] masterSecret,
        ReadOnlySpan<byte> clientRandom, ReadOnlySpan<byte> serverRandom)
    {
        int mac = suite.MacLength, key = suite.KeyLength, iv = suite.KeyBlockIvLength;
        byte[] block = TlsKeySchedule.Prf(version, suite.PrfHash, masterSecret, "key expansion",
            [.. serverRandom, .. clientRandom], 2 * (mac + key + iv));
        byte[] Take(ref int at, int n)
        {
            byte[] part = block.AsSpan(at, n).ToArray();
            at += n;
            return part;
        }
        int at = 0;
        byte[] clientMac = Take(ref at, mac), serverMac = Take(ref at, mac);
        byte[] clientKey = Take(ref at, key), serverKey = Take(ref at, key);
        byte[] clientIv = Take(ref at, iv), serverIv = Take(ref at, iv);
        if (suite.IsAead)
        {
            bool chacha = suite.Cipher == TlsBulkCipher.ChaCha20Poly1305;
            return (new TlsAeadRecordDecryptor(clientKey, clientIv, chacha, tls13: false),
                    new TlsAeadRecordDecryptor(serverKey, serverIv, chacha, tls13: false));
        }
        return (new TlsCbcRecordDecryptor(suite, version, encryptThenMac, clientKey, clientMac, clientIv),
                new TlsCbcRecordDecryptor(suite, version, encryptThenMac, serverKey, serverMac, serverIv));
    }

    /// <summary>RFC 5246 6.2.3.1/6.2.3.3: seq_num || type || version || length.</summary>
    protected void WriteTls12Header(Span<byte> destination, TlsRecordHeader header, int length)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, SequenceNumber);
        destination[8] = (byte)header.ContentType;
        BinaryPrimitives.WriteUInt16BigEndian(destination[9..], header.Version);
        BinaryPrimitives.WriteUInt16BigEndian(destination[11..], (ushort)length);
    }

    public abstract void Dispose();
}

/// <summary>
/// AEAD records: TLS 1.2 GCM (RFC 5288: 4-byte salt plus 8-byte explicit nonce; AAD = seq ||
/// type || version || length), ChaCha20-Poly1305 (RFC 7905), and TLS 1.3 (RFC 8446 5.2/5.3:
/// nonce = iv XOR seq, AAD = the record header, inner content type after the zero padding).
/// </summary>
public sealed class TlsAeadRecordDecryptor : TlsRecordDecryptor
{
    private const int TagLength = 16;
    private readonly AesGcm? _gcm;
    private readonly ChaCha20Poly1305? _chacha;
    private readonly byte[] _iv;
    private readonly bool _tls13;

    public TlsAeadRecordDecryptor(byte[] key, byte[] iv, bool chacha, bool tls13)
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

    public override bool TryDecrypt(TlsRecordHeader header, ReadOnlySpan<byte> fragment, Span<byte> plaintext,
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
            WriteTls12Header(aad, header, ciphertext.Length - TagLength);
            aadLength = 13;
        }
        else
        {
            if (fragment.Length < TagLength)
            {
                return false;
            }
            _iv.CopyTo(nonce);
            Span<byte> seq = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64BigEndian(seq, SequenceNumber);
            for (int i = 0; i < 8; i++)
            {
                nonce[4 + i] ^= seq[i];
            }
            ciphertext = fragment;
            if (_tls13)
            {
                aad[0] = (byte)header.ContentType;
                BinaryPrimitives.WriteUInt16BigEndian(aad[1..], header.Version);
                BinaryPrimitives.WriteUInt16BigEndian(aad[3..], header.Length);
                aadLength = 5;
            }
            else
            {
                WriteTls12Header(aad, header, ciphertext.Length - TagLength);
                aadLength = 13;
            }
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
        SequenceNumber++;
        if (!_tls13)
        {
            plaintextLength = length;
            return true;
        }
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
        return true;
    }

    public override void Dispose()
    {
        _gcm?.Dispose();
        _chacha?.Dispose();
    }
}
