namespace RdpWire.RdpParser.X224;

/// <summary>
/// X.224 (ITU-T X.224 / ISO 8073) TPDU codes, upper four bits of the second octet.
/// RDP uses class 0 only: CR, CC, DT, DR and ER (MS-RDPBCGR 2.2.1.1, 2.2.1.2, T.123 section 13).
/// </summary>
public enum X224TpduCode : byte
{
    /// <summary>Connection Request (CR), X.224 13.3.</summary>
    ConnectionRequest = 0xE0,
    /// <summary>Connection Confirm (CC), X.224 13.4.</summary>
    ConnectionConfirm = 0xD0,
    /// <summary>Disconnect Request (DR), X.224 13.5.</summary>
    DisconnectRequest = 0x80,
    /// <summary>Data (DT), X.224 13.7.</summary>
    Data = 0xF0,
    /// <summary>TPDU Error (ER), X.224 13.12.</summary>
    Error = 0x70,
}
