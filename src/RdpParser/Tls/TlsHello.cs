using System.Text;

namespace RdpWire.RdpParser.Tls;

/// <summary>TLS ExtensionType values this parser reads (IANA TLS ExtensionType Values).</summary>
public enum TlsExtensionType : ushort
{
    ServerName = 0,
    SupportedGroups = 10,
    SignatureAlgorithms = 13,
    ApplicationLayerProtocolNegotiation = 16,
    ExtendedMasterSecret = 23,
    SupportedVersions = 43,
    KeyShare = 51,
    RenegotiationInfo = 0xFF01,
}

/// <summary>
/// RFC 8446 4.1.2 / RFC 5246 7.4.1.2 ClientHello: what the client offers. Lists keep wire
/// order; GREASE values (RFC 8701) are kept here and filtered by the reader of the report.
/// </summary>
public sealed class ClientHello
{
    public ushort LegacyVersion { get; init; }
    /// <summary>ClientHello.random: the key a key log is indexed by.</summary>
    public byte[] Random { get; init; } = [];
    public int SessionIdLength { get; init; }
    public List<ushort> CipherSuites { get; } = [];
    public List<ushort> Extensions { get; } = [];
    /// <summary>supported_versions (RFC 8446 4.2.1), empty when the extension is absent.</summary>
    public List<ushort> SupportedVersions { get; } = [];
    public List<ushort> SupportedGroups { get; } = [];
    public List<ushort> SignatureAlgorithms { get; } = [];
    public List<string> Alpn { get; } = [];
    /// <summary>server_name host_name (RFC 6066 3), or null.</summary>
    public string? ServerName { get; set; }

    /// <summary>The versions the client is willing to use: supported_versions, else the legacy version.</summary>
    public IEnumerable<ushort> OfferedVersions =>
        SupportedVersions.Count > 0 ? SupportedVersions.Where(v => !TlsRegistry.IsGrease(v)) : [LegacyVersion];

    public static bool TryParse(ReadOnlySpan<byte> body, out ClientHello hello, out string? error)
    {
        hello = new ClientHello();
        var r = new TlsSpanReader(body);
        if (!r.TryReadU16(out ushort legacy) || !r.TryReadBytes(32, out var clientRandom) || !r.TryReadVector8(out var sessionId)
            || !r.TryReadVector16(out var suites) || !r.TryReadVector8(out _))
        {
            error = "ClientHello is shorter than its fixed fields";
            return false;
        }
        hello = new ClientHello { LegacyVersion = legacy, SessionIdLength = sessionId.Length, Random = clientRandom.ToArray() };
        if (!TlsSpanReader.TryReadU16List(suites, hello.CipherSuites))
        {
            error = "ClientHello cipher_suites has an odd length";
            return false;
        }
        error = null;
        if (!r.TryReadExtensions(out var ext))
        {
            error = "ClientHello extensions block is cut short";
            return false;
        }
        while (ext.Remaining > 0)
        {
            if (!ext.TryReadExtension(out ushort type, out var data))
            {
                error = "a ClientHello extension is cut short";
                return false;
            }
            hello.Extensions.Add(type);
            var d = new TlsSpanReader(data);
            switch ((TlsExtensionType)type)
            {
                case TlsExtensionType.ServerName:
                    // ServerNameList: vector16 of { NameType (0 = host_name), vector16 HostName }.
                    if (d.TryReadVector16(out var list))
                    {
                        var names = new TlsSpanReader(list);
                        while (names.TryReadU8(out byte nameType) && names.TryReadVector16(out var name))
                        {
                            if (nameType == 0)
                            {
                                hello.ServerName ??= Encoding.ASCII.GetString(name);
                            }
                        }
                    }
                    break;
                case TlsExtensionType.SupportedVersions when d.TryReadVector8(out var versions):
                    TlsSpanReader.TryReadU16List(versions, hello.SupportedVersions);
                    break;
                case TlsExtensionType.SupportedGroups when d.TryReadVector16(out var groups):
                    TlsSpanReader.TryReadU16List(groups, hello.SupportedGroups);
                    break;
                case TlsExtensionType.SignatureAlgorithms when d.TryReadVector16(out var schemes):
                    TlsSpanReader.TryReadU16List(schemes, hello.SignatureAlgorithms);
                    break;
                case TlsExtensionType.ApplicationLayerProtocolNegotiation when d.TryReadVector16(out var protocols):
                    var p = new TlsSpanReader(protocols);
                    while (p.TryReadVector8(out var proto) && hello.Alpn.Count < 16)
                    {
                        hello.Alpn.Add(Encoding.ASCII.GetString(proto));
                    }
                    break;
            }
        }
        return true;
    }
}

/// <summary>RFC 8446 4.1.3 / RFC 5246 7.4.1.3 ServerHello (or HelloRetryRequest): what the server chose.</summary>
public sealed class ServerHello
{
    /// <summary>RFC 8446 4.1.3: a ServerHello with this random is a HelloRetryRequest (SHA-256 of "HelloRetryRequest").</summary>
    private static ReadOnlySpan<byte> HelloRetryRequestRandom =>
    [
        0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
        0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
    ];

    public ushort LegacyVersion { get; init; }
    public byte[] Random { get; init; } = [];
    public ushort CipherSuite { get; init; }
    public byte CompressionMethod { get; init; }
    public bool IsHelloRetryRequest { get; init; }
    public List<ushort> Extensions { get; } = [];
    /// <summary>supported_versions selected_version (TLS 1.3), or null.</summary>
    public ushort? SelectedVersion { get; set; }
    public string? Alpn { get; set; }

    /// <summary>The version in force: supported_versions when present (RFC 8446 4.2.1), else legacy_version.</summary>
    public ushort NegotiatedVersion => SelectedVersion ?? LegacyVersion;

    public static bool TryParse(ReadOnlySpan<byte> body, out ServerHello hello, out string? error)
    {
        hello = new ServerHello();
        var r = new TlsSpanReader(body);
        if (!r.TryReadU16(out ushort legacy) || !r.TryReadBytes(32, out var random) || !r.TryReadVector8(out _)
            || !r.TryReadU16(out ushort suite) || !r.TryReadU8(out byte compression))
        {
            error = "ServerHello is shorter than its fixed fields";
            return false;
        }
        hello = new ServerHello
        {
            LegacyVersion = legacy,
            Random = random.ToArray(),
            CipherSuite = suite,
            CompressionMethod = compression,
            IsHelloRetryRequest = random.SequenceEqual(HelloRetryRequestRandom),
        };
        error = null;
        if (!r.TryReadExtensions(out var ext))
        {
            error = "ServerHello extensions block is cut short";
            return false;
        }
        while (ext.Remaining > 0)
        {
            if (!ext.TryReadExtension(out ushort type, out var data))
            {
                error = "a ServerHello extension is cut short";
                return false;
            }
            hello.Extensions.Add(type);
            var d = new TlsSpanReader(data);
            switch ((TlsExtensionType)type)
            {
                case TlsExtensionType.SupportedVersions when d.TryReadU16(out ushort selected):
                    hello.SelectedVersion = selected;
                    break;
                case TlsExtensionType.ApplicationLayerProtocolNegotiation when d.TryReadVector16(out var list):
                    var p = new TlsSpanReader(list);
                    if (p.TryReadVector8(out var proto))
                    {
                        hello.Alpn = Encoding.ASCII.GetString(proto);
                    }
                    break;
            }
        }
        return true;
    }
}

/// <summary>
/// RFC 5246 7.4.2 Certificate (TLS ≤ 1.2, sent in the clear): the server's chain, leaf first.
/// TLS 1.3's Certificate (RFC 8446 4.4.2) is encrypted and never reaches this parser.
/// </summary>
public sealed class CertificateChain
{
    /// <summary>Certificates larger than this are not kept (the chain is still counted).</summary>
    public const int MaxCertificateBytes = 64 * 1024;
    /// <summary>At most this many certificates are kept from one chain.</summary>
    public const int MaxCertificates = 16;

    public List<byte[]> Certificates { get; } = [];
    public int CertificatesOnWire { get; private set; }

    /// <summary>RFC 8446 4.4.2: certificate_request_context, then entries of cert_data and extensions.</summary>
    public static bool TryParse13(ReadOnlySpan<byte> body, out CertificateChain chain, out string? error, RdpParserLimits? limits = null)
    {
        limits ??= RdpParserLimits.Default;
        chain = new CertificateChain();
        var r = new TlsSpanReader(body);
        if (!r.TryReadVector8(out _) || !r.TryReadVector24(out var list))
        {
            error = "TLS 1.3 Certificate message is cut short";
            return false;
        }
        var entries = new TlsSpanReader(list);
        while (entries.Remaining > 0)
        {
            if (!entries.TryReadVector24(out var der) || !entries.TryReadVector16(out _))
            {
                error = "a TLS 1.3 CertificateEntry is cut short";
                return false;
            }
            chain.CertificatesOnWire++;
            if (chain.Certificates.Count < limits.MaxCertificates && der.Length <= limits.MaxCertificateBytes)
            {
                chain.Certificates.Add(der.ToArray());
            }
        }
        error = null;
        return true;
    }

    public static bool TryParse(ReadOnlySpan<byte> body, out CertificateChain chain, out string? error, RdpParserLimits? limits = null)
    {
        limits ??= RdpParserLimits.Default;
        chain = new CertificateChain();
        var r = new TlsSpanReader(body);
        if (!r.TryReadVector24(out var list))
        {
            error = "Certificate message list is cut short";
            return false;
        }
        var entries = new TlsSpanReader(list);
        while (entries.Remaining > 0)
        {
            if (!entries.TryReadVector24(out var der))
            {
                error = "a certificate in the chain is cut short";
                return false;
            }
            chain.CertificatesOnWire++;
            if (chain.Certificates.Count < limits.MaxCertificates && der.Length <= limits.MaxCertificateBytes)
            {
                chain.Certificates.Add(der.ToArray());
            }
        }
        error = null;
        return true;
    }
}
