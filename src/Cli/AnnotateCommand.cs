using System.CommandLine;
using System.Globalization;
using RdpWire.Analyzer;
using RdpWire.Analyzer.Report;
using RdpWire.Capture;
using RdpWire.Capture.Files;

namespace RdpWire.Cli;

/// <summary>
/// `rdpwire annotate IN OUT.pcapng`: the capture written back as pcapng with a packet comment
/// (opt_comment, Wireshark's frame.comment / pkt_comment) on every frame a finding cites, so the
/// verdict shows on the packet in Wireshark. Packets, their order and time stamps (to the
/// nanosecond) are unchanged.
/// </summary>
public static class AnnotateCommand
{
    public static Command Create(TextWriter stdout, TextWriter stderr)
    {
        var input = new Argument<string>("capture") { Description = "The pcap or pcapng file to annotate." };
        var output = new Argument<string>("output") { Description = "The pcapng file to write." };
        var keyLog = new Option<string?>("--keylog") { Description = "An NSS key log (SSLKEYLOGFILE) to decrypt TLS before judging." };
        var command = new Command("annotate", "Write the capture back as pcapng with the findings as packet comments.") { input, output, keyLog };
        command.SetAction(result =>
        {
            string inPath = result.GetValue(input)!, outPath = result.GetValue(output)!;
            if (Path.GetFullPath(inPath) == Path.GetFullPath(outPath))
            {
                stderr.WriteLine($"rdpwire: {outPath}: the output would overwrite the input");
                return Program.ExitUsage;
            }
            AnalysisReport report;
            var options = new AnalyzerOptions { CollectEveryAllocatedBytes = Program.CollectEveryAllocatedBytes };
            try
            {
                if (result.GetValue(keyLog) is { } keyLogPath)
                {
                    options = options with { KeyLog = RdpWire.RdpParser.Tls.Decryption.TlsKeyLog.Load(keyLogPath) };
                }
                using var source = CaptureFile.Open(inPath);
                report = CaptureAnalyzer.Analyze(source, options);
            }
            catch (Exception e) when (e is CaptureFormatException or IOException or UnauthorizedAccessException)
            {
                stderr.WriteLine($"rdpwire: {Program.OneLine(inPath, e)}");
                return Program.ExitUsage;
            }
            var comments = Comments(report);
            long packets = 0;
            try
            {
                using var source = CaptureFile.Open(inPath);
                // Comments the capture already carries stay, before ours.
                var pcapng = source as PcapNgFileReader;
                if (pcapng is not null)
                {
                    pcapng.KeepComments = true;
                }
                using var writer = PcapNgWriter.Create(outPath, $"rdpwire {typeof(AnnotateCommand).Assembly.GetName().Version?.ToString(3)} annotate");
                var interfaces = new Dictionary<(int, LinkType), int>();
                try
                {
                    while (source.TryReadNext(out var packet))
                    {
                        if (!interfaces.TryGetValue((packet.InterfaceId, packet.LinkType), out int id))
                        {
                            id = writer.AddInterface(packet.LinkType, 0, null);
                            interfaces[(packet.InterfaceId, packet.LinkType)] = id;
                        }
                        var ours = comments.GetValueOrDefault(packet.Frame);
                        writer.WritePacket(id, packet, pcapng is { Comments.Count: > 0 } ? [.. pcapng.Comments, .. ours ?? []] : ours);
                        packets++;
                    }
                }
                catch (CaptureFormatException e)
                {
                    stderr.WriteLine($"rdpwire: {Program.OneLine(inPath, e)}; wrote the {packets} packets before it");
                }
            }
            catch (Exception e) when (e is CaptureFormatException or IOException or UnauthorizedAccessException)
            {
                stderr.WriteLine($"rdpwire: {Program.OneLine(outPath, e)}");
                return Program.ExitUsage;
            }
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"rdpwire: wrote {outPath}: {packets} packets, {comments.Values.Sum(c => c.Count)} comments on {comments.Count} frames ({report.Connections.Count} RDP connection(s); in Wireshark: filter frame.comment)"));
            return 0;
        });
        return command;
    }

    /// <summary>
    /// Per frame, one comment per finding that cites it: the frame a finding is pinned on gets
    /// its summary (and, for the verdict, the first fix step); its evidence frames name it.
    /// </summary>
    public static Dictionary<long, List<string>> Comments(AnalysisReport report)
    {
        var comments = new Dictionary<long, List<string>>();
        void Add(long frame, string text)
        {
            if (frame <= 0)
            {
                return;
            }
            if (!comments.TryGetValue(frame, out var list))
            {
                comments[frame] = list = [];
            }
            if (!list.Contains(text))
            {
                list.Add(text);
            }
        }
        foreach (var c in report.Connections)
        {
            foreach (var f in c.Findings)
            {
                bool verdict = f.Code == c.Verdict.Code && ReferenceEquals(f, c.Findings[0]);
                if (f.Frame is long at)
                {
                    string fix = verdict && f.Fix.Count > 0 ? " Fix: " + f.Fix[0] : "";
                    Add(at, $"rdpwire: {(verdict ? "VERDICT " : "")}{f.Code} ({f.Severity}, connection {c.Id} {c.Client} -> {c.Server}): {f.Summary}.{fix}");
                }
                foreach (long frame in f.EvidenceFrames.Where(e => e != f.Frame))
                {
                    Add(frame, $"rdpwire: evidence for {f.Code} (connection {c.Id}{(f.Frame is long p ? $", see frame {p}" : "")})");
                }
            }
        }
        foreach (var f in report.Findings)
        {
            foreach (long frame in f.EvidenceFrames.Append(f.Frame ?? 0))
            {
                Add(frame, $"rdpwire: {f.Code} ({f.Severity}, capture-wide): {f.Summary}");
            }
        }
        return comments;
    }
}
