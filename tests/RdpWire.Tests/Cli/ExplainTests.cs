using System.CommandLine;
using RdpWire.Analyzer.Findings;
using RdpWire.Cli;
using Xunit;

namespace RdpWire.Tests.Cli;

/// <summary>
/// `rdpwire explain`: the codes a user copies from the mstsc dialog, an event log, Wireshark or a
/// server log, and the one table (ClientCodes) behind both the command and the findings' mstscCodes.
/// </summary>
public class ExplainTests
{
    /// <summary>Runs `explain` through a root command of its own, as Program.Run does with the rest.</summary>
    private static (int Exit, string Out, string Err) Explain(params string[] codes)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var root = new RootCommand { ExplainCommand.Create(stdout, stderr) };
        int exit = root.Parse(["explain", .. codes]).Invoke(new InvocationConfiguration { Output = stdout, Error = stderr });
        return (exit, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public void DialogPair_0x904_Extended0x7_SocketClosedAndServerDenied_WithEveryCause()
    {
        var (exit, stdout, stderr) = Explain("0x904", "0x7");

        Assert.Equal(0, exit);
        Assert.Equal("", stderr);
        Assert.Contains("disconnectReasonAtClientWinsockFDCLOSE", stdout, StringComparison.Ordinal);
        Assert.Contains("exDiscReasonServerDeniedConnection", stdout, StringComparison.Ordinal);
        // Explained as the pair first, then each part, then 0x7's other reading (ERRINFO).
        Assert.StartsWith("Error code 0x904 with extended error code 0x7", stdout, StringComparison.Ordinal);
        Assert.Contains("1. Windows client error code 0x904 with extended error code 0x7 (decimal 2308 / 7)", stdout, StringComparison.Ordinal);
        Assert.Contains("ERRINFO_SERVER_DENIED_CONNECTION", stdout, StringComparison.Ordinal);
        var reports = FindingsListed(stdout);
        foreach (string code in new[] { "rdp.server-error-info", "credssp.auth-failed", "tls.server-no-hello", "tls.alert", "tcp.reset" })
        {
            Assert.Contains(code, reports);
        }
        Assert.Contains("Seen on the wire as:", stdout, StringComparison.Ordinal);
        Assert.Contains("To tell them apart:", stdout, StringComparison.Ordinal);
        // The causes are field reports and inferences, and say so.
        Assert.Contains("[OBS]", stdout, StringComparison.Ordinal);
        Assert.Contains("[UNV]", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void EventLogDecimal_2308_ExplainsTheSameAsHex0x904()
    {
        var (hexExit, hex, _) = Explain("0x904");
        var (decExit, dec, _) = Explain("2308");

        Assert.Equal(0, hexExit);
        Assert.Equal(0, decExit);
        Assert.Contains("Windows client error code 0x904 (decimal 2308): disconnectReasonAtClientWinsockFDCLOSE", dec, StringComparison.Ordinal);
        Assert.Equal(hex, dec.Replace("'2308'", "'0x904'", StringComparison.Ordinal));
    }

    [Fact]
    public void BareHexFromTheDialog_904_ReadAsHexWhenNoDecimalCodeMatches()
    {
        var (exit, stdout, _) = Explain("904");

        Assert.Equal(0, exit);
        Assert.StartsWith("No code has the decimal value 904; read as hex 0x904.", stdout, StringComparison.Ordinal);
        Assert.Contains("disconnectReasonAtClientWinsockFDCLOSE", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void ErrInfoName_ServerDeniedConnection_NamesValueAndFinding()
    {
        var (exit, stdout, _) = Explain("ERRINFO_SERVER_DENIED_CONNECTION");

        Assert.Equal(0, exit);
        Assert.StartsWith("Set Error Info PDU errorInfo 0x00000007 (decimal 7): ERRINFO_SERVER_DENIED_CONNECTION", stdout, StringComparison.Ordinal);
        Assert.Equal(["rdp.server-error-info"], FindingsListed(stdout));
        // The extended code echoing errorInfo is an inference, and says so.
        Assert.Contains("[UNV] Most likely error code 0x3 (disconnectReasonByServer)", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void NumberWithSeveralMeanings_0x7_ExtendedCodeFirstThenErrInfo()
    {
        var (exit, stdout, _) = Explain("0x7");

        Assert.Equal(0, exit);
        Assert.StartsWith("'0x7' has 2 readings, most likely first:", stdout, StringComparison.Ordinal);
        int extended = stdout.IndexOf("1. Windows client extended error code 0x7 (decimal 7): exDiscReasonServerDeniedConnection", StringComparison.Ordinal);
        int errorInfo = stdout.IndexOf("2. Set Error Info PDU errorInfo 0x00000007", StringComparison.Ordinal);
        Assert.True(extended >= 0 && errorInfo > extended, stdout);
    }

    [Fact]
    public void NtStatus_0xC000006D_LogonFailure_ReportedAsCredSspAuthFailed()
    {
        var (exit, stdout, _) = Explain("0xC000006D");

        Assert.Equal(0, exit);
        Assert.StartsWith("NTSTATUS 0xC000006D (a CredSSP TSRequest errorCode): STATUS_LOGON_FAILURE", stdout, StringComparison.Ordinal);
        Assert.Equal(["credssp.auth-failed"], FindingsListed(stdout));
        Assert.Contains("0x807 (SSL_ERR_LOGON_FAILURE)", stdout, StringComparison.Ordinal);

        var (nameExit, byName, _) = Explain("status_logon_failure");
        Assert.Equal(0, nameExit);
        Assert.Equal(stdout, byName);
    }

    [Fact]
    public void TlsAlertName_CertificateExpired_AlertAndCertificateFindings()
    {
        var (exit, stdout, _) = Explain("certificate_expired");

        Assert.Equal(0, exit);
        Assert.StartsWith("TLS alert 45 (0x2D): certificate_expired", stdout, StringComparison.Ordinal);
        var reports = FindingsListed(stdout);
        Assert.Contains("tls.cert-expired", reports);
        Assert.Contains("tls.client-rejected-certificate", reports);
    }

    [Fact]
    public void NegotiationFailureName_HybridRequired_CleartextConfirmAndFinding()
    {
        var (exit, stdout, _) = Explain("HYBRID_REQUIRED_BY_SERVER");

        Assert.Equal(0, exit);
        Assert.StartsWith("RDP_NEG_FAILURE failureCode 0x00000005 (decimal 5): HYBRID_REQUIRED_BY_SERVER", stdout, StringComparison.Ordinal);
        Assert.Equal(["x224.negotiation-failure"], FindingsListed(stdout));
    }

    [Fact]
    public void UnknownCode_OneLineOnStderrAndExit2()
    {
        var (exit, stdout, stderr) = Explain("0x904", "no_such_code");

        Assert.Equal(2, exit);
        Assert.Equal("", stdout);
        Assert.Single(stderr.TrimEnd().Split('\n'));
        Assert.StartsWith("rdpwire: unknown code 'no_such_code' (", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void Table_EveryFindingNamedByAClientCodeIsInTheCatalog()
    {
        var catalog = FindingCatalog.All.Select(d => d.Code).ToHashSet(StringComparer.Ordinal);
        var missing = ClientCodes.All
            .SelectMany(c => c.Findings.Select(f => (c.Key.Label, Finding: f)))
            .Where(x => !catalog.Contains(x.Finding))
            .ToList();
        Assert.Empty(missing);
    }

    [Fact]
    public void Table_EveryClientCodeACatalogFindingCitesIsInTheTableAndNamesThatFinding()
    {
        var problems = new List<string>();
        foreach (var def in FindingCatalog.All)
        {
            foreach (var key in def.ClientCodeKeys)
            {
                if (ClientCodes.Find(key) is not { } entry)
                {
                    problems.Add($"{def.Code} cites {key}, which is not in ClientCodes");
                }
                else if (!entry.Findings.Contains(def.Code))
                {
                    problems.Add($"{def.Code} cites {key}, whose wire patterns do not name {def.Code}");
                }
            }
        }
        Assert.Empty(problems);
    }

    [Fact]
    public void Table_MstscCodesAreWrittenFromTheTable()
    {
        var tlsAlert = FindingCatalog.Get("tls.alert");
        Assert.Equal(
            ["0x904 / extended 0x7 (disconnectReasonAtClientWinsockFDCLOSE / exDiscReasonServerDeniedConnection): what field reports show for TLS failures, pairing not documented"],
            tlsAlert.MstscCodes);
        Assert.Equal(
            ["0x204 (disconnectReasonSocketConnectFailed) or 0x108 (disconnectReasonConnectionTimedOut): inferred, pairing not documented"],
            FindingCatalog.Get("tcp.no-response").MstscCodes);
        // Every cited code appears, by its label, in the finding's text.
        foreach (var def in FindingCatalog.All)
        {
            foreach (var key in def.ClientCodeKeys)
            {
                Assert.Contains(def.MstscCodes, m => m.Contains(key.Label + " (", StringComparison.Ordinal));
            }
        }
    }

    [Fact]
    public void Table_NamesLookUpCaseInsensitively()
    {
        Assert.Equal(ClientCodeKey.Ext(0x7), ClientCodes.ByName("exdiscreasonserverdenIEDconnection")?.Key);
        Assert.Equal(ClientCodeKey.Disc(0x807), ClientCodes.ByName("SSL_ERR_LOGON_FAILURE")?.Key);
        Assert.Null(ClientCodes.ByName("disconnectReasonNoSuchThing"));
    }

    /// <summary>The finding codes under every "RdpWire reports:" heading, in order, once each.</summary>
    private static List<string> FindingsListed(string output)
    {
        var codes = new List<string>();
        bool inList = false;
        foreach (string line in output.Split('\n'))
        {
            string trimmed = line.Trim();
            if (trimmed == "RdpWire reports:")
            {
                inList = true;
                continue;
            }
            if (inList && line.StartsWith("      ", StringComparison.Ordinal) && codes.Count > 0)
            {
                continue; // a wrapped summary
            }
            if (inList && trimmed.Length > 0 && trimmed.EndsWith(':'))
            {
                inList = false;
                continue;
            }
            if (inList && trimmed.Length > 0)
            {
                string code = trimmed.Split(' ', 2)[0];
                if (!codes.Contains(code))
                {
                    codes.Add(code);
                }
            }
        }
        return codes;
    }
}
