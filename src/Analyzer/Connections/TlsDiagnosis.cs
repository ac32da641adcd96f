using System.Globalization;
using RdpWire.Analyzer.Findings;
using RdpWire.Analyzer.Report;
using RdpWire.Analyzer.Tls;
using RdpWire.Capture.Tcp;
using RdpWire.RdpParser.Tls;
using RdpWire.RdpParser.X224;

namespace RdpWire.Analyzer.Connections;

/// <summary>The TLS step (MS-RDPBCGR 5.4.5.1): what the handshake shows, and why it failed.</summary>
public static partial class VerdictEngine
{
    private const byte AlertFatal = 2;
    private const byte HandshakeFailure = 40;
    private const byte ProtocolVersion = 70;
    private const byte InsufficientSecurity = 71;

    /// <summary>Alerts by which a client says it does not accept the server's certificate (RFC 8446 6.2).</summary>
    private static readonly HashSet<byte> CertificateAlerts = [42, 43, 44, 45, 46, 48];

    private static IReadOnlyList<CertificateInspector.Inspected> InspectCertificates(ConnectionState s)
    {
        if (s.Certificates is not { } chain || s.CertificateAt is not { } at)
        {
            return [];
        }
        var when = new DateTime(at.Ticks, DateTimeKind.Utc);
        int maxDepth = s.Tls.Limits.MaxAsn1Depth;
        return chain.Certificates.Select(der => CertificateInspector.Inspect(der, when, maxDepth)).ToList();
    }

    private static TlsReport? TlsSummary(ConnectionState s, IReadOnlyList<CertificateInspector.Inspected> certificates)
    {
        if (s.TlsRecords[C2S] + s.TlsRecords[S2C] == 0)
        {
            return null;
        }
        var ch = s.ClientHelloMessage;
        var sh = s.ServerHelloMessage;
        return new TlsReport
        {
            ClientVersions = ch?.OfferedVersions.Select(TlsRecordHeader.VersionName).ToList() ?? [],
            Version = sh is null ? null : TlsRecordHeader.VersionName(sh.NegotiatedVersion),
            CipherSuite = sh is null ? null : TlsRegistry.CipherSuiteName(sh.CipherSuite),
            ServerName = ch?.ServerName,
            Alerts = s.Alerts.Select(a => new TlsAlertReport
            {
                From = a.From == TcpDirection.ClientToServer ? "client" : "server",
                // Level 0 marks an alert whose content the wire hides (encrypted, no key log).
                Level = a.Level == 0 ? "unknown" : TlsAlertNames.Level(a.Level),
                Description = a.Level == 0 ? "encrypted" : TlsAlertNames.Description(a.Description),
                Frame = a.At.Frame,
                Encrypted = a.Encrypted,
                InferredFromLength = a.Inferred,
            }).ToList(),
            Certificates = certificates.Select(c => c.Report).ToList(),
            CertificatesOnWire = s.Certificates?.CertificatesOnWire ?? 0,
            ClientCipherSuites = ch is null ? [] : NamesWithoutGrease(ch.CipherSuites, TlsRegistry.CipherSuiteName),
            ClientGroups = ch is null ? [] : NamesWithoutGrease(ch.SupportedGroups, TlsRegistry.NamedGroupName),
            ClientSignatureAlgorithms = ch is null ? [] : NamesWithoutGrease(ch.SignatureAlgorithms, TlsRegistry.SignatureSchemeName),
            Alpn = sh?.Alpn is { } a1 ? [a1] : ch?.Alpn.ToList() ?? [],
            HelloRetryRequest = s.HelloRetryRequest is not null,
            ClientRecords = s.TlsRecords[C2S],
            ServerRecords = s.TlsRecords[S2C],
            ClientEncryptedFrom = s.FirstEncrypted[C2S]?.Frame,
            ServerEncryptedFrom = s.FirstEncrypted[S2C]?.Frame,
            Decryption = s.Tls.Decryption is { } d ? new TlsDecryptionReport
            {
                Secrets = s.DecryptedRecords[C2S] + s.DecryptedRecords[S2C] > 0 ? d.SecretsSource : null,
                ClientRecordsDecrypted = s.DecryptedRecords[C2S],
                ServerRecordsDecrypted = s.DecryptedRecords[S2C],
                Problem = d.Problem,
            } : null,
        };
    }

    /// <summary>The registry names of a ClientHello list, GREASE values (RFC 8701) left out; one list of the right size, no query.</summary>
    private static List<string> NamesWithoutGrease(List<ushort> values, Func<ushort, string> name)
    {
        var names = new List<string>(values.Count);
        foreach (ushort value in values)
        {
            if (!TlsRegistry.IsGrease(value))
            {
                names.Add(name(value));
            }
        }
        return names;
    }

    /// <summary>A problem with the leaf certificate that would make a client refuse it, most decisive first.</summary>
    private static (string Code, string Summary, string Why)? CertificateCause(Context ctx)
    {
        if (ctx.Certificates.Count == 0 || ctx.Certificates[0].Certificate is null)
        {
            return null;
        }
        var leaf = ctx.Certificates[0];
        var r = leaf.Report;
        string who = $"the server's certificate ({r.Subject})";
        if (leaf.Expired)
        {
            return ("tls.cert-expired", $"The server's RDP certificate expired on {r.NotAfter}",
                $"{who} is valid from {r.NotBefore} to {r.NotAfter}; the capture was taken after that");
        }
        if (leaf.NotYetValid)
        {
            return ("tls.cert-not-yet-valid", $"The server's RDP certificate is not valid until {r.NotBefore}",
                $"{who} is valid from {r.NotBefore} to {r.NotAfter}; the capture was taken before that (check the server's and the client's clocks)");
        }
        if (leaf.NoServerAuth)
        {
            return ("tls.cert-no-server-auth", "The server's certificate is not meant for server authentication",
                $"{who} has an Extended Key Usage of {string.Join(", ", r.ExtendedKeyUsage)}: neither Server Authentication nor Remote Desktop Authentication");
        }
        if (leaf.InterceptionProduct is { } product)
        {
            return ("tls.interception-suspected", $"The certificate was issued by a TLS-inspection product ({product}), not by the server",
                $"{who} was issued by {r.Issuer}: a middlebox ({product}) terminates TLS and re-signs it");
        }
        if (leaf.SelfSigned)
        {
            return ("tls.cert-self-signed", "The server's certificate is self-signed, so the client cannot verify it",
                $"{who} is self-signed (issuer = subject): only a client that trusts exactly this certificate accepts it");
        }
        if (leaf.WeakSignature is { } sig && !leaf.SelfSigned)
        {
            return ("tls.cert-weak-signature", $"The server's certificate is signed with {sig}",
                $"{who} is signed with {sig}, which current clients refuse");
        }
        if (leaf.WeakKey is { } key)
        {
            return ("tls.cert-weak-key", $"The server's certificate has a weak key ({key})",
                $"{who} has a {key}");
        }
        if (NameMismatch(ctx, leaf) is { } name)
        {
            return ("tls.cert-name-mismatch", $"The server's certificate does not name {name}, the server the client asked for",
                $"the client asked for {name} (SNI) but {who} names {Names(r)}");
        }
        return null;
    }

    private static string Names(CertificateReport r) =>
        r.SubjectAltNames.Count > 0 ? string.Join(", ", r.SubjectAltNames) : r.Subject ?? "nothing";

    /// <summary>The SNI name the certificate does not cover; null when it matches or the client sent no SNI.</summary>
    private static string? NameMismatch(Context ctx, CertificateInspector.Inspected leaf)
    {
        if (ctx.S.ClientHelloMessage?.ServerName is not { } sni || leaf.Certificate is null)
        {
            return null;
        }
        return CertificateInspector.Matches(leaf.Certificate, sni) ? null : sni;
    }

    private static Finding DiagnoseTls(Context ctx, FrameRef?[] evidenceBase, string phase)
    {
        var s = ctx.S;
        var close = ctx.Close;
        var ch = s.ClientHelloMessage;
        var sh = s.ServerHelloMessage;
        // Written only into the failures that quote it: most connections succeed.
        string Offered() => ch is null ? "" : $" (ClientHello offers {string.Join(", ", ch.OfferedVersions.Select(TlsRecordHeader.VersionName))} and {ch.CipherSuites.Count(c => !TlsRegistry.IsGrease(c))} cipher suites)";

        // A fatal alert ends the handshake only if it comes before the client's first data; one
        // at the end of a session (visible once decrypted) is how that session closed.
        var fatal = s.Alerts.FirstOrDefault(a => a.Level == AlertFatal
            && (s.FirstApplicationData[C2S] is not { } firstData || a.At.Frame <= firstData.Frame));
        if (fatal.At.Frame != 0)
        {
            string from = Side(fatal.From);
            string desc = TlsAlertNames.Description(fatal.Description);
            var evidence = Frames([.. evidenceBase, s.ClientHello, s.ServerHello, s.CertificateAt, fatal.At]);
            if (fatal.Description == ProtocolVersion)
            {
                return Make(ctx, "tls.version-mismatch", fatal.At,
                    $"Client and server share no TLS version: the {from} sent protocol_version",
                    $"The {from} ended the handshake with a fatal protocol_version alert in frame {F(fatal.At)}{Offered()}."
                    + (sh is null ? " No ServerHello was sent." : $" The ServerHello (frame {F(s.ServerHello!.Value)}) chose {TlsRecordHeader.VersionName(sh.NegotiatedVersion)}."),
                    evidence);
            }
            if (fatal.Description is HandshakeFailure or InsufficientSecurity && fatal.From == TcpDirection.ServerToClient && sh is null)
            {
                return Make(ctx, "tls.no-shared-cipher", fatal.At,
                    $"The server found no cipher suite it shares with the client ({desc})",
                    $"The server answered the ClientHello (frame {F(s.ClientHello ?? fatal.At)}) with a fatal {desc} alert in frame {F(fatal.At)} and no ServerHello{Offered()}. With the versions acceptable, that is the server finding no common cipher suite (or signature algorithm / group) in the offer. Offered: {string.Join(", ", ctx.Report.Tls?.ClientCipherSuites.Take(12) ?? [])}{((ctx.Report.Tls?.ClientCipherSuites.Count ?? 0) > 12 ? ", ..." : "")}.",
                    evidence);
            }
            if (fatal.From == TcpDirection.ClientToServer && CertificateAlerts.Contains(fatal.Description))
            {
                if (CertificateCause(ctx) is { } cause)
                {
                    return Make(ctx, cause.Code, s.CertificateAt!.Value, cause.Summary,
                        $"{Capitalize(cause.Why)}. The client rejected it with a fatal {desc} alert in frame {F(fatal.At)}, right after the server's flight (Certificate in frame {F(s.CertificateAt!.Value)}).",
                        evidence, severity: "error");
                }
                return Make(ctx, "tls.client-rejected-certificate", fatal.At,
                    $"The client rejected the server's certificate ({desc})",
                    $"The client sent a fatal {desc} alert in frame {F(fatal.At)} after the server's flight"
                    + (s.CertificateAt is { } ca ? $" (Certificate in frame {F(ca)}); nothing in the certificate itself explains it, so the client does not trust its issuer or checks something else (revocation, pinning)." : "."),
                    evidence);
            }
            return Make(ctx, "tls.alert", fatal.At,
                $"The {from} ended the TLS handshake with a fatal {desc} alert",
                $"Frame {F(fatal.At)}: the {from} sent a plaintext fatal alert, {desc} ({fatal.Description}), during the TLS handshake"
                + (s.ClientHello is { } c1 ? $" (ClientHello in frame {F(c1)}" + (s.ServerHello is { } s1 ? $", ServerHello in frame {F(s1)})." : ", no ServerHello).") : "."),
                evidence);
        }

        if (TlsEstablished(s) && InferCredSspFailure(ctx) is { } credsspFailure)
        {
            return credsspFailure;
        }
        if (TlsEstablished(s))
        {
            var firstData = s.FirstApplicationData[C2S]!.Value;
            var selected = Selected(s);
            string after = selected is SecurityProtocols.Hybrid or SecurityProtocols.HybridEx
                ? "CredSSP (NLA) and the rest of the connection run inside TLS; their outcome is not judged from the record layer"
                : "the RDP connection sequence continues inside TLS";
            string closing = close.At is { } end ? $"; the {close.By} closed it ({close.Kind!.ToUpperInvariant()}) in frame {F(end)}" : "; the connection was still open when the capture ended";
            string version = sh is null ? "" : $" ({TlsRecordHeader.VersionName(sh.NegotiatedVersion)}, {TlsRegistry.CipherSuiteName(sh.CipherSuite)})";
            return Make(ctx, "ok", s.Confirm?.At ?? firstData,
                $"Negotiation ({RdpNegNames.SelectedProtocol(selected ?? SecurityProtocols.Ssl)}) and the TLS handshake{version} completed",
                $"Connection Confirm in frame {(s.Confirm is { } cf ? F(cf.At) : "?")}, TLS handshake completed and encrypted data flows from frame {F(firstData)} ({s.TlsRecords[C2S]} client and {s.TlsRecords[S2C]} server records); {after}{closing}.",
                Frames([.. evidenceBase, s.ClientHello, s.ServerHello, firstData]), phase);
        }

        if (s.ClientHello is { } hello && s.ServerHello is null)
        {
            if (s.TrailingRetransmissions[C2S] > 0 && (s.LastPacket[S2C] is not { } lastServer || lastServer.Frame < hello.Frame)
                && close.Direction != TcpDirection.ServerToClient)
            {
                // Not even a TCP acknowledgment for the ClientHello: the server, or the path
                // back from it, went silent; TLS never got a chance.
                return Make(ctx, "tcp.stalled", hello,
                    "The server went silent after the negotiation: the client's TLS ClientHello was never even acknowledged",
                    $"The Connection Confirm (frame {F(s.Confirm?.At ?? hello)}) was the server's last packet. The client sent its ClientHello in frame {F(hello)} and retransmitted it {s.TrailingRetransmissions[C2S]} time(s) (frames {string.Join(", ", s.TrailingRetransmissionFrames[C2S])}) without a TCP acknowledgment"
                    + (close.At is { } c ? $"; the {close.By} closed the connection in frame {F(c)}." : $"; the capture ends {ctx.SilenceSeconds(hello.Ticks).ToString("0.0", CultureInfo.InvariantCulture)} s after the ClientHello.")
                    + " Small packets (SYN-ACK, the 19-byte Confirm) got through; if the server's next packets were large (its TLS certificate flight), suspect a path MTU black hole.",
                    Frames([.. evidenceBase, hello]).Concat(s.TrailingRetransmissionFrames[C2S]), Phases.Tls);
            }
            double idle = ctx.SilenceSeconds(hello.Ticks);
            if (close.At is not null || idle >= StallThreshold.TotalSeconds)
            {
                string how = close.At is { } c
                    ? $"the {close.By} closed the connection ({close.Kind!.ToUpperInvariant()}, frame {F(c)}) {Seconds(c.Ticks - hello.Ticks)} later"
                    : $"the capture ends {idle.ToString("0.0", CultureInfo.InvariantCulture)} s later with no answer";
                bool legacyOnly = ch is not null && ch.OfferedVersions.All(v => v < 0x0303);
                var ultimatum = s.Ultimatum is { } u && u.From == TcpDirection.ServerToClient && u.At.Frame > hello.Frame ? u.At : (FrameRef?)null;
                return Make(ctx, "tls.server-no-hello", ultimatum ?? close.At ?? hello,
                    "The server never answered the client's TLS ClientHello",
                    $"The client sent its ClientHello in frame {F(hello)}{Offered()}; no ServerHello came back"
                    + (ultimatum is { } ua ? $": the server answered in the clear with an MCS Disconnect Provider Ultimatum (frame {F(ua)}), giving up on TLS, and" : " and")
                    + $" {how}."
                    + (legacyOnly ? " The client offers nothing newer than TLS 1.1, which current servers refuse: a version mismatch is likely." : "")
                    + " A server that cannot use its certificate or private key (missing, unreadable, or not matching the certificate), or that accepts none of the offered versions and suites, behaves this way.",
                    Frames([.. evidenceBase, hello, ultimatum, close.At]));
            }
        }

        if (s.ServerHello is { } sHello && close.At is { } cAt && close.Direction == TcpDirection.ClientToServer)
        {
            var flightEnd = s.Tls.IsTls13 ? s.FirstEncrypted[S2C] ?? sHello : s.LastHandshakeRecord[S2C] ?? sHello;
            var encryptedAlert = s.Alerts.FirstOrDefault(a => a.Encrypted && a.From == TcpDirection.ClientToServer);
            string alertNote = encryptedAlert.At.Frame != 0
                ? $" The client sent an encrypted alert in frame {F(encryptedAlert.At)}, {Seconds(encryptedAlert.At.Ticks - flightEnd.Ticks)} after the server's flight."
                : "";
            // Schannel (mstsc) finishes the handshake before it judges the certificate, so a client
            // that sent its Finished and then leaves without data has rejected it just the same.
            string how = s.ChangeCipherSpec[C2S] is { } clientCcs && !s.Tls.IsTls13
                ? $"completed the handshake (its ChangeCipherSpec/Finished in frame {F(clientCcs)}) but then closed the connection ({close.Kind!.ToUpperInvariant()}, frame {F(cAt)}) without sending any data"
                : s.Tls.IsTls13 && s.FirstEncrypted[C2S] is { } clientFinished && clientFinished.Frame != encryptedAlert.At.Frame
                    ? $"sent its Finished (its first encrypted record, frame {F(clientFinished)}) but then closed the connection ({close.Kind!.ToUpperInvariant()}, frame {F(cAt)}) without sending any data"
                    : $"closed the connection ({close.Kind!.ToUpperInvariant()}, frame {F(cAt)}) without completing its side of the handshake";
            if (CertificateCause(ctx) is { } cause)
            {
                return Make(ctx, cause.Code, s.CertificateAt!.Value, cause.Summary,
                    $"{Capitalize(cause.Why)}. {Seconds(cAt.Ticks - flightEnd.Ticks)} after the server's last handshake record (frame {F(flightEnd)}; Certificate in frame {F(s.CertificateAt!.Value)}) the client {how}: most likely it did not accept the certificate for this reason.{alertNote}",
                    Frames([.. evidenceBase, s.ClientHello, sHello, s.CertificateAt, encryptedAlert.At, cAt]), severity: "error");
            }
            string hidden = s.Tls.IsTls13
                ? " Under TLS 1.3 the certificate is encrypted, so the wire cannot show which: the usual causes are an expired or untrusted (self-signed, unknown issuer) certificate, or one that does not name the server the client asked for. To see the certificate: on the server, `Get-ChildItem 'Cert:\\LocalMachine\\Remote Desktop' | Format-List Subject,NotBefore,NotAfter,Thumbprint` (xrdp: `openssl x509 -in <certificate from xrdp.ini> -noout -subject -dates`); or capture a connection from a client limited to TLS 1.2, where the certificate travels in the clear; or capture with a TLS key log (SSLKEYLOGFILE) for decryption."
                : " The certificate in the flight shows no defect RdpWire checks, so the client does not trust its issuer, or rejects the parameters the server chose.";
            return Make(ctx, "tls.client-rejected-certificate", cAt,
                "The client walked away right after the server's TLS flight (certificate)",
                $"ServerHello in frame {F(sHello)} ({TlsRecordHeader.VersionName(s.ServerHelloMessage!.NegotiatedVersion)}); the server's flight ends in frame {F(flightEnd)}; {Seconds(cAt.Ticks - flightEnd.Ticks)} later the client {how}.{alertNote}{hidden}",
                Frames([.. evidenceBase, s.ClientHello, sHello, flightEnd, s.FirstEncrypted[C2S], encryptedAlert.At, cAt]));
        }

        if (close.At is { } mid)
        {
            return close.Kind == "rst"
                ? Make(ctx, "tcp.reset", mid,
                    $"The {close.By} reset the connection during the TLS handshake",
                    $"TLS handshake under way (ClientHello in frame {F(s.ClientHello ?? s.FirstTls[C2S] ?? mid)}), then a RST from the {close.By} in frame {F(mid)}.",
                    Frames([.. evidenceBase, s.ClientHello, s.ServerHello, mid]), Phases.Tls)
                : close.Direction == TcpDirection.ServerToClient
                    ? Make(ctx, "tcp.server-closed", mid,
                        "The server closed the connection during the TLS handshake",
                        $"TLS handshake under way (ClientHello in frame {F(s.ClientHello ?? s.FirstTls[C2S] ?? mid)}), then a FIN from the server in frame {F(mid)}.",
                        Frames([.. evidenceBase, s.ClientHello, s.ServerHello, mid]), Phases.Tls)
                    : Make(ctx, "incomplete", mid,
                        "The client closed the connection during the TLS handshake",
                        $"TLS handshake under way, then a FIN from the client in frame {F(mid)}; the record layer alone does not show why.",
                        Frames([.. evidenceBase, s.ClientHello, s.ServerHello, mid]));
        }
        var lastTls = s.LastHandshakeRecord[S2C] ?? s.LastHandshakeRecord[C2S] ?? s.FirstTls[C2S] ?? s.FirstPacket;
        return Make(ctx, "incomplete", lastTls,
            "The capture ended during the TLS handshake",
            $"The last handshake record is in frame {F(lastTls)} and the capture ends {ctx.SilenceSeconds(lastTls.Ticks).ToString("0.000", CultureInfo.InvariantCulture)} s later.",
            Frames(lastTls));
    }

    /// <summary>Certificate and TLS properties that did not cause the failure: warnings and info.</summary>
    private static void AddTlsSideFindings(Context ctx, Finding? verdict)
    {
        var s = ctx.S;
        if (ctx.Certificates.Count > 0 && ctx.Certificates[0].Certificate is not null && s.CertificateAt is { } at)
        {
            var leaf = ctx.Certificates[0];
            var r = leaf.Report;
            void Add(string code, string severity, string summary, string detail)
            {
                if (verdict?.Code != code)
                {
                    ctx.Report.Findings.Add(Make(ctx, code, at, summary, detail, Frames(at), severity: severity));
                }
            }
            string accepted = verdict?.Code == "ok" ? " The client went on regardless." : "";
            if (leaf.Expired)
            {
                Add("tls.cert-expired", "warning", $"The server's certificate expired on {r.NotAfter}", $"Certificate {r.Subject} in frame {F(at)} is valid until {r.NotAfter}, before this capture.{accepted}");
            }
            if (leaf.NotYetValid)
            {
                Add("tls.cert-not-yet-valid", "warning", $"The server's certificate is not valid until {r.NotBefore}", $"Certificate {r.Subject} in frame {F(at)} is valid from {r.NotBefore}, after this capture.{accepted}");
            }
            if (leaf.NoServerAuth)
            {
                Add("tls.cert-no-server-auth", "warning", "The server's certificate lacks the Server Authentication EKU", $"Certificate {r.Subject} in frame {F(at)}: EKU {string.Join(", ", r.ExtendedKeyUsage)}.{accepted}");
            }
            if (NameMismatch(ctx, leaf) is { } name)
            {
                Add("tls.cert-name-mismatch", "warning", $"The server's certificate does not name {name}", $"The client asked for {name} (SNI); certificate {r.Subject} in frame {F(at)} names {Names(r)}.{accepted}");
            }
            if (leaf.InterceptionProduct is { } product)
            {
                Add("tls.interception-suspected", "warning", $"A TLS-inspection product ({product}) re-signed the certificate", $"Certificate {r.Subject} in frame {F(at)} was issued by {r.Issuer}.");
            }
            if (leaf.WeakSignature is { } sig)
            {
                Add("tls.cert-weak-signature", leaf.SelfSigned ? "info" : "warning", $"The server's certificate is signed with {sig}", $"Certificate {r.Subject} in frame {F(at)}." + (leaf.SelfSigned ? " It is self-signed, so the signature adds no trust either way." : ""));
            }
            if (leaf.WeakKey is { } key)
            {
                Add("tls.cert-weak-key", "warning", $"The server's certificate has a weak key ({key})", $"Certificate {r.Subject} in frame {F(at)}.");
            }
            if (leaf.SelfSigned)
            {
                Add("tls.cert-self-signed", "info", "The server's certificate is self-signed (the Windows default for RDP)", $"Certificate {r.Subject} in frame {F(at)}, SHA-256 {r.Sha256}: clients can only pin it, not verify it.{accepted}");
            }
        }
        if (s.ServerHelloMessage is { } sh)
        {
            if (sh.NegotiatedVersion < 0x0303)
            {
                ctx.Report.Findings.Add(Make(ctx, "tls.legacy-version", s.ServerHello,
                    $"The connection uses {TlsRecordHeader.VersionName(sh.NegotiatedVersion)}, which current clients and policies refuse",
                    $"ServerHello in frame {F(s.ServerHello!.Value)} selects {TlsRecordHeader.VersionName(sh.NegotiatedVersion)}.",
                    Frames(s.ServerHello), severity: "warning"));
            }
            if (TlsRegistry.IsWeakCipherSuite(sh.CipherSuite, out string why))
            {
                ctx.Report.Findings.Add(Make(ctx, "tls.weak-cipher", s.ServerHello,
                    $"The server chose a weak cipher suite, {TlsRegistry.CipherSuiteName(sh.CipherSuite)}",
                    $"ServerHello in frame {F(s.ServerHello!.Value)}: {why}.",
                    Frames(s.ServerHello), severity: "warning"));
            }
        }
        if (s.Certificates is { } chain && s.CertificateAt is { } certAt && chain.Certificates.Count < chain.CertificatesOnWire)
        {
            var limits = s.Tls.Limits;
            ctx.Report.Findings.Add(Make(ctx, "tls.malformed", certAt,
                $"{chain.CertificatesOnWire - chain.Certificates.Count} of the server's {chain.CertificatesOnWire} certificate(s) not inspected: over RdpWire's limits",
                $"Frame {F(certAt)}: the chain holds {chain.CertificatesOnWire} certificate(s); RdpWire keeps at most {limits.MaxCertificates}, each of at most {limits.MaxCertificateBytes} bytes (--max-certificates, --max-certificate-bytes). The others are counted, not judged.",
                Frames(certAt), severity: "info"));
        }
        foreach (var (errorAt, from, error) in s.HandshakeErrors)
        {
            ctx.Report.Findings.Add(Make(ctx, "tls.malformed", errorAt, $"The {Side(from)}'s TLS handshake message could not be read", $"Frame {F(errorAt)}: {error}.", Frames(errorAt), severity: "warning"));
        }
    }

    private static string Capitalize(string text) => text.Length == 0 ? text : char.ToUpperInvariant(text[0]) + text[1..];
}
