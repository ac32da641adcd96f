using System.Globalization;
using System.Text;
using RdpWire.Analyzer.Report;

namespace RdpWire.Cli.Rendering;

/// <summary>
/// The plain-text report: a summary table when there are several connections, then per
/// connection the handshake as a ladder (client on the left, server on the right, frame
/// numbers and time offsets), the point where it broke, the verdict, evidence and fix.
/// </summary>
public static class TextReport
{
    private const int LadderWidth = 64;

    public static string Render(AnalysisReport report, bool all) => Render(report, all, TextStyle.Plain);

    public static string Render(AnalysisReport report, bool all, TextStyle style)
    {
        var sb = new StringBuilder();
        var cap = report.Capture;
        sb.AppendLine(CultureInfo.InvariantCulture, $"rdpwire {report.Version}: {cap.Path} ({cap.Format}, {string.Join(",", cap.LinkTypes)}, {cap.Packets} packets, {cap.First ?? "-"} .. {cap.Last ?? "-"})");
        if (cap.ReadError is not null)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"warning: {cap.ReadError}; the report covers the packets before it.");
        }
        foreach (var f in report.Findings)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"{f.Severity}: {f.Code}: {f.Summary}");
        }
        // Spooled connections are read back once, table and details side by side, rather than held in memory.
        int count = report.Spool?.Count ?? report.Connections.Count;
        if (count == 0)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"No RDP connections in this capture: no TCP traffic to port 3389, no RDP Connection Request on any port and no RDP-UDP handshake ({cap.Packets} packets read).");
            return sb.ToString();
        }
        sb.AppendLine();
        var details = new StringBuilder();
        int shown = 0;
        if (count > 1)
        {
            RenderSummaryHeader(sb);
        }
        foreach (var c in report.AllConnections())
        {
            if (count > 1)
            {
                RenderSummaryLine(sb, c);
            }
            if (all || count <= 10 || c.Outcome != "success")
            {
                RenderConnection(details, c, style);
                details.AppendLine();
                shown++;
            }
        }
        if (count > 1)
        {
            sb.AppendLine();
        }
        sb.Append(details);
        int hidden = count - shown;
        if (hidden > 0)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"{hidden} successful connection(s) not shown; --all shows every connection.");
        }
        return sb.ToString();
    }

    private static void RenderSummaryHeader(StringBuilder sb) =>
        sb.AppendLine(CultureInfo.InvariantCulture, $"{"#",-4} {"client",-24} {"server",-24} {"phase",-12} {"outcome",-10} verdict");

    private static void RenderSummaryLine(StringBuilder sb, ConnectionReport c) =>
        sb.AppendLine(CultureInfo.InvariantCulture,
            $"{c.Id,-4} {c.Client,-24} {c.Server,-24} {c.PhaseReached,-12} {c.Outcome,-10} {c.Verdict.Code}");

    public static void RenderConnection(StringBuilder sb, ConnectionReport c) => RenderConnection(sb, c, TextStyle.Plain);

    public static void RenderConnection(StringBuilder sb, ConnectionReport c, TextStyle style)
    {
        sb.AppendLine(CultureInfo.InvariantCulture, $"Connection {c.Id}: {c.Client} -> {c.Server}  (captured at: {c.Vantage})");
        if (c.Negotiation is { } n)
        {
            var parts = new List<string>();
            if (n.Cookie is not null)
            {
                parts.Add($"cookie {n.Cookie}");
            }
            parts.Add($"requested {string.Join("|", n.RequestedProtocols)}");
            parts.Add(n.FailureCode is not null ? $"failure {n.FailureCode}" : $"selected {n.SelectedProtocol ?? "-"}");
            sb.AppendLine("  negotiation: " + string.Join(", ", parts));
        }
        sb.AppendLine(CultureInfo.InvariantCulture, $"  {"frame",7} {"time",10}  {"client",-10}{"",LadderWidth - 20}{"server",10}");
        foreach (var step in c.Ladder)
        {
            string mark = step.Failure ? style.Paint(style.Unicode ? "  ◀━ here" : "  <== here", TextStyle.Red) : "";
            string arrowed = (step.Direction, style.Unicode) switch
            {
                ("c2s", false) => "--- " + step.Message + " --->",
                ("s2c", false) => "<--- " + step.Message + " ---",
                ("c2s", true) => "─── " + step.Message + " ──▶",
                ("s2c", true) => "◀── " + step.Message + " ───",
                (_, false) => "  ! " + step.Message,
                (_, true) => "  ⚡ " + step.Message,
            };
            string line = step.Direction == "s2c" ? arrowed.PadLeft(LadderWidth) : arrowed.PadRight(LadderWidth);
            if (step.Failure)
            {
                line = style.Paint(line, TextStyle.Red);
            }
            else if (step.Direction == "icmp" || step.Message.Contains("retransmission", StringComparison.Ordinal))
            {
                line = style.Paint(line, TextStyle.Yellow);
            }
            sb.AppendLine(CultureInfo.InvariantCulture, $"  {step.Frame,7} {"+" + step.Offset.ToString("0.000000", CultureInfo.InvariantCulture),10}  {line}{mark}");
        }
        string closed = c.ClosedBy is null ? c.CloseKind ?? "-" : $"{c.ClosedBy} ({c.CloseKind})";
        sb.AppendLine(CultureInfo.InvariantCulture, $"  phase reached: {c.PhaseReached}   outcome: {c.Outcome}   closed by: {closed}");
        var verdict = c.Findings.FirstOrDefault(f => f.Code == c.Verdict.Code);
        string verdictColor = (verdict?.Severity ?? "info") switch { "error" => TextStyle.Red, "warning" => TextStyle.Yellow, _ => TextStyle.Green };
        sb.AppendLine(CultureInfo.InvariantCulture, $"  {style.Paint($"VERDICT {c.Verdict.Code}", TextStyle.Bold + verdictColor)}: {c.Verdict.Summary}");
        if (verdict is not null)
        {
            AppendWrapped(sb, "  why: ", verdict.Detail);
            if (verdict.EvidenceFrames.Count > 0)
            {
                sb.AppendLine("  frames: " + string.Join(", ", verdict.EvidenceFrames));
            }
            if (verdict.Fix.Count > 0)
            {
                sb.AppendLine("  fix:");
                foreach (var step in verdict.Fix)
                {
                    AppendWrapped(sb, "    - ", step);
                }
            }
            if (verdict.MstscCodes.Count > 0)
            {
                sb.AppendLine("  Windows client (mstsc) shows: " + string.Join("; ", verdict.MstscCodes));
            }
        }
        foreach (var f in c.Findings.Where(f => f != verdict))
        {
            string color = f.Severity switch { "error" => TextStyle.Red, "warning" => TextStyle.Yellow, _ => TextStyle.Dim };
            sb.AppendLine(CultureInfo.InvariantCulture, $"  {style.Paint($"{f.Severity}: {f.Code}", color)} (frame {f.Frame}): {f.Summary}");
        }
    }

    private static void AppendWrapped(StringBuilder sb, string prefix, string text, int width = 100)
    {
        string indent = new(' ', prefix.Length);
        var line = new StringBuilder(prefix);
        foreach (var word in text.Split(' '))
        {
            if (line.Length + word.Length + 1 > width && line.Length > prefix.Length)
            {
                sb.AppendLine(line.ToString().TrimEnd());
                line.Clear().Append(indent);
            }
            line.Append(word).Append(' ');
        }
        sb.AppendLine(line.ToString().TrimEnd());
    }
}

/// <summary>
/// Colour (ANSI SGR) and Unicode arrows for a terminal; plain ASCII for files, pipes and
/// CI logs. "auto" follows whether stdout is a terminal, NO_COLOR and TERM=dumb.
/// </summary>
public sealed record TextStyle(bool Color, bool Unicode)
{
    public const string Red = "\u001b[31m";
    public const string Yellow = "\u001b[33m";
    public const string Green = "\u001b[32m";
    public const string Bold = "\u001b[1m";
    public const string Dim = "\u001b[2m";
    private const string Reset = "\u001b[0m";

    public static TextStyle Plain { get; } = new(false, false);

    public static TextStyle Rich { get; } = new(true, true);

    public static TextStyle For(string mode, bool stdoutIsTerminal) => mode switch
    {
        "always" => Rich,
        "never" => Plain,
        _ => stdoutIsTerminal && Environment.GetEnvironmentVariable("NO_COLOR") is null
             && Environment.GetEnvironmentVariable("TERM") is not "dumb" ? Rich : Plain,
    };

    public string Paint(string text, string sgr) => Color ? sgr + text + Reset : text;
}
