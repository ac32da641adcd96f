using System.Buffers.Binary;

namespace RdpWire.RdpParser.X224;

/// <summary>MS-RDPBCGR 2.2.1.2.1 RDP_NEG_RSP.</summary>
public readonly record struct RdpNegResponse(NegResponseFlags Flags, ushort Length, SecurityProtocols SelectedProtocol);

/// <summary>MS-RDPBCGR 2.2.1.2.2 RDP_NEG_FAILURE.</summary>
public readonly record struct RdpNegFailure(byte Flags, ushort Length, NegFailureCode FailureCode);

/// <summary>
/// MS-RDPBCGR 2.2.1.2 Server X.224 Connection Confirm PDU: TPKT, x224Ccf (X.224 13.4),
/// then an optional 8-byte RDP_NEG_RSP or RDP_NEG_FAILURE.
/// </summary>
public sealed class X224ConnectionConfirm
{
    public const int NegDataSize = 8;

    public required byte LengthIndicator { get; init; }
    public required ushort DestinationReference { get; init; }
    public required ushort SourceReference { get; init; }
    public required byte ClassOptions { get; init; }
    public RdpNegResponse? NegotiationResponse { get; init; }
    public RdpNegFailure? NegotiationFailure { get; init; }
    public IReadOnlyList<string> Violations { get; init; } = [];

    /// <summary>
    /// The protocol the server selected: RDP_NEG_RSP's value, or PROTOCOL_RDP when the confirm
    /// carries no negotiation data (2.2.1.2: only legal when the request carried none); null on failure.
    /// </summary>
    public SecurityProtocols? SelectedProtocol =>
        NegotiationFailure is not null ? null : NegotiationResponse?.SelectedProtocol ?? SecurityProtocols.Rdp;

    public static X224ConnectionConfirm Parse(ReadOnlySpan<byte> tpktPacket)
    {
        var violations = new List<string>();
        var x224 = tpktPacket[4..];
        byte li = x224[0];
        if (li + 1 != x224.Length)
        {
            violations.Add($"X.224 length indicator {li} does not match the {x224.Length - 1} bytes the TPKT carries after it");
        }
        if (x224.Length < 7)
        {
            violations.Add("Connection Confirm is shorter than the 7-byte x224Ccf header");
            return new X224ConnectionConfirm
            {
                LengthIndicator = li, DestinationReference = 0, SourceReference = 0, ClassOptions = 0,
                Violations = violations,
            };
        }
        ushort dst = BinaryPrimitives.ReadUInt16BigEndian(x224[2..]);
        ushort src = BinaryPrimitives.ReadUInt16BigEndian(x224[4..]);
        byte classOptions = x224[6];
        var rest = x224[7..];
        RdpNegResponse? rsp = null;
        RdpNegFailure? failure = null;
        if (rest.Length > 0)
        {
            if (rest.Length < NegDataSize)
            {
                violations.Add($"{rest.Length} bytes of negotiation data, the spec requires 8");
            }
            else
            {
                ushort length = BinaryPrimitives.ReadUInt16LittleEndian(rest[2..]);
                uint value = BinaryPrimitives.ReadUInt32LittleEndian(rest[4..]);
                switch ((RdpNegType)rest[0])
                {
                    case RdpNegType.Response:
                        rsp = new RdpNegResponse((NegResponseFlags)rest[1], length, (SecurityProtocols)value);
                        if (!IsSingleProtocol((SecurityProtocols)value))
                        {
                            violations.Add($"RDP_NEG_RSP selectedProtocol 0x{value:X8} is not one protocol");
                        }
                        break;
                    case RdpNegType.Failure:
                        failure = new RdpNegFailure(rest[1], length, (NegFailureCode)value);
                        if (value is < 1 or > 6)
                        {
                            violations.Add($"RDP_NEG_FAILURE failureCode 0x{value:X8} is not defined by MS-RDPBCGR 2.2.1.2.2");
                        }
                        break;
                    default:
                        violations.Add($"negotiation data type 0x{rest[0]:X2} is neither RDP_NEG_RSP (0x02) nor RDP_NEG_FAILURE (0x03)");
                        break;
                }
                if ((rsp is not null || failure is not null) && length != NegDataSize)
                {
                    violations.Add($"negotiation data length field is {length}, the spec fixes it at 8");
                }
                if (rest.Length > NegDataSize)
                {
                    violations.Add($"{rest.Length - NegDataSize} unexpected bytes after the negotiation data");
                }
            }
        }
        return new X224ConnectionConfirm
        {
            LengthIndicator = li,
            DestinationReference = dst,
            SourceReference = src,
            ClassOptions = classOptions,
            NegotiationResponse = rsp,
            NegotiationFailure = failure,
            Violations = violations,
        };
    }

    private static bool IsSingleProtocol(SecurityProtocols p) => ((uint)p & ((uint)p - 1)) == 0;
}
