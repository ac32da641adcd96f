using RdpWire.Analyzer.Findings;
using RdpWire.RdpParser.Rdp;
using Xunit;

using static RdpWire.Tests.Support.HandMadeBytes;

namespace RdpWire.Tests.RdpParser;

/// <summary>Classification of RDP PDUs inside MCS Send Data, with hand-made PDUs (boundary cases).</summary>
public class SlowPathPduTests
{

    [Fact]
    public void HandMade_SetErrorInfo_ValueRead()
    {
        // Share Control (len 22, PDUTYPE_DATAPDU 0x17), Share Data Header with pduType2 47, errorInfo 0x00000007.
        var pdu = SlowPathPdu.Classify(Hex("1600 1700 EA03 EA030100 00 01 0400 2F 00 0000 07000000"));
        Assert.Equal(RdpPduKind.SetErrorInfo, pdu.Kind);
        Assert.Equal(7u, pdu.Value);
        Assert.Equal("ERRINFO_SERVER_DENIED_CONNECTION", ErrorInfoTable.Name(7));
    }

    [Fact]
    public void HandMade_LicenseErrorAlert_CodeRead()
    {
        // SEC_LICENSE_PKT, bMsgType ERROR_ALERT (0xFF), flags, wMsgSize, dwErrorCode ERR_NO_LICENSE_SERVER, dwStateTransition.
        var pdu = SlowPathPdu.Classify(Hex("8000 0000 FF 03 1000 06000000 02000000 0000 0000"));
        Assert.Equal(RdpPduKind.LicenseErrorAlert, pdu.Kind);
        Assert.Equal(6u, pdu.Value);
        Assert.Equal("ERR_NO_LICENSE_SERVER", SlowPathPdu.LicenseErrorName(6));
    }

    [Theory]
    [InlineData("0100 0000 0000 0000", RdpPduKind.SecurityExchange)]
    [InlineData("4800 0000 0000 0000", RdpPduKind.ClientInfo)]
    [InlineData("0800 0000 0000 0000 0000", RdpPduKind.Encrypted)]
    [InlineData("0600 1100 EA03", RdpPduKind.DemandActive)]
    [InlineData("0600 1300 EA03", RdpPduKind.ConfirmActive)]
    [InlineData("0100", RdpPduKind.Unknown)]
    public void HandMade_SecurityAndShareControlHeaders(string hex, RdpPduKind kind) =>
        Assert.Equal(kind, SlowPathPdu.Classify(Hex(hex)).Kind);

    [Fact]
    public void HandMade_McsSendDataUserData_BothLengthForms()
    {
        // SDin: choice 26 (0x68), initiator, channel 0x03EB, priority, length 3 / length 0x8003.
        Assert.True(SlowPathPdu.TryGetUserData(Hex("68 0001 03EB 70 03 AABBCC"), out var shortForm));
        Assert.Equal(Hex("AABBCC"), shortForm.ToArray());
        Assert.True(SlowPathPdu.TryGetUserData(Hex("68 0001 03EB 70 8003 AABBCC"), out var longForm));
        Assert.Equal(Hex("AABBCC"), longForm.ToArray());
        Assert.False(SlowPathPdu.TryGetUserData(Hex("68 0001"), out _));
    }
}
