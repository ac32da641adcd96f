using System.Buffers.Binary;
using System.Text;

namespace RdpWire.RdpParser.Gcc;

/// <summary>MS-RDPBCGR 2.2.1.3.1 User Data Header types (client and server blocks).</summary>
public enum UserDataBlockType : ushort
{
    CsCore = 0xC001,
    CsSecurity = 0xC002,
    CsNet = 0xC003,
    CsCluster = 0xC004,
    CsMonitor = 0xC005,
    CsMcsMsgChannel = 0xC006,
    CsMonitorEx = 0xC008,
    CsMultitransport = 0xC00A,
    ScCore = 0x0C01,
    ScSecurity = 0x0C02,
    ScNet = 0x0C03,
    ScMcsMsgChannel = 0x0C04,
    ScMultitransport = 0x0C08,
}

/// <summary>MS-RDPBCGR 2.2.1.3.3 encryptionMethods / 2.2.1.4.3 encryptionMethod.</summary>
[Flags]
public enum EncryptionMethods : uint
{
    None = 0,
    /// <summary>ENCRYPTION_METHOD_40BIT</summary>
    Bits40 = 0x00000001,
    /// <summary>ENCRYPTION_METHOD_128BIT</summary>
    Bits128 = 0x00000002,
    /// <summary>ENCRYPTION_METHOD_56BIT</summary>
    Bits56 = 0x00000008,
    /// <summary>ENCRYPTION_METHOD_FIPS</summary>
    Fips = 0x00000010,
}

/// <summary>One static virtual channel the client asks for (MS-RDPBCGR 2.2.1.3.4.1 CHANNEL_DEF).</summary>
public readonly record struct ChannelDefinition(string Name, uint Options);

/// <summary>The client's GCC data blocks (MS-RDPBCGR 2.2.1.3.2–2.2.1.3.5) as far as they are present.</summary>
public sealed class ClientDataBlocks
{
    /// <summary>RNS_UD_CS_WANT_32BPP_SESSION (2.2.1.3.2 earlyCapabilityFlags).</summary>
    private const ushort Want32BppSession = 0x0002;
    /// <summary>RNS_UD_CS_SUPPORT_ERRINFO_PDU: the server may send a Set Error Info PDU before disconnecting.</summary>
    public const ushort SupportErrInfoPdu = 0x0001;

    public uint? Version { get; private set; }
    public ushort? DesktopWidth { get; private set; }
    public ushort? DesktopHeight { get; private set; }
    public uint? KeyboardLayout { get; private set; }
    public uint? ClientBuild { get; private set; }
    public string? ClientName { get; private set; }
    public ushort? HighColorDepth { get; private set; }
    public ushort? EarlyCapabilityFlags { get; private set; }
    public uint? ServerSelectedProtocol { get; private set; }
    public EncryptionMethods? EncryptionMethods { get; private set; }
    public List<ChannelDefinition> Channels { get; } = [];
    public List<ushort> BlockTypes { get; } = [];
    public List<string> Problems { get; } = [];

    /// <summary>Colour depth the client asks for, in bits per pixel (32 when it wants a 32-bpp session).</summary>
    public int? ColorDepth =>
        EarlyCapabilityFlags is ushort f && (f & Want32BppSession) != 0 ? 32 : HighColorDepth;

    public static ClientDataBlocks Parse(ReadOnlySpan<byte> blocks)
    {
        var result = new ClientDataBlocks();
        foreach (var (type, body) in DataBlocks.Enumerate(blocks, result.Problems))
        {
            result.BlockTypes.Add(type);
            switch ((UserDataBlockType)type)
            {
                case UserDataBlockType.CsCore:
                    result.ReadCore(body);
                    break;
                case UserDataBlockType.CsSecurity when body.Length >= 4:
                    result.EncryptionMethods = (EncryptionMethods)BinaryPrimitives.ReadUInt32LittleEndian(body);
                    break;
                case UserDataBlockType.CsNet when body.Length >= 4:
                    uint count = BinaryPrimitives.ReadUInt32LittleEndian(body);
                    var defs = body[4..];
                    // 2.2.1.3.4: at most 31 static channels; each CHANNEL_DEF is 12 bytes.
                    for (int i = 0; i < Math.Min(count, 31u) && defs.Length >= 12; i++, defs = defs[12..])
                    {
                        string name = Encoding.ASCII.GetString(defs[..8]).TrimEnd('\0');
                        result.Channels.Add(new ChannelDefinition(name, BinaryPrimitives.ReadUInt32LittleEndian(defs[8..])));
                    }
                    break;
            }
        }
        return result;
    }

    /// <summary>2.2.1.3.2 TS_UD_CS_CORE; every field after imeFileName is optional.</summary>
    private void ReadCore(ReadOnlySpan<byte> b)
    {
        if (b.Length < 128)
        {
            Problems.Add($"CS_CORE is {b.Length} bytes, shorter than its 128 mandatory bytes");
            return;
        }
        Version = BinaryPrimitives.ReadUInt32LittleEndian(b);
        DesktopWidth = BinaryPrimitives.ReadUInt16LittleEndian(b[4..]);
        DesktopHeight = BinaryPrimitives.ReadUInt16LittleEndian(b[6..]);
        KeyboardLayout = BinaryPrimitives.ReadUInt32LittleEndian(b[12..]);
        ClientBuild = BinaryPrimitives.ReadUInt32LittleEndian(b[16..]);
        ClientName = Utf16Z(b.Slice(20, 32));
        // postBeta2ColorDepth at 128, clientProductId 130, serialNumber 132, highColorDepth 136,
        // supportedColorDepths 138, earlyCapabilityFlags 140, clientDigProductId 142 (64),
        // connectionType 206, pad1octet 207, serverSelectedProtocol 208.
        if (b.Length >= 138)
        {
            HighColorDepth = BinaryPrimitives.ReadUInt16LittleEndian(b[136..]);
        }
        if (b.Length >= 142)
        {
            EarlyCapabilityFlags = BinaryPrimitives.ReadUInt16LittleEndian(b[140..]);
        }
        if (b.Length >= 212)
        {
            ServerSelectedProtocol = BinaryPrimitives.ReadUInt32LittleEndian(b[208..]);
        }
    }

    private static string Utf16Z(ReadOnlySpan<byte> bytes)
    {
        string s = Encoding.Unicode.GetString(bytes);
        int nul = s.IndexOf('\0', StringComparison.Ordinal);
        return nul < 0 ? s : s[..nul];
    }
}

/// <summary>Walks concatenated TS_UD_HEADER blocks (type u16, length u16 incl. the header), bounded.</summary>
internal static class DataBlocks
{
    public const int MaxBlocks = 64;

    public static List<(ushort Type, byte[] Body)> Enumerate(ReadOnlySpan<byte> blocks, List<string> problems)
    {
        var list = new List<(ushort, byte[])>();
        while (blocks.Length >= 4 && list.Count < MaxBlocks)
        {
            ushort type = BinaryPrimitives.ReadUInt16LittleEndian(blocks);
            ushort length = BinaryPrimitives.ReadUInt16LittleEndian(blocks[2..]);
            if (length < 4 || length > blocks.Length)
            {
                problems.Add($"data block 0x{type:X4} claims {length} bytes, {blocks.Length} remain");
                break;
            }
            list.Add((type, blocks[4..length].ToArray()));
            blocks = blocks[length..];
        }
        return list;
    }
}
