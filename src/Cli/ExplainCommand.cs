using System.CommandLine;
using System.Globalization;
using RdpWire.Analyzer.Findings;
using RdpWire.RdpParser.CredSsp;
using RdpWire.RdpParser.Tls;
using RdpWire.RdpParser.X224;

namespace RdpWire.Cli;

/// <summary>
/// `rdpwire explain CODE [CODE...]`: what a code means, which wire patterns produce it, which
/// findings RdpWire reports for them and what to capture to tell them apart. Codes are the Windows
/// client's error and extended error codes (<see cref="ClientCodes"/>, rdp-failure-reference.md 1),
/// Set Error Info errorInfo values (<see cref="ErrorInfoTable"/>, 2), NTSTATUS values of a CredSSP
/// TSRequest errorCode (<see cref="NtStatus"/>, 5.3), TLS alert names (<see cref="TlsAlertNames"/>, 8)
/// and RDP_NEG_FAILURE names (<see cref="NegFailureCode"/>, 3.4). A number can be several of
/// these: every reading is printed, most likely first. Two codes where the first is an error code
/// and the second an extended code are read as the dialog's pair ("Error code: 0x904, Extended
/// error code: 0x7").
/// </summary>
public static class ExplainCommand
{
    private const int Width = 100;

    private const string KeyLog = "`rdpwire analyze --keylog FILE` (or `--server-key KEY.pem`)";

    private enum ReadingKind { DisconnectReason, Extended, Pair, ErrorInfo, NtStatus, TlsAlert, NegFailure }

    /// <summary>One interpretation of a code, rendered as one block.</summary>
    private sealed record Reading(
        ReadingKind Kind,
        uint Value,
        string Title,
        string Meaning,
        string Source,
        IReadOnlyList<string> ClientShows,
        IReadOnlyList<WirePattern> Wire,
        IReadOnlyList<string> TellApart);

    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var codes = new Argument<string[]>("code")
        {
            Description = "0x904, 2308, 0xC000006D, ERRINFO_SERVER_DENIED_CONNECTION, STATUS_LOGON_FAILURE, certificate_expired, HYBRID_REQUIRED_BY_SERVER, ... Two codes (error code, extended code) are read as the client dialog's pair.",
            Arity = ArgumentArity.OneOrMore,
        };
        var command = new Command("explain", "Explain a Windows client, ERRINFO, NTSTATUS, TLS alert or RDP_NEG_FAILURE code: what it means, how it looks on the wire, which findings RdpWire reports for it.")
        {
            codes,
        };
        command.SetAction(result => Run(result.GetValue(codes) ?? [], stdout, stderr));
        return command;
    }

    /// <summary>Explains the codes on stdout; 0, or <see cref="Program.ExitUsage"/> with one line on stderr for a code nothing names.</summary>
    private static int Run(IReadOnlyList<string> codes, TextWriter stdout, TextWriter stderr)
    {
        var interpreted = new List<(string Token, IReadOnlyList<Reading> Readings, string? Note)>();
        foreach (string token in codes)
        {
            var readings = Interpret(token, out string? note);
            if (readings.Count == 0)
            {
                stderr.WriteLine($"rdpwire: unknown code '{token}' (not a Windows client error or extended code, ERRINFO, NTSTATUS, TLS alert or RDP_NEG_FAILURE value or name)");
                return Program.ExitUsage;
            }
            interpreted.Add((token, readings, note));
        }

        if (interpreted.Count == 2
            && interpreted[0].Readings.FirstOrDefault(r => r.Kind == ReadingKind.DisconnectReason) is { } error
            && interpreted[1].Readings.Any(r => r.Kind == ReadingKind.Extended))
        {
            WritePair(stdout, error, interpreted[1].Readings);
            return 0;
        }

        bool first = true;
        foreach (var (token, readings, note) in interpreted)
        {
            if (!first)
            {
                stdout.WriteLine();
            }
            first = false;
            // An error code that field reports mostly show with one extended code: that pair follows.
            var pairs = readings.Where(r => r.Kind == ReadingKind.DisconnectReason)
                .SelectMany(r => ClientCodes.PairsOf(r.Value)).Select(p => FromClientCode(p, p.Key.Value)).ToList();
            var blocks = readings.Concat(pairs).ToList();
            if (note is not null)
            {
                Wrap(stdout, "", "", note);
            }
            if (blocks.Count == 1)
            {
                WriteBlock(stdout, blocks[0], null);
                continue;
            }
            string several = readings.Count == 1 ? $"'{token}' has one reading" : $"'{token}' has {readings.Count} readings, most likely first";
            string withPairs = pairs.Count == 0 ? "" : $", then the error code with the extended code it is most often reported with";
            Wrap(stdout, "", "", several + withPairs + ":");
            for (int i = 0; i < blocks.Count; i++)
            {
                stdout.WriteLine();
                WriteBlock(stdout, blocks[i], i + 1);
            }
        }
        return 0;
    }

    private static void WritePair(TextWriter stdout, Reading error, IReadOnlyList<Reading> secondReadings)
    {
        var extended = secondReadings.Where(r => r.Kind == ReadingKind.Extended).ToList();
        uint errorValue = error.Value, extendedValue = extended[0].Value;
        var blocks = new List<Reading>();
        var pair = ClientCodes.Find(ClientCodeKey.Pair(errorValue, extendedValue));
        if (pair is not null)
        {
            blocks.Add(FromClientCode(pair, errorValue));
        }
        blocks.Add(error);
        blocks.AddRange(extended);
        var also = secondReadings.Where(r => r.Kind != ReadingKind.Extended).ToList();
        Wrap(stdout, "", "", $"Error code {Hex(errorValue)} with extended error code {Hex(extendedValue)}, as the Windows client's dialog shows them"
            + (pair is null ? " (no entry for the combination: each part on its own)" : "")
            + (also.Count > 0 ? $"; then what else {Hex(extendedValue)} can be" : "") + ":");
        blocks.AddRange(also);
        for (int i = 0; i < blocks.Count; i++)
        {
            stdout.WriteLine();
            WriteBlock(stdout, blocks[i], i + 1);
        }
    }

    /// <summary>Every reading of one token, most likely first; <paramref name="note"/> says how a bare number was read.</summary>
    private static IReadOnlyList<Reading> Interpret(string token, out string? note)
    {
        note = null;
        string text = token.Trim();
        var byName = NameReadings(text);
        if (byName.Count > 0)
        {
            return byName;
        }
        if (text.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
        {
            return uint.TryParse(text.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out uint hex) ? NumberReadings(hex) : [];
        }
        if (uint.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out uint dec))
        {
            var readings = NumberReadings(dec);
            if (readings.Count > 0)
            {
                return readings;
            }
        }
        // Without "0x": the dialog's and the event logs' hex values are often copied bare ("C000006D", "904").
        if (text.Length > 0 && uint.TryParse(text, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out uint bare))
        {
            var readings = NumberReadings(bare);
            if (readings.Count > 0 && text.All(char.IsAsciiDigit))
            {
                note = $"No code has the decimal value {text}; read as hex {Hex(bare)}.";
            }
            return readings;
        }
        return [];
    }

    private static List<Reading> NameReadings(string name)
    {
        var readings = new List<Reading>();
        if (ClientCodes.ByName(name) is { } entry)
        {
            readings.Add(FromClientCode(entry, entry.Key.Value));
        }
        if (ErrorInfoNames.Value.TryGetValue(name, out uint errorInfo))
        {
            readings.Add(ErrorInfoReading(errorInfo));
        }
        if (NtStatusNames.Value.TryGetValue(name, out uint status))
        {
            readings.Add(NtStatusReading(status));
        }
        if (TlsAlertByName.Value.TryGetValue(name, out byte alert))
        {
            readings.Add(TlsAlertReading(alert));
        }
        if (NegFailureByName.Value.TryGetValue(name, out var failure))
        {
            readings.Add(NegFailureReading(failure));
        }
        return readings;
    }

    /// <summary>A number's readings: client error code, extended code, errorInfo, extended range, NTSTATUS.</summary>
    private static List<Reading> NumberReadings(uint value)
    {
        var readings = new List<Reading>();
        if (ClientCodes.DisconnectReason(value) is { } disc)
        {
            readings.Add(FromClientCode(disc, value));
        }
        if (ClientCodes.Find(ClientCodeKey.Ext(value)) is { } ext)
        {
            readings.Add(FromClientCode(ext, value));
        }
        if (ErrorInfoTable.Meaning(value) is not null)
        {
            readings.Add(ErrorInfoReading(value));
        }
        if (ClientCodes.Find(ClientCodeKey.Ext(value)) is null && ClientCodes.Extended(value) is { } range)
        {
            readings.Add(FromClientCode(range, value));
        }
        if (value >= 0xC0000000 && NtStatus.IsKnown(value))
        {
            readings.Add(NtStatusReading(value));
        }
        return readings;
    }

    private static Reading FromClientCode(ClientCode c, uint value)
    {
        var key = c.Key;
        string source = $"{ClientCodes.Tag(c.Status)} {c.Source}";
        switch (key.Kind)
        {
            case ClientCodeKind.Pair:
                return new Reading(ReadingKind.Pair, key.Value,
                    $"Windows client error code {Hex(key.Value)} with extended error code {Hex(key.Extended)} (decimal {key.Decimal}): {c.DisplayName}",
                    c.Meaning, source, [$"The dialog: \"Error code: {Hex(key.Value)}, Extended error code: {Hex(key.Extended)}\"."], c.WirePatterns, c.TellApart);
            case ClientCodeKind.DisconnectReason:
                // Codes only seen in dialogs (no name) are quoted in their meaning; where else they show is not known.
                return new Reading(ReadingKind.DisconnectReason, key.Value,
                    $"Windows client error code {Hex(key.Value)} (decimal {key.Decimal}): {c.DisplayName}",
                    c.Meaning, source,
                    c.Name.Length == 0 ? [] : [$"The mstsc dialog's \"Error code: {Hex(key.Value)}\"; event 1026 in the client's TerminalServices-RDPClient/Operational log: \"Reason={key.Decimal}\"."],
                    c.WirePatterns, c.TellApart);
            default:
                return value == key.Value
                    ? new Reading(ReadingKind.Extended, value,
                        $"Windows client extended error code {Hex(value)} (decimal {Dec(value)}): {c.DisplayName}",
                        c.Meaning, source, [$"The mstsc dialog's \"Extended error code: {Hex(value)}\"."], c.WirePatterns, c.TellApart)
                    : new Reading(ReadingKind.Extended, value,
                        $"Windows client extended error code {Hex(value)} (decimal {Dec(value)}): inside the protocol-error range {Hex(ClientCodes.ProtocolRangeStart)}-{Hex(ClientCodes.ProtocolRangeEnd)} (exDiscReasonProtocolRangeStart..exDiscReasonProtocolRangeEnd)",
                        "Inside the internal protocol-error range (check the server's event log). Its values have no names of their own in the client's list; every RDP-specific errorInfo value (the server found a client PDU bad) falls in it.",
                        source, [$"The mstsc dialog's \"Extended error code: {Hex(value)}\"."], c.WirePatterns, c.TellApart);
        }
    }

    /// <summary>MS-RDPBCGR 2.2.5.1.1 errorInfo, sent in the Set Error Info PDU before the server disconnects.</summary>
    private static Reading ErrorInfoReading(uint value)
    {
        string name = ErrorInfoTable.Name(value);
        var clientShows = new List<string>();
        if (ClientCodes.Extended(value) is { } ext)
        {
            string extName = ClientCodes.InProtocolRange(value) && ext.Key.Value != value ? "inside the protocol-error range" : ext.DisplayName;
            clientShows.Add($"[UNV] Most likely error code 0x3 (disconnectReasonByServer) with extended error code {Hex(value)} ({extName}): the extended code echoes errorInfo by the matching numbers (reference 1.4), the pairing is not documented.");
        }
        else
        {
            clientShows.Add("No extended error code with this number is documented (reference 1.4).");
        }
        var tell = new List<string>
        {
            $"The Set Error Info PDU travels inside TLS: {KeyLog} decrypts it and names errorInfo; without them RdpWire sees only that the server closed the connection.",
            "On Windows the server's TerminalServices-LocalSessionManager and RemoteConnectionManager logs hold the matching event.",
        };
        if (ErrorInfoTable.IsOrderlyEnd(value))
        {
            tell.Add("RdpWire reports this value as info, not as an error: an administrator or the user ended the session.");
        }
        if (value == 0x7)
        {
            tell.Add("ERRINFO_SERVER_DENIED_CONNECTION: check \"Allow log on through Remote Desktop Services\", the Remote Desktop Users group and connection limits on the server.");
        }
        return new Reading(ReadingKind.ErrorInfo, value,
            $"Set Error Info PDU errorInfo 0x{value.ToString("X8", CultureInfo.InvariantCulture)} (decimal {Dec(value)}): {name}",
            Sentence(ErrorInfoTable.Meaning(value) ?? "") + " The server sends this value in a Set Error Info PDU right before it disconnects.",
            value == 0x1196
                ? "[3P] FreeRDP only, not in IronRDP or the specification (rdp-failure-reference.md 2.4)"
                : "[V] MS-RDPBCGR 2.2.5.1.1, values cross-checked in FreeRDP and IronRDP (rdp-failure-reference.md 2)",
            clientShows,
            [
                new(SourceStatus.Verified,
                    $"A Share Data PDU with pduType2 PDUTYPE2_SET_ERROR_INFO_PDU (0x2F) carrying errorInfo 0x{value.ToString("X8", CultureInfo.InvariantCulture)}, sent by the server only when the client announced RNS_UD_CS_SUPPORT_ERRINFO_PDU in its Client Core Data; an MCS Disconnect Provider Ultimatum or the TCP close follows.",
                    ["rdp.server-error-info"]),
            ],
            tell);
    }

    /// <summary>An NTSTATUS as a CredSSP server's TSRequest errorCode (MS-CSSP 2.2.1, versions 3, 4 and 6).</summary>
    private static Reading NtStatusReading(uint status)
    {
        string hex = "0x" + status.ToString("X8", CultureInfo.InvariantCulture);
        string title = $"NTSTATUS {hex} (a CredSSP TSRequest errorCode): {NtStatus.Name(status)}";
        const string source = "[V] MS-ERREF 2.3.1 (rdp-failure-reference.md 5.3)";
        if (status == NtStatus.StatusMoreProcessingRequired)
        {
            return new Reading(ReadingKind.NtStatus, status, title, Sentence(NtStatus.Meaning(status) ?? ""), source,
                [], [new(SourceStatus.Verified, "Not a failure: the authentication exchange continues with another round trip.", [])],
                ["Look at the status the exchange ends with, not this one."]);
        }
        var clientShows = new List<string>();
        if (NtStatus.ClientSslErrorCode(status) is uint ssl && ClientCodes.DisconnectReason(ssl) is { } entry)
        {
            clientShows.Add($"[UNV] {Hex(ssl)} ({entry.DisplayName}): the names line up (reference 5.3), the pairing is not documented.");
        }
        else
        {
            clientShows.Add("No client error code is documented for this NTSTATUS (reference 5.3).");
        }
        return new Reading(ReadingKind.NtStatus, status, title,
            Sentence(NtStatus.Meaning(status) ?? "") + " A CredSSP (NLA) server that refuses the logon puts it in its TSRequest's errorCode.",
            source, clientShows,
            [
                new(SourceStatus.Verified,
                    $"After the TLS handshake the server answers the client's CredSSP AUTHENTICATE with a TSRequest whose errorCode [4] is {hex} (MS-CSSP 2.2.1: versions 3, 4 and 6), then closes the connection.",
                    ["credssp.auth-failed"]),
                new(SourceStatus.Unverified,
                    "Without decryption the TSRequest is hidden: RdpWire infers the rejection from the TLS record pattern (NEGOTIATE, CHALLENGE, AUTHENTICATE, then the server's alert or close).",
                    ["credssp.auth-failed"]),
            ],
            [
                $"The errorCode travels inside TLS: {KeyLog} decrypts it and names the NTSTATUS; without them RdpWire reports credssp.auth-failed as an inference and cannot name the reason.",
                "The server's Security log, event 4625, shows the same value as Status or Sub Status for the logon.",
                "A CredSSP version conflict (credssp.version-mismatch, CVE-2018-0886) ends the same way on the wire when TLS is not decrypted.",
            ]);
    }

    /// <summary>Alerts by which a client rejects the server's certificate (RFC 8446 6.2), as the analyzer reads them.</summary>
    private static readonly HashSet<byte> CertificateAlerts = [42, 43, 44, 45, 46, 48];

    private const byte CloseNotify = 0, HandshakeFailure = 40, CertificateExpired = 45, UnknownCa = 48, ProtocolVersion = 70, InsufficientSecurity = 71;

    /// <summary>A TLS AlertDescription (RFC 5246 7.2, RFC 8446 6) and how the analyzer reports it.</summary>
    private static Reading TlsAlertReading(byte alert)
    {
        string name = TlsAlertNames.Description(alert);
        var wire = new List<WirePattern>
        {
            new(SourceStatus.Verified, $"A cleartext alert record during the handshake: content type 21, `15 03 0X 00 02 <level> {alert.ToString("X2", CultureInfo.InvariantCulture)}` (level 1 warning, 2 fatal).", []),
            new(SourceStatus.Unverified, "Under TLS 1.3, alerts sent after the ServerHello are encrypted and look like application data (23).", []),
        };
        var tell = new List<string>
        {
            "Which side sent it and when: RdpWire's detail names the sender and the frame. From the client right after the server's Certificate, it rejects the certificate; from the server before any ServerHello, it rejects the ClientHello (versions, cipher suites).",
            $"Encrypted alerts (TLS 1.3, or after the handshake) show their description only when decrypted: {KeyLog}.",
            "On Windows, Schannel errors in the System event log of the side that sent or received it name the alert.",
        };
        switch (alert)
        {
            case CloseNotify:
                wire.Add(new(SourceStatus.Unverified, "The server's alert (encrypted, its description unknown without decryption) right after the client's CredSSP AUTHENTICATE, then its close: NLA refused the logon.", ["credssp.auth-failed"]));
                tell.Add("close_notify alone is an orderly close, not a failure: what came before it decides.");
                break;
            case ProtocolVersion:
                wire.Add(new(SourceStatus.Verified, "Either side ends the handshake with it: client and server share no TLS version.", ["tls.version-mismatch"]));
                tell.Add("Compare the ClientHello's versions (in the detail) with the server's: enable TLS 1.2 on both sides.");
                break;
            case HandshakeFailure or InsufficientSecurity:
                wire.Add(new(SourceStatus.Verified, "The server sends it instead of a ServerHello: it shares no cipher suite (or group, or signature algorithm) with the client.", ["tls.no-shared-cipher"]));
                wire.Add(new(SourceStatus.Verified, "Sent at any other point of the handshake.", ["tls.alert"]));
                tell.Add("Before or after a ServerHello: before, the offer was refused (cipher suites in the detail); after, something later in the handshake.");
                break;
            case byte when CertificateAlerts.Contains(alert):
                string[] findings = alert switch
                {
                    CertificateExpired => ["tls.cert-expired", "tls.cert-not-yet-valid", "tls.client-rejected-certificate"],
                    UnknownCa => ["tls.cert-self-signed", "tls.interception-suspected", "tls.client-rejected-certificate"],
                    _ => ["tls.client-rejected-certificate"],
                };
                wire.Add(new(SourceStatus.Verified, "The client sends it after the server's Certificate: it rejects the certificate. RdpWire names the defect it finds in the certificate, or reports the rejection alone when the certificate looks sound.", findings));
                wire.Add(new(SourceStatus.Verified, "Sent by the server, or not about the certificate flight.", ["tls.alert"]));
                tell.Add(alert switch
                {
                    CertificateExpired => "RdpWire judges the certificate's dates against the capture's own time: check both clocks (`w32tm /query /status`) as well as the certificate.",
                    UnknownCa => "The client does not trust the issuer: a self-signed RDP certificate (the Windows default) or a TLS-inspection device re-signing the certificate.",
                    _ => "Under TLS 1.3 the certificate is encrypted: capture a TLS 1.2 connection, or look at the server's store (`Get-ChildItem 'Cert:\\LocalMachine\\Remote Desktop'`).",
                });
                break;
            default:
                wire.Add(new(SourceStatus.Verified, "A fatal alert that ends the handshake.", ["tls.alert"]));
                break;
        }
        var clientShows = alert == CloseNotify
            ? new List<string>()
            : ClientCodes.MstscTexts([ClientCodeKey.Pair(0x904, 0x7)], "tls.alert").Select(t => "[OBS] " + t + ".").ToList();
        return new Reading(ReadingKind.TlsAlert, alert,
            $"TLS alert {alert.ToString(CultureInfo.InvariantCulture)} (0x{alert.ToString("X2", CultureInfo.InvariantCulture)}): {name}",
            TlsAlertMeaning(alert),
            alert is 52 or 111 or 114 or 121
                ? "[V] IANA TLS Alerts registry (not in RFC 5246 or 8446)"
                : alert == 86 ? "[V] RFC 7507, listed in RFC 8446 6 (rdp-failure-reference.md 8)" : "[V] RFC 5246 7.2, RFC 8446 6 (rdp-failure-reference.md 8)",
            clientShows, wire, tell);
    }

    /// <summary>What each AlertDescription says, paraphrasing RFC 8446 6.2 (RFC 5246 7.2.2 for the reserved ones).</summary>
    private static string TlsAlertMeaning(byte alert) => alert switch
    {
        0 => "The sender will send no more data on this connection: an orderly close, not an error by itself.",
        10 => "A message arrived that is not allowed at this point of the protocol.",
        20 => "A record could not be deprotected (its MAC or AEAD check failed).",
        21 => "Legacy decryption failure; not sent by TLS 1.2 or later.",
        22 => "A record was longer than allowed.",
        30 => "TLS compression failed (legacy).",
        40 => "The sender could not negotiate acceptable security parameters (typically no common cipher suite, group or signature algorithm).",
        41 => "SSL 3.0 only: no certificate was available.",
        42 => "A certificate was corrupt or its signatures did not verify.",
        43 => "A certificate was of an unsupported type.",
        44 => "A certificate was revoked by its signer.",
        45 => "A certificate has expired or is not currently valid.",
        46 => "Some other problem with the certificate made it unacceptable.",
        47 => "A handshake field was out of range or inconsistent with other fields.",
        48 => "The certificate chain does not lead to a CA the sender trusts.",
        49 => "The credentials were valid, but access control refused to go on with the handshake.",
        50 => "A message could not be decoded (a field out of range, or a wrong length).",
        51 => "A cryptographic operation of the handshake failed (a signature or the Finished check).",
        52 => "Too many DTLS connection IDs were requested.",
        60 => "Legacy export restriction.",
        70 => "The peer's protocol version is recognized but not supported: no common TLS version.",
        71 => "The server requires more secure parameters than the client offered.",
        80 => "An error inside the sender, unrelated to the peer or the protocol.",
        86 => "The client retried with a lower version although the server supports a higher one (RFC 7507).",
        90 => "The user cancelled the handshake.",
        100 => "Renegotiation refused (TLS 1.2 and older).",
        109 => "A mandatory extension was missing (TLS 1.3).",
        110 => "An extension appeared that was not offered or is not allowed in that message.",
        111 => "Legacy: the client could not obtain a certificate from a URL.",
        112 => "No server matches the name in the server_name (SNI) extension.",
        113 => "The server's OCSP response was invalid or unacceptable.",
        114 => "Legacy: a certificate's hash value did not match.",
        115 => "No acceptable pre-shared key identity.",
        116 => "A certificate was required, but none was sent (TLS 1.3).",
        120 => "No application protocol (ALPN) the server supports was offered.",
        121 => "Encrypted Client Hello was offered but not accepted.",
        _ => "",
    };

    /// <summary>MS-RDPBCGR 2.2.1.2.2 failureCode; the remediation comes from <see cref="NegotiationFailureAdvice"/>.</summary>
    private static Reading NegFailureReading(NegFailureCode code)
    {
        string name = RdpNegNames.FailureCode(code);
        uint value = (uint)code;
        var advice = NegotiationFailureAdvice.For(name);
        return new Reading(ReadingKind.NegFailure, value,
            $"RDP_NEG_FAILURE failureCode 0x{value.ToString("X8", CultureInfo.InvariantCulture)} (decimal {Dec(value)}): {name}",
            Sentence(Capitalize(advice.Meaning)),
            "[V] MS-RDPBCGR 2.2.1.2.2 (rdp-failure-reference.md 3.4)",
            advice.Mstsc.Select(m => m.EndsWith('.') ? m : m + ".").ToList(),
            [
                new(SourceStatus.Verified,
                    $"The server's X.224 Connection Confirm carries an RDP_NEG_FAILURE (type 0x03, flags 0, length 8) with failureCode 0x{value.ToString("X8", CultureInfo.InvariantCulture)} instead of an RDP_NEG_RSP, in the clear, and the connection ends.",
                    ["x224.negotiation-failure"]),
            ],
            [
                "The Connection Confirm is never encrypted: any capture of the RDP port shows it (`negotiation.failureCode` and the client's `requestedProtocols` in `rdpwire analyze --json`).",
                "Compare the protocols the client requested with what the server requires; the server's side is `SecurityLayer` and `UserAuthentication` under `HKLM\\SYSTEM\\CurrentControlSet\\Control\\Terminal Server\\WinStations\\RDP-Tcp`.",
                .. advice.Fix,
            ]);
    }

    private static void WriteBlock(TextWriter w, Reading r, int? number)
    {
        Wrap(w, number is int n ? $"{n.ToString(CultureInfo.InvariantCulture)}. " : "", number is null ? "" : "   ", r.Title);
        string indent = number is null ? "  " : "   ";
        Wrap(w, indent + "Meaning: ", indent + "  ", r.Meaning);
        Wrap(w, indent + "Source: ", indent + "  ", r.Source);
        foreach (string shows in r.ClientShows)
        {
            Wrap(w, indent + "Windows client shows: ", indent + "  ", shows);
        }
        w.WriteLine(indent + "Seen on the wire as:");
        if (r.Wire.Count == 0)
        {
            Wrap(w, indent + "  - ", indent + "    ", "nothing on the wire is documented for this code.");
        }
        foreach (var p in r.Wire)
        {
            string findings = p.Findings.Count > 0 ? $" RdpWire: {string.Join(", ", p.Findings)}." : "";
            Wrap(w, indent + "  - ", indent + "    ", $"{ClientCodes.Tag(p.Status)} {p.Text}{findings}");
        }
        w.WriteLine(indent + "RdpWire reports:");
        var codes = r.Wire.SelectMany(p => p.Findings).Distinct(StringComparer.Ordinal).ToList();
        if (codes.Count == 0)
        {
            w.WriteLine(indent + "  no finding corresponds to it.");
        }
        int pad = codes.Count == 0 ? 0 : codes.Max(c => c.Length) + 2;
        foreach (string code in codes)
        {
            Wrap(w, indent + "  " + code.PadRight(pad), indent + "  " + new string(' ', pad), FindingCatalog.Get(code).Title);
        }
        w.WriteLine(indent + "To tell them apart:");
        foreach (string step in r.TellApart)
        {
            Wrap(w, indent + "  - ", indent + "    ", step);
        }
    }

    /// <summary>Word-wraps <paramref name="text"/> at <see cref="Width"/> columns with a hanging indent.</summary>
    private static void Wrap(TextWriter w, string firstPrefix, string restPrefix, string text)
    {
        string prefix = firstPrefix;
        var line = new System.Text.StringBuilder(prefix);
        bool empty = true;
        foreach (string word in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (!empty && line.Length + 1 + word.Length > Width)
            {
                w.WriteLine(line.ToString());
                line.Clear().Append(restPrefix);
                empty = true;
            }
            if (!empty)
            {
                line.Append(' ');
            }
            line.Append(word);
            empty = false;
        }
        w.WriteLine(line.ToString());
    }

    private static string Hex(uint value) => "0x" + value.ToString("X", CultureInfo.InvariantCulture);

    private static string Dec(uint value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Capitalize(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..];

    private static string Sentence(string s)
    {
        s = Capitalize(s.Trim());
        return s.Length == 0 || s[^1] is '.' or '!' or '?' ? s : s + ".";
    }

    // ErrorInfoTable and NtStatus look values up by number only; their names are indexed here by
    // walking the value ranges the tables cover (errorInfo 0x0-0x1FFF, MS-RDPBCGR 2.2.5.1.1;
    // NTSTATUS facility 0 errors 0xC0000000-0xC0000FFF, MS-ERREF 2.3.1).
    private static readonly Lazy<Dictionary<string, uint>> ErrorInfoNames = new(() =>
    {
        var names = new Dictionary<string, uint>(StringComparer.OrdinalIgnoreCase);
        for (uint v = 0; v <= 0x1FFF; v++)
        {
            if (ErrorInfoTable.Meaning(v) is null)
            {
                continue;
            }
            // "ERRINFO_UNKNOWN_DATA_PDU_TYPE (UNKNOWNPDUTYPE2)": the name and its alias.
            foreach (string part in ErrorInfoTable.Name(v).Split([' ', '(', ')'], StringSplitOptions.RemoveEmptyEntries))
            {
                names.TryAdd(part, v);
            }
        }
        return names;
    });

    private static readonly Lazy<Dictionary<string, uint>> NtStatusNames = new(() =>
    {
        var names = new Dictionary<string, uint>(StringComparer.OrdinalIgnoreCase);
        for (uint v = 0xC0000000; v <= 0xC0000FFF; v++)
        {
            if (NtStatus.IsKnown(v))
            {
                names.TryAdd(NtStatus.Name(v), v);
            }
        }
        return names;
    });

    private static readonly Lazy<Dictionary<string, byte>> TlsAlertByName = new(() =>
    {
        var names = new Dictionary<string, byte>(StringComparer.OrdinalIgnoreCase);
        for (int v = 0; v <= byte.MaxValue; v++)
        {
            string name = TlsAlertNames.Description((byte)v);
            if (name.StartsWith("alert ", StringComparison.Ordinal))
            {
                continue;
            }
            names.TryAdd(name, (byte)v);
            // rdp-failure-reference.md 8 writes some reserved names without the suffix.
            if (name.EndsWith("_RESERVED", StringComparison.Ordinal))
            {
                names.TryAdd(name[..^"_RESERVED".Length], (byte)v);
            }
        }
        return names;
    });

    private static readonly Lazy<Dictionary<string, NegFailureCode>> NegFailureByName = new(() =>
        Enum.GetValues<NegFailureCode>().ToDictionary(RdpNegNames.FailureCode, StringComparer.OrdinalIgnoreCase));
}
