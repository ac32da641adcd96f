using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using System.Xml.Linq;
using RdpWire.Capture;
using RdpWire.Capture.Files;
using RdpWire.Cli;
using RdpWire.Tests.Support;
using Xunit;

namespace RdpWire.Tests.Cli;

/// <summary>`annotate` (packet comments for Wireshark) and `replay --junit`, on the lab fixtures.</summary>
public class AnnotateAndJUnitTests
{
    private static (int Exit, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int exit = Program.Run(args, stdout, stderr);
        return (exit, stdout.ToString(), stderr.ToString());
    }

    private static string Temp(string extension) => Path.Combine(Path.GetTempPath(), $"rdpwire-test-{Guid.NewGuid():N}{extension}");

    [Theory]
    [InlineData("cert-expired-tls12.pcap", 9, "VERDICT tls.cert-expired")]
    [InlineData("mtu-blackhole-client-side.pcap", 0, "path.mtu-blackhole")]
    [InlineData("cert-expired-tls13-embedded-keys.pcapng", 0, "VERDICT tls.cert-expired")]
    public void Annotate_CommentsOnCitedFrames_PacketsAndTimesUnchanged(string fixture, long verdictFrame, string expected)
    {
        string input = Path.Combine(RepoPaths.FixturesDir, fixture), output = Temp(".pcapng");
        try
        {
            var (exit, stdout, stderr) = Run("annotate", input, output);
            Assert.True(exit == 0, stderr);
            Assert.Contains("comments on", stdout, StringComparison.Ordinal);

            // Every packet, in order, with the same bytes, lengths, link type and time to the nanosecond.
            using (var before = CaptureFile.Open(input))
            using (var after = CaptureFile.Open(output))
            {
                while (before.TryReadNext(out var a))
                {
                    Assert.True(after.TryReadNext(out var b));
                    Assert.Equal((a.Frame, a.UnixNanoseconds, a.OriginalLength, a.LinkType), (b.Frame, b.UnixNanoseconds, b.OriginalLength, b.LinkType));
                    Assert.True(a.Data.Span.SequenceEqual(b.Data.Span));
                }
                Assert.False(after.TryReadNext(out _));
            }

            var comments = ReadComments(output);
            var report = RdpWire.Analyzer.CaptureAnalyzer.Analyze(CaptureFile.Open(input));
            var verdict = report.Connections[0].Findings[0];
            long pinned = verdictFrame != 0 ? verdictFrame : verdict.Frame!.Value;
            Assert.Contains(comments[pinned], c => c.Contains(expected, StringComparison.Ordinal));
            // Every frame a finding cites carries a comment, and no other frame does.
            var cited = report.Connections.SelectMany(c => c.Findings).SelectMany(f => f.EvidenceFrames.Append(f.Frame ?? 0))
                .Concat(report.Findings.SelectMany(f => f.EvidenceFrames.Append(f.Frame ?? 0)))
                .Where(f => f > 0).ToHashSet();
            Assert.Equal(cited.Order(), comments.Keys.Order());
        }
        finally
        {
            File.Delete(output);
        }
    }

    [Fact]
    public void Annotate_KeepsTheCommentsTheCaptureAlreadyHas_BeforeItsOwn()
    {
        // A capture with comments: the annotated recording of a real failure. Annotated again, every
        // frame keeps the comments it had, and the findings' comments follow them.
        string once = Temp(".pcapng"), twice = Temp(".pcapng");
        try
        {
            Assert.Equal(0, Run("annotate", Path.Combine(RepoPaths.FixturesDir, "cert-expired-tls12.pcap"), once).Exit);
            Assert.Equal(0, Run("annotate", once, twice).Exit);
            var first = ReadComments(once);
            var second = ReadComments(twice);
            Assert.NotEmpty(first);
            Assert.Equal(first.Keys.Order(), second.Keys.Order());
            foreach (var (frame, comments) in first)
            {
                Assert.Equal([.. comments, .. comments], second[frame]);
            }

            // The reader hands them over only when asked, as the block holds them.
            using var asked = (PcapNgFileReader)CaptureFile.Open(once);
            asked.KeepComments = true;
            using var notAsked = (PcapNgFileReader)CaptureFile.Open(once);
            while (asked.TryReadNext(out var packet))
            {
                Assert.True(notAsked.TryReadNext(out _));
                Assert.Equal(first.GetValueOrDefault(packet.Frame) ?? [], asked.Comments);
                Assert.Empty(notAsked.Comments);
            }
        }
        finally
        {
            File.Delete(once);
            File.Delete(twice);
        }
    }

    [ToolFact("tshark")]
    public void Annotate_OutputOpensInTshark_WithCommentsOnTheCitedFrames()
    {
        string tshark = ToolFactAttribute.Find("tshark")!;
        string output = Temp(".pcapng");
        try
        {
            Assert.Equal(0, Run("annotate", Path.Combine(RepoPaths.FixturesDir, "cert-expired-tls12.pcap"), output).Exit);
            var info = new ProcessStartInfo(tshark) { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (string a in (string[])["-r", output, "-Y", "frame.comment", "-T", "fields", "-e", "frame.number", "-e", "frame.comment"])
            {
                info.ArgumentList.Add(a);
            }
            using var p = Process.Start(info)!;
            string text = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            Assert.Equal(0, p.ExitCode);
            var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(8, lines.Length);
            Assert.Contains(lines, l => l.StartsWith("9\trdpwire: VERDICT tls.cert-expired", StringComparison.Ordinal));
        }
        finally
        {
            File.Delete(output);
        }
    }

    [Fact]
    public void Annotate_SameFileInAndOut_Refused()
    {
        string input = Path.Combine(RepoPaths.FixturesDir, "port-closed.pcap");
        var (exit, _, stderr) = Run("annotate", input, input);
        Assert.Equal(2, exit);
        Assert.Contains("would overwrite the input", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void ReplayJUnit_OneTestcasePerFixture_FailureElementForAMismatch()
    {
        string dir = Directory.CreateTempSubdirectory("rdpwire-junit-").FullName, junit = Temp(".xml");
        try
        {
            File.Copy(Path.Combine(RepoPaths.FixturesDir, "port-closed.pcap"), Path.Combine(dir, "port-closed.pcap"));
            File.Copy(Path.Combine(RepoPaths.FixturesDir, "port-closed.expect.json"), Path.Combine(dir, "port-closed.expect.json"));
            File.Copy(Path.Combine(RepoPaths.FixturesDir, "syn-dropped.pcap"), Path.Combine(dir, "wrong.pcap"));
            // The refused connection's sidecar on the SYN-dropped capture: a deliberate mismatch.
            File.WriteAllText(Path.Combine(dir, "wrong.expect.json"),
                File.ReadAllText(Path.Combine(RepoPaths.FixturesDir, "port-closed.expect.json")).Replace("\"port-closed\"", "\"wrong\"", StringComparison.Ordinal));
            var (exit, stdout, _) = Run("replay", dir, "--junit", junit);
            Assert.Equal(1, exit);
            Assert.Contains("1 passed, 1 failed", stdout, StringComparison.Ordinal);
            var suite = XDocument.Load(junit).Root!.Element("testsuite")!;
            Assert.Equal("2", suite.Attribute("tests")!.Value);
            Assert.Equal("1", suite.Attribute("failures")!.Value);
            var cases = suite.Elements("testcase").ToDictionary(e => e.Attribute("name")!.Value);
            Assert.Null(cases["port-closed"].Element("failure"));
            Assert.Contains("tcp.no-response", cases["wrong"].Element("failure")!.Value, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
            File.Delete(junit);
        }
    }

    /// <summary>An independent pcapng walk (little-endian files as the writer makes them): opt_comment values per frame.</summary>
    private static Dictionary<long, List<string>> ReadComments(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var result = new Dictionary<long, List<string>>();
        long frame = 0;
        for (int at = 0; at + 12 <= bytes.Length;)
        {
            uint type = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at));
            int length = (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 4));
            if (type == 6)
            {
                frame++;
                int captured = (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 20));
                int options = at + 28 + ((captured + 3) & ~3);
                while (options + 4 <= at + length - 4)
                {
                    ushort code = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(options));
                    ushort len = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(options + 2));
                    if (code == 0)
                    {
                        break;
                    }
                    if (code == 1)
                    {
                        (result.TryGetValue(frame, out var list) ? list : result[frame] = []).Add(Encoding.UTF8.GetString(bytes, options + 4, len));
                    }
                    options += 4 + ((len + 3) & ~3);
                }
            }
            at += length;
        }
        return result;
    }
}
