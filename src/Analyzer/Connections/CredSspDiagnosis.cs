using RdpWire.Analyzer.Report;
using RdpWire.Capture.Tcp;
using RdpWire.RdpParser.CredSsp;

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
                $"Decrypted CredSSP: the client's TSRequest in frame {F(authenticate.At)} ({authenticate.Request?.Describe() ?? "?"}) was answered in frame {F(error.At)} by a TSRequest carrying errorCode {name} (0x{status:X8}): {meaning}."
                + (ctx.Close.At is { } c ? $" The {ctx.Close.By} then closed the connection ({ctx.Close.Kind!.ToUpperInvariant()}, frame {F(c)})." : ""),
                Frames(authenticate.At, error.At, ctx.Close.At),
                mstsc: NtStatus.ClientSslErrorCode(status) is uint ssl
                    ? [$"0x{ssl:X} (SSL_ERR_*) is the client code the names line up with; the pairing is not documented"]
                    : null);
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
