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
        Assert.Equal(Phases.SecurityExchange, second.PhaseReached);
        Assert.Contains("frame 538", second.Findings[0].Detail, StringComparison.Ordinal);
    }

    [CorpusFact]
    public void NoCookie_HybridExSelected_ClientResetsAfterTlsHandshake()
    {
        var report = Analyze("rdp-no-cookie-mstshash.pcap");
        var c = Assert.Single(report.Connections);
        Assert.Null(c.Negotiation!.Cookie);
        Assert.Equal(["SSL", "HYBRID", "HYBRID_EX"], c.Negotiation.RequestedProtocols);
        Assert.Equal("HYBRID_EX", c.Negotiation.SelectedProtocol);
        // The capture ends with the client's RST right after the server's Finished (frame 19).
        Assert.Equal("client", c.ClosedBy);
        Assert.Equal("rst", c.CloseKind);
        Assert.Equal(19, c.Findings[0].Frame);
    }

    [CorpusFact]
    public void RdpeudpOnly_NoTcpConnection_UdpDatagramsCounted()
    {
        var report = Analyze("rdpeudp-handshake-success.pcap");
        Assert.Empty(report.Connections);
        Assert.True(report.Capture.RdpUdpDatagrams > 0);
    }
}
