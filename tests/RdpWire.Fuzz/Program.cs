using System.Globalization;

namespace RdpWire.Fuzz;

/// <summary>
/// dotnet run -c Release --project tests/RdpWire.Fuzz -- [--inputs N] [--seconds S] [--seed X] [--threads T] [--save DIR]
/// Defaults: one minute, seed 20261122, all cores, failures saved to tests/fuzz-cases. Exit 1 when anything failed.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        string root = RepoRoot();
        var options = new Fuzzer.Options
        {
            FixturesDir = Path.Combine(root, "tests", "fixtures"),
            SaveDir = Path.Combine(root, "tests", "fuzz-cases"),
        };
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            string value = args[i + 1];
            options = args[i] switch
            {
                "--inputs" => options with { MaxInputs = long.Parse(value, CultureInfo.InvariantCulture), Budget = TimeSpan.FromDays(1) },
                "--seconds" => options with { Budget = TimeSpan.FromSeconds(double.Parse(value, CultureInfo.InvariantCulture)) },
                "--seed" => options with { Seed = int.Parse(value, CultureInfo.InvariantCulture) },
                "--threads" => options with { Threads = int.Parse(value, CultureInfo.InvariantCulture) },
                "--save" => options with { SaveDir = value },
                _ => throw new ArgumentException($"unknown option {args[i]}"),
            };
        }
        Console.WriteLine($"fuzzing with seed {options.Seed}, {options.Threads} thread(s), {(options.MaxInputs == long.MaxValue ? $"{options.Budget.TotalSeconds:0} s" : $"{options.MaxInputs} inputs")}");
        var result = Fuzzer.Run(options, Console.Out);
        Console.WriteLine($"{result.Inputs} inputs in {result.Elapsed.TotalSeconds:0} s ({result.Inputs / Math.Max(1, result.Elapsed.TotalSeconds):0}/s): {result.Refused} refused as unreadable files, {result.Failures.Count} failures");
        Console.WriteLine("by mutation: " + string.Join(", ", result.ByKind.OrderBy(k => k.Key).Select(k => $"{k.Key} {k.Value}")));
        foreach (var f in result.Failures)
        {
            Console.WriteLine($"FAIL {f.Seed} ({f.Kind}): {f.Reason}{(f.SavedAs is null ? "" : " -> " + f.SavedAs)}");
        }
        return result.Failures.Count == 0 ? 0 : 1;
    }

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "RdpWire.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("RdpWire.sln not found");
    }
}
