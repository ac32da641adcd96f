using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Formats.Asn1;
using System.Text;
using RdpWire.RdpParser.CredSsp;
using Xunit;

using static RdpWire.Tests.Support.HandMadeBytes;

namespace RdpWire.Tests.RdpParser;

/// <summary>
/// CredSSP (MS-CSSP), SPNEGO (RFC 4178), NTLM (MS-NLMP) and NTSTATUS naming. TSRequests are
/// built with AsnWriter and named HandMade_…; NTLM messages come from the MS-NLMP 4.2.4.3
/// example (transcribed identically by MailKit and iPXE's tests) and from MailKit's recorded
/// System.Net.Mail exchange, or are hand-made and named so.
/// </summary>
public class CredSspTests
{

    private static Asn1Tag Ctx(int n) => new(TagClass.ContextSpecific, n, isConstructed: true);

    // ---- MS-NLMP 4.2.4.3 (NTLMv2 example) -----------------------------------------------------

    /// <summary>MS-NLMP 4.2.4.3 CHALLENGE_MESSAGE, 104 bytes.</summary>
    private static readonly byte[] SpecChallenge = Hex("""
        4e 54 4c 4d 53 53 50 00 02 00 00 00 0c 00 0c 00 38 00 00 00 33 82 8a e2 01 23 45 67 89 ab cd ef
        00 00 00 00 00 00 00 00 24 00 24 00 44 00 00 00 06 00 70 17 00 00 00 0f 53 00 65 00 72 00 76 00
        65 00 72 00 02 00 0c 00 44 00 6f 00 6d 00 61 00 69 00 6e 00 01 00 0c 00 53 00 65 00 72 00 76 00
        65 00 72 00 00 00 00 00
        """);

    /// <summary>MS-NLMP 4.2.4.3 AUTHENTICATE_MESSAGE, 232 bytes (no MIC).</summary>
    private static readonly byte[] SpecAuthenticate = Hex("""
        4e 54 4c 4d 53 53 50 00 03 00 00 00 18 00 18 00 6c 00 00 00 54 00 54 00 84 00 00 00 0c 00 0c 00
        48 00 00 00 08 00 08 00 54 00 00 00 10 00 10 00 5c 00 00 00 10 00 10 00 d8 00 00 00 35 82 88 e2
        05 01 28 0a 00 00 00 0f 44 00 6f 00 6d 00 61 00 69 00 6e 00 55 00 73 00 65 00 72 00 43 00 4f 00
        4d 00 50 00 55 00 54 00 45 00 52 00 86 c3 50 97 ac 9c ec 10 25 54 76 4a 57 cc cc 19 aa aa aa aa
        aa aa aa aa 68 cd 0a b8 51 e5 1c 96 aa bc 92 7b eb ef 6a 1c 01 01 00 00 00 00 00 00 00 00 00 00
        00 00 00 00 aa aa aa aa aa aa aa aa 00 00 00 00 02 00 0c 00 44 00 6f 00 6d 00 61 00 69 00 6e 00
        01 00 0c 00 53 00 65 00 72 00 76 00 65 00 72 00 00 00 00 00 00 00 00 00 c5 da d2 54 4f c9 79 90
        94 ce 1c e9 0b c9 d0 3e
        """);

    // ---- MailKit's recorded System.Net.Mail exchange (jstedfast/MailKit NtlmTests) -------------

    private static readonly byte[] SystemNetMailNegotiate =
        Convert.FromBase64String("TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAKAO5CAAAADw==");

    private static readonly byte[] ExchangeChallenge = Convert.FromBase64String(
        "TlRMTVNTUAACAAAADAAMADgAAAAFgomi18THmUUjMM4AAAAAAAAAAMoAygBEAAAABgOAJQAAAA9EAEUAVgBEAEkAVgACAAwARABFAFYARABJAFYAAQAQAEUAWABDAEgAQQBOAEcARQAEACgAZABlAHYAZABpAHYALgBtAGkAYwByAG8AcwBvAGYAdAAuAGMAbwBtAAMAOgBlAHgAYwBoAGEAbgBnAGUALgBkAGUAdgBkAGkAdgAuAG0AaQBjAHIAbwBzAG8AZgB0AC4AYwBvAG0ABQAoAGQAZQB2AGQAaQB2AC4AbQBpAGMAcgBvAHMAbwBmAHQALgBjAG8AbQAHAAgAS9aGGn7B1gEAAAAA");

    private static readonly byte[] SystemNetMailAuthenticate = Convert.FromBase64String(
        "TlRMTVNTUAADAAAAGAAYAIoAAABAAUABogAAAAwADABYAAAAEAAQAGQAAAAWABYAdAAAAAAAAADiAQAABYIIogoA7kIAAAAPDYFh2Vjzwk5e9YHnWRvYnUQARQBWAEQASQBWAHUAcwBlAHIAbgBhAG0AZQBXAG8AcgBrAHMAdABhAHQAaQBvAG4AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAbqz8wqlkKSdjmeI+rX9+lwEBAAAAAAAAS9aGGn7B1gGZ26Mto5srdQAAAAACAAwARABFAFYARABJAFYAAQAQAEUAWABDAEgAQQBOAEcARQAEACgAZABlAHYAZABpAHYALgBtAGkAYwByAG8AcwBvAGYAdAAuAGMAbwBtAAMAOgBlAHgAYwBoAGEAbgBnAGUALgBkAGUAdgBkAGkAdgAuAG0AaQBjAHIAbwBzAG8AZgB0AC4AYwBvAG0ABQAoAGQAZQB2AGQAaQB2AC4AbQBpAGMAcgBvAHMAbwBmAHQALgBjAG8AbQAHAAgAS9aGGn7B1gEGAAQAAgAAAAkAJgBTAE0AVABQAFMAVgBDAC8AMQA5ADIALgAxADYAOAAuADEALgAxAAoAEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");

    // ---- TSRequest builder ---------------------------------------------------------------------

    private static byte[] TsRequestBytes(int version, byte[][]? negoTokens = null, byte[]? authInfo = null,
        byte[]? pubKeyAuth = null, long? errorCode = null, byte[]? clientNonce = null)
    {
        var w = new AsnWriter(AsnEncodingRules.DER);
        using (w.PushSequence())
        {
            using (w.PushSequence(Ctx(0)))
            {
                w.WriteInteger(version);
            }
            if (negoTokens is not null)
            {
                using (w.PushSequence(Ctx(1)))
                using (w.PushSequence())
                {
                    foreach (var token in negoTokens)
                    {
                        using (w.PushSequence())
                        using (w.PushSequence(Ctx(0)))
                        {
                            w.WriteOctetString(token);
                        }
                    }
                }
            }
            WriteOctets(w, 2, authInfo);
            WriteOctets(w, 3, pubKeyAuth);
            if (errorCode is long code)
            {
                using (w.PushSequence(Ctx(4)))
                {
                    w.WriteInteger(code);
                }
            }
            WriteOctets(w, 5, clientNonce);
        }
        return w.Encode();
    }

    private static void WriteOctets(AsnWriter w, int tag, byte[]? value)
    {
        if (value is null)
        {
            return;
        }
        using (w.PushSequence(Ctx(tag)))
        {
            w.WriteOctetString(value);
        }
    }

    private static byte[] Filled(int length, byte value) => Enumerable.Repeat(value, length).ToArray();

    // ---- TSRequest -----------------------------------------------------------------------------

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    public void HandMade_TsRequestEachVersion_EveryOptionalFieldRead(int version)
    {
        byte[] nonce = Filled(32, 0x5A);
        byte[] bytes = TsRequestBytes(version, negoTokens: [SpecChallenge], authInfo: Filled(60, 0xA1),
            pubKeyAuth: Filled(48, 0xB2), errorCode: unchecked((int)0xC000006D), clientNonce: nonce);

        Assert.True(TsRequest.LooksLikeTsRequest(bytes));
        Assert.Equal(bytes.Length, TsRequest.TryGetLength(bytes));
        Assert.True(TsRequest.TryParse(bytes, out var request, out var error), error);
        Assert.Equal(version, request.Version);
        Assert.True(request.IsDer);
        Assert.Equal(bytes.Length, request.EncodedLength);
        Assert.Equal(SpecChallenge, Assert.Single(request.NegoTokens).ToArray());
        Assert.Equal(60, request.AuthInfo!.Value.Length);
        Assert.Equal(48, request.PubKeyAuth!.Value.Length);
        Assert.Equal(0xC000006Du, request.ErrorCode);
        Assert.Equal(nonce, request.ClientNonce!.Value.ToArray());
        Assert.Empty(request.UnknownFieldTags);
    }

    [Theory]
    [InlineData("negoTokens")]
    [InlineData("authInfo")]
    [InlineData("pubKeyAuth")]
    [InlineData("errorCode")]
    [InlineData("clientNonce")]
    public void HandMade_TsRequestWithOneOptionalField_OthersAbsent(string field)
    {
        byte[] bytes = field switch
        {
            "negoTokens" => TsRequestBytes(6, negoTokens: [SystemNetMailNegotiate]),
            "authInfo" => TsRequestBytes(6, authInfo: [1, 2, 3]),
            "pubKeyAuth" => TsRequestBytes(6, pubKeyAuth: [4, 5]),
            "errorCode" => TsRequestBytes(3, errorCode: unchecked((int)0xC0000022)),
            _ => TsRequestBytes(5, clientNonce: Filled(32, 7)),
        };

        Assert.True(TsRequest.TryParse(bytes, out var r, out var error), error);
        Assert.Equal(field == "negoTokens", r.NegoTokens.Count == 1);
        Assert.Equal(field == "authInfo", r.AuthInfo is not null);
        Assert.Equal(field == "pubKeyAuth", r.PubKeyAuth is not null);
        Assert.Equal(field == "errorCode", r.ErrorCode is not null);
        Assert.Equal(field == "clientNonce", r.ClientNonce is not null);
    }

    [Fact]
    public void HandMade_ServerErrorCode_NamedAsNtStatus()
    {
        // Signed 32-bit encoding (02 04 C0 00 00 6D) and unsigned (02 05 00 C0 00 00 6D) both occur.
        byte[] signed = TsRequestBytes(6, errorCode: unchecked((int)0xC000006D));
        byte[] unsigned = TsRequestBytes(6, errorCode: 0xC000006DL);
        Assert.NotEqual(signed.Length, unsigned.Length);

        foreach (var bytes in new[] { signed, unsigned })
        {
            Assert.True(TsRequest.TryParse(bytes, out var r, out var error), error);
            Assert.Equal(0xC000006Du, r.ErrorCode);
            Assert.Equal("STATUS_LOGON_FAILURE", r.ErrorCodeName);
            Assert.Equal("TSRequest v6: errorCode STATUS_LOGON_FAILURE (0xC000006D)", r.Describe());
        }
    }

    [Fact]
    public void HandMade_ErrorCodeTooWide_Refused()
    {
        byte[] bytes = TsRequestBytes(6, errorCode: 0x1_0000_0000L);
        Assert.False(TsRequest.TryParse(bytes, out _, out var error));
        Assert.Contains("errorCode", error);
    }

    [Fact]
    public void HandMade_NegoTokenCarriesSpecChallenge_DescribedByKind()
    {
        byte[] bytes = TsRequestBytes(6, negoTokens: [SpecChallenge]);
        Assert.True(TsRequest.TryParse(bytes, out var r, out _));
        Assert.Equal("TSRequest v6: 1 negoToken (NTLM)", r.Describe());
        Assert.True(NtlmMessage.TryParse(r.NegoTokens[0].Span, out var ntlm, out _));
        Assert.IsType<NtlmChallengeMessage>(ntlm);
    }

    [Fact]
    public void HandMade_TruncatedAtEveryLength_FalseWithoutThrowing()
    {
        byte[] bytes = TsRequestBytes(6, negoTokens: [SpecAuthenticate], pubKeyAuth: Filled(32, 1), clientNonce: Filled(32, 2));
        Assert.True(bytes.Length > 256); // long-form length header
        for (int n = 0; n < bytes.Length; n++)
        {
            Assert.False(TsRequest.TryParse(bytes.AsSpan(0, n), out _, out var error));
            Assert.False(string.IsNullOrEmpty(error));
            var status = TsRequest.TryGetFrameLength(bytes.AsSpan(0, n), out int length);
            if (n < 4)
            {
                Assert.Equal(OperationStatus.NeedMoreData, status); // 30 82 LL LL
            }
            else
            {
                Assert.Equal(OperationStatus.Done, status);
                Assert.Equal(bytes.Length, length);
            }
        }
        Assert.True(TsRequest.TryParse(bytes, out _, out _));
    }

    [Fact]
    public void HandMade_TrailingBytes_NotPartOfTheRequest()
    {
        byte[] one = TsRequestBytes(6, pubKeyAuth: [9, 9]);
        byte[] two = [.. one, .. TsRequestBytes(6, errorCode: 5)];
        Assert.True(TsRequest.TryParse(two, out var r, out _));
        Assert.Equal(one.Length, r.EncodedLength);
        Assert.Null(r.ErrorCode);
    }

    [Fact]
    public void HandMade_NonMinimalLengths_ReadAsBerNotDer()
    {
        // Re-encode the outer SEQUENCE with a 4-byte long-form length: legal BER, illegal DER.
        byte[] der = TsRequestBytes(4, pubKeyAuth: [1, 2, 3]);
        Assert.True(der[1] < 0x80);
        byte[] ber = [0x30, 0x84, 0, 0, 0, der[1], .. der.AsSpan(2)];

        Assert.Equal(ber.Length, TsRequest.TryGetLength(ber));
        Assert.True(TsRequest.LooksLikeTsRequest(ber));
        Assert.True(TsRequest.TryParse(ber, out var r, out var error), error);
        Assert.False(r.IsDer);
        Assert.Equal(4, r.Version);
        Assert.Equal([1, 2, 3], r.PubKeyAuth!.Value.ToArray());
    }

    [Fact]
    public void HandMade_IndefiniteLength_ReadAsBer()
    {
        byte[] der = TsRequestBytes(6, errorCode: unchecked((int)0xC0000234));
        byte[] ber = [0x30, 0x80, .. der.AsSpan(2), 0x00, 0x00];

        Assert.Null(TsRequest.TryGetLength(ber)); // cannot frame an indefinite length
        Assert.True(TsRequest.TryParse(ber, out var r, out var error), error);
        Assert.False(r.IsDer);
        Assert.Equal("STATUS_ACCOUNT_LOCKED_OUT", r.ErrorCodeName);
    }

    [Fact]
    public void HandMade_LongFormLengthsInDer_Framed()
    {
        Assert.Equal(2 + 5, TsRequest.TryGetLength(Hex("30 05 A0 03 02 01 06")));
        Assert.Equal(3 + 0x90, TsRequest.TryGetLength(Hex("30 81 90")));
        Assert.Equal(4 + 0x0123, TsRequest.TryGetLength(Hex("30 82 01 23")));
        Assert.Null(TsRequest.TryGetLength(Hex("30 84 00 20 00 00"))); // 2 MiB: above the cap
        Assert.Null(TsRequest.TryGetLength(Hex("16 03 03 00 10")));    // a TLS record, not a TSRequest
        Assert.Equal(OperationStatus.InvalidData, TsRequest.TryGetFrameLength(Hex("30 85 00 00 00 00 01"), out _));
        Assert.Equal(OperationStatus.NeedMoreData, TsRequest.TryGetFrameLength(Hex("30 83 00"), out _));
    }

    [Theory]
    [InlineData("30 0A A0 03 02 01 02", true)]
    [InlineData("30 0A A0 03 02 01 06", true)]
    [InlineData("30 82 01 00 A0 03 02 01 05", true)]
    [InlineData("30 0A A0 03 02 01 01", false)]
    [InlineData("30 0A A0 03 02 01 07", false)]
    [InlineData("30 0A A1 03 02 01 06", false)]
    [InlineData("17 03 03 00 20 A0 03", false)]
    [InlineData("30 0A A0 03 02", false)]
    public void HandMade_LooksLikeTsRequest(string hex, bool expected) =>
        Assert.Equal(expected, TsRequest.LooksLikeTsRequest(Hex(hex)));

    [Fact]
    public void HandMade_MissingVersionOrOutOfOrder_Refused()
    {
        var w = new AsnWriter(AsnEncodingRules.DER);
        using (w.PushSequence())
        {
            WriteOctets(w, 3, [1]);
        }
        Assert.False(TsRequest.TryParse(w.Encode(), out _, out var error));
        Assert.Contains("version", error);

        w = new AsnWriter(AsnEncodingRules.DER);
        using (w.PushSequence())
        {
            WriteOctets(w, 3, [1]);
            using (w.PushSequence(Ctx(0)))
            {
                w.WriteInteger(6);
            }
        }
        Assert.False(TsRequest.TryParse(w.Encode(), out _, out error));
        Assert.Contains("out of order", error);
    }

    [Fact]
    public void HandMade_UnknownHigherTag_SkippedAndRecorded()
    {
        var w = new AsnWriter(AsnEncodingRules.DER);
        using (w.PushSequence())
        {
            using (w.PushSequence(Ctx(0)))
            {
                w.WriteInteger(7);
            }
            WriteOctets(w, 6, [1, 2]);
        }
        Assert.True(TsRequest.TryParse(w.Encode(), out var r, out var error), error);
        Assert.Equal(7, r.Version);
        Assert.Equal([6], r.UnknownFieldTags);
    }

    [Fact]
    public void HandMade_TooManyNegoTokens_Refused()
    {
        byte[][] tokens = Enumerable.Range(0, TsRequest.MaxNegoTokens + 1).Select(i => new byte[] { (byte)i }).ToArray();
        Assert.False(TsRequest.TryParse(TsRequestBytes(6, negoTokens: tokens), out _, out var error));
        Assert.Contains("more than 16", error);
        Assert.True(TsRequest.TryParse(TsRequestBytes(6, negoTokens: tokens[..16]), out var r, out _));
        Assert.Equal(16, r.NegoTokens.Count);
    }

    [Fact]
    public void HandMade_OversizedNegoToken_Refused()
    {
        byte[] bytes = TsRequestBytes(6, negoTokens: [new byte[TsRequest.MaxNegoTokenLength + 1]]);
        Assert.False(TsRequest.TryParse(bytes, out _, out var error));
        Assert.Contains("negoToken", error);
    }

    [Fact]
    public void HandMade_OversizedRequest_RefusedFromHeader()
    {
        byte[] bytes = [0x30, 0x84, 0x01, 0x00, 0x00, 0x00, 0xA0, 0x03, 0x02, 0x01, 0x06];
        Assert.False(TsRequest.TryParse(bytes, out _, out var error));
        Assert.Contains("limit", error);
    }

    [Fact]
    public void HandMade_IndefiniteNestingBomb_RefusedQuickly()
    {
        // 200,000 nested indefinite-length SEQUENCEs with no end-of-contents.
        byte[] bomb = new byte[400_000];
        for (int i = 0; i < bomb.Length; i += 2)
        {
            bomb[i] = 0x30;
            bomb[i + 1] = 0x80;
        }
        var clock = Stopwatch.StartNew();
        Assert.False(TsRequest.TryParse(bomb, out _, out _));
        Assert.False(Spnego.TryParse(bomb.AsSpan(0, 60_000), out _, out _));
        Assert.False(TsCredentials.TryParse(bomb, out _, out _));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"took {clock.Elapsed}");
    }

    [Fact]
    public void HandMade_DefiniteNestingBombInsideNegoTokens_RefusedQuickly()
    {
        // negoTokens [1] holding 50,000 nested definite-length SEQUENCEs instead of NegoData items.
        const int depth = 50_000;
        int length = 0;
        var chain = new byte[depth * 6];
        for (int i = depth - 1; i >= 0; i--)
        {
            int at = i * 6;
            chain[at] = 0x30;
            chain[at + 1] = 0x84;
            BinaryPrimitives.WriteInt32BigEndian(chain.AsSpan(at + 2), length);
            length += 6;
        }
        byte[] inner = [0xA0, 0x03, 0x02, 0x01, 0x06, 0xA1, 0x84, .. BigEndian(chain.Length), .. chain];
        byte[] request = [0x30, 0x84, .. BigEndian(inner.Length), .. inner];

        var clock = Stopwatch.StartNew();
        Assert.False(TsRequest.TryParse(request, out _, out var error));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"took {clock.Elapsed}");
        Assert.False(string.IsNullOrEmpty(error));
    }

    [Fact]
    public void HandMade_ConstructedOctetStringBomb_HandledQuickly()
    {
        // BER negoToken built of 100,000 nested constructed OCTET STRINGs (24 80). Unclosed, it is
        // refused; closed, it is legal BER for an empty token and reads as one.
        const int depth = 100_000;
        var open = new List<byte> { 0xA0, 0x03, 0x02, 0x01, 0x06, 0xA1, 0x80, 0x30, 0x80, 0x30, 0x80, 0xA0, 0x80 };
        for (int i = 0; i < depth; i++)
        {
            open.Add(0x24);
            open.Add(0x80);
        }
        byte[] unclosed = [0x30, 0x80, .. open];
        byte[] closed = [0x30, 0x80, .. open, .. new byte[2 * (depth + 5)]];

        var clock = Stopwatch.StartNew();
        Assert.False(TsRequest.TryParse(unclosed, out _, out _));
        Assert.True(TsRequest.TryParse(closed, out var r, out var error), error);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"took {clock.Elapsed}");
        Assert.False(r.IsDer);
        Assert.Equal(0, Assert.Single(r.NegoTokens).Length);
    }

    [Fact]
    public void HandMade_RandomMutations_NeverThrow()
    {
        // Fixed seed: flips, truncations and length-byte changes over every vector and parser.
        var random = new Random(20240501);
        byte[][] vectors =
        [
            TsRequestBytes(6, negoTokens: [SpecAuthenticate], pubKeyAuth: Filled(32, 1), errorCode: -5, clientNonce: Filled(32, 2)),
            Credentials(1, PasswordCreds("CONTOSO", "alice", Secret)),
            NegTokenInit([Spnego.NtlmOid, Spnego.KerberosOid], SystemNetMailNegotiate),
            SpecChallenge, SpecAuthenticate, SystemNetMailAuthenticate, ExchangeChallenge,
        ];
        foreach (var vector in vectors)
        {
            for (int i = 0; i < 3000; i++)
            {
                byte[] m = (byte[])vector.Clone();
                for (int flips = random.Next(1, 4); flips > 0; flips--)
                {
                    m[random.Next(m.Length)] = (byte)random.Next(256);
                }
                var span = m.AsSpan(0, random.Next(2) == 0 ? m.Length : random.Next(m.Length + 1));
                TsRequest.TryParse(span, out _, out _);
                TsRequest.LooksLikeTsRequest(span);
                TsRequest.TryGetLength(span);
                TsCredentials.TryParse(span, out _, out _);
                Spnego.TryParse(span, out var spnego, out _);
                spnego?.Describe();
                Spnego.Classify(span);
                if (NtlmMessage.TryParse(span, out var ntlm, out _))
                {
                    ntlm.Describe();
                    _ = ntlm.ToString();
                }
            }
        }
    }

    private static byte[] BigEndian(int value)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(b, value);
        return b;
    }

    // ---- TSCredentials -------------------------------------------------------------------------

    private const string Secret = "Tr0ub4dor&3";

    private static byte[] PasswordCreds(string domain, string user, string password)
    {
        var w = new AsnWriter(AsnEncodingRules.DER);
        using (w.PushSequence())
        {
            WriteOctets(w, 0, Encoding.Unicode.GetBytes(domain));
            WriteOctets(w, 1, Encoding.Unicode.GetBytes(user));
            WriteOctets(w, 2, Encoding.Unicode.GetBytes(password));
        }
        return w.Encode();
    }

    private static byte[] Credentials(int credType, byte[] credentials)
    {
        var w = new AsnWriter(AsnEncodingRules.DER);
        using (w.PushSequence())
        {
            using (w.PushSequence(Ctx(0)))
            {
                w.WriteInteger(credType);
            }
            WriteOctets(w, 1, credentials);
        }
        return w.Encode();
    }

    [Fact]
    public void HandMade_PasswordCreds_DomainAndUserWithoutThePassword()
    {
        byte[] bytes = Credentials(1, PasswordCreds("CONTOSO", "alice", Secret));

        Assert.True(TsCredentials.TryParse(bytes, out var creds, out var error), error);
        Assert.Equal(TsCredentialType.Password, creds.CredType);
        var password = creds.Password!;
        Assert.Equal("CONTOSO", password.DomainName);
        Assert.Equal("alice", password.UserName);
        Assert.Equal(Secret.Length, password.PasswordLength);
        Assert.Equal(@"CONTOSO\alice", password.Account);
        Assert.Equal(@"TSCredentials: password for CONTOSO\alice (11-character password)", creds.Describe());

        // Nothing reachable from the result may hold the password.
        foreach (string text in new[] { password.ToString(), creds.Describe() }
            .Concat(typeof(TsPasswordCreds).GetProperties().Select(p => p.GetValue(password)?.ToString() ?? ""))
            .Concat(typeof(TsCredentials).GetProperties().Select(p => p.GetValue(creds)?.ToString() ?? "")))
        {
            Assert.DoesNotContain(Secret, text);
        }
        Assert.DoesNotContain(typeof(TsPasswordCreds).GetProperties(), p => p.Name.Equals("Password", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public void HandMade_PasswordCredsAlone_Parsed()
    {
        Assert.True(TsPasswordCreds.TryParse(PasswordCreds("", "bob@contoso.com", "x"), out var p, out var error), error);
        Assert.Equal("bob@contoso.com", p.Account);
        Assert.Equal(1, p.PasswordLength);
    }

    [Fact]
    public void HandMade_EmptyPasswordCreds_RestrictedAdmin()
    {
        Assert.True(TsCredentials.TryParse(Credentials(1, PasswordCreds("", "", "")), out var creds, out _));
        Assert.True(creds.Password!.AllFieldsEmpty);
        Assert.Contains("Restricted Admin", creds.Describe());
    }

    [Fact]
    public void HandMade_RemoteGuardCreds_PackageNames()
    {
        var w = new AsnWriter(AsnEncodingRules.DER);
        using (w.PushSequence())
        {
            using (w.PushSequence(Ctx(0)))
            using (w.PushSequence())
            {
                WriteOctets(w, 0, Encoding.Unicode.GetBytes("Kerberos"));
                WriteOctets(w, 1, Filled(100, 0xCC));
            }
            using (w.PushSequence(Ctx(1)))
            using (w.PushSequence())
            using (w.PushSequence())
            {
                WriteOctets(w, 0, Encoding.Unicode.GetBytes("NTLM"));
                WriteOctets(w, 1, Filled(10, 0xDD));
            }
        }
        Assert.True(TsCredentials.TryParse(Credentials(6, w.Encode()), out var creds, out var error), error);
        var guard = creds.RemoteGuard!;
        Assert.Equal("Kerberos", guard.LogonPackageName);
        Assert.Equal(100, guard.LogonCredBufferLength);
        Assert.Equal(["NTLM"], guard.SupplementalPackageNames);
    }

    [Fact]
    public void HandMade_SmartCardCreds_HintsWithoutThePin()
    {
        var w = new AsnWriter(AsnEncodingRules.DER);
        using (w.PushSequence())
        {
            WriteOctets(w, 0, Encoding.Unicode.GetBytes("123456"));
            using (w.PushSequence(Ctx(1)))
            using (w.PushSequence())
            {
                using (w.PushSequence(Ctx(0)))
                {
                    w.WriteInteger(1);
                }
                WriteOctets(w, 2, Encoding.Unicode.GetBytes("Reader 0"));
            }
            WriteOctets(w, 2, Encoding.Unicode.GetBytes("alice@contoso.com"));
        }
        Assert.True(TsCredentials.TryParse(Credentials(2, w.Encode()), out var creds, out var error), error);
        var card = creds.SmartCard!;
        Assert.Equal(6, card.PinLength);
        Assert.Equal("Reader 0", card.ReaderName);
        Assert.Null(card.CardName);
        Assert.Equal("alice@contoso.com", card.UserHint);
        Assert.DoesNotContain("123456", card.ToString());
    }

    [Fact]
    public void HandMade_CredentialsTruncatedAtEveryLength_FalseWithoutThrowing()
    {
        byte[] bytes = Credentials(1, PasswordCreds("CONTOSO", "alice", Secret));
        for (int n = 0; n < bytes.Length; n++)
        {
            Assert.False(TsCredentials.TryParse(bytes.AsSpan(0, n), out _, out _));
        }
    }

    // ---- SPNEGO --------------------------------------------------------------------------------

    private static byte[] NegTokenInit(string[] mechs, byte[]? mechToken)
    {
        var w = new AsnWriter(AsnEncodingRules.DER);
        using (w.PushSequence(new Asn1Tag(TagClass.Application, 0, isConstructed: true)))
        {
            w.WriteObjectIdentifier(Spnego.SpnegoOid);
            using (w.PushSequence(Ctx(0)))
            using (w.PushSequence())
            {
                using (w.PushSequence(Ctx(0)))
                using (w.PushSequence())
                {
                    foreach (string mech in mechs)
                    {
                        w.WriteObjectIdentifier(mech);
                    }
                }
                WriteOctets(w, 2, mechToken);
            }
        }
        return w.Encode();
    }

    [Fact]
    public void HandMade_SpnegoInit_MechTypesNamedAndInnerNtlmFound()
    {
        byte[] token = NegTokenInit([Spnego.MsKerberosOid, Spnego.KerberosOid, Spnego.NegoExOid, Spnego.NtlmOid], SystemNetMailNegotiate);

        Assert.Equal(NegoTokenKind.Spnego, Spnego.Classify(token));
        Assert.True(Spnego.TryParse(token, out var spnego, out var error), error);
        Assert.True(spnego.IsGssFramed);
        Assert.Equal([Spnego.MsKerberosOid, Spnego.KerberosOid, Spnego.NegoExOid, Spnego.NtlmOid], spnego.Init!.MechTypes);
        Assert.Equal("SPNEGO negTokenInit offering MS Kerberos 5, Kerberos 5, NegoEx, NTLMSSP with a mechToken", spnego.Describe());
        Assert.Equal(NegoTokenKind.Ntlm, Spnego.Classify(spnego.InnerToken!.Value.Span));
    }

    [Fact]
    public void HandMade_SpnegoResp_NegStateAndSupportedMech()
    {
        var w = new AsnWriter(AsnEncodingRules.DER);
        using (w.PushSequence(Ctx(1)))
        using (w.PushSequence())
        {
            using (w.PushSequence(Ctx(0)))
            {
                w.WriteEnumeratedValue(SpnegoNegState.AcceptIncomplete);
            }
            using (w.PushSequence(Ctx(1)))
            {
                w.WriteObjectIdentifier(Spnego.NtlmOid);
            }
            WriteOctets(w, 2, SpecChallenge);
        }
        byte[] token = w.Encode();

        Assert.Equal(NegoTokenKind.Spnego, Spnego.Classify(token));
        Assert.True(Spnego.TryParse(token, out var spnego, out var error), error);
        Assert.False(spnego.IsGssFramed);
        Assert.Equal(SpnegoNegState.AcceptIncomplete, spnego.Resp!.NegState);
        Assert.Equal(Spnego.NtlmOid, spnego.Resp.SupportedMech);
        Assert.Equal(SpecChallenge, spnego.InnerToken!.Value.ToArray());
        Assert.Equal("SPNEGO negTokenResp accept-incomplete, NTLMSSP with a responseToken", spnego.Describe());
    }

    [Fact]
    public void HandMade_SpnegoReject_NoToken()
    {
        byte[] token = Hex("A1 07 30 05 A0 03 0A 01 02");
        Assert.True(Spnego.TryParse(token, out var spnego, out var error), error);
        Assert.Equal(SpnegoNegState.Reject, spnego.Resp!.NegState);
        Assert.Equal("SPNEGO negTokenResp reject", spnego.Describe());
    }

    [Fact]
    public void HandMade_GssKerberosToken_NotSpnego()
    {
        var w = new AsnWriter(AsnEncodingRules.DER);
        using (w.PushSequence(new Asn1Tag(TagClass.Application, 0, isConstructed: true)))
        {
            w.WriteObjectIdentifier(Spnego.KerberosOid);
            w.WriteEncodedValue(Hex("6E 03 02 01 05"));
        }
        byte[] token = w.Encode();
        Assert.Equal(NegoTokenKind.Kerberos, Spnego.Classify(token));
        Assert.False(Spnego.TryParse(token, out _, out var error));
        Assert.Contains("Kerberos 5", error);
    }

    [Theory]
    [InlineData("4E544C4D5353500001000000", NegoTokenKind.Ntlm)]
    [InlineData("4E45474F45585453", NegoTokenKind.NegoEx)]
    [InlineData("6E 82 01 00", NegoTokenKind.Kerberos)]
    [InlineData("7E 10", NegoTokenKind.Kerberos)]
    [InlineData("60 0D 06 09 2A 86 48 82 F7 12 01 02 02 01 00", NegoTokenKind.Kerberos)]
    [InlineData("60 0A 06 06 2B 06 01 05 05 02 A0 00", NegoTokenKind.Spnego)]
    [InlineData("60 0A 06 06 2B 06 01 05 05", NegoTokenKind.Unknown)]
    [InlineData("A1 03 30 01 00", NegoTokenKind.Spnego)]
    [InlineData("", NegoTokenKind.Unknown)]
    [InlineData("16 03 01", NegoTokenKind.Unknown)]
    public void HandMade_Classify(string hex, NegoTokenKind expected) =>
        Assert.Equal(expected, Spnego.Classify(Hex(hex)));

    [Fact]
    public void HandMade_SpnegoTruncatedAtEveryLength_FalseWithoutThrowing()
    {
        byte[] token = NegTokenInit([Spnego.NtlmOid], SystemNetMailNegotiate);
        for (int n = 0; n < token.Length; n++)
        {
            Assert.False(Spnego.TryParse(token.AsSpan(0, n), out _, out _));
            Spnego.Classify(token.AsSpan(0, n));
        }
    }

    [Fact]
    public void MechNames_CoverTheCredSspMechanisms()
    {
        Assert.Equal("NTLMSSP", Spnego.MechName("1.3.6.1.4.1.311.2.2.10"));
        Assert.Equal("Kerberos 5", Spnego.MechName("1.2.840.113554.1.2.2"));
        Assert.Equal("MS Kerberos 5", Spnego.MechName("1.2.840.48018.1.2.2"));
        Assert.Equal("NegoEx", Spnego.MechName("1.3.6.1.4.1.311.2.2.30"));
        Assert.Equal("SPNEGO", Spnego.MechName("1.3.6.1.5.5.2"));
        Assert.Equal("1.2.3.4", Spnego.MechName("1.2.3.4"));
    }

    // ---- NTLM ----------------------------------------------------------------------------------

    [Fact]
    public void MsNlmpExample_Challenge_FlagsNamesAndTargetInfo()
    {
        Assert.True(NtlmMessage.TryParse(SpecChallenge, out var message, out var error), error);
        var challenge = Assert.IsType<NtlmChallengeMessage>(message);

        // MS-NLMP 4.2.4 lists exactly these challenge flags.
        Assert.Equal((NtlmNegotiateFlags)0xE28A8233, challenge.NegotiateFlags);
        Assert.Equal(
        [
            "NTLMSSP_NEGOTIATE_UNICODE", "NTLM_NEGOTIATE_OEM", "NTLMSSP_NEGOTIATE_SIGN", "NTLMSSP_NEGOTIATE_SEAL",
            "NTLMSSP_NEGOTIATE_NTLM", "NTLMSSP_NEGOTIATE_ALWAYS_SIGN", "NTLMSSP_TARGET_TYPE_SERVER",
            "NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY", "NTLMSSP_NEGOTIATE_TARGET_INFO", "NTLMSSP_NEGOTIATE_VERSION",
            "NTLMSSP_NEGOTIATE_128", "NTLMSSP_NEGOTIATE_KEY_EXCH", "NTLMSSP_NEGOTIATE_56",
        ], challenge.FlagNames);
        Assert.Equal("Server", challenge.TargetName);
        Assert.Equal("0123456789ABCDEF", challenge.ServerChallenge);
        Assert.Equal(new NtlmVersion(6, 0, 6000, 15), challenge.Version);
        Assert.Equal([NtlmAvId.MsvAvNbDomainName, NtlmAvId.MsvAvNbComputerName], challenge.TargetInfo.Select(p => p.Id));
        Assert.Equal("Domain", challenge.NbDomainName);
        Assert.Equal("Server", challenge.NbComputerName);
        Assert.Equal("MsvAvNbDomainName", challenge.TargetInfo[0].Name);
        Assert.Empty(challenge.Violations);
        Assert.Equal(@"NTLM CHALLENGE from Domain\Server, server version 6.0.6000 (NTLM revision 15)", challenge.Describe());
    }

    [Fact]
    public void MsNlmpExample_Authenticate_UserDomainWorkstationNtlmV2()
    {
        Assert.True(NtlmMessage.TryParse(SpecAuthenticate, out var message, out var error), error);
        var auth = Assert.IsType<NtlmAuthenticateMessage>(message);

        Assert.Equal("Domain", auth.DomainName);
        Assert.Equal("User", auth.UserName);
        Assert.Equal("COMPUTER", auth.Workstation);
        Assert.Equal(24, auth.LmChallengeResponseLength);
        Assert.Equal(84, auth.NtChallengeResponseLength);
        Assert.Equal(16, auth.EncryptedRandomSessionKeyLength);
        Assert.Equal(NtlmResponseKind.NtlmV2, auth.ResponseKind);
        Assert.False(auth.MicPresent); // the example predates the MIC: payload starts at 72
        Assert.Equal(new NtlmVersion(5, 1, 2600, 15), auth.Version);
        Assert.Equal(new DateTime(1601, 1, 1, 0, 0, 0, DateTimeKind.Utc), auth.ClientTimestamp);
        Assert.Equal(["Domain", "Server"], auth.ClientTargetInfo.Select(p => p.Text));
        Assert.Empty(auth.Violations);
        Assert.Equal(@"NTLM AUTHENTICATE for Domain\User from COMPUTER, NTLMv2", auth.Describe());
    }

    [Fact]
    public void SystemNetMail_Negotiate_VersionAndFlags()
    {
        Assert.True(NtlmMessage.TryParse(SystemNetMailNegotiate, out var message, out var error), error);
        var negotiate = Assert.IsType<NtlmNegotiateMessage>(message);
        Assert.Equal((NtlmNegotiateFlags)0xA2088207, negotiate.NegotiateFlags);
        Assert.Contains("NTLMSSP_REQUEST_TARGET", negotiate.FlagNames);
        Assert.Null(negotiate.DomainName);
        Assert.Equal(new NtlmVersion(10, 0, 17134, 15), negotiate.Version);
        Assert.Equal("NTLM NEGOTIATE, client version 10.0.17134 (NTLM revision 15)", negotiate.Describe());
    }

    [Fact]
    public void ExchangeServer_Challenge_DnsNamesAndTimestamp()
    {
        Assert.True(NtlmMessage.TryParse(ExchangeChallenge, out var message, out var error), error);
        var challenge = Assert.IsType<NtlmChallengeMessage>(message);
        Assert.Equal("DEVDIV", challenge.NbDomainName);
        Assert.Equal("EXCHANGE", challenge.NbComputerName);
        Assert.Equal("exchange.devdiv.microsoft.com", challenge.DnsComputerName);
        Assert.Equal("devdiv.microsoft.com", challenge.DnsDomainName);
        Assert.Equal("devdiv.microsoft.com", challenge.DnsTreeName);
        Assert.Equal(2020, challenge.Timestamp!.Value.Year);
        Assert.Equal(new NtlmVersion(6, 3, 9600, 15), challenge.Version);
        Assert.Equal(@"NTLM CHALLENGE from DEVDIV\EXCHANGE (exchange.devdiv.microsoft.com), server version 6.3.9600 (NTLM revision 15)",
            challenge.Describe());
    }

    [Fact]
    public void SystemNetMail_Authenticate_MicChannelBindingsAndTargetName()
    {
        Assert.True(NtlmMessage.TryParse(SystemNetMailAuthenticate, out var message, out var error), error);
        var auth = Assert.IsType<NtlmAuthenticateMessage>(message);
        Assert.Equal("DEVDIV", auth.DomainName);
        Assert.Equal("username", auth.UserName);
        Assert.Equal("Workstation", auth.Workstation);
        Assert.Equal(NtlmResponseKind.NtlmV2, auth.ResponseKind);
        Assert.True(auth.MicPresent);
        var flags = auth.ClientTargetInfo.Single(p => p.Id == NtlmAvId.MsvAvFlags);
        Assert.Equal(NtlmAvFlags.MicPresent, flags.Flags);
        Assert.Equal("SMTPSVC/192.168.1.1", auth.ClientTargetInfo.Single(p => p.Id == NtlmAvId.MsvAvTargetName).Text);
        var bindings = auth.ClientTargetInfo.Single(p => p.Id == NtlmAvId.MsvAvChannelBindings);
        Assert.Equal(16, bindings.Length);
        Assert.Equal("none (all zero)", bindings.ValueText);
        Assert.Equal(@"NTLM AUTHENTICATE for DEVDIV\username from Workstation, NTLMv2", auth.Describe());
    }

    [Fact]
    public void HandMade_AvPairs_AllKindsDecoded()
    {
        var list = new List<byte>();
        void Pair(NtlmAvId id, byte[] value)
        {
            list.AddRange(BitConverter.GetBytes((ushort)id));
            list.AddRange(BitConverter.GetBytes((ushort)value.Length));
            list.AddRange(value);
        }
        Pair(NtlmAvId.MsvAvDnsComputerName, Encoding.Unicode.GetBytes("rdsh01.contoso.com"));
        Pair(NtlmAvId.MsvAvFlags, BitConverter.GetBytes(0x2u));
        Pair(NtlmAvId.MsvAvTimestamp, BitConverter.GetBytes(new DateTime(2024, 5, 1, 12, 0, 0, DateTimeKind.Utc).ToFileTimeUtc()));
        Pair(NtlmAvId.MsvAvChannelBindings, Filled(16, 0xAB));
        Pair((NtlmAvId)0x0B, [1, 2]);
        Pair(NtlmAvId.MsvAvTimestamp, BitConverter.GetBytes(long.MaxValue));
        Pair(NtlmAvId.MsvAvEOL, []);
        byte[] message = Challenge(list.ToArray());

        Assert.True(NtlmMessage.TryParse(message, out var parsed, out var error), error);
        var info = ((NtlmChallengeMessage)parsed).TargetInfo;
        Assert.Equal(6, info.Count);
        Assert.Equal("rdsh01.contoso.com", info[0].ValueText);
        Assert.Equal(NtlmAvFlags.MicPresent, info[1].Flags);
        Assert.Equal(new DateTime(2024, 5, 1, 12, 0, 0, DateTimeKind.Utc), info[2].Timestamp);
        Assert.Equal("2024-05-01 12:00:00.0000000 UTC", info[2].ValueText);
        Assert.Equal("ABABABABABABABABABABABABABABABAB", info[3].ValueText);
        Assert.Equal("AvId 0x000B", info[4].Name);
        Assert.Null(info[5].Timestamp);
        Assert.Contains(parsed.Violations, v => v.Contains("FILETIME"));
    }

    [Fact]
    public void HandMade_AvPairsWithoutEol_Violation()
    {
        byte[] list = [0x02, 0x00, 0x04, 0x00, 0x44, 0x00, 0x4F, 0x00, 0x01, 0x00, 0x10, 0x00, 0x53];
        Assert.True(NtlmMessage.TryParse(Challenge(list), out var parsed, out _));
        var challenge = (NtlmChallengeMessage)parsed;
        Assert.Equal("DO", challenge.NbDomainName);
        Assert.Contains(parsed.Violations, v => v.Contains("claims 16 bytes"));
    }

    /// <summary>A CHALLENGE_MESSAGE with no TargetName, no Version and the given TargetInfo.</summary>
    private static byte[] Challenge(byte[] targetInfo)
    {
        var m = new byte[48 + targetInfo.Length];
        "NTLMSSP\0"u8.CopyTo(m);
        m[8] = 2;
        BinaryPrimitives.WriteUInt32LittleEndian(m.AsSpan(20), 0x00800201); // UNICODE | NTLM | TARGET_INFO
        BinaryPrimitives.WriteUInt16LittleEndian(m.AsSpan(40), (ushort)targetInfo.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(m.AsSpan(42), (ushort)targetInfo.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(m.AsSpan(44), 48);
        targetInfo.CopyTo(m, 48);
        return m;
    }

    [Theory]
    [InlineData(36 + 4, 0xFFFFFFF0u, "UserName")]      // UserName offset far past the end
    [InlineData(28 + 4, 230u, "DomainName")]           // DomainName (12 bytes) runs past the end
    [InlineData(20 + 4, 0x80000000u, "NtChallengeResponse")]
    public void HandMade_OffsetOutsideMessage_ErrorNotException(int offsetField, uint offset, string field)
    {
        byte[] bytes = (byte[])SpecAuthenticate.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(offsetField), offset);
        Assert.False(NtlmMessage.TryParse(bytes, out _, out var error));
        Assert.StartsWith(field, error);
        Assert.Contains("outside", error);
    }

    [Fact]
    public void HandMade_NtlmTruncatedAtEveryLength_FalseWithoutThrowing()
    {
        foreach (var message in new[] { SpecChallenge, SpecAuthenticate, SystemNetMailAuthenticate })
        {
            for (int n = 0; n < message.Length; n++)
            {
                // Short messages either fail or parse with fewer fields; they never throw.
                if (NtlmMessage.TryParse(message.AsSpan(0, n), out var parsed, out var error))
                {
                    Assert.NotNull(parsed.Describe());
                }
                else
                {
                    Assert.False(string.IsNullOrEmpty(error));
                }
            }
        }
    }

    [Fact]
    public void HandMade_NtlmV1AndAnonymous_Described()
    {
        byte[] v1 = Authenticate(lm: 24, nt: 24, domain: "CORP", user: "svc", workstation: "");
        Assert.True(NtlmMessage.TryParse(v1, out var m1, out var e1), e1);
        Assert.Equal(NtlmResponseKind.NtlmV1, ((NtlmAuthenticateMessage)m1).ResponseKind);
        Assert.Equal(@"NTLM AUTHENTICATE for CORP\svc, NTLMv1", m1.Describe());

        byte[] anonymous = Authenticate(lm: 1, nt: 0, domain: "", user: "", workstation: "KIOSK");
        Assert.True(NtlmMessage.TryParse(anonymous, out var m2, out var e2), e2);
        Assert.True(((NtlmAuthenticateMessage)m2).IsAnonymous);
        Assert.Equal("NTLM AUTHENTICATE (anonymous) from KIOSK, no NT response", m2.Describe());
    }

    /// <summary>An AUTHENTICATE_MESSAGE (UNICODE, no Version) with zero-filled responses.</summary>
    private static byte[] Authenticate(int lm, int nt, string domain, string user, string workstation)
    {
        var payload = new List<byte>();
        var header = new byte[64];
        "NTLMSSP\0"u8.CopyTo(header);
        header[8] = 3;
        void Field(int at, byte[] value)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(at), (ushort)value.Length);
            BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(at + 2), (ushort)value.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(at + 4), (uint)(64 + payload.Count));
            payload.AddRange(value);
        }
        Field(12, new byte[lm]);
        Field(20, new byte[nt]);
        Field(28, Encoding.Unicode.GetBytes(domain));
        Field(36, Encoding.Unicode.GetBytes(user));
        Field(44, Encoding.Unicode.GetBytes(workstation));
        Field(52, []);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(60), 0x00000201);
        return [.. header, .. payload];
    }

    [Fact]
    public void HandMade_NotNtlm_Refused()
    {
        Assert.False(NtlmMessage.TryParse("NTLMSSP\0\u0004\0\0\0"u8, out _, out var error));
        Assert.Contains("MessageType", error);
        Assert.False(NtlmMessage.TryParse(Hex("30 03 02 01 06 00 00 00 00 00 00 00"), out _, out error));
        Assert.Contains("signature", error);
    }

    [Fact]
    public void HandMade_ReservedFlagBits_ShownAsHex()
    {
        var names = NtlmNames.Flags(NtlmNegotiateFlags.NegotiateUnicode | (NtlmNegotiateFlags)0x0000_0008);
        Assert.Equal(["NTLMSSP_NEGOTIATE_UNICODE", "0x00000008"], names);
    }

    // ---- NTSTATUS ------------------------------------------------------------------------------

    [Theory]
    [InlineData(0x00000000u, "STATUS_SUCCESS")]
    [InlineData(0xC0000022u, "STATUS_ACCESS_DENIED")]
    [InlineData(0xC000005Eu, "STATUS_NO_LOGON_SERVERS")]
    [InlineData(0xC000005Fu, "STATUS_NO_SUCH_LOGON_SESSION")]
    [InlineData(0xC0000064u, "STATUS_NO_SUCH_USER")]
    [InlineData(0xC000006Au, "STATUS_WRONG_PASSWORD")]
    [InlineData(0xC000006Cu, "STATUS_PASSWORD_RESTRICTION")]
    [InlineData(0xC000006Du, "STATUS_LOGON_FAILURE")]
    [InlineData(0xC000006Eu, "STATUS_ACCOUNT_RESTRICTION")]
    [InlineData(0xC000006Fu, "STATUS_INVALID_LOGON_HOURS")]
    [InlineData(0xC0000070u, "STATUS_INVALID_WORKSTATION")]
    [InlineData(0xC0000071u, "STATUS_PASSWORD_EXPIRED")]
    [InlineData(0xC0000072u, "STATUS_ACCOUNT_DISABLED")]
    [InlineData(0xC000000Du, "STATUS_INVALID_PARAMETER")]
    [InlineData(0xC00000BBu, "STATUS_NOT_SUPPORTED")]
    [InlineData(0xC0000133u, "STATUS_TIME_DIFFERENCE_AT_DC")]
    [InlineData(0xC000015Bu, "STATUS_LOGON_TYPE_NOT_GRANTED")]
    [InlineData(0xC0000193u, "STATUS_ACCOUNT_EXPIRED")]
    [InlineData(0xC0000224u, "STATUS_PASSWORD_MUST_CHANGE")]
    [InlineData(0xC0000234u, "STATUS_ACCOUNT_LOCKED_OUT")]
    [InlineData(0xC0000388u, "STATUS_DOWNGRADE_DETECTED")]
    [InlineData(0xC0000413u, "STATUS_AUTHENTICATION_FIREWALL_FAILED")]
    public void NtStatus_ReferenceTableValues_Named(uint status, string name)
    {
        Assert.Equal(name, NtStatus.Name(status));
        Assert.False(string.IsNullOrEmpty(NtStatus.Meaning(status)));
    }

    [Fact]
    public void NtStatus_UnknownValue_HexFallback()
    {
        Assert.Equal("0xC000ABCD", NtStatus.Name(0xC000ABCD));
        Assert.Null(NtStatus.Meaning(0xC000ABCD));
        Assert.Equal("NTSTATUS 0xC000ABCD", NtStatus.Describe(0xC000ABCD));
        Assert.Equal("STATUS_LOGON_FAILURE (0xC000006D): unknown user name or bad password", NtStatus.Describe(0xC000006D));
    }

    [Theory]
    [InlineData(0xC000006Du, 0x807u)]
    [InlineData(0xC0000064u, 0xA07u)]
    [InlineData(0xC0000072u, 0xB07u)]
    [InlineData(0xC000006Eu, 0xC07u)]
    [InlineData(0xC0000234u, 0xD07u)]
    [InlineData(0xC0000193u, 0xE07u)]
    [InlineData(0xC0000071u, 0xF07u)]
    [InlineData(0xC0000224u, 0x1207u)]
    public void NtStatus_ClientSslErrorPairing_AsTheReferenceGivesIt(uint status, uint sslError) =>
        Assert.Equal(sslError, NtStatus.ClientSslErrorCode(status));

    [Fact]
    public void NtStatus_NoPairing_Null() => Assert.Null(NtStatus.ClientSslErrorCode(0xC0000022));
}
