namespace RdpWire.RdpParser.Tls.Decryption;

/// <summary>The secrets a key log holds for one TLS connection, found by its ClientHello.random.</summary>
public sealed class TlsSecrets
{
    /// <summary>TLS ≤ 1.2: CLIENT_RANDOM's 48-byte master secret.</summary>
    public byte[]? MasterSecret { get; set; }
    /// <summary>TLS 1.3 (RFC 8446 7.1).</summary>
    public byte[]? ClientHandshakeTrafficSecret { get; set; }
    public byte[]? ServerHandshakeTrafficSecret { get; set; }
    public byte[]? ClientTrafficSecret0 { get; set; }
    public byte[]? ServerTrafficSecret0 { get; set; }
}

/// <summary>
/// An NSS key log (the SSLKEYLOGFILE format: "LABEL client_random_hex secret_hex" per line, as
/// written by OpenSSL's SSL_CTX_set_keylog_callback, browsers and pcapng Decryption Secrets
/// Blocks). Unknown labels and malformed lines are skipped and counted; the file is capped.
/// </summary>
public sealed class TlsKeyLog
{
    public const int MaxEntries = 100_000;

    private readonly Dictionary<string, TlsSecrets> _byClientRandom = new(StringComparer.OrdinalIgnoreCase);

    public int Entries => _byClientRandom.Count;
    public int LinesSkipped { get; private set; }

    /// <summary>RSA private keys of servers (--server-key): recover the premaster secret of RSA key exchange suites.</summary>
    public List<System.Security.Cryptography.RSA> ServerKeys { get; } = [];

    /// <summary>Adds a server's RSA private key from PEM (PKCS#1 "RSA PRIVATE KEY" or PKCS#8 "PRIVATE KEY").</summary>
    /// <exception cref="ArgumentException">The text holds no unencrypted RSA private key.</exception>
    public void AddServerKey(string pem)
    {
        var rsa = System.Security.Cryptography.RSA.Create();
        try
        {
            rsa.ImportFromPem(pem);
            _ = rsa.ExportParameters(includePrivateParameters: true);
        }
        catch (Exception e) when (e is ArgumentException or System.Security.Cryptography.CryptographicException)
        {
            rsa.Dispose();
            throw new ArgumentException("no unencrypted RSA private key in PEM form (PKCS#1 or PKCS#8)", e);
        }
        ServerKeys.Add(rsa);
    }

    /// <summary>
    /// An independent copy, for another thread: the secrets are shared (they are not changed once
    /// read), the server keys are new objects (an RSA key is not to be used by two threads at once).
    /// </summary>
    public TlsKeyLog Clone()
    {
        var copy = new TlsKeyLog { LinesSkipped = LinesSkipped };
        foreach (var (random, secrets) in _byClientRandom)
        {
            copy._byClientRandom[random] = new TlsSecrets
            {
                MasterSecret = secrets.MasterSecret,
                ClientHandshakeTrafficSecret = secrets.ClientHandshakeTrafficSecret,
                ServerHandshakeTrafficSecret = secrets.ServerHandshakeTrafficSecret,
                ClientTrafficSecret0 = secrets.ClientTrafficSecret0,
                ServerTrafficSecret0 = secrets.ServerTrafficSecret0,
            };
        }
        foreach (var key in ServerKeys)
        {
            var rsa = System.Security.Cryptography.RSA.Create();
            rsa.ImportParameters(key.ExportParameters(includePrivateParameters: true));
            copy.ServerKeys.Add(rsa);
        }
        return copy;
    }

    /// <summary>Reads a key log file (IOException and UnauthorizedAccessException as the file system raises them).</summary>
    public static TlsKeyLog Load(string path)
    {
        using var reader = File.OpenText(path);
        return Parse(reader);
    }

    public static TlsKeyLog Parse(TextReader reader)
    {
        var log = new TlsKeyLog();
        log.Add(reader);
        return log;
    }

    public void Add(TextReader reader)
    {
        string? line;
        while ((line = reader.ReadLine()) is not null)
        {
            var parts = line.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 0 || parts[0].StartsWith('#'))
            {
                continue;
            }
            if (parts.Length != 3 || parts[1].Length != 64 || !TryHex(parts[2], out byte[] secret) || !TryHex(parts[1], out _))
            {
                LinesSkipped++;
                continue;
            }
            if (!_byClientRandom.TryGetValue(parts[1], out var s))
            {
                if (_byClientRandom.Count >= MaxEntries)
                {
                    LinesSkipped++;
                    continue;
                }
                s = new TlsSecrets();
                _byClientRandom[parts[1]] = s;
            }
            switch (parts[0])
            {
                case "CLIENT_RANDOM" when secret.Length == 48:
                    s.MasterSecret = secret;
                    break;
                case "CLIENT_HANDSHAKE_TRAFFIC_SECRET":
                    s.ClientHandshakeTrafficSecret = secret;
                    break;
                case "SERVER_HANDSHAKE_TRAFFIC_SECRET":
                    s.ServerHandshakeTrafficSecret = secret;
                    break;
                case "CLIENT_TRAFFIC_SECRET_0":
                    s.ClientTrafficSecret0 = secret;
                    break;
                case "SERVER_TRAFFIC_SECRET_0":
                    s.ServerTrafficSecret0 = secret;
                    break;
                default:
                    LinesSkipped++;
                    break;
            }
        }
    }

    public TlsSecrets? Find(ReadOnlySpan<byte> clientRandom) =>
        _byClientRandom.TryGetValue(Convert.ToHexString(clientRandom), out var s) ? s : null;

    private static bool TryHex(string hex, out byte[] bytes)
    {
        bytes = [];
        if ((hex.Length & 1) != 0 || hex.Length > 256)
        {
            return false;
        }
        try
        {
            bytes = Convert.FromHexString(hex);
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }
}
