using System.Security.Cryptography;

namespace RdpWire.RdpParser.Tls.Decryption;

/// <summary>
/// Block-cipher records (RFC 5246 6.2.3.2): GenericBlockCipher = IV || E(content || MAC ||
/// padding || padding_length) with MAC = HMAC(seq || type || version || length || content).
/// TLS 1.0 (RFC 2246 6.2.3.2) has no per-record IV: the first comes from the key block and each
/// record continues from the previous record's last ciphertext block. With encrypt_then_mac
/// (RFC 7366 3) the MAC follows the ciphertext and covers IV || ciphertext instead.
/// </summary>
public sealed class TlsCbcRecordDecryptor : TlsRecordDecryptor
{
    private const ushort Tls11 = 0x0302;
    private readonly SymmetricAlgorithm _cipher;
    private readonly IncrementalHash _mac;
    private readonly int _macLength;
    private readonly int _blockSize;
    private readonly bool _explicitIv;
    private readonly bool _encryptThenMac;
    private readonly byte[] _chainedIv;

    public TlsCbcRecordDecryptor(TlsCipherSuiteKeys suite, ushort version, bool encryptThenMac, byte[] key, byte[] macKey, byte[] iv)
    {
        _cipher = suite.Cipher == TlsBulkCipher.TripleDesCbc ? TripleDES.Create() : Aes.Create();
        _cipher.Key = key;
        _mac = IncrementalHash.CreateHMAC(suite.MacHash, macKey);
        _macLength = suite.MacLength;
        _blockSize = suite.BlockSize;
        _explicitIv = version >= Tls11;
        _encryptThenMac = encryptThenMac;
        _chainedIv = iv;
    }

    public override bool TryDecrypt(TlsRecordHeader header, ReadOnlySpan<byte> fragment, Span<byte> plaintext,
        out int plaintextLength, out TlsContentType innerType)
    {
        plaintextLength = 0;
        innerType = header.ContentType;
        Span<byte> macHeader = stackalloc byte[13];
        Span<byte> mac = stackalloc byte[48];
        var protectedPart = fragment;
        if (_encryptThenMac)
        {
            if (fragment.Length < _macLength)
            {
                return false;
            }
            protectedPart = fragment[..^_macLength];
            WriteTls12Header(macHeader, header, protectedPart.Length);
            _mac.AppendData(macHeader);
            _mac.AppendData(protectedPart);
            _mac.GetHashAndReset(mac);
            if (!CryptographicOperations.FixedTimeEquals(mac[.._macLength], fragment[^_macLength..]))
            {
                return false;
            }
        }
        int ivLength = _explicitIv ? _blockSize : 0;
        var ciphertext = protectedPart[ivLength..];
        if (ciphertext.Length == 0 || ciphertext.Length % _blockSize != 0)
        {
            return false;
        }
        ReadOnlySpan<byte> iv = _explicitIv ? protectedPart[..ivLength] : _chainedIv;
        var output = plaintext[..ciphertext.Length];
        _cipher.DecryptCbc(ciphertext, iv, output, PaddingMode.None);
        int padding = output[^1];
        int trailer = padding + 1 + (_encryptThenMac ? 0 : _macLength);
        if (trailer > output.Length)
        {
            return false;
        }
        for (int i = output.Length - padding - 1; i < output.Length; i++)
        {
            if (output[i] != padding)
            {
                return false;
            }
        }
        int contentLength = output.Length - trailer;
        if (!_encryptThenMac)
        {
            WriteTls12Header(macHeader, header, contentLength);
            _mac.AppendData(macHeader);
            _mac.AppendData(output[..contentLength]);
            _mac.GetHashAndReset(mac);
            if (!CryptographicOperations.FixedTimeEquals(mac[.._macLength], output.Slice(contentLength, _macLength)))
            {
                return false;
            }
        }
        if (!_explicitIv)
        {
            ciphertext[^_blockSize..].CopyTo(_chainedIv);
        }
        SequenceNumber++;
        plaintextLength = contentLength;
        return true;
    }

    public override void Dispose()
    {
        _cipher.Dispose();
        _mac.Dispose();
    }
}
