using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Formats.Asn1;

namespace RdpWire.RdpParser.CredSsp;

/// <summary>
/// MS-CSSP 2.2.1 TSRequest, the only message CredSSP sends (always inside the TLS channel):
/// <code>
/// TSRequest ::= SEQUENCE {
///   version     [0] INTEGER,
///   negoTokens  [1] NegoData OPTIONAL,      -- 2.2.1.1: SEQUENCE OF SEQUENCE { negoToken [0] OCTET STRING }
///   authInfo    [2] OCTET STRING OPTIONAL,  -- encrypted TSCredentials (2.2.1.2)
///   pubKeyAuth  [3] OCTET STRING OPTIONAL,
///   errorCode   [4] INTEGER OPTIONAL,       -- NTSTATUS, versions 3, 4 and 6
///   clientNonce [5] OCTET STRING OPTIONAL   -- versions 5 and 6
/// }
/// </code>
/// All tags are explicit. The spec requires DER (MS-CSSP 2.2.1); a BER-encoded request is still
/// read, and <see cref="IsDer"/> says which rules it needed. Byte fields are slices of one private
/// copy of the request, never of the caller's buffer.
/// </summary>
public sealed class TsRequest
{
    /// <summary>Requests longer than this are refused (real ones are a few KiB).</summary>
    public const int MaxLength = 1024 * 1024;
    /// <summary>NegoData with more entries than this is refused (real peers send one).</summary>
    public const int MaxNegoTokens = 16;
    /// <summary>A negoToken longer than this is refused.</summary>
    public const int MaxNegoTokenLength = 64 * 1024;
    /// <summary>MS-CSSP 2.2.1: valid versions are 2 to 6.</summary>
    public const int MinVersion = 2;
    public const int MaxKnownVersion = 6;

    /// <summary>version [0]. A peer advertising more than 6 is treated as 6 by the other side (2.2.1).</summary>
    public required int Version { get; init; }
    /// <summary>negoTokens [1]: each negoToken's bytes (SPNEGO, or raw NTLM/Kerberos messages), in order.</summary>
    public IReadOnlyList<ReadOnlyMemory<byte>> NegoTokens { get; init; } = [];
    /// <summary>authInfo [2]: TSCredentials encrypted with the SPNEGO session key, or null.</summary>
    public ReadOnlyMemory<byte>? AuthInfo { get; init; }
    /// <summary>pubKeyAuth [3]: the encrypted public key (v2-4) or binding hash (v5+), or null.</summary>
    public ReadOnlyMemory<byte>? PubKeyAuth { get; init; }
    /// <summary>errorCode [4]: the server's NTSTATUS, or null. See <see cref="NtStatus"/>.</summary>
    public uint? ErrorCode { get; init; }
    /// <summary>clientNonce [5]: 32 random bytes from a v5+ client, or null.</summary>
    public ReadOnlyMemory<byte>? ClientNonce { get; init; }
    /// <summary>Context tags beyond [5] that were present and skipped.</summary>
    public IReadOnlyList<int> UnknownFieldTags { get; init; } = [];
    /// <summary>False when the request only parsed under BER (e.g. non-minimal lengths).</summary>
    public bool IsDer { get; init; } = true;
    /// <summary>Bytes of the TSRequest element itself (trailing bytes after it are not part of it).</summary>
    public int EncodedLength { get; init; }

    /// <summary>The errorCode's NTSTATUS name ("STATUS_LOGON_FAILURE"), or null when absent.</summary>
    public string? ErrorCodeName => ErrorCode is uint code ? NtStatus.Name(code) : null;

    /// <summary>One line for a report: "TSRequest v6: 1 negoToken (NTLM), errorCode STATUS_LOGON_FAILURE (0xC000006D)".</summary>
    public string Describe()
    {
        var parts = new List<string>();
        if (NegoTokens.Count > 0)
        {
            var kinds = NegoTokens.Select(t => Spnego.KindName(Spnego.Classify(t.Span))).Distinct();
            parts.Add($"{NegoTokens.Count} negoToken{(NegoTokens.Count == 1 ? "" : "s")} ({string.Join(", ", kinds)})");
        }
        if (AuthInfo is { } auth)
        {
            parts.Add($"authInfo ({auth.Length} bytes)");
        }
        if (PubKeyAuth is { } pka)
        {
            parts.Add($"pubKeyAuth ({pka.Length} bytes)");
        }
        if (ClientNonce is { } nonce)
        {
            parts.Add($"clientNonce ({nonce.Length} bytes)");
        }
        if (ErrorCode is uint code)
        {
            parts.Add($"errorCode {NtStatus.Name(code)} (0x{code:X8})");
        }
        string body = parts.Count == 0 ? "no fields" : string.Join(", ", parts);
        return $"TSRequest v{Version}: {body}";
    }

    /// <summary>
    /// Cheap check for the first bytes of a TSRequest: <c>30</c>, a definite length, then
    /// <c>A0 03 02 01 0N</c> (version [0] INTEGER N) with N from 2 to 6.
    /// </summary>
    public static bool LooksLikeTsRequest(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < 2 || bytes[0] != Asn1Bytes.SequenceTag)
        {
            return false;
        }
        int header = bytes[1] switch
        {
            < 0x80 => 2,
            >= 0x81 and <= 0x84 => 2 + (bytes[1] - 0x80),
            _ => -1,
        };
        if (header < 0 || bytes.Length < header + 5)
        {
            return false;
        }
        var v = bytes.Slice(header, 5);
        return v[0] == 0xA0 && v[1] == 0x03 && v[2] == Asn1Bytes.IntegerTag && v[3] == 0x01
            && v[4] >= MinVersion && v[4] <= MaxKnownVersion;
    }

    /// <summary>
    /// The whole TSRequest element's length (tag + length + contents) once its header is in
    /// <paramref name="bytes"/>, for framing requests in a decrypted TLS stream; null when the
    /// header is incomplete, is not a SEQUENCE with a definite length, or announces more than
    /// <see cref="MaxLength"/>. Use <see cref="TryGetFrameLength"/> to tell those apart.
    /// </summary>
    public static int? TryGetLength(ReadOnlySpan<byte> bytes) =>
        TryGetFrameLength(bytes, out int length) == OperationStatus.Done ? length : null;

    /// <summary>
    /// <see cref="OperationStatus.Done"/> with the element length when the header is complete,
    /// <see cref="OperationStatus.NeedMoreData"/> when the header is cut short, and
    /// <see cref="OperationStatus.InvalidData"/> when this is not a definite-length SEQUENCE of at
    /// most <see cref="MaxLength"/> bytes. The contents need not have arrived yet.
    /// </summary>
    public static OperationStatus TryGetFrameLength(ReadOnlySpan<byte> bytes, out int length)
    {
        length = 0;
        if (bytes.IsEmpty)
        {
            return OperationStatus.NeedMoreData;
        }
        if (bytes[0] != Asn1Bytes.SequenceTag)
        {
            return OperationStatus.InvalidData;
        }
        if (bytes.Length < 2)
        {
            return OperationStatus.NeedMoreData;
        }
        byte first = bytes[1];
        long contents;
        int header;
        if (first < 0x80)
        {
            contents = first;
            header = 2;
        }
        else
        {
            int count = first - 0x80;
            if (count is 0 or > 4)
            {
                return OperationStatus.InvalidData; // indefinite (BER only) or absurd
            }
            header = 2 + count;
            if (bytes.Length < header)
            {
                return OperationStatus.NeedMoreData;
            }
            contents = 0;
            foreach (byte b in bytes.Slice(2, count))
            {
                contents = (contents << 8) | b;
            }
        }
        if (header + contents > MaxLength)
        {
            return OperationStatus.InvalidData;
        }
        length = (int)(header + contents);
        return OperationStatus.Done;
    }

    /// <summary>
    /// Parses one TSRequest from the start of <paramref name="der"/>. Returns false with a reason
    /// for truncated, oversized or malformed input; never throws.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> der, [NotNullWhen(true)] out TsRequest? request, out string? error,
        int maxDepth = DerNesting.DefaultMaxDepth)
    {
        if (!DerNesting.WithinDepth(der, maxDepth))
        {
            request = null;
            error = $"the TSRequest nests deeper than {maxDepth} levels: not decoded (RdpWire's ASN.1 nesting limit)";
            return false;
        }
        request = null;
        switch (TryGetFrameLength(der, out int length))
        {
            case OperationStatus.NeedMoreData:
                error = $"TSRequest header is cut short ({der.Length} bytes)";
                return false;
            case OperationStatus.Done when length > der.Length:
                error = $"TSRequest is cut short: {der.Length} of {length} bytes";
                return false;
            case OperationStatus.Done:
                der = der[..length];
                break;
            default:
                // An indefinite length is legal BER; anything else is not a TSRequest.
                if (der.Length < 2 || der[0] != Asn1Bytes.SequenceTag || der[1] != 0x80)
                {
                    error = der[0] != Asn1Bytes.SequenceTag
                        ? $"not a TSRequest: first byte 0x{der[0]:X2} is not a SEQUENCE"
                        : $"TSRequest length is invalid or above the {MaxLength}-byte limit";
                    return false;
                }
                if (der.Length > MaxLength)
                {
                    der = der[..MaxLength];
                }
                break;
        }
        byte[] copy = der.ToArray();
        return Asn1Bytes.TryParseDerThenBer(copy, Parse, out request, out error);
    }

    private static TsRequest Parse(ReadOnlyMemory<byte> encoded, AsnEncodingRules rules)
    {
        var outer = new AsnReader(encoded, rules);
        int encodedLength = outer.PeekEncodedValue().Length;
        var seq = outer.ReadSequence();
        int? version = null;
        var tokens = new List<ReadOnlyMemory<byte>>();
        ReadOnlyMemory<byte>? authInfo = null, pubKeyAuth = null, clientNonce = null;
        uint? errorCode = null;
        var unknown = new List<int>();
        int lastTag = -1;
        while (seq.HasData)
        {
            var tag = seq.PeekTag();
            if (tag.TagClass != TagClass.ContextSpecific || !tag.IsConstructed)
            {
                throw new AsnContentException($"TSRequest holds {Asn1Bytes.Describe(tag)} where an explicit context tag belongs");
            }
            if (tag.TagValue <= lastTag)
            {
                throw new AsnContentException($"TSRequest field [{tag.TagValue}] is repeated or out of order");
            }
            lastTag = tag.TagValue;
            var field = seq.ReadSequence(tag);
            switch (tag.TagValue)
            {
                case 0:
                    long v = Asn1Bytes.ReadInteger(field, "version");
                    if (v is < 0 or > int.MaxValue)
                    {
                        throw new AsnContentException($"TSRequest version {v} is out of range");
                    }
                    version = (int)v;
                    break;
                case 1:
                    ReadNegoData(field, tokens);
                    break;
                case 2:
                    authInfo = Asn1Bytes.ReadOctets(field, MaxLength, "authInfo");
                    break;
                case 3:
                    pubKeyAuth = Asn1Bytes.ReadOctets(field, MaxLength, "pubKeyAuth");
                    break;
                case 4:
                    errorCode = Asn1Bytes.ReadUInt32(field, "errorCode");
                    break;
                case 5:
                    clientNonce = Asn1Bytes.ReadOctets(field, MaxLength, "clientNonce");
                    break;
                default:
                    unknown.Add(tag.TagValue);
                    continue; // contents skipped
            }
            field.ThrowIfNotEmpty();
        }
        if (version is null)
        {
            throw new AsnContentException("TSRequest has no version [0]");
        }
        return new TsRequest
        {
            Version = version.Value,
            NegoTokens = tokens,
            AuthInfo = authInfo,
            PubKeyAuth = pubKeyAuth,
            ErrorCode = errorCode,
            ClientNonce = clientNonce,
            UnknownFieldTags = unknown,
            IsDer = rules == AsnEncodingRules.DER,
            EncodedLength = encodedLength,
        };
    }

    /// <summary>MS-CSSP 2.2.1.1 NegoData ::= SEQUENCE OF SEQUENCE { negoToken [0] OCTET STRING }.</summary>
    private static void ReadNegoData(AsnReader field, List<ReadOnlyMemory<byte>> tokens)
    {
        var list = field.ReadSequence();
        while (list.HasData)
        {
            if (tokens.Count == MaxNegoTokens)
            {
                throw new AsnContentException($"negoTokens has more than {MaxNegoTokens} entries");
            }
            var item = list.ReadSequence();
            var tokenField = item.ReadSequence(Asn1Bytes.Explicit(0));
            tokens.Add(Asn1Bytes.ReadOctets(tokenField, MaxNegoTokenLength, "negoToken"));
            tokenField.ThrowIfNotEmpty();
            item.ThrowIfNotEmpty();
        }
    }
}

/// <summary>X.690 helpers shared by the CredSSP and SPNEGO readers.</summary>
internal static class Asn1Bytes
{
    public const byte SequenceTag = 0x30;
    public const byte IntegerTag = 0x02;

    /// <summary>An explicit (constructed) context-specific tag [n].</summary>
    public static Asn1Tag Explicit(int n) => new(TagClass.ContextSpecific, n, isConstructed: true);

    public static string Describe(Asn1Tag tag) =>
        tag.TagClass == TagClass.Universal ? $"universal tag {tag.TagValue}" : $"{tag.TagClass} tag [{tag.TagValue}]";

    /// <summary>
    /// Runs <paramref name="parse"/> under DER and, if that fails, under BER. Malformed input
    /// (AsnContentException and the argument errors AsnReader raises for impossible encodings)
    /// becomes false with the BER attempt's reason.
    /// </summary>
    public static bool TryParseDerThenBer<T>(byte[] encoded, Func<ReadOnlyMemory<byte>, AsnEncodingRules, T> parse,
        [NotNullWhen(true)] out T? value, out string? error) where T : class
    {
        error = null;
        foreach (var rules in (ReadOnlySpan<AsnEncodingRules>)[AsnEncodingRules.DER, AsnEncodingRules.BER])
        {
            try
            {
                value = parse(encoded, rules);
                return true;
            }
            catch (Exception e) when (e is AsnContentException or ArgumentException or OverflowException or InvalidOperationException)
            {
                error = e.Message;
            }
        }
        value = null;
        return false;
    }

    /// <summary>An OCTET STRING's contents: a slice when primitive, a copy when BER-constructed.</summary>
    public static ReadOnlyMemory<byte> ReadOctets(AsnReader reader, int max, string field, Asn1Tag? tag = null)
    {
        ReadOnlyMemory<byte> contents = reader.TryReadPrimitiveOctetString(out var primitive, tag)
            ? primitive
            : reader.ReadOctetString(tag);
        if (contents.Length > max)
        {
            throw new AsnContentException($"{field} is {contents.Length} bytes, more than the {max} accepted");
        }
        return contents;
    }

    /// <summary>An INTEGER that fits in 64 bits.</summary>
    public static long ReadInteger(AsnReader reader, string field, Asn1Tag? tag = null)
    {
        var bytes = reader.ReadIntegerBytes(tag).Span;
        if (bytes.Length > 8)
        {
            throw new AsnContentException($"{field} is a {bytes.Length}-byte INTEGER");
        }
        long value = (sbyte)bytes[0];
        foreach (byte b in bytes[1..])
        {
            value = (value << 8) | b;
        }
        return value;
    }

    /// <summary>
    /// A 32-bit code such as an NTSTATUS, accepted both as a negative 4-byte INTEGER (how a signed
    /// 32-bit value encodes) and as a positive one of up to 5 bytes (how an unsigned one does).
    /// </summary>
    public static uint ReadUInt32(AsnReader reader, string field, Asn1Tag? tag = null)
    {
        long value = ReadInteger(reader, field, tag);
        if (value < int.MinValue || value > uint.MaxValue)
        {
            throw new AsnContentException($"{field} {value} does not fit in 32 bits");
        }
        return unchecked((uint)value);
    }
}
