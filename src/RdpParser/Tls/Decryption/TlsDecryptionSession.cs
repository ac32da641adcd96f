using RdpWire.RdpParser.Streams;

namespace RdpWire.RdpParser.Tls.Decryption;

/// <summary>
/// Decryption state of one TLS connection: looks its secrets up in the key log by the
/// ClientHello's random once both hellos are known, builds one decryptor per direction, and
/// moves TLS 1.3 from the handshake to the application traffic keys at each side's Finished.
/// </summary>
public sealed class TlsDecryptionSession : IDisposable
{
    private readonly TlsKeyLog _keys;
    private readonly TlsRecordDecryptor?[] _current = new TlsRecordDecryptor?[2];
    private readonly bool[] _failed = new bool[2];
    private bool _resolved;
    private TlsSecrets? _secrets;
    private AeadSuite? _suite;

    public TlsDecryptionSession(TlsKeyLog keys) => _keys = keys;

    public ClientHello? ClientHello { get; set; }
    public ServerHello? ServerHello { get; set; }

    /// <summary>Why this connection cannot be decrypted, once that is known.</summary>
    public string? Problem { get; private set; }

    public bool Active => _current[0] is not null || _current[1] is not null;

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
        Problem ??= $"the {(direction == StreamDirection.ClientToServer ? "client" : "server")}'s records do not decrypt with the key log's secrets";
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
        _secrets = _keys.Find(ClientHello.Random);
        if (_secrets is null)
        {
            Problem = "the key log has no entry for this connection's ClientHello random";
            return;
        }
        _suite = AeadSuite.For(ServerHello.CipherSuite);
        if (_suite is not { } suite)
        {
            Problem = $"decrypting {TlsRegistry.CipherSuiteName(ServerHello.CipherSuite)} is not supported (AEAD suites only)";
            return;
        }
        if (ServerHello.NegotiatedVersion == TlsSessionState.Tls13)
        {
            if (_secrets.ClientHandshakeTrafficSecret is { } c && _secrets.ServerHandshakeTrafficSecret is { } s)
            {
                _current[0] = TlsRecordDecryptor.FromTrafficSecret(suite, c);
                _current[1] = TlsRecordDecryptor.FromTrafficSecret(suite, s);
            }
            else
            {
                Problem = "the key log lacks this connection's TLS 1.3 handshake traffic secrets";
            }
            return;
        }
        if (_secrets.MasterSecret is { } master)
        {
            (_current[0], _current[1]) = TlsRecordDecryptor.FromMasterSecret(suite, master, ClientHello.Random, ServerHello.Random);
        }
        else
        {
            Problem = "the key log has no CLIENT_RANDOM master secret for this TLS 1.2 connection";
        }
    }

    public void Dispose()
    {
        _current[0]?.Dispose();
        _current[1]?.Dispose();
    }
}
