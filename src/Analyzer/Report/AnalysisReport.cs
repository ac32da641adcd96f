using System.Globalization;

namespace RdpWire.Analyzer.Report;

// The JSON report of ../shared/docs/report-contract.md. Property names are the contract's
// (serialized camelCase); fields beyond the contract are additions, never renames.

public sealed class AnalysisReport
{
    public string Tool { get; init; } = "rdpwire";
    public required string Version { get; init; }
    public int Schema { get; init; } = 1;
    public required CaptureSummary Capture { get; init; }
    public List<ConnectionReport> Connections { get; init; } = [];
    /// <summary>Capture-wide findings, not tied to one connection.</summary>
    public List<Finding> Findings { get; init; } = [];

    /// <summary>Connections kept on disk (AnalyzerOptions.SpoolConnections); <see cref="Connections"/> then holds none.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public ConnectionSpool? Spool { get; init; }

    /// <summary>Every connection in id order, from memory or read back from the spool.</summary>
    public IEnumerable<ConnectionReport> AllConnections() => Spool is { } spool ? spool.ReadAll() : Connections;
}

public sealed class CaptureSummary
{
    public required string Path { get; init; }
    /// <summary>"pcap" | "pcapng" | "live".</summary>
    public required string Format { get; init; }
    public List<string> LinkTypes { get; set; } = [];
    public long Packets { get; set; }
    public long Bytes { get; set; }
    public string? First { get; set; }
    public string? Last { get; set; }
    public long TruncatedPackets { get; set; }
    /// <summary>Addition: packets that were not IP or whose headers could not be decoded.</summary>
    public long UndecodedPackets { get; set; }
    /// <summary>Addition: UDP datagrams to or from port 3389 (RDP-UDP, MS-RDPEUDP, or anything else there).</summary>
    public long RdpUdpDatagrams { get; set; }
    /// <summary>Addition: the one-line reason reading stopped early, when it did.</summary>
    public string? ReadError { get; set; }
    /// <summary>Addition: TCP segments that arrived after their connection was closed and decided (counted only).</summary>
    public long LateSegments { get; set; }
    /// <summary>Addition, live capture: what pcap_stats counted (null for files).</summary>
    public long? Received { get; set; }
    public long? DroppedByKernel { get; set; }
    public long? DroppedByInterface { get; set; }
    public string? Interface { get; set; }
}

public sealed class EndpointReport
{
    public required string Ip { get; init; }
    public required int Port { get; init; }

    /// <summary>"10.0.0.1:3389", or "[::1]:3389" for IPv6.</summary>
    public override string ToString() =>
        Ip.Contains(':', StringComparison.Ordinal) ? $"[{Ip}]:{Port.ToString(CultureInfo.InvariantCulture)}" : $"{Ip}:{Port.ToString(CultureInfo.InvariantCulture)}";
}

public sealed class ConnectionReport
{
    public required long Id { get; set; }
    public string Transport { get; init; } = "tcp";
    public required EndpointReport Client { get; init; }
    public required EndpointReport Server { get; init; }
    public string? First { get; set; }
    public string? Last { get; set; }
    /// <summary>"client" | "server" | "middle" | "unknown".</summary>
    public string Vantage { get; set; } = "unknown";
    public string PhaseReached { get; set; } = Phases.TcpConnect;
    /// <summary>"success" | "failure" | "incomplete".</summary>
    public string Outcome { get; set; } = "incomplete";
    public string? ClosedBy { get; set; }
    /// <summary>"fin" | "rst" | "timeout" | "capture-end" | null.</summary>
    public string? CloseKind { get; set; }
    public NegotiationReport? Negotiation { get; set; }
    public TlsReport? Tls { get; set; }
    public McsReport? Mcs { get; set; }
    public CredSspReport? Credssp { get; set; }
    /// <summary>Addition: the Client Info PDU (MS-RDPBCGR 2.2.1.11), when in the clear or decrypted.</summary>
    public ClientInfoReport? ClientInfo { get; set; }
    public List<Finding> Findings { get; init; } = [];
    public required Verdict Verdict { get; set; }
    /// <summary>Addition: the handshake as the ladder the text report draws.</summary>
    public List<LadderStep> Ladder { get; init; } = [];
    /// <summary>Addition: TCP facts behind the verdict.</summary>
    public TcpReport? Tcp { get; set; }
    /// <summary>Addition: what the capture proves about the path (MTU estimate, ICMP).</summary>
    public PathReport? Path { get; set; }
    /// <summary>Addition: the RDP-UDP handshake (transport "udp").</summary>
    public RdpeudpReport? Rdpeudp { get; set; }
}

public sealed class NegotiationReport
{
    public string? Cookie { get; set; }
    public string? RoutingToken { get; set; }
    public List<string> RequestedProtocols { get; set; } = [];
    public List<string> RequestFlags { get; set; } = [];
    public string? SelectedProtocol { get; set; }
    public List<string> ResponseFlags { get; set; } = [];
    public string? FailureCode { get; set; }
    /// <summary>Addition: RDP_NEG_CORRELATION_INFO correlationId.</summary>
    public string? CorrelationId { get; set; }
    /// <summary>Addition: frame of the Connection Request / Confirm.</summary>
    public long? RequestFrame { get; set; }
    public long? ConfirmFrame { get; set; }
}

public sealed class TlsReport
{
    public List<string> ClientVersions { get; set; } = [];
    public string? Version { get; set; }
    public string? CipherSuite { get; set; }
    public string? ServerName { get; set; }
    public List<TlsAlertReport> Alerts { get; set; } = [];
    public List<CertificateReport> Certificates { get; set; } = [];
    /// <summary>Addition: what the ClientHello offered (IANA names, GREASE left out).</summary>
    public List<string> ClientCipherSuites { get; set; } = [];
    public List<string> ClientGroups { get; set; } = [];
    public List<string> ClientSignatureAlgorithms { get; set; } = [];
    public List<string> Alpn { get; set; } = [];
    /// <summary>Addition: true when the server answered with a HelloRetryRequest (TLS 1.3).</summary>
    public bool HelloRetryRequest { get; set; }
    /// <summary>Addition: frame of each side's first ciphertext record (when it started encrypting).</summary>
    public long? ClientEncryptedFrom { get; set; }
    public long? ServerEncryptedFrom { get; set; }
    /// <summary>Addition: certificates in the server's chain on the wire (some may not be kept).</summary>
    public int CertificatesOnWire { get; set; }
    /// <summary>Addition: TLS record counts per direction (client→server, server→client).</summary>
    public long ClientRecords { get; set; }
    public long ServerRecords { get; set; }
    /// <summary>Addition: set when keys were given (--keylog, --server-key or a pcapng Decryption Secrets Block).</summary>
    public TlsDecryptionReport? Decryption { get; set; }
}

public sealed class CertificateReport
{
    public string? Subject { get; init; }
    public string? Issuer { get; init; }
    public string? Serial { get; init; }
    public string? NotBefore { get; init; }
    public string? NotAfter { get; init; }
    public string? Sha256 { get; init; }
    public string? KeyAlgorithm { get; init; }
    public int? KeyBits { get; init; }
    public string? SignatureAlgorithm { get; init; }
    public bool? SelfSigned { get; init; }
    public List<string> SubjectAltNames { get; init; } = [];
    public List<string> ExtendedKeyUsage { get; init; } = [];
    /// <summary>Addition: why the certificate could not be decoded, when it could not.</summary>
    public string? DecodeError { get; init; }
}

/// <summary>Addition: the logon the client asked for (TS_INFO_PACKET). The password is never reported, only its presence.</summary>
public sealed class ClientInfoReport
{
    public required long Frame { get; init; }
    public string? UserName { get; init; }
    public string? Domain { get; init; }
    public bool PasswordSent { get; init; }
    public bool AutoLogon { get; init; }
    public List<string> Flags { get; init; } = [];
    public int CodePage { get; init; }
    public string? AlternateShell { get; init; }
    public string? WorkingDir { get; init; }
    public string? ClientAddressFamily { get; init; }
    public string? ClientAddress { get; init; }
    public string? ClientDir { get; init; }
    public List<string> PerformanceFlags { get; init; } = [];
    public bool AutoReconnectCookie { get; init; }
    public string? Problem { get; init; }
}

/// <summary>Addition: whether and how the connection's TLS records were decrypted.</summary>
public sealed class TlsDecryptionReport
{
    /// <summary>"key log" | "server key" | null when no secrets fit.</summary>
    public string? Secrets { get; init; }
    public long ClientRecordsDecrypted { get; init; }
    public long ServerRecordsDecrypted { get; init; }
    /// <summary>Why (part of) the connection could not be decrypted.</summary>
    public string? Problem { get; init; }
}

public sealed class TlsAlertReport
{
    public required string From { get; init; }
    public required string Level { get; init; }
    public required string Description { get; init; }
    public required long Frame { get; init; }
    public required bool Encrypted { get; init; }
    /// <summary>Addition: true for a TLS 1.3 record taken for an alert by its 19-byte length (the type is hidden).</summary>
    public bool InferredFromLength { get; init; }
}

public sealed class PathReport
{
    /// <summary>The path MTU lies between these (IP packet bytes, inclusive).</summary>
    public int MtuLow { get; set; }
    public int MtuHigh { get; set; }
    /// <summary>The direction whose packets the estimate is about: "client" or "server" sending.</summary>
    public string? Direction { get; set; }
    public int? IcmpNextHopMtu { get; set; }
}

public sealed class CredSspReport
{
    public int? Version { get; set; }
    /// <summary>"NTLM" | "Kerberos" | "unknown" (plus "SPNEGO" when it is wrapped).</summary>
    public string AuthPackage { get; set; } = "unknown";
    public string? ErrorCode { get; set; }
    public string? ErrorName { get; set; }
    public string? EarlyUserAuthResult { get; set; }
    public bool Decrypted { get; set; }
    /// <summary>Additions.</summary>
    public int? ServerVersion { get; set; }
    public int Messages { get; set; }
    public bool CredentialsSent { get; set; }
}

public sealed class McsReport
{
    public string? ClientName { get; set; }
    public long? ClientBuild { get; set; }
    public string? KeyboardLayout { get; set; }
    public int? DesktopWidth { get; set; }
    public int? DesktopHeight { get; set; }
    public int? ColorDepth { get; set; }
    public List<string> Channels { get; set; } = [];
    public List<string> ClientEncryptionMethods { get; set; } = [];
    public string? ServerEncryptionMethod { get; set; }
    public string? ServerEncryptionLevel { get; set; }
    /// <summary>"proprietary" | "x509" | null.</summary>
    public string? ServerCertificateType { get; set; }
    public int? ServerCertificateCount { get; set; }
    /// <summary>Additions.</summary>
    public string? ClientBuildName { get; set; }
    public string? KeyboardLayoutId { get; set; }
    public string? ClientVersion { get; set; }
    public string? ServerVersion { get; set; }
    public int? ServerCertificateKeyBits { get; set; }
    public bool? ServerCertificatePermanent { get; set; }
    public string? ConnectResult { get; set; }
    public bool? ClientSupportsErrorInfo { get; set; }
    public long? ConnectInitialFrame { get; set; }
    public long? ConnectResponseFrame { get; set; }
}

public sealed class RdpeudpReport
{
    public bool Lossy { get; set; }
    public string? ClientVersion { get; set; }
    public string? ServerVersion { get; set; }
    public int? UpStreamMtu { get; set; }
    public int? DownStreamMtu { get; set; }
    public string? CorrelationId { get; set; }
    public int SynCount { get; set; }
    public long? SynAckFrame { get; set; }
    public long? EstablishedFrame { get; set; }
    public long ClientDatagrams { get; set; }
    public long ServerDatagrams { get; set; }
}

public sealed class TcpReport
{
    public long? HandshakeRttMicroseconds { get; set; }
    public int SynCount { get; set; }
    public long ClientPackets { get; set; }
    public long ServerPackets { get; set; }
    public long ClientPayloadBytes { get; set; }
    public long ServerPayloadBytes { get; set; }
    public long Retransmissions { get; set; }
    public long Gaps { get; set; }
    public long DuplicateAcks { get; set; }
    public long ZeroWindows { get; set; }
    public long KeepAlives { get; set; }
    /// <summary>MSS each side advertised in its SYN (RFC 9293 3.7.1).</summary>
    public int? ClientMss { get; set; }
    public int? ServerMss { get; set; }
}

public sealed class Finding
{
    public required string Code { get; init; }
    /// <summary>"error" | "warning" | "info".</summary>
    public required string Severity { get; init; }
    public required string Phase { get; init; }
    public long? Frame { get; init; }
    public string? Time { get; init; }
    public required string Summary { get; init; }
    public required string Detail { get; init; }
    public List<long> EvidenceFrames { get; init; } = [];
    public List<string> Fix { get; init; } = [];
    public List<string> MstscCodes { get; init; } = [];
}

public sealed class Verdict
{
    public required string Code { get; init; }
    public required string Summary { get; init; }
}

public sealed class LadderStep
{
    private string? _time;

    public required long Frame { get; init; }

    /// <summary>
    /// When the step's frame was captured (<see cref="ReportTime.Format"/>). Written from
    /// <see cref="Ticks"/> when first read, which is when the report is written: a connection keeps
    /// tens of steps for as long as it is tracked, and the text of each was 80 bytes of heap (a
    /// tenth of what a tracked connection held on the 5 GB bench capture).
    /// </summary>
    [System.Text.Json.Serialization.JsonRequired]
    public string Time
    {
        get => _time ??= ReportTime.Format(Ticks);
        init => _time = value;
    }

    /// <summary>The frame's time stamp, for <see cref="Time"/>; not in the report (a report read back has its <see cref="Time"/> only).</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public long Ticks { get; init; }

    /// <summary>Seconds since the connection's first packet.</summary>
    public required double Offset { get; init; }
    /// <summary>"c2s" | "s2c" | "icmp".</summary>
    public required string Direction { get; init; }
    public required string Message { get; init; }
    /// <summary>For an "icmp" step: "client" or "server", the side the error was sent to.</summary>
    public string? IcmpTo { get; init; }
    /// <summary>True on the step the verdict is pinned on.</summary>
    public bool Failure { get; set; }
}

public static class Phases
{
    public const string TcpConnect = "tcp-connect";
    public const string X224 = "x224";
    public const string Tls = "tls";
    public const string Credssp = "credssp";
    public const string EarlyUserAuth = "early-user-auth";
    public const string McsConnect = "mcs-connect";
    public const string ChannelJoin = "channel-join";
    public const string SecurityExchange = "security-exchange";
    public const string ClientInfo = "client-info";
    public const string Licensing = "licensing";
    public const string Capabilities = "capabilities";
    public const string Finalization = "finalization";
    public const string Active = "active";
    public const string RdpeudpSyn = "rdpeudp-syn";
    public const string RdpeudpEstablished = "rdpeudp-established";

    /// <summary>Every phase in wire order.</summary>
    public static readonly IReadOnlyList<string> InOrder =
    [
        TcpConnect, X224, Tls, Credssp, EarlyUserAuth, McsConnect, ChannelJoin, SecurityExchange,
        ClientInfo, Licensing, Capabilities, Finalization, Active,
    ];

    public static int Rank(string phase)
    {
        for (int i = 0; i < InOrder.Count; i++)
        {
            if (InOrder[i] == phase)
            {
                return i;
            }
        }
        return -1;
    }
}

public static class ReportTime
{
    /// <summary>
    /// ISO 8601 UTC with microseconds, as the contract asks: <c>yyyy-MM-ddTHH:mm:ss.ffffffZ</c>.
    /// Written digit by digit (every ladder step and finding has one; the custom-format path of
    /// DateTime.ToString was 4 % of the samples on a capture of 5,093 handshake-only sessions).
    /// </summary>
    public static string Format(long ticks) =>
        string.Create(27, new DateTime(ticks, DateTimeKind.Utc), static (text, time) =>
        {
            Digits(text[..4], time.Year);
            text[4] = '-';
            Digits(text.Slice(5, 2), time.Month);
            text[7] = '-';
            Digits(text.Slice(8, 2), time.Day);
            text[10] = 'T';
            Digits(text.Slice(11, 2), time.Hour);
            text[13] = ':';
            Digits(text.Slice(14, 2), time.Minute);
            text[16] = ':';
            Digits(text.Slice(17, 2), time.Second);
            text[19] = '.';
            Digits(text.Slice(20, 6), (int)(time.Ticks % TimeSpan.TicksPerSecond / 10));
            text[26] = 'Z';
        });

    private static void Digits(Span<char> text, int value)
    {
        for (int i = text.Length - 1; i >= 0; i--)
        {
            text[i] = (char)('0' + value % 10);
            value /= 10;
        }
    }
}
