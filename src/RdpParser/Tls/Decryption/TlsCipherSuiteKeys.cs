using System.Security.Cryptography;

namespace RdpWire.RdpParser.Tls.Decryption;

/// <summary>The record protection a cipher suite names.</summary>
public enum TlsBulkCipher : byte
{
    AesGcm,
    ChaCha20Poly1305,
    AesCbc,
    TripleDesCbc,
}

/// <summary>
/// What decrypting a cipher suite's records takes (RFC 5246 6.3 and Appendix C, RFC 8446 B.4):
/// the bulk cipher and its key length, the record MAC of block-cipher suites, the PRF hash of
/// TLS 1.2, and whether the premaster secret travels RSA-encrypted (so a server key recovers it).
/// </summary>
public readonly record struct TlsCipherSuiteKeys(ushort Suite, TlsBulkCipher Cipher, int KeyLength,
    HashAlgorithmName MacHash, HashAlgorithmName PrfHash, bool RsaKeyExchange)
{
    private static readonly HashAlgorithmName NoMac = default;

    public bool IsAead => Cipher is TlsBulkCipher.AesGcm or TlsBulkCipher.ChaCha20Poly1305;

    /// <summary>HMAC output length of a block-cipher suite (20, 32 or 48); 0 for AEAD suites.</summary>
    public int MacLength => TlsKeySchedule.HashLength(MacHash);

    public int BlockSize => Cipher == TlsBulkCipher.TripleDesCbc ? 8 : 16;

    /// <summary>IV bytes taken from the key block: the GCM salt (4), the ChaCha20 nonce (12), or a CBC block (TLS 1.0's first IV).</summary>
    public int KeyBlockIvLength => Cipher switch
    {
        TlsBulkCipher.AesGcm => 4,
        TlsBulkCipher.ChaCha20Poly1305 => 12,
        _ => BlockSize,
    };

    /// <summary>The suites RdpWire decrypts; null for the rest (CCM, RC4, CAMELLIA, ARIA, export and NULL suites).</summary>
    public static TlsCipherSuiteKeys? For(ushort suite)
    {
        var sha1 = HashAlgorithmName.SHA1;
        var sha256 = HashAlgorithmName.SHA256;
        var sha384 = HashAlgorithmName.SHA384;
        return suite switch
        {
            // TLS 1.3 (RFC 8446 B.4): the hash is the HKDF hash.
            0x1301 => Aead(suite, TlsBulkCipher.AesGcm, 16, sha256, rsa: false), // TLS_AES_128_GCM_SHA256
            0x1302 => Aead(suite, TlsBulkCipher.AesGcm, 32, sha384, rsa: false), // TLS_AES_256_GCM_SHA384
            0x1303 => Aead(suite, TlsBulkCipher.ChaCha20Poly1305, 32, sha256, rsa: false), // TLS_CHACHA20_POLY1305_SHA256
            // RFC 5288 / RFC 5289 GCM; 0x009C/0x009D are TLS_RSA_WITH_AES_*_GCM.
            0x009C => Aead(suite, TlsBulkCipher.AesGcm, 16, sha256, rsa: true),
            0x009D => Aead(suite, TlsBulkCipher.AesGcm, 32, sha384, rsa: true),
            0x009E or 0xC02B or 0xC02F or 0x00A8 or 0x00AA => Aead(suite, TlsBulkCipher.AesGcm, 16, sha256, rsa: false),
            0x009F or 0xC02C or 0xC030 or 0x00A9 or 0x00AB => Aead(suite, TlsBulkCipher.AesGcm, 32, sha384, rsa: false),
            // RFC 7905 ChaCha20-Poly1305.
            0xCCA8 or 0xCCA9 or 0xCCAA or 0xCCAB or 0xCCAC or 0xCCAD or 0xCCAE => Aead(suite, TlsBulkCipher.ChaCha20Poly1305, 32, sha256, rsa: false),
            // RFC 5246 Appendix C, RFC 3268, RFC 4492, RFC 5289: CBC with HMAC.
            0x000A => Cbc(suite, TlsBulkCipher.TripleDesCbc, 24, sha1, sha256, rsa: true), // TLS_RSA_WITH_3DES_EDE_CBC_SHA
            0x0016 or 0xC008 or 0xC012 => Cbc(suite, TlsBulkCipher.TripleDesCbc, 24, sha1, sha256, rsa: false),
            0x002F => Cbc(suite, TlsBulkCipher.AesCbc, 16, sha1, sha256, rsa: true), // TLS_RSA_WITH_AES_128_CBC_SHA
            0x0035 => Cbc(suite, TlsBulkCipher.AesCbc, 32, sha1, sha256, rsa: true), // TLS_RSA_WITH_AES_256_CBC_SHA
            0x003C => Cbc(suite, TlsBulkCipher.AesCbc, 16, sha256, sha256, rsa: true), // TLS_RSA_WITH_AES_128_CBC_SHA256
            0x003D => Cbc(suite, TlsBulkCipher.AesCbc, 32, sha256, sha256, rsa: true), // TLS_RSA_WITH_AES_256_CBC_SHA256
            0x0033 or 0xC009 or 0xC013 => Cbc(suite, TlsBulkCipher.AesCbc, 16, sha1, sha256, rsa: false),
            0x0039 or 0xC00A or 0xC014 => Cbc(suite, TlsBulkCipher.AesCbc, 32, sha1, sha256, rsa: false),
            0x0067 or 0xC023 or 0xC027 => Cbc(suite, TlsBulkCipher.AesCbc, 16, sha256, sha256, rsa: false),
            0x006B => Cbc(suite, TlsBulkCipher.AesCbc, 32, sha256, sha256, rsa: false), // TLS_DHE_RSA_WITH_AES_256_CBC_SHA256
            0xC024 or 0xC028 => Cbc(suite, TlsBulkCipher.AesCbc, 32, sha384, sha384, rsa: false),
            _ => null,
        };
    }

    private static TlsCipherSuiteKeys Aead(ushort suite, TlsBulkCipher cipher, int keyLength, HashAlgorithmName prf, bool rsa) =>
        new(suite, cipher, keyLength, NoMac, prf, rsa);

    private static TlsCipherSuiteKeys Cbc(ushort suite, TlsBulkCipher cipher, int keyLength, HashAlgorithmName mac, HashAlgorithmName prf, bool rsa) =>
        new(suite, cipher, keyLength, mac, prf, rsa);
}
