namespace RdpWire.RdpParser.CredSsp;

/// <summary>
/// Names and meanings of the NTSTATUS values a CredSSP server puts in TSRequest.errorCode
/// (MS-CSSP 2.2.1, versions 3, 4 and 6). Values are from [MS-ERREF] 2.3.1 "NTSTATUS Values",
/// checked against two public copies of the Windows SDK list (FreeRDP winpr <c>nt.h</c> as cited by
/// rdp-failure-reference.md 5.3, and DRAKVUF's full <c>ntstatus.h</c> table); the account
/// ones also match [MS-SAMR] 2.2.1.15.
/// </summary>
public static class NtStatus
{
    public const uint StatusSuccess = 0x00000000;
    public const uint StatusUnsuccessful = 0xC0000001;
    public const uint StatusNotImplemented = 0xC0000002;
    public const uint StatusInvalidParameter = 0xC000000D;
    public const uint StatusMoreProcessingRequired = 0xC0000016;
    public const uint StatusAccessDenied = 0xC0000022;
    public const uint StatusNoLogonServers = 0xC000005E;
    public const uint StatusNoSuchLogonSession = 0xC000005F;
    public const uint StatusNoSuchUser = 0xC0000064;
    public const uint StatusWrongPassword = 0xC000006A;
    public const uint StatusPasswordRestriction = 0xC000006C;
    public const uint StatusLogonFailure = 0xC000006D;
    public const uint StatusAccountRestriction = 0xC000006E;
    public const uint StatusInvalidLogonHours = 0xC000006F;
    public const uint StatusInvalidWorkstation = 0xC0000070;
    public const uint StatusPasswordExpired = 0xC0000071;
    public const uint StatusAccountDisabled = 0xC0000072;
    public const uint StatusNotSupported = 0xC00000BB;
    public const uint StatusTimeDifferenceAtDc = 0xC0000133;
    public const uint StatusLogonTypeNotGranted = 0xC000015B;
    public const uint StatusAccountExpired = 0xC0000193;
    public const uint StatusPasswordMustChange = 0xC0000224;
    public const uint StatusAccountLockedOut = 0xC0000234;
    public const uint StatusDowngradeDetected = 0xC0000388;
    public const uint StatusAuthenticationFirewallFailed = 0xC0000413;
    public const uint StatusNtlmBlocked = 0xC0000418;

    private sealed record Entry(string Name, string Meaning, uint? ClientSslError = null);

    // Ordered by value. The SSL_ERR_* column is rdp-failure-reference.md 5.3's "[UNV]" pairing of
    // an NTSTATUS with the code mstsc shows; nothing authoritative ties the two together.
    private static readonly Dictionary<uint, Entry> Table = new()
    {
        [StatusSuccess] = new("STATUS_SUCCESS", "success"),
        [StatusUnsuccessful] = new("STATUS_UNSUCCESSFUL", "the operation failed (no reason given)"),
        [StatusNotImplemented] = new("STATUS_NOT_IMPLEMENTED", "the requested operation is not implemented"),
        [StatusInvalidParameter] = new("STATUS_INVALID_PARAMETER", "an invalid parameter was passed (often a malformed token)"),
        [StatusMoreProcessingRequired] = new("STATUS_MORE_PROCESSING_REQUIRED", "the authentication exchange needs another round trip"),
        [StatusAccessDenied] = new("STATUS_ACCESS_DENIED", "access denied"),
        [StatusNoLogonServers] = new("STATUS_NO_LOGON_SERVERS", "no domain controller was available to validate the logon"),
        [StatusNoSuchLogonSession] = new("STATUS_NO_SUCH_LOGON_SESSION", "the logon session does not exist (credentials not available)"),
        [StatusNoSuchUser] = new("STATUS_NO_SUCH_USER", "the user account does not exist", 0xA07),
        [StatusWrongPassword] = new("STATUS_WRONG_PASSWORD", "the password is wrong"),
        [0xC000006B] = new("STATUS_ILL_FORMED_PASSWORD", "the password is ill-formed"),
        [StatusPasswordRestriction] = new("STATUS_PASSWORD_RESTRICTION", "a password policy restriction prevented the logon"),
        [StatusLogonFailure] = new("STATUS_LOGON_FAILURE", "unknown user name or bad password", 0x807),
        [StatusAccountRestriction] = new("STATUS_ACCOUNT_RESTRICTION", "an account restriction prevented the logon (e.g. blank password, sub-status gives the reason)", 0xC07),
        [StatusInvalidLogonHours] = new("STATUS_INVALID_LOGON_HOURS", "the account may not log on at this time of day"),
        [StatusInvalidWorkstation] = new("STATUS_INVALID_WORKSTATION", "the account may not log on from this workstation"),
        [StatusPasswordExpired] = new("STATUS_PASSWORD_EXPIRED", "the password has expired", 0xF07),
        [StatusAccountDisabled] = new("STATUS_ACCOUNT_DISABLED", "the account is disabled", 0xB07),
        [StatusNotSupported] = new("STATUS_NOT_SUPPORTED", "the request is not supported (e.g. NTLM refused by client policy)"),
        [0xC00000DF] = new("STATUS_NO_SUCH_DOMAIN", "the domain does not exist or cannot be contacted"),
        [0xC00000E5] = new("STATUS_INTERNAL_ERROR", "an internal error occurred in the security package"),
        [0xC00000FE] = new("STATUS_NO_SUCH_PACKAGE", "the requested security package does not exist"),
        [0xC000010B] = new("STATUS_INVALID_LOGON_TYPE", "an invalid logon type was requested"),
        [StatusTimeDifferenceAtDc] = new("STATUS_TIME_DIFFERENCE_AT_DC", "the clocks of this machine and the domain controller differ too much"),
        [0xC0000155] = new("STATUS_LOGON_NOT_GRANTED", "the user has not been granted the requested logon"),
        [StatusLogonTypeNotGranted] = new("STATUS_LOGON_TYPE_NOT_GRANTED", "the user lacks the logon right (e.g. \"Allow log on through Remote Desktop Services\")"),
        [0xC000018B] = new("STATUS_NO_TRUST_SAM_ACCOUNT", "the domain controller has no computer account for this machine's trust"),
        [0xC000018C] = new("STATUS_TRUSTED_DOMAIN_FAILURE", "the trust relationship between the domains failed"),
        [0xC000018D] = new("STATUS_TRUSTED_RELATIONSHIP_FAILURE", "the trust relationship between this machine and the domain failed"),
        [0xC0000190] = new("STATUS_TRUST_FAILURE", "the network logon failed because of a trust failure"),
        [0xC0000192] = new("STATUS_NETLOGON_NOT_STARTED", "the Netlogon service is not running"),
        [StatusAccountExpired] = new("STATUS_ACCOUNT_EXPIRED", "the account has expired", 0xE07),
        [0xC0000199] = new("STATUS_NOLOGON_WORKSTATION_TRUST_ACCOUNT", "a workstation trust account cannot be used for an interactive logon"),
        [StatusPasswordMustChange] = new("STATUS_PASSWORD_MUST_CHANGE", "the password must be changed before the first logon", 0x1207),
        [0xC0000233] = new("STATUS_DOMAIN_CONTROLLER_NOT_FOUND", "no domain controller for the domain could be found"),
        [StatusAccountLockedOut] = new("STATUS_ACCOUNT_LOCKED_OUT", "the account is locked out", 0xD07),
        [0xC00002C3] = new("STATUS_MUTUAL_AUTHENTICATION_FAILED", "the server failed mutual authentication"),
        [0xC00002F2] = new("STATUS_WRONG_CREDENTIAL_HANDLE", "the supplied credential handle does not match the security context"),
        [0xC00002FA] = new("STATUS_SMARTCARD_LOGON_REQUIRED", "the account requires smart card logon"),
        [0xC00002FD] = new("STATUS_KDC_UNKNOWN_ETYPE", "the KDC does not support the encryption type"),
        [0xC000030C] = new("STATUS_PASSWORD_CHANGE_REQUIRED", "a password change is required"),
        [0xC0000320] = new("STATUS_PKINIT_FAILURE", "the Kerberos PKINIT (smart card) logon failed"),
        [0xC0000322] = new("STATUS_NO_KERB_KEY", "no Kerberos key was available for the account"),
        [0xC000035B] = new("STATUS_BAD_BINDINGS", "the channel bindings (TLS binding) did not match"),
        [0xC000035C] = new("STATUS_NETWORK_SESSION_EXPIRED", "the client's session has expired"),
        [0xC0000380] = new("STATUS_SMARTCARD_WRONG_PIN", "the smart card PIN is wrong"),
        [0xC0000381] = new("STATUS_SMARTCARD_CARD_BLOCKED", "the smart card is blocked"),
        [StatusDowngradeDetected] = new("STATUS_DOWNGRADE_DETECTED", "a security downgrade was detected"),
        [0xC0000389] = new("STATUS_SMARTCARD_CERT_REVOKED", "the smart card certificate was revoked"),
        [0xC000038A] = new("STATUS_ISSUING_CA_UNTRUSTED", "the smart card certificate's issuing CA is not trusted"),
        [0xC000038D] = new("STATUS_SMARTCARD_CERT_EXPIRED", "the smart card certificate has expired"),
        [0xC0000408] = new("STATUS_USER2USER_REQUIRED", "Kerberos user-to-user authentication is required"),
        [0xC000040B] = new("STATUS_CROSSREALM_DELEGATION_FAILURE", "cross-realm delegation failed"),
        [StatusAuthenticationFirewallFailed] = new("STATUS_AUTHENTICATION_FIREWALL_FAILED", "an authentication firewall (selective authentication or policy silo) refused the logon"),
        [StatusNtlmBlocked] = new("STATUS_NTLM_BLOCKED", "NTLM authentication is blocked by policy"),
        [0xC0000465] = new("STATUS_INVALID_TOKEN", "the authentication token is invalid"),
    };

    /// <summary>The NTSTATUS name ("STATUS_LOGON_FAILURE"), or the value as hex ("0xC000ABCD").</summary>
    public static string Name(uint status) => Table.TryGetValue(status, out var e) ? e.Name : $"0x{status:X8}";

    /// <summary>A short English phrase for a report, or null for a value not in the table.</summary>
    public static string? Meaning(uint status) => Table.TryGetValue(status, out var e) ? e.Meaning : null;

    /// <summary>True when the value is one this table names.</summary>
    public static bool IsKnown(uint status) => Table.ContainsKey(status);

    /// <summary>
    /// The SSL_ERR_* code the Microsoft client is reported to show for this NTSTATUS (e.g. 0x807 for
    /// STATUS_LOGON_FAILURE). [unverified pairing]: rdp-failure-reference.md 5.3 lines the names up
    /// with the client's disconnect codes; no Microsoft document states the mapping.
    /// </summary>
    public static uint? ClientSslErrorCode(uint status) =>
        Table.TryGetValue(status, out var e) ? e.ClientSslError : null;

    /// <summary>"STATUS_LOGON_FAILURE (0xC000006D): unknown user name or bad password".</summary>
    public static string Describe(uint status)
    {
        if (!Table.TryGetValue(status, out var e))
        {
            return $"NTSTATUS 0x{status:X8}";
        }
        return $"{e.Name} (0x{status:X8}): {e.Meaning}";
    }
}
