using System.Text.Json;
using RdpWire.Cli;
using RdpWire.Tests.Support;
using Xunit;

namespace RdpWire.Tests.Cli;

/// <summary>The command line: exit status and one-line errors as the report contract says.</summary>
public class CliTests
{
    private static (int Exit, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int exit = Program.Run(args, stdout, stderr);
        return (exit, stdout.ToString(), stderr.ToString());
    }

    private static string TempFile(byte[] content)
    {
        string path = Path.Combine(Path.GetTempPath(), "rdpwire-test-" + Guid.NewGuid().ToString("N"));
        File.WriteAllBytes(path, content);
        return path;
    }

    private static string Fixture(string name) => Path.Combine(RepoPaths.FixturesDir, name);

    [Fact]
    public void Threads_SameTextAndJsonAsOneThread_AndOutOfRangeIsOneLineExit2()
    {
        string path = Fixture("mtu-blackhole-server-side.pcap");
        foreach (var format in new[] { new[] { "--json" }, new[] { "--all" } })
        {
            var one = Run(["analyze", path, .. format]);
            var two = Run(["analyze", path, "--threads", "2", .. format]);
            Assert.Equal(one.Exit, two.Exit);
            Assert.Equal(one.Out, two.Out);
            Assert.Contains("path.mtu-blackhole", two.Out, StringComparison.Ordinal);
        }
        var (exit, stdout, stderr) = Run("analyze", path, "--threads", "0");
        Assert.Equal(2, exit);
        Assert.Equal("", stdout);
        Assert.Equal("rdpwire: --threads must be between 1 and 64, not 0", stderr.TrimEnd());
    }

    [Fact]
    public async Task Threads_OnAPipe_ReadOnOneThreadWithANotice_AndTheSameReport()
    {
        if (OperatingSystem.IsWindows())
        {
            return; // mkfifo(3) is POSIX
        }
        string path = Fixture("mtu-blackhole-server-side.pcap");
        var one = Run("analyze", path, "--json");
        string fifo = Path.Combine(Path.GetTempPath(), "rdpwire-test-fifo-" + Guid.NewGuid().ToString("N"));
        using (var mkfifo = System.Diagnostics.Process.Start("mkfifo", fifo))
        {
            await mkfifo.WaitForExitAsync();
        }
        try
        {
            // Whoever opens the pipe for writing hands over the capture, as tcpdump -w - | rdpwire would.
            var writer = Task.Run(() => File.WriteAllBytes(fifo, File.ReadAllBytes(path)));
            var (exit, stdout, stderr) = Run("analyze", fifo, "--threads", "2", "--json");
            await writer;
            Assert.Equal(one.Exit, exit);
            Assert.Equal(one.Out, stdout.Replace(fifo, path, StringComparison.Ordinal));
            Assert.Equal($"rdpwire: {fifo}: not a seekable file, so it is read on one thread", stderr.TrimEnd());
        }
        finally
        {
            File.Delete(fifo);
        }
    }

    [Fact]
    public void HandMade_NotACapture_OneLineAndExit2()
    {
        string path = TempFile("GET / HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray());
        var (exit, stdout, stderr) = Run("analyze", path);
        Assert.Equal(2, exit);
        Assert.Equal("", stdout);
        Assert.Single(stderr.TrimEnd().Split('\n'));
        Assert.Contains("not a pcap or pcapng", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void HandMade_EmptyFile_OneLineAndExit2()
    {
        var (exit, _, stderr) = Run("analyze", TempFile([]));
        Assert.Equal(2, exit);
        Assert.Single(stderr.TrimEnd().Split('\n'));
        Assert.Contains("empty", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void MissingFile_OneLineAndExit2()
    {
        var (exit, _, stderr) = Run("analyze", "/nonexistent/capture.pcap");
        Assert.Equal(2, exit);
        Assert.Equal("rdpwire: /nonexistent/capture.pcap: no such file or directory", stderr.TrimEnd());
    }

    [Fact]
    public void UnknownOption_UsageErrorExit2()
    {
        var (exit, _, stderr) = Run("analyze", "x.pcap", "--bogus");
        Assert.Equal(2, exit);
        Assert.Contains("--bogus", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void TruncatedMidPacket_PartialReportWithReadErrorAndExit0()
    {
        byte[] whole = File.ReadAllBytes(Fixture("port-closed.pcap"));
        string path = TempFile(whole[..(whole.Length - 10)]);
        var (exit, stdout, stderr) = Run("analyze", "--json", path);
        Assert.Equal(0, exit);
        Assert.Contains("truncated", stderr, StringComparison.Ordinal);
        using var doc = JsonDocument.Parse(stdout);
        Assert.Contains("truncated", doc.RootElement.GetProperty("capture").GetProperty("readError").GetString(), StringComparison.Ordinal);
        Assert.Equal("capture.read-error", doc.RootElement.GetProperty("findings")[0].GetProperty("code").GetString());
    }

    [Fact]
    public void PortClosed_Json_FollowsTheReportContract()
    {
        var (exit, stdout, _) = Run("analyze", "--json", Fixture("port-closed.pcap"));
        Assert.Equal(0, exit);
        using var doc = JsonDocument.Parse(stdout);
        var root = doc.RootElement;
        Assert.Equal("rdpwire", root.GetProperty("tool").GetString());
        Assert.Equal(1, root.GetProperty("schema").GetInt32());
        var capture = root.GetProperty("capture");
        foreach (var field in new[] { "path", "format", "linkTypes", "packets", "bytes", "first", "last", "truncatedPackets" })
        {
            Assert.True(capture.TryGetProperty(field, out _), $"capture.{field} missing");
        }
        Assert.Equal("pcap", capture.GetProperty("format").GetString());
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$", capture.GetProperty("first").GetString());
        var connection = root.GetProperty("connections")[0];
        foreach (var field in new[] { "id", "transport", "client", "server", "first", "last", "vantage", "phaseReached", "outcome", "closedBy", "closeKind", "negotiation", "tls", "mcs", "credssp", "findings", "verdict" })
        {
            Assert.True(connection.TryGetProperty(field, out _), $"connection.{field} missing");
        }
        Assert.Equal("tcp.refused", connection.GetProperty("verdict").GetProperty("code").GetString());
        var finding = connection.GetProperty("findings")[0];
        foreach (var field in new[] { "code", "severity", "phase", "frame", "time", "summary", "detail", "evidenceFrames", "fix", "mstscCodes" })
        {
            Assert.True(finding.TryGetProperty(field, out _), $"finding.{field} missing");
        }
        Assert.Equal(2, finding.GetProperty("frame").GetInt64());
    }

    [Fact]
    public void FailOnError_Exit1WhenAnErrorFindingExists()
    {
        Assert.Equal(1, Run("analyze", "--fail-on", "error", Fixture("port-closed.pcap")).Exit);
        Assert.Equal(0, Run("analyze", "--fail-on", "error", Fixture("tls-success.pcap")).Exit);
    }

    [Fact]
    public void TextReport_ShowsLadderVerdictAndFix()
    {
        var (exit, stdout, _) = Run("analyze", Fixture("port-closed.pcap"));
        Assert.Equal(0, exit);
        Assert.Contains("VERDICT tcp.refused", stdout, StringComparison.Ordinal);
        Assert.Contains("<--- RST, ACK ---  <== here", stdout, StringComparison.Ordinal);
        Assert.Contains("fix:", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void HandMade_PcapWithNoRdp_SaysSo()
    {
        // A valid pcap header with one UDP/53 packet over raw IPv4: no RDP anywhere.
        byte[] ip = HandMadeBytes.Hex("4500001C000000004011000001020304050607080035003500080000");
        var (exit, stdout, _) = Run("analyze", TempFile(new HandMadeRawIpPcap().Add(0, ip).ToArray()));
        Assert.Equal(0, exit);
        Assert.Contains("No RDP connections", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void TextReport_NotATerminal_PlainAscii_ColorAlways_AnsiAndUnicode()
    {
        var (_, plain, _) = Run("analyze", Fixture("icmp-unreachable.pcap"));
        Assert.All(plain, ch => Assert.True(ch < 128, $"non-ASCII {(int)ch} in plain output"));
        Assert.Contains("<== here", plain, StringComparison.Ordinal);

        var (_, rich, _) = Run("analyze", Fixture("icmp-unreachable.pcap"), "--color", "always");
        Assert.Contains("\u001b[31m", rich, StringComparison.Ordinal);
        Assert.Contains("──▶", rich, StringComparison.Ordinal);
        Assert.Contains("◀━ here", rich, StringComparison.Ordinal);
        Assert.Equal(plain, Run("analyze", Fixture("icmp-unreachable.pcap"), "--color", "never").Out);
    }

    [Fact]
    public void ConnectionOption_ReportsOnlyThatConnection_UnknownIdIsAnError()
    {
        var (exit, stdout, _) = Run("analyze", Fixture("icmp-unreachable.pcap"), "--connection", "2", "--json");
        Assert.Equal(0, exit);
        using var doc = JsonDocument.Parse(stdout);
        var connections = doc.RootElement.GetProperty("connections");
        Assert.Equal(1, connections.GetArrayLength());
        Assert.Equal(2, connections[0].GetProperty("id").GetInt64());

        var (bad, _, stderr) = Run("analyze", Fixture("icmp-unreachable.pcap"), "--connection", "7");
        Assert.Equal(2, bad);
        Assert.Contains("no connection 7 (the capture has 2: ids 1, 2)", stderr, StringComparison.Ordinal);
    }
}
