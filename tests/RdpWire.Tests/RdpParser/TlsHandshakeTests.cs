using RdpWire.RdpParser.Streams;
using RdpWire.RdpParser.Tls;
using RdpWire.Tests.Support;
using Xunit;

namespace RdpWire.Tests.RdpParser;

/// <summary>
/// TLS handshake parsing with hand-made messages (boundary and malformed cases); the real
/// peers' handshakes are covered by the fixtures and the Zeek corpus.
/// </summary>
public class TlsHandshakeTests
{
    private static byte[] U16(int v) => [(byte)(v >> 8), (byte)v];
    private static byte[] Vec8(byte[] body) => [(byte)body.Length, .. body];
    private static byte[] Vec16(byte[] body) => [.. U16(body.Length), .. body];
    private static byte[] Vec24(byte[] body) => [(byte)(body.Length >> 16), (byte)(body.Length >> 8), (byte)body.Length, .. body];
    private static byte[] Ext(int type, byte[] data) => [.. U16(type), .. Vec16(data)];
    private static byte[] Handshake(TlsHandshakeType type, byte[] body) => [(byte)type, .. Vec24(body)];

    private static byte[] HandMadeClientHelloBody() =>
    [
        .. U16(0x0303), .. new byte[32], .. Vec8(new byte[32]),
        .. Vec16([.. U16(0x0A0A), .. U16(0x1302), .. U16(0xC02F), .. U16(0x002F)]),
        .. Vec8([0]),
        .. Vec16([
            .. Ext(0x0A0A, []),
            .. Ext(0, Vec16([0, .. Vec16("rdp.example.test"u8.ToArray())])),
            .. Ext(43, Vec8([.. U16(0x3A3A), .. U16(0x0304), .. U16(0x0303)])),
            .. Ext(10, Vec16([.. U16(29), .. U16(23)])),
            .. Ext(13, Vec16([.. U16(0x0804), .. U16(0x0403)])),
            .. Ext(16, Vec16([.. Vec8("h2"u8.ToArray())])),
        ]),
    ];

    [Fact]
    public void HandMade_ClientHello_VersionsSuitesSniGroupsSchemes()
    {
        Assert.True(ClientHello.TryParse(HandMadeClientHelloBody(), out var hello, out var error), error);
        Assert.Equal("rdp.example.test", hello.ServerName);
        Assert.Equal(new ushort[] { 0x0304, 0x0303 }, hello.OfferedVersions);
        Assert.Equal(new ushort[] { 0x0A0A, 0x1302, 0xC02F, 0x002F }, hello.CipherSuites);
        Assert.Equal(new ushort[] { 29, 23 }, hello.SupportedGroups);
        Assert.Equal(new ushort[] { 0x0804, 0x0403 }, hello.SignatureAlgorithms);
        Assert.Equal(["h2"], hello.Alpn);
    }

    [Fact]
    public void HandMade_ClientHelloWithoutExtensions_LegacyVersionIsTheOffer()
    {
        byte[] body = [.. U16(0x0301), .. new byte[32], 0, .. Vec16(U16(0x002F)), .. Vec8([0])];
        Assert.True(ClientHello.TryParse(body, out var hello, out _));
        Assert.Equal(new ushort[] { 0x0301 }, hello.OfferedVersions);
    }

    [Fact]
    public void HandMade_EveryTruncationOfAClientHello_FailsCleanly()
    {
        var body = HandMadeClientHelloBody();
        for (int n = 0; n < body.Length; n++)
        {
            ClientHello.TryParse(body.AsSpan(0, n), out _, out _);
        }
    }

    [Fact]
    public void HandMade_ServerHello_Tls13ViaSupportedVersions()
    {
        byte[] body = [.. U16(0x0303), .. new byte[32], .. Vec8(new byte[32]), .. U16(0x1302), 0, .. Vec16(Ext(43, U16(0x0304)))];
        Assert.True(ServerHello.TryParse(body, out var hello, out _));
        Assert.Equal(0x0304, hello.NegotiatedVersion);
        Assert.False(hello.IsHelloRetryRequest);
        Assert.Equal("TLS_AES_256_GCM_SHA384", TlsRegistry.CipherSuiteName(hello.CipherSuite));
    }

    [Fact]
    public void HandMade_ServerHelloWithTheRetryRandom_IsAHelloRetryRequest()
    {
        byte[] random = Convert.FromHexString("CF21AD74E59A6111BE1D8C021E65B891C2A211167ABB8C5E079E09E2C8A8339C");
        byte[] body = [.. U16(0x0303), .. random, 0, .. U16(0x1301), 0, .. Vec16(Ext(43, U16(0x0304)))];
        Assert.True(ServerHello.TryParse(body, out var hello, out _));
        Assert.True(hello.IsHelloRetryRequest);
    }

    [Fact]
    public void HandMade_CertificateChain_KeepsDerAndCounts()
    {
        byte[] body = Vec24([.. Vec24([0x30, 0x03, 0x02, 0x01, 0x01]), .. Vec24([0x30, 0x00])]);
        Assert.True(CertificateChain.TryParse(body, out var chain, out _));
        Assert.Equal(2, chain.CertificatesOnWire);
        Assert.Equal(new byte[] { 0x30, 0x00 }, chain.Certificates[1]);
    }

    [Fact]
    public void HandMade_CertificateEntryLongerThanItsList_IsAnError()
    {
        byte[] body = [0, 0, 5, 0, 0, 9, 1, 2];
        Assert.False(CertificateChain.TryParse(body, out _, out var error));
        Assert.NotNull(error);
    }

    private static byte[] Record(TlsContentType type, byte[] fragment) => [(byte)type, 3, 3, .. U16(fragment.Length), .. fragment];

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(4096)]
    public void HandMade_HandshakeMessageSplitAcrossRecords_ReassembledAndParsed(int chunk)
    {
        var message = Handshake(TlsHandshakeType.ClientHello, HandMadeClientHelloBody());
        byte[] stream = [.. Record(TlsContentType.Handshake, message[..20]), .. Record(TlsContentType.Handshake, message[20..])];
        var recorder = new RecordingStreamEvents();
        var parser = new RdpStreamParser(StreamDirection.ClientToServer, recorder);
        StreamParserHarness.Feed(parser, StreamParserHarness.NewPipe(), stream, chunk);
        Assert.DoesNotContain(recorder.Events, e => e.StartsWith("BAD", StringComparison.Ordinal));
        Assert.Equal(2, recorder.Records.Count);
        Assert.Empty(recorder.Records[0].HandshakeMessages);
        var hello = Assert.Single(recorder.Records[1].HandshakeMessages);
        Assert.Equal("rdp.example.test", hello.ClientHello!.ServerName);
    }

    [Fact]
    public void HandMade_Tls13_ServerRecordsAfterServerHelloAreEncrypted_ClientAfterItsCcs()
    {
        var tls = new TlsSessionState();
        var server = new RecordingStreamEvents();
        var client = new RecordingStreamEvents();
        var serverParser = new RdpStreamParser(StreamDirection.ServerToClient, server, tls);
        var clientParser = new RdpStreamParser(StreamDirection.ClientToServer, client, tls);
        var sPipe = StreamParserHarness.NewPipe();
        var cPipe = StreamParserHarness.NewPipe();

        StreamParserHarness.Feed(clientParser, cPipe, Record(TlsContentType.Handshake, Handshake(TlsHandshakeType.ClientHello, HandMadeClientHelloBody())), 4096);
        byte[] sh = [.. U16(0x0303), .. new byte[32], .. Vec8(new byte[32]), .. U16(0x1302), 0, .. Vec16(Ext(43, U16(0x0304)))];
        StreamParserHarness.Feed(serverParser, sPipe, [.. Record(TlsContentType.Handshake, Handshake(TlsHandshakeType.ServerHello, sh)),
            .. Record(TlsContentType.ChangeCipherSpec, [1]), .. Record(TlsContentType.ApplicationData, new byte[40])], 4096);
        StreamParserHarness.Feed(clientParser, cPipe, [.. Record(TlsContentType.ChangeCipherSpec, [1]), .. Record(TlsContentType.ApplicationData, new byte[30]),
            .. Record(TlsContentType.Alert, new byte[19])], 4096);

        Assert.DoesNotContain(server.Events.Concat(client.Events), e => e.StartsWith("BAD", StringComparison.Ordinal));
        Assert.Equal([false, false, true], server.Records.Select(r => r.Encrypted));
        Assert.Equal([false, false, true, true], client.Records.Select(r => r.Encrypted));
        Assert.True(tls.IsTls13);
        Assert.Null(client.Records[3].AlertDescription); // encrypted alert: no description visible
    }

    [Fact]
    public void HandMade_OversizedHandshakeMessage_NotBufferedBeyondTheLimit()
    {
        // A handshake header claiming 16 MiB, followed by records of filler: the parser must stop
        // collecting and say so instead of buffering.
        var recorder = new RecordingStreamEvents();
        var parser = new RdpStreamParser(StreamDirection.ServerToClient, recorder);
        var pipe = StreamParserHarness.NewPipe();
        StreamParserHarness.Feed(parser, pipe, Record(TlsContentType.Handshake, [(byte)TlsHandshakeType.Certificate, 0xFF, 0xFF, 0xFF, .. new byte[1000]]), 4096);
        var message = Assert.Single(recorder.Records[0].HandshakeMessages);
        Assert.Contains("exceeds", message.Error, StringComparison.Ordinal);
        for (int i = 0; i < 50; i++)
        {
            StreamParserHarness.Feed(parser, pipe, Record(TlsContentType.Handshake, new byte[16000]), 4096);
        }
        Assert.Equal(51, recorder.Records.Count);
    }
}
