using RdpWire.Analyzer.Replay;
using RdpWire.Cli;
using RdpWire.Tests.Support;
using Xunit;

namespace RdpWire.Tests.Analyzer;

/// <summary>
/// Every capture recorded by the lab (tests/lab) with real xrdp/FreeRDP peers, checked
/// against its sidecar expectation, exactly as `rdpwire replay tests/fixtures` does.
/// </summary>
public class FixtureReplayTests
{
    public static TheoryData<string> Fixtures()
    {
        var data = new TheoryData<string>();
        foreach (var f in Fixture.Discover(RepoPaths.FixturesDir))
        {
            data.Add(f.Name);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void RecordedFixture_MeetsItsExpectation(string name)
    {
        var fixture = Fixture.Discover(RepoPaths.FixturesDir).Single(f => f.Name == name);
        var problems = Program.ReplayOne(fixture);
        Assert.True(problems.Count == 0, string.Join(Environment.NewLine, problems));
    }

    [Fact]
    public void FixtureSet_CoversTheScenariosTheLabRecords()
    {
        var names = Fixture.Discover(RepoPaths.FixturesDir).Select(f => f.Name).ToHashSet();
        foreach (var required in new[]
        {
            "tls-success", "nla-success", "port-closed", "syn-dropped", "nla-required-tls-offered", "client-nla-server-tls",
            "cert-expired-tls12", "cert-expired-tls13", "cert-untrusted", "tls-version-mismatch", "server-key-unreadable",
            "no-shared-cipher", "tls12-success", "tls13-success",
            "mtu-blackhole-client-side", "mtu-blackhole-server-side", "mtu-icmp-recovery", "lossy-path",
            "offload-server-capture", "fragmented-path", "fragments-dropped", "nla-wrong-password", "nla-unknown-user",
        })
        {
            Assert.Contains(required, names);
        }
    }

    [Fact]
    public void ReplayCommand_PrintsOneLinePerFixtureAndTheClosingCount()
    {
        var stdout = new StringWriter();
        int exit = Program.Run(["replay", RepoPaths.FixturesDir], stdout, new StringWriter());
        var lines = stdout.ToString().TrimEnd().Split('\n');
        int count = Fixture.Discover(RepoPaths.FixturesDir).Count;
        Assert.Equal(count + 1, lines.Length);
        Assert.Equal($"{count} passed, 0 failed", lines[^1].TrimEnd());
        Assert.Equal(0, exit);
    }
}
