using RdpWire.RdpParser.Tls;
using Xunit;

namespace RdpWire.Tests.RdpParser;

/// <summary>
/// Spot checks of the IANA TLS name tables against the values printed in the RFCs that
/// assigned them (RFC 5246 A.5, RFC 8446 B.3/B.4, RFC 8422, RFC 7905, RFC 7919, RFC 8701, ...),
/// plus the GREASE rule, the hex fallback and the weak-suite classification.
/// </summary>
public class TlsRegistryTests
{
    public static readonly ushort[] GreaseValues =
    [
        0x0A0A, 0x1A1A, 0x2A2A, 0x3A3A, 0x4A4A, 0x5A5A, 0x6A6A, 0x7A7A,
        0x8A8A, 0x9A9A, 0xAAAA, 0xBABA, 0xCACA, 0xDADA, 0xEAEA, 0xFAFA,
    ];

    public static TheoryData<ushort> Grease()
    {
        var data = new TheoryData<ushort>();
        foreach (var value in GreaseValues)
        {
            data.Add(value);
        }
        return data;
    }

    [Theory]
    // RFC 5246 A.5
    [InlineData(0x0000, "TLS_NULL_WITH_NULL_NULL")]
    [InlineData(0x0001, "TLS_RSA_WITH_NULL_MD5")]
    [InlineData(0x0002, "TLS_RSA_WITH_NULL_SHA")]
    [InlineData(0x003B, "TLS_RSA_WITH_NULL_SHA256")]
    [InlineData(0x0004, "TLS_RSA_WITH_RC4_128_MD5")]
    [InlineData(0x0005, "TLS_RSA_WITH_RC4_128_SHA")]
    [InlineData(0x000A, "TLS_RSA_WITH_3DES_EDE_CBC_SHA")]
    [InlineData(0x002F, "TLS_RSA_WITH_AES_128_CBC_SHA")]
    [InlineData(0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA")]
    [InlineData(0x003C, "TLS_RSA_WITH_AES_128_CBC_SHA256")]
    [InlineData(0x003D, "TLS_RSA_WITH_AES_256_CBC_SHA256")]
    [InlineData(0x000D, "TLS_DH_DSS_WITH_3DES_EDE_CBC_SHA")]
    [InlineData(0x0016, "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA")]
    [InlineData(0x0033, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA")]
    [InlineData(0x0039, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA")]
    [InlineData(0x0067, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256")]
    [InlineData(0x006B, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256")]
    [InlineData(0x0018, "TLS_DH_anon_WITH_RC4_128_MD5")]
    [InlineData(0x001B, "TLS_DH_anon_WITH_3DES_EDE_CBC_SHA")]
    [InlineData(0x006D, "TLS_DH_anon_WITH_AES_256_CBC_SHA256")]
    // RFC 8446 B.4
    [InlineData(0x1301, "TLS_AES_128_GCM_SHA256")]
    [InlineData(0x1302, "TLS_AES_256_GCM_SHA384")]
    [InlineData(0x1303, "TLS_CHACHA20_POLY1305_SHA256")]
    [InlineData(0x1304, "TLS_AES_128_CCM_SHA256")]
    [InlineData(0x1305, "TLS_AES_128_CCM_8_SHA256")]
    // RFC 8422, RFC 5289
    [InlineData(0xC009, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA")]
    [InlineData(0xC014, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA")]
    [InlineData(0xC016, "TLS_ECDH_anon_WITH_RC4_128_SHA")]
    [InlineData(0xC02B, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256")]
    [InlineData(0xC030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384")]
    // RFC 7905
    [InlineData(0xCCA8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256")]
    [InlineData(0xCCA9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256")]
    [InlineData(0xCCAE, "TLS_RSA_PSK_WITH_CHACHA20_POLY1305_SHA256")]
    // RFC 5746, RFC 7507, RFC 8998, RFC 6209, RFC 5932, RFC 6655
    [InlineData(0x00FF, "TLS_EMPTY_RENEGOTIATION_INFO_SCSV")]
    [InlineData(0x5600, "TLS_FALLBACK_SCSV")]
    [InlineData(0x00C6, "TLS_SM4_GCM_SM3")]
    [InlineData(0x00C7, "TLS_SM4_CCM_SM3")]
    [InlineData(0xC05F, "TLS_ECDH_ECDSA_WITH_ARIA_256_GCM_SHA384")]
    [InlineData(0x00C4, "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA256")]
    [InlineData(0xC0AA, "TLS_PSK_DHE_WITH_AES_128_CCM_8")]
    public void CipherSuiteNames(ushort value, string expected) =>
        Assert.Equal(expected, TlsRegistry.CipherSuiteName(value));

    [Theory]
    [InlineData(0, "server_name")]
    [InlineData(1, "max_fragment_length")]
    [InlineData(3, "trusted_ca_keys")]
    [InlineData(5, "status_request")]
    [InlineData(10, "supported_groups")]
    [InlineData(11, "ec_point_formats")]
    [InlineData(13, "signature_algorithms")]
    [InlineData(14, "use_srtp")]
    [InlineData(15, "heartbeat")]
    [InlineData(16, "application_layer_protocol_negotiation")]
    [InlineData(18, "signed_certificate_timestamp")]
    [InlineData(19, "client_certificate_type")]
    [InlineData(20, "server_certificate_type")]
    [InlineData(21, "padding")]
    [InlineData(22, "encrypt_then_mac")]
    [InlineData(23, "extended_master_secret")]
    [InlineData(27, "compress_certificate")]
    [InlineData(28, "record_size_limit")]
    [InlineData(34, "delegated_credential")]
    [InlineData(35, "session_ticket")]
    [InlineData(41, "pre_shared_key")]
    [InlineData(42, "early_data")]
    [InlineData(43, "supported_versions")]
    [InlineData(44, "cookie")]
    [InlineData(45, "psk_key_exchange_modes")]
    [InlineData(47, "certificate_authorities")]
    [InlineData(48, "oid_filters")]
    [InlineData(49, "post_handshake_auth")]
    [InlineData(50, "signature_algorithms_cert")]
    [InlineData(51, "key_share")]
    [InlineData(54, "connection_id")]
    [InlineData(57, "quic_transport_parameters")]
    [InlineData(0xFD00, "ech_outer_extensions")]
    [InlineData(0xFE0D, "encrypted_client_hello")]
    [InlineData(0xFF01, "renegotiation_info")]
    public void ExtensionNames(ushort value, string expected) =>
        Assert.Equal(expected, TlsRegistry.ExtensionName(value));

    [Theory]
    [InlineData(1, "sect163k1")]
    [InlineData(14, "sect571r1")]
    [InlineData(19, "secp192r1")]
    [InlineData(21, "secp224r1")]
    [InlineData(22, "secp256k1")]
    [InlineData(23, "secp256r1")]
    [InlineData(24, "secp384r1")]
    [InlineData(25, "secp521r1")]
    [InlineData(26, "brainpoolP256r1")]
    [InlineData(27, "brainpoolP384r1")]
    [InlineData(28, "brainpoolP512r1")]
    [InlineData(29, "x25519")]
    [InlineData(30, "x448")]
    [InlineData(31, "brainpoolP256r1tls13")]
    [InlineData(33, "brainpoolP512r1tls13")]
    [InlineData(34, "GC256A")]
    [InlineData(41, "curveSM2")]
    [InlineData(256, "ffdhe2048")]
    [InlineData(257, "ffdhe3072")]
    [InlineData(258, "ffdhe4096")]
    [InlineData(259, "ffdhe6144")]
    [InlineData(260, "ffdhe8192")]
    [InlineData(0x0200, "MLKEM512")]
    [InlineData(0x0201, "MLKEM768")]
    [InlineData(0x0202, "MLKEM1024")]
    [InlineData(0x11EB, "SecP256r1MLKEM768")]
    [InlineData(0x11EC, "X25519MLKEM768")]
    [InlineData(0x11ED, "SecP384r1MLKEM1024")]
    [InlineData(0x6399, "X25519Kyber768Draft00 (OBSOLETE)")]
    [InlineData(0xFF01, "arbitrary_explicit_prime_curves")]
    [InlineData(0xFF02, "arbitrary_explicit_char2_curves")]
    public void NamedGroupNames(ushort value, string expected) =>
        Assert.Equal(expected, TlsRegistry.NamedGroupName(value));

    [Theory]
    // RFC 8446 4.2.3 / B.3.1.3
    [InlineData(0x0401, "rsa_pkcs1_sha256")]
    [InlineData(0x0501, "rsa_pkcs1_sha384")]
    [InlineData(0x0601, "rsa_pkcs1_sha512")]
    [InlineData(0x0403, "ecdsa_secp256r1_sha256")]
    [InlineData(0x0503, "ecdsa_secp384r1_sha384")]
    [InlineData(0x0603, "ecdsa_secp521r1_sha512")]
    [InlineData(0x0804, "rsa_pss_rsae_sha256")]
    [InlineData(0x0805, "rsa_pss_rsae_sha384")]
    [InlineData(0x0806, "rsa_pss_rsae_sha512")]
    [InlineData(0x0807, "ed25519")]
    [InlineData(0x0808, "ed448")]
    [InlineData(0x0809, "rsa_pss_pss_sha256")]
    [InlineData(0x080A, "rsa_pss_pss_sha384")]
    [InlineData(0x080B, "rsa_pss_pss_sha512")]
    [InlineData(0x0201, "rsa_pkcs1_sha1")]
    [InlineData(0x0203, "ecdsa_sha1")]
    // RFC 8998, RFC 8734, RFC 9367, draft-davidben-tls13-pkcs1
    [InlineData(0x0708, "sm2sig_sm3")]
    [InlineData(0x081A, "ecdsa_brainpoolP256r1tls13_sha256")]
    [InlineData(0x081B, "ecdsa_brainpoolP384r1tls13_sha384")]
    [InlineData(0x081C, "ecdsa_brainpoolP512r1tls13_sha512")]
    [InlineData(0x0709, "gostr34102012_256a")]
    [InlineData(0x0420, "rsa_pkcs1_sha256_legacy")]
    [InlineData(0x0905, "mldsa65")]
    // TLS 1.2 hash/signature pairs not in the registry (RFC 5246 7.4.1.4.1)
    [InlineData(0x0101, "md5_rsa")]
    [InlineData(0x0202, "sha1_dsa")]
    [InlineData(0x0301, "sha224_rsa")]
    [InlineData(0x0302, "sha224_dsa")]
    [InlineData(0x0303, "sha224_ecdsa")]
    [InlineData(0x0402, "sha256_dsa")]
    [InlineData(0x0502, "sha384_dsa")]
    [InlineData(0x0602, "sha512_dsa")]
    public void SignatureSchemeNames(ushort value, string expected) =>
        Assert.Equal(expected, TlsRegistry.SignatureSchemeName(value));

    [Theory]
    [MemberData(nameof(Grease))]
    public void GreaseValuesAreGreaseInEveryTable(ushort value)
    {
        Assert.True(TlsRegistry.IsGrease(value));
        Assert.Equal("GREASE", TlsRegistry.CipherSuiteName(value));
        Assert.Equal("GREASE", TlsRegistry.ExtensionName(value));
        Assert.Equal("GREASE", TlsRegistry.NamedGroupName(value));
        Assert.Equal("GREASE", TlsRegistry.SignatureSchemeName(value));
        Assert.False(TlsRegistry.IsWeakCipherSuite(value, out _));
    }

    [Fact]
    public void ExactlySixteenGreaseValues()
    {
        var found = new List<ushort>();
        for (var v = 0; v <= ushort.MaxValue; v++)
        {
            if (TlsRegistry.IsGrease((ushort)v))
            {
                found.Add((ushort)v);
            }
        }
        Assert.Equal(GreaseValues, found);
    }

    [Theory]
    [InlineData(0x0A0B)]
    [InlineData(0x0B0B)]
    [InlineData(0x0A1A)]
    [InlineData(0x1A0A)]
    [InlineData(0xAAAB)]
    [InlineData(0x0000)]
    [InlineData(0xFFFF)]
    public void NearGreaseValuesAreNot(ushort value) => Assert.False(TlsRegistry.IsGrease(value));

    [Fact]
    public void UnassignedValuesFormatAsUpperCaseHex()
    {
        Assert.Equal("0x1300", TlsRegistry.CipherSuiteName(0x1300));
        Assert.Equal("0x001C", TlsRegistry.CipherSuiteName(0x001C));   // reserved (SSLv3 Fortezza)
        Assert.Equal("0x0060", TlsRegistry.CipherSuiteName(0x0060));   // reserved, never assigned
        Assert.Equal("0xFFFF", TlsRegistry.CipherSuiteName(0xFFFF));   // private use
        Assert.Equal("0xABCD", TlsRegistry.CipherSuiteName(0xABCD));
        Assert.Equal("0x0028", TlsRegistry.ExtensionName(40));         // reserved
        Assert.Equal("0x002E", TlsRegistry.ExtensionName(46));         // reserved
        Assert.Equal("0x3374", TlsRegistry.ExtensionName(0x3374));     // NPN, never IANA-registered
        Assert.Equal("0x0000", TlsRegistry.NamedGroupName(0));
        Assert.Equal("0x0105", TlsRegistry.NamedGroupName(261));
        Assert.Equal("0x0100", TlsRegistry.SignatureSchemeName(0x0100)); // md5 + anonymous
        Assert.Equal("0x0840", TlsRegistry.SignatureSchemeName(0x0840)); // reserved for backward compatibility
        Assert.Equal("0xFE00", TlsRegistry.SignatureSchemeName(0xFE00));
    }

    [Fact]
    public void NamesAreSharedInstances()
    {
        Assert.Same(TlsRegistry.CipherSuiteName(0x1301), TlsRegistry.CipherSuiteName(0x1301));
        Assert.Same(TlsRegistry.ExtensionName(0), TlsRegistry.ExtensionName(0));
        Assert.Same(TlsRegistry.NamedGroupName(29), TlsRegistry.NamedGroupName(29));
        Assert.Same(TlsRegistry.SignatureSchemeName(0x0804), TlsRegistry.SignatureSchemeName(0x0804));
    }

    [Theory]
    [InlineData(0x0000, "NULL")]          // TLS_NULL_WITH_NULL_NULL
    [InlineData(0x0001, "NULL")]          // TLS_RSA_WITH_NULL_MD5: NULL reported before MD5
    [InlineData(0x003B, "NULL")]
    [InlineData(0xC010, "NULL")]          // TLS_ECDHE_RSA_WITH_NULL_SHA
    [InlineData(0xC0B4, "integrity-only")] // TLS_SHA256_SHA256
    [InlineData(0x0003, "export")]        // TLS_RSA_EXPORT_WITH_RC4_40_MD5
    [InlineData(0x0014, "export")]        // TLS_DHE_RSA_EXPORT_WITH_DES40_CBC_SHA
    [InlineData(0x0018, "anonymous")]     // TLS_DH_anon_WITH_RC4_128_MD5
    [InlineData(0x0034, "anonymous")]     // TLS_DH_anon_WITH_AES_128_CBC_SHA
    [InlineData(0xC018, "anonymous")]     // TLS_ECDH_anon_WITH_AES_128_CBC_SHA
    [InlineData(0x0004, "RC4")]
    [InlineData(0x0005, "RC4")]
    [InlineData(0xC011, "RC4")]
    [InlineData(0x008A, "RC4")]           // TLS_PSK_WITH_RC4_128_SHA
    [InlineData(0x0009, "single DES")]
    [InlineData(0x0022, "single DES")]    // TLS_KRB5_WITH_DES_CBC_MD5
    [InlineData(0x000A, "3DES")]
    [InlineData(0xC012, "3DES")]
    [InlineData(0x0007, "IDEA")]
    public void WeakCipherSuites(ushort value, string reasonFragment)
    {
        Assert.True(TlsRegistry.IsWeakCipherSuite(value, out var why));
        Assert.Contains(reasonFragment, why, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Rc4ReasonCitesRfc7465()
    {
        Assert.True(TlsRegistry.IsWeakCipherSuite(0x0005, out var why));
        Assert.Equal("RC4 stream cipher (RFC 7465 prohibits it)", why);
    }

    [Theory]
    [InlineData(0x1301)]
    [InlineData(0x1302)]
    [InlineData(0x1303)]
    [InlineData(0xC02F)]
    [InlineData(0xC030)]
    [InlineData(0xCCA8)]
    [InlineData(0x002F)]   // static RSA + CBC: no forward secrecy, but not "clearly broken"
    [InlineData(0x009C)]
    [InlineData(0x0096)]   // SEED
    [InlineData(0x00C6)]   // SM4
    [InlineData(0xC0AA)]   // CCM_8
    [InlineData(0x00FF)]   // signalling value
    [InlineData(0x5600)]   // signalling value
    [InlineData(0x1300)]   // unassigned
    public void StrongOrUnknownSuitesAreNotWeak(ushort value)
    {
        Assert.False(TlsRegistry.IsWeakCipherSuite(value, out var why));
        Assert.Equal("", why);
    }
}
