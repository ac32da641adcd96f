using RdpWire.Analyzer.Findings;
using RdpWire.Analyzer.Report;
using RdpWire.Capture.Tcp;
using RdpWire.RdpParser.CredSsp;
using RdpWire.RdpParser.Rdp;
using RdpWire.RdpParser.Tls;
using RdpWire.RdpParser.X224;

namespace RdpWire.Analyzer.Connections;

/// <summary>CredSSP / NLA (MS-CSSP 3.1.5) and the Early User Authorization Result (MS-RDPBCGR 2.2.10.2).</summary>
public static partial class VerdictEngine
{
    private const uint StatusSuccess = 0;
    private const uint AuthzAccessDenied = 5;

    private static CredSspReport? CredSspSummary(ConnectionState s)
    {
        if (s.CredSsp.Count == 0 && s.EarlyUserAuthorization is null)
        {
            return null;
        }
        var firstToken = s.CredSsp.Where(m => m.From == TcpDirection.ClientToServer)
            .SelectMany(m => m.Request.NegoTokens).FirstOrDefault();
        string package = firstToken.IsEmpty ? "unknown" : Spnego.Classify(firstToken.Span) switch
        {
            NegoTokenKind.Ntlm => "NTLM",
            NegoTokenKind.Kerberos => "Kerberos",
            NegoTokenKind.Spnego => "SPNEGO",
            _ => "unknown",
        };
        var error = s.CredSsp.FirstOrDefault(m => m.From == TcpDirection.ServerToClient && m.Request.ErrorCode is uint c && c != StatusSuccess);
        return new CredSspReport
        {
            Version = s.CredSsp.Where(m => m.From == TcpDirection.ClientToServer).Select(m => (int?)m.Request.Version).FirstOrDefault(),
            ServerVersion = s.CredSsp.Where(m => m.From == TcpDirection.ServerToClient).Select(m => (int?)m.Request.Version).FirstOrDefault(),
            AuthPackage = package,
            ErrorCode = error.Request?.ErrorCode is uint code ? $"0x{code:X8}" : null,
            ErrorName = error.Request?.ErrorCode is uint code2 ? NtStatus.Name(code2) : null,
            EarlyUserAuthResult = s.EarlyUserAuthorization is { } eua ? ConnectionState.EarlyUserAuthorizationName(eua.Result) : null,
            Decrypted = s.CredSsp.Count > 0,
            Messages = s.CredSsp.Count,
            CredentialsSent = s.CredSsp.Any(m => m.From == TcpDirection.ClientToServer && m.Request.AuthInfo is not null),
        };
    }

    /// <summary>
    /// Without keys: the shape of the exchange. CredSSP alternates (MS-CSSP 3.1.5): the client's
    /// NEGOTIATE, the server's CHALLENGE, the client's AUTHENTICATE with pubKeyAuth, then the
    /// server's public-key echo. A server that answers the AUTHENTICATE with an alert or a close
    /// instead has rejected the credentials; that is all the record layer can prove.
    /// </summary>
    private static Finding? InferCredSspFailure(Context ctx)
    {
        var s = ctx.S;
        if (s.CredSsp.Count > 0 || Selected(s) is not (SecurityProtocols.Hybrid or SecurityProtocols.HybridEx))
        {
            return null;
        }
        var records = s.CipherRecords;
        var data = records.Where(r => !r.Alert).ToList();
        // TLS 1.3: the client's first ciphertext record is its Finished, not CredSSP.
        if (s.Tls.IsTls13 && data.Count > 0 && data[0].From == TcpDirection.ClientToServer)
        {
            data.RemoveAt(0);
        }
        var client = data.Where(r => r.From == TcpDirection.ClientToServer).ToList();
        var server = data.Where(r => r.From == TcpDirection.ServerToClient && !(s.Tls.IsTls13 && r.At.Frame <= (s.FirstEncrypted[C2S]?.Frame ?? 0))).ToList();
        if (client.Count != 2 || server.Count != 1 || server[0].At.Frame > client[1].At.Frame || server[0].At.Frame < client[0].At.Frame)
        {
            return null;
        }
        var authenticate = client[1];
        var serverAlert = records.FirstOrDefault(r => r.Alert && r.From == TcpDirection.ServerToClient && r.At.Frame >= authenticate.At.Frame);
        bool serverClosed = ctx.Close.Direction == TcpDirection.ServerToClient && ctx.Close.At is { } c && c.Frame > authenticate.At.Frame;
        if (serverAlert.At.Frame == 0 && !serverClosed)
        {
            return null;
        }
        var at = serverAlert.At.Frame != 0 ? serverAlert.At : ctx.Close.At!.Value;
        return Make(ctx, "credssp.auth-failed", at,
            "NLA most likely rejected the credentials: the server hung up right after the client's NTLM AUTHENTICATE",
            $"Inferred from the TLS record pattern (no key log): after the TLS handshake the client sent its CredSSP NEGOTIATE (frame {F(client[0].At)}, {client[0].Length}-byte record), the server its CHALLENGE (frame {F(server[0].At)}, {server[0].Length} bytes), the client its AUTHENTICATE with pubKeyAuth (frame {F(authenticate.At)}, {authenticate.Length} bytes); "
            + (serverAlert.At.Frame != 0 ? $"instead of its public-key echo the server sent an alert (frame {F(serverAlert.At)})" : "instead of its public-key echo the server")
            + (ctx.Close.At is { } end ? $" and closed the connection ({ctx.Close.Kind!.ToUpperInvariant()}, frame {F(end)}, by the {ctx.Close.By})." : ".")
            + " That is how a CredSSP server rejects a wrong password or an unknown user (MS-CSSP 3.1.5); the exact NTSTATUS is inside TLS: analyze with --keylog to read it, or see event 4625 in the server's Security log."
            + " A CredSSP version conflict (CVE-2018-0886 encryption oracle remediation, credssp.version-mismatch) ends the same way on the wire; the key log tells the two apart.",
            Frames(s.ClientHello, s.ServerHello, client[0].At, server[0].At, authenticate.At, serverAlert.At.Frame != 0 ? serverAlert.At : null, ctx.Close.At));
    }

    /// <summary>MS-CSSP 3.1.5: versions 5 and 6 bind pubKeyAuth to a SHA-256 hash with the clientNonce (the CVE-2018-0886 fix); 2–4 echo the bare public key.</summary>
    private const int FirstOracleRemediatedVersion = 5;

    /// <summary>
    /// Decrypted CredSSP in which one side speaks version 5+ and the other 2–4, and the exchange
    /// ends without credentials: the side that hung up refused the other's (lack of) CVE-2018-0886
    /// remediation, or could not verify its public-key binding. A TSRequest errorCode, when the
    /// server sent one, says more and wins.
    /// </summary>
    private static Finding? DiagnoseVersionConflict(Context ctx)
    {
        var s = ctx.S;
        var firstClient = s.CredSsp.FirstOrDefault(m => m.From == TcpDirection.ClientToServer);
        var firstServer = s.CredSsp.FirstOrDefault(m => m.From == TcpDirection.ServerToClient);
        if (firstClient.Request is not { } c || firstServer.Request is not { } sv
            || (c.Version >= FirstOracleRemediatedVersion) == (sv.Version >= FirstOracleRemediatedVersion)
            || s.CredSsp.Any(m => m.Request.AuthInfo is not null || m.Request.ErrorCode is uint e && e != StatusSuccess)
            || ctx.Close.At is not { } end || end.Frame < firstServer.At.Frame)
        {
            return null;
        }
        bool clientOld = c.Version < FirstOracleRemediatedVersion;
        var last = s.CredSsp[^1];
        string closer = ctx.Close.By ?? "unknown side";
        bool refusedByPatched = ctx.Close.Direction == (clientOld ? TcpDirection.ServerToClient : TcpDirection.ClientToServer);
        string oldSide = clientOld ? "client" : "server", newSide = clientOld ? "server" : "client";
        int oldVersion = clientOld ? c.Version : sv.Version, newVersion = clientOld ? sv.Version : c.Version;
        var alert = s.Alerts.FirstOrDefault(a => a.At.Frame > last.At.Frame && (a.From == TcpDirection.ServerToClient) == (ctx.Close.Direction == TcpDirection.ServerToClient));
        var at = alert.At.Frame != 0 ? alert.At : end;
        return Make(ctx, "credssp.version-mismatch", at,
            $"CredSSP version conflict: the {oldSide} speaks CredSSP v{oldVersion} (no CVE-2018-0886 remediation), the {newSide} v{newVersion}, and the {closer} hung up before any credentials were sent",
            $"Decrypted CredSSP: the client's first TSRequest (frame {F(firstClient.At)}) says version {c.Version}, the server's (frame {F(firstServer.At)}) version {sv.Version}. "
            + $"Versions 2–4 prove possession of the TLS key by echoing the bare public key; 5 and 6 by a SHA-256 hash bound to a client nonce (MS-CSSP 3.1.5, the CVE-2018-0886 update of May 2018). "
            + $"The last TSRequest was the {(last.From == TcpDirection.ClientToServer ? "client" : "server")}'s (frame {F(last.At)}: {last.Request.Describe()})"
            + (alert.At.Frame != 0 ? $"; then the {closer} sent a {TlsAlertNames.Level(alert.Level)} {TlsAlertNames.Description(alert.Description)} alert (frame {F(alert.At)})" : "")
            + $" and closed the connection ({ctx.Close.Kind!.ToUpperInvariant()}, frame {F(end)}) without a TSRequest errorCode and before the client's credentials (authInfo). "
            + (refusedByPatched
                ? $"The refusing side is the patched one: a {newSide} set to \"Force Updated Clients\"{(clientOld ? "" : " or \"Mitigated\"")} refuses an unpatched {oldSide}, or it could not verify the {oldSide}'s public-key binding."
                : $"The {oldSide} hung up itself: the two sides disagree on the public-key binding, so its check of the {newSide}'s pubKeyAuth failed.")
            + PubKeyAuthBinding(s)
            + InconsistentVersion("client", c) + InconsistentVersion("server", sv)
            + " A wrong password looks different once decrypted: the versions agree, or the server names the NTSTATUS.",
            Frames([s.ClientHello, s.ServerHello, .. s.CredSsp.Select(m => (FrameRef?)m.At), alert.At.Frame != 0 ? alert.At : null, end]));
    }

    /// <summary>NTLM seals pubKeyAuth with a 16-byte signature: 48 bytes hold a SHA-256 hash (v5+), more the bare public key (v2–4).</summary>
    private static string PubKeyAuthBinding(ConnectionState s)
    {
        const int NtlmSealedHashLength = 32 + 16;
        var auth = s.CredSsp.FirstOrDefault(m => m.From == TcpDirection.ClientToServer && m.Request.PubKeyAuth is not null);
        if (auth.Request?.PubKeyAuth is not { } p)
        {
            return "";
        }
        return p.Length == NtlmSealedHashLength
            ? $" The client's pubKeyAuth (frame {F(auth.At)}) is {p.Length} bytes: the version 5+ hash binding."
            : $" The client's pubKeyAuth (frame {F(auth.At)}) is {p.Length} bytes: the bare public key of the version 2–4 binding.";
    }

    /// <summary>A TSRequest claiming version 2–4 yet carrying clientNonce, a version 5+ field.</summary>
    private static string InconsistentVersion(string side, TsRequest request) =>
        request.Version < FirstOracleRemediatedVersion && request.ClientNonce is not null
            ? $" Note: the {side}'s TSRequest carries a clientNonce, a field of version 5 and later, while claiming version {request.Version}: something rewrote the version, or that CredSSP implementation is inconsistent."
            : "";

    /// <summary>", logging on as DOMAIN\user" from the NTLM AUTHENTICATE in a TSRequest, when there is one.</summary>
    private static string NtlmAccount(TsRequest request)
    {
        foreach (var token in request.NegoTokens)
        {
            if (NtlmMessage.TryParse(token.Span, out var message, out _) && message is not null)
            {
                return "; " + message.Describe();
            }
        }
        return "";
    }

    /// <summary>The server's own word on why it ended the connection: Set Error Info, licensing errors.</summary>
    private static Finding? DiagnoseRdpPdus(Context ctx)
    {
        var s = ctx.S;
        if (s.ErrorInfo is { } info)
        {
            string name = ErrorInfoTable.Name(info.Value);
            string meaning = ErrorInfoTable.Meaning(info.Value) ?? "see MS-RDPBCGR 2.2.5.1.1";
            bool orderly = ErrorInfoTable.IsOrderlyEnd(info.Value);
            return Make(ctx, "rdp.server-error-info", info.At,
                $"The server ended the session with {name}: {meaning}",
                $"Frame {F(info.At)}: Set Error Info PDU (MS-RDPBCGR 2.2.5.1) with errorInfo {name} (0x{info.Value:X8}): {meaning}."
                + (s.Ultimatum is { } u ? $" An MCS Disconnect Provider Ultimatum follows in frame {F(u.At)}." : "")
                + (ctx.Close.At is { } c ? $" The {ctx.Close.By} closed the connection ({ctx.Close.Kind!.ToUpperInvariant()}, frame {F(c)})." : ""),
                Frames(info.At, s.Ultimatum?.At, ctx.Close.At),
                mstsc: [$"0x3 (disconnectReasonByServer) with extended code 0x{info.Value:X} (the extended code most likely echoes errorInfo; pairing not documented)"],
                severity: orderly ? "info" : null);
        }
        if (s.LicenseError is { } license)
        {
            string name = SlowPathPdu.LicenseErrorName(license.Code);
            return Make(ctx, "rdp.licensing-error", license.At,
                $"Licensing failed: the server sent {name}",
                $"Frame {F(license.At)}: License Error Alert (MS-RDPBCGR 2.2.1.12.1.3) with dwErrorCode {name} (0x{license.Code:X8}), not STATUS_VALID_CLIENT."
                + (ctx.Close.At is { } c ? $" The {ctx.Close.By} closed the connection ({ctx.Close.Kind!.ToUpperInvariant()}, frame {F(c)})." : ""),
                Frames(license.At, ctx.Close.At));
        }
        return DiagnoseUnexplainedServerClose(ctx);
    }

    /// <summary>
    /// The connection got past the Client Info PDU (so the server had the logon) and the server
    /// hung up first, with neither a Set Error Info PDU nor a Disconnect Provider Ultimatum: the
    /// session was ended without a reason on the wire. A server that checks the Client Info
    /// credentials after connecting (TLS or Standard RDP Security, no NLA) ends a refused logon so.
    /// </summary>
    private static Finding? DiagnoseUnexplainedServerClose(Context ctx)
    {
        var s = ctx.S;
        if (s.ClientInfo is not { } info || s.Ultimatum is not null || ctx.Close.Direction != TcpDirection.ServerToClient
            || ctx.Close.At is not { } end || end.Frame < info.At.Frame)
        {
            return null;
        }
        FrameRef? active = s.RdpPdus.TryGetValue(RdpPduKind.FontMap, out var fontMap) ? fontMap : null;
        var since = active ?? info.At;
        double seconds = (end.Ticks - since.Ticks) / (double)TimeSpan.TicksPerSecond;
        var alert = s.Alerts.FirstOrDefault(a => a.From == TcpDirection.ServerToClient && a.At.Frame > info.At.Frame);
        var packet = info.Packet;
        bool errInfoAnnounced = s.McsConnectInitial?.ClientData?.EarlyCapabilityFlags is ushort f && (f & RdpWire.RdpParser.Gcc.ClientDataBlocks.SupportErrInfoPdu) != 0;
        var at = alert.At.Frame != 0 ? alert.At : end;
        return Make(ctx, "rdp.server-closed-session", at,
            $"The server ended the session {seconds:0.0} s after {(active is null ? "the Client Info PDU" : "it became active")} without saying why",
            $"Frame {F(info.At)}: Client Info PDU (MS-RDPBCGR 2.2.1.11) logging on as {(packet.Domain.Length > 0 ? packet.Domain + "\\" : "")}{packet.UserName}"
            + (packet.PasswordLength > 0 ? " with a password (autologon)" : " without a password")
            + (active is { } a ? $"; the connection was finalized (Font Map, frame {F(a)})" : "")
            + $"; then the server {(alert.At.Frame != 0 ? $"sent a {TlsAlertNames.Level(alert.Level)} {TlsAlertNames.Description(alert.Description)} alert (frame {F(alert.At)}) and " : "")}"
            + $"closed the connection ({ctx.Close.Kind!.ToUpperInvariant()}, frame {F(end)}) with no Set Error Info PDU"
            + (errInfoAnnounced ? " although the client announced it can take one (RNS_UD_CS_SUPPORT_ERRINFO_PDU)" : "")
            + " and no MCS Disconnect Provider Ultimatum. "
            + (packet.PasswordLength > 0
                ? "Two causes end a session like this: without NLA the server checks the Client Info credentials only after connecting, and a server that refuses them without showing a logon screen (FreeRDP's shadow server with authentication, some appliances) just hangs up; or the server process or the session's process stopped. The server's own log says which."
                : "The server process or the session's process stopped, or the server refused the session without telling the client; the server's own log says which."),
            Frames(info.At, active, alert.At.Frame != 0 ? alert.At : null, end));
    }

    /// <summary>What the decrypted CredSSP exchange proves; null when it shows no failure.</summary>
    private static Finding? DiagnoseCredSsp(Context ctx)
    {
        var s = ctx.S;
        var error = s.CredSsp.FirstOrDefault(m => m.From == TcpDirection.ServerToClient && m.Request.ErrorCode is uint c && c != StatusSuccess);
        if (error.Request is { ErrorCode: uint status })
        {
            string name = NtStatus.Name(status);
            string meaning = NtStatus.Meaning(status) ?? "see MS-ERREF 2.3";
            var authenticate = s.CredSsp.LastOrDefault(m => m.From == TcpDirection.ClientToServer && m.At.Frame < error.At.Frame);
            return Make(ctx, "credssp.auth-failed", error.At,
                $"NLA rejected the logon: the server answered with {name} ({meaning})",
                $"Decrypted CredSSP: the client's TSRequest in frame {F(authenticate.At)} ({authenticate.Request?.Describe() ?? "?"}{(authenticate.Request is { } ar ? NtlmAccount(ar) : "")}) was answered in frame {F(error.At)} by a TSRequest carrying errorCode {name} (0x{status:X8}): {meaning}."
                + (ctx.Close.At is { } c ? $" The {ctx.Close.By} then closed the connection ({ctx.Close.Kind!.ToUpperInvariant()}, frame {F(c)})." : ""),
                Frames([s.ClientHello, s.ServerHello, .. s.CredSsp.Select(m => (FrameRef?)m.At), ctx.Close.At]),
                mstsc: NtStatus.ClientSslErrorCode(status) is uint ssl
                    ? [$"0x{ssl:X} (SSL_ERR_*) is the client code the names line up with; the pairing is not documented"]
                    : null);
        }
        if (DiagnoseVersionConflict(ctx) is { } conflict)
        {
            return conflict;
        }
        // Decrypted, but the server sent no errorCode: it answered the AUTHENTICATE by closing.
        var lastClient = s.CredSsp.LastOrDefault(m => m.From == TcpDirection.ClientToServer);
        if (lastClient.Request is { PubKeyAuth: not null } auth && auth.NegoTokens.Count > 0
            && !s.CredSsp.Any(m => m.From == TcpDirection.ServerToClient && m.At.Frame > lastClient.At.Frame))
        {
            var alert = s.Alerts.FirstOrDefault(a => a.From == TcpDirection.ServerToClient && a.At.Frame > lastClient.At.Frame);
            bool serverClosed = ctx.Close.Direction == TcpDirection.ServerToClient && ctx.Close.At is { } c && c.Frame > lastClient.At.Frame;
            if (alert.At.Frame != 0 || serverClosed)
            {
                var at = alert.At.Frame != 0 ? alert.At : ctx.Close.At!.Value;
                string alertText = alert.At.Frame != 0 ? $"a {TlsAlertNames.Level(alert.Level)} {TlsAlertNames.Description(alert.Description)} alert (frame {F(alert.At)})" : "nothing";
                return Make(ctx, "credssp.auth-failed", at,
                    "NLA rejected the logon: the server closed the connection instead of accepting the client's NTLM AUTHENTICATE",
                    $"Decrypted CredSSP: the client's AUTHENTICATE (frame {F(lastClient.At)}: {auth.Describe()}{NtlmAccount(auth)}) got no TSRequest back; the server sent {alertText}"
                    + (ctx.Close.At is { } end ? $" and closed the connection ({ctx.Close.Kind!.ToUpperInvariant()}, frame {F(end)}, by the {ctx.Close.By})." : ".")
                    + " This server sent no TSRequest with an errorCode (the field exists from CredSSP version 3 on, but a server need not send it): the account or password was refused; the server's own log has the reason.",
                    Frames([s.ClientHello, s.ServerHello, .. s.CredSsp.Select(m => (FrameRef?)m.At), alert.At.Frame != 0 ? alert.At : null, ctx.Close.At]));
            }
        }
        if (s.EarlyUserAuthorization is { Result: AuthzAccessDenied } denied)
        {
            return Make(ctx, "credssp.early-user-auth-denied", denied.At,
                "The credentials were right but the user may not log on remotely (AUTHZ_ACCESS_DENIED)",
                $"Decrypted: after CredSSP the server sent the Early User Authorization Result AUTHZ_ACCESS_DENIED (frame {F(denied.At)}, MS-RDPBCGR 2.2.10.2): the account authenticated but lacks the right to log on through Remote Desktop.",
                Frames(denied.At, ctx.Close.At));
        }
        return null;
    }
}
