using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using RdpWire.Analyzer;
using RdpWire.Analyzer.Report;
using RdpWire.Capture;
using RdpWire.Capture.Files;
using RdpWire.Capture.Live;
using RdpWire.Cli.Rendering;

namespace RdpWire.Cli;

/// <summary>
/// `rdpwire capture` and `rdpwire interfaces`: live capture through libpcap into the same
/// pipeline `analyze` runs on files, printing each connection as soon as it is decided.
/// </summary>
public static class CaptureCommands
{
    /// <summary>
    /// TCP and UDP on the RDP port, IP fragments (non-first fragments carry no ports), and the
    /// ICMP / ICMPv6 errors that carry path evidence (unreachable incl. fragmentation needed,
    /// time exceeded, packet too big); the same again inside one 802.1Q tag.
    /// </summary>
    public static string DefaultFilter(int port)
    {
        string p = port.ToString(CultureInfo.InvariantCulture);
        string inner = $"tcp port {p} or udp port {p} or (ip[6:2] & 0x3fff != 0) or (ip6 and ip6[6] == 44)"
            + " or icmp[icmptype] == icmp-unreach or icmp[icmptype] == icmp-timxceed"
            + " or (icmp6 and (ip6[40] == 1 or ip6[40] == 2 or ip6[40] == 3))";
        return $"({inner}) or (vlan and ({inner}))";
    }

    public static Command Capture(TextWriter stdout, TextWriter stderr)
    {
        var iface = new Option<string>("--interface", "-i") { Description = "Interface to capture on (see 'rdpwire interfaces').", Required = true };
        var filter = new Option<string?>("--filter", "-f") { Description = "BPF capture filter (pcap-filter(7)); default: the RDP port over TCP and UDP, IP fragments, ICMP/ICMPv6 errors." };
        var port = new Option<int>("--port") { Description = "The RDP port for the default filter.", DefaultValueFactory = _ => 3389 };
        var write = new Option<string?>("--write", "-w") { Description = "Also write the packets to this pcapng file (analyze reads it back)." };
        var duration = new Option<double?>("--duration") { Description = "Stop after this many seconds." };
        var untilVerdict = new Option<bool>("--until-verdict") { Description = "Stop as soon as the first RDP connection has its verdict." };
        var json = new Option<bool>("--json") { Description = "One JSON line per connection (the report contract's Connection object) as each is decided." };
        var snaplen = new Option<int>("--snaplen", "-s") { Description = "Bytes kept per packet.", DefaultValueFactory = _ => 262_144 };
        var noPromisc = new Option<bool>("--no-promiscuous", "-p") { Description = "Do not put the interface into promiscuous mode." };
        var bufferMb = new Option<int>("--buffer-size", "-B") { Description = "Kernel capture buffer in MiB.", DefaultValueFactory = _ => 8 };
        var keyLog = new Option<string?>("--keylog") { Description = "An NSS key log (SSLKEYLOGFILE) to decrypt TLS." };
        var command = new Command("capture", "Capture live and print a verdict for each RDP connection as it is decided.")
        {
            iface, filter, port, write, duration, untilVerdict, json, snaplen, noPromisc, bufferMb, keyLog,
        };
        command.SetAction(result =>
        {
            var options = new LiveCaptureOptions
            {
                Interface = result.GetValue(iface)!,
                Filter = result.GetValue(filter) ?? DefaultFilter(result.GetValue(port)),
                Snaplen = result.GetValue(snaplen),
                Promiscuous = !result.GetValue(noPromisc),
                BufferBytes = Math.Max(1, result.GetValue(bufferMb)) << 20,
            };
            var analyzerOptions = new AnalyzerOptions { SpoolConnections = true, CollectEveryAllocatedBytes = Program.CollectEveryAllocatedBytes };
            if (result.GetValue(keyLog) is { } keyLogPath)
            {
                try
                {
                    analyzerOptions = analyzerOptions with { KeyLog = RdpWire.RdpParser.Tls.Decryption.TlsKeyLog.Load(keyLogPath) };
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    stderr.WriteLine($"rdpwire: {keyLogPath}: {e.Message}");
                    return Program.ExitUsage;
                }
            }
            return Run(options, analyzerOptions, result.GetValue(write), result.GetValue(duration),
                result.GetValue(untilVerdict), result.GetValue(json), stdout, stderr);
        });
        return command;
    }

    public static Command Interfaces(TextWriter stdout, TextWriter stderr)
    {
        var command = new Command("interfaces", "List the interfaces live capture can use.");
        command.SetAction(_ =>
        {
            IReadOnlyList<CaptureInterface> list;
            try
            {
                list = LivePacketSource.ListInterfaces();
            }
            catch (LiveCaptureException e)
            {
                stderr.WriteLine($"rdpwire: {e.Message}");
                return Program.ExitUsage;
            }
            int n = 0;
            foreach (var i in list)
            {
                var state = new List<string> { i.Up ? "up" : "down" };
                if (i.Running)
                {
                    state.Add("running");
                }
                if (i.Loopback)
                {
                    state.Add("loopback");
                }
                stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{++n,3}. {i.Name,-16} [{string.Join(", ", state)}]{(i.Addresses.Count > 0 ? "  " + string.Join(" ", i.Addresses) : "")}{(i.Description is { Length: > 0 } d ? "  (" + d + ")" : "")}"));
            }
            if (n == 0)
            {
                stderr.WriteLine("rdpwire: libpcap lists no interfaces (capturing needs root or CAP_NET_RAW, and some systems list nothing without it)");
            }
            return 0;
        });
        return command;
    }

    private static int Run(LiveCaptureOptions options, AnalyzerOptions analyzerOptions, string? writePath, double? duration,
        bool untilVerdict, bool json, TextWriter stdout, TextWriter stderr)
    {
        LivePacketSource source;
        try
        {
            source = new LivePacketSource(options);
        }
        catch (LiveCaptureException e)
        {
            stderr.WriteLine($"rdpwire: {e.Message}");
            return Program.ExitUsage;
        }
        using var _ = source;
        PcapNgWriter? writer = null;
        try
        {
            if (writePath is not null)
            {
                writer = PcapNgWriter.Create(writePath, $"rdpwire {typeof(CaptureCommands).Assembly.GetName().Version?.ToString(3)}");
                writer.AddInterface(source.LinkType, source.Snaplen, options.Interface);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            stderr.WriteLine($"rdpwire: {writePath}: {e.Message}");
            return Program.ExitUsage;
        }
        using var writerScope = writer;
        if (source.Warning is { } warning)
        {
            stderr.WriteLine($"rdpwire: warning: {warning}");
        }
        // Ctrl-C and SIGTERM stop the capture cleanly; registered before the "capturing" line a caller may wait for.
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, ctx => { ctx.Cancel = true; source.Stop(); });
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx => { ctx.Cancel = true; source.Stop(); });
        stderr.WriteLine($"rdpwire: capturing on {options.Interface} ({LinkTypeNames.Name(source.LinkType)}, snaplen {source.Snaplen}), filter: {options.Filter}{(writePath is null ? "" : $"; writing {writePath}")}; Ctrl-C stops");
        stderr.Flush();

        var analyzer = new CaptureAnalyzer(options.Interface, CaptureFormat.Live, analyzerOptions);
        int decided = 0;
        // The exit summary is tallied here; the reports themselves wait in the analyzer's spool,
        // not in memory, however long the capture runs.
        var outcomes = new Dictionary<string, int>();
        var verdicts = new Dictionary<string, int>();
        analyzer.ConnectionDecided += report =>
        {
            decided++;
            outcomes[report.Outcome] = outcomes.GetValueOrDefault(report.Outcome) + 1;
            verdicts[report.Verdict.Code] = verdicts.GetValueOrDefault(report.Verdict.Code) + 1;
            if (json)
            {
                stdout.WriteLine(ReportJson.SerializeLine(report));
            }
            else
            {
                var sb = new StringBuilder();
                if (report.Outcome == "success")
                {
                    sb.AppendLine(CultureInfo.InvariantCulture, $"Connection {report.Id}: {report.Client} -> {report.Server}: {report.Verdict.Code} (phase {report.PhaseReached}) - {report.Verdict.Summary}");
                }
                else
                {
                    TextReport.RenderConnection(sb, report);
                }
                stdout.Write(sb.ToString());
            }
            stdout.Flush();
            if (untilVerdict)
            {
                source.Stop();
            }
        };

        var clock = Stopwatch.StartNew();
        try
        {
            while (true)
            {
                if (duration is double seconds && clock.Elapsed.TotalSeconds >= seconds)
                {
                    break;
                }
                var read = source.Read(out var packet);
                if (read == LiveReadResult.Stopped)
                {
                    break;
                }
                if (read == LiveReadResult.Idle)
                {
                    analyzer.Advance(DateTime.UtcNow.Ticks);
                    continue;
                }
                writer?.WritePacket(0, packet);
                analyzer.Process(packet);
            }
        }
        catch (CaptureFormatException e)
        {
            analyzer.RecordReadError(e);
            stderr.WriteLine($"rdpwire: {e.Message}");
        }
        var stats = source.Statistics();
        writer?.Flush();
        var final = analyzer.Complete(source.LinkTypes, source.TruncatedPackets);
        final.Capture.Interface = options.Interface;
        final.Capture.Received = stats.Received;
        final.Capture.DroppedByKernel = stats.DroppedByKernel;
        final.Capture.DroppedByInterface = stats.DroppedByInterface;
        final.Spool?.Dispose();
        stderr.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"rdpwire: {source.Packets} packets captured, {stats.Received} received by filter, {stats.DroppedByKernel} dropped by kernel, {stats.DroppedByInterface} dropped by interface"));
        string byVerdict = decided > 0
            ? " - " + string.Join(", ", verdicts.Select(v => string.Create(CultureInfo.InvariantCulture, $"{v.Key} x{v.Value}")))
            : "";
        stderr.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"rdpwire: {decided} RDP connection(s): {outcomes.GetValueOrDefault("failure")} failed, {outcomes.GetValueOrDefault("success")} succeeded, {outcomes.GetValueOrDefault("incomplete")} incomplete{byVerdict}"));
        if (stats.DroppedByKernel + stats.DroppedByInterface > 0)
        {
            stderr.WriteLine("rdpwire: warning: packets were dropped during capture: verdicts may miss evidence; use a larger --buffer-size or a narrower --filter");
        }
        return 0;
    }
}
