using System.Buffers.Binary;

namespace RdpWire.RdpParser.Gcc;

/// <summary>MS-RDPBCGR 2.2.1.4.3 encryptionLevel.</summary>
public enum EncryptionLevel : uint
{
    /// <summary>ENCRYPTION_LEVEL_NONE</summary>
    None = 0,
    /// <summary>ENCRYPTION_LEVEL_LOW</summary>
    Low = 1,
    /// <summary>ENCRYPTION_LEVEL_CLIENT_COMPATIBLE</summary>
    ClientCompatible = 2,
    /// <summary>ENCRYPTION_LEVEL_HIGH</summary>
    High = 3,
    /// <summary>ENCRYPTION_LEVEL_FIPS</summary>
    Fips = 4,
}

/// <summary>
/// MS-RDPBCGR 2.2.1.4.3.1 SERVER_CERTIFICATE: a proprietary certificate (2.2.1.4.3.1.1, with
/// its RSA_PUBLIC_KEY 2.2.1.4.3.1.1.1) or an X.509 chain (MS-RDPELE 2.2.1.4.2).
/// </summary>
public sealed class ServerCertificate
{
    /// <summary>CERT_CHAIN_VERSION_1 (proprietary) or CERT_CHAIN_VERSION_2 (X.509).</summary>
    public uint ChainVersion { get; init; }
    /// <summary>The t bit of dwVersion: 0 permanently issued, 1 temporary.</summary>
    public bool Temporary { get; init; }
    public int? RsaKeyBits { get; init; }
    public uint? RsaExponent { get; init; }
    /// <summary>The DER certificates of an X.509 chain (root first, the server's last, per MS-RDPELE).</summary>
    public List<byte[]> X509Chain { get; } = [];
    public string Type => ChainVersion switch { 1 => "proprietary", 2 => "x509", _ => $"version {ChainVersion}" };
    public int Count => ChainVersion == 2 ? X509Chain.Count : 1;
}

/// <summary>The server's GCC data blocks (MS-RDPBCGR 2.2.1.4.2–2.2.1.4.4).</summary>
public sealed class ServerDataBlocks
{
    private const uint RsaMagic = 0x31415352; // "RSA1"
    private const int MaxCertificates = 16;

    public uint? Version { get; private set; }
    public uint? ClientRequestedProtocols { get; private set; }
    public EncryptionMethods? EncryptionMethod { get; private set; }
    public EncryptionLevel? EncryptionLevel { get; private set; }
    public ServerCertificate? Certificate { get; private set; }
    public ushort? IoChannelId { get; private set; }
    public List<ushort> ChannelIds { get; } = [];
    public List<ushort> BlockTypes { get; } = [];
    public List<string> Problems { get; } = [];

    public static ServerDataBlocks Parse(ReadOnlySpan<byte> blocks)
    {
        var result = new ServerDataBlocks();
        foreach (var (type, body) in DataBlocks.Enumerate(blocks, result.Problems))
        {
            result.BlockTypes.Add(type);
            var b = body.AsSpan();
            switch ((UserDataBlockType)type)
            {
                case UserDataBlockType.ScCore when b.Length >= 4:
                    result.Version = BinaryPrimitives.ReadUInt32LittleEndian(b);
                    if (b.Length >= 8)
                    {
                        result.ClientRequestedProtocols = BinaryPrimitives.ReadUInt32LittleEndian(b[4..]);
                    }
                    break;
                case UserDataBlockType.ScSecurity when b.Length >= 8:
                    result.ReadSecurity(b);
                    break;
                case UserDataBlockType.ScNet when b.Length >= 4:
                    result.IoChannelId = BinaryPrimitives.ReadUInt16LittleEndian(b);
                    int count = BinaryPrimitives.ReadUInt16LittleEndian(b[2..]);
                    for (int i = 0; i < count && 4 + 2 * i + 2 <= b.Length; i++)
                    {
                        result.ChannelIds.Add(BinaryPrimitives.ReadUInt16LittleEndian(b[(4 + 2 * i)..]));
                    }
                    break;
            }
        }
        return result;
    }

    /// <summary>2.2.1.4.3 TS_UD_SC_SEC1: method, level, then (when encrypting) random and certificate.</summary>
    private void ReadSecurity(ReadOnlySpan<byte> b)
    {
        EncryptionMethod = (EncryptionMethods)BinaryPrimitives.ReadUInt32LittleEndian(b);
        EncryptionLevel = (EncryptionLevel)BinaryPrimitives.ReadUInt32LittleEndian(b[4..]);
        if (b.Length < 16)
        {
            return;
        }
        uint randomLength = BinaryPrimitives.ReadUInt32LittleEndian(b[8..]);
        uint certLength = BinaryPrimitives.ReadUInt32LittleEndian(b[12..]);
        long certStart = 16L + randomLength;
        if (certStart + certLength > b.Length || certLength < 4)
        {
            if (certLength > 0)
            {
                Problems.Add($"server certificate of {certLength} bytes does not fit the SC_SECURITY block");
            }
            return;
        }
        Certificate = ReadCertificate(b.Slice((int)certStart, (int)certLength));
    }

    private ServerCertificate ReadCertificate(ReadOnlySpan<byte> c)
    {
        uint dwVersion = BinaryPrimitives.ReadUInt32LittleEndian(c);
        uint chainVersion = dwVersion & 0x7FFFFFFF;
        bool temporary = (dwVersion & 0x80000000) != 0;
        var data = c[4..];
        if (chainVersion == 1)
        {
            // 2.2.1.4.3.1.1: dwSigAlgId, dwKeyAlgId, wPublicKeyBlobType (BB_RSA_KEY_BLOB 6), wPublicKeyBlobLen, blob.
            if (data.Length >= 12)
            {
                int blobLength = BinaryPrimitives.ReadUInt16LittleEndian(data[10..]);
                var blob = data[12..];
                if (blobLength <= blob.Length && blobLength >= 20 && BinaryPrimitives.ReadUInt32LittleEndian(blob) == RsaMagic)
                {
                    // RSA_PUBLIC_KEY: magic, keylen, bitlen, datalen, pubExp, modulus.
                    return new ServerCertificate
                    {
                        ChainVersion = 1,
                        Temporary = temporary,
                        RsaKeyBits = (int)BinaryPrimitives.ReadUInt32LittleEndian(blob[8..]),
                        RsaExponent = BinaryPrimitives.ReadUInt32LittleEndian(blob[16..]),
                    };
                }
            }
            Problems.Add("proprietary server certificate has no readable RSA1 public key");
            return new ServerCertificate { ChainVersion = 1, Temporary = temporary };
        }
        var chain = new ServerCertificate { ChainVersion = chainVersion, Temporary = temporary };
        if (chainVersion == 2 && data.Length >= 4)
        {
            uint count = BinaryPrimitives.ReadUInt32LittleEndian(data);
            var rest = data[4..];
            for (uint i = 0; i < count && i < MaxCertificates && rest.Length >= 4; i++)
            {
                int length = (int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(rest), int.MaxValue);
                if (length > rest.Length - 4)
                {
                    Problems.Add($"X.509 certificate {i + 1} of the server chain is cut short");
                    break;
                }
                chain.X509Chain.Add(rest.Slice(4, length).ToArray());
                rest = rest[(4 + length)..];
            }
        }
        return chain;
    }
}

/// <summary>The spec's names for encryption methods and levels, and for well-known client builds and keyboards.</summary>
public static class GccNames
{
    public static IReadOnlyList<string> Methods(EncryptionMethods m) => m == EncryptionMethods.None ? ["NONE"] : SpecFlags.Names(m,
    [
        (EncryptionMethods.Bits40, "40BIT"),
        (EncryptionMethods.Bits56, "56BIT"),
        (EncryptionMethods.Bits128, "128BIT"),
        (EncryptionMethods.Fips, "FIPS"),
    ], 8);

    public static string Level(EncryptionLevel level) => level switch
    {
        EncryptionLevel.None => "NONE",
        EncryptionLevel.Low => "LOW",
        EncryptionLevel.ClientCompatible => "CLIENT_COMPATIBLE",
        EncryptionLevel.High => "HIGH",
        EncryptionLevel.Fips => "FIPS",
        _ => $"0x{(uint)level:X8}",
    };

    /// <summary>The RDP client generation a clientBuild number belongs to (Windows build numbers).</summary>
    public static string? ClientBuildName(uint build) => build switch
    {
        2195 => "RDP 5.0",
        2600 => "RDP 5.1",
        3790 => "RDP 5.2",
        6000 => "RDP 6.0",
        6001 => "RDP 6.1",
        6002 => "RDP 6.2",
        7600 => "RDP 7.0",
        7601 => "RDP 7.1",
        9200 => "RDP 8.0",
        9600 => "RDP 8.1",
        >= 10240 and < 30000 => "RDP 10",
        _ => null,
    };

    /// <summary>Names of the most common keyboard layouts (Windows KLIDs), else hex.</summary>
    public static string KeyboardLayout(uint klid) => (klid & 0xFFFF) switch
    {
        0x0409 => "English - United States",
        0x0809 => "English - United Kingdom",
        0x1009 => "English - Canada",
        0x0C09 => "English - Australia",
        0x0407 => "German - Germany",
        0x0807 => "German - Switzerland",
        0x040C => "French - France",
        0x080C => "French - Belgium",
        0x0C0C => "French - Canada",
        0x100C => "French - Switzerland",
        0x0410 => "Italian - Italy",
        0x0C0A => "Spanish - Spain",
        0x080A => "Spanish - Mexico",
        0x0416 => "Portuguese - Brazil",
        0x0816 => "Portuguese - Portugal",
        0x0413 => "Dutch - Netherlands",
        0x0813 => "Dutch - Belgium",
        0x041D => "Swedish - Sweden",
        0x0414 => "Norwegian (Bokmal) - Norway",
        0x0406 => "Danish - Denmark",
        0x040B => "Finnish - Finland",
        0x0415 => "Polish - Poland",
        0x0405 => "Czech - Czech Republic",
        0x040E => "Hungarian - Hungary",
        0x0419 => "Russian - Russia",
        0x0422 => "Ukrainian - Ukraine",
        0x041F => "Turkish - Turkey",
        0x0408 => "Greek - Greece",
        0x040D => "Hebrew - Israel",
        0x0401 => "Arabic - Saudi Arabia",
        0x0411 => "Japanese - Japan",
        0x0412 => "Korean - Korea",
        0x0804 => "Chinese - PRC",
        0x0404 => "Chinese - Taiwan",
        _ => $"0x{klid:X8}",
    };
}
