using Xunit;

namespace RdpWire.Tests.Support;

/// <summary>Where the repository, its fixtures and the shared corpus beside it live.</summary>
public static class RepoPaths
{
    private const string SolutionFile = "RdpWire.sln";

    private static readonly Lazy<string?> FoundRoot = new(FindRepoRoot);

    /// <summary>The directory holding RdpWire.sln, found by walking up from the test binaries.</summary>
    public static string RepoRoot => FoundRoot.Value
        ?? throw new InvalidOperationException(
            $"no {SolutionFile} found above {AppContext.BaseDirectory}");

    /// <summary>Recorded captures that belong to the repository (tests/fixtures).</summary>
    public static string FixturesDir => Path.Combine(RepoRoot, "tests", "fixtures");

    /// <summary>The file names of every capture in <see cref="FixturesDir"/> (.pcap and .pcapng), as theory data.</summary>
    public static TheoryData<string> FixtureCaptures() =>
        new(Directory.GetFiles(FixturesDir).Where(f => f.EndsWith(".pcap", StringComparison.Ordinal) || f.EndsWith(".pcapng", StringComparison.Ordinal)).Select(Path.GetFileName)!);

    /// <summary>Public captures kept outside the repository (../shared/corpus); may not exist.</summary>
    public static string CorpusDir => Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "corpus"));

    /// <summary>True when the repository root was found and the corpus directory exists.</summary>
    public static bool CorpusPresent => FoundRoot.Value is not null && Directory.Exists(CorpusDir);

    private static string? FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, SolutionFile)))
            {
                return dir.FullName;
            }
        }

        return null;
    }
}
