using System.CommandLine;
using RdpWire.Analyzer;
using RdpWire.Analyzer.Replay;
using RdpWire.Analyzer.Report;
using RdpWire.Capture;
using RdpWire.Capture.Files;
using RdpWire.Cli.Rendering;

namespace RdpWire.Cli;

public static class Program
{
    /// <summary>Exit status for usage errors and unreadable input (report contract).</summary>
    public const int ExitUsage = 2;

    /// <summary>Heap budget of the analyzing threads between two full collections (HeapGovernor): 4 MiB.</summary>
    internal const long CollectEveryAllocatedBytes = 4L << 20;

    public static int Main(string[] args) => Run(args, Console.Out, Console.Error);

    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        var root = new RootCommand("rdpwire: find where a Remote Desktop connection setup broke, and why, from a capture.");
        root.Subcommands.Add(AnalyzeCommand(stdout, stderr));
        root.Subcommands.Add(ReplayCommand(stdout, stderr));
        root.Subcommands.Add(CaptureCommands.Capture(stdout, stderr));
        root.Subcommands.Add(CaptureCommands.Interfaces(stdout, stderr));
        root.Subcommands.Add(AnnotateCommand.Create(stdout, stderr));
        root.Subcommands.Add(ExplainCommand.Create(stdout, stderr));

        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var error in parsed.Errors)
            {
                stderr.WriteLine($"rdpwire: {error.Message}");
            }
            stderr.WriteLine("rdpwire: see 'rdpwire --help'");
            return ExitUsage;
        }
        return parsed.Invoke(new InvocationConfiguration { Output = stdout, Error = stderr });
    }

    private static Command AnalyzeCommand(TextWriter stdout, TextWriter stderr)
    {
        var capture = new Argument<string>("capture") { Description = "A pcap or pcapng file." };
        var json = new Option<bool>("--json") { Description = "Print the JSON report (../shared/docs/report-contract.md)." };
        var all = new Option<bool>("--all") { Description = "Show every connection in detail, not only the failed ones." };
        var failOn = new Option<string?>("--fail-on") { Description = "Exit 1 when a finding of this severity or worse exists: error | warning." };
        var keyLog = new Option<string?>("--keylog") { Description = "An NSS key log (SSLKEYLOGFILE) to decrypt TLS: CredSSP, MCS and alerts inside become visible." };
        var connection = new Option<long?>("--connection") { Description = "Report only the connection with this id (as the summary table numbers them)." };
        var color = new Option<string>("--color") { Description = "Colour and Unicode arrows: auto (when stdout is a terminal), always, never.", DefaultValueFactory = _ => "auto" };
        color.AcceptOnlyFromAmong("auto", "always", "never");
        var maxConnections = new Option<int?>("--max-connections") { Description = $"Connections followed at once (default {RdpWire.Capture.Tcp.FlowTableLimits.Default.MaxConnections}); beyond it the least recently active is decided early and the report says so." };
        var maxBufferedMb = new Option<int?>("--max-buffered-mb") { Description = $"Out-of-order bytes held across all connections, in MiB (default {RdpWire.Capture.Tcp.FlowTableLimits.Default.MaxHeldBytesTotal >> 20})." };
        var maxFragmentMb = new Option<int?>("--max-fragment-mb") { Description = $"IP fragments held for reassembly, in MiB (default {RdpWire.Capture.Fragments.DefragmenterLimits.Default.MaxBufferedBytes >> 20})." };
        var maxHandshakeBytes = new Option<int?>("--max-handshake-bytes") { Description = $"TLS handshake messages reassembled up to this size (default {RdpWire.RdpParser.RdpParserLimits.Default.MaxHandshakeMessageBytes}); larger ones are reported, not parsed." };
        var maxCertificates = new Option<int?>("--max-certificates") { Description = $"Certificates of a chain kept for inspection (default {RdpWire.RdpParser.RdpParserLimits.Default.MaxCertificates}); all are counted." };
        var maxCertificateBytes = new Option<int?>("--max-certificate-bytes") { Description = $"Largest certificate kept for inspection (default {RdpWire.RdpParser.RdpParserLimits.Default.MaxCertificateBytes})." };
        var maxAsn1Depth = new Option<int?>("--max-asn1-depth") { Description = $"DER nesting accepted in TSRequests and certificates (default {RdpWire.RdpParser.RdpParserLimits.Default.MaxAsn1Depth})." };
        var maxBufferedPerFlowKb = new Option<int?>("--max-buffered-per-flow-kb") { Description = $"Out-of-order bytes held per direction of a connection, in KiB (default {RdpWire.Capture.Tcp.FlowTableLimits.Default.MaxHeldBytesPerDirection >> 10})." };
        var maxFragmentsPerDatagram = new Option<int?>("--max-fragments-per-datagram") { Description = $"Fragments one IP datagram may have (default {RdpWire.Capture.Fragments.DefragmenterLimits.Default.MaxFragmentsPerDatagram})." };
        var html = new Option<string?>("--html") { Description = "Also write a self-contained HTML report (sequence diagrams, certificates, findings) to this file." };
        var threads = new Option<int>("--threads")
        {
            Description = "Analyze on this many threads, flows spread by their address pair (default 1); the report is the same. Limits apply per thread.",
            DefaultValueFactory = _ => 1,
        };
        var serverKey = new Option<string[]>("--server-key")
        {
            Description = "A server's RSA private key (PEM) to decrypt TLS ≤ 1.2 connections that use RSA key exchange; repeatable.",
            Arity = ArgumentArity.ZeroOrMore,
        };
        failOn.AcceptOnlyFromAmong("error", "warning");
        var command = new Command("analyze", "Analyze a capture file and print a verdict per RDP connection.")
        {
            capture, json, all, failOn, keyLog, serverKey, html, connection, color, maxConnections, maxBufferedMb, maxFragmentMb, maxHandshakeBytes,
            maxCertificates, maxCertificateBytes, maxAsn1Depth, maxBufferedPerFlowKb, maxFragmentsPerDatagram, threads,
        };
        command.SetAction(result =>
        {
            string path = result.GetValue(capture)!;
            AnalysisReport report;
            string? keyLogPath = result.GetValue(keyLog);
            try
            {
                // Pure --json output streams connections from a disk spool: flat memory on huge captures.
                var options = new AnalyzerOptions
                {
                    // Decided connections wait on disk, not in memory, unless a renderer needs them all at once.
                    SpoolConnections = result.GetValue(html) is null && result.GetValue(connection) is null,
                    CollectEveryAllocatedBytes = CollectEveryAllocatedBytes,
                    Limits = RdpWire.Capture.Tcp.FlowTableLimits.Default with
                    {
                        MaxConnections = Math.Max(1, result.GetValue(maxConnections) ?? RdpWire.Capture.Tcp.FlowTableLimits.Default.MaxConnections),
                        MaxHeldBytesPerDirection = Math.Max(1, result.GetValue(maxBufferedPerFlowKb) ?? (RdpWire.Capture.Tcp.FlowTableLimits.Default.MaxHeldBytesPerDirection >> 10)) << 10,
                        MaxHeldBytesTotal = (long)Math.Max(1, result.GetValue(maxBufferedMb) ?? (int)(RdpWire.Capture.Tcp.FlowTableLimits.Default.MaxHeldBytesTotal >> 20)) << 20,
                    },
                    ParserLimits = RdpWire.RdpParser.RdpParserLimits.Default with
                    {
                        MaxHandshakeMessageBytes = Math.Max(64, result.GetValue(maxHandshakeBytes) ?? RdpWire.RdpParser.RdpParserLimits.Default.MaxHandshakeMessageBytes),
                        MaxCertificates = Math.Max(1, result.GetValue(maxCertificates) ?? RdpWire.RdpParser.RdpParserLimits.Default.MaxCertificates),
                        MaxCertificateBytes = Math.Max(64, result.GetValue(maxCertificateBytes) ?? RdpWire.RdpParser.RdpParserLimits.Default.MaxCertificateBytes),
                        MaxAsn1Depth = Math.Clamp(result.GetValue(maxAsn1Depth) ?? RdpWire.RdpParser.RdpParserLimits.Default.MaxAsn1Depth, 4, 1024),
                    },
                    FragmentLimits = RdpWire.Capture.Fragments.DefragmenterLimits.Default with
                    {
                        MaxBufferedBytes = (long)Math.Max(1, result.GetValue(maxFragmentMb) ?? (int)(RdpWire.Capture.Fragments.DefragmenterLimits.Default.MaxBufferedBytes >> 20)) << 20,
                        MaxFragmentsPerDatagram = Math.Max(1, result.GetValue(maxFragmentsPerDatagram) ?? RdpWire.Capture.Fragments.DefragmenterLimits.Default.MaxFragmentsPerDatagram),
                    },
                };
                if (keyLogPath is not null)
                {
                    options = options with { KeyLog = RdpWire.RdpParser.Tls.Decryption.TlsKeyLog.Load(keyLogPath) };
                }
                foreach (string keyPath in result.GetValue(serverKey) ?? [])
                {
                    var keys = options.KeyLog ?? new RdpWire.RdpParser.Tls.Decryption.TlsKeyLog();
                    try
                    {
                        keys.AddServerKey(File.ReadAllText(keyPath));
                    }
                    catch (ArgumentException e)
                    {
                        stderr.WriteLine($"rdpwire: {keyPath}: {e.Message}");
                        return ExitUsage;
                    }
                    options = options with { KeyLog = keys };
                }
                int threadCount = result.GetValue(threads);
                if (threadCount is < 1 or > 64)
                {
                    stderr.WriteLine($"rdpwire: --threads must be between 1 and 64, not {threadCount}");
                    return ExitUsage;
                }
                bool terminal = ReferenceEquals(stderr, Console.Error) && !Console.IsErrorRedirected;
                var stream = CaptureFile.OpenRead(path);
                if (threadCount > 1 && !stream.CanSeek)
                {
                    // A pipe can be read only once, and each of the threads reads the whole file.
                    stderr.WriteLine($"rdpwire: {path}: not a seekable file, so it is read on one thread");
                    threadCount = 1;
                }
                if (threadCount == 1)
                {
                    using var source = CaptureFile.Open(stream, path);
                    using (ProgressBar.Start(stream, stderr, terminal))
                    {
                        report = CaptureAnalyzer.Analyze(source, options);
                    }
                }
                else
                {
                    // Each thread reads the whole file itself, up to where it ended when opened.
                    stream.Dispose();
                    using var readings = CaptureFileReadings.Open(path);
                    using (ProgressBar.Start(() => readings.BytesRead, readings.Length, stderr, terminal))
                    {
                        report = ShardedAnalysis.Analyze(() => readings.OpenSource(path), threadCount, options);
                    }
                }
            }
            catch (Exception e) when (e is CaptureFormatException or IOException or UnauthorizedAccessException)
            {
                stderr.WriteLine($"rdpwire: {OneLine(path, e)}");
                return ExitUsage;
            }
            if (report.Capture.ReadError is { } readError)
            {
                stderr.WriteLine($"rdpwire: {path}: {readError}; reporting the {report.Capture.Packets} packets before it");
            }
            if (result.GetValue(connection) is long id)
            {
                if (!report.Connections.Any(c => c.Id == id))
                {
                    stderr.WriteLine($"rdpwire: {path}: no connection {id} (the capture has {report.Connections.Count}: ids {string.Join(", ", report.Connections.Select(c => c.Id))})");
                    return ExitUsage;
                }
                report.Connections.RemoveAll(c => c.Id != id);
            }
            if (result.GetValue(html) is { } htmlPath)
            {
                try
                {
                    File.WriteAllText(htmlPath, HtmlReport.Render(report, result.GetValue(all)));
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    stderr.WriteLine($"rdpwire: {OneLine(htmlPath, e)}");
                    return ExitUsage;
                }
            }
            if (result.GetValue(json))
            {
                WriteJson(report, stdout);
            }
            else
            {
                var style = TextStyle.For(result.GetValue(color)!, ReferenceEquals(stdout, Console.Out) && !Console.IsOutputRedirected);
                stdout.Write(TextReport.Render(report, result.GetValue(all) || result.GetValue(connection) is not null, style));
            }
            int exit = FailOnExit(report, result.GetValue(failOn));
            report.Spool?.Dispose();
            return exit;
        });
        return command;
    }

    private static Command ReplayCommand(TextWriter stdout, TextWriter stderr)
    {
        var dir = new Argument<string>("directory") { Description = "A folder of captures with NAME.expect.json sidecars." };
        var junit = new Option<string?>("--junit") { Description = "Also write the results as JUnit XML (for CI systems)." };
        var command = new Command("replay", "Check every fixture capture against its sidecar expectation.") { dir, junit };
        command.SetAction(result =>
        {
            string directory = result.GetValue(dir)!;
            if (!Directory.Exists(directory))
            {
                stderr.WriteLine($"rdpwire: {directory}: no such directory");
                return ExitUsage;
            }
            var results = new List<JUnitReport.Case>();
            foreach (var fixture in Fixture.Discover(directory))
            {
                var clock = System.Diagnostics.Stopwatch.StartNew();
                var problems = ReplayOne(fixture);
                results.Add(new JUnitReport.Case(fixture.Name, clock.Elapsed, problems));
                stdout.WriteLine(problems.Count == 0 ? $"PASS {fixture.Name}" : $"FAIL {fixture.Name}: {string.Join("; ", problems)}");
            }
            int failed = results.Count(r => r.Problems.Count > 0), passed = results.Count - failed;
            if (result.GetValue(junit) is { } junitPath)
            {
                try
                {
                    JUnitReport.Write(junitPath, directory, results);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    stderr.WriteLine($"rdpwire: {junitPath}: {e.Message}");
                    return ExitUsage;
                }
            }
            stdout.WriteLine($"{passed} passed, {failed} failed");
            return failed == 0 && passed > 0 ? 0 : 1;
        });
        return command;
    }

    /// <summary>
    /// The JSON report goes straight to the process's stdout as UTF-8 when that is where it is
    /// headed (no string of the whole report in memory); to other writers (tests) as text.
    /// </summary>
    private static void WriteJson(AnalysisReport report, TextWriter stdout)
    {
        if (ReferenceEquals(stdout, Console.Out))
        {
            stdout.Flush();
            using var stream = Console.OpenStandardOutput();
            ReportJson.Write(stream, report);
            stream.WriteByte((byte)'\n');
            return;
        }
        using var buffer = new MemoryStream();
        ReportJson.Write(buffer, report);
        stdout.Write(System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length) + Environment.NewLine);
    }

    /// <summary>Analyzes one fixture and compares it with its sidecar; the list of mismatches.</summary>
    public static IReadOnlyList<string> ReplayOne(Fixture fixture)
    {
        if (!File.Exists(fixture.CapturePath))
        {
            return [$"capture {Path.GetFileName(fixture.CapturePath)} is missing"];
        }
        try
        {
            using var source = CaptureFile.Open(fixture.CapturePath);
            var report = CaptureAnalyzer.Analyze(source);
            return ExpectationChecker.Check(report, File.ReadAllText(fixture.ExpectationPath));
        }
        catch (Exception e) when (e is CaptureFormatException or IOException or System.Text.Json.JsonException)
        {
            return [OneLine(fixture.CapturePath, e)];
        }
    }

    private static int FailOnExit(AnalysisReport report, string? failOn)
    {
        if (failOn is null)
        {
            return 0;
        }
        var findings = report.Findings.Concat(report.AllConnections().SelectMany(c => c.Findings));
        bool hit = findings.Any(f => f.Severity == "error" || (failOn == "warning" && f.Severity == "warning"));
        return hit ? 1 : 0;
    }

    internal static string OneLine(string path, Exception e) => e switch
    {
        FileNotFoundException => $"{path}: no such file",
        DirectoryNotFoundException => $"{path}: no such file or directory",
        UnauthorizedAccessException => $"{path}: permission denied",
        CaptureFormatException => e.Message.StartsWith(path, StringComparison.Ordinal) ? e.Message : $"{path}: {e.Message}",
        _ => $"{path}: {e.Message.ReplaceLineEndings(" ")}",
    };
}
