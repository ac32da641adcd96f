using RdpWire.Analyzer;
using RdpWire.Analyzer.Report;
using RdpWire.Capture.Files;
using RdpWire.RdpParser.Tls.Decryption;
using RdpWire.Tests.Support;
using Xunit;

namespace RdpWire.Tests.Analyzer;

/// <summary>
/// Lab recordings analysed with the client's TLS key log (recorded by tests/lab with KEYLOG=1;
/// the keys of throw-away lab sessions): what decryption adds to what the wire shows.
/// </summary>
public class DecryptionTests
{
    private static AnalysisReport Analyze(string name, string? keyLogName, string? serverKeyName = null)
    {
        var options = new AnalyzerOptions();
        if (keyLogName is not null)
        {
            options = options with { KeyLog = TlsKeyLog.Load(Path.Combine(RepoPaths.FixturesDir, keyLogName)) };
        }
        if (serverKeyName is not null)
        {
            var keys = options.KeyLog ?? new TlsKeyLog();
            keys.AddServerKey(File.ReadAllText(Path.Combine(RepoPaths.FixturesDir, serverKeyName)));
            options = options with { KeyLog = keys };
        }
        using var source = CaptureFile.Open(Path.Combine(RepoPaths.FixturesDir, name + ".pcap"));
        return CaptureAnalyzer.Analyze(source, options);
    }

    [Fact]
    public void Tls13_WithKeyLog_CertificateAndMcsInsideTlsBecomeVisible()
    {
        var without = Assert.Single(Analyze("tls13-success", null).Connections);
        Assert.Empty(without.Tls!.Certificates);
        Assert.Null(without.Mcs);

        var with = Assert.Single(Analyze("tls13-success", "tls13-success.keylog").Connections);
        Assert.Equal("ok", with.Verdict.Code);
        Assert.Equal("CN=rwlab-server", Assert.Single(with.Tls!.Certificates).Subject);
        Assert.Equal("rwlab-client", with.Mcs!.ClientName);
        // Decrypted, the whole connection sequence shows: Client Info, licensing (STATUS_VALID_CLIENT),
        // Demand/Confirm Active, finalization, and the server's Font Map (frame 61): active.
        Assert.Equal(Phases.Active, with.PhaseReached);
        Assert.Contains(with.Ladder, step => step.Frame == 61 && step.Message.StartsWith("Font Map", StringComparison.Ordinal));
        Assert.Contains(with.Ladder, step => step.Message == "License Error Alert: STATUS_VALID_CLIENT");
        Assert.Null(with.Findings.FirstOrDefault(f => f.Code == "rdp.weak-encryption"));
    }

    [Fact]
    public void ExpiredCertificateUnderTls13_InferredWithoutKeys_NamedWithKeys()
    {
        var without = Assert.Single(Analyze("cert-expired-tls13", null).Connections);
        Assert.Equal("tls.client-rejected-certificate", without.Verdict.Code);

        var with = Assert.Single(Analyze("cert-expired-tls13", "cert-expired-tls13.keylog").Connections);
        Assert.Equal("tls.cert-expired", with.Verdict.Code);
        Assert.Equal("2021-01-01T00:00:00.000000Z", with.Tls!.Certificates[0].NotAfter);
        // FreeRDP's alert after rejecting the certificate: a close_notify, visible once decrypted.
        var alert = Assert.Single(with.Tls.Alerts);
        Assert.Equal("close_notify", alert.Description);
        Assert.Equal(13, alert.Frame);
    }

    [Fact]
    public void NlaOverTls12_WithKeyLog_CredSspExchangeDecoded()
    {
        var with = Assert.Single(Analyze("nla-success-tls12", "nla-success-tls12.keylog").Connections);
        Assert.Equal("ok", with.Verdict.Code);
        var credssp = with.Credssp!;
        Assert.True(credssp.Decrypted);
        Assert.Equal("NTLM", credssp.AuthPackage);
        Assert.Equal(6, credssp.Version);
        Assert.Equal(5, credssp.Messages);
        Assert.True(credssp.CredentialsSent);
        Assert.Null(credssp.ErrorCode);
        Assert.Contains(with.Ladder, step => step.Message.StartsWith("CredSSP TSRequest v6", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("nla-wrong-password", "rdpwire")]
    [InlineData("nla-unknown-user", "rwlab-nobody")]
    public void NlaRejected_InferredWithoutKeys_ProvenAndAccountNamedWithKeys(string name, string user)
    {
        var without = Assert.Single(Analyze(name, null).Connections);
        Assert.Equal("credssp.auth-failed", without.Verdict.Code);
        Assert.StartsWith("Inferred from the TLS record pattern", without.Findings[0].Detail, StringComparison.Ordinal);
        Assert.Null(without.Credssp);

        var with = Assert.Single(Analyze(name, name + ".keylog").Connections);
        Assert.Equal("credssp.auth-failed", with.Verdict.Code);
        Assert.StartsWith("Decrypted CredSSP", with.Findings[0].Detail, StringComparison.Ordinal);
        Assert.Contains($"NTLM AUTHENTICATE for {user}", with.Findings[0].Detail, StringComparison.Ordinal);
        Assert.Equal(without.Findings[0].Frame, with.Findings[0].Frame);
        Assert.Equal("NTLM", with.Credssp!.AuthPackage);
        Assert.False(with.Credssp.CredentialsSent);
        // The server sent no errorCode: nothing is invented.
        Assert.Null(with.Credssp.ErrorCode);
    }

    [Fact]
    public void WrongKeyLog_SameVerdictAsWithoutKeys()
    {
        // The TLS 1.3 session's keys do not belong to the TLS 1.2 NLA session.
        var mismatched = Assert.Single(Analyze("nla-success-tls12", "tls13-success.keylog").Connections);
        var plain = Assert.Single(Analyze("nla-success-tls12", null).Connections);
        Assert.Equal(plain.Verdict.Code, mismatched.Verdict.Code);
        Assert.Null(mismatched.Credssp);
    }

    [Fact]
    public void HandMade_KeyLogLines_MalformedOnesSkipped()
    {
        var log = TlsKeyLog.Parse(new StringReader(
            "# comment\n" +
            "CLIENT_RANDOM " + new string('a', 64) + " " + new string('b', 96) + "\n" +
            "CLIENT_RANDOM short zz\n" +
            "SERVER_TRAFFIC_SECRET_0 " + new string('a', 64) + " " + new string('c', 64) + "\n" +
            "UNKNOWN_LABEL " + new string('a', 64) + " 00\n"));
        Assert.Equal(1, log.Entries);
        Assert.Equal(2, log.LinesSkipped);
        var secrets = log.Find(Convert.FromHexString(new string('a', 64)))!;
        Assert.Equal(48, secrets.MasterSecret!.Length);
        Assert.Equal(32, secrets.ServerTrafficSecret0!.Length);
    }

    [Theory]
    [InlineData("tls12-cbc-keylog", "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384")]
    [InlineData("tls10-cbc-keylog", "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA")]
    public void CbcSuites_WithKeyLog_DecryptThroughClientInfoToActive(string name, string suite)
    {
        var without = Assert.Single(Analyze(name, null).Connections);
        Assert.Null(without.ClientInfo);
        Assert.Null(without.Tls!.Decryption);

        var with = Assert.Single(Analyze(name, name + ".keylog").Connections);
        Assert.Equal(suite, with.Tls!.CipherSuite);
        var decryption = with.Tls.Decryption!;
        Assert.Equal("key log", decryption.Secrets);
        // A record failing its HMAC or padding check would set the problem and stop that direction:
        // every ciphertext record of both sides authenticated (tshark: 26 and 68 records, 3 and 6 of them in the clear).
        Assert.Null(decryption.Problem);
        Assert.Equal(23, decryption.ClientRecordsDecrypted);
        Assert.Equal(62, decryption.ServerRecordsDecrypted);
        Assert.Equal(Phases.Active, with.PhaseReached);
        Assert.Equal("rwlab-client", with.Mcs!.ClientName);
        AssertLabClientInfo(with.ClientInfo);
        // xrdp's answer to the client's FIN, readable once decrypted.
        var alert = Assert.Single(with.Tls.Alerts);
        Assert.Equal("decode_error", alert.Description);
    }

    [Fact]
    public void RsaKeyExchange_WithServerKey_ExtendedMasterSecretDerivedAndDecrypted()
    {
        var with = Assert.Single(Analyze("tls12-rsa-server-key", null, "tls12-rsa-server-key.server-key.pem").Connections);
        Assert.Equal("TLS_RSA_WITH_AES_128_CBC_SHA", with.Tls!.CipherSuite);
        Assert.Equal("server key", with.Tls.Decryption!.Secrets);
        Assert.Null(with.Tls.Decryption.Problem);
        Assert.Equal(Phases.Active, with.PhaseReached);
        AssertLabClientInfo(with.ClientInfo);
    }

    [Fact]
    public void ServerKey_NotTheCertificates_SaysSoAndDecryptsNothing()
    {
        // The lab key of one run does not belong to another run's certificate.
        var report = Analyze("tls12-success", null, "tls12-rsa-server-key.server-key.pem");
        var connection = Assert.Single(report.Connections);
        var decryption = connection.Tls!.Decryption!;
        Assert.Null(decryption.Secrets);
        Assert.Equal(0, decryption.ClientRecordsDecrypted + decryption.ServerRecordsDecrypted);
        // tls12-success negotiated ECDHE: a server key cannot help, and the report says why.
        Assert.Contains("(EC)DHE key exchange", decryption.Problem, StringComparison.Ordinal);
        Assert.Equal(Assert.Single(Analyze("tls12-success", null).Connections).Verdict.Code, connection.Verdict.Code);
    }

    [Fact]
    public void HandMade_ServerKeyFile_WithoutKey_Refused()
    {
        var keys = new TlsKeyLog();
        Assert.Throws<ArgumentException>(() => keys.AddServerKey("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"));
        Assert.Empty(keys.ServerKeys);
    }

    private static void AssertLabClientInfo(ClientInfoReport? info)
    {
        Assert.NotNull(info);
        Assert.Equal("rdpwire", info.UserName);
        Assert.Equal("", info.Domain);
        Assert.False(info.PasswordSent);
        Assert.False(info.AutoLogon);
        Assert.Contains("INFO_UNICODE", info.Flags);
        Assert.Contains("INFO_LOGONERRORS", info.Flags);
        Assert.Equal("AF_INET", info.ClientAddressFamily);
        Assert.Equal("10.77.0.2", info.ClientAddress);
        Assert.Equal(@"C:\Windows\System32\mstscax.dll", info.ClientDir);
        Assert.Null(info.Problem);
    }

    [Theory]
    [InlineData("credssp-version-downgrade", 3, 6, "48 bytes: the version 5+ hash binding", "client's TSRequest carries a clientNonce")]
    [InlineData("credssp-server-version-downgrade", 6, 3, "286 bytes: the bare public key of the version 2–4 binding", "server's TSRequest carries a clientNonce")]
    public void CredSspVersionConflict_InferredAsAuthFailureWithoutKeys_NamedWithKeys(string name, int clientVersion, int serverVersion, string binding, string inconsistency)
    {
        var without = Assert.Single(Analyze(name, null).Connections);
        Assert.Equal("credssp.auth-failed", without.Verdict.Code);
        Assert.Contains("credssp.version-mismatch", without.Findings[0].Detail, StringComparison.Ordinal);

        var with = Assert.Single(Analyze(name, name + ".keylog").Connections);
        Assert.Equal("credssp.version-mismatch", with.Verdict.Code);
        var finding = with.Findings[0];
        Assert.Equal(17, finding.Frame);
        Assert.Contains(binding, finding.Detail, StringComparison.Ordinal);
        Assert.Contains(inconsistency, finding.Detail, StringComparison.Ordinal);
        Assert.Contains("AllowEncryptionOracle", string.Join(" ", finding.Fix), StringComparison.Ordinal);
        Assert.Equal(clientVersion, with.Credssp!.Version);
        Assert.Equal(serverVersion, with.Credssp.ServerVersion);
        Assert.False(with.Credssp.CredentialsSent);
    }

    [Fact]
    public void CredSspSameVersion_RejectedLogon_IsNotAVersionConflict()
    {
        var with = Assert.Single(Analyze("nla-wrong-password", "nla-wrong-password.keylog").Connections);
        Assert.Equal("credssp.auth-failed", with.Verdict.Code);
        Assert.Equal(with.Credssp!.Version, with.Credssp.ServerVersion);
    }

    [Fact]
    public void LogonRefusedAfterActivation_WithoutErrorInfo_ServerClosedSessionWithKeys()
    {
        var without = Assert.Single(Analyze("shadow-tls-wrong-password", null).Connections);
        Assert.Equal("ok", without.Verdict.Code);
        Assert.Equal("server", without.ClosedBy);

        var with = Assert.Single(Analyze("shadow-tls-wrong-password", "shadow-tls-wrong-password.keylog").Connections);
        Assert.Equal("rdp.server-closed-session", with.Verdict.Code);
        Assert.Equal("failure", with.Outcome);
        Assert.Equal(67, with.Findings[0].Frame);
        Assert.Contains("logging on as rdpwire with a password (autologon)", with.Findings[0].Detail, StringComparison.Ordinal);
        Assert.Contains("RNS_UD_CS_SUPPORT_ERRINFO_PDU", with.Findings[0].Detail, StringComparison.Ordinal);
        Assert.True(with.ClientInfo!.PasswordSent);
        Assert.True(with.ClientInfo.AutoLogon);
    }

    [Theory]
    [InlineData("tls13-success")]
    [InlineData("tls12-cbc-keylog")]
    public void ClientClosedActiveSession_IsNotAServerClose(string name)
    {
        var with = Assert.Single(Analyze(name, name + ".keylog").Connections);
        Assert.Equal("ok", with.Verdict.Code);
        Assert.Equal("client", with.ClosedBy);
        Assert.NotNull(with.ClientInfo);
    }

    [Fact]
    public void ServerStoppedMidSession_ServerClosedSession_VirtualChannelDataNotReadAsSecurityPdus()
    {
        var with = Assert.Single(Analyze("shadow-server-stopped", "shadow-server-stopped.keylog").Connections);
        Assert.Equal("rdp.server-closed-session", with.Verdict.Code);
        Assert.Equal(100, with.Findings[0].Frame);
        // rdpdr/drdynvc data after activation starts with a CHANNEL_PDU_HEADER whose first bytes
        // once passed for SEC_LICENSE_PKT / SEC_EXCHANGE_PKT flags.
        var afterActive = with.Ladder.Where(step => step.Frame > 59).Select(step => step.Message).ToList();
        Assert.DoesNotContain(afterActive, m => m.StartsWith("Licensing", StringComparison.Ordinal) || m.StartsWith("Security Exchange", StringComparison.Ordinal));
    }
}
