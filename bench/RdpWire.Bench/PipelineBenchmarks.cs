using BenchmarkDotNet.Attributes;
using RdpWire.Analyzer;
using RdpWire.Capture;
using RdpWire.Capture.Decoding;
using RdpWire.Capture.Files;

namespace RdpWire.Bench;

/// <summary>
/// The hot path on a generated capture (bulk encrypted session data, some failures), read from
/// memory: the pcap reader alone, reader + decoders, and the whole pipeline (flow table,
/// reassembly, the skip path for application data, verdicts). Allocations per run are reported.
/// </summary>
[MemoryDiagnoser]
public class PipelineBenchmarks
{
    private byte[] _capture = [];

    [GlobalSetup]
    public void Setup()
    {
        string path = Path.Combine(Path.GetTempPath(), "rdpwire-bench-64m.pcap");
        if (!File.Exists(path) || new FileInfo(path).Length < (60L << 20))
        {
            new CaptureGenerator(Program.FixturesDir(), CaptureGenerator.DefaultTemplates)
                .Write(path, 64L << 20, 4L << 20, concurrentSessions: 64, TimeSpan.FromMilliseconds(10), TimeSpan.FromMilliseconds(1));
        }
        _capture = File.ReadAllBytes(path);
    }

    [Benchmark]
    public long ReadPackets()
    {
        using var source = CaptureFile.Open(new MemoryStream(_capture, writable: false), "bench");
        long bytes = 0;
        while (source.TryReadNext(out var p))
        {
            bytes += p.Data.Length;
        }
        return bytes;
    }

    [Benchmark]
    public long ReadAndDecode()
    {
        using var source = CaptureFile.Open(new MemoryStream(_capture, writable: false), "bench");
        long tcp = 0;
        while (source.TryReadNext(out var p))
        {
            if (PacketDecoder.TryDecode(p, out var d) == DecodeResult.Ok && d.Transport == TransportKind.Tcp)
            {
                tcp++;
            }
        }
        return tcp;
    }

    [Benchmark]
    public int WholePipeline()
    {
        using var source = CaptureFile.Open(new MemoryStream(_capture, writable: false), "bench");
        return CaptureAnalyzer.Analyze(source).Connections.Count;
    }
}
