using RdpWire.Analyzer.Report;
using static RdpWire.Analyzer.Findings.ClientCodeKey;

namespace RdpWire.Analyzer.Findings;

/// <summary>
/// The fixed part of a finding: what it is, how bad, where, what to change, what mstsc shows.
/// <paramref name="ClientCodeKeys"/> cite the <see cref="ClientCodes"/> entries the Windows client
/// shows for it; <paramref name="ClientMessages"/> are client texts that have no code (dialogs,
/// certificate warnings).
/// </summary>
public sealed record FindingDefinition(
    string Code,
    string Severity,
    string Phase,
    string Title,
    IReadOnlyList<string> Fix,
    IReadOnlyList<ClientCodeKey> ClientCodeKeys,
    IReadOnlyList<string> ClientMessages)
{
    /// <summary>
    /// What the Windows client shows for this finding (the report's <c>mstscCodes</c>): the cited
    /// codes with their names and how sure the pairing is, written from <see cref="ClientCodes"/>,
    /// then the messages.
    /// </summary>
    public IReadOnlyList<string> MstscCodes { get; } = [.. ClientCodes.MstscTexts(ClientCodeKeys, Code), .. ClientMessages];
}

/// <summary>
/// Every finding code with its remediation text and the Windows client codes that go with it:
/// one table, shared by the analyzer, the renderers and `rdpwire explain`. The client codes are
/// cited by value; their names, meanings and how sure each pairing is live in <see cref="ClientCodes"/>
/// (../shared/docs/rdp-failure-reference.md section 1), which also lists, per code, the findings
/// that report it.
/// </summary>
public static class FindingCatalog
{
    private static readonly Dictionary<string, FindingDefinition> Definitions = new[]
    {
        new FindingDefinition("ok", "info", Phases.TcpConnect,
            "The connection setup completed as far as the capture shows", [], [], []),
        new FindingDefinition("incomplete", "info", Phases.TcpConnect,
            "The capture ended while the connection setup was still in progress",
            ["Capture for longer, from before the client connects until it shows its error, so the whole handshake is on record."],
            [], []),
        new FindingDefinition("tcp.no-response", "error", Phases.TcpConnect,
            "The server never answered the TCP SYN",
            [
                "Check every firewall on the path allows TCP 3389 from the client: Windows Defender Firewall on the server (`Enable-NetFirewallRule -DisplayGroup \"Remote Desktop\"`), cloud security groups/NSGs, perimeter firewalls.",
                "Confirm the server is up and reachable at that address (`Test-NetConnection <server> -Port 3389` from the client's network).",
                "If the server listens on a non-default port, check `HKLM\\SYSTEM\\CurrentControlSet\\Control\\Terminal Server\\WinStations\\RDP-Tcp\\PortNumber` and connect to that port.",
                "Capture on the server too: SYNs arriving there and unanswered point at the host firewall; SYNs not arriving point at the network path.",
            ],
            [Disc(0x204), Disc(0x108)], []),
        new FindingDefinition("tcp.refused", "error", Phases.TcpConnect,
            "The server refused the TCP connection (RST answered the SYN)",
            [
                "Nothing listens on that port, or a firewall rejects with RST: on the server run `Get-Service TermService` and `netstat -ano | findstr :3389`.",
                "Make sure Remote Desktop is enabled: `Set-ItemProperty 'HKLM:\\System\\CurrentControlSet\\Control\\Terminal Server' -Name fDenyTSConnections -Value 0` (or System Properties > Remote).",
                "Check the listener port in `HKLM\\SYSTEM\\CurrentControlSet\\Control\\Terminal Server\\WinStations\\RDP-Tcp\\PortNumber` matches the port the client uses.",
                "If the RST's TTL differs from the server's other packets, a middlebox sent it: look for a reject rule on the path.",
            ],
            [Disc(0x204)], []),
        new FindingDefinition("tcp.icmp-unreachable", "error", Phases.TcpConnect,
            "An ICMP unreachable answered the SYN",
            [
                "The router or host named as the ICMP sender rejected the connection: check its ACLs / firewall rules for TCP 3389 (administratively prohibited) or its routes (net/host unreachable).",
                "Port unreachable from the server itself means it runs a firewall with a reject rule: allow TCP 3389 in Windows Defender Firewall.",
            ],
            [Disc(0x204)], []),
        new FindingDefinition("tcp.reset", "error", Phases.TcpConnect,
            "The connection was reset in the middle of the handshake",
            [
                "Look at who sent the RST and when: a server reset right after the client's message usually means the RDP service rejected it (check the server's `Microsoft-Windows-RemoteDesktopServices-RdpCoreTS/Operational` and `TerminalServices-RemoteConnectionManager` event logs).",
                "An RST whose TTL differs from the server's other packets was injected by a middlebox (IPS, firewall, proxy): check its logs for RDP/3389 blocks.",
            ],
            [Disc(0x904)], []),
        new FindingDefinition("tcp.stalled", "error", Phases.TcpConnect,
            "One side stopped answering in the middle of the handshake",
            [
                "The silent side is hung or its packets are lost on the path: check the server's RDP service (`Restart-Service TermService -Force` as a test) and any load balancer or proxy in front of it.",
                "If the silent direction carried large segments, suspect a path MTU problem: retry with a lower MTU on the client (`netsh interface ipv4 set subinterface \"<if>\" mtu=1400 store=persistent`) to test.",
            ],
            [Disc(0x904), Disc(0x108)], []),
        new FindingDefinition("tcp.client-closed-before-request", "warning", Phases.TcpConnect,
            "The client opened TCP and closed it without sending an RDP Connection Request",
            [
                "This is what port checks and load-balancer health probes do; if a real client did it, it gave up before RDP started: check its logs (mstsc: Event Viewer > Applications and Services > Microsoft > Windows > TerminalServices-ClientActiveXCore).",
            ],
            [], []),
        new FindingDefinition("tcp.server-closed", "error", Phases.TcpConnect,
            "The server closed the connection in the middle of the handshake",
            [
                "The RDP service closed the connection on purpose: look at the server's `RemoteDesktopServices-RdpCoreTS` and `TerminalServices-RemoteConnectionManager` logs at that time.",
                "A connection limit (Group Policy \"Limit number of connections\") or a licensing-mode problem also makes the server hang up early.",
            ],
            [Disc(0x904)], []),
        new FindingDefinition("x224.no-confirm", "error", Phases.X224,
            "The client's X.224 Connection Request never got a Connection Confirm",
            [
                "The TCP listener accepted the connection but the RDP stack did not answer: check the server's RDP service and its event logs (`RemoteDesktopServices-RdpCoreTS`).",
                "Something else may own the port (another service, a proxy or a port forwarder that is not RDP): `netstat -ano | findstr :3389` on the server.",
                "A middlebox that accepts TCP on behalf of the server (load balancer, TLS-terminating proxy) may be failing to reach the back end.",
            ],
            [Disc(0x904), Disc(0x108)], []),
        new FindingDefinition("x224.negotiation-failure", "error", Phases.X224,
            "The server refused the security protocols the client offered (RDP_NEG_FAILURE)",
            [], // fix steps depend on the failure code: see NegotiationFailureAdvice
            [], []),
        new FindingDefinition("x224.protocol-not-offered", "error", Phases.X224,
            "The server selected a security protocol the client did not offer",
            [
                "The server (or a proxy answering for it) ignored the client's offer: check its security-layer setting (`SecurityLayer` and `UserAuthentication` under `HKLM\\SYSTEM\\CurrentControlSet\\Control\\Terminal Server\\WinStations\\RDP-Tcp`).",
                "If an RDP proxy or gateway sits in front of the server, check its configuration: the Confirm may come from it, not the server.",
            ],
            [], []),
        new FindingDefinition("x224.client-abort-after-negotiation", "error", Phases.X224,
            "The client closed the connection right after the server chose the security protocol",
            [
                "The client did not accept the protocol the server chose. Most often the client requires Network Level Authentication (CredSSP) and the server selected TLS or Standard RDP Security.",
                "On the server, require NLA: System Properties > Remote > \"Allow connections only from computers running Remote Desktop with Network Level Authentication\", or GPO Computer Configuration > Administrative Templates > Windows Components > Remote Desktop Services > Remote Desktop Session Host > Security > \"Require user authentication for remote connections by using Network Level Authentication\" (registry `UserAuthentication`=1 under `...\\WinStations\\RDP-Tcp`).",
                "Or, if the server cannot do NLA (older or non-Windows servers), allow the client to connect without it: `enablecredsspsupport:i:0` / `authentication level:i:0` in the .rdp file for mstsc, `/sec:tls` for FreeRDP.",
            ],
            [], ["mstsc says the remote computer requires (or does not support) Network Level Authentication; no documented hex code"]),
        new FindingDefinition("x224.standard-rdp-security", "warning", Phases.X224,
            "The connection uses Standard RDP Security",
            [
                "Raise the server's security layer to Negotiate or TLS (`SecurityLayer`=1 or 2 under `HKLM\\SYSTEM\\CurrentControlSet\\Control\\Terminal Server\\WinStations\\RDP-Tcp`; xrdp: `security_layer=negotiate`) and require NLA where the clients support it.",
            ],
            [], []),
        new FindingDefinition("x224.malformed", "error", Phases.X224,
            "The TPKT/X.224 negotiation bytes break the specification",
            [
                "Identify what is speaking on the port: a non-RDP service, a proxy or an IPS that rewrites the negotiation.",
                "Compare the bytes with MS-RDPBCGR 2.2.1.1/2.2.1.2; the detail names the field that is wrong.",
            ],
            [Disc(0x1104)], []),
        new FindingDefinition("rdp.disconnect-ultimatum", "error", Phases.McsConnect,
            "The server ended the MCS domain (Disconnect Provider Ultimatum)",
            [
                "The server refused to go on with the connection at the MCS layer; its reason is in the finding. Look at the server's `RemoteDesktopServices-RdpCoreTS` log (Windows) or xrdp.log at that time.",
                "Right after the MCS Connect Initial of a client that sent no RDP_NEG_REQ (Standard RDP Security only), it usually means the server requires TLS or NLA and had no other way to say so: let the client negotiate (mstsc: do not force `negotiate security layer:i:0`; FreeRDP: `/sec:tls` or `/sec:nla`), or allow Standard RDP Security on the server (`SecurityLayer`=0 under `HKLM\\SYSTEM\\CurrentControlSet\\Control\\Terminal Server\\WinStations\\RDP-Tcp`; weak, last resort).",
            ],
            [Disc(0x3)], []),
        new FindingDefinition("path.mtu-blackhole", "error", Phases.Tls,
            "Large packets are lost on the path while small ones pass (PMTU black hole)",
            [], // built per finding, with the MTU estimate
            [Pair(0x904, 0x7), Disc(0x108), Disc(0x704)], []),
        new FindingDefinition("path.icmp-frag-needed", "info", Phases.Tls,
            "ICMP reported a smaller path MTU",
            ["If the sender did not recover, make sure nothing between the router and the sender filters the ICMP, and consider MSS clamping on the router."],
            [], []),
        new FindingDefinition("path.mtu-reduced", "info", Phases.Tls,
            "The sender lowered its path MTU after losing large packets, and recovered",
            ["Nothing to fix for this connection; if other clients fail, check that the ICMP 'fragmentation needed' reaches every sender (or clamp the MSS on the router)."],
            [], []),
        new FindingDefinition("path.retransmissions", "warning", Phases.TcpConnect,
            "Many TCP segments were retransmitted",
            ["Look for loss on the path: interface errors and drops on switches/routers (`show interfaces`), duplex mismatches, saturated links or Wi-Fi; `ping -f`/`mtr` between the hosts."],
            [], []),
        new FindingDefinition("path.zero-window", "warning", Phases.TcpConnect,
            "A side advertised a zero TCP window",
            ["The side with the zero window did not read its data: check its CPU and the RDP service there."],
            [], []),
        new FindingDefinition("path.high-rtt", "warning", Phases.TcpConnect,
            "High round-trip time",
            ["Check the route (VPN hairpinning, far-away gateways); RDP over UDP (MS-RDPEUDP) copes better with latency."],
            [], []),
        new FindingDefinition("capture.offload-artifacts", "info", Phases.TcpConnect,
            "Frames larger than the MTU: segmentation offload on the capturing host",
            ["Capture with offloads off (`ethtool -K <if> tso off gso off gro off`) or from a span port to see real packet sizes."],
            [], []),
        new FindingDefinition("udp.no-response", "warning", Phases.RdpeudpSyn,
            "RDP-UDP SYN datagrams were never answered (the client falls back to TCP)",
            [
                "Allow UDP 3389 in both directions on every firewall in the path (Windows Defender Firewall rule \"Remote Desktop - User Mode (UDP-In)\", cloud security groups, NAT).",
                "Make sure the server offers UDP: GPO \"Select RDP transport protocols\" = Use both UDP and TCP.",
            ],
            [], []),
        new FindingDefinition("rdp.weak-server-key", "warning", Phases.McsConnect,
            "The server's Standard RDP Security key is weak",
            ["Stop using Standard RDP Security: set the security layer to TLS or Negotiate (`SecurityLayer`=2 or 1 under `HKLM\\SYSTEM\\CurrentControlSet\\Control\\Terminal Server\\WinStations\\RDP-Tcp`) and require NLA."],
            [], []),
        new FindingDefinition("rdp.weak-encryption", "warning", Phases.McsConnect,
            "Standard RDP Security runs at a weak encryption level",
            ["Set \"Set client connection encryption level\" to High (GPO under Remote Desktop Session Host > Security, `MinEncryptionLevel`=3), or better, use TLS/NLA instead of Standard RDP Security."],
            [], []),
        new FindingDefinition("rdp.malformed-gcc", "warning", Phases.McsConnect,
            "A GCC data block could not be read",
            ["Compare the bytes with MS-RDPBCGR 2.2.1.3/2.2.1.4; a proxy rewriting the Basic Settings Exchange can cause this."],
            [], []),
        new FindingDefinition("credssp.auth-failed", "error", Phases.Credssp,
            "Network Level Authentication rejected the credentials",
            [
                "Check the user name (DOMAIN\\user or user@domain), the password, and that the account is not locked, disabled or expired (`Get-ADUser <user> -Properties LockedOut,Enabled,PasswordExpired,AccountExpirationDate`).",
                "On the server, the Security event log has event 4625 with the failure reason and sub-status for this logon.",
                "If the client saved credentials, delete them (Credential Manager, or `cmdkey /delete:TERMSRV/<host>`) and enter them again.",
            ],
            [Disc(0x807), Disc(0xA07), Disc(0xB07), Disc(0xC07), Disc(0xD07), Disc(0xE07), Disc(0xF07), Disc(0x1207), Pair(0x904, 0x7)], []),
        new FindingDefinition("credssp.version-mismatch", "error", Phases.Credssp,
            "CredSSP version / encryption-oracle remediation conflict (CVE-2018-0886)",
            [
                "Install the CredSSP update (KB 4093492, May 2018 or any later cumulative update) on whichever side speaks CredSSP version 4 or lower; FreeRDP 2.0+ and current Windows speak version 6.",
                "Only as a stopgap while patching, relax \"Encryption Oracle Remediation\" (GPO Computer Configuration > Administrative Templates > System > Credentials Delegation; registry `HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\System\\CredSSP\\Parameters\\AllowEncryptionOracle`) on the refusing side: 2 = Vulnerable lets unpatched peers in again, 0 = Force Updated Clients is what refuses them.",
            ],
            [], ["\"An authentication error has occurred … This could be due to CredSSP encryption oracle remediation\" (mstsc since KB 4093120)"]),
        new FindingDefinition("rdp.server-closed-session", "error", Phases.Active,
            "The server ended the session after the logon information without a reason on the wire",
            [
                "Read the server's log for this logon: Windows Security event 4625 and the TerminalServices-LocalSessionManager / RemoteConnectionManager logs; FreeRDP and xrdp servers log the authentication result.",
                "Check the user name and password the client sends in the Client Info PDU (saved credentials in the .rdp file, `cmdkey /list`).",
                "Require NLA (CredSSP) where the server supports it: a refused logon then fails before the session starts, as credssp.auth-failed, with the reason in the TSRequest errorCode.",
            ],
            [Disc(0x904)], []),
        new FindingDefinition("credssp.early-user-auth-denied", "error", Phases.EarlyUserAuth,
            "The user authenticated but is not allowed to log on remotely",
            [
                "Add the user (or a group) to \"Remote Desktop Users\" on the server, or grant \"Allow log on through Remote Desktop Services\" (GPO Computer Configuration > Windows Settings > Security Settings > Local Policies > User Rights Assignment); check \"Deny log on through Remote Desktop Services\" too.",
            ],
            [Disc(0x2407)], []),
        new FindingDefinition("rdp.server-error-info", "error", Phases.Active,
            "The server sent a Set Error Info PDU before disconnecting",
            [
                "The errorInfo name says why; on Windows the TerminalServices-LocalSessionManager and RemoteConnectionManager logs have the matching event.",
                "ERRINFO_SERVER_DENIED_CONNECTION (0x7): check \"Allow log on through Remote Desktop Services\", the Remote Desktop Users group and connection limits; license and protocol-range values point at licensing or a client PDU the server rejected.",
            ],
            [Disc(0x3)], []),
        new FindingDefinition("rdp.licensing-error", "error", Phases.Licensing,
            "RDS licensing failed",
            [
                "Check the RD Licensing configuration: licensing mode and license server (`Get-RDLicenseConfiguration`), CALs available, the grace period (`(Invoke-WmiMethod -Path ((Get-WmiObject -Namespace root/cimv2/terminalservices -Class Win32_TerminalServiceSetting).__PATH) -Name GetGracePeriodDays).DaysLeft`).",
                "On the client, a corrupt stored license can be cleared by deleting `HKLM\\SOFTWARE\\Microsoft\\MSLicensing`.",
            ],
            [Disc(0x808), Disc(0x3)], []),
        new FindingDefinition("tls.alert", "error", Phases.Tls,
            "A TLS alert ended the handshake",
            [
                "The side that sent the alert rejected something in the other's handshake; the alert description says what (see RFC 8446 6).",
                "Check the server's System event log for Schannel errors at that time.",
            ],
            [Pair(0x904, 0x7)], []),
        new FindingDefinition("tls.version-mismatch", "error", Phases.Tls,
            "Client and server share no TLS version",
            [
                "Enable TLS 1.2 on both sides. Windows: `HKLM\\SYSTEM\\CurrentControlSet\\Control\\SecurityProviders\\SCHANNEL\\Protocols\\TLS 1.2\\Server` and `\\Client`, `Enabled`=1, `DisabledByDefault`=0, then reboot; Windows Server 2008 R2 / 7 need KB3080079 for TLS 1.1/1.2 on RDP.",
                "On the client, do not restrict TLS below what the server can do (FreeRDP: OpenSSL `MinProtocol`/`MaxProtocol`; Windows: the same SCHANNEL keys under `Client`).",
            ],
            [Pair(0x904, 0x7)], []),
        new FindingDefinition("tls.no-shared-cipher", "error", Phases.Tls,
            "Client and server share no cipher suite",
            [
                "Compare the client's offered suites (in the finding) with the server's: Windows `Get-TlsCipherSuite` and the GPO Computer Configuration > Administrative Templates > Network > SSL Configuration Settings > SSL Cipher Suite Order; xrdp `tls_ciphers` in xrdp.ini.",
                "Put at least one modern suite on both sides, e.g. TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 / TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256.",
            ],
            [Pair(0x904, 0x7)], []),
        new FindingDefinition("tls.cert-expired", "error", Phases.Tls,
            "The server's RDP certificate has expired",
            [
                "Windows regenerates its self-signed RDP certificate: delete it from `Cert:\\LocalMachine\\Remote Desktop` and restart TermService (`Restart-Service TermService -Force`).",
                "For a CA-issued certificate, renew it and bind the new one: `$t = (Get-ChildItem Cert:\\LocalMachine\\My | ? Subject -like '*<host>*').Thumbprint; Set-CimInstance -Query 'SELECT * FROM Win32_TSGeneralSetting WHERE TerminalName=\"RDP-Tcp\"' -Namespace root\\cimv2\\TerminalServices -Property @{SSLCertificateSHA1Hash=$t}`.",
                "xrdp: replace `certificate`/`key_file` in xrdp.ini and restart xrdp.",
            ],
            [Disc(0x1B07), Pair(0x904, 0x7)], []),
        new FindingDefinition("tls.cert-not-yet-valid", "error", Phases.Tls,
            "The server's RDP certificate is not valid yet",
            [
                "Check the clocks of server and client (`w32tm /query /status`); a certificate issued with a future start date, or a client clock in the past, gives this.",
            ],
            [Pair(0x904, 0x7)], []),
        new FindingDefinition("tls.cert-self-signed", "info", Phases.Tls,
            "The server's certificate is self-signed",
            [
                "Deploy a certificate from a CA the clients trust (GPO \"Server authentication certificate template\" under Remote Desktop Session Host > Security), or distribute and pin the self-signed certificate's thumbprint.",
            ],
            [], ["mstsc warns \"The identity of the remote computer cannot be verified\"; it fails only when policy forbids connecting on a warning"]),
        new FindingDefinition("tls.cert-weak-key", "warning", Phases.Tls,
            "The server's certificate key is too weak",
            ["Reissue the certificate with an RSA key of at least 2048 bits (or ECDSA P-256) and bind it to the RDP listener."],
            [], []),
        new FindingDefinition("tls.cert-weak-signature", "warning", Phases.Tls,
            "The server's certificate uses a weak signature algorithm",
            ["Reissue the certificate signed with SHA-256 or better."],
            [], []),
        new FindingDefinition("tls.cert-name-mismatch", "warning", Phases.Tls,
            "The server's certificate does not name the server the client asked for",
            ["Connect with the name in the certificate, or reissue it with the name clients use in its Subject Alternative Names."],
            [], ["mstsc warns about a name mismatch in its certificate dialog"]),
        new FindingDefinition("tls.cert-no-server-auth", "error", Phases.Tls,
            "The server's certificate is not valid for server authentication",
            ["Use a certificate whose Extended Key Usage includes Server Authentication (1.3.6.1.5.5.7.3.1) or Remote Desktop Authentication (1.3.6.1.4.1.311.54.1.2)."],
            [], []),
        new FindingDefinition("tls.interception-suspected", "warning", Phases.Tls,
            "A TLS-inspection device re-signed the server's certificate",
            ["Exempt RDP (TCP 3389, or the RD Gateway's 443) from TLS inspection on that device: RDP binds NLA to the server's real public key (MS-CSSP), so an inspected connection cannot authenticate."],
            [], []),
        new FindingDefinition("tls.legacy-version", "warning", Phases.Tls,
            "The connection uses TLS 1.0 or 1.1",
            ["Enable TLS 1.2 on the server (SCHANNEL `TLS 1.2\\Server` keys; KB3080079 on 2008 R2) so clients that disabled old TLS can connect."],
            [], []),
        new FindingDefinition("tls.weak-cipher", "warning", Phases.Tls,
            "The server chose a weak cipher suite",
            ["Remove RC4, 3DES, export and NULL suites from the server's cipher suite order."],
            [], []),
        new FindingDefinition("tls.malformed", "warning", Phases.Tls,
            "A TLS handshake message could not be read",
            ["Check what sits in the path: a TLS-inspecting or rewriting middlebox, or a non-TLS service answering."],
            [], []),
        new FindingDefinition("tls.server-no-hello", "error", Phases.Tls,
            "The server never answered the TLS ClientHello",
            [
                "The server could not start TLS: its RDP certificate or private key is unusable (check `Get-ChildItem 'Cert:\\LocalMachine\\Remote Desktop'` and the NETWORK SERVICE read permission on the key in `C:\\ProgramData\\Microsoft\\Crypto\\RSA\\MachineKeys`), or it shares no TLS version with the client (enable TLS 1.2 under `HKLM\\SYSTEM\\CurrentControlSet\\Control\\SecurityProviders\\SCHANNEL\\Protocols`).",
                "Delete the self-signed certificate from the \"Remote Desktop\" store and restart TermService to have it regenerated.",
            ],
            [Pair(0x904, 0x7)], []),
        new FindingDefinition("tls.client-rejected-certificate", "error", Phases.Tls,
            "The client walked away right after the server's certificate",
            [
                "The client did not accept the server's certificate (expired, untrusted, wrong name) or its TLS parameters: look at the certificate in the server's flight and at the client's certificate warning.",
                "Replace the RDP certificate with one the clients trust, for the name they connect to (GPO \"Server authentication certificate template\" or `Set-CimInstance` on `Win32_TSGeneralSetting` SSLCertificateSHA1Hash).",
            ],
            [Pair(0x904, 0x7)], []),
    }.ToDictionary(d => d.Code, StringComparer.Ordinal);

    public static FindingDefinition Get(string code) =>
        Definitions.TryGetValue(code, out var d) ? d : throw new KeyNotFoundException($"finding code {code} is not in the catalog");

    public static IEnumerable<FindingDefinition> All => Definitions.Values;
}

/// <summary>Remediation for each RDP_NEG_FAILURE code (MS-RDPBCGR 2.2.1.2.2).</summary>
public static class NegotiationFailureAdvice
{
    public static (string Meaning, IReadOnlyList<string> Fix, IReadOnlyList<string> Mstsc) For(string failureCode) => failureCode switch
    {
        "HYBRID_REQUIRED_BY_SERVER" => (
            "the server requires Network Level Authentication (CredSSP) and the client did not offer it",
            [
                "Let the client use NLA: mstsc does by default (check `enablecredsspsupport:i:1` in the .rdp file); FreeRDP needs `/sec:nla` or no `/sec:` option; third-party clients need CredSSP support.",
                "Or, less secure, stop requiring NLA on the server: GPO Computer Configuration > Administrative Templates > Windows Components > Remote Desktop Services > Remote Desktop Session Host > Security > \"Require user authentication for remote connections by using Network Level Authentication\" = Disabled (registry `UserAuthentication`=0 under `HKLM\\SYSTEM\\CurrentControlSet\\Control\\Terminal Server\\WinStations\\RDP-Tcp`).",
            ],
            ["mstsc: \"The remote computer requires Network Level Authentication, which your computer does not support\"; no documented hex code"]),
        "SSL_REQUIRED_BY_SERVER" => (
            "the server requires TLS (or, when the client offered only CredSSP, supports only TLS)",
            [
                "Let the client offer TLS: FreeRDP `/sec:tls`; in mstsc do not force Standard RDP Security.",
                "If the client offered only CredSSP, the server cannot do NLA: enable it there (`UserAuthentication`=1) or let the client fall back to TLS.",
            ],
            ["no documented hex code"]),
        "SSL_NOT_ALLOWED_BY_SERVER" => (
            "the server is configured for Standard RDP Security only",
            [
                "Raise the server's security layer: GPO \"Require use of specific security layer for remote (RDP) connections\" = Negotiate or SSL, or registry `SecurityLayer`=1 (negotiate) or 2 (TLS) under `HKLM\\SYSTEM\\CurrentControlSet\\Control\\Terminal Server\\WinStations\\RDP-Tcp`.",
                "Standard RDP Security is weak (RC4, no server authentication); allowing the client to use it is a last resort.",
            ],
            ["no documented hex code"]),
        "SSL_CERT_NOT_ON_SERVER" => (
            "the server has no usable certificate, so it cannot start TLS",
            [
                "Check the certificate the RDP listener uses: `Get-CimInstance -Namespace root\\cimv2\\TerminalServices -ClassName Win32_TSGeneralSetting | Select SSLCertificateSHA1Hash` and that it exists in `Cert:\\LocalMachine\\Remote Desktop` (or `My`) with its private key.",
                "Give NETWORK SERVICE read access to the private key (`C:\\ProgramData\\Microsoft\\Crypto\\RSA\\MachineKeys`), or delete the self-signed RDP certificate and restart TermService to regenerate it.",
            ],
            ClientCodes.MstscTexts([Pair(0x904, 0x7)], "x224.negotiation-failure")),
        "INCONSISTENT_FLAGS" => (
            "the requested protocols conflict with those already in effect (Direct Approach)",
            ["Check the client's security settings and any proxy that rewrites the negotiation."],
            ["no documented hex code"]),
        "SSL_WITH_USER_AUTH_REQUIRED_BY_SERVER" => (
            "the server requires TLS with client-certificate authentication",
            ["Configure the client with a certificate for client authentication, or relax the server's requirement."],
            ["no documented hex code"]),
        _ => ($"the server sent an undefined failure code ({failureCode})", ["Identify the server software: this code is not defined by MS-RDPBCGR 2.2.1.2.2."], []),
    };
}
