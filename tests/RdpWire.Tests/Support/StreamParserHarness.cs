using System.IO.Pipelines;
using RdpWire.RdpParser.Mcs;
using RdpWire.RdpParser.Streams;
using RdpWire.RdpParser.Tls;
using RdpWire.RdpParser.X224;

namespace RdpWire.Tests.Support;

/// <summary>Records what a stream parser reports, as text lines and as TLS record summaries.</summary>
public sealed class RecordingStreamEvents : IRdpStreamEvents
{
    public List<string> Events { get; } = [];
    public List<TlsRecordSummary> Records { get; } = [];

    public void OnConnectionRequest(StreamDirection d, StreamRange r, X224ConnectionRequest request) => Events.Add($"CR {r.Start}-{r.End} {request.Cookie}");
    public void OnConnectionConfirm(StreamDirection d, StreamRange r, X224ConnectionConfirm confirm) => Events.Add($"CC {r.Start}-{r.End} {confirm.SelectedProtocol}");
    public void OnDisconnectRequest(StreamDirection d, StreamRange r, byte reason) => Events.Add($"DR {r.Start}-{r.End}");
    public void OnX224Data(StreamDirection d, StreamRange r, McsPduHeader mcs) => Events.Add($"DT {r.Start}-{r.End} {mcs.Kind} {mcs.Reason}");

    public void OnTlsRecord(StreamDirection d, StreamRange r, TlsRecordSummary rec)
    {
        Records.Add(rec);
        Events.Add($"TLS {r.Start}-{r.End} {rec.Header.ContentType} {rec.FirstHandshakeType} {rec.AlertDescription} {rec.Encrypted}");
    }

    public void OnMcsConnect(StreamDirection d, StreamRange r, McsConnectPdu pdu) => Events.Add($"MCS {(pdu.IsInitial ? "CI" : "CR")} {pdu.Error}");
    public void OnCredSsp(StreamDirection d, StreamRange r, RdpWire.RdpParser.CredSsp.TsRequest request) => Events.Add($"CREDSSP {request.Describe()}");
    public void OnEarlyUserAuthorization(StreamDirection d, StreamRange r, uint result) => Events.Add($"EUA {result}");
    public void OnRdpPdu(StreamDirection d, StreamRange r, RdpWire.RdpParser.Rdp.RdpPdu pdu) => Events.Add($"RDP {pdu.Kind} {pdu.Value}");
    public void OnFastPath(StreamDirection d, StreamRange r) => Events.Add($"FP {r.Start}-{r.End}");
    public void OnMalformed(StreamDirection d, long offset, string reason) => Events.Add($"BAD {offset}");
}

/// <summary>Feeds bytes to a stream parser through a real pipe, in chunks of a chosen size (TCP's cuts).</summary>
public static class StreamParserHarness
{
    public static Pipe NewPipe() =>
        new(new PipeOptions(pauseWriterThreshold: 0, resumeWriterThreshold: 0, minimumSegmentSize: 16));

    public static void Feed(RdpStreamParser parser, Pipe pipe, byte[] bytes, int chunk)
    {
        for (int i = 0; i < bytes.Length; i += chunk)
        {
            var part = bytes.AsSpan(i, Math.Min(chunk, bytes.Length - i));
            part.CopyTo(pipe.Writer.GetSpan(part.Length));
            pipe.Writer.Advance(part.Length);
            _ = pipe.Writer.FlushAsync();
            parser.Drain(pipe.Reader);
        }
    }
}
