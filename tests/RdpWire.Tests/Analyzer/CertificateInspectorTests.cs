using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using RdpWire.Analyzer.Tls;
using Xunit;

namespace RdpWire.Tests.Analyzer;

/// <summary>
/// Certificate judgments on certificates made in the test (hand-made, named so): validity
/// against the capture's clock, weak keys and signatures, EKU, names, self-signed, inspection CAs.
/// </summary>
public class CertificateInspectorTests
{
    private static readonly DateTime CaptureTime = new(2026, 11, 22, 1, 0, 0, DateTimeKind.Utc);

    private static byte[] HandMadeCertificate(string subject, DateTime notBefore, DateTime notAfter, int rsaBits = 2048,
        HashAlgorithmName? hash = null, string[]? ekus = null, string[]? dnsNames = null, string? issuer = null)
    {
        using var key = RSA.Create(rsaBits);
        var request = new CertificateRequest(subject, key, hash == HashAlgorithmName.SHA1 ? HashAlgorithmName.SHA256 : hash ?? HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        if (ekus is not null)
        {
            var collection = new OidCollection();
            foreach (var e in ekus)
            {
                collection.Add(new Oid(e));
            }
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(collection, false));
        }
        if (dnsNames is not null)
        {
            var san = new SubjectAlternativeNameBuilder();
            foreach (var n in dnsNames)
            {
                san.AddDnsName(n);
            }
            request.CertificateExtensions.Add(san.Build());
        }
        if (hash == HashAlgorithmName.SHA1)
        {
            // .NET refuses to sign with SHA-1 itself; a generator that does what old CAs did.
            using var sha1 = request.Create(request.SubjectName, new Sha1RsaSignatureGenerator(key), notBefore, notAfter, [9]);
            return sha1.RawData;
        }
        if (issuer is null)
        {
            using var self = request.CreateSelfSigned(notBefore, notAfter);
            return self.RawData;
        }
        using var caKey = RSA.Create(2048);
        var caRequest = new CertificateRequest(issuer, caKey, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        using var ca = caRequest.CreateSelfSigned(notBefore.AddDays(-1), notAfter.AddDays(1));
        using var issued = request.Create(ca, notBefore, notAfter, [1, 2, 3, 4]);
        return issued.RawData;
    }

    [Fact]
    public void HandMade_ExpiredSelfSigned_JudgedAgainstTheCaptureTime()
    {
        var der = HandMadeCertificate("CN=rdp-host", new DateTime(2020, 1, 1), new DateTime(2021, 1, 1));
        var c = CertificateInspector.Inspect(der, CaptureTime);
        Assert.True(c.Expired);
        Assert.False(c.NotYetValid);
        Assert.True(c.SelfSigned);
        Assert.Equal("CN=rdp-host", c.Report.Subject);
        Assert.Equal("2021-01-01T00:00:00.000000Z", c.Report.NotAfter);
        Assert.Equal("RSA", c.Report.KeyAlgorithm);
        Assert.Equal(2048, c.Report.KeyBits);
        Assert.Equal(Convert.ToHexString(SHA256.HashData(der)), c.Report.Sha256);

        // The same certificate seen in a capture from 2020 is valid.
        Assert.False(CertificateInspector.Inspect(der, new DateTime(2020, 6, 1, 0, 0, 0, DateTimeKind.Utc)).Expired);
    }

    [Fact]
    public void HandMade_NotYetValid()
    {
        var der = HandMadeCertificate("CN=future", new DateTime(2027, 1, 1), new DateTime(2028, 1, 1));
        Assert.True(CertificateInspector.Inspect(der, CaptureTime).NotYetValid);
    }

    [Fact]
    public void HandMade_WeakKeyAndSha1Signature()
    {
        var der = HandMadeCertificate("CN=old", new DateTime(2025, 1, 1), new DateTime(2030, 1, 1), rsaBits: 1024, hash: HashAlgorithmName.SHA1);
        var c = CertificateInspector.Inspect(der, CaptureTime);
        Assert.Equal("RSA key of 1024 bits (under 2048)", c.WeakKey);
        Assert.Equal("sha1WithRSAEncryption", c.WeakSignature);
    }

    [Fact]
    public void HandMade_ClientAuthOnlyEku_IsNotServerAuth_RemoteDesktopEkuIs()
    {
        var clientOnly = HandMadeCertificate("CN=x", new DateTime(2025, 1, 1), new DateTime(2030, 1, 1), ekus: ["1.3.6.1.5.5.7.3.2"]);
        Assert.True(CertificateInspector.Inspect(clientOnly, CaptureTime).NoServerAuth);
        var rdpEku = HandMadeCertificate("CN=x", new DateTime(2025, 1, 1), new DateTime(2030, 1, 1), ekus: ["1.3.6.1.4.1.311.54.1.2"]);
        var c = CertificateInspector.Inspect(rdpEku, CaptureTime);
        Assert.False(c.NoServerAuth);
        Assert.Equal(["Remote Desktop Authentication"], c.Report.ExtendedKeyUsage);
    }

    [Fact]
    public void HandMade_NamesFromSubjectAltNames()
    {
        var der = HandMadeCertificate("CN=ignored", new DateTime(2025, 1, 1), new DateTime(2030, 1, 1), dnsNames: ["rdp.example.test", "*.farm.example.test"]);
        var c = CertificateInspector.Inspect(der, CaptureTime);
        Assert.Equal(["DNS:rdp.example.test", "DNS:*.farm.example.test"], c.Report.SubjectAltNames);
        Assert.True(CertificateInspector.Matches(c.Certificate!, "rdp.example.test"));
        Assert.True(CertificateInspector.Matches(c.Certificate!, "host7.farm.example.test"));
        Assert.False(CertificateInspector.Matches(c.Certificate!, "other.example.test"));
    }

    [Fact]
    public void HandMade_IssuedByAnInspectionCa_IsFlagged_AndNotSelfSigned()
    {
        var der = HandMadeCertificate("CN=rdp.example.test", new DateTime(2025, 1, 1), new DateTime(2030, 1, 1),
            issuer: "CN=FortiGate CA, O=Fortinet");
        var c = CertificateInspector.Inspect(der, CaptureTime);
        Assert.False(c.SelfSigned);
        Assert.Equal("FortiGate", c.InterceptionProduct);
    }

    [Fact]
    public void HandMade_NotACertificate_ReportedNotThrown()
    {
        var c = CertificateInspector.Inspect([0x30, 0x03, 0x02, 0x01, 0x01], CaptureTime);
        Assert.Null(c.Certificate);
        Assert.NotNull(c.Report.DecodeError);
    }

    private sealed class Sha1RsaSignatureGenerator(RSA key) : X509SignatureGenerator
    {
        // AlgorithmIdentifier { sha1WithRSAEncryption (1.2.840.113549.1.1.5), NULL }
        public override byte[] GetSignatureAlgorithmIdentifier(HashAlgorithmName hashAlgorithm) =>
            Convert.FromHexString("300D06092A864886F70D0101050500");

        public override byte[] SignData(byte[] data, HashAlgorithmName hashAlgorithm) =>
            key.SignData(data, HashAlgorithmName.SHA1, RSASignaturePadding.Pkcs1);

        protected override PublicKey BuildPublicKey() =>
            X509SignatureGenerator.CreateForRSA(key, RSASignaturePadding.Pkcs1).PublicKey;
    }
}
