using RdpWire.RdpParser.X224;
using Xunit;

using static RdpWire.Tests.Support.HandMadeBytes;

namespace RdpWire.Tests.RdpParser;

/// <summary>
/// Boundary and malformed-input tests of the X.224 negotiation PDUs. The byte strings are
/// hand-made (named so); real peers' PDUs are covered by the fixture and corpus tests.
/// </summary>
public class X224NegotiationTests
{

    /// <summary>TPKT + x224Crq (class 0) around the given variable part, lengths filled in.</summary>
    private static byte[] ConnectionRequest(params byte[][] variableParts)
    {
        var pdu = new List<byte> { 0x03, 0x00, 0x00, 0x00, 0x00, 0xE0, 0, 0, 0, 0, 0 };
        foreach (var part in variableParts)
        {
            pdu.AddRange(part);
        }
        pdu[3] = (byte)pdu.Count;
        pdu[4] = (byte)(pdu.Count - 5);
        return pdu.ToArray();
    }

    [Fact]
    public void HandMade_RequestWithCookieAndNegReq_AllFieldsNamed()
    {
        // Cookie "Cookie: mstshash=alice\r\n", RDP_NEG_REQ SSL|HYBRID|HYBRID_EX.
        var cr = X224ConnectionRequest.Parse(ConnectionRequest(
            "Cookie: mstshash=alice\r\n"u8.ToArray(), Hex("01 00 08 00 0B 00 00 00")));

        Assert.Equal("alice", cr.Cookie);
        Assert.Null(cr.RoutingToken);
        Assert.Equal(SecurityProtocols.Ssl | SecurityProtocols.Hybrid | SecurityProtocols.HybridEx, cr.RequestedProtocols);
        Assert.Equal(["SSL", "HYBRID", "HYBRID_EX"], RdpNegNames.Protocols(cr.RequestedProtocols));
        Assert.Empty(cr.Violations);
    }

    [Fact]
    public void HandMade_RequestWithRoutingTokenAndCorrelationInfo()
    {
        var cr = X224ConnectionRequest.Parse(ConnectionRequest(
            "Cookie: msts=3640205228.15629.0000\r\n"u8.ToArray(),
            Hex("01 08 08 00 03 00 00 00"),
            Hex("06 00 24 00"), Enumerable.Range(1, 16).Select(i => (byte)i).ToArray(), new byte[16]));

        Assert.Null(cr.Cookie);
        Assert.Equal("Cookie: msts=3640205228.15629.0000", cr.RoutingToken);
        Assert.Equal(["CORRELATION_INFO_PRESENT"], RdpNegNames.RequestFlags(cr.NegotiationRequest!.Value.Flags));
        Assert.NotNull(cr.CorrelationId);
        Assert.Empty(cr.Violations);
    }

    [Fact]
    public void HandMade_RequestWithoutNegReq_MeansStandardRdpSecurity()
    {
        var cr = X224ConnectionRequest.Parse(Hex("03 00 00 0B 06 E0 00 00 00 00 00"));
        Assert.Null(cr.NegotiationRequest);
        Assert.Equal(SecurityProtocols.Rdp, cr.RequestedProtocols);
        Assert.Equal(["RDP"], RdpNegNames.Protocols(cr.RequestedProtocols));
        Assert.Empty(cr.Violations);
    }

    [Fact]
    public void HandMade_MalformedRequest_ViolationsNamed()
    {
        // LI disagrees with the TPKT, class 4, cookie without CR LF.
        var cr = X224ConnectionRequest.Parse(Hex("03 00 00 12 20 E0 00 00 00 00 40 43 6F 6F 6B 69 65 3A"));
        Assert.Contains(cr.Violations, v => v.Contains("length indicator", StringComparison.Ordinal));
        Assert.Contains(cr.Violations, v => v.Contains("class 4", StringComparison.Ordinal));
        Assert.Contains(cr.Violations, v => v.Contains("CR LF", StringComparison.Ordinal));
    }

    [Fact]
    public void HandMade_NegReqWithWrongLength_IsAViolation()
    {
        var cr = X224ConnectionRequest.Parse(Hex("03 00 00 13 0E E0 00 00 00 00 00 01 00 09 00 03 00 00 00"));
        Assert.Contains(cr.Violations, v => v.Contains("length field is 9", StringComparison.Ordinal));
        Assert.Equal(SecurityProtocols.Ssl | SecurityProtocols.Hybrid, cr.RequestedProtocols);
    }

    [Fact]
    public void HandMade_ConfirmWithFailure_HybridRequiredByServer()
    {
        // The failure example of ../shared/docs/rdp-failure-reference.md 3.1.
        var cc = X224ConnectionConfirm.Parse(Hex("03 00 00 13 0E D0 00 00 12 34 00 03 00 08 00 05 00 00 00"));
        Assert.Equal(0x1234, cc.SourceReference);
        Assert.Equal(NegFailureCode.HybridRequiredByServer, cc.NegotiationFailure!.Value.FailureCode);
        Assert.Equal("HYBRID_REQUIRED_BY_SERVER", RdpNegNames.FailureCode(cc.NegotiationFailure.Value.FailureCode));
        Assert.Null(cc.SelectedProtocol);
        Assert.Empty(cc.Violations);
    }

    [Fact]
    public void HandMade_ConfirmWithResponse_SelectedAndFlags()
    {
        var cc = X224ConnectionConfirm.Parse(Hex("03 00 00 13 0E D0 00 00 12 34 00 02 1F 08 00 08 00 00 00"));
        Assert.Equal(SecurityProtocols.HybridEx, cc.SelectedProtocol);
        Assert.Equal(
            ["EXTENDED_CLIENT_DATA_SUPPORTED", "DYNVC_GFX_PROTOCOL_SUPPORTED", "NEGRSP_FLAG_RESERVED", "RESTRICTED_ADMIN_MODE_SUPPORTED", "REDIRECTED_AUTHENTICATION_MODE_SUPPORTED"],
            RdpNegNames.ResponseFlags(cc.NegotiationResponse!.Value.Flags));
    }

    [Theory]
    [InlineData("03 00 00 0B 06 D0 00 00 12 34 00", null, "RDP")]               // no negotiation data: Standard RDP Security
    [InlineData("03 00 00 13 0E D0 00 00 12 34 00 03 00 08 00 07 00 00 00", "not defined", null)]
    [InlineData("03 00 00 13 0E D0 00 00 12 34 00 09 00 08 00 01 00 00 00", "neither", null)]
    [InlineData("03 00 00 0F 0A D0 00 00 12 34 00 02 00 08 00", "4 bytes", null)]
    public void HandMade_ConfirmBoundaries(string hex, string? violation, string? selected)
    {
        var cc = X224ConnectionConfirm.Parse(Hex(hex));
        if (violation is null)
        {
            Assert.Empty(cc.Violations);
        }
        else
        {
            Assert.Contains(cc.Violations, v => v.Contains(violation, StringComparison.Ordinal));
        }
        if (selected is not null)
        {
            Assert.Equal(selected, RdpNegNames.SelectedProtocol(cc.SelectedProtocol!.Value));
        }
    }

    [Fact]
    public void HandMade_EveryPrefixOfARequest_ParsesWithoutThrowing()
    {
        var full = Hex("03 00 00 2A 25 E0 00 00 00 00 00 43 6F 6F 6B 69 65 3A 20 6D 73 74 73 68 61 73 68 3D 61 0D 0A 01 00 08 00 03 00 00 00 AA BB CC");
        for (int n = 6; n <= full.Length; n++)
        {
            var prefix = full[..n];
            var cr = X224ConnectionRequest.Parse(prefix);
            Assert.NotNull(cr);
            var cc = X224ConnectionConfirm.Parse(prefix);
            Assert.NotNull(cc);
        }
    }
}
