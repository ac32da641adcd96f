using RdpWire.RdpParser.Mcs;
using RdpWire.RdpParser.Tls;
using RdpWire.RdpParser.X224;

namespace RdpWire.RdpParser.Streams;

/// <summary>Which way a stream flows: the analyzer runs one parser per direction.</summary>
public enum StreamDirection : byte
{
    ClientToServer = 0,
    ServerToClient = 1,
}

/// <summary>Where a message sits in its direction's byte stream: [Start, End).</summary>
public readonly record struct StreamRange(long Start, long End)
{
    public long Length => End - Start;
}

/// <summary>What one TLS record was, as far as the record layer shows without keys.</summary>
public readonly record struct TlsRecordSummary(
    TlsRecordHeader Header,
    /// <summary>Type of the first handshake message in a plaintext handshake record, else null.</summary>
    TlsHandshakeType? FirstHandshakeType,
    /// <summary>Level and description of a plaintext alert, else null.</summary>
    byte? AlertLevel,
    byte? AlertDescription,
    /// <summary>True when the record is ciphertext (after this side's ChangeCipherSpec, or after ServerHello in TLS 1.3).</summary>
    bool Encrypted,
    /// <summary>The plaintext handshake messages this record completed (they may have begun in earlier records).</summary>
    IReadOnlyList<TlsHandshakeMessage> HandshakeMessages)
{
    /// <summary>True when a key log let the record be decrypted.</summary>
    public bool Decrypted { get; init; }
    /// <summary>The real content type of a decrypted TLS 1.3 record (RFC 8446 5.2).</summary>
    public TlsContentType? InnerType { get; init; }
}

/// <summary>
/// Typed messages a <see cref="RdpStreamParser"/> recognises in one direction. Implemented by
/// the analyzer; the parser knows nothing of phases or verdicts.
/// </summary>
public interface IRdpStreamEvents
{
    void OnConnectionRequest(StreamDirection direction, StreamRange range, X224ConnectionRequest request);
    void OnConnectionConfirm(StreamDirection direction, StreamRange range, X224ConnectionConfirm confirm);
    void OnDisconnectRequest(StreamDirection direction, StreamRange range, byte reason);
    /// <summary>An X.224 Data TPDU in the clear, with the kind of MCS PDU it carries.</summary>
    void OnX224Data(StreamDirection direction, StreamRange range, McsPduHeader mcs);
    /// <summary>An RDP PDU in an MCS Send Data PDU (in the clear, or decrypted), classified.</summary>
    void OnRdpPdu(StreamDirection direction, StreamRange range, Rdp.RdpPdu pdu);
    /// <summary>A CredSSP TSRequest (MS-CSSP 2.2.1), from decrypted TLS application data.</summary>
    void OnCredSsp(StreamDirection direction, StreamRange range, CredSsp.TsRequest request);
    /// <summary>MS-RDPBCGR 2.2.10.2 Early User Authorization Result (HYBRID_EX), from decrypted data.</summary>
    void OnEarlyUserAuthorization(StreamDirection direction, StreamRange range, uint result);
    /// <summary>An MCS Connect-Initial or Connect-Response in the clear, with its GCC data blocks decoded.</summary>
    void OnMcsConnect(StreamDirection direction, StreamRange range, McsConnectPdu pdu);
    void OnTlsRecord(StreamDirection direction, StreamRange range, TlsRecordSummary record);
    /// <summary>A fast-path PDU (MS-RDPBCGR 2.2.8.1.2 / 2.2.9.1.2), seen only after the connection is active.</summary>
    void OnFastPath(StreamDirection direction, StreamRange range);
    /// <summary>The stream breaks the spec at <paramref name="offset"/>; the parser stops following it.</summary>
    void OnMalformed(StreamDirection direction, long offset, string reason);
}
