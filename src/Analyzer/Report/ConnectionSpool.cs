using System.Text.Json;

namespace RdpWire.Analyzer.Report;

/// <summary>
/// Decided connections kept on disk instead of in memory, so a capture of many thousands of
/// connections is reported in flat memory: each report is written as the JSON report will hold it
/// (indented at its depth there, <see cref="ReportJson.WriteIndentedAt"/>) to a temporary file
/// (deleted on close) and read back, in id order, one at a time.
/// </summary>
public sealed class ConnectionSpool : IDisposable
{
    private readonly FileStream _file;
    private readonly List<(long Id, long Offset, int Length)> _index = [];
    private readonly System.Buffers.ArrayBufferWriter<byte> _json = new(), _scratch = new();
    private long _end;

    public ConnectionSpool()
    {
        string path = Path.Combine(Path.GetTempPath(), $"rdpwire-spool-{Environment.ProcessId}-{Guid.NewGuid():N}.jsonl");
        _file = new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16, FileOptions.DeleteOnClose);
    }

    /// <summary>A new spool holding <paramref name="reports"/> (connections decided before spooling began).</summary>
    public static ConnectionSpool Of(IEnumerable<ConnectionReport> reports)
    {
        var spool = new ConnectionSpool();
        foreach (var report in reports)
        {
            spool.Add(report);
        }
        return spool;
    }

    public int Count => _parts?.Sum(p => p.Spool.Count) ?? _index.Count;

    public void Add(ConnectionReport report)
    {
        _json.ResetWrittenCount();
        ReportJson.WriteIndentedAt(report, ReportJsonContext.Default.ConnectionReport, ReportJson.ConnectionDepth, _json, _scratch);
        // Seek only after a read moved the position: a buffered FileStream writes its buffer out on
        // every Seek, which made every connection a write(2) of its own.
        if (_file.Position != _end)
        {
            _file.Seek(_end, SeekOrigin.Begin);
        }
        _index.Add((report.Id, _end, _json.WrittenCount));
        _file.Write(_json.WrittenSpan);
        _end += _json.WrittenCount;
    }

    /// <summary>Every spooled report in id order, deserialized one at a time.</summary>
    public IEnumerable<ConnectionReport> ReadAll()
    {
        foreach (var (id, json) in ReadAllJson())
        {
            var report = JsonSerializer.Deserialize(json.Span, ReportJson.TypeInfo<ConnectionReport>(ReportJson.Options))!;
            report.Id = id;
            yield return report;
        }
    }

    /// <summary>
    /// Every spooled report's id and JSON, in id order; each buffer is valid until the next is read.
    /// Copying these is cheaper than deserializing them (see <see cref="ReportJson.Write"/>).
    /// The id is the report's own, or for a merged spool the one it has in the merged report
    /// (the JSON still carries the shard's).
    /// </summary>
    public IEnumerable<(long Id, ReadOnlyMemory<byte> Json)> ReadAllJson()
    {
        if (_parts is not null)
        {
            return ReadMerged(_parts);
        }
        return ReadOwn(null);
    }

    private IEnumerable<(long Id, ReadOnlyMemory<byte> Json)> ReadOwn(long[]? renumber)
    {
        _file.Flush();
        var order = _index.OrderBy(e => e.Id).ToList();
        var buffer = Array.Empty<byte>();
        foreach (var (id, offset, length) in order)
        {
            if (buffer.Length < length)
            {
                buffer = new byte[Math.Max(length, buffer.Length * 2)];
            }
            _file.Seek(offset, SeekOrigin.Begin);
            _file.ReadExactly(buffer, 0, length);
            yield return (renumber is null ? id : renumber[id - 1], buffer.AsMemory(0, length));
        }
    }

    private List<(ConnectionSpool Spool, long[] Ids)>? _parts;

    /// <summary>
    /// One spool over the shards' spools: shard connection id k is <c>Ids[k - 1]</c> in the merged
    /// report. Each shard's ids grow with the merged ones, so reading is a merge of sorted runs.
    /// The merged spool owns the parts.
    /// </summary>
    internal static ConnectionSpool Merge(List<(ConnectionSpool Spool, long[] Ids)> parts) =>
        new(parts);

    private ConnectionSpool(List<(ConnectionSpool Spool, long[] Ids)> parts)
    {
        _parts = parts;
        _file = parts[0].Spool._file;
    }

    private static IEnumerable<(long Id, ReadOnlyMemory<byte> Json)> ReadMerged(List<(ConnectionSpool Spool, long[] Ids)> parts)
    {
        var runs = parts.Select(p => p.Spool.ReadOwn(p.Ids).GetEnumerator()).ToList();
        var live = runs.Where(r => r.MoveNext()).ToList();
        while (live.Count > 0)
        {
            var next = live.MinBy(r => r.Current.Id)!;
            yield return next.Current;
            if (!next.MoveNext())
            {
                live.Remove(next);
            }
        }
    }

    public void Dispose()
    {
        if (_parts is not null)
        {
            foreach (var (spool, _) in _parts)
            {
                spool.Dispose();
            }
            return;
        }
        _file.Dispose();
    }
}
