namespace RdpWire.RdpParser.X224;

/// <summary>MS-RDPBCGR 2.2.1.1.1 / 2.2.1.2.1 / 2.2.1.2.2: the rdpNegData type field.</summary>
public enum RdpNegType : byte
{
    /// <summary>TYPE_RDP_NEG_REQ</summary>
    Request = 0x01,
    /// <summary>TYPE_RDP_NEG_RSP</summary>
    Response = 0x02,
    /// <summary>TYPE_RDP_NEG_FAILURE</summary>
    Failure = 0x03,
    /// <summary>TYPE_RDP_CORRELATION_INFO (MS-RDPBCGR 2.2.1.1.2)</summary>
    CorrelationInfo = 0x06,
}

/// <summary>MS-RDPBCGR 2.2.1.1.1 requestedProtocols / 2.2.1.2.1 selectedProtocol.</summary>
[Flags]
public enum SecurityProtocols : uint
{
    /// <summary>PROTOCOL_RDP: Standard RDP Security (section 5.3). Zero: implied when no other bit is set.</summary>
    Rdp = 0x00000000,
    /// <summary>PROTOCOL_SSL: TLS 1.0, 1.1, 1.2 or 1.3 (section 5.4.5.1).</summary>
    Ssl = 0x00000001,
    /// <summary>PROTOCOL_HYBRID: CredSSP (section 5.4.5.2), i.e. Network Level Authentication.</summary>
    Hybrid = 0x00000002,
    /// <summary>PROTOCOL_RDSTLS (section 5.4.5.3).</summary>
    Rdstls = 0x00000004,
    /// <summary>PROTOCOL_HYBRID_EX: CredSSP with the Early User Authorization Result PDU (2.2.10.2).</summary>
    HybridEx = 0x00000008,
    /// <summary>PROTOCOL_RDSAAD: RDS AAD Auth (section 5.4.5.4).</summary>
    Rdsaad = 0x00000010,
}

/// <summary>MS-RDPBCGR 2.2.1.1.1 RDP_NEG_REQ flags.</summary>
[Flags]
public enum NegRequestFlags : byte
{
    None = 0,
    /// <summary>RESTRICTED_ADMIN_MODE_REQUIRED</summary>
    RestrictedAdminModeRequired = 0x01,
    /// <summary>REDIRECTED_AUTHENTICATION_MODE_REQUIRED (Remote Credential Guard)</summary>
    RedirectedAuthenticationModeRequired = 0x02,
    /// <summary>CORRELATION_INFO_PRESENT</summary>
    CorrelationInfoPresent = 0x08,
}

/// <summary>MS-RDPBCGR 2.2.1.2.1 RDP_NEG_RSP flags.</summary>
[Flags]
public enum NegResponseFlags : byte
{
    None = 0,
    /// <summary>EXTENDED_CLIENT_DATA_SUPPORTED</summary>
    ExtendedClientDataSupported = 0x01,
    /// <summary>DYNVC_GFX_PROTOCOL_SUPPORTED</summary>
    DynvcGfxProtocolSupported = 0x02,
    /// <summary>NEGRSP_FLAG_RESERVED</summary>
    NegRspFlagReserved = 0x04,
    /// <summary>RESTRICTED_ADMIN_MODE_SUPPORTED</summary>
    RestrictedAdminModeSupported = 0x08,
    /// <summary>REDIRECTED_AUTHENTICATION_MODE_SUPPORTED</summary>
    RedirectedAuthenticationModeSupported = 0x10,
}

/// <summary>MS-RDPBCGR 2.2.1.2.2 RDP_NEG_FAILURE failureCode.</summary>
public enum NegFailureCode : uint
{
    /// <summary>SSL_REQUIRED_BY_SERVER</summary>
    SslRequiredByServer = 0x00000001,
    /// <summary>SSL_NOT_ALLOWED_BY_SERVER</summary>
    SslNotAllowedByServer = 0x00000002,
    /// <summary>SSL_CERT_NOT_ON_SERVER</summary>
    SslCertNotOnServer = 0x00000003,
    /// <summary>INCONSISTENT_FLAGS</summary>
    InconsistentFlags = 0x00000004,
    /// <summary>HYBRID_REQUIRED_BY_SERVER</summary>
    HybridRequiredByServer = 0x00000005,
    /// <summary>SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER</summary>
    SslWithUserAuthRequiredByServer = 0x00000006,
}

/// <summary>The spec's own spelling of every negotiation constant, for reports.</summary>
public static class RdpNegNames
{
    private static readonly (SecurityProtocols Flag, string Name)[] ProtocolNames =
    [
        (SecurityProtocols.Ssl, "SSL"),
        (SecurityProtocols.Hybrid, "HYBRID"),
        (SecurityProtocols.Rdstls, "RDSTLS"),
        (SecurityProtocols.HybridEx, "HYBRID_EX"),
        (SecurityProtocols.Rdsaad, "RDSAAD"),
    ];

    /// <summary>Names of the bits set, in bit order; ["RDP"] for zero; unknown bits as hex.</summary>
    public static IReadOnlyList<string> Protocols(SecurityProtocols value) =>
        value == SecurityProtocols.Rdp ? ["RDP"] : SpecFlags.Names(value, ProtocolNames, 8);

    /// <summary>The single selected protocol's name ("RDP", "SSL", ...), hex when it is not one value.</summary>
    public static string SelectedProtocol(SecurityProtocols value) => value switch
    {
        SecurityProtocols.Rdp => "RDP",
        SecurityProtocols.Ssl => "SSL",
        SecurityProtocols.Hybrid => "HYBRID",
        SecurityProtocols.Rdstls => "RDSTLS",
        SecurityProtocols.HybridEx => "HYBRID_EX",
        SecurityProtocols.Rdsaad => "RDSAAD",
        _ => $"0x{(uint)value:X8}",
    };

    public static string FailureCode(NegFailureCode code) => code switch
    {
        NegFailureCode.SslRequiredByServer => "SSL_REQUIRED_BY_SERVER",
        NegFailureCode.SslNotAllowedByServer => "SSL_NOT_ALLOWED_BY_SERVER",
        NegFailureCode.SslCertNotOnServer => "SSL_CERT_NOT_ON_SERVER",
        NegFailureCode.InconsistentFlags => "INCONSISTENT_FLAGS",
        NegFailureCode.HybridRequiredByServer => "HYBRID_REQUIRED_BY_SERVER",
        NegFailureCode.SslWithUserAuthRequiredByServer => "SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER",
        _ => $"0x{(uint)code:X8}",
    };

    public static IReadOnlyList<string> RequestFlags(NegRequestFlags flags) => SpecFlags.Names(flags,
    [
        (NegRequestFlags.RestrictedAdminModeRequired, "RESTRICTED_ADMIN_MODE_REQUIRED"),
        (NegRequestFlags.RedirectedAuthenticationModeRequired, "REDIRECTED_AUTHENTICATION_MODE_REQUIRED"),
        (NegRequestFlags.CorrelationInfoPresent, "CORRELATION_INFO_PRESENT"),
    ], 2);

    public static IReadOnlyList<string> ResponseFlags(NegResponseFlags flags) => SpecFlags.Names(flags,
    [
        (NegResponseFlags.ExtendedClientDataSupported, "EXTENDED_CLIENT_DATA_SUPPORTED"),
        (NegResponseFlags.DynvcGfxProtocolSupported, "DYNVC_GFX_PROTOCOL_SUPPORTED"),
        (NegResponseFlags.NegRspFlagReserved, "NEGRSP_FLAG_RESERVED"),
        (NegResponseFlags.RestrictedAdminModeSupported, "RESTRICTED_ADMIN_MODE_SUPPORTED"),
        (NegResponseFlags.RedirectedAuthenticationModeSupported, "REDIRECTED_AUTHENTICATION_MODE_SUPPORTED"),
    ], 2);
}
