using System.Text.Json;

namespace RdpWire.Analyzer.Report;

/// <summary>
/// Decided connections kept on disk instead of in memory, so a capture of many thousands of
/// connections is reported in flat memory: each report is written as one compact JSON line to
/// a temporary file (deleted on close) and read back, in id order, one at a time.
/// </summary>
public sealed class ConnectionSpool : IDisposable
{
    private readonly FileStream _file;
    private readonly List<(long Id, long Offset, int Length)> _index = [];

    public ConnectionSpool()
    {
        string path = Path.Combine(Path.GetTempPath(), $"rdpwire-spool-{Environment.ProcessId}-{Guid.NewGuid():N}.jsonl");
        _file = new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16, FileOptions.DeleteOnClose);
    }

    public int Count => _index.Count;

    public void Add(ConnectionReport report)
    {
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(report, ReportJson.Compact);
        _file.Seek(0, SeekOrigin.End);
        _index.Add((report.Id, _file.Position, json.Length));
        _file.Write(json);
    }

    /// <summary>Every spooled report in id order, deserialized one at a time.</summary>
    public IEnumerable<ConnectionReport> ReadAll()
    {
        foreach (var json in ReadAllJson())
        {
            yield return JsonSerializer.Deserialize<ConnectionReport>(json.Span, ReportJson.Compact)!;
        }
    }

    /// <summary>
    /// Every spooled report's compact JSON in id order; each buffer is valid until the next is
    /// read. Writing these is cheaper than deserializing them (see <see cref="ReportJson.Write"/>).
    /// </summary>
    public IEnumerable<ReadOnlyMemory<byte>> ReadAllJson()
    {
        _file.Flush();
        var order = _index.OrderBy(e => e.Id).ToList();
        var buffer = Array.Empty<byte>();
        foreach (var (_, offset, length) in order)
        {
            if (buffer.Length < length)
            {
                buffer = new byte[Math.Max(length, buffer.Length * 2)];
            }
            _file.Seek(offset, SeekOrigin.Begin);
            _file.ReadExactly(buffer, 0, length);
            yield return buffer.AsMemory(0, length);
        }
    }

    public void Dispose() => _file.Dispose();
}
