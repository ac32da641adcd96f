namespace RdpWire.RdpParser.Tls;

/// <summary>
/// One complete plaintext handshake message (RFC 8446 4 / RFC 5246 7.4: type, uint24 length,
/// body), reassembled across records, with the typed view of the ones the analyzer reads.
/// </summary>
public sealed class TlsHandshakeMessage
{
    public required TlsHandshakeType Type { get; init; }
    public required int Length { get; init; }
    public ClientHello? ClientHello { get; init; }
    public ServerHello? ServerHello { get; init; }
    public CertificateChain? Certificates { get; init; }
    /// <summary>Why the body could not be read, when it could not.</summary>
    public string? Error { get; init; }

    public static string Name(TlsHandshakeType type) => type switch
    {
        TlsHandshakeType.HelloRequest => "HelloRequest",
        TlsHandshakeType.ClientHello => "ClientHello",
        TlsHandshakeType.ServerHello => "ServerHello",
        TlsHandshakeType.NewSessionTicket => "NewSessionTicket",
        TlsHandshakeType.EndOfEarlyData => "EndOfEarlyData",
        TlsHandshakeType.EncryptedExtensions => "EncryptedExtensions",
        TlsHandshakeType.Certificate => "Certificate",
        TlsHandshakeType.ServerKeyExchange => "ServerKeyExchange",
        TlsHandshakeType.CertificateRequest => "CertificateRequest",
        TlsHandshakeType.ServerHelloDone => "ServerHelloDone",
        TlsHandshakeType.CertificateVerify => "CertificateVerify",
        TlsHandshakeType.ClientKeyExchange => "ClientKeyExchange",
        TlsHandshakeType.Finished => "Finished",
        TlsHandshakeType.KeyUpdate => "KeyUpdate",
        TlsHandshakeType.MessageHash => "MessageHash",
        _ => $"handshake type {(byte)type}",
    };

    /// <summary>Reads the typed body of the messages the analyzer needs; others keep only type and length.</summary>
    public static TlsHandshakeMessage Parse(TlsHandshakeType type, ReadOnlySpan<byte> body, bool tls13 = false, RdpParserLimits? limits = null)
    {
        if (tls13 && type == TlsHandshakeType.Certificate)
        {
            CertificateChain.TryParse13(body, out var chain13, out string? error13, limits);
            return new TlsHandshakeMessage { Type = type, Length = body.Length, Certificates = chain13, Error = error13 };
        }
        string? error = null;
        switch (type)
        {
            case TlsHandshakeType.ClientHello:
                ClientHello.TryParse(body, out var ch, out error);
                return new TlsHandshakeMessage { Type = type, Length = body.Length, ClientHello = ch, Error = error };
            case TlsHandshakeType.ServerHello:
                ServerHello.TryParse(body, out var sh, out error);
                return new TlsHandshakeMessage { Type = type, Length = body.Length, ServerHello = sh, Error = error };
            case TlsHandshakeType.Certificate:
                CertificateChain.TryParse(body, out var chain, out error, limits);
                return new TlsHandshakeMessage { Type = type, Length = body.Length, Certificates = chain, Error = error };
            default:
                return new TlsHandshakeMessage { Type = type, Length = body.Length };
        }
    }
}

/// <summary>
/// What both directions of one TLS connection need to know of each other: the version the
/// ServerHello chose decides when each side's records become ciphertext (RFC 8446 2: after
/// ServerHello in TLS 1.3; after ChangeCipherSpec in TLS ≤ 1.2, RFC 5246 7.1).
/// </summary>
public sealed class TlsSessionState
{
    public const ushort Tls13 = 0x0304;

    public ushort? NegotiatedVersion { get; set; }
    public bool ServerEncrypting { get; set; }
    public bool ClientEncrypting { get; set; }
    public bool AwaitingSecondClientHello { get; set; }

    /// <summary>What the parsers of this connection take in at most.</summary>
    public RdpParserLimits Limits { get; init; } = RdpParserLimits.Default;

    /// <summary>Set when a key log is given: decrypts this connection's records.</summary>
    public Decryption.TlsDecryptionSession? Decryption { get; set; }

    public bool IsTls13 => NegotiatedVersion == Tls13;
}
