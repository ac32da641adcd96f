using RdpWire.Analyzer;
using RdpWire.Analyzer.Report;
using RdpWire.Capture.Files;
using RdpWire.Tests.Support;
using Xunit;

namespace RdpWire.Tests.Analyzer;

/// <summary>
/// The public captures from real Windows peers in ../shared/corpus/zeek (see its README for
/// what Zeek reports): the negotiation values must match Zeek's rdp.log. Skipped when the
/// corpus is not beside the repository.
/// </summary>
public class ZeekCorpusTests
{
    private static AnalysisReport Analyze(string name)
    {
        using var source = CaptureFile.Open(Path.Combine(RepoPaths.CorpusDir, "zeek", name));
        return CaptureAnalyzer.Analyze(source);
    }

    [CorpusFact]
    public void RdpToSsl_WindowsClientAndServer_CookieAwakecodi_HybridSelected_TlsCompletes()
    {
        var report = Analyze("rdp-to-ssl.pcap");
        Assert.Equal(2, report.Connections.Count);
        foreach (var c in report.Connections)
        {
            Assert.Equal("192.168.1.200", c.Client.Ip);
            Assert.Equal("192.168.1.150", c.Server.Ip);
            Assert.Equal("AWAKECODI", c.Negotiation!.Cookie);
            Assert.Equal(["SSL", "HYBRID"], c.Negotiation.RequestedProtocols);
            Assert.Equal("HYBRID", c.Negotiation.SelectedProtocol);
            Assert.Null(c.Negotiation.FailureCode);
            Assert.Equal("ok", c.Verdict.Code);
            Assert.Equal(Phases.Credssp, c.PhaseReached);
        }
        foreach (var c in report.Connections)
        {
            // Zeek: TLS 1.0, TLS_RSA_WITH_AES_128_CBC_SHA, CN=WIN2K8R2.awakecoding.ath.cx (self-signed), SNI 192.168.1.150.
            Assert.Equal("TLS1.0", c.Tls!.Version);
            Assert.Equal("TLS_RSA_WITH_AES_128_CBC_SHA", c.Tls.CipherSuite);
            Assert.Equal("192.168.1.150", c.Tls.ServerName);
            Assert.Equal("CN=WIN2K8R2.awakecoding.ath.cx", c.Tls.Certificates[0].Subject);
            Assert.True(c.Tls.Certificates[0].SelfSigned);
            Assert.Contains(c.Findings, f => f.Code == "tls.legacy-version" && f.Severity == "warning");
            Assert.Contains(c.Findings, f => f.Code == "tls.cert-self-signed" && f.Severity == "info");
        }
        Assert.Equal(4, report.Connections[0].Negotiation!.RequestFrame);
        Assert.Equal(6, report.Connections[0].Negotiation!.ConfirmFrame);
    }

    [CorpusFact]
    public void ProprietaryEncryption_FirstRefusedWithSslNotAllowed_SecondUsesStandardRdpSecurity()
    {
        var report = Analyze("rdp-proprietary-encryption.pcap");
        Assert.Equal(2, report.Connections.Count);
        var first = report.Connections[0];
        Assert.Equal(@"FTBCO\A70", first.Negotiation!.Cookie);
        Assert.Equal(["SSL"], first.Negotiation.RequestedProtocols);
        Assert.Equal("SSL_NOT_ALLOWED_BY_SERVER", first.Negotiation.FailureCode);
        Assert.Equal("x224.negotiation-failure", first.Verdict.Code);
        var verdict = first.Findings[0];
        Assert.Equal(5, verdict.Frame);
        Assert.Equal([1, 2, 4, 5, 6], verdict.EvidenceFrames);
        Assert.Equal("client", first.ClosedBy);

        var second = report.Connections[1];
        Assert.Equal(@"FTBCO\A70", second.Negotiation!.Cookie);
        Assert.Equal(["RDP"], second.Negotiation.RequestedProtocols);
        Assert.Equal("RDP", second.Negotiation.SelectedProtocol);
        // The server's Disconnect Provider Ultimatum (frame 538) ends a session that ran for 22 s:
        // not a setup failure.
        Assert.Equal("ok", second.Verdict.Code);
        // Security Exchange (frame 32), Client Info (33) and the licensing PDU (35) are visible by their
        // security-header flags; what follows is RC4-encrypted.
        Assert.Equal(Phases.Licensing, second.PhaseReached);
        Assert.Contains("frame 538", second.Findings[0].Detail, StringComparison.Ordinal);

        // Zeek: client build "RDP 6.0", client name FROG-POND, 1152x864, 32-bit colour, keyboard
        // English - United States, channels rdpdr,rdpsnd,drdynvc,cliprdr; proprietary server
        // certificate, 1 cert, permanent; encryption level High, method 128-bit.
        var mcs = second.Mcs!;
        Assert.Equal("FROG-POND", mcs.ClientName);
        Assert.Equal(6000, mcs.ClientBuild);
        Assert.Equal("RDP 6.0", mcs.ClientBuildName);
        Assert.Equal("English - United States", mcs.KeyboardLayout);
        Assert.Equal(1152, mcs.DesktopWidth);
        Assert.Equal(864, mcs.DesktopHeight);
        Assert.Equal(32, mcs.ColorDepth);
        Assert.Equal(["rdpdr", "rdpsnd", "drdynvc", "cliprdr"], mcs.Channels);
        Assert.Equal("proprietary", mcs.ServerCertificateType);
        Assert.Equal(1, mcs.ServerCertificateCount);
        Assert.True(mcs.ServerCertificatePermanent);
        Assert.Equal("HIGH", mcs.ServerEncryptionLevel);
        Assert.Equal("128BIT", mcs.ServerEncryptionMethod);
        Assert.Equal(512, mcs.ServerCertificateKeyBits);
        Assert.Contains(second.Findings, f => f.Code == "rdp.weak-server-key");
    }

    [CorpusFact]
    public void NoCookie_HybridExSelected_ClientResetsAfterTlsHandshake()
    {
        var report = Analyze("rdp-no-cookie-mstshash.pcap");
        var c = Assert.Single(report.Connections);
        Assert.Null(c.Negotiation!.Cookie);
        Assert.Equal(["SSL", "HYBRID", "HYBRID_EX"], c.Negotiation.RequestedProtocols);
        Assert.Equal("HYBRID_EX", c.Negotiation.SelectedProtocol);
        // Zeek: TLS 1.2, TLS_RSA_WITH_AES_256_GCM_SHA384, CN=CLK-456040-D.one.phoenix.gov (self-signed).
        Assert.Equal("TLS1.2", c.Tls!.Version);
        Assert.Equal("TLS_RSA_WITH_AES_256_GCM_SHA384", c.Tls.CipherSuite);
        var cert = Assert.Single(c.Tls.Certificates);
        Assert.Equal("CN=CLK-456040-D.one.phoenix.gov", cert.Subject);
        Assert.True(cert.SelfSigned);
        // The client finishes the handshake, then resets (frame 19) without sending data: the
        // self-signed certificate (frame 13) is the likely cause.
        Assert.Equal("client", c.ClosedBy);
        Assert.Equal("rst", c.CloseKind);
        Assert.Equal("tls.cert-self-signed", c.Verdict.Code);
        Assert.Equal(13, c.Findings[0].Frame);
        Assert.Contains(19L, c.Findings[0].EvidenceFrames);
    }

    [CorpusFact]
    public void Rdpeudp_SynSynAckAck_EstablishedRdpUdpFlow()
    {
        // Zeek: RDP-UDP SYN, SYN+ACK, established, over IPv6 loopback.
        var report = Analyze("rdpeudp-handshake-success.pcap");
        var c = Assert.Single(report.Connections);
        Assert.Equal("udp", c.Transport);
        Assert.Equal("::1", c.Client.Ip);
        Assert.Equal(3389, c.Server.Port);
        Assert.Equal(Phases.RdpeudpEstablished, c.PhaseReached);
        Assert.Equal("ok", c.Verdict.Code);
        Assert.Equal(2, c.Rdpeudp!.SynAckFrame);
        Assert.Equal(3, c.Rdpeudp.EstablishedFrame);
        Assert.Equal(1232, c.Rdpeudp.UpStreamMtu);
        Assert.Equal("RDPUDP_PROTOCOL_VERSION_2", c.Rdpeudp.ServerVersion);
        Assert.False(c.Rdpeudp.Lossy);
    }
}
