using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace RdpWire.RdpParser.CredSsp;

/// <summary>MS-NLMP 2.2.1 MessageType.</summary>
public enum NtlmMessageType : uint
{
    /// <summary>2.2.1.1 NEGOTIATE_MESSAGE</summary>
    Negotiate = 0x00000001,
    /// <summary>2.2.1.2 CHALLENGE_MESSAGE</summary>
    Challenge = 0x00000002,
    /// <summary>2.2.1.3 AUTHENTICATE_MESSAGE</summary>
    Authenticate = 0x00000003,
}

/// <summary>MS-NLMP 2.2.2.5 NEGOTIATE flags (the letter is the spec's bit label).</summary>
[Flags]
public enum NtlmNegotiateFlags : uint
{
    None = 0,
    /// <summary>A: NTLMSSP_NEGOTIATE_UNICODE</summary>
    NegotiateUnicode = 0x00000001,
    /// <summary>B: NTLM_NEGOTIATE_OEM</summary>
    NegotiateOem = 0x00000002,
    /// <summary>C: NTLMSSP_REQUEST_TARGET</summary>
    RequestTarget = 0x00000004,
    /// <summary>D: NTLMSSP_NEGOTIATE_SIGN</summary>
    NegotiateSign = 0x00000010,
    /// <summary>E: NTLMSSP_NEGOTIATE_SEAL</summary>
    NegotiateSeal = 0x00000020,
    /// <summary>F: NTLMSSP_NEGOTIATE_DATAGRAM</summary>
    NegotiateDatagram = 0x00000040,
    /// <summary>G: NTLMSSP_NEGOTIATE_LM_KEY</summary>
    NegotiateLmKey = 0x00000080,
    /// <summary>H: NTLMSSP_NEGOTIATE_NTLM</summary>
    NegotiateNtlm = 0x00000200,
    /// <summary>J: anonymous connection (the spec gives no alternate name; spelled as Wireshark and FreeRDP do).</summary>
    NegotiateAnonymous = 0x00000800,
    /// <summary>K: NTLMSSP_NEGOTIATE_OEM_DOMAIN_SUPPLIED</summary>
    NegotiateOemDomainSupplied = 0x00001000,
    /// <summary>L: NTLMSSP_NEGOTIATE_OEM_WORKSTATION_SUPPLIED</summary>
    NegotiateOemWorkstationSupplied = 0x00002000,
    /// <summary>M: NTLMSSP_NEGOTIATE_ALWAYS_SIGN</summary>
    NegotiateAlwaysSign = 0x00008000,
    /// <summary>N: NTLMSSP_TARGET_TYPE_DOMAIN</summary>
    TargetTypeDomain = 0x00010000,
    /// <summary>O: NTLMSSP_TARGET_TYPE_SERVER</summary>
    TargetTypeServer = 0x00020000,
    /// <summary>P: NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY</summary>
    NegotiateExtendedSessionSecurity = 0x00080000,
    /// <summary>Q: NTLMSSP_NEGOTIATE_IDENTIFY</summary>
    NegotiateIdentify = 0x00100000,
    /// <summary>R: NTLMSSP_REQUEST_NON_NT_SESSION_KEY</summary>
    RequestNonNtSessionKey = 0x00400000,
    /// <summary>S: NTLMSSP_NEGOTIATE_TARGET_INFO</summary>
    NegotiateTargetInfo = 0x00800000,
    /// <summary>T: NTLMSSP_NEGOTIATE_VERSION</summary>
    NegotiateVersion = 0x02000000,
    /// <summary>U: NTLMSSP_NEGOTIATE_128</summary>
    Negotiate128 = 0x20000000,
    /// <summary>V: NTLMSSP_NEGOTIATE_KEY_EXCH</summary>
    NegotiateKeyExch = 0x40000000,
    /// <summary>W: NTLMSSP_NEGOTIATE_56</summary>
    Negotiate56 = 0x80000000,
}

/// <summary>MS-NLMP 2.2.2.1 AV_PAIR AvId.</summary>
public enum NtlmAvId : ushort
{
    MsvAvEOL = 0x0000,
    MsvAvNbComputerName = 0x0001,
    MsvAvNbDomainName = 0x0002,
    MsvAvDnsComputerName = 0x0003,
    MsvAvDnsDomainName = 0x0004,
    MsvAvDnsTreeName = 0x0005,
    MsvAvFlags = 0x0006,
    MsvAvTimestamp = 0x0007,
    MsvAvSingleHost = 0x0008,
    MsvAvTargetName = 0x0009,
    MsvAvChannelBindings = 0x000A,
}

/// <summary>MS-NLMP 2.2.2.1 MsvAvFlags bits.</summary>
[Flags]
public enum NtlmAvFlags : uint
{
    None = 0,
    /// <summary>The account authentication is constrained.</summary>
    AccountAuthenticationConstrained = 0x00000001,
    /// <summary>The client provides message integrity in the MIC field of the AUTHENTICATE_MESSAGE.</summary>
    MicPresent = 0x00000002,
    /// <summary>The client-supplied target name came from an untrusted source.</summary>
    UntrustedSpnSource = 0x00000004,
}

/// <summary>MS-NLMP 2.2.2.10 VERSION: the sender's OS version, for debugging only.</summary>
public readonly record struct NtlmVersion(byte ProductMajorVersion, byte ProductMinorVersion, ushort ProductBuild, byte NtlmRevisionCurrent)
{
    public const int Size = 8;

    /// <summary>"10.0.17763 (NTLM revision 15)".</summary>
    public override string ToString() =>
        $"{ProductMajorVersion}.{ProductMinorVersion}.{ProductBuild} (NTLM revision {NtlmRevisionCurrent})";

    internal static NtlmVersion Read(ReadOnlySpan<byte> b) =>
        new(b[0], b[1], BinaryPrimitives.ReadUInt16LittleEndian(b[2..]), b[7]);
}

/// <summary>
/// MS-NLMP 2.2.2.1 AV_PAIR, decoded: names (ids 1-5 and 9) as <see cref="Text"/>, MsvAvFlags as
/// <see cref="Flags"/>, MsvAvTimestamp as <see cref="Timestamp"/>; other values (channel bindings,
/// single host, unknown ids) as <see cref="Value"/>.
/// </summary>
public sealed record NtlmAvPair(NtlmAvId Id, int Length)
{
    public string? Text { get; init; }
    public NtlmAvFlags? Flags { get; init; }
    /// <summary>FILETIME as UTC, null when the value is not a representable FILETIME.</summary>
    public DateTime? Timestamp { get; init; }
    public byte[]? Value { get; init; }

    /// <summary>The spec's name ("MsvAvDnsComputerName"), or "AvId 0x000B" for an unknown id.</summary>
    public string Name => Enum.IsDefined(Id) ? Id.ToString() : $"AvId 0x{(ushort)Id:X4}";

    /// <summary>The value as a report shows it.</summary>
    public string ValueText => Id switch
    {
        _ when Text is not null => Text,
        _ when Flags is { } f => $"0x{(uint)f:X8}",
        _ when Timestamp is { } t => t.ToString("yyyy-MM-dd HH:mm:ss.fffffff 'UTC'", System.Globalization.CultureInfo.InvariantCulture),
        NtlmAvId.MsvAvChannelBindings when Value is { } v && v.All(b => b == 0) => "none (all zero)",
        _ => Value is null ? "" : Convert.ToHexString(Value),
    };
}

/// <summary>
/// An MS-NLMP 2.2.1 message: NEGOTIATE, CHALLENGE or AUTHENTICATE. Every payload field is
/// bounds-checked against the message; a field pointing outside it makes
/// <see cref="TryParse"/> return false. Softer problems land in <see cref="Violations"/>.
/// Challenge responses are measured, never kept (an NTLMv2 response is crackable material).
/// </summary>
public abstract record NtlmMessage
{
    public const int SignatureSize = 8;
    /// <summary>Messages longer than this are refused (the field lengths are 16-bit anyway).</summary>
    public const int MaxLength = 64 * 1024;
    /// <summary>At most this many AV_PAIRs are read from one list.</summary>
    public const int MaxAvPairs = 64;

    public static ReadOnlySpan<byte> Signature => "NTLMSSP\0"u8;

    public required NtlmMessageType MessageType { get; init; }
    public required NtlmNegotiateFlags NegotiateFlags { get; init; }
    /// <summary>2.2.2.10 VERSION, present when NTLMSSP_NEGOTIATE_VERSION is set and the header has room for it.</summary>
    public NtlmVersion? Version { get; init; }
    public IReadOnlyList<string> Violations { get; init; } = [];

    /// <summary>True when the UNICODE flag says payload strings are UTF-16LE.</summary>
    public bool IsUnicode => (NegotiateFlags & NtlmNegotiateFlags.NegotiateUnicode) != 0;

    /// <summary>The spec names of the flags set, in bit order; reserved bits as hex.</summary>
    public IReadOnlyList<string> FlagNames => NtlmNames.Flags(NegotiateFlags);

    /// <summary>One line for a report.</summary>
    public abstract string Describe();

    /// <summary>True when the bytes start with "NTLMSSP\0".</summary>
    public static bool HasSignature(ReadOnlySpan<byte> bytes) => bytes.StartsWith(Signature);

    /// <summary>Parses one NTLM message; never throws.</summary>
    public static bool TryParse(ReadOnlySpan<byte> message, [NotNullWhen(true)] out NtlmMessage? result, out string? error)
    {
        result = null;
        if (message.Length < 12)
        {
            error = $"{message.Length} bytes is shorter than the signature and MessageType";
            return false;
        }
        if (!HasSignature(message))
        {
            error = "no \"NTLMSSP\\0\" signature";
            return false;
        }
        if (message.Length > MaxLength)
        {
            error = $"{message.Length}-byte message is above the {MaxLength}-byte limit";
            return false;
        }
        uint type = BinaryPrimitives.ReadUInt32LittleEndian(message[8..]);
        var reader = new NtlmFieldReader(message);
        result = (NtlmMessageType)type switch
        {
            NtlmMessageType.Negotiate => NtlmNegotiateMessage.Parse(ref reader),
            NtlmMessageType.Challenge => NtlmChallengeMessage.Parse(ref reader),
            NtlmMessageType.Authenticate => NtlmAuthenticateMessage.Parse(ref reader),
            _ => null,
        };
        if (result is null)
        {
            error = reader.Error ?? $"MessageType 0x{type:X8} is not NEGOTIATE (1), CHALLENGE (2) or AUTHENTICATE (3)";
            return false;
        }
        error = null;
        return true;
    }

    /// <summary>Reads an AV_PAIR list (2.2.2.1), stopping at MsvAvEOL; problems become violations.</summary>
    internal static List<NtlmAvPair> ReadAvPairs(ReadOnlySpan<byte> list, string where, List<string> violations)
    {
        var pairs = new List<NtlmAvPair>();
        int pos = 0;
        while (true)
        {
            if (list.Length - pos < 4)
            {
                violations.Add($"{where} ends without MsvAvEOL");
                return pairs;
            }
            var id = (NtlmAvId)BinaryPrimitives.ReadUInt16LittleEndian(list[pos..]);
            int length = BinaryPrimitives.ReadUInt16LittleEndian(list[(pos + 2)..]);
            pos += 4;
            if (id == NtlmAvId.MsvAvEOL)
            {
                if (length != 0)
                {
                    violations.Add($"{where} MsvAvEOL has AvLen {length}, the spec requires 0");
                }
                return pairs;
            }
            if (length > list.Length - pos)
            {
                violations.Add($"{where} AV_PAIR {(ushort)id} claims {length} bytes, only {list.Length - pos} remain");
                return pairs;
            }
            if (pairs.Count == MaxAvPairs)
            {
                violations.Add($"{where} has more than {MaxAvPairs} AV_PAIRs; the rest are not read");
                return pairs;
            }
            pairs.Add(DecodeAvPair(id, list.Slice(pos, length), where, violations));
            pos += length;
        }
    }

    private static NtlmAvPair DecodeAvPair(NtlmAvId id, ReadOnlySpan<byte> value, string where, List<string> violations)
    {
        var pair = new NtlmAvPair(id, value.Length);
        switch (id)
        {
            case NtlmAvId.MsvAvNbComputerName or NtlmAvId.MsvAvNbDomainName or NtlmAvId.MsvAvDnsComputerName
                or NtlmAvId.MsvAvDnsDomainName or NtlmAvId.MsvAvDnsTreeName or NtlmAvId.MsvAvTargetName:
                return pair with { Text = Encoding.Unicode.GetString(value) };
            case NtlmAvId.MsvAvFlags when value.Length == 4:
                return pair with { Flags = (NtlmAvFlags)BinaryPrimitives.ReadUInt32LittleEndian(value) };
            case NtlmAvId.MsvAvTimestamp when value.Length == 8:
                long filetime = BinaryPrimitives.ReadInt64LittleEndian(value);
                if (filetime >= 0 && filetime <= MaxFileTime)
                {
                    return pair with { Timestamp = DateTime.FromFileTimeUtc(filetime) };
                }
                violations.Add($"{where} MsvAvTimestamp 0x{filetime:X16} is not a valid FILETIME");
                return pair with { Value = value.ToArray() };
            case NtlmAvId.MsvAvFlags or NtlmAvId.MsvAvTimestamp:
                violations.Add($"{where} {id} has {value.Length} bytes, the spec fixes {(id == NtlmAvId.MsvAvFlags ? 4 : 8)}");
                return pair with { Value = value.ToArray() };
            default:
                return pair with { Value = value.ToArray() };
        }
    }

    private static readonly long MaxFileTime = DateTime.MaxValue.ToFileTimeUtc();

    internal static string? Join(string? domain, string? name) =>
        string.IsNullOrEmpty(domain) ? name : string.IsNullOrEmpty(name) ? domain : $"{domain}\\{name}";
}

/// <summary>MS-NLMP 2.2.1.1 NEGOTIATE_MESSAGE: the client's capabilities, optional OEM domain and workstation.</summary>
public sealed record NtlmNegotiateMessage : NtlmMessage
{
    // Signature, MessageType, NegotiateFlags, DomainNameFields, WorkstationFields.
    private const int HeaderSize = 32;
    private const int MinimumSize = 16;

    /// <summary>DomainName (OEM), when NTLMSSP_NEGOTIATE_OEM_DOMAIN_SUPPLIED is set.</summary>
    public string? DomainName { get; init; }
    /// <summary>Workstation (OEM), when NTLMSSP_NEGOTIATE_OEM_WORKSTATION_SUPPLIED is set.</summary>
    public string? Workstation { get; init; }

    /// <summary>"NTLM NEGOTIATE from DOMAIN\WS, client version 10.0.17763 (NTLM revision 15)".</summary>
    public override string Describe()
    {
        var text = new StringBuilder("NTLM NEGOTIATE");
        if (Join(DomainName, Workstation) is { Length: > 0 } from)
        {
            text.Append(" from ").Append(from);
        }
        if (Version is { } v)
        {
            text.Append(", client version ").Append(v);
        }
        return text.ToString();
    }

    internal static NtlmNegotiateMessage? Parse(ref NtlmFieldReader r)
    {
        var m = r.Message;
        if (m.Length < MinimumSize)
        {
            r.Error = $"NEGOTIATE_MESSAGE is {m.Length} bytes, shorter than its 16-byte fixed part";
            return null;
        }
        var flags = (NtlmNegotiateFlags)BinaryPrimitives.ReadUInt32LittleEndian(m[12..]);
        var violations = new List<string>();
        string? domain = null, workstation = null;
        if (m.Length < HeaderSize)
        {
            violations.Add($"NEGOTIATE_MESSAGE is {m.Length} bytes, without the DomainName and Workstation fields");
        }
        else
        {
            if (!r.TryField(16, "DomainName", out var d) || !r.TryField(24, "Workstation", out var w))
            {
                return null;
            }
            // 2.2.1.1: both names are OEM whatever the UNICODE flag says.
            if ((flags & NtlmNegotiateFlags.NegotiateOemDomainSupplied) != 0)
            {
                domain = Encoding.Latin1.GetString(d);
            }
            if ((flags & NtlmNegotiateFlags.NegotiateOemWorkstationSupplied) != 0)
            {
                workstation = Encoding.Latin1.GetString(w);
            }
        }
        return new NtlmNegotiateMessage
        {
            MessageType = NtlmMessageType.Negotiate,
            NegotiateFlags = flags,
            Version = r.TryVersion(HeaderSize, flags, violations),
            DomainName = domain,
            Workstation = workstation,
            Violations = violations,
        };
    }
}

/// <summary>
/// MS-NLMP 2.2.1.2 CHALLENGE_MESSAGE: the server's challenge, TargetName and TargetInfo, whose
/// AV_PAIRs name the server (what nmap's rdp-ntlm-info reads).
/// </summary>
public sealed record NtlmChallengeMessage : NtlmMessage
{
    // Signature, MessageType, TargetNameFields, NegotiateFlags, ServerChallenge, Reserved, TargetInfoFields.
    private const int HeaderSize = 48;
    private const int MinimumSize = 32;

    public string? TargetName { get; init; }
    /// <summary>ServerChallenge, as the hex a packet viewer shows.</summary>
    public required string ServerChallenge { get; init; }
    public IReadOnlyList<NtlmAvPair> TargetInfo { get; init; } = [];

    public string? NbComputerName => Text(NtlmAvId.MsvAvNbComputerName);
    public string? NbDomainName => Text(NtlmAvId.MsvAvNbDomainName);
    public string? DnsComputerName => Text(NtlmAvId.MsvAvDnsComputerName);
    public string? DnsDomainName => Text(NtlmAvId.MsvAvDnsDomainName);
    public string? DnsTreeName => Text(NtlmAvId.MsvAvDnsTreeName);
    public DateTime? Timestamp => TargetInfo.FirstOrDefault(p => p.Id == NtlmAvId.MsvAvTimestamp)?.Timestamp;

    private string? Text(NtlmAvId id) => TargetInfo.FirstOrDefault(p => p.Id == id)?.Text;

    /// <summary>"NTLM CHALLENGE from DOMAIN\SERVER (server.domain.com), server version 10.0.17763 (NTLM revision 15)".</summary>
    public override string Describe()
    {
        var text = new StringBuilder("NTLM CHALLENGE");
        string? from = Join(NbDomainName, NbComputerName) ?? TargetName;
        if (!string.IsNullOrEmpty(from))
        {
            text.Append(" from ").Append(from);
        }
        if (!string.IsNullOrEmpty(DnsComputerName))
        {
            text.Append(" (").Append(DnsComputerName).Append(')');
        }
        if (Version is { } v)
        {
            text.Append(", server version ").Append(v);
        }
        return text.ToString();
    }

    internal static NtlmChallengeMessage? Parse(ref NtlmFieldReader r)
    {
        var m = r.Message;
        if (m.Length < MinimumSize)
        {
            r.Error = $"CHALLENGE_MESSAGE is {m.Length} bytes, shorter than its 32-byte fixed part";
            return null;
        }
        var violations = new List<string>();
        var flags = (NtlmNegotiateFlags)BinaryPrimitives.ReadUInt32LittleEndian(m[20..]);
        if (!r.TryField(12, "TargetName", out var targetName))
        {
            return null;
        }
        string challenge = Convert.ToHexString(m.Slice(24, 8));
        List<NtlmAvPair> targetInfo = [];
        if (m.Length < HeaderSize)
        {
            violations.Add($"CHALLENGE_MESSAGE is {m.Length} bytes, without the TargetInfo field");
        }
        else
        {
            if (!r.TryField(40, "TargetInfo", out var info))
            {
                return null;
            }
            if (!info.IsEmpty)
            {
                targetInfo = ReadAvPairs(info, "TargetInfo", violations);
            }
            else if ((flags & NtlmNegotiateFlags.NegotiateTargetInfo) != 0)
            {
                violations.Add("NTLMSSP_NEGOTIATE_TARGET_INFO is set but TargetInfo is empty");
            }
        }
        return new NtlmChallengeMessage
        {
            MessageType = NtlmMessageType.Challenge,
            NegotiateFlags = flags,
            Version = r.TryVersion(HeaderSize, flags, violations),
            TargetName = targetName.IsEmpty ? null : r.DecodeString(targetName, flags),
            ServerChallenge = challenge,
            TargetInfo = targetInfo,
            Violations = violations,
        };
    }
}

/// <summary>How the client answered the challenge (MS-NLMP 3.3), judged by NtChallengeResponse's length.</summary>
public enum NtlmResponseKind
{
    /// <summary>Empty NT response: anonymous authentication (3.2.5.1.2).</summary>
    Anonymous,
    /// <summary>24-byte NT response (2.2.2.6 NTLM v1 Response).</summary>
    NtlmV1,
    /// <summary>Longer NT response (2.2.2.8 NTLMv2_RESPONSE).</summary>
    NtlmV2,
    /// <summary>A length that is neither 24 nor long enough for NTLMv2.</summary>
    Unknown,
}

/// <summary>
/// MS-NLMP 2.2.1.3 AUTHENTICATE_MESSAGE: who is logging on from where, and how. The LM/NT
/// responses and the encrypted session key are measured only. For NTLMv2 the client's own
/// AV_PAIRs (2.2.2.7, inside the NT response) are decoded: they carry MsvAvFlags (MIC), the
/// channel bindings hash and the target name the client thinks it is talking to.
/// </summary>
public sealed record NtlmAuthenticateMessage : NtlmMessage
{
    // Signature, MessageType, Lm/Nt/Domain/User/Workstation/EncryptedRandomSessionKey fields, NegotiateFlags.
    private const int HeaderSize = 64;
    private const int MicOffset = HeaderSize + NtlmVersion.Size;
    private const int MicSize = 16;
    private const int NtlmV1ResponseSize = 24;
    // 2.2.2.8: Response (16) then 2.2.2.7 NTLMv2_CLIENT_CHALLENGE: RespType, HiRespType, Reserved1 (2),
    // Reserved2 (4), TimeStamp (8), ChallengeFromClient (8), Reserved3 (4), AvPairs.
    private const int NtlmV2TimestampOffset = 16 + 8;
    private const int NtlmV2AvPairsOffset = 16 + 28;

    public string? DomainName { get; init; }
    public string? UserName { get; init; }
    public string? Workstation { get; init; }
    public int LmChallengeResponseLength { get; init; }
    public int NtChallengeResponseLength { get; init; }
    public int EncryptedRandomSessionKeyLength { get; init; }
    public NtlmResponseKind ResponseKind { get; init; }
    /// <summary>True when the client announces a MIC (MsvAvFlags bit 0x2) and the header has room for it.</summary>
    public bool MicPresent { get; init; }
    /// <summary>The NTLMv2 client challenge's TimeStamp, or null.</summary>
    public DateTime? ClientTimestamp { get; init; }
    /// <summary>The AV_PAIRs inside an NTLMv2 response; empty for NTLMv1.</summary>
    public IReadOnlyList<NtlmAvPair> ClientTargetInfo { get; init; } = [];

    public bool IsAnonymous => ResponseKind == NtlmResponseKind.Anonymous
        || (NegotiateFlags & NtlmNegotiateFlags.NegotiateAnonymous) != 0;

    /// <summary>"DOMAIN\user" (or "user").</summary>
    public string? Account => Join(DomainName, UserName);

    /// <summary>"NTLM AUTHENTICATE for DOMAIN\user from WORKSTATION, NTLMv2".</summary>
    public override string Describe()
    {
        var text = new StringBuilder("NTLM AUTHENTICATE");
        if (IsAnonymous && string.IsNullOrEmpty(UserName))
        {
            text.Append(" (anonymous)");
        }
        else if (Account is { Length: > 0 } account)
        {
            text.Append(" for ").Append(account);
        }
        if (!string.IsNullOrEmpty(Workstation))
        {
            text.Append(" from ").Append(Workstation);
        }
        text.Append(", ").Append(ResponseKind switch
        {
            NtlmResponseKind.NtlmV1 => "NTLMv1",
            NtlmResponseKind.NtlmV2 => "NTLMv2",
            NtlmResponseKind.Anonymous => "no NT response",
            _ => $"{NtChallengeResponseLength}-byte NT response",
        });
        return text.ToString();
    }

    internal static NtlmAuthenticateMessage? Parse(ref NtlmFieldReader r)
    {
        var m = r.Message;
        if (m.Length < HeaderSize)
        {
            r.Error = $"AUTHENTICATE_MESSAGE is {m.Length} bytes, shorter than its 64-byte fixed part";
            return null;
        }
        var flags = (NtlmNegotiateFlags)BinaryPrimitives.ReadUInt32LittleEndian(m[60..]);
        if (!r.TryField(12, "LmChallengeResponse", out var lm) || !r.TryField(20, "NtChallengeResponse", out var nt)
            || !r.TryField(28, "DomainName", out var domain) || !r.TryField(36, "UserName", out var user)
            || !r.TryField(44, "Workstation", out var workstation)
            || !r.TryField(52, "EncryptedRandomSessionKey", out var sessionKey))
        {
            return null;
        }
        var violations = new List<string>();
        var kind = nt.Length switch
        {
            0 => NtlmResponseKind.Anonymous,
            NtlmV1ResponseSize => NtlmResponseKind.NtlmV1,
            >= NtlmV2AvPairsOffset => NtlmResponseKind.NtlmV2,
            _ => NtlmResponseKind.Unknown,
        };
        List<NtlmAvPair> clientInfo = [];
        DateTime? clientTime = null;
        if (kind == NtlmResponseKind.NtlmV2)
        {
            long filetime = BinaryPrimitives.ReadInt64LittleEndian(nt[NtlmV2TimestampOffset..]);
            if (filetime >= 0 && filetime <= DateTime.MaxValue.ToFileTimeUtc())
            {
                clientTime = DateTime.FromFileTimeUtc(filetime);
            }
            clientInfo = ReadAvPairs(nt[NtlmV2AvPairsOffset..], "NTLMv2 response AvPairs", violations);
        }
        var avFlags = clientInfo.FirstOrDefault(p => p.Id == NtlmAvId.MsvAvFlags)?.Flags ?? NtlmAvFlags.None;
        bool micAnnounced = (avFlags & NtlmAvFlags.MicPresent) != 0;
        bool micRoom = r.PayloadStart >= MicOffset + MicSize && m.Length >= MicOffset + MicSize;
        if (micAnnounced && !micRoom)
        {
            violations.Add($"MsvAvFlags announces a MIC but the payload starts at offset {r.PayloadStart}, inside the MIC field");
        }
        return new NtlmAuthenticateMessage
        {
            MessageType = NtlmMessageType.Authenticate,
            NegotiateFlags = flags,
            Version = r.TryVersion(HeaderSize, flags, violations),
            DomainName = domain.IsEmpty ? null : r.DecodeString(domain, flags),
            UserName = user.IsEmpty ? null : r.DecodeString(user, flags),
            Workstation = workstation.IsEmpty ? null : r.DecodeString(workstation, flags),
            LmChallengeResponseLength = lm.Length,
            NtChallengeResponseLength = nt.Length,
            EncryptedRandomSessionKeyLength = sessionKey.Length,
            ResponseKind = kind,
            MicPresent = micAnnounced && micRoom,
            ClientTimestamp = clientTime,
            ClientTargetInfo = clientInfo,
            Violations = violations,
        };
    }
}

/// <summary>
/// Reads MS-NLMP 2.2 "…Fields" descriptors (Len u16, MaxLen u16, BufferOffset u32) against the
/// message, remembering where the earliest payload starts (which tells whether the optional
/// Version and MIC fields have room in the header).
/// </summary>
internal ref struct NtlmFieldReader(ReadOnlySpan<byte> message)
{
    public ReadOnlySpan<byte> Message = message;
    public string? Error;
    /// <summary>Offset of the earliest non-empty payload field (the message length when there is none).</summary>
    public int PayloadStart = message.Length;

    public bool TryField(int descriptorOffset, string name, out ReadOnlySpan<byte> value)
    {
        value = default;
        ushort length = BinaryPrimitives.ReadUInt16LittleEndian(Message[descriptorOffset..]);
        uint offset = BinaryPrimitives.ReadUInt32LittleEndian(Message[(descriptorOffset + 4)..]);
        if (length == 0)
        {
            return true;
        }
        if (offset > (uint)Message.Length || length > Message.Length - offset)
        {
            Error = $"{name} (offset {offset}, length {length}) points outside the {Message.Length}-byte message";
            return false;
        }
        value = Message.Slice((int)offset, length);
        PayloadStart = Math.Min(PayloadStart, (int)offset);
        return true;
    }

    /// <summary>2.2.2.10 VERSION at <paramref name="offset"/> when the flag is set and nothing overlaps it.</summary>
    public readonly NtlmVersion? TryVersion(int offset, NtlmNegotiateFlags flags, List<string> violations)
    {
        if ((flags & NtlmNegotiateFlags.NegotiateVersion) == 0)
        {
            return null;
        }
        if (Message.Length < offset + NtlmVersion.Size || PayloadStart < offset + NtlmVersion.Size)
        {
            violations.Add("NTLMSSP_NEGOTIATE_VERSION is set but the header has no room for the Version field");
            return null;
        }
        return NtlmVersion.Read(Message.Slice(offset, NtlmVersion.Size));
    }

    /// <summary>UTF-16LE when UNICODE is negotiated (2.2), else OEM (read as Latin-1).</summary>
    public readonly string DecodeString(ReadOnlySpan<byte> bytes, NtlmNegotiateFlags flags) =>
        (flags & NtlmNegotiateFlags.NegotiateUnicode) != 0 ? Encoding.Unicode.GetString(bytes) : Encoding.Latin1.GetString(bytes);
}

/// <summary>The spec's own spelling of NTLM constants, for reports.</summary>
public static class NtlmNames
{
    private static readonly (NtlmNegotiateFlags Flag, string Name)[] FlagNames =
    [
        (NtlmNegotiateFlags.NegotiateUnicode, "NTLMSSP_NEGOTIATE_UNICODE"),
        (NtlmNegotiateFlags.NegotiateOem, "NTLM_NEGOTIATE_OEM"),
        (NtlmNegotiateFlags.RequestTarget, "NTLMSSP_REQUEST_TARGET"),
        (NtlmNegotiateFlags.NegotiateSign, "NTLMSSP_NEGOTIATE_SIGN"),
        (NtlmNegotiateFlags.NegotiateSeal, "NTLMSSP_NEGOTIATE_SEAL"),
        (NtlmNegotiateFlags.NegotiateDatagram, "NTLMSSP_NEGOTIATE_DATAGRAM"),
        (NtlmNegotiateFlags.NegotiateLmKey, "NTLMSSP_NEGOTIATE_LM_KEY"),
        (NtlmNegotiateFlags.NegotiateNtlm, "NTLMSSP_NEGOTIATE_NTLM"),
        (NtlmNegotiateFlags.NegotiateAnonymous, "NTLMSSP_NEGOTIATE_ANONYMOUS"),
        (NtlmNegotiateFlags.NegotiateOemDomainSupplied, "NTLMSSP_NEGOTIATE_OEM_DOMAIN_SUPPLIED"),
        (NtlmNegotiateFlags.NegotiateOemWorkstationSupplied, "NTLMSSP_NEGOTIATE_OEM_WORKSTATION_SUPPLIED"),
        (NtlmNegotiateFlags.NegotiateAlwaysSign, "NTLMSSP_NEGOTIATE_ALWAYS_SIGN"),
        (NtlmNegotiateFlags.TargetTypeDomain, "NTLMSSP_TARGET_TYPE_DOMAIN"),
        (NtlmNegotiateFlags.TargetTypeServer, "NTLMSSP_TARGET_TYPE_SERVER"),
        (NtlmNegotiateFlags.NegotiateExtendedSessionSecurity, "NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY"),
        (NtlmNegotiateFlags.NegotiateIdentify, "NTLMSSP_NEGOTIATE_IDENTIFY"),
        (NtlmNegotiateFlags.RequestNonNtSessionKey, "NTLMSSP_REQUEST_NON_NT_SESSION_KEY"),
        (NtlmNegotiateFlags.NegotiateTargetInfo, "NTLMSSP_NEGOTIATE_TARGET_INFO"),
        (NtlmNegotiateFlags.NegotiateVersion, "NTLMSSP_NEGOTIATE_VERSION"),
        (NtlmNegotiateFlags.Negotiate128, "NTLMSSP_NEGOTIATE_128"),
        (NtlmNegotiateFlags.NegotiateKeyExch, "NTLMSSP_NEGOTIATE_KEY_EXCH"),
        (NtlmNegotiateFlags.Negotiate56, "NTLMSSP_NEGOTIATE_56"),
    ];

    /// <summary>Names of the bits set, in bit order; reserved bits as hex.</summary>
    public static IReadOnlyList<string> Flags(NtlmNegotiateFlags flags) => SpecFlags.Names(flags, FlagNames, 8);

    public static string MessageType(NtlmMessageType type) => type switch
    {
        NtlmMessageType.Negotiate => "NEGOTIATE_MESSAGE",
        NtlmMessageType.Challenge => "CHALLENGE_MESSAGE",
        NtlmMessageType.Authenticate => "AUTHENTICATE_MESSAGE",
        _ => $"0x{(uint)type:X8}",
    };
}
