using RdpWire.Analyzer;
using RdpWire.Capture;
using RdpWire.Capture.Files;
using RdpWire.Fuzz;
using RdpWire.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace RdpWire.Tests.Robustness;

/// <summary>
/// The fuzz runner (tests/RdpWire.Fuzz) on a short budget, as CI runs it: every fixture as a
/// seed, format-aware mutations, each input through the whole pipeline under a time limit and
/// an allocation cap. A longer run is one command:
/// `dotnet run -c Release --project tests/RdpWire.Fuzz -- --inputs 1000000`.
/// </summary>
public class FuzzTests(ITestOutputHelper output)
{
    [Fact]
    public void ShortBudget_EveryMutationKind_NoCrashNoHangNoRunawayAllocation()
    {
        double seconds = double.TryParse(Environment.GetEnvironmentVariable("RDPWIRE_FUZZ_SECONDS"), System.Globalization.CultureInfo.InvariantCulture, out double s) ? s : 100;
        int seed = int.TryParse(Environment.GetEnvironmentVariable("RDPWIRE_FUZZ_SEED"), out int sd) ? sd : 20261122;
        string saveDir = Path.Combine(Path.GetTempPath(), $"rdpwire-fuzz-{seed}");
        var result = Fuzzer.Run(new Fuzzer.Options
        {
            FixturesDir = RepoPaths.FixturesDir,
            Seed = seed,
            Budget = TimeSpan.FromSeconds(seconds),
            SaveDir = saveDir,
        });
        output.WriteLine($"{result.Inputs} inputs in {result.Elapsed.TotalSeconds:0} s, {result.Refused} refused, {result.Failures.Count} failures; " +
            string.Join(", ", result.ByKind.OrderBy(k => k.Key).Select(k => $"{k.Key} {k.Value}")));
        Assert.True(result.Failures.Count == 0,
            string.Join("\n", result.Failures.Select(f => $"{f.Seed} ({f.Kind}): {f.Reason} -> {f.SavedAs}")) + $"\n(saved in {saveDir}; copy them to tests/fuzz-cases)");
        Assert.All(Mutator.Kinds, kind => Assert.True(result.ByKind.GetValueOrDefault(kind) > 0, $"no {kind} mutations ran"));
        Assert.True(result.Inputs >= 1000, $"only {result.Inputs} inputs ran");
    }

    [FuzzCasesFact]
    public async Task SavedFuzzCases_AnalyzeWithoutCrashing()
    {
        foreach (string path in FuzzCasesFactAttribute.Cases())
        {
            string? one = null;
            try
            {
                using var source = CaptureFile.Open(path);
                one = RdpWire.Analyzer.Report.ReportJson.Serialize(CaptureAnalyzer.Analyze(source, new AnalyzerOptions()));
            }
            catch (CaptureFormatException)
            {
                // An unreadable file is refused cleanly: that is the expected outcome for some cases.
            }
            // And on two threads, as analyze --threads reads the file, within the fuzzer's time limit:
            // the same report, or the same refusal.
            var twoThreads = Task.Run(() =>
            {
                try
                {
                    using var readings = CaptureFileReadings.Open(path);
                    return RdpWire.Analyzer.Report.ReportJson.Serialize(ShardedAnalysis.Analyze(() => readings.OpenSource(path), 2, new AnalyzerOptions()));
                }
                catch (CaptureFormatException)
                {
                    return null;
                }
            });
            var finished = await Task.WhenAny(twoThreads, Task.Delay(TimeSpan.FromSeconds(10)));
            Assert.True(ReferenceEquals(finished, twoThreads), $"{Path.GetFileName(path)}: no result within 10 s on two threads");
            Assert.True(one == await twoThreads, $"{Path.GetFileName(path)}: two threads wrote another report than one");
        }
    }
}

/// <summary>Runs when tests/fuzz-cases holds saved failing inputs (regressions); skipped while it holds none.</summary>
public sealed class FuzzCasesFactAttribute : FactAttribute
{
    public FuzzCasesFactAttribute()
    {
        if (!Cases().Any())
        {
            Skip = "tests/fuzz-cases holds no saved inputs";
        }
    }

    public static IEnumerable<string> Cases()
    {
        string dir = Path.Combine(RepoPaths.RepoRoot, "tests", "fuzz-cases");
        return Directory.Exists(dir)
            ? Directory.GetFiles(dir).Where(f => f.EndsWith(".pcap", StringComparison.Ordinal) || f.EndsWith(".pcapng", StringComparison.Ordinal)).Order()
            : [];
    }
}
