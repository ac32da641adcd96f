using System.Buffers.Binary;
using System.Globalization;
using BenchmarkDotNet.Running;
using RdpWire.Analyzer;
using RdpWire.Capture.Files;

namespace RdpWire.Bench;

/// <summary>
/// RdpWire.Bench generate OUT.pcap SIZE [BULK]  build a capture of about SIZE (e.g. 500M, 5G) from the fixtures,
///                                              BULK server bytes per successful session (default 1.5M; 0: handshakes only)
/// RdpWire.Bench verdicts CAPTURE            check that every generated session has its template's verdict
/// RdpWire.Bench shards CAPTURE OUT0 OUT1    write the two shards `analyze --threads 2` splits a classic pcap into
/// RdpWire.Bench bdn [BenchmarkDotNet args]  the BenchmarkDotNet suite (reader, decoder, whole pipeline)
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length >= 1 && args[0] == "bdn")
        {
            BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args[1..]);
            return 0;
        }
        if (args.Length is 3 or 4 && args[0] == "generate")
        {
            var generator = new CaptureGenerator(FixturesDir(), CaptureGenerator.DefaultTemplates);
            long size = ParseSize(args[2]);
            // 256 sessions open at once (each one that ends is replaced), ~1.5 MiB of server data per
            // successful session at a segment every 2 ms: a gateway with a few hundred users.
            long bulk = args.Length == 4 ? ParseSize(args[3]) : 3L << 19;
            var counts = generator.Write(args[1], size, bulkBytesPerSession: bulk, concurrentSessions: 256,
                startSpacing: TimeSpan.FromMilliseconds(5), segmentSpacing: TimeSpan.FromMilliseconds(2));
            Console.WriteLine($"wrote {args[1]}: {new FileInfo(args[1]).Length:N0} bytes, {counts.Values.Sum()} sessions ({string.Join(", ", counts.Select(c => $"{c.Key} {c.Value}"))})");
            return 0;
        }
        if (args.Length == 2 && args[0] == "verdicts")
        {
            return CheckVerdicts(args[1]);
        }
        if (args.Length == 4 && args[0] == "shards")
        {
            return WriteShards(args[1], args[2], args[3]);
        }
        if (args.Length == 1 && args[0] == "alloc")
        {
            return MeasureSteadyStateAllocations();
        }
        Console.Error.WriteLine("usage: RdpWire.Bench generate OUT.pcap SIZE [BULK] | verdicts CAPTURE | shards CAPTURE OUT0 OUT1 | alloc | bdn [BenchmarkDotNet args]");
        return 2;
    }

    /// <summary>
    /// Managed bytes allocated per packet in steady state on bulk data: one long TLS session
    /// (tls12-success with 200 MiB of server application data), the first 20,000 packets as
    /// warm-up, then the allocation counter over the next 100,000 packets.
    /// </summary>
    private static int MeasureSteadyStateAllocations()
    {
        string path = Path.Combine(Path.GetTempPath(), "rdpwire-bench-bulk-only.pcap");
        if (!File.Exists(path))
        {
            new CaptureGenerator(FixturesDir(), [new CaptureGenerator.Template("tls12-success", 1, true)])
                .Write(path, 150L << 20, bulkBytesPerSession: 200L << 20, concurrentSessions: 1, TimeSpan.FromMilliseconds(10), TimeSpan.FromMicroseconds(100));
        }
        using var source = CaptureFile.Open(path);
        var analyzer = new CaptureAnalyzer(path, source.Format);
        long packets = 0, before = 0;
        const long warmUp = 20_000, measured = 100_000;
        while (packets < warmUp + measured && source.TryReadNext(out var packet))
        {
            if (packets == warmUp)
            {
                before = GC.GetAllocatedBytesForCurrentThread();
            }
            analyzer.Process(packet);
            packets++;
        }
        if (packets < warmUp + measured)
        {
            Console.Error.WriteLine($"{path} holds only {packets} packets");
            return 1;
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Console.WriteLine($"{measured} bulk packets after {warmUp} of warm-up: {allocated} bytes allocated, {allocated / (double)measured:0.00} bytes per packet");
        return 0;
    }

    /// <summary>
    /// The two shards of <c>analyze --threads 2</c> as two captures: every record of a little-endian
    /// classic pcap (draft-ietf-opsawg-pcap sections 4 and 5), header and bytes unchanged, goes to the
    /// file of the shard <see cref="ShardedAnalysis.ShardOf"/> gives it. bench/run.sh times two
    /// processes analyzing them side by side: sharding with nothing shared between the threads.
    /// </summary>
    private static int WriteShards(string path, string out0, string out1)
    {
        const int fileHeaderLength = 24, recordHeaderLength = 16;
        using var input = new BufferedStream(File.OpenRead(path), 1 << 20);
        Span<byte> fileHeader = stackalloc byte[fileHeaderLength];
        input.ReadExactly(fileHeader);
        uint magic = BinaryPrimitives.ReadUInt32LittleEndian(fileHeader);
        if (magic is not (PcapFileReader.MicrosecondMagic or PcapFileReader.NanosecondMagic))
        {
            Console.Error.WriteLine($"{path}: not a little-endian classic pcap (magic 0x{magic:X8})");
            return 1;
        }
        var linkType = (RdpWire.Capture.LinkType)(BinaryPrimitives.ReadUInt32LittleEndian(fileHeader[20..]) & 0xFFFF);
        using var shard0 = new BufferedStream(File.Create(out0), 1 << 20);
        using var shard1 = new BufferedStream(File.Create(out1), 1 << 20);
        var outputs = new[] { shard0, shard1 };
        var counts = new long[2];
        foreach (var output in outputs)
        {
            output.Write(fileHeader);
        }
        var record = new byte[recordHeaderLength + PcapFileReader.MaxPacketLength];
        for (long frame = 1; input.ReadAtLeast(record.AsSpan(0, recordHeaderLength), recordHeaderLength, throwOnEndOfStream: false) == recordHeaderLength; frame++)
        {
            uint included = BinaryPrimitives.ReadUInt32LittleEndian(record.AsSpan(8));
            if (included > PcapFileReader.MaxPacketLength)
            {
                Console.Error.WriteLine($"{path}: packet {frame} claims {included} bytes");
                return 1;
            }
            input.ReadExactly(record.AsSpan(recordHeaderLength, (int)included));
            var packet = new RdpWire.Capture.CapturedPacket(frame, 0, linkType, 0, (int)included, record.AsMemory(recordHeaderLength, (int)included));
            int shard = ShardedAnalysis.ShardOf(packet, 2);
            outputs[shard].Write(record, 0, recordHeaderLength + (int)included);
            counts[shard]++;
        }
        Console.WriteLine($"{out0}: {counts[0]} packets; {out1}: {counts[1]} packets");
        return 0;
    }

    /// <summary>Each template's own keyless verdict must be the verdict of every session generated from it.</summary>
    private static int CheckVerdicts(string path)
    {
        var templates = CaptureGenerator.DefaultTemplates;
        var expected = new Dictionary<string, string[]>();
        foreach (var t in templates)
        {
            using var source = CaptureFile.Open(Path.Combine(FixturesDir(), t.Name + ".pcap"));
            expected[t.Name] = CaptureAnalyzer.Analyze(source).Connections.Select(c => c.Verdict.Code).Distinct().Order().ToArray();
        }
        using var generated = CaptureFile.Open(path);
        var report = CaptureAnalyzer.Analyze(generated);
        int mismatches = 0;
        for (int i = 0; i < templates.Length; i++)
        {
            string server = IpText(CaptureGenerator.ServerAddress(i));
            var sessions = report.Connections.Where(c => c.Server.Ip == server).ToList();
            var verdicts = sessions.GroupBy(c => c.Verdict.Code).ToDictionary(g => g.Key, g => g.Count());
            bool ok = verdicts.Keys.All(v => expected[templates[i].Name].Contains(v));
            mismatches += ok ? 0 : 1;
            Console.WriteLine($"{(ok ? "same" : "DIFFERENT")} {templates[i].Name}: template {string.Join("/", expected[templates[i].Name])}; generated {string.Join(", ", verdicts.Select(v => $"{v.Key} x{v.Value}"))}");
        }
        Console.WriteLine($"{report.Connections.Count} connections, {report.Capture.Packets} packets; {(mismatches == 0 ? "every verdict equals its template's" : $"{mismatches} template(s) differ")}");
        return mismatches == 0 ? 0 : 1;
    }

    private static string IpText(uint address) =>
        string.Join('.', new[] { address >> 24, (address >> 16) & 0xFF, (address >> 8) & 0xFF, address & 0xFF }.Select(b => b.ToString(CultureInfo.InvariantCulture)));

    public static long ParseSize(string text)
    {
        char unit = char.ToUpperInvariant(text[^1]);
        long multiplier = unit switch { 'K' => 1L << 10, 'M' => 1L << 20, 'G' => 1L << 30, _ => 1 };
        return long.Parse(char.IsDigit(text[^1]) ? text : text[..^1], CultureInfo.InvariantCulture) * multiplier;
    }

    public static string FixturesDir()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "RdpWire.sln")))
            {
                return Path.Combine(dir.FullName, "tests", "fixtures");
            }
        }
        throw new InvalidOperationException("RdpWire.sln not found above " + AppContext.BaseDirectory);
    }
}
