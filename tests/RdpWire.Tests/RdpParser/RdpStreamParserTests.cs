using RdpWire.RdpParser.Streams;
using RdpWire.Tests.Support;
using Xunit;

using static RdpWire.Tests.Support.HandMadeBytes;

namespace RdpWire.Tests.RdpParser;

/// <summary>
/// Framing tests of the stream parser with hand-made byte streams: the same messages must
/// come out whatever way TCP cut the bytes, and broken framing must stop the parser cleanly.
/// </summary>
public class RdpStreamParserTests
{

    private static readonly byte[] HandMadeClientStream =
    [
        // X.224 CR with cookie "a" and RDP_NEG_REQ SSL
        .. Hex("03 00 00 27 22 E0 00 00 00 00 00 43 6F 6F 6B 69 65 3A 20 6D 73 74 73 68 61 73 68 3D 61 0D 0A 01 00 08 00 01 00 00 00"),
        // TLS ClientHello record (body truncated to 4 bytes: the parser only reads the type)
        .. Hex("16 03 01 00 04 01 00 00 00"),
        // ChangeCipherSpec, then an encrypted handshake record and 300 bytes of application data
        .. Hex("14 03 03 00 01 01"),
        .. Hex("16 03 03 00 03 AA BB CC"),
        .. Hex("17 03 03 01 2C"), .. new byte[300],
    ];

    private static List<string> ParseInChunks(byte[] stream, int chunk)
    {
        var recorder = new RecordingStreamEvents();
        var parser = new RdpStreamParser(StreamDirection.ClientToServer, recorder);
        StreamParserHarness.Feed(parser, StreamParserHarness.NewPipe(), stream, chunk);
        Assert.Equal(stream.Length, parser.Offset);
        return recorder.Events;
    }

    [Fact]
    public void HandMade_ClientStream_SameEventsWhateverTheSegmentation()
    {
        var whole = ParseInChunks(HandMadeClientStream, HandMadeClientStream.Length);
        Assert.Equal(
        [
            "CR 0-39 a",
            "TLS 39-48 Handshake ClientHello  False",
            "TLS 48-54 ChangeCipherSpec   False",
            "TLS 54-62 Handshake   True",
            "TLS 62-367 ApplicationData   True",
        ], whole);
        foreach (int chunk in new[] { 1, 2, 3, 5, 7, 64 })
        {
            Assert.Equal(whole, ParseInChunks(HandMadeClientStream, chunk));
        }
    }

    [Fact]
    public void HandMade_PlaintextAlert_LevelAndDescription()
    {
        var events = ParseInChunks(Hex("15 03 03 00 02 02 2D"), 1);
        Assert.Equal(["TLS 0-7 Alert  45 False"], events);
    }

    [Fact]
    public void HandMade_GarbageInsteadOfTpkt_StopsParsingAndConsumesTheRest()
    {
        var events = ParseInChunks(Hex("47 45 54 20 2F 20 48 54 54 50 2F 31 2E 31 0D 0A"), 4);
        Assert.Equal(["BAD 0"], events);
    }

    [Fact]
    public void HandMade_TpktShorterThanMinimum_IsMalformed()
    {
        var events = ParseInChunks(Hex("03 00 00 05 00 00 00 00"), 8);
        Assert.Equal(["BAD 0"], events);
    }

    [Fact]
    public void HandMade_OversizedTlsRecord_IsMalformed()
    {
        var events = ParseInChunks(Hex("17 03 03 FF FF 00 00"), 7);
        Assert.Equal(["BAD 0"], events);
    }

    [Fact]
    public void HandMade_DisconnectProviderUltimatum_ReasonDecoded()
    {
        // X.224 DT with DPum rn-user-requested: PER 0x21 0x80 (choice 8, reason 3).
        var events = ParseInChunks(Hex("03 00 00 09 02 F0 80 21 80"), 2);
        Assert.Equal(["DT 0-9 DisconnectProviderUltimatum UserRequested"], events);
    }

    [Fact]
    public void HandMade_StandardSecurity_X224DataThenFastPath()
    {
        // X.224 DT carrying only MCS Connect-Initial's first bytes (7F 65: a truncated PDU, reported
        // as not valid BER rather than thrown), then a fast-path PDU of 5 bytes.
        var events = ParseInChunks(Hex("03 00 00 09 02 F0 80 7F 65 00 05 01 02 03"), 1);
        Assert.Equal(3, events.Count);
        Assert.Equal("DT 0-9 ConnectInitial ", events[0]);
        Assert.StartsWith("MCS CI MCS Connect-Initial is not valid BER", events[1], StringComparison.Ordinal);
        Assert.Equal("FP 9-14", events[2]);
    }
}
