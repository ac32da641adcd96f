using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using RdpWire.Analyzer.Report;

namespace RdpWire.Analyzer.Tls;

/// <summary>
/// Decodes the server's certificates with the platform (X509Certificate2) and judges them the
/// way an RDP client does: validity against the capture's own clock, key and signature
/// strength, the name the client asked for, the Server Authentication EKU, and issuers that
/// belong to TLS-inspection products.
/// </summary>
public static class CertificateInspector
{
    private const string ServerAuthEku = "1.3.6.1.5.5.7.3.1";
    private const string RemoteDesktopAuthEku = "1.3.6.1.4.1.311.54.1.2";
    private const string AnyEku = "2.5.29.37.0";

    /// <summary>Signature algorithms no client should accept (RFC 6151 MD5, SHA-1 deprecations).</summary>
    private static readonly Dictionary<string, string> WeakSignatureOids = new()
    {
        ["1.2.840.113549.1.1.2"] = "md2WithRSAEncryption",
        ["1.2.840.113549.1.1.4"] = "md5WithRSAEncryption",
        ["1.2.840.113549.1.1.5"] = "sha1WithRSAEncryption",
        ["1.2.840.10045.4.1"] = "ecdsa-with-SHA1",
        ["1.2.840.10040.4.3"] = "dsa-with-sha1",
    };

    /// <summary>Issuer name fragments of TLS-inspection products (their generated CA names).</summary>
    private static readonly string[] InspectionIssuers =
    [
        "FortiGate", "Fortinet", "Palo Alto", "Zscaler", "Blue Coat", "BlueCoat", "SSL Visibility",
        "Sophos", "Cisco Umbrella", "Forcepoint", "Websense", "McAfee Web Gateway", "Netskope",
        "Kaspersky", "Avast", "AVG Web/Mail Shield", "ESET SSL Filter", "Bitdefender", "Barracuda",
        "Check Point", "Untangle", "Smoothwall", "Lightspeed", "iboss", "Menlo Security",
    ];

    /// <summary>One decoded certificate and what is wrong with it.</summary>
    public sealed record Inspected(CertificateReport Report, X509Certificate2? Certificate, IReadOnlyList<string> Problems)
    {
        public bool Expired { get; init; }
        public bool NotYetValid { get; init; }
        public DateTime NotBeforeUtc { get; init; }
        public DateTime NotAfterUtc { get; init; }
        public bool SelfSigned => Report.SelfSigned == true;
        public string? WeakKey { get; init; }
        public string? WeakSignature { get; init; }
        public bool NoServerAuth { get; init; }
        public string? InterceptionProduct { get; init; }
    }

    /// <summary>Decoded certificates by SHA-256: a server presents the same one on every connection.</summary>
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Inspected> Decoded = new();
    private const int MaxCached = 4096;

    public static Inspected Inspect(byte[] der, DateTime captureTimeUtc, int maxAsn1Depth = RdpWire.RdpParser.DerNesting.DefaultMaxDepth)
    {
        // The nesting limit decides whether a certificate is decoded at all: it is part of the key.
        string key = Convert.ToHexString(SHA256.HashData(der)) + "/" + maxAsn1Depth.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (Decoded.TryGetValue(key, out var known))
        {
            // Only the validity judgment depends on the capture's time.
            return known.Certificate is null ? known : known with
            {
                Expired = captureTimeUtc > known.NotAfterUtc,
                NotYetValid = captureTimeUtc < known.NotBeforeUtc,
            };
        }
        var inspected = InspectUncached(der, captureTimeUtc, maxAsn1Depth);
        if (Decoded.Count >= MaxCached)
        {
            Decoded.Clear();
        }
        Decoded[key] = inspected;
        return inspected;
    }

    private static Inspected InspectUncached(byte[] der, DateTime captureTimeUtc, int maxAsn1Depth)
    {
        if (!RdpWire.RdpParser.DerNesting.WithinDepth(der, maxAsn1Depth))
        {
            return new Inspected(new CertificateReport
            {
                Sha256 = Convert.ToHexString(SHA256.HashData(der)),
                DecodeError = $"the certificate's ASN.1 nests deeper than {maxAsn1Depth} levels: not decoded (RdpWire's ASN.1 nesting limit)",
            }, null, ["not a decodable X.509 certificate"]);
        }
        // X509Certificate2 decodes lazily: a corrupt extension or key throws on first access, so
        // the whole judgment runs under one guard and a broken certificate becomes a finding.
        try
        {
            return InspectDecoded(X509CertificateLoader.LoadCertificate(der), captureTimeUtc);
        }
        catch (CryptographicException e)
        {
            return new Inspected(new CertificateReport { Sha256 = Convert.ToHexString(SHA256.HashData(der)), DecodeError = e.Message },
                null, ["not a decodable X.509 certificate"]);
        }
    }

    private static Inspected InspectDecoded(X509Certificate2 cert, DateTime captureTimeUtc)
    {

        var notBefore = cert.NotBefore.ToUniversalTime();
        var notAfter = cert.NotAfter.ToUniversalTime();
        var (keyAlgorithm, keyBits) = KeyOf(cert);
        string sigOid = cert.SignatureAlgorithm.Value ?? "";
        var sans = new List<string>();
        var ekus = new List<string>();
        bool hasEku = false, serverAuth = false;
        string? ski = null, aki = null;
        foreach (var ext in cert.Extensions)
        {
            switch (ext)
            {
                case X509SubjectAlternativeNameExtension san:
                    sans.AddRange(san.EnumerateDnsNames().Select(n => "DNS:" + n));
                    sans.AddRange(san.EnumerateIPAddresses().Select(ip => "IP:" + ip));
                    break;
                case X509EnhancedKeyUsageExtension eku:
                    hasEku = true;
                    foreach (var oid in eku.EnhancedKeyUsages)
                    {
                        ekus.Add(EkuName(oid));
                        serverAuth |= oid.Value is ServerAuthEku or RemoteDesktopAuthEku or AnyEku;
                    }
                    break;
                case X509SubjectKeyIdentifierExtension s:
                    ski = s.SubjectKeyIdentifier;
                    break;
                case X509AuthorityKeyIdentifierExtension a:
                    aki = a.KeyIdentifier is { } k ? Convert.ToHexString(k.Span) : null;
                    break;
            }
        }
        bool selfSigned = cert.SubjectName.RawData.AsSpan().SequenceEqual(cert.IssuerName.RawData)
            && (aki is null || ski is null || string.Equals(aki, ski, StringComparison.OrdinalIgnoreCase));

        var report = new CertificateReport
        {
            Subject = cert.SubjectName.Name,
            Issuer = cert.IssuerName.Name,
            Serial = cert.SerialNumber,
            NotBefore = ReportTime.Format(notBefore.Ticks),
            NotAfter = ReportTime.Format(notAfter.Ticks),
            Sha256 = Convert.ToHexString(cert.GetCertHash(HashAlgorithmName.SHA256)),
            KeyAlgorithm = keyAlgorithm,
            KeyBits = keyBits,
            SignatureAlgorithm = cert.SignatureAlgorithm.FriendlyName ?? sigOid,
            SelfSigned = selfSigned,
            SubjectAltNames = sans,
            ExtendedKeyUsage = ekus,
        };

        var problems = new List<string>();
        bool expired = captureTimeUtc > notAfter, notYet = captureTimeUtc < notBefore;
        if (expired)
        {
            problems.Add($"expired on {report.NotAfter}, {(captureTimeUtc - notAfter).TotalDays:0} days before the capture");
        }
        if (notYet)
        {
            problems.Add($"not valid until {report.NotBefore}, after the capture's time");
        }
        string? weakKey = keyAlgorithm == "RSA" && keyBits < 2048 ? $"RSA key of {keyBits} bits (under 2048)"
            : keyAlgorithm == "DSA" ? "DSA key" : keyAlgorithm == "EC" && keyBits < 224 ? $"EC key of {keyBits} bits" : null;
        if (weakKey is not null)
        {
            problems.Add(weakKey);
        }
        string? weakSig = WeakSignatureOids.TryGetValue(sigOid, out var ws) ? ws : null;
        if (weakSig is not null)
        {
            problems.Add($"signed with {weakSig}");
        }
        bool noServerAuth = hasEku && !serverAuth;
        if (noServerAuth)
        {
            problems.Add($"its Extended Key Usage ({string.Join(", ", ekus)}) allows neither Server Authentication nor Remote Desktop Authentication");
        }
        string? product = InspectionIssuers.FirstOrDefault(p => report.Issuer!.Contains(p, StringComparison.OrdinalIgnoreCase));
        return new Inspected(report, cert, problems)
        {
            NotBeforeUtc = notBefore,
            NotAfterUtc = notAfter,
            Expired = expired,
            NotYetValid = notYet,
            WeakKey = weakKey,
            WeakSignature = weakSig,
            NoServerAuth = noServerAuth,
            InterceptionProduct = product,
        };
    }

    /// <summary>
    /// Whether the certificate names <paramref name="name"/> (a DNS name or an IP address):
    /// SANs first (RFC 6125 6.4), the subject CN only when there are no DNS SANs.
    /// </summary>
    public static bool Matches(X509Certificate2 cert, string name)
    {
        try
        {
            return MatchesUnguarded(cert, name);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            return false;
        }
    }

    private static bool MatchesUnguarded(X509Certificate2 cert, string name)
    {
        if (IPAddress.TryParse(name, out var ip))
        {
            foreach (var san in cert.Extensions.OfType<X509SubjectAlternativeNameExtension>())
            {
                if (san.EnumerateIPAddresses().Any(a => a.Equals(ip)))
                {
                    return true;
                }
            }
            return string.Equals(cert.GetNameInfo(X509NameType.SimpleName, false), name, StringComparison.OrdinalIgnoreCase);
        }
        return cert.MatchesHostname(name, allowWildcards: true, allowCommonName: true);
    }

    private static (string Algorithm, int? Bits) KeyOf(X509Certificate2 cert)
    {
        switch (cert.PublicKey.Oid.Value)
        {
            case "1.2.840.113549.1.1.1":
            case "1.2.840.113549.1.1.10":
                using (var rsa = cert.GetRSAPublicKey())
                {
                    return ("RSA", rsa?.KeySize);
                }
            case "1.2.840.10045.2.1":
                using (var ec = cert.GetECDsaPublicKey())
                {
                    return ("EC", ec?.KeySize);
                }
            case "1.2.840.10040.4.1":
                return ("DSA", null);
            case "1.3.101.112":
                return ("Ed25519", 256);
            case "1.3.101.113":
                return ("Ed448", 456);
            default:
                return (cert.PublicKey.Oid.FriendlyName ?? cert.PublicKey.Oid.Value ?? "unknown", null);
        }
    }

    private static string EkuName(Oid oid) => oid.Value switch
    {
        ServerAuthEku => "Server Authentication",
        RemoteDesktopAuthEku => "Remote Desktop Authentication",
        "1.3.6.1.5.5.7.3.2" => "Client Authentication",
        "1.3.6.1.5.5.7.3.3" => "Code Signing",
        "1.3.6.1.5.5.7.3.4" => "Secure Email",
        AnyEku => "Any Purpose",
        _ => oid.FriendlyName ?? oid.Value ?? "?",
    };
}
