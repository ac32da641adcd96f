using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using RdpWire.RdpParser.Streams;

namespace RdpWire.RdpParser.Tls.Decryption;

/// <summary>
/// Decryption state of one TLS connection. Once both hellos are known it finds the secrets:
/// the key log's entry for the ClientHello random, or, for RSA key exchange with a server key,
/// the premaster secret decrypted from the ClientKeyExchange (RFC 5246 7.4.7.1) and turned into
/// the master secret (with the extended master secret's session hash when negotiated, RFC 7627).
/// It builds one decryptor per direction and moves TLS 1.3 from the handshake to the
/// application traffic keys at each side's Finished.
/// </summary>
public sealed class TlsDecryptionSession : IDisposable
{
    /// <summary>Plaintext handshake bytes kept for the extended master secret's session hash (certificate chains are far smaller).</summary>
    public const int MaxTranscriptBytes = 1024 * 1024;
    private const ushort ExtendedMasterSecret = 0x0017; // RFC 7627 5.1
    private const ushort EncryptThenMac = 0x0016; // RFC 7366 2
    private readonly TlsKeyLog _keys;
    private readonly TlsRecordDecryptor?[] _current = new TlsRecordDecryptor?[2];
    private readonly bool[] _failed = new bool[2];
    private bool _resolved;
    private TlsSecrets? _secrets;
    private TlsCipherSuiteKeys? _suite;
    private MemoryStream? _transcript;
    private bool _transcriptOverflow;
    private byte[]? _sessionHashTranscript;
    private byte[]? _encryptedPreMaster;
    private byte[]? _serverCertificate;

    public TlsDecryptionSession(TlsKeyLog keys) => _keys = keys;

    public ClientHello? ClientHello { get; set; }
    public ServerHello? ServerHello { get; set; }

    /// <summary>Why this connection cannot be decrypted, once that is known.</summary>
    public string? Problem { get; private set; }

    /// <summary>Where the secrets came from: "key log" or "server key".</summary>
    public string? SecretsSource { get; private set; }

    public bool Active => _current[0] is not null || _current[1] is not null;

    /// <summary>
    /// Each plaintext handshake message, header included, in the order the two sides sent them.
    /// Only kept when a server key could need them: the transcript up to ClientKeyExchange, the
    /// server's leaf certificate and the encrypted premaster secret.
    /// </summary>
    public void OnHandshakeMessage(TlsHandshakeType type, ReadOnlySpan<byte> message, TlsHandshakeMessage parsed)
    {
        if (_keys.ServerKeys.Count == 0 || _sessionHashTranscript is not null)
        {
            return;
        }
        _transcript ??= new MemoryStream();
        if (_transcript.Length + message.Length <= MaxTranscriptBytes)
        {
            _transcript.Write(message);
        }
        else
        {
            _transcriptOverflow = true;
        }
        if (type == TlsHandshakeType.Certificate && parsed.Certificates is { Certificates.Count: > 0 } chain)
        {
            _serverCertificate ??= chain.Certificates[0];
        }
        if (type == TlsHandshakeType.ClientKeyExchange && message.Length >= 4)
        {
            _encryptedPreMaster = message[4..].ToArray();
            _sessionHashTranscript = _transcriptOverflow ? [] : _transcript.ToArray();
            _transcript = null;
        }
    }

    /// <summary>The decryptor for a direction's next ciphertext record, or null.</summary>
    public TlsRecordDecryptor? For(StreamDirection direction)
    {
        Resolve();
        return _failed[(int)direction] ? null : _current[(int)direction];
    }

    /// <summary>A record failed authentication: the keys do not fit; stop decrypting that direction.</summary>
    public void Failed(StreamDirection direction)
    {
        _failed[(int)direction] = true;
        Problem ??= $"the {(direction == StreamDirection.ClientToServer ? "client" : "server")}'s records do not decrypt with the {SecretsSource ?? "given"} secrets";
    }

    /// <summary>TLS 1.3 (RFC 8446 7.1): after its Finished a side switches to its application traffic secret.</summary>
    public void FinishedSent(StreamDirection direction)
    {
        if (_secrets is null || _suite is not { } suite || ServerHello?.NegotiatedVersion != TlsSessionState.Tls13)
        {
            return;
        }
        byte[]? secret = direction == StreamDirection.ClientToServer ? _secrets.ClientTrafficSecret0 : _secrets.ServerTrafficSecret0;
        _current[(int)direction]?.Dispose();
        _current[(int)direction] = secret is null ? null : TlsRecordDecryptor.FromTrafficSecret(suite, secret);
    }

    private void Resolve()
    {
        if (_resolved || ClientHello is null || ServerHello is null)
        {
            return;
        }
        _resolved = true;
        _suite = TlsCipherSuiteKeys.For(ServerHello.CipherSuite);
        if (_suite is not { } suite)
        {
            Problem = $"decrypting {TlsRegistry.CipherSuiteName(ServerHello.CipherSuite)} is not supported (AES-GCM, ChaCha20-Poly1305, AES-CBC and 3DES-CBC suites are)";
            return;
        }
        _secrets = _keys.Find(ClientHello.Random);
        SecretsSource = "key log";
        if (ServerHello.NegotiatedVersion == TlsSessionState.Tls13)
        {
            if (_secrets?.ClientHandshakeTrafficSecret is { } c && _secrets.ServerHandshakeTrafficSecret is { } s)
            {
                // RFC 8446 7.1: every traffic secret is as long as the suite's hash.
                int hashLength = TlsKeySchedule.HashLength(suite.PrfHash);
                var wrong = new[] { c, s, _secrets.ClientTrafficSecret0, _secrets.ServerTrafficSecret0 }.FirstOrDefault(x => x is not null && x.Length != hashLength);
                if (wrong is not null)
                {
                    Problem = $"the key log's TLS 1.3 secrets for this connection are {wrong.Length} bytes, not the {hashLength} bytes of {suite.PrfHash.Name} that {TlsRegistry.CipherSuiteName(suite.Suite)} needs";
                    _secrets = null;
                    return;
                }
                _current[0] = TlsRecordDecryptor.FromTrafficSecret(suite, c);
                _current[1] = TlsRecordDecryptor.FromTrafficSecret(suite, s);
            }
            else
            {
                Problem = _secrets is null
                    ? "the key log has no entry for this connection's ClientHello random"
                    : "the key log lacks this connection's TLS 1.3 handshake traffic secrets";
            }
            return;
        }
        byte[]? master = _secrets?.MasterSecret;
        if (master is null && _keys.ServerKeys.Count > 0)
        {
            master = MasterSecretFromServerKey(suite);
            SecretsSource = "server key";
            if (master is null)
            {
                return;
            }
        }
        if (master is null)
        {
            Problem = _secrets is null
                ? "the key log has no entry for this connection's ClientHello random"
                : "the key log has no CLIENT_RANDOM master secret for this TLS 1.2 connection";
            return;
        }
        (_current[0], _current[1]) = TlsRecordDecryptor.FromMasterSecret(suite, ServerHello.NegotiatedVersion,
            ServerHello.Extensions.Contains(EncryptThenMac), master, ClientHello.Random, ServerHello.Random);
    }

    /// <summary>RSA key exchange: decrypt the EncryptedPreMasterSecret with the server key whose modulus is the certificate's.</summary>
    private byte[]? MasterSecretFromServerKey(TlsCipherSuiteKeys suite)
    {
        if (!suite.RsaKeyExchange)
        {
            Problem = $"{TlsRegistry.CipherSuiteName(suite.Suite)} uses (EC)DHE key exchange: a server key cannot decrypt it, only a key log can";
            return null;
        }
        if (_encryptedPreMaster is not { Length: > 2 } cke || _sessionHashTranscript is null)
        {
            Problem = "the ClientKeyExchange was not captured, so the premaster secret cannot be recovered";
            return null;
        }
        var key = KeyForCertificate();
        if (key is null)
        {
            return null;
        }
        // RFC 5246 7.4.7.1: TLS 1.0 and later put a 2-byte length before the ciphertext.
        int length = (cke[0] << 8) | cke[1];
        var encrypted = length == cke.Length - 2 ? cke.AsSpan(2) : cke.AsSpan();
        byte[] preMaster;
        try
        {
            preMaster = key.Decrypt(encrypted.ToArray(), RSAEncryptionPadding.Pkcs1);
        }
        catch (CryptographicException)
        {
            Problem = "the server key does not decrypt this connection's premaster secret";
            return null;
        }
        if (preMaster.Length != 48)
        {
            Problem = $"the decrypted premaster secret is {preMaster.Length} bytes, not 48";
            return null;
        }
        byte[]? sessionHash = ServerHello!.Extensions.Contains(ExtendedMasterSecret)
            ? TlsKeySchedule.SessionHash(ServerHello.NegotiatedVersion, suite.PrfHash, _sessionHashTranscript)
            : null;
        if (sessionHash is not null && _sessionHashTranscript.Length == 0)
        {
            Problem = $"the handshake exceeds {MaxTranscriptBytes} bytes, so the extended master secret's session hash is unknown";
            return null;
        }
        return TlsKeySchedule.MasterSecret(ServerHello.NegotiatedVersion, suite.PrfHash, preMaster,
            ClientHello!.Random, ServerHello.Random, sessionHash);
    }

    private RSA? KeyForCertificate()
    {
        if (_serverCertificate is null)
        {
            Problem = "the server's certificate was not captured, so no server key can be matched to it";
            return null;
        }
        byte[]? modulus;
        try
        {
            using var certificate = X509CertificateLoader.LoadCertificate(_serverCertificate);
            using var publicKey = certificate.GetRSAPublicKey();
            modulus = publicKey?.ExportParameters(false).Modulus;
        }
        catch (CryptographicException)
        {
            modulus = null;
        }
        if (modulus is null)
        {
            Problem = "the server's certificate holds no readable RSA public key";
            return null;
        }
        foreach (var key in _keys.ServerKeys)
        {
            if (key.ExportParameters(false).Modulus is { } m && m.AsSpan().SequenceEqual(modulus))
            {
                return key;
            }
        }
        Problem = $"none of the {_keys.ServerKeys.Count} server key(s) given belongs to the server's certificate";
        return null;
    }

    public void Dispose()
    {
        _current[0]?.Dispose();
        _current[1]?.Dispose();
    }
}
