using RdpWire.Analyzer;
using RdpWire.Bench;
using RdpWire.Capture.Files;
using RdpWire.Tests.Support;
using Xunit;

namespace RdpWire.Tests.Analyzer;

/// <summary>
/// Issue 8: zero managed allocations per packet in steady state on bulk data. One long TLS
/// session built from the tls12-success fixture with 40 MiB of server application data
/// (bench/RdpWire.Bench's generator), warmed up, then the allocation counter over 20,000 packets.
/// </summary>
public class SteadyStateAllocationTests
{
    [Fact]
    public void BulkTlsData_WholePipeline_AllocatesNothingPerPacket()
    {
        using var capture = new GeneratedCapture([new CaptureGenerator.Template("tls12-success", 1, true)], 30L << 20,
            bulkBytesPerSession: 40L << 20, concurrentSessions: 1, TimeSpan.FromMilliseconds(10), TimeSpan.FromMicroseconds(100));
        using var source = CaptureFile.Open(capture.Path);
        var analyzer = new CaptureAnalyzer(capture.Path, source.Format);
        const int warmUp = 15_000, measured = 20_000;
        long before = 0;
        int packets = 0;
        while (packets < warmUp + measured && source.TryReadNext(out var packet))
        {
            if (packets == warmUp)
            {
                before = GC.GetAllocatedBytesForCurrentThread();
            }
            analyzer.Process(packet);
            packets++;
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(warmUp + measured, packets);
        // Nothing per packet; a few hundred bytes of one-off work (a pipe segment, a list growing) at most.
        Assert.True(allocated < 4096, $"{allocated} bytes allocated over {measured} bulk packets");
        var report = analyzer.Complete(source.LinkTypes, source.TruncatedPackets);
        Assert.Equal("ok", Assert.Single(report.Connections).Verdict.Code);
    }
}
