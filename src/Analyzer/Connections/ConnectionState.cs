using RdpWire.Analyzer.Report;
using RdpWire.Capture.Decoding;
using RdpWire.Capture.Tcp;
using RdpWire.RdpParser.CredSsp;
using RdpWire.RdpParser.Mcs;
using RdpWire.RdpParser.Rdp;
using RdpWire.RdpParser.Streams;
using RdpWire.RdpParser.Tls;
using RdpWire.RdpParser.X224;

namespace RdpWire.Analyzer.Connections;

/// <summary>A packet the verdict logic may cite: its frame, time and what it was.</summary>
public readonly record struct FrameRef(long Frame, long Ticks);

/// <summary>
/// Everything the analyzer records about one TCP connection while the packets stream by:
/// TCP facts from the segments, protocol messages from the two stream parsers, and the
/// ladder for the report. Bounded: lists are capped, bulk data is only counted.
/// </summary>
public sealed class ConnectionState : IRdpStreamEvents
{
    private const int MaxLadderSteps = 48;

    /// <summary>Length of a TLS 1.3 record carrying an alert under a 16-byte-tag AEAD.</summary>
    private const int EncryptedAlertLength = 19;
    private const int MaxSynsRemembered = 16;

    public ConnectionState(TcpConnection connection, RdpWire.RdpParser.Tls.Decryption.TlsKeyLog? keyLog = null,
        RdpWire.RdpParser.RdpParserLimits? limits = null)
    {
        Connection = connection;
        Tls = new TlsSessionState { Limits = limits ?? RdpWire.RdpParser.RdpParserLimits.Default };
        if (keyLog is not null)
        {
            Tls.Decryption = new RdpWire.RdpParser.Tls.Decryption.TlsDecryptionSession(keyLog);
        }
    }

    private PerDirection<RdpStreamParser?> _parsers;

    /// <summary>The stream parser of one direction, made when that direction first carries bytes.</summary>
    public RdpStreamParser Parser(TcpDirection direction) =>
        _parsers[(int)direction] ??= new RdpStreamParser((StreamDirection)(int)direction, this, Tls);

    public TcpConnection Connection { get; }

    /// <summary>Segment sizes, acknowledgments and ICMP about the path (MTU, loss, windows).</summary>
    public NetworkPath.PathObservations Path { get; } = new();

    /// <summary>The TLS state both directions' parsers share (who encrypts from when).</summary>
    public TlsSessionState Tls { get; }

    // TLS handshake content (plaintext part)
    public ClientHello? ClientHelloMessage { get; private set; }
    public ServerHello? ServerHelloMessage { get; private set; }
    public FrameRef? HelloRetryRequest { get; private set; }
    public CertificateChain? Certificates { get; private set; }
    public FrameRef? CertificateAt { get; private set; }
    public FrameRef? ServerHelloDone { get; private set; }
    public FrameRef? ClientKeyExchange { get; private set; }
    /// <summary>The first ciphertext record of each side: when it started encrypting.</summary>
    public PerDirection<FrameRef?> FirstEncrypted;
    public List<(FrameRef At, TcpDirection From, string Error)> HandshakeErrors { get; } = [];

    public long FirstTicks { get; set; }
    public long LastTicks { get; set; }
    public FrameRef FirstPacket { get; set; }

    // TCP
    public List<FrameRef> ClientSyns { get; } = [];
    public int SynCount { get; set; }
    public byte ClientSynTtl { get; set; }
    public FrameRef? SynAck { get; set; }
    public byte SynAckTtl { get; set; }
    public FrameRef? HandshakeAck { get; set; }
    public FrameRef? Rst { get; set; }
    public TcpDirection RstDirection { get; set; }
    public byte RstTtl { get; set; }
    public PerDirection<FrameRef?> Fin;
    public PerDirection<FrameRef?> FirstPayload;
    public PerDirection<FrameRef?> LastPayload;
    public PerDirection<FrameRef?> LastPacket;
    public PerDirection<long> Packets;
    public PerDirection<long> PayloadBytes;
    public long Retransmissions { get; set; }
    /// <summary>Retransmissions of the segment that is currently the newest in each direction.</summary>
    public PerDirection<int> TrailingRetransmissions;
    /// <summary>Frames of those retransmissions (the first 16).</summary>
    public List<long>[] TrailingRetransmissionFrames { get; } = [[], []];
    public long Gaps { get; set; }
    public ConnectionEndReason? EndReason { get; set; }

    // ICMP errors that quote this connection's packets
    public List<(FrameRef At, byte Type, byte Code, bool V6, NetAddress From)> IcmpErrors { get; } = [];

    // X.224
    public (FrameRef At, X224ConnectionRequest Pdu)? Request { get; private set; }
    public (FrameRef At, X224ConnectionConfirm Pdu)? Confirm { get; private set; }
    public (FrameRef At, TcpDirection From, byte Reason)? Disconnect { get; private set; }
    public List<(FrameRef At, TcpDirection Direction, string Reason)> Malformed { get; } = [];

    // After negotiation
    public PerDirection<FrameRef?> FirstTls;
    public FrameRef? ClientHello { get; private set; }
    public FrameRef? ServerHello { get; private set; }
    public PerDirection<FrameRef?> ChangeCipherSpec;
    public PerDirection<FrameRef?> FirstApplicationData;
    public PerDirection<FrameRef?> LastHandshakeRecord;
    public PerDirection<long> TlsRecords;
    public PerDirection<long> ApplicationDataRecords;
    public ushort? ServerHelloRecordVersion { get; private set; }
    /// <summary>TLS alerts; <c>Inferred</c> marks a TLS 1.3 record judged an alert by its 19-byte length.</summary>
    public List<(FrameRef At, TcpDirection From, byte Level, byte Description, bool Encrypted, bool Inferred)> Alerts { get; } = [];
    public PerDirection<FrameRef?> FirstX224Data;
    public PerDirection<long> FastPathPdus;

    public List<LadderStep> Ladder { get; } = [];
    public int LadderOverflow { get; private set; }

    /// <summary>True when the connection carries RDP: port 3389, or its first client bytes were an RDP Connection Request.</summary>
    public bool IsRdp => Connection.Server.Port == 3389 || Request is not null;

    /// <summary>False once the client's first bytes proved this is not RDP on a non-RDP port: stop parsing.</summary>
    public bool Following { get; set; } = true;

    public void AddStep(FrameRef at, string direction, string message, string? icmpTo = null)
    {
        if (Ladder.Count >= MaxLadderSteps)
        {
            LadderOverflow++;
            return;
        }
        Ladder.Add(new LadderStep
        {
            Frame = at.Frame,
            Ticks = at.Ticks,
            Offset = Math.Round((at.Ticks - FirstTicks) / (double)TimeSpan.TicksPerSecond, 6),
            Direction = direction,
            IcmpTo = icmpTo,
            Message = message,
        });
    }

    public void AddSyn(FrameRef at)
    {
        SynCount++;
        if (ClientSyns.Count < MaxSynsRemembered)
        {
            ClientSyns.Add(at);
        }
    }

    private FrameRef At(StreamDirection direction, StreamRange range)
    {
        var (frame, ticks) = Connection.Stream((TcpDirection)direction).Frames.FrameAt(range.End - 1);
        return new FrameRef(frame, ticks);
    }

    /// <summary>
    /// The messages' names, each noted on the way. A loop in a method of its own, not Select(lambda):
    /// a lambda capturing OnTlsRecord's parameters would be allocated on every record, bulk data included.
    /// </summary>
    private string HandshakeNames(StreamDirection direction, FrameRef at, IReadOnlyList<TlsHandshakeMessage> messages)
    {
        var names = new string[messages.Count];
        for (int i = 0; i < names.Length; i++)
        {
            names[i] = OnHandshakeMessage(direction, at, messages[i]);
        }
        return string.Join(", ", names);
    }

    private static string Arrow(StreamDirection d) => d == StreamDirection.ClientToServer ? "c2s" : "s2c";

    public void OnConnectionRequest(StreamDirection direction, StreamRange range, X224ConnectionRequest request)
    {
        var at = At(direction, range);
        if (direction == StreamDirection.ClientToServer && Request is null)
        {
            Request = (at, request);
        }
        var parts = new List<string> { "X.224 Connection Request" };
        if (request.Cookie is not null)
        {
            parts.Add($"cookie mstshash={request.Cookie}");
        }
        if (request.RoutingToken is not null)
        {
            parts.Add($"routing token \"{request.RoutingToken}\"");
        }
        parts.Add(request.NegotiationRequest is null
            ? "no RDP_NEG_REQ (Standard RDP Security only)"
            : "requests " + string.Join("|", RdpNegNames.Protocols(request.RequestedProtocols)));
        AddStep(at, Arrow(direction), string.Join(", ", parts));
    }

    public void OnConnectionConfirm(StreamDirection direction, StreamRange range, X224ConnectionConfirm confirm)
    {
        var at = At(direction, range);
        if (direction == StreamDirection.ServerToClient && Confirm is null)
        {
            Confirm = (at, confirm);
        }
        string what = confirm.NegotiationFailure is { } f
            ? $"RDP_NEG_FAILURE {RdpNegNames.FailureCode(f.FailureCode)}"
            : confirm.NegotiationResponse is { } r
                ? $"selects {RdpNegNames.SelectedProtocol(r.SelectedProtocol)}"
                : "no negotiation data (Standard RDP Security)";
        AddStep(at, Arrow(direction), "X.224 Connection Confirm, " + what);
    }

    public void OnDisconnectRequest(StreamDirection direction, StreamRange range, byte reason)
    {
        var at = At(direction, range);
        Disconnect ??= (at, (TcpDirection)direction, reason);
        AddStep(at, Arrow(direction), $"X.224 Disconnect Request (reason {reason})");
    }

    public void OnX224Data(StreamDirection direction, StreamRange range, McsPduHeader mcs)
    {
        var at = At(direction, range);
        int d = (int)direction;
        FirstX224Data[d] ??= at;
        string? step = mcs.Kind switch
        {
            McsPduKind.ConnectInitial => "MCS Connect Initial (GCC Conference Create Request" + (DecryptedRecords[d] > 0 ? ", decrypted)" : ", in the clear)"),
            McsPduKind.ConnectResponse => "MCS Connect Response (GCC Conference Create Response" + (DecryptedRecords[d] > 0 ? ", decrypted)" : ", in the clear)"),
            McsPduKind.DisconnectProviderUltimatum =>
                "MCS Disconnect Provider Ultimatum" + (mcs.Reason is { } r ? $" ({McsPduHeader.ReasonName(r)})" : ""),
            McsPduKind.ErectDomainRequest => "MCS Erect Domain Request",
            McsPduKind.AttachUserRequest => "MCS Attach User Request",
            McsPduKind.AttachUserConfirm => "MCS Attach User Confirm",
            McsPduKind.ChannelJoinRequest => "MCS Channel Join Request",
            McsPduKind.ChannelJoinConfirm => "MCS Channel Join Confirm",
            McsPduKind.SendDataRequest or McsPduKind.SendDataIndication when !_sawSendData[d] => "MCS Send Data (RDP PDUs) begin",
            McsPduKind.SendDataRequest or McsPduKind.SendDataIndication => null,
            _ => "X.224 Data (unrecognised MCS PDU)",
        };
        switch (mcs.Kind)
        {
            case McsPduKind.ConnectResponse:
                McsConnectResponse ??= at;
                break;
            case McsPduKind.AttachUserConfirm or McsPduKind.ChannelJoinConfirm:
                ChannelJoinConfirm ??= at;
                break;
            case McsPduKind.DisconnectProviderUltimatum:
                Ultimatum ??= (at, (TcpDirection)direction, mcs.Reason);
                break;
            case McsPduKind.SendDataRequest or McsPduKind.SendDataIndication:
                _sawSendData[d] = true;
                FirstSendData[d] ??= at;
                break;
        }
        if (step is not null)
        {
            AddStep(at, Arrow(direction), step);
        }
    }

    private PerDirection<bool> _sawSendData;

    /// <summary>The server's first Attach User / Channel Join Confirm (in the clear).</summary>
    public FrameRef? ChannelJoinConfirm { get; private set; }

    /// <summary>The first MCS Send Data PDU per direction (in the clear): RDP PDUs flow.</summary>
    public PerDirection<FrameRef?> FirstSendData;

    /// <summary>The server's MCS Connect Response (Standard RDP Security, in the clear).</summary>
    public FrameRef? McsConnectResponse { get; private set; }

    /// <summary>The first MCS Disconnect Provider Ultimatum seen in the clear, its sender and reason.</summary>
    public (FrameRef At, TcpDirection From, McsDisconnectReason? Reason)? Ultimatum { get; private set; }

    public void OnTlsRecord(StreamDirection direction, StreamRange range, TlsRecordSummary record)
    {
        var at = At(direction, range);
        int d = (int)direction;
        TlsRecords[d]++;
        FirstTls[d] ??= at;
        var type = record.Header.ContentType;
        string? step = null;
        if (record.Encrypted && FirstEncrypted[d] is null)
        {
            FirstEncrypted[d] = at;
        }
        if (record.Decrypted)
        {
            DecryptedRecords[d]++;
            step = OnDecryptedRecord(direction, at, record);
            if (step is not null)
            {
                AddStep(at, Arrow(direction), step);
            }
            return;
        }
        switch (type)
        {
            case TlsContentType.Handshake when !record.Encrypted:
                LastHandshakeRecord[d] = at;
                if (record.HandshakeMessages.Count > 0)
                {
                    step = "TLS " + HandshakeNames(direction, at, record.HandshakeMessages);
                }
                break;
            case TlsContentType.Handshake:
                LastHandshakeRecord[d] = at;
                step = Tls.IsTls13 && direction == StreamDirection.ServerToClient
                    ? "TLS encrypted handshake"
                    : "TLS encrypted handshake (Finished)";
                break;
            case TlsContentType.ChangeCipherSpec:
                ChangeCipherSpec[d] ??= at;
                step = "TLS ChangeCipherSpec";
                break;
            case TlsContentType.Alert:
                if (record.Encrypted)
                {
                    NoteCipherRecord(at, direction, alert: true, record.Header.Length);
                }
                if (record.AlertLevel is byte level && record.AlertDescription is byte desc)
                {
                    Alerts.Add((at, (TcpDirection)direction, level, desc, false, false));
                    step = $"TLS alert: {TlsAlertNames.Level(level)} {TlsAlertNames.Description(desc)}";
                }
                else
                {
                    Alerts.Add((at, (TcpDirection)direction, 0, 0, true, false));
                    step = "TLS alert (encrypted)";
                }
                break;
            case TlsContentType.ApplicationData when Tls.IsTls13 && record.Header.Length == EncryptedAlertLength:
                // RFC 8446 5.2: an encrypted alert is 2 bytes + 1 content-type byte + a 16-byte
                // AEAD tag. Handshake and RDP data records are larger, so a 19-byte record is an alert.
                Alerts.Add((at, (TcpDirection)direction, 0, 0, true, true));
                NoteCipherRecord(at, direction, alert: true, record.Header.Length);
                step = "TLS alert (encrypted; a 19-byte TLS 1.3 record)";
                break;
            case TlsContentType.ApplicationData:
                ApplicationDataRecords[d]++;
                NoteCipherRecord(at, direction, alert: false, record.Header.Length);
                if (FirstApplicationData[d] is null)
                {
                    FirstApplicationData[d] = at;
                    // In TLS 1.3 the first ciphertext records still carry the handshake (EncryptedExtensions,
                    // Certificate, Finished); in TLS 1.2 they are the first application data.
                    step = Tls.IsTls13 ? "TLS ciphertext begins (rest of the handshake, then data)" : "TLS application data begins";
                }
                break;
        }
        if (step is not null)
        {
            AddStep(at, Arrow(direction), step);
        }
    }

    /// <summary>The first ciphertext data and alert records in wire order: the shape of CredSSP without keys.</summary>
    public List<(FrameRef At, TcpDirection From, bool Alert, int Length)> CipherRecords { get; } = [];
    private const int MaxCipherRecords = 32;

    private void NoteCipherRecord(FrameRef at, StreamDirection direction, bool alert, int length)
    {
        if (CipherRecords.Count < MaxCipherRecords)
        {
            if (CipherRecords.Capacity == 0)
            {
                // A connection that encrypts soon has all 32: room for them at once, not 4, 8, 16, 32.
                CipherRecords.Capacity = MaxCipherRecords;
            }
            CipherRecords.Add((at, (TcpDirection)direction, alert, length));
        }
    }

    /// <summary>Records decrypted with the key log, per direction.</summary>
    public PerDirection<long> DecryptedRecords;

    /// <summary>Each side's (decrypted) Finished message.</summary>
    public PerDirection<FrameRef?> Finished;

    /// <summary>CredSSP TSRequests in the order they were sent (decrypted).</summary>
    public List<(FrameRef At, TcpDirection From, TsRequest Request)> CredSsp { get; } = [];

    /// <summary>MS-RDPBCGR 2.2.10.2 Early User Authorization Result, when decrypted.</summary>
    public (FrameRef At, uint Result)? EarlyUserAuthorization { get; private set; }

    private string? OnDecryptedRecord(StreamDirection direction, FrameRef at, TlsRecordSummary record)
    {
        int d = (int)direction;
        switch (record.InnerType ?? record.Header.ContentType)
        {
            case TlsContentType.Handshake:
                LastHandshakeRecord[d] = at;
                foreach (var m in record.HandshakeMessages.Where(m => m.Type == TlsHandshakeType.Finished))
                {
                    Finished[d] ??= at;
                }
                return record.HandshakeMessages.Count == 0 ? null
                    : "TLS (decrypted) " + HandshakeNames(direction, at, record.HandshakeMessages);
            case TlsContentType.Alert when record.AlertLevel is byte level && record.AlertDescription is byte desc:
                Alerts.Add((at, (TcpDirection)direction, level, desc, true, false));
                return $"TLS alert (decrypted): {TlsAlertNames.Level(level)} {TlsAlertNames.Description(desc)}";
            case TlsContentType.ApplicationData:
                ApplicationDataRecords[d]++;
                if (FirstApplicationData[d] is null)
                {
                    FirstApplicationData[d] = at;
                    return "TLS application data begins (decrypted)";
                }
                return null;
            default:
                return null;
        }
    }

    public void OnCredSsp(StreamDirection direction, StreamRange range, TsRequest request)
    {
        var at = At(direction, range);
        if (CredSsp.Count < 32)
        {
            CredSsp.Add((at, (TcpDirection)direction, request));
        }
        AddStep(at, Arrow(direction), "CredSSP " + request.Describe());
    }

    public void OnEarlyUserAuthorization(StreamDirection direction, StreamRange range, uint result)
    {
        var at = At(direction, range);
        EarlyUserAuthorization ??= (at, result);
        AddStep(at, Arrow(direction), $"Early User Authorization Result: {EarlyUserAuthorizationName(result)}");
    }

    public static string EarlyUserAuthorizationName(uint result) => result switch
    {
        0 => "AUTHZ_SUCCESS",
        5 => "AUTHZ_ACCESS_DENIED",
        _ => $"0x{result:X8}",
    };

    /// <summary>Send Data PDUs on static virtual channels (not classified).</summary>
    public long VirtualChannelPdus { get; private set; }

    /// <summary>The first frame of each kind of RDP PDU seen (in the clear or decrypted).</summary>
    public Dictionary<RdpPduKind, FrameRef> RdpPdus { get; } = [];
    public (FrameRef At, uint Value)? ErrorInfo { get; private set; }
    /// <summary>MS-RDPBCGR 2.2.1.11 Client Info PDU's TS_INFO_PACKET, when readable.</summary>
    public (FrameRef At, RdpWire.RdpParser.Rdp.ClientInfoPacket Packet)? ClientInfo { get; private set; }
    public (FrameRef At, uint Code)? LicenseError { get; private set; }

    public void OnRdpPdu(StreamDirection direction, StreamRange range, RdpPdu pdu)
    {
        if (pdu.ChannelId is ushort channel && McsConnectResponsePdu?.ServerData?.ChannelIds.Contains(channel) == true)
        {
            // Static virtual channel data (CHANNEL_PDU_HEADER, MS-RDPBCGR 2.2.6.1): not part of the connection sequence.
            VirtualChannelPdus++;
            return;
        }
        var at = At(direction, range);
        bool first = RdpPdus.TryAdd(pdu.Kind, at);
        string? step = pdu.Kind switch
        {
            RdpPduKind.SecurityExchange => "Security Exchange PDU (client random)",
            RdpPduKind.ClientInfo => "Client Info PDU",
            RdpPduKind.Licensing => "Licensing PDU" + (pdu.Value is uint t ? $" (bMsgType 0x{t:X2})" : ""),
            RdpPduKind.LicenseErrorAlert => $"License Error Alert: {SlowPathPdu.LicenseErrorName(pdu.Value ?? 0)}",
            RdpPduKind.DemandActive => "Demand Active PDU (server capabilities)",
            RdpPduKind.ConfirmActive => "Confirm Active PDU (client capabilities)",
            RdpPduKind.Synchronize or RdpPduKind.Control or RdpPduKind.FontList or RdpPduKind.PersistentKeyList => $"Finalization: {pdu.Kind}",
            RdpPduKind.FontMap => "Font Map PDU: connection finalized (active)",
            RdpPduKind.SetErrorInfo => $"Set Error Info PDU: {Findings.ErrorInfoTable.Name(pdu.Value ?? 0)}",
            RdpPduKind.DeactivateAll => "Deactivate All PDU",
            RdpPduKind.ServerRedirection => "Server Redirection PDU",
            _ => null,
        };
        if (pdu.ClientInfo is { } info && direction == StreamDirection.ClientToServer)
        {
            ClientInfo ??= (at, info);
        }
        if (pdu.Kind == RdpPduKind.SetErrorInfo && pdu.Value is uint e && e != 0)
        {
            ErrorInfo ??= (at, e);
            first = true;
        }
        if (pdu.Kind == RdpPduKind.LicenseErrorAlert && pdu.Value is uint code)
        {
            if (code != SlowPathPdu.StatusValidClient)
            {
                LicenseError ??= (at, code);
            }
            first = true;
        }
        if (step is not null && first)
        {
            AddStep(at, Arrow(direction), step);
        }
    }

    public void OnFastPath(StreamDirection direction, StreamRange range) => FastPathPdus[(int)direction]++;

    /// <summary>The client's MCS Connect-Initial and the server's Connect-Response, when seen in the clear.</summary>
    public McsConnectPdu? McsConnectInitial { get; private set; }
    public McsConnectPdu? McsConnectResponsePdu { get; private set; }

    public void OnMcsConnect(StreamDirection direction, StreamRange range, McsConnectPdu pdu)
    {
        if (pdu.IsInitial && direction == StreamDirection.ClientToServer)
        {
            McsConnectInitial ??= pdu;
        }
        else if (!pdu.IsInitial && direction == StreamDirection.ServerToClient)
        {
            McsConnectResponsePdu ??= pdu;
        }
    }

    public void OnMalformed(StreamDirection direction, long offset, string reason)
    {
        var (frame, ticks) = Connection.Stream((TcpDirection)direction).Frames.FrameAt(offset);
        var at = new FrameRef(frame, ticks);
        Malformed.Add((at, (TcpDirection)direction, reason));
        bool gap = reason.StartsWith("bytes missing", StringComparison.Ordinal);
        AddStep(at, Arrow(direction), gap
            ? "bytes before this never reached the capture (TCP gap)"
            : "not RDP: " + (reason.Length > 60 ? reason[..60] + "..." : reason));
    }

    /// <summary>Records one plaintext handshake message; returns its ladder text.</summary>
    private string OnHandshakeMessage(StreamDirection direction, FrameRef at, TlsHandshakeMessage m)
    {
        if (m.Error is not null)
        {
            HandshakeErrors.Add((at, (TcpDirection)direction, $"{TlsHandshakeMessage.Name(m.Type)}: {m.Error}"));
        }
        bool fromClient = direction == StreamDirection.ClientToServer;
        switch (m.Type)
        {
            case TlsHandshakeType.ClientHello when fromClient && m.ClientHello is { } ch:
                ClientHello ??= at;
                ClientHelloMessage ??= ch;
                return $"ClientHello ({string.Join(",", ch.OfferedVersions.Select(TlsRecordHeader.VersionName))}; {ch.CipherSuites.Count(c => !TlsRegistry.IsGrease(c))} cipher suites"
                    + (ch.ServerName is null ? ")" : $"; SNI {ch.ServerName})");
            case TlsHandshakeType.ServerHello when !fromClient && m.ServerHello is { } sh:
                if (sh.IsHelloRetryRequest)
                {
                    HelloRetryRequest ??= at;
                    return $"HelloRetryRequest ({TlsRegistry.CipherSuiteName(sh.CipherSuite)})";
                }
                ServerHello ??= at;
                ServerHelloMessage ??= sh;
                ServerHelloRecordVersion ??= sh.LegacyVersion;
                return $"ServerHello ({TlsRecordHeader.VersionName(sh.NegotiatedVersion)}, {TlsRegistry.CipherSuiteName(sh.CipherSuite)})";
            case TlsHandshakeType.Certificate when !fromClient && m.Certificates is { } chain:
                Certificates ??= chain;
                CertificateAt ??= at;
                return $"Certificate ({chain.CertificatesOnWire} cert{(chain.CertificatesOnWire == 1 ? "" : "s")})";
            case TlsHandshakeType.ServerHelloDone when !fromClient:
                ServerHelloDone ??= at;
                return "ServerHelloDone";
            case TlsHandshakeType.ClientKeyExchange when fromClient:
                ClientKeyExchange ??= at;
                return "ClientKeyExchange";
            default:
                return TlsHandshakeMessage.Name(m.Type);
        }
    }
}
