using System.Security.Cryptography;
using System.Text;

namespace RdpWire.RdpParser.Tls.Decryption;

/// <summary>
/// TLS key derivation: the TLS 1.0/1.1 PRF (RFC 2246 5 / RFC 4346 5: P_MD5 XOR P_SHA1 over the
/// halves of the secret), the TLS 1.2 PRF (RFC 5246 5), the master secret from a premaster
/// secret with and without the extended master secret (RFC 5246 8.1, RFC 7627 4), and TLS 1.3's
/// HKDF-Expand-Label (RFC 8446 7.1).
/// </summary>
public static class TlsKeySchedule
{
    public const ushort Tls12 = 0x0303;
    public const int MasterSecretLength = 48;

    /// <summary>Output length of the hashes TLS suites name (MAC, PRF, HKDF); 0 for none.</summary>
    public static int HashLength(HashAlgorithmName hash) => hash.Name switch
    {
        "SHA1" => 20,
        "SHA256" => 32,
        "SHA384" => 48,
        "SHA512" => 64,
        _ => 0,
    };

    /// <summary>PRF(secret, label, seed) for the negotiated version: MD5/SHA-1 below TLS 1.2, the suite's hash from 1.2 on.</summary>
    public static byte[] Prf(ushort version, HashAlgorithmName hash, byte[] secret, string label, ReadOnlySpan<byte> seed, int length)
    {
        byte[] labelSeed = [.. Encoding.ASCII.GetBytes(label), .. seed];
        if (version >= Tls12)
        {
            return PHash(hash, secret, labelSeed, length);
        }
        int half = (secret.Length + 1) / 2;
        byte[] md5 = PHash(HashAlgorithmName.MD5, secret[..half], labelSeed, length);
        byte[] sha1 = PHash(HashAlgorithmName.SHA1, secret[(secret.Length - half)..], labelSeed, length);
        for (int i = 0; i < length; i++)
        {
            md5[i] ^= sha1[i];
        }
        return md5;
    }

    /// <summary>
    /// master_secret = PRF(pre_master_secret, "master secret", ClientHello.random + ServerHello.random),
    /// or with the extended master secret PRF(pre_master_secret, "extended master secret", session_hash).
    /// </summary>
    public static byte[] MasterSecret(ushort version, HashAlgorithmName prfHash, byte[] preMaster,
        ReadOnlySpan<byte> clientRandom, ReadOnlySpan<byte> serverRandom, byte[]? extendedSessionHash)
    {
        return extendedSessionHash is not null
            ? Prf(version, prfHash, preMaster, "extended master secret", extendedSessionHash, MasterSecretLength)
            : Prf(version, prfHash, preMaster, "master secret", [.. clientRandom, .. serverRandom], MasterSecretLength);
    }

    /// <summary>RFC 7627 3: the hash of the handshake messages up to and including ClientKeyExchange (MD5 || SHA-1 below TLS 1.2).</summary>
    public static byte[] SessionHash(ushort version, HashAlgorithmName prfHash, ReadOnlySpan<byte> transcript) =>
        version >= Tls12
            ? (prfHash == HashAlgorithmName.SHA384 ? SHA384.HashData(transcript) : SHA256.HashData(transcript))
            : [.. MD5.HashData(transcript), .. SHA1.HashData(transcript)];

    /// <summary>RFC 8446 7.1 HKDF-Expand-Label with an empty context.</summary>
    public static byte[] ExpandLabel(HashAlgorithmName hash, byte[] secret, string label, int length)
    {
        byte[] fullLabel = Encoding.ASCII.GetBytes("tls13 " + label);
        byte[] info = [(byte)(length >> 8), (byte)length, (byte)fullLabel.Length, .. fullLabel, 0];
        return HKDF.Expand(hash, secret, length, info);
    }

    /// <summary>RFC 5246 5: P_hash(secret, seed) = HMAC(secret, A(1) + seed) + HMAC(secret, A(2) + seed) + ...</summary>
    private static byte[] PHash(HashAlgorithmName hash, byte[] secret, byte[] seed, int length)
    {
        var output = new byte[length];
        using var hmac = IncrementalHash.CreateHMAC(hash, secret);
        hmac.AppendData(seed);
        byte[] a = hmac.GetHashAndReset();
        int written = 0;
        while (written < length)
        {
            hmac.AppendData(a);
            hmac.AppendData(seed);
            byte[] chunk = hmac.GetHashAndReset();
            int n = Math.Min(chunk.Length, length - written);
            chunk.AsSpan(0, n).CopyTo(output.AsSpan(written));
            written += n;
            hmac.AppendData(a);
            a = hmac.GetHashAndReset();
        }
        return output;
    }
}
