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
        // RDPWIRE_FUZZ_ROUNDS / RDPWIRE_FUZZ_SEED run a longer search locally; CI keeps the default.
        int rounds = int.TryParse(Environment.GetEnvironmentVariable("RDPWIRE_FUZZ_ROUNDS"), out int r) ? r : 60;
        int seed = int.TryParse(Environment.GetEnvironmentVariable("RDPWIRE_FUZZ_SEED"), out int sd) ? sd : 20261122;
        var random = new Random(seed);
        int runs = 0;
        foreach (var fixture in Fixture.Discover(RepoPaths.FixturesDir))
        {
            byte[] original = File.ReadAllBytes(fixture.CapturePath);
            // Where the lab kept the session's key log, the decryption path is exercised too.
            string keyLogPath = Path.ChangeExtension(fixture.CapturePath, ".keylog");
            var options = new AnalyzerOptions();
            if (File.Exists(keyLogPath))
            {
                using var keys = File.OpenText(keyLogPath);
                options = options with { KeyLog = RdpWire.RdpParser.Tls.Decryption.TlsKeyLog.Parse(keys) };
            }
            for (int i = 0; i < rounds; i++)
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
                try
                {
                    using var source = CaptureFile.Open(new MemoryStream(mutated), fixture.Name);
                    Assert.NotNull(CaptureAnalyzer.Analyze(source, options));
                }
                catch (CaptureFormatException)
                {
                    // A header the mutation made unreadable: a clean, expected refusal.
                }
                catch (Exception e)
                {
                    string saved = Path.Combine(Path.GetTempPath(), $"rdpwire-crash-{fixture.Name}-{seed}-{i}.pcap");
                    File.WriteAllBytes(saved, mutated);
                    throw new Xunit.Sdk.XunitException($"{fixture.Name} mutation {i} (seed {seed}) crashed the analyzer; input saved to {saved}: {e}");
                }
                runs++;
            }
        }
        Assert.True(runs >= rounds * 6, $"only {runs} mutated captures ran");
    }
}
