using System.Diagnostics.CodeAnalysis;
using System.Formats.Asn1;

namespace RdpWire.RdpParser.CredSsp;

/// <summary>What a CredSSP negoToken carries (MS-CSSP 2.2.1.1: "SPNEGO tokens or Kerberos/NTLM messages").</summary>
public enum NegoTokenKind
{
    Unknown,
    /// <summary>A raw MS-NLMP message ("NTLMSSP\0"), what Windows CredSSP usually sends.</summary>
    Ntlm,
    /// <summary>An RFC 4178 NegotiationToken (GSS-framed negTokenInit, or negTokenInit/negTokenResp).</summary>
    Spnego,
    /// <summary>A Kerberos message: GSS-framed with a krb5 OID (RFC 1964/4121), or a bare AP-REQ/AP-REP/KRB-ERROR.</summary>
    Kerberos,
    /// <summary>An MS-NEGOEX message ("NEGOEXTS").</summary>
    NegoEx,
}

/// <summary>RFC 4178 4.2.2 negState.</summary>
public enum SpnegoNegState
{
    AcceptCompleted = 0,
    AcceptIncomplete = 1,
    Reject = 2,
    RequestMic = 3,
}

/// <summary>
/// RFC 4178 4.2.1 NegTokenInit { mechTypes [0], reqFlags [1] OPTIONAL, mechToken [2] OPTIONAL,
/// mechListMIC [3] OPTIONAL }, also accepting Microsoft's NegTokenInit2 (MS-SPNG 2.2.1), whose
/// [3] is negHints and whose mechListMIC moves to [4].
/// </summary>
public sealed record SpnegoNegTokenInit(IReadOnlyList<string> MechTypes, ReadOnlyMemory<byte>? MechToken, bool HasMechListMic);

/// <summary>
/// RFC 4178 4.2.2 NegTokenResp { negState [0] OPTIONAL, supportedMech [1] OPTIONAL,
/// responseToken [2] OPTIONAL, mechListMIC [3] OPTIONAL }. NegState is kept as the wire value
/// (an undefined number stays visible).
/// </summary>
public sealed record SpnegoNegTokenResp(SpnegoNegState? NegState, string? SupportedMech, ReadOnlyMemory<byte>? ResponseToken, bool HasMechListMic);

/// <summary>
/// An RFC 4178 4.2 NegotiationToken: exactly one of <see cref="Init"/> and <see cref="Resp"/>.
/// The initial token is framed as in RFC 2743 3.1 (<c>[APPLICATION 0] { thisMech OID, innerToken }</c>)
/// with the SPNEGO OID 1.3.6.1.5.5.2; later tokens are the bare CHOICE.
/// </summary>
public sealed class SpnegoToken
{
    public const int MaxMechTypes = 32;

    public SpnegoNegTokenInit? Init { get; init; }
    public SpnegoNegTokenResp? Resp { get; init; }
    /// <summary>True when the token carried the RFC 2743 GSS framing.</summary>
    public bool IsGssFramed { get; init; }

    /// <summary>The inner mechanism token (mechToken or responseToken), or null.</summary>
    public ReadOnlyMemory<byte>? InnerToken => Init?.MechToken ?? Resp?.ResponseToken;

    public string Describe()
    {
        if (Init is { } init)
        {
            string mechs = string.Join(", ", init.MechTypes.Select(Spnego.MechName));
            return $"SPNEGO negTokenInit offering {mechs}{(init.MechToken is null ? "" : " with a mechToken")}";
        }
        var resp = Resp!;
        string state = resp.NegState is { } s ? Spnego.NegStateName(s) : "no negState";
        string mech = resp.SupportedMech is null ? "" : $", {Spnego.MechName(resp.SupportedMech)}";
        return $"SPNEGO negTokenResp {state}{mech}{(resp.ResponseToken is null ? "" : " with a responseToken")}";
    }
}

/// <summary>SPNEGO (RFC 4178) reading, mechanism OID names and negoToken classification.</summary>
public static class Spnego
{
    public const string SpnegoOid = "1.3.6.1.5.5.2";
    /// <summary>MS-NLMP 1.9: NTLMSSP.</summary>
    public const string NtlmOid = "1.3.6.1.4.1.311.2.2.10";
    /// <summary>RFC 1964 / 4121 Kerberos 5.</summary>
    public const string KerberosOid = "1.2.840.113554.1.2.2";
    /// <summary>Microsoft's legacy Kerberos OID (a mis-encoding of the RFC 1964 one that Windows still offers first).</summary>
    public const string MsKerberosOid = "1.2.840.48018.1.2.2";
    /// <summary>RFC 4121 user-to-user Kerberos.</summary>
    public const string KerberosUser2UserOid = "1.2.840.113554.1.2.2.3";
    /// <summary>MS-NEGOEX.</summary>
    public const string NegoExOid = "1.3.6.1.4.1.311.2.2.30";
    /// <summary>PKU2U (draft-zhu-pku2u), the OID Microsoft's open specifications give it.</summary>
    public const string Pku2uOid = "1.3.6.1.5.2.7";

    /// <summary>A mechanism OID's common name, or the OID itself.</summary>
    public static string MechName(string oid) => oid switch
    {
        SpnegoOid => "SPNEGO",
        NtlmOid => "NTLMSSP",
        KerberosOid => "Kerberos 5",
        MsKerberosOid => "MS Kerberos 5",
        KerberosUser2UserOid => "Kerberos 5 user-to-user",
        NegoExOid => "NegoEx",
        Pku2uOid => "PKU2U",
        _ => oid,
    };

    /// <summary>"NTLM", "SPNEGO", "Kerberos", "NegoEx" or "unknown".</summary>
    public static string KindName(NegoTokenKind kind) => kind switch
    {
        NegoTokenKind.Ntlm => "NTLM",
        NegoTokenKind.Spnego => "SPNEGO",
        NegoTokenKind.Kerberos => "Kerberos",
        NegoTokenKind.NegoEx => "NegoEx",
        _ => "unknown",
    };

    public static string NegStateName(SpnegoNegState state) => state switch
    {
        SpnegoNegState.AcceptCompleted => "accept-completed",
        SpnegoNegState.AcceptIncomplete => "accept-incomplete",
        SpnegoNegState.Reject => "reject",
        SpnegoNegState.RequestMic => "request-mic",
        _ => $"negState {(int)state}",
    };

    private static ReadOnlySpan<byte> NtlmSignature => "NTLMSSP\0"u8;
    private static ReadOnlySpan<byte> NegoExSignature => "NEGOEXTS"u8;
    // DER contents of the OIDs above, for classification without an ASN.1 reader.
    private static ReadOnlySpan<byte> SpnegoOidBytes => [0x2B, 0x06, 0x01, 0x05, 0x05, 0x02];
    private static ReadOnlySpan<byte> KerberosOidBytes => [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x12, 0x01, 0x02, 0x02];
    private static ReadOnlySpan<byte> MsKerberosOidBytes => [0x2A, 0x86, 0x48, 0x82, 0xF7, 0x12, 0x01, 0x02, 0x02];
    private static ReadOnlySpan<byte> KerberosUser2UserOidBytes => [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x12, 0x01, 0x02, 0x02, 0x03];

    private const byte GssFrameTag = 0x60;      // [APPLICATION 0] constructed, RFC 2743 3.1
    private const byte NegTokenInitTag = 0xA0;  // [0]
    private const byte NegTokenRespTag = 0xA1;  // [1]
    private const byte KrbApReqTag = 0x6E;      // [APPLICATION 14], RFC 4120 5.5.1
    private const byte KrbApRepTag = 0x6F;      // [APPLICATION 15], RFC 4120 5.5.2
    private const byte KrbErrorTag = 0x7E;      // [APPLICATION 30], RFC 4120 5.9.1

    /// <summary>Tells what a negoToken is from its first bytes; never throws.</summary>
    public static NegoTokenKind Classify(ReadOnlySpan<byte> token)
    {
        if (token.StartsWith(NtlmSignature))
        {
            return NegoTokenKind.Ntlm;
        }
        if (token.StartsWith(NegoExSignature))
        {
            return NegoTokenKind.NegoEx;
        }
        if (token.IsEmpty)
        {
            return NegoTokenKind.Unknown;
        }
        switch (token[0])
        {
            case GssFrameTag:
                var oid = GssFrameOid(token);
                if (oid.SequenceEqual(SpnegoOidBytes))
                {
                    return NegoTokenKind.Spnego;
                }
                if (oid.SequenceEqual(KerberosOidBytes) || oid.SequenceEqual(MsKerberosOidBytes)
                    || oid.SequenceEqual(KerberosUser2UserOidBytes))
                {
                    return NegoTokenKind.Kerberos;
                }
                return NegoTokenKind.Unknown;
            case NegTokenInitTag or NegTokenRespTag:
                return NegoTokenKind.Spnego;
            case KrbApReqTag or KrbApRepTag or KrbErrorTag:
                return NegoTokenKind.Kerberos;
            default:
                return NegoTokenKind.Unknown;
        }
    }

    /// <summary>The OID contents after an RFC 2743 <c>60 len 06 len</c> header, or empty.</summary>
    private static ReadOnlySpan<byte> GssFrameOid(ReadOnlySpan<byte> token)
    {
        if (token.Length < 2)
        {
            return default;
        }
        int pos = token[1] switch
        {
            < 0x80 => 2,
            >= 0x81 and <= 0x84 => 2 + (token[1] - 0x80),
            _ => -1,
        };
        if (pos < 0 || token.Length < pos + 2 || token[pos] != 0x06 || token[pos + 1] >= 0x80)
        {
            return default;
        }
        int oidLength = token[pos + 1];
        return token.Length < pos + 2 + oidLength ? default : token.Slice(pos + 2, oidLength);
    }

    /// <summary>Parses an SPNEGO NegotiationToken, GSS-framed or bare. Never throws.</summary>
    public static bool TryParse(ReadOnlySpan<byte> token, [NotNullWhen(true)] out SpnegoToken? result, out string? error)
    {
        result = null;
        if (token.IsEmpty)
        {
            error = "empty token";
            return false;
        }
        if (token.Length > TsRequest.MaxNegoTokenLength)
        {
            error = $"{token.Length}-byte token is above the {TsRequest.MaxNegoTokenLength}-byte limit";
            return false;
        }
        return Asn1Bytes.TryParseDerThenBer(token.ToArray(), Parse, out result, out error);
    }

    private static SpnegoToken Parse(ReadOnlyMemory<byte> encoded, AsnEncodingRules rules)
    {
        var reader = new AsnReader(encoded, rules);
        bool framed = false;
        if (reader.PeekTag().HasSameClassAndValue(new Asn1Tag(TagClass.Application, 0)))
        {
            framed = true;
            var frame = reader.ReadSequence(new Asn1Tag(TagClass.Application, 0, isConstructed: true));
            string mech = frame.ReadObjectIdentifier();
            if (mech != SpnegoOid)
            {
                throw new AsnContentException($"GSS token is for {MechName(mech)}, not SPNEGO");
            }
            reader = frame; // innerToken follows thisMech
        }
        var choice = reader.PeekTag();
        SpnegoToken result;
        if (choice.HasSameClassAndValue(Asn1Bytes.Explicit(0)))
        {
            var wrapper = reader.ReadSequence(Asn1Bytes.Explicit(0));
            result = new SpnegoToken { Init = ParseInit(wrapper.ReadSequence()), IsGssFramed = framed };
            wrapper.ThrowIfNotEmpty();
        }
        else if (choice.HasSameClassAndValue(Asn1Bytes.Explicit(1)))
        {
            var wrapper = reader.ReadSequence(Asn1Bytes.Explicit(1));
            result = new SpnegoToken { Resp = ParseResp(wrapper.ReadSequence()), IsGssFramed = framed };
            wrapper.ThrowIfNotEmpty();
        }
        else
        {
            throw new AsnContentException($"NegotiationToken starts with {Asn1Bytes.Describe(choice)}, neither negTokenInit [0] nor negTokenResp [1]");
        }
        reader.ThrowIfNotEmpty();
        return result;
    }

    private static SpnegoNegTokenInit ParseInit(AsnReader seq)
    {
        var mechs = new List<string>();
        ReadOnlyMemory<byte>? mechToken = null;
        bool mic = false;
        while (seq.HasData)
        {
            var tag = seq.PeekTag();
            var field = seq.ReadSequence(ExpectExplicit(tag, "negTokenInit"));
            switch (tag.TagValue)
            {
                case 0:
                    var list = field.ReadSequence();
                    while (list.HasData)
                    {
                        if (mechs.Count == SpnegoToken.MaxMechTypes)
                        {
                            throw new AsnContentException($"mechTypes lists more than {SpnegoToken.MaxMechTypes} mechanisms");
                        }
                        mechs.Add(list.ReadObjectIdentifier());
                    }
                    break;
                case 1:
                    field.ReadBitString(out _); // reqFlags, deprecated (RFC 4178 4.2.1)
                    break;
                case 2:
                    mechToken = Asn1Bytes.ReadOctets(field, TsRequest.MaxNegoTokenLength, "mechToken");
                    break;
                case 3 when field.PeekTag().HasSameClassAndValue(Asn1Tag.PrimitiveOctetString):
                    mic = true; // RFC 4178 mechListMIC
                    field.ReadEncodedValue();
                    break;
                case 4:
                    mic = true; // MS-SPNG NegTokenInit2 mechListMIC
                    field.ReadEncodedValue();
                    break;
                default:
                    field.ReadEncodedValue(); // negHints [3] (NegTokenInit2) or an extension
                    break;
            }
            field.ThrowIfNotEmpty();
        }
        return new SpnegoNegTokenInit(mechs, mechToken, mic);
    }

    private static SpnegoNegTokenResp ParseResp(AsnReader seq)
    {
        SpnegoNegState? state = null;
        string? mech = null;
        ReadOnlyMemory<byte>? response = null;
        bool mic = false;
        while (seq.HasData)
        {
            var tag = seq.PeekTag();
            var field = seq.ReadSequence(ExpectExplicit(tag, "negTokenResp"));
            switch (tag.TagValue)
            {
                case 0:
                    var value = field.ReadEnumeratedBytes().Span;
                    if (value.Length > 1)
                    {
                        throw new AsnContentException("negState does not fit in one byte");
                    }
                    state = (SpnegoNegState)(sbyte)value[0];
                    break;
                case 1:
                    mech = field.ReadObjectIdentifier();
                    break;
                case 2:
                    response = Asn1Bytes.ReadOctets(field, TsRequest.MaxNegoTokenLength, "responseToken");
                    break;
                case 3:
                    mic = true;
                    field.ReadEncodedValue();
                    break;
                default:
                    field.ReadEncodedValue();
                    break;
            }
            field.ThrowIfNotEmpty();
        }
        return new SpnegoNegTokenResp(state, mech, response, mic);
    }

    private static Asn1Tag ExpectExplicit(Asn1Tag tag, string structure)
    {
        if (tag.TagClass != TagClass.ContextSpecific || !tag.IsConstructed)
        {
            throw new AsnContentException($"{structure} holds {Asn1Bytes.Describe(tag)} where an explicit context tag belongs");
        }
        return tag;
    }
}
