using RdpWire.Analyzer;
using RdpWire.Analyzer.Replay;
using RdpWire.Capture;
using RdpWire.Capture.Files;
using RdpWire.Tests.Support;
using Xunit;

namespace RdpWire.Tests.Analyzer;

/// <summary>
/// Nothing a capture contains may crash the analyzer: the recorded fixtures with random
/// bytes changed and cut at random points must give a report (or one CaptureFormatException
/// when the file structure itself is broken), never another exception. A seeded, small
/// version of the fuzzing issue 9 asks for.
/// </summary>
public class MutatedFixtureTests
{
    [Fact]
    public void MutatedFixtures_NeverThrowAnythingButCaptureFormatErrors()
    {
        var random = new Random(20261122);
        int runs = 0;
        foreach (var fixture in Fixture.Discover(RepoPaths.FixturesDir))
        {
            byte[] original = File.ReadAllBytes(fixture.CapturePath);
            for (int i = 0; i < 60; i++)
            {
                byte[] mutated = (byte[])original.Clone();
                int flips = 1 + random.Next(16);
                for (int f = 0; f < flips; f++)
                {
                    // Past the 24-byte file header: packet headers and payloads alike.
                    int at = 24 + random.Next(mutated.Length - 24);
                    mutated[at] = random.Next(4) switch
                    {
                        0 => 0x00,
                        1 => 0xFF,
                        2 => (byte)(mutated[at] ^ (1 << random.Next(8))),
                        _ => (byte)random.Next(256),
                    };
                }
                if (random.Next(3) == 0)
                {
                    mutated = mutated[..(24 + random.Next(mutated.Length - 24))];
                }
                using var source = CaptureFile.Open(new MemoryStream(mutated), fixture.Name);
                var report = CaptureAnalyzer.Analyze(source);
                Assert.NotNull(report);
                runs++;
            }
        }
        Assert.True(runs >= 60 * 6, $"only {runs} mutated captures ran");
    }
}
