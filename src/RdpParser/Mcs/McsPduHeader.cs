namespace RdpWire.RdpParser.Mcs;

/// <summary>
/// What kind of T.125 MCS PDU an X.224 Data TPDU carries. Connect-Initial/Response are BER
/// application tags 101/102 (T.125 7, part 2: 0x7F 0x65 / 0x7F 0x66); the domain PDUs are
/// PER-encoded DomainMCSPDU choices (T.125 7, part 10), the choice index in the first 6 bits.
/// </summary>
public enum McsPduKind : byte
{
    Unknown,
    ConnectInitial,
    ConnectResponse,
    ErectDomainRequest,
    DisconnectProviderUltimatum,
    AttachUserRequest,
    AttachUserConfirm,
    ChannelJoinRequest,
    ChannelJoinConfirm,
    SendDataRequest,
    SendDataIndication,
}

/// <summary>T.125 7 part 3 Reason, carried by Disconnect-Provider-Ultimatum.</summary>
public enum McsDisconnectReason : byte
{
    DomainDisconnected = 0,
    ProviderInitiated = 1,
    TokenPurged = 2,
    UserRequested = 3,
    ChannelPurged = 4,
}

/// <summary>The kind of an MCS PDU and, for Disconnect-Provider-Ultimatum, its reason.</summary>
public readonly record struct McsPduHeader(McsPduKind Kind, McsDisconnectReason? Reason)
{
    // DomainMCSPDU CHOICE indices (T.125 7, part 10; MS-RDPBCGR 2.2.1.5-2.2.1.9, 2.2.2.3).
    private const int ErectDomainRequestChoice = 1;
    private const int DisconnectProviderUltimatumChoice = 8;
    private const int AttachUserRequestChoice = 10;
    private const int AttachUserConfirmChoice = 11;
    private const int ChannelJoinRequestChoice = 14;
    private const int ChannelJoinConfirmChoice = 15;
    private const int SendDataRequestChoice = 25;
    private const int SendDataIndicationChoice = 26;

    /// <summary>Classifies the MCS PDU at the start of an X.224 Data TPDU's user data.</summary>
    public static McsPduHeader Classify(ReadOnlySpan<byte> userData)
    {
        if (userData.Length == 0)
        {
            return new(McsPduKind.Unknown, null);
        }
        if (userData[0] == 0x7F && userData.Length >= 2)
        {
            return userData[1] switch
            {
                0x65 => new(McsPduKind.ConnectInitial, null),
                0x66 => new(McsPduKind.ConnectResponse, null),
                _ => new(McsPduKind.Unknown, null),
            };
        }
        int choice = userData[0] >> 2;
        switch (choice)
        {
            case DisconnectProviderUltimatumChoice:
                // The 3-bit reason follows the 6-bit choice: 2 bits in this octet, 1 in the next.
                if (userData.Length < 2)
                {
                    return new(McsPduKind.DisconnectProviderUltimatum, null);
                }
                int reason = ((userData[0] & 0x03) << 1) | (userData[1] >> 7);
                return new(McsPduKind.DisconnectProviderUltimatum, (McsDisconnectReason)reason);
            case ErectDomainRequestChoice: return new(McsPduKind.ErectDomainRequest, null);
            case AttachUserRequestChoice: return new(McsPduKind.AttachUserRequest, null);
            case AttachUserConfirmChoice: return new(McsPduKind.AttachUserConfirm, null);
            case ChannelJoinRequestChoice: return new(McsPduKind.ChannelJoinRequest, null);
            case ChannelJoinConfirmChoice: return new(McsPduKind.ChannelJoinConfirm, null);
            case SendDataRequestChoice: return new(McsPduKind.SendDataRequest, null);
            case SendDataIndicationChoice: return new(McsPduKind.SendDataIndication, null);
            default: return new(McsPduKind.Unknown, null);
        }
    }

    public static string ReasonName(McsDisconnectReason reason) => reason switch
    {
        McsDisconnectReason.DomainDisconnected => "rn-domain-disconnected",
        McsDisconnectReason.ProviderInitiated => "rn-provider-initiated",
        McsDisconnectReason.TokenPurged => "rn-token-purged",
        McsDisconnectReason.UserRequested => "rn-user-requested",
        McsDisconnectReason.ChannelPurged => "rn-channel-purged",
        _ => $"reason {(byte)reason}",
    };
}
