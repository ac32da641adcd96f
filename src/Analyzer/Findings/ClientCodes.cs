using System.Globalization;
using RdpWire.RdpParser.CredSsp;

namespace RdpWire.Analyzer.Findings;

/// <summary>Which of the two numbers in the Windows client's error dialog a code is (rdp-failure-reference.md 1.1).</summary>
public enum ClientCodeKind
{
    /// <summary>
    /// discReason (<c>IMsTscAxEvents::OnDisconnected</c>): "Error code" in the mstsc dialog, "Reason=N"
    /// (decimal) in client event 1026.
    /// </summary>
    DisconnectReason,

    /// <summary>ExtendedDisconnectReasonCode (<c>IMsRdpClient::ExtendedDisconnectReason</c>): "Extended error code" in the dialog.</summary>
    ExtendedDisconnectReason,

    /// <summary>An error code together with an extended error code, as one dialog shows them.</summary>
    Pair,
}

/// <summary>How a statement is sourced, with rdp-failure-reference.md's own tags.</summary>
public enum SourceStatus
{
    /// <summary>[V]: checked in the cited source.</summary>
    Verified,

    /// <summary>[3P]: found only in third-party implementation code.</summary>
    ThirdParty,

    /// <summary>[OBS]: seen in user-posted Microsoft client dialogs or logs.</summary>
    Observed,

    /// <summary>[UNV]: not verified, or an inference.</summary>
    Unverified,
}

/// <summary>Identifies one entry of <see cref="ClientCodes"/>: a discReason, an extended code, or a pair of them.</summary>
public readonly record struct ClientCodeKey(ClientCodeKind Kind, uint Value, uint Extended = 0)
{
    public static ClientCodeKey Disc(uint value) => new(ClientCodeKind.DisconnectReason, value);

    public static ClientCodeKey Ext(uint value) => new(ClientCodeKind.ExtendedDisconnectReason, value);

    public static ClientCodeKey Pair(uint discReason, uint extended) => new(ClientCodeKind.Pair, discReason, extended);

    /// <summary>How the report contract writes it: "0x904", "extended 0x7", "0x904 / extended 0x7".</summary>
    public string Label => Kind switch
    {
        ClientCodeKind.DisconnectReason => Hex(Value),
        ClientCodeKind.ExtendedDisconnectReason => "extended " + Hex(Value),
        _ => $"{Hex(Value)} / extended {Hex(Extended)}",
    };

    /// <summary>The same in decimal, as client event 1026 writes the discReason: "2308", "2308 / 7".</summary>
    public string Decimal => Kind == ClientCodeKind.Pair
        ? $"{Value.ToString(CultureInfo.InvariantCulture)} / {Extended.ToString(CultureInfo.InvariantCulture)}"
        : Value.ToString(CultureInfo.InvariantCulture);

    public override string ToString() => Label;

    internal static string Hex(uint value) => "0x" + value.ToString("X", CultureInfo.InvariantCulture);
}

/// <summary>
/// One way a code comes about on the wire, and the RdpWire findings that report that shape.
/// <paramref name="Basis"/> qualifies the pairing in a finding's <c>mstscCodes</c> text (default:
/// from <paramref name="Status"/>); <paramref name="MstscNote"/> is appended to the code there
/// ("with the errorInfo value as the extended code").
/// </summary>
public sealed record WirePattern(
    SourceStatus Status,
    string Text,
    IReadOnlyList<string> Findings,
    string? Basis = null,
    string? MstscNote = null);

/// <summary>A code the Windows client shows, what is known about it, and how RdpWire sees it.</summary>
public sealed record ClientCode(
    ClientCodeKey Key,
    string Name,
    string Meaning,
    SourceStatus Status,
    string Source,
    IReadOnlyList<WirePattern> WirePatterns,
    IReadOnlyList<string> TellApart)
{
    /// <summary>Every finding code the wire patterns name, in table order, once each.</summary>
    public IReadOnlyList<string> Findings { get; } = WirePatterns.SelectMany(p => p.Findings).Distinct(StringComparer.Ordinal).ToList();

    /// <summary>The name, or "no documented name" for codes only seen in dialogs.</summary>
    public string DisplayName => Name.Length > 0 ? Name : "no documented name";
}

/// <summary>
/// The codes a user sees in the Windows client (mstsc / MsTscAx): discReason values
/// (rdp-failure-reference.md 1.2 from Microsoft's <c>IMsTscAxEvents::OnDisconnected</c> page, S1,
/// cross-checked against NanaBox <c>MsTscAx.h</c>, S3; 1.3 for codes only seen in dialogs) and
/// ExtendedDisconnectReasonCode values (1.4, S2 and S3). For each: its meaning and source status,
/// the wire patterns that produce it, the findings RdpWire reports for them and what to look at to
/// tell them apart. One table, behind <c>rdpwire explain</c> and every finding's <c>mstscCodes</c>
/// (<see cref="FindingCatalog"/> cites entries by <see cref="ClientCodeKey"/>). Microsoft documents
/// the names only: which wire pattern gives which code is field reports [OBS] or inference [UNV],
/// and the text says which.
/// </summary>
public static class ClientCodes
{
    /// <summary>ExtendedDisconnectReasonCode's internal protocol-error range (exDiscReasonProtocolRangeStart..End).</summary>
    public const uint ProtocolRangeStart = 0x1000, ProtocolRangeEnd = 0x7FFF;

    private const SourceStatus V = SourceStatus.Verified, P3 = SourceStatus.ThirdParty, Obs = SourceStatus.Observed, Unv = SourceStatus.Unverified;

    private const string DiscSource = "Microsoft IMsTscAxEvents::OnDisconnected (S1), NanaBox MsTscAx.h (S3); rdp-failure-reference.md 1.2";
    private const string ExtSource = "Microsoft ExtendedDisconnectReasonCode (S2), NanaBox MsTscAx.h (S3); rdp-failure-reference.md 1.4";
    private const string FieldSource = "rdp-failure-reference.md 1.3 (codes not in Microsoft's list)";

    private const string AnalyzeCapture =
        "Capture the attempt from the client's TCP SYN until the dialog appears (`rdpwire capture -i IF -w attempt.pcapng`, or any pcap) and run `rdpwire analyze attempt.pcapng`: the verdict names the phase and the side that ended the connection.";
    private const string ClientEventLog =
        "The client's Microsoft-Windows-TerminalServices-RDPClient/Operational log, event 1026, records the same code in decimal (\"Reason=N\").";
    private const string ReadExtended =
        "Read the extended error code in the same dialog and run `rdpwire explain <error code> <extended code>`: the pair narrows the cause.";
    private const string KeyLog = "`rdpwire analyze --keylog FILE` (or `--server-key KEY.pem`)";
    private const string ClientSide =
        "The name points at the client itself; a capture shows at most where the connection stopped.";

    private static readonly string[] ClientInternal = [ClientSide, ClientEventLog, AnalyzeCapture];

    private static readonly string[] NameResolution =
    [
        "No TCP connection to the server appears in an RDP-port capture: the failure is before it. Check the name the client uses (`Resolve-DnsName <server>` on the client) and capture DNS (port 53) if it should resolve.",
        ClientEventLog,
    ];

    private static readonly string[] SslErrTellApart =
    [
        $"The TSRequest errorCode travels inside TLS: {KeyLog} decrypts it and names the NTSTATUS; without them RdpWire reports credssp.auth-failed as an inference from the record pattern and cannot name the reason.",
        "The server's Security log, event 4625, gives the failure reason with Status and Sub Status for this logon.",
        "A CredSSP version conflict (credssp.version-mismatch, CVE-2018-0886) ends the same way on the wire when TLS is not decrypted; mstsc then shows its \"CredSSP encryption oracle remediation\" text instead of a code.",
    ];

    private static readonly string[] ErrorInfoTellApart =
    [
        $"The Set Error Info PDU travels inside TLS: {KeyLog} decrypts it and names errorInfo; without them RdpWire sees only that the server closed the connection.",
        "On Windows the server's TerminalServices-LocalSessionManager and RemoteConnectionManager logs hold the matching event.",
        "Read it together with the error code in the same dialog: `rdpwire explain <error code> <extended code>`.",
    ];

    private static readonly ClientCode[] Table =
    [
        // rdp-failure-reference.md 1.2: discReason values documented by Microsoft.
        Disc(0x0, "disconnectReasonNoInfo", "No information available.", [], [ReadExtended, ClientEventLog, AnalyzeCapture]),
        Disc(0x1, "disconnectReasonLocalNotError", "The disconnect started on the client side; not an error.",
            [new(Unv, "The client ends the connection itself (its FIN) because the user or the hosting application closed it.", [])],
            ["Not an error: the client side ended the connection. If nobody closed it on purpose, look at the application that hosts the client control.", ClientEventLog]),
        Disc(0x2, "disconnectReasonRemoteByUser", "The remote user disconnected the session; not an error.", [],
            ["Not an error: the session was disconnected from the remote side by its user.", ReadExtended]),
        Disc(0x3, "disconnectReasonByServer", "The server disconnected the client. Not an error in itself: the extended code gives the reason.",
            [
                new(Unv, "The server sends a Set Error Info PDU (MS-RDPBCGR 2.2.5.1) and disconnects; the extended code most likely echoes its errorInfo (inferred from the matching numbers, reference 1.4).",
                    ["rdp.server-error-info"], MstscNote: "with the errorInfo value as the extended code"),
                new(Unv, "The server ends the MCS domain with a Disconnect Provider Ultimatum.",
                    ["rdp.disconnect-ultimatum"], MstscNote: "with the extended reason"),
                new(Unv, "Licensing fails: a License Error PDU, or errorInfo ERRINFO_LICENSE_* (extended 0x100-0x10B).",
                    ["rdp.licensing-error", "rdp.server-error-info"], MstscNote: "with an extended code in 0x100-0x10B (exDiscReasonLicense*)"),
            ],
            [
                "The extended code in the same dialog names the reason: `rdpwire explain 0x3 <extended code>`.",
                .. ErrorInfoTellApart[..2],
            ]),
        Disc(0x104, "disconnectReasonDNSLookupFailed", "DNS name lookup failed.",
            [new(Unv, "No TCP connection attempt to the server at all: the client could not resolve its name.", [])], NameResolution),
        Disc(0x106, "disconnectReasonOutOfMemory", "Out of memory.", [], ClientInternal),
        Disc(0x108, "disconnectReasonConnectionTimedOut", "The connection timed out.",
            [
                new(Unv, "The client's SYNs are never answered.", ["tcp.no-response"]),
                new(Unv, "TCP is up, then the server stops answering during setup (before or after the X.224 Connection Confirm).", ["tcp.stalled", "x224.no-confirm"]),
                new(Unv, "Large packets (the server's certificate flight) are lost on the path while small ones pass.", ["path.mtu-blackhole"]),
            ],
            [
                "SYN retransmissions with no SYN-ACK: tcp.no-response (filtered, or the host is down). A SYN-ACK and then silence: tcp.stalled or x224.no-confirm.",
                "Capture on the server too: SYNs arriving there unanswered point at its host firewall, SYNs not arriving at the path.",
                "Which of 0x204 and 0x108 a silent drop gives is not documented (reference 4.1).",
            ]),
        Disc(0x204, "disconnectReasonSocketConnectFailed", "Winsock connect failed.",
            [
                new(Unv, "A RST answers the client's SYN: nothing listens on the port, or a firewall rejects.", ["tcp.refused"]),
                new(Unv, "An ICMP (or ICMPv6) unreachable answers the SYN.", ["tcp.icmp-unreachable"]),
                new(Unv, "The SYNs are never answered.", ["tcp.no-response"]),
            ],
            [
                "What answers the client's SYN: a RST (nothing listening, or a reject rule), an ICMP unreachable (its type, code and sender say who rejects), or nothing at all.",
                "A RST whose TTL differs from the server's other packets comes from a middlebox, not the server.",
                "Which of 0x204 and 0x108 a silent drop gives is not documented (reference 4.1).",
            ]),
        Disc(0x206, "disconnectReasonOutOfMemory2", "Out of memory.", [], ClientInternal),
        Disc(0x208, "disconnectReasonHostNotFound", "Host not found.",
            [new(Unv, "No TCP connection attempt to the server at all: the name did not resolve to a host.", [])], NameResolution),
        Disc(0x304, "disconnectReasonWinsockSendFailed", "Winsock send failed.",
            [new(Unv, "Inferred from the name: the connection broke while the client was sending, e.g. a RST from the server or a middlebox.", ["tcp.reset"])],
            ["Who sent the RST and in which phase: `rdpwire analyze` shows closedBy and closeKind.", "A RST whose TTL differs from the server's other packets comes from a middlebox.", AnalyzeCapture]),
        Disc(0x306, "disconnectReasonOutOfMemory3", "Out of memory.", [], ClientInternal),
        Disc(0x308, "disconnectReasonInvalidIPAddr", "The IP address is not valid.", [],
            ["Check the address typed in the client (or the .rdp file's `full address`).", ClientEventLog]),
        Disc(0x404, "disconnectReasonSocketRecvFailed", "Winsock recv failed.",
            [new(Unv, "Inferred from the name: the connection broke while the client was receiving, e.g. a RST from the server or a middlebox.", ["tcp.reset"])],
            ["Who sent the RST and in which phase: `rdpwire analyze` shows closedBy and closeKind.", "A RST whose TTL differs from the server's other packets comes from a middlebox.", AnalyzeCapture]),
        Disc(0x406, "disconnectReasonInvalidSecurityData", "Security data not valid.",
            [new(Unv, "Inferred from the name: the client could not use the Server Security Data in the MCS Connect Response (MS-RDPBCGR 2.2.1.4.3: encryption method and level, server random, server certificate), which Standard RDP Security relies on.", ["rdp.malformed-gcc"])],
            [$"`rdpwire analyze --json` shows mcs.serverEncryptionMethod, serverEncryptionLevel and serverCertificateType; under TLS the MCS Connect Response is encrypted, so only a decrypted capture shows them ({KeyLog}).", AnalyzeCapture]),
        Disc(0x408, "disconnectReasonInternalError", "Internal error.", [], ClientInternal),
        Disc(0x506, "disconnectReasonInvalidEncryption", "Encryption method not valid.",
            [new(Unv, "Inferred from the name: the encryption method the server chose for Standard RDP Security (Server Security Data) is not one the client accepts, e.g. with a FIPS-only policy on one side.", ["x224.standard-rdp-security"])],
            ["`rdpwire analyze --json` shows mcs.clientEncryptionMethods and serverEncryptionMethod.", "Avoid Standard RDP Security: let the server negotiate TLS or NLA (`SecurityLayer`=1 or 2).", AnalyzeCapture]),
        Disc(0x508, "disconnectReasonDNSLookupFailed2", "DNS lookup failed.",
            [new(Unv, "No TCP connection attempt to the server at all: the client could not resolve its name.", [])], NameResolution),
        Disc(0x604, "disconnectReasonGetHostByNameFailed", "gethostbyname failed.",
            [new(Unv, "No TCP connection attempt to the server at all: the client could not resolve its name.", [])], NameResolution),
        Disc(0x606, "disconnectReasonInvalidServerSecurityInfo", "Server security data not valid.",
            [new(Unv, "Inferred from the name: the Server Security Data in the MCS Connect Response (MS-RDPBCGR 2.2.1.4.3) could not be used by the client (Standard RDP Security).", ["rdp.malformed-gcc"])],
            [$"`rdpwire analyze --json` shows mcs.serverEncryptionMethod, serverEncryptionLevel and serverCertificateType; under TLS the MCS Connect Response is encrypted, so only a decrypted capture shows them ({KeyLog}).", AnalyzeCapture]),
        Disc(0x608, "disconnectReasonTimerError", "Internal timer error.", [], ClientInternal),
        Disc(0x704, "disconnectReasonTimeoutOccurred", "A time-out occurred.",
            [
                new(Unv, "One side stops answering in the middle of the handshake.", ["tcp.stalled", "x224.no-confirm"]),
                new(Unv, "Large packets (the server's certificate flight) are lost on the path while small ones pass.", ["path.mtu-blackhole"]),
            ],
            ["Which side went silent, and after which packet: `rdpwire analyze` names it; retransmitted large segments with small ones passing point at a path MTU problem.", AnalyzeCapture]),
        Disc(0x706, "disconnectReasonServerCertificateUnpackErr", "The client could not unpack the server certificate.",
            [
                new(Unv, "Inferred from the name: under Standard RDP Security the server certificate in the Server Security Data (proprietary or X.509 chain, MS-RDPBCGR 2.2.1.4.3) cannot be parsed.", ["rdp.malformed-gcc"]),
                new(Obs, "Reported against an xrdp server as Reason=1798 in the client's event 1026 (neutrinolabs/xrdp#195).", []),
            ],
            ["`rdpwire analyze --json` shows mcs.serverCertificateType (proprietary or x509) and serverCertificateCount.", AnalyzeCapture]),
        Disc(0x804, "disconnectReasonInvalidIP", "Bad IP address.", [],
            ["Check the address typed in the client (or the .rdp file's `full address`).", ClientEventLog]),
        Disc(0x807, "SSL_ERR_LOGON_FAILURE", "Logon failed.", SslErr(NtStatus.StatusLogonFailure, listed: true), SslErrTellApart),
        Disc(0x808, "disconnectReasonLicensingFailed", "License negotiation failed.",
            [
                new(Unv, "The server sends a License Error PDU other than STATUS_VALID_CLIENT and disconnects.", ["rdp.licensing-error"]),
                new(Unv, "The server sends a Set Error Info PDU with an ERRINFO_LICENSE_* value (0x100-0x10A) and disconnects.", ["rdp.server-error-info"]),
            ],
            [
                $"Licensing runs inside TLS: {KeyLog} decrypts it and names the License Error code or errorInfo.",
                "On the server: licensing mode, license server and CALs (`Get-RDLicenseConfiguration`); on the client a corrupt stored license is cleared by deleting `HKLM\\SOFTWARE\\Microsoft\\MSLicensing`.",
            ]),
        Disc(0x904, "disconnectReasonAtClientWinsockFDCLOSE", "The client saw its socket closed (Winsock FD_CLOSE): the server, or something in between, ended the connection.",
            [
                new(Unv, "The server closes the connection (FIN) during setup.", ["tcp.server-closed"]),
                new(Unv, "The server or a middlebox resets the connection during setup.", ["tcp.reset"]),
                new(Unv, "The server stops answering and the connection is closed after a while.", ["tcp.stalled", "x224.no-confirm"]),
                new(Unv, "The server ends the session after the logon information (Client Info PDU) without a Set Error Info PDU.", ["rdp.server-closed-session"]),
                new(Obs, "An old NT4 Terminal Server KB shows \"Error Code: 0x904\" when the server's maximum connection count is exceeded: the server hangs up right after the connection is set up.", ["tcp.server-closed", "tcp.reset"]),
            ],
            [
                "Read the extended error code in the same dialog: 0x904 with extended 0x7 is the combination field reports show most (`rdpwire explain 0x904 0x7`).",
                "Who closed first, how and in which phase: `rdpwire analyze` shows phaseReached, closedBy and closeKind (fin or rst).",
                "A RST whose TTL differs from the server's other packets comes from a middlebox, not the server.",
            ]),
        Disc(0x906, "disconnectReasonInternalSecurityError", "Internal security error.", [], [.. ClientInternal]),
        Disc(0x908, "disconnectReasonLicensingTimeout", "Licensing time-out.",
            [new(Unv, "The licensing exchange stops: the server sends no License PDU, or the client's answer gets no reply.", ["tcp.stalled"])],
            [$"The licensing phase runs inside TLS: {KeyLog} decrypts it and shows the phase reached; without them RdpWire sees the encrypted records stop.", AnalyzeCapture]),
        Disc(0xA06, "disconnectReasonInternalSecurityError2", "Internal security error.", [], ClientInternal),
        Disc(0xA07, "SSL_ERR_NO_SUCH_USER", "No account for that user.", SslErr(NtStatus.StatusNoSuchUser, listed: true), SslErrTellApart),
        Disc(0xB06, "disconnectReasonEncryptionError", "Encryption error.", [], ClientInternal),
        Disc(0xB07, "SSL_ERR_ACCOUNT_DISABLED", "The account is disabled.", SslErr(NtStatus.StatusAccountDisabled, listed: true), SslErrTellApart),
        Disc(0xC06, "disconnectReasonDecryptionError", "Decryption error.", [], ClientInternal),
        Disc(0xC07, "SSL_ERR_ACCOUNT_RESTRICTION", "Account restriction (for example, logon hours).", SslErr(NtStatus.StatusAccountRestriction, listed: true), SslErrTellApart),
        Disc(0xC08, "disconnectReasonClientDecompressionError", "Decompression error.", [], ClientInternal),
        Disc(0xD07, "SSL_ERR_ACCOUNT_LOCKED_OUT", "The account is locked out.", SslErr(NtStatus.StatusAccountLockedOut, listed: true), SslErrTellApart),
        Disc(0xE07, "SSL_ERR_ACCOUNT_EXPIRED", "The account has expired.", SslErr(NtStatus.StatusAccountExpired, listed: true), SslErrTellApart),
        Disc(0xF07, "SSL_ERR_PASSWORD_EXPIRED", "The password has expired.", SslErr(NtStatus.StatusPasswordExpired, listed: true), SslErrTellApart),
        Disc(0x1207, "SSL_ERR_PASSWORD_MUST_CHANGE", "The password must be changed before the first logon.", SslErr(NtStatus.StatusPasswordMustChange, listed: true), SslErrTellApart),
        Disc(0x1607, "SSL_ERR_DELEGATION_POLICY", "Policy does not allow delegating credentials to this server.",
            [new(Unv, "Inferred from the name: the client refuses to send its credentials; the CredSSP exchange ends on the client's side before the credentials (authInfo).", [])],
            [
                "A client policy decides it: Computer Configuration > Administrative Templates > System > Credentials Delegation (the \"Allow delegating ... credentials\" settings and their server lists, e.g. TERMSRV/<server>).",
                $"Decrypted ({KeyLog}), the CredSSP messages show which side stopped.",
            ]),
        Disc(0x1707, "SSL_ERR_POLICY_NTLM_ONLY", "Delegation needs mutual authentication; only NTLM was available.",
            [new(Unv, "Inferred from the name: CredSSP authenticates with NTLM (no Kerberos for this server) and the client's delegation policy demands mutual authentication, so the client stops.", [])],
            [
                $"Decrypted ({KeyLog}), the report's credssp.authPackage shows NTLM or Kerberos.",
                "Kerberos needs the client to reach a domain controller and to connect by a name the server's account has an SPN for (not an IP address).",
            ]),
        Disc(0x1807, "SSL_ERR_NO_AUTHENTICATING_AUTHORITY", "No authority (domain controller / KDC) could be reached.",
            [new(Unv, "Inferred (not in reference 5.3's pairing list): the names line up with STATUS_NO_LOGON_SERVERS (0xC000005E) in the server's TSRequest errorCode, or the client itself reached no KDC.", ["credssp.auth-failed"],
                Basis: "inferred from the names, pairing not documented")],
            [.. SslErrTellApart[..2], "Check that client and server reach a domain controller (`nltest /dsgetdc:<domain>`)."]),
        Disc(0x1B07, "SSL_ERR_CERT_EXPIRED", "The received certificate has expired.",
            [new(Unv, "The server's TLS certificate has expired by the client's clock: the client leaves after the server's certificate flight, or sends a certificate_expired alert.", ["tls.cert-expired", "tls.client-rejected-certificate"],
                Basis: "where the client reports it, pairing not documented")],
            [
                "RdpWire judges the certificate against the capture's own time. Under TLS 1.3 the certificate is encrypted: capture a TLS 1.2 connection, or look at the server's store (`Get-ChildItem 'Cert:\\LocalMachine\\Remote Desktop'`).",
                "Many clients show 0x904 / extended 0x7 for the same fault instead (`rdpwire explain 0x904 0x7`).",
            ]),
        Disc(0x1C07, "SSL_ERR_SMARTCARD_WRONG_PIN", "Wrong smart-card PIN.",
            [new(Unv, "Inferred (not in reference 5.3's pairing list): the server's TSRequest errorCode STATUS_SMARTCARD_WRONG_PIN (0xC0000380) after the client's smart-card credentials.", ["credssp.auth-failed"],
                Basis: "inferred from the names, pairing not documented")],
            SslErrTellApart[..2]),
        Disc(0x2107, "SSL_ERR_FRESH_CRED_REQUIRED_BY_SERVER", "The server refuses saved credentials; new credentials are needed.",
            [new(Unv, "Inferred from the names: the server sends errorInfo ERRINFO_SERVER_FRESH_CREDENTIALS_REQUIRED (0xA) and disconnects.", ["rdp.server-error-info"],
                Basis: "inferred from the names, pairing not documented")],
            ["Most likely the server's policy \"Always prompt for password upon connection\", which refuses saved credentials: enter the password when asked.", .. ErrorInfoTellApart[..1]]),
        Disc(0x2207, "SSL_ERR_SMARTCARD_CARD_BLOCKED", "The smart card is blocked.",
            [new(Unv, "Inferred (not in reference 5.3's pairing list): the server's TSRequest errorCode STATUS_SMARTCARD_CARD_BLOCKED (0xC0000381).", ["credssp.auth-failed"],
                Basis: "inferred from the names, pairing not documented")],
            SslErrTellApart[..2]),

        // rdp-failure-reference.md 1.3: codes the client shows that are not in Microsoft's list.
        Field(0x507, "", Unv, "No authoritative or observed source was found for this value.", [], [AnalyzeCapture, ClientEventLog]),
        Field(0x708, "", Obs,
            "Dialog: \"Your computer could not connect to another console session on the remote computer because you already have a console session in progress.\" Extended code 0x0. Reported when connecting to the local machine or 127.0.0.1 (anhkgg/SuperRDP#38, #256; stascorp/rdpwrap#4289; scottyhardy/docker-remote-desktop#30).",
            [new(Obs, "The client connects to its own computer (loopback or one of its own addresses) while it has a console session.", [])],
            ["Check the address the client connects to: it is the local machine itself."]),
        Field(0xD06, "", Obs,
            "Dialog: \"Because of a protocol error, this session will be disconnected.\" Seen through mRemoteNG (mRemoteNG/mRemoteNG#1194).",
            [], [AnalyzeCapture, "The server's Microsoft-Windows-RemoteDesktopServices-RdpCoreTS/Operational log records protocol errors it detects."]),
        Field(0x1104, "", Obs,
            "Dialog: \"Because of a protocol error detected at the client (code 0x1104), this session will be disconnected.\" (stascorp/rdpwrap#363). The value lies in the extended protocol range (0x1000-0x7FFF) but matches no ERRINFO value; its exact meaning is not known [UNV].",
            [
                new(Obs, "Something other than the RDP service owns TCP 3389 and answers (cloud troubleshooting pages).", ["x224.malformed", "x224.no-confirm"],
                    Basis: "reported in the field for such cases, pairing not documented"),
                new(Obs, "A firewall or cloud security group blocks the connection (cloud troubleshooting pages); RdpWire reports what the block does to the SYN or the connection.", ["tcp.no-response", "tcp.refused", "tcp.reset"]),
                new(Obs, "A misconfigured RD Session Host (cloud troubleshooting pages); no wire shape is documented.", []),
            ],
            [
                "Who answers on the port: `netstat -ano | findstr :3389` on the server; an X.224 Confirm that breaks the spec (x224.malformed) or none at all (x224.no-confirm) means it is not the RDP service.",
                AnalyzeCapture,
            ]),
        Field(0x112F, "", V,
            "Seen as \"protocol error (code: 0x112f)\": the number is ERRINFO_GRAPHICS_SUBSYSTEM_FAILED (graphics subsystem failed), an errorInfo value. Only the message title was seen.",
            [new(Unv, "The server sends a Set Error Info PDU with errorInfo ERRINFO_GRAPHICS_SUBSYSTEM_FAILED (0x112F) and disconnects.", ["rdp.server-error-info"])],
            ErrorInfoTellApart[..2]),
        Field(0x2407, "", Obs,
            "Dialog: \"We couldn't connect to the remote PC. You might not have permission to sign in remotely.\" One report, for a domain user missing from the server's Remote Desktop Users group. The low byte 0x07 fits the credential family.",
            [new(Unv, "The server answers a successful CredSSP logon with an Early User Authorization Result of AUTHZ_ACCESS_DENIED (HYBRID_EX, MS-RDPBCGR 2.2.10.2).", ["credssp.early-user-auth-denied"],
                Basis: "the one field report for this denial, pairing not documented")],
            [
                $"The Early User Authorization Result travels inside TLS right after CredSSP: {KeyLog} decrypts it and shows AUTHZ_ACCESS_DENIED (5).",
                "On the server: membership of Remote Desktop Users, and the rights \"Allow log on through Remote Desktop Services\" / \"Deny log on through Remote Desktop Services\".",
            ]),

        // rdp-failure-reference.md 1.3: the pair field reports show most.
        new(ClientCodeKey.Pair(0x904, 0x7), "disconnectReasonAtClientWinsockFDCLOSE / exDiscReasonServerDeniedConnection",
            "The client's socket was closed (0x904) and the server denied the connection (extended 0x7). The names are documented; what makes the client show this pair comes from field reports and inference.",
            V, "for the two names (Microsoft S1, S2; NanaBox S3; rdp-failure-reference.md 1.2, 1.4). The causes below are field reports [OBS] and inferences [UNV] (1.3, 4.1).",
            [
                new(Obs, "TLS trouble with the server's certificate (expired, corrupt or unusable self-signed RDP certificate): the server never answers the ClientHello, or the client walks away after the certificate flight.",
                    ["tls.server-no-hello", "tls.cert-expired", "tls.cert-not-yet-valid", "tls.client-rejected-certificate"],
                    Basis: "what field reports show for certificate trouble, pairing not documented"),
                new(Obs, "The TLS handshake fails otherwise: a fatal alert, no shared TLS version, no shared cipher suite.",
                    ["tls.alert", "tls.version-mismatch", "tls.no-shared-cipher"],
                    Basis: "what field reports show for TLS failures, pairing not documented"),
                new(Unv, "Inferred from the matching numbers (reference 1.4): the server sends a Set Error Info PDU with ERRINFO_SERVER_DENIED_CONNECTION (0x7) and closes.",
                    ["rdp.server-error-info"]),
                new(Unv, "Inferred: NLA rejects the logon by closing: after the client's CredSSP AUTHENTICATE the server hangs up (no errorCode, or one only a key log shows), or the session ends after the Client Info PDU without a reason.",
                    ["credssp.auth-failed", "rdp.server-closed-session"]),
                new(Obs, "A connection limit: an old NT4 Terminal Server KB shows 0x904 when the maximum connection count is exceeded; the server closes or resets right after the connection is set up.",
                    ["tcp.server-closed", "tcp.reset"]),
                new(Unv, "Inferred: the server answers the X.224 Connection Request with RDP_NEG_FAILURE SSL_CERT_NOT_ON_SERVER (no usable certificate), the certificate trouble field reports tie to this pair.",
                    ["x224.negotiation-failure"],
                    Basis: "reported in the field for certificate problems, pairing not documented"),
                new(Unv, "The server's certificate flight is lost on the path (PMTU black hole) and the client gives up.",
                    ["path.mtu-blackhole"]),
            ],
            [
                AnalyzeCapture,
                "Ends in the TLS handshake (no ServerHello, a fatal alert, the client leaving after the Certificate): the server's RDP certificate or TLS settings. On the server: `Get-ChildItem 'Cert:\\LocalMachine\\Remote Desktop'` and Schannel errors in the System log.",
                $"TLS completes, a few CredSSP records follow, then the server hangs up: NLA refused the logon. {KeyLog} decrypts TLS and reads the TSRequest errorCode; the server's Security log has event 4625.",
                $"The connection gets past the logon and the server sends Set Error Info: {KeyLog} decrypts TLS and shows errorInfo; 0x7 (ERRINFO_SERVER_DENIED_CONNECTION) points at \"Allow log on through Remote Desktop Services\", the Remote Desktop Users group and connection limits.",
                "The server closes right after TCP or the X.224 exchange, for every client: a connection limit (Group Policy \"Limit number of connections\") or the RDP service itself; check the server's RemoteDesktopServices-RdpCoreTS log.",
                "Large server segments retransmitted while small ones pass: a path MTU black hole (path.mtu-blackhole), not the server.",
            ]),

        // rdp-failure-reference.md 1.4: ExtendedDisconnectReasonCode.
        Ext(0x0, "exDiscReasonNoInfo", "No extra information.", [],
            ["Only the error code in the same dialog carries information: `rdpwire explain <error code>`."]),
        EchoExt(0x1, "exDiscReasonAPIInitiatedDisconnect", "An application started the disconnect."),
        EchoExt(0x2, "exDiscReasonAPIInitiatedLogoff", "An application logged the client off."),
        EchoExt(0x3, "exDiscReasonServerIdleTimeout", "The server's idle-session limit was reached."),
        EchoExt(0x4, "exDiscReasonServerLogonTimeout", "The server's active-session (logon) time limit was reached."),
        EchoExt(0x5, "exDiscReasonReplacedByOtherConnection", "Another connection took over the session."),
        EchoExt(0x6, "exDiscReasonOutOfMemory", "The server had no memory available."),
        Ext(0x7, "exDiscReasonServerDeniedConnection", "The server denied the connection.",
            [
                EchoesErrorInfo(0x7),
                new(Obs, "Next to error code 0x904 (socket closed): TLS or certificate trouble on the server, an NLA rejection or a connection limit; see `rdpwire explain 0x904 0x7`.",
                    ["tls.server-no-hello", "tls.client-rejected-certificate", "tls.alert", "credssp.auth-failed", "tcp.server-closed"]),
            ],
            [
                "The error code next to it decides: 0x3 (the server ended the session, most likely with ERRINFO_SERVER_DENIED_CONNECTION) or 0x904 (the socket closed during setup: `rdpwire explain 0x904 0x7`).",
                .. ErrorInfoTellApart[..2],
            ]),
        Ext(0x8, "exDiscReasonServerDeniedConnectionFips", "The server denied the connection for security reasons (FIPS).",
            [new(Unv, "No ERRINFO value 0x8 exists in either implementation table (reference 2.1), so no Set Error Info PDU is known to carry it; inferred: a FIPS-only server policy refusing the client's encryption.", [])],
            ["Check the server's policy \"System cryptography: Use FIPS compliant algorithms\" against what the client offers.", AnalyzeCapture]),
        EchoExt(0x9, "exDiscReasonServerInsufficientPrivileges", "The server denied the connection: insufficient privileges."),
        EchoExt(0xA, "exDiscReasonServerFreshCredsRequired", "Fresh credentials are required."),
        EchoExt(0xB, "exDiscReasonRpcInitiatedDisconnectByUser", "Disconnect started by user activity (an admin tool in the user's own session)."),
        EchoExt(0xC, "exDiscReasonLogoffByUser", "The user logged off.",
            "; the GitHub source of Microsoft's page writes 2, the rendered page and NanaBox 12"),
        Ext(0x19, "exDiscReasonShutdown", "The server shut down.", [], [ReadExtended, ClientEventLog], P3, "NanaBox MsTscAx.h only (S3); rdp-failure-reference.md 1.4"),
        Ext(0x1A, "exDiscReasonReboot", "The server rebooted.", [], [ReadExtended, ClientEventLog], P3, "NanaBox MsTscAx.h only (S3); rdp-failure-reference.md 1.4"),
        LicenseExt(0x100, "exDiscReasonLicenseInternal", "Internal licensing error."),
        LicenseExt(0x101, "exDiscReasonLicenseNoLicenseServer", "No license server available."),
        LicenseExt(0x102, "exDiscReasonLicenseNoLicense", "No license available."),
        LicenseExt(0x103, "exDiscReasonLicenseErrClientMsg", "The server received an invalid licensing message."),
        LicenseExt(0x104, "exDiscReasonLicenseHwidDoesntMatchLicense", "The hardware ID does not match the stored license."),
        LicenseExt(0x105, "exDiscReasonLicenseErrClientLicense", "Client license error."),
        LicenseExt(0x106, "exDiscReasonLicenseCantFinishProtocol", "Network problems during licensing."),
        LicenseExt(0x107, "exDiscReasonLicenseClientEndedProtocol", "The client ended licensing early."),
        LicenseExt(0x108, "exDiscReasonLicenseErrClientEncryption", "A licensing message was encrypted wrongly."),
        LicenseExt(0x109, "exDiscReasonLicenseCantUpgradeLicense", "The client CAL could not be upgraded or renewed."),
        LicenseExt(0x10A, "exDiscReasonLicenseNoRemoteConnections", "The server is not licensed for remote connections."),
        Ext(0x10B, "exDiscReasonLicenseCreatingLicStoreAccDenied", "Access denied creating the license-store registry key.",
            [new(Unv, "No ERRINFO value 0x10B exists (the ERRINFO_LICENSE_* values stop at 0x10A); inferred from the name: the client cannot write its license store, nothing on the wire.", [])],
            ["On the client, `HKLM\\SOFTWARE\\Microsoft\\MSLicensing` must be writable (run the client once as administrator, or fix the key's permissions)."]),
        Ext(0x300, "exDiscReasonRdpEncInvalidCredentials", "Invalid credentials.",
            [new(Unv, "No ERRINFO value 0x300 exists, and no wire pattern is documented.", [])],
            ["Check the user name and password the client sends (saved credentials: `cmdkey /list`).", AnalyzeCapture]),
        Ext(ProtocolRangeStart, "exDiscReasonProtocolRangeStart", "Start of the internal protocol-error range (0x1000-0x7FFF); check the server's event log.",
            [ProtocolRangeErrorInfo()], [.. ErrorInfoTellApart[..2], "The server's RemoteDesktopServices-RdpCoreTS log names the protocol error."]),
        Ext(ProtocolRangeEnd, "exDiscReasonProtocolRangeEnd", "End of the internal protocol-error range (0x1000-0x7FFF).",
            [ProtocolRangeErrorInfo()], [.. ErrorInfoTellApart[..2], "The server's RemoteDesktopServices-RdpCoreTS log names the protocol error."]),
    ];

    private static readonly Dictionary<ClientCodeKey, ClientCode> ByKey = Table.ToDictionary(c => c.Key);

    private static readonly Dictionary<string, ClientCode> ByNameTable = Table
        .Where(c => c.Key.Kind != ClientCodeKind.Pair && c.Name.Length > 0)
        .ToDictionary(c => c.Name, StringComparer.OrdinalIgnoreCase);

    /// <summary>Every entry, in the reference's order.</summary>
    public static IReadOnlyList<ClientCode> All => Table;

    public static ClientCode? Find(ClientCodeKey key) => ByKey.GetValueOrDefault(key);

    /// <summary>The discReason entry (Microsoft's list or a code seen in dialogs) for a value.</summary>
    public static ClientCode? DisconnectReason(uint value) => Find(ClientCodeKey.Disc(value));

    /// <summary>The extended code entry for a value; inside 0x1000-0x7FFF without its own entry, the range's.</summary>
    public static ClientCode? Extended(uint value) =>
        Find(ClientCodeKey.Ext(value)) ?? (InProtocolRange(value) ? Find(ClientCodeKey.Ext(ProtocolRangeStart)) : null);

    public static bool InProtocolRange(uint extended) => extended is >= ProtocolRangeStart and <= ProtocolRangeEnd;

    /// <summary>The pairs with an entry of their own whose error code is this discReason.</summary>
    public static IEnumerable<ClientCode> PairsOf(uint discReason) =>
        Table.Where(c => c.Key.Kind == ClientCodeKind.Pair && c.Key.Value == discReason);

    /// <summary>A discReason or extended entry by its name, case-insensitive ("SSL_ERR_LOGON_FAILURE", "exdiscreasonserverdeniedconnection").</summary>
    public static ClientCode? ByName(string name) => ByNameTable.GetValueOrDefault(name.Trim());

    /// <summary>
    /// The <c>mstscCodes</c> text of a finding: each cited entry as "label (name)", qualified by
    /// the first wire pattern of that entry that names the finding; consecutive codes with the
    /// same qualifier share it ("0x204 (...) or 0x108 (...): inferred, pairing not documented").
    /// </summary>
    public static IReadOnlyList<string> MstscTexts(IEnumerable<ClientCodeKey> keys, string findingCode)
    {
        var texts = new List<string>();
        var group = new List<string>();
        string? groupBasis = null;
        foreach (var key in keys)
        {
            var entry = Find(key);
            var pattern = entry?.WirePatterns.FirstOrDefault(p => p.Findings.Contains(findingCode, StringComparer.Ordinal));
            string code = entry is null ? key.Label : $"{key.Label} ({entry.DisplayName})";
            if (pattern?.MstscNote is { } note)
            {
                code += " " + note;
            }
            string basis = pattern?.Basis ?? Qualifier(pattern?.Status ?? Unv);
            if (group.Count > 0 && basis != groupBasis)
            {
                texts.Add($"{string.Join(" or ", group)}: {groupBasis}");
                group.Clear();
            }
            group.Add(code);
            groupBasis = basis;
        }
        if (group.Count > 0)
        {
            texts.Add($"{string.Join(" or ", group)}: {groupBasis}");
        }
        return texts;
    }

    /// <summary>The reference's tag for a status: "[V]", "[3P]", "[OBS]", "[UNV]".</summary>
    public static string Tag(SourceStatus status) => status switch
    {
        SourceStatus.Verified => "[V]",
        SourceStatus.ThirdParty => "[3P]",
        SourceStatus.Observed => "[OBS]",
        _ => "[UNV]",
    };

    /// <summary>How sure the pairing of a code with a wire pattern is, for a finding's mstscCodes.</summary>
    private static string Qualifier(SourceStatus status) => status switch
    {
        SourceStatus.Verified => "documented",
        SourceStatus.ThirdParty => "third-party source only, pairing not documented",
        SourceStatus.Observed => "seen in field reports, pairing not documented",
        _ => "inferred, pairing not documented",
    };

    private static ClientCode Disc(uint value, string name, string meaning, WirePattern[] wire, string[] tellApart) =>
        new(ClientCodeKey.Disc(value), name, meaning, V, DiscSource, wire, tellApart);

    private static ClientCode Field(uint value, string name, SourceStatus status, string meaning, WirePattern[] wire, string[] tellApart) =>
        new(ClientCodeKey.Disc(value), name, meaning, status, FieldSource, wire, tellApart);

    private static ClientCode Ext(uint value, string name, string meaning, WirePattern[] wire, string[] tellApart,
        SourceStatus status = V, string source = ExtSource) =>
        new(ClientCodeKey.Ext(value), name, meaning, status, source, wire, tellApart);

    /// <summary>An extended code with an ERRINFO value of the same number (1.4: 0x1-0xC line up one-to-one).</summary>
    private static ClientCode EchoExt(uint value, string name, string meaning, string sourceNote = "") =>
        Ext(value, name, meaning, [EchoesErrorInfo(value)], ErrorInfoTellApart, V, ExtSource + sourceNote);

    /// <summary>An exDiscReasonLicense* code: ERRINFO_LICENSE_* of the same number, or a License Error PDU.</summary>
    private static ClientCode LicenseExt(uint value, string name, string meaning) =>
        Ext(value, name, meaning,
            [
                EchoesErrorInfo(value),
                new(Unv, "Licensing fails with a License Error PDU (MS-RDPBCGR 2.2.1.12.1.3) other than STATUS_VALID_CLIENT, and the server disconnects.", ["rdp.licensing-error"]),
            ],
            [
                $"Licensing runs inside TLS: {KeyLog} decrypts it and names the License Error code or errorInfo.",
                "On the server: licensing mode, license server and CALs (`Get-RDLicenseConfiguration`); on the client a corrupt stored license is cleared by deleting `HKLM\\SOFTWARE\\Microsoft\\MSLicensing`.",
            ]);

    /// <summary>1.4's [UNV] inference: the extended code echoes the server's Set Error Info value.</summary>
    private static WirePattern EchoesErrorInfo(uint value) => new(Unv,
        $"The server sends a Set Error Info PDU (MS-RDPBCGR 2.2.5.1) with errorInfo {ErrorInfoTable.Name(value)} ({ClientCodeKey.Hex(value)}) and disconnects; inferred from the matching numbers (reference 1.4), the extended code echoes errorInfo.",
        ["rdp.server-error-info"],
        Basis: "inferred from the matching ERRINFO value, pairing not documented");

    private static WirePattern ProtocolRangeErrorInfo() => new(Unv,
        "The server sends a Set Error Info PDU with an RDP-specific errorInfo (0x10C9-0x1196: it found a client PDU bad) and disconnects; inferred (reference 1.4): the range holds every such ERRINFO value, so the extended code most likely echoes it.",
        ["rdp.server-error-info"],
        Basis: "inferred from the matching ERRINFO range, pairing not documented");

    /// <summary>An SSL_ERR_* code: a CredSSP server's TSRequest errorCode, named after the NTSTATUS it lines up with.</summary>
    private static WirePattern[] SslErr(uint status, bool listed) =>
    [
        new(Unv,
            $"After the TLS handshake the server answers the client's CredSSP AUTHENTICATE with a TSRequest errorCode {NtStatus.Name(status)} ({ClientCodeKey.Hex(status)}) and closes; "
            + (listed ? "the names line up (reference 5.3), the pairing is not documented." : "inferred from the names."),
            ["credssp.auth-failed"],
            Basis: "names line up with the NTSTATUS, pairing not documented"),
        new(Unv,
            "A server that sends no errorCode (CredSSP version 2, or a refusal by policy) just closes the TLS connection after the AUTHENTICATE; RdpWire infers the rejection from the TLS record pattern.",
            ["credssp.auth-failed"]),
    ];
}
