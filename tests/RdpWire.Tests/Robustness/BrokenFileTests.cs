using System.Buffers.Binary;
using System.Text.Json;
using RdpWire.Cli;
using RdpWire.Tests.Support;
using Xunit;

namespace RdpWire.Tests.Robustness;

/// <summary>
/// Captures from the field are truncated, cut by snaplen, of link types we do not decode, or
/// carry pcapng blocks we do not read: one clear stderr line and exit 2 when nothing can be
/// read, otherwise the honest partial report with a capture-wide finding saying what was
/// skipped and where. The files are recorded fixtures transformed by hand (named so).
/// </summary>
public class BrokenFileTests
{
    private static (int Exit, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int exit = Program.Run(args, stdout, stderr);
        return (exit, stdout.ToString(), stderr.ToString());
    }

    private static string Temp(byte[] bytes, string extension = ".pcap")
    {
        string path = Path.Combine(Path.GetTempPath(), $"rdpwire-broken-{Guid.NewGuid():N}{extension}");
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static byte[] Fixture(string name) => File.ReadAllBytes(Path.Combine(RepoPaths.FixturesDir, name));

    private static JsonElement Findings(string json) => JsonDocument.Parse(json).RootElement.GetProperty("findings");

    [Theory]
    [InlineData(1)]
    [InlineData(10)]
    [InlineData(23)]
    public void HandMade_TruncatedInsideTheFileHeader_OneLineExit2(int length)
    {
        string path = Temp(Fixture("port-closed.pcap")[..length]);
        var (exit, stdout, stderr) = Run("analyze", path);
        Assert.Equal(2, exit);
        Assert.Equal("", stdout);
        Assert.Single(stderr.Trim().Split('\n'));
        Assert.StartsWith($"rdpwire: {path}", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void HandMade_SnaplenShorterThanTheHeaders_PartialReportNamesWhatWasSkipped()
    {
        // tls12-success rewritten as if captured with snaplen 30: Ethernet and 16 bytes of each IPv4 header.
        var original = Fixture("tls12-success.pcap");
        var cut = new List<byte>(original[..24]);
        BinaryPrimitives.WriteUInt32LittleEndian(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(cut)[16..], 30);
        int packets = 0;
        for (int at = 24; at + 16 <= original.Length; packets++)
        {
            int incl = (int)BinaryPrimitives.ReadUInt32LittleEndian(original.AsSpan(at + 8));
            var header = original.AsSpan(at, 16).ToArray();
            BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(8), (uint)Math.Min(incl, 30));
            cut.AddRange(header);
            cut.AddRange(original.AsSpan(at + 16, Math.Min(incl, 30)).ToArray());
            at += 16 + incl;
        }
        var (exit, stdout, _) = Run("analyze", "--json", Temp([.. cut]));
        Assert.Equal(0, exit);
        var finding = Assert.Single(Findings(stdout).EnumerateArray(), f => f.GetProperty("code").GetString() == "capture.undecoded-packets");
        Assert.Equal($"{packets} packet(s) skipped: cut inside their headers (snaplen shorter than the headers, or a damaged file)", finding.GetProperty("summary").GetString());
        Assert.Equal(1, finding.GetProperty("frame").GetInt64());
        Assert.Equal(0, JsonDocument.Parse(stdout).RootElement.GetProperty("connections").GetArrayLength());
    }

    [Fact]
    public void HandMade_LinkTypeNotDecoded_PartialReportNamesIt()
    {
        var bytes = Fixture("port-closed.pcap");
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(20), 147); // LINKTYPE_USER0
        var (exit, stdout, _) = Run("analyze", "--json", Temp(bytes));
        Assert.Equal(0, exit);
        var finding = Assert.Single(Findings(stdout).EnumerateArray(), f => f.GetProperty("code").GetString() == "capture.undecoded-packets");
        Assert.Equal("4 packet(s) skipped: link type LINKTYPE_147 (not decoded)", finding.GetProperty("summary").GetString());
    }

    [Fact]
    public void HandMade_PcapNgWithUnknownBlocks_AnalyzedAndTheSkippedBlocksNamed()
    {
        // Two blocks of an unassigned type inserted after the Section Header Block of a recorded pcapng.
        var original = Fixture("cert-expired-tls13-embedded-keys.pcapng");
        int shb = (int)BinaryPrimitives.ReadUInt32LittleEndian(original.AsSpan(4));
        byte[] unknown = new byte[16];
        BinaryPrimitives.WriteUInt32LittleEndian(unknown, 0x00000BAD);
        BinaryPrimitives.WriteUInt32LittleEndian(unknown.AsSpan(4), 16);
        BinaryPrimitives.WriteUInt32LittleEndian(unknown.AsSpan(12), 16);
        string path = Temp([.. original.AsSpan(0, shb), .. unknown, .. unknown, .. original.AsSpan(shb)], ".pcapng");
        var (exit, stdout, _) = Run("analyze", "--json", path);
        Assert.Equal(0, exit);
        var root = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal("tls.cert-expired", root.GetProperty("connections")[0].GetProperty("verdict").GetProperty("code").GetString());
        var finding = Assert.Single(Findings(stdout).EnumerateArray(), f => f.GetProperty("code").GetString() == "capture.skipped-blocks");
        Assert.Contains($"2 block of type 0x00000BAD(s), the first at byte offset {shb}", finding.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }
}
