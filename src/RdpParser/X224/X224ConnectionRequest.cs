using System.Buffers.Binary;
using System.Text;

namespace RdpWire.RdpParser.X224;

/// <summary>MS-RDPBCGR 2.2.1.1.1 RDP_NEG_REQ.</summary>
public readonly record struct RdpNegRequest(NegRequestFlags Flags, ushort Length, SecurityProtocols RequestedProtocols)
{
    public const int Size = 8;
}

/// <summary>
/// MS-RDPBCGR 2.2.1.1 Client X.224 Connection Request PDU: TPKT, x224Crq (X.224 13.3),
/// then an optional routingToken or cookie ("Cookie: mstshash=IDENTIFIER\r\n"), an optional
/// RDP_NEG_REQ and an optional RDP_NEG_CORRELATION_INFO (2.2.1.1.2).
/// </summary>
public sealed class X224ConnectionRequest
{
    private const string CookiePrefix = "Cookie: mstshash=";

    public required byte LengthIndicator { get; init; }
    public required ushort DestinationReference { get; init; }
    public required ushort SourceReference { get; init; }
    public required byte ClassOptions { get; init; }

    /// <summary>The mstshash identifier (usually the user name, truncated by the client), or null.</summary>
    public string? Cookie { get; init; }

    /// <summary>The routing token text without its CR LF (load-balancer token, e.g. "Cookie: msts=..."), or null.</summary>
    public string? RoutingToken { get; init; }

    public RdpNegRequest? NegotiationRequest { get; init; }

    /// <summary>RDP_NEG_CORRELATION_INFO correlationId, when present.</summary>
    public Guid? CorrelationId { get; init; }

    /// <summary>Ways the PDU breaks the spec; empty for a well-formed request.</summary>
    public IReadOnlyList<string> Violations { get; init; } = [];

    /// <summary>Requested protocols as the server must read them: PROTOCOL_RDP when no RDP_NEG_REQ is present.</summary>
    public SecurityProtocols RequestedProtocols => NegotiationRequest?.RequestedProtocols ?? SecurityProtocols.Rdp;

    /// <summary>
    /// Parses one whole TPKT packet whose X.224 code is CR. The fixed part must be present
    /// (the caller checked the code); everything after it is read defensively.
    /// </summary>
    public static X224ConnectionRequest Parse(ReadOnlySpan<byte> tpktPacket)
    {
        var violations = new List<string>();
        var x224 = tpktPacket[4..];
        byte li = x224[0];
        // X.224 13.3: LI counts the octets after itself: 6 fixed octets plus the variable part.
        if (li + 1 != x224.Length)
        {
            violations.Add($"X.224 length indicator {li} does not match the {x224.Length - 1} bytes the TPKT carries after it");
        }
        if (li < 6)
        {
            violations.Add($"X.224 length indicator {li} is shorter than the 6-byte Connection Request fixed part");
        }
        int fixedEnd = Math.Min(7, x224.Length);
        if (x224.Length < 7)
        {
            violations.Add("Connection Request is shorter than the 7-byte x224Crq header");
            return new X224ConnectionRequest
            {
                LengthIndicator = li, DestinationReference = 0, SourceReference = 0, ClassOptions = 0,
                Violations = violations,
            };
        }
        ushort dst = BinaryPrimitives.ReadUInt16BigEndian(x224[2..]);
        ushort src = BinaryPrimitives.ReadUInt16BigEndian(x224[4..]);
        byte classOptions = x224[6];
        if ((classOptions & 0xF0) != 0)
        {
            // MS-RDPBCGR 3.3.5.3.1: a request that is not Class 0 is dropped by the server.
            violations.Add($"Connection Request asks for X.224 class {classOptions >> 4}, RDP requires class 0");
        }

        var rest = x224[fixedEnd..];
        string? cookie = null;
        string? routingToken = null;
        if (rest.Length > 0 && rest[0] != (byte)RdpNegType.Request)
        {
            int crlf = rest.IndexOf("\r\n"u8);
            if (crlf < 0)
            {
                violations.Add("routing token or cookie is not terminated by CR LF");
                rest = default;
            }
            else
            {
                string text = Encoding.Latin1.GetString(rest[..crlf]);
                if (text.StartsWith(CookiePrefix, StringComparison.Ordinal))
                {
                    cookie = text[CookiePrefix.Length..];
                }
                else
                {
                    routingToken = text;
                }
                rest = rest[(crlf + 2)..];
            }
        }

        RdpNegRequest? negReq = null;
        Guid? correlationId = null;
        if (rest.Length > 0)
        {
            if (rest.Length < RdpNegRequest.Size || rest[0] != (byte)RdpNegType.Request)
            {
                violations.Add($"{rest.Length} bytes after the cookie are not an RDP_NEG_REQ (type 0x{rest[0]:X2})");
            }
            else
            {
                var req = new RdpNegRequest(
                    (NegRequestFlags)rest[1],
                    BinaryPrimitives.ReadUInt16LittleEndian(rest[2..]),
                    (SecurityProtocols)BinaryPrimitives.ReadUInt32LittleEndian(rest[4..]));
                negReq = req;
                if (req.Length != RdpNegRequest.Size)
                {
                    violations.Add($"RDP_NEG_REQ length field is {req.Length}, the spec fixes it at 8");
                }
                rest = rest[RdpNegRequest.Size..];
                if ((req.Flags & NegRequestFlags.CorrelationInfoPresent) != 0)
                {
                    // MS-RDPBCGR 2.2.1.1.2: type 0x06, flags 0, length 0x0024, 16-byte id, 16 reserved.
                    if (rest.Length >= 36 && rest[0] == (byte)RdpNegType.CorrelationInfo)
                    {
                        correlationId = new Guid(rest.Slice(4, 16));
                        rest = rest[36..];
                    }
                    else
                    {
                        violations.Add("CORRELATION_INFO_PRESENT is set but no 36-byte RDP_NEG_CORRELATION_INFO follows");
                    }
                }
                if (rest.Length > 0)
                {
                    violations.Add($"{rest.Length} unexpected bytes after the RDP_NEG_REQ");
                }
            }
        }

        return new X224ConnectionRequest
        {
            LengthIndicator = li,
            DestinationReference = dst,
            SourceReference = src,
            ClassOptions = classOptions,
            Cookie = cookie,
            RoutingToken = routingToken,
            NegotiationRequest = negReq,
            CorrelationId = correlationId,
            Violations = violations,
        };
    }
}
