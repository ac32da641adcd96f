using RdpWire.Bench;

namespace RdpWire.Tests.Support;

/// <summary>
/// A capture built by bench/RdpWire.Bench's generator from the recorded fixtures, in a temporary
/// file deleted on dispose.
/// </summary>
public sealed class GeneratedCapture : IDisposable
{
    public string Path { get; }

    public GeneratedCapture(IReadOnlyList<CaptureGenerator.Template> templates, long targetBytes, long bulkBytesPerSession,
        int concurrentSessions, TimeSpan startSpacing, TimeSpan segmentSpacing)
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"rdpwire-generated-{Guid.NewGuid():N}.pcap");
        try
        {
            new CaptureGenerator(RepoPaths.FixturesDir, templates)
                .Write(Path, targetBytes, bulkBytesPerSession, concurrentSessions, startSpacing, segmentSpacing);
        }
        catch
        {
            File.Delete(Path);
            throw;
        }
    }

    public void Dispose() => File.Delete(Path);
}
