namespace RdpWire.RdpParser;

/// <summary>
/// What the parsers take in at most, whatever a capture claims: each limit, when hit, is reported
/// by whoever hit it (a handshake error, a decode error naming the limit, certificates counted
/// but not kept). Defaults are far above real RDP traffic.
/// </summary>
public sealed record RdpParserLimits
{
    /// <summary>Plaintext TLS handshake messages reassembled up to this size (certificate chains are far smaller).</summary>
    public int MaxHandshakeMessageBytes { get; init; } = Streams.RdpStreamParser.MaxHandshakeMessageBytes;
    /// <summary>Certificates of a chain kept for inspection (all are counted).</summary>
    public int MaxCertificates { get; init; } = Tls.CertificateChain.MaxCertificates;
    /// <summary>Largest certificate kept for inspection.</summary>
    public int MaxCertificateBytes { get; init; } = Tls.CertificateChain.MaxCertificateBytes;
    /// <summary>DER nesting accepted before a TSRequest or certificate is decoded.</summary>
    public int MaxAsn1Depth { get; init; } = DerNesting.DefaultMaxDepth;

    public static RdpParserLimits Default { get; } = new();
}
