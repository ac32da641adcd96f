using System.Collections.Concurrent;
using System.Diagnostics;
using RdpWire.Analyzer;
using RdpWire.Capture;
using RdpWire.Capture.Files;
using RdpWire.RdpParser.Tls.Decryption;

namespace RdpWire.Fuzz;

/// <summary>
/// The mutational fuzz runner (SharpFuzz is not available): seeds are every recorded fixture
/// (with its key log, so decryption is fuzzed too); each mutated input runs through the whole
/// pipeline in-process under a time limit and an allocation cap. An exception other than the
/// clean refusal of an unreadable file (CaptureFormatException), a hang, or allocation past the
/// cap is a failure: the input is saved (with the reason) as a new regression case.
/// </summary>
public static class Fuzzer
{
    public sealed record Options
    {
        public required string FixturesDir { get; init; }
        public int Seed { get; init; } = 20261122;
        public long MaxInputs { get; init; } = long.MaxValue;
        public TimeSpan Budget { get; init; } = TimeSpan.FromMinutes(1);
        public TimeSpan PerInputLimit { get; init; } = TimeSpan.FromSeconds(10);
        /// <summary>Managed bytes one input may allocate: a fixed allowance plus a multiple of its size.</summary>
        public long AllocationAllowance { get; init; } = 256L << 20;
        public int AllocationPerInputByte { get; init; } = 64;
        public string? SaveDir { get; init; }
        public int Threads { get; init; } = Environment.ProcessorCount;
    }

    public sealed record Failure(string Seed, string Kind, string Reason, string? SavedAs);

    public sealed record Result(long Inputs, long Refused, IReadOnlyList<Failure> Failures, IReadOnlyDictionary<string, long> ByKind, TimeSpan Elapsed);

    private sealed record SeedCapture(string Name, byte[] Bytes, TlsKeyLog? Keys);

    public static Result Run(Options options, TextWriter? log = null)
    {
        var seeds = LoadSeeds(options.FixturesDir);
        var failures = new ConcurrentQueue<Failure>();
        var byKind = new ConcurrentDictionary<string, long>();
        long inputs = 0, refused = 0;
        var clock = Stopwatch.StartNew();
        using var stop = new CancellationTokenSource();
        var workers = Enumerable.Range(0, Math.Max(1, options.Threads)).Select(w => new Thread(() =>
        {
            var random = new Random(options.Seed + w * 7919);
            var mutator = new Mutator(random);
            while (!stop.IsCancellationRequested && clock.Elapsed < options.Budget)
            {
                long n = Interlocked.Increment(ref inputs);
                if (n > options.MaxInputs)
                {
                    Interlocked.Decrement(ref inputs);
                    break;
                }
                var seed = seeds[random.Next(seeds.Count)];
                var other = seeds[random.Next(seeds.Count)];
                var (input, kind) = mutator.Mutate(seed.Bytes, other.Bytes);
                byKind.AddOrUpdate(kind.Split('+')[0], 1, (_, c) => c + 1);
                // One input in four also goes through the sharded analysis (--threads 2).
                var outcome = RunOne(input, seed.Keys, options, threads: n % 4 == 0 ? 2 : 1);
                if (outcome == Outcome.Refused)
                {
                    Interlocked.Increment(ref refused);
                }
                else if (outcome is Outcome.Failed or Outcome.Hung)
                {
                    string reason = outcome == Outcome.Hung ? $"no result within {options.PerInputLimit.TotalSeconds:0} s" : LastError ?? "?";
                    failures.Enqueue(new Failure(seed.Name, kind, reason, Save(options.SaveDir, seed.Name, kind, options.Seed, n, input, reason)));
                    if (outcome == Outcome.Hung)
                    {
                        stop.Cancel(); // the hung analysis still holds its thread: stop here
                    }
                }
                if (n % 20000 == 0)
                {
                    log?.WriteLine($"  {n} inputs, {failures.Count} failures, {clock.Elapsed.TotalSeconds:0} s");
                }
            }
        }) { IsBackground = true, Name = $"fuzz-{w}" }).ToList();
        workers.ForEach(t => t.Start());
        workers.ForEach(t => t.Join());
        return new Result(Math.Min(inputs, options.MaxInputs), refused, [.. failures], new Dictionary<string, long>(byKind), clock.Elapsed);
    }

    private enum Outcome
    {
        Analyzed,
        Refused,
        Failed,
        Hung,
    }

    [ThreadStatic]
    private static string? LastError;

    private static Outcome RunOne(byte[] input, TlsKeyLog? keys, Options options, int threads = 1)
    {
        string? error = null;
        var outcome = Outcome.Analyzed;
        string? json = null;
        var worker = new Thread(() =>
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                RdpWire.Analyzer.Report.AnalysisReport report;
                var analyzerOptions = new AnalyzerOptions { KeyLog = keys };
                if (threads == 1)
                {
                    using var source = CaptureFile.Open(new MemoryStream(input, writable: false), "fuzz");
                    report = CaptureAnalyzer.Analyze(source, analyzerOptions);
                }
                else
                {
                    // As analyze --threads reads: each thread reads all of the input itself.
                    report = ShardedAnalysis.Analyze(() => CaptureFile.Open(new MemoryStream(input, writable: false), "fuzz"), threads, analyzerOptions);
                }
                // The renderers must cope with whatever the report holds.
                json = RdpWire.Analyzer.Report.ReportJson.Serialize(report);
            }
            catch (CaptureFormatException)
            {
                outcome = Outcome.Refused;
            }
            catch (Exception e)
            {
                error = $"{e.GetType().Name}: {e.Message.ReplaceLineEndings(" ")} at {e.StackTrace?.Split('\n').FirstOrDefault()?.Trim()}";
                outcome = Outcome.Failed;
            }
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            long cap = options.AllocationAllowance + (long)options.AllocationPerInputByte * input.Length;
            if (outcome != Outcome.Failed && allocated > cap)
            {
                error = $"allocated {allocated >> 20} MiB for a {input.Length}-byte input (cap {cap >> 20} MiB)";
                outcome = Outcome.Failed;
            }
            if (threads > 1 && outcome == Outcome.Analyzed)
            {
                // --threads writes the one-thread report, byte for byte (issue 8).
                try
                {
                    using var source = CaptureFile.Open(new MemoryStream(input, writable: false), "fuzz");
                    string one = RdpWire.Analyzer.Report.ReportJson.Serialize(CaptureAnalyzer.Analyze(source, new AnalyzerOptions { KeyLog = keys?.Clone() }));
                    if (one != json)
                    {
                        error = $"{threads} threads wrote another report than one";
                        outcome = Outcome.Failed;
                    }
                }
                catch (CaptureFormatException e)
                {
                    error = $"one thread refused what {threads} threads read: {e.Message}";
                    outcome = Outcome.Failed;
                }
            }
        }, 16 << 20) { IsBackground = true };
        worker.Start();
        if (!worker.Join(options.PerInputLimit))
        {
            return Outcome.Hung;
        }
        LastError = error;
        return outcome;
    }

    private static string? Save(string? dir, string seed, string kind, int runSeed, long n, byte[] input, string reason)
    {
        if (dir is null)
        {
            return null;
        }
        Directory.CreateDirectory(dir);
        string name = $"fuzz-{Path.GetFileNameWithoutExtension(seed)}-{kind.Replace('+', '_')}-{runSeed}-{n}";
        string extension = input.Length >= 4 && BitConverter.ToUInt32(input, 0) == 0x0A0D0D0A ? ".pcapng" : ".pcap";
        string path = Path.Combine(dir, name + extension);
        File.WriteAllBytes(path, input);
        File.WriteAllText(Path.Combine(dir, name + ".txt"), reason + Environment.NewLine);
        return path;
    }

    private static List<SeedCapture> LoadSeeds(string dir)
    {
        var seeds = new List<SeedCapture>();
        foreach (string path in Directory.GetFiles(dir).Where(p => p.EndsWith(".pcap", StringComparison.Ordinal) || p.EndsWith(".pcapng", StringComparison.Ordinal)).Order())
        {
            string keyLog = Path.ChangeExtension(path, ".keylog");
            TlsKeyLog? keys = File.Exists(keyLog) ? TlsKeyLog.Load(keyLog) : null;
            seeds.Add(new SeedCapture(Path.GetFileName(path), File.ReadAllBytes(path), keys));
        }
        if (seeds.Count == 0)
        {
            throw new InvalidOperationException($"no seed captures in {dir}");
        }
        return seeds;
    }
}
