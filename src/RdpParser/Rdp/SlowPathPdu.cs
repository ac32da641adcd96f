using System.Buffers.Binary;

namespace RdpWire.RdpParser.Rdp;

/// <summary>What an MCS Send Data PDU carries, as far as the connection sequence needs to know.</summary>
public enum RdpPduKind : byte
{
    Unknown,
    /// <summary>Standard RDP Security ciphertext (SEC_ENCRYPT): content hidden.</summary>
    Encrypted,
    /// <summary>MS-RDPBCGR 2.2.1.10 Security Exchange PDU (SEC_EXCHANGE_PKT).</summary>
    SecurityExchange,
    /// <summary>2.2.1.11 Client Info PDU (SEC_INFO_PKT).</summary>
    ClientInfo,
    /// <summary>2.2.1.12 licensing (SEC_LICENSE_PKT); <see cref="RdpPdu.Value"/> carries bMsgType.</summary>
    Licensing,
    /// <summary>MS-RDPELE 2.2.2.7.1 / MS-RDPBCGR 2.2.1.12.1.3 license ERROR_ALERT; Value = dwErrorCode.</summary>
    LicenseErrorAlert,
    AutoDetect,
    MultitransportRequest,
    Heartbeat,
    /// <summary>2.2.1.13.1 Demand Active (server) and 2.2.1.13.2 Confirm Active (client).</summary>
    DemandActive,
    ConfirmActive,
    DeactivateAll,
    ServerRedirection,
    /// <summary>2.2.1.14–2.2.1.22 connection finalization data PDUs.</summary>
    Synchronize,
    Control,
    FontList,
    FontMap,
    PersistentKeyList,
    /// <summary>2.2.5.1 Set Error Info PDU; Value = errorInfo.</summary>
    SetErrorInfo,
    SaveSessionInfo,
    OtherData,
}

/// <summary>One classified slow-path PDU: its kind and the value that matters for it.</summary>
public readonly record struct RdpPdu(RdpPduKind Kind, uint? Value)
{
    /// <summary>The Client Info PDU's TS_INFO_PACKET, when it could be read (TLS plaintext, or Standard RDP Security without SEC_ENCRYPT).</summary>
    public ClientInfoPacket? ClientInfo { get; init; }

    /// <summary>The MCS channel the PDU travelled on (T.125 SendDataRequest/Indication channelId).</summary>
    public ushort? ChannelId { get; init; }
}

/// <summary>
/// Classifies the RDP PDU inside an MCS Send Data Request/Indication (T.125 11.32/11.33,
/// MS-RDPBCGR 2.2.1.10–2.2.1.22, 2.2.5.1). With TLS the PDUs are plaintext inside TLS; with
/// Standard RDP Security only the security header flags are in the clear.
/// </summary>
public static class SlowPathPdu
{
    // MS-RDPBCGR 2.2.8.1.1.2.1 Basic Security Header flags.
    private const ushort SecExchangePkt = 0x0001;
    private const ushort SecTransportReq = 0x0002;
    private const ushort SecEncrypt = 0x0008;
    private const ushort SecInfoPkt = 0x0040;
    private const ushort SecLicensePkt = 0x0080;
    private const ushort SecAutodetectReq = 0x1000;
    private const ushort SecAutodetectRsp = 0x2000;
    private const ushort SecHeartbeat = 0x4000;

    // MS-RDPBCGR 2.2.8.1.1.1.1 Share Control Header pduType; 2.2.8.1.1.1.2 pduType2.
    private const int PduTypeDemandActive = 1;
    private const int PduTypeConfirmActive = 3;
    private const int PduTypeDeactivateAll = 6;
    private const int PduTypeData = 7;
    private const int PduTypeServerRedirect = 10;
    private const byte Pdu2Control = 20;
    private const byte Pdu2Synchronize = 31;
    private const byte Pdu2SaveSessionInfo = 38;
    private const byte Pdu2FontList = 39;
    private const byte Pdu2FontMap = 40;
    private const byte Pdu2BitmapCachePersistentList = 43;
    private const byte Pdu2SetErrorInfo = 47;

    private const byte LicenseErrorAlert = 0xFF;

    /// <summary>The user data of an MCS Send Data PDU (PER: choice, initiator, channelId, priority, length).</summary>
    public static bool TryGetUserData(ReadOnlySpan<byte> mcs, out ReadOnlySpan<byte> userData)
    {
        userData = default;
        if (mcs.Length < 7)
        {
            return false;
        }
        int p = 6;
        int length;
        if ((mcs[p] & 0x80) == 0)
        {
            length = mcs[p];
            p += 1;
        }
        else
        {
            length = ((mcs[p] & 0x3F) << 8) | (p + 1 < mcs.Length ? mcs[p + 1] : 0);
            p += 2;
        }
        if (p > mcs.Length)
        {
            return false;
        }
        userData = mcs.Slice(p, Math.Min(length, mcs.Length - p));
        return true;
    }

    /// <summary>T.125 SendDataRequest/Indication: choice (1), initiator (2), channelId (2), PER-encoded.</summary>
    public static ushort? ChannelId(ReadOnlySpan<byte> mcs) =>
        mcs.Length >= 5 ? BinaryPrimitives.ReadUInt16BigEndian(mcs[3..]) : null;

    /// <summary>
    /// What the user data of a Send Data PDU on the I/O or message channel is. Static virtual
    /// channels carry a CHANNEL_PDU_HEADER instead of a security header (MS-RDPBCGR 2.2.6.1); the
    /// caller, which knows the channel IDs from the MCS Connect Response, must not classify those.
    /// </summary>
    public static RdpPdu Classify(ReadOnlySpan<byte> userData)
    {
        if (userData.Length < 4)
        {
            return new(RdpPduKind.Unknown, null);
        }
        ushort first = BinaryPrimitives.ReadUInt16LittleEndian(userData);
        // A Share Control Header starts with its totalLength: the length of the whole PDU.
        if (first == userData.Length && userData.Length >= 6)
        {
            return ClassifyShareControl(userData);
        }
        ushort flags = first;
        if ((flags & SecExchangePkt) != 0)
        {
            return new(RdpPduKind.SecurityExchange, null);
        }
        if ((flags & SecInfoPkt) != 0)
        {
            // 2.2.1.11.1: TS_INFO_PACKET follows the 4-byte Basic Security Header unless it is encrypted.
            ClientInfoPacket? info = null;
            if ((flags & SecEncrypt) == 0 && ClientInfoPacket.TryParse(userData[4..], out var parsed))
            {
                info = parsed;
            }
            return new(RdpPduKind.ClientInfo, null) { ClientInfo = info };
        }
        if ((flags & SecLicensePkt) != 0)
        {
            // Licensing PDUs are sent without SEC_ENCRYPT (2.2.1.12): preamble after the 4-byte header.
            if ((flags & SecEncrypt) == 0 && userData.Length >= 8)
            {
                byte msgType = userData[4];
                if (msgType == LicenseErrorAlert && userData.Length >= 12)
                {
                    return new(RdpPduKind.LicenseErrorAlert, BinaryPrimitives.ReadUInt32LittleEndian(userData[8..]));
                }
                return new(RdpPduKind.Licensing, msgType);
            }
            return new(RdpPduKind.Licensing, null);
        }
        if ((flags & (SecAutodetectReq | SecAutodetectRsp)) != 0)
        {
            return new(RdpPduKind.AutoDetect, null);
        }
        if ((flags & SecTransportReq) != 0)
        {
            return new(RdpPduKind.MultitransportRequest, null);
        }
        if ((flags & SecHeartbeat) != 0)
        {
            return new(RdpPduKind.Heartbeat, null);
        }
        if ((flags & SecEncrypt) != 0)
        {
            return new(RdpPduKind.Encrypted, null);
        }
        return new(RdpPduKind.Unknown, null);
    }

    private static RdpPdu ClassifyShareControl(ReadOnlySpan<byte> pdu)
    {
        int type = BinaryPrimitives.ReadUInt16LittleEndian(pdu[2..]) & 0x0F;
        switch (type)
        {
            case PduTypeDemandActive: return new(RdpPduKind.DemandActive, null);
            case PduTypeConfirmActive: return new(RdpPduKind.ConfirmActive, null);
            case PduTypeDeactivateAll: return new(RdpPduKind.DeactivateAll, null);
            case PduTypeServerRedirect: return new(RdpPduKind.ServerRedirection, null);
            case PduTypeData when pdu.Length >= 18:
                // Share Data Header: shareId(4) pad1(1) streamId(1) uncompressedLength(2) pduType2(1) ...
                byte pduType2 = pdu[14];
                return pduType2 switch
                {
                    Pdu2SetErrorInfo when pdu.Length >= 22 => new(RdpPduKind.SetErrorInfo, BinaryPrimitives.ReadUInt32LittleEndian(pdu[18..])),
                    Pdu2Synchronize => new(RdpPduKind.Synchronize, null),
                    Pdu2Control => new(RdpPduKind.Control, null),
                    Pdu2FontList => new(RdpPduKind.FontList, null),
                    Pdu2FontMap => new(RdpPduKind.FontMap, null),
                    Pdu2BitmapCachePersistentList => new(RdpPduKind.PersistentKeyList, null),
                    Pdu2SaveSessionInfo => new(RdpPduKind.SaveSessionInfo, null),
                    _ => new(RdpPduKind.OtherData, pduType2),
                };
            default:
                return new(RdpPduKind.Unknown, null);
        }
    }

    /// <summary>MS-RDPBCGR 2.2.1.12.1.3 / MS-RDPELE 2.2.2.7.1 license error codes.</summary>
    public static string LicenseErrorName(uint code) => code switch
    {
        0x01 => "ERR_INVALID_SERVER_CERTIFICATE",
        0x02 => "ERR_NO_LICENSE",
        0x03 => "ERR_INVALID_MAC",
        0x04 => "ERR_INVALID_SCOPE",
        0x06 => "ERR_NO_LICENSE_SERVER",
        0x07 => "STATUS_VALID_CLIENT",
        0x08 => "ERR_INVALID_CLIENT",
        0x0B => "ERR_INVALID_PRODUCTID",
        0x0C => "ERR_INVALID_MESSAGE_LEN",
        _ => $"0x{code:X8}",
    };

    public const uint StatusValidClient = 0x07;
}
