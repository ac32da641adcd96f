using System.Globalization;
using System.Net;
using System.Text;
using RdpWire.Analyzer.Report;

namespace RdpWire.Cli.Rendering;

/// <summary>
/// `analyze --html FILE`: one self-contained HTML file (inline CSS and SVG, no scripts, no
/// network fetches) for the colleague or vendor who gets the report by mail: the summary table,
/// then per connection the verdict, a sequence diagram (client and server lanes, each message
/// with its frame number and time offset, the failure point highlighted, retransmissions and
/// ICMP visible), the certificates and every finding with its fix.
/// </summary>
public static class HtmlReport
{
    private const int LaneClient = 150;
    private const int LaneServer = 650;
    private const int DiagramWidth = 800;
    private const int RowHeight = 30;
    private const int DiagramTop = 50;

    public static string Render(AnalysisReport report, bool all)
    {
        var h = new StringBuilder();
        var cap = report.Capture;
        h.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
        h.Append(CultureInfo.InvariantCulture, $"<title>rdpwire: {E(Path.GetFileName(cap.Path))}</title>");
        h.Append("<style>").Append(Css).Append("</style></head><body>\n");
        h.Append(CultureInfo.InvariantCulture, $"<h1>RdpWire report: {E(Path.GetFileName(cap.Path))}</h1>\n");
        h.Append(CultureInfo.InvariantCulture,
            $"<p class=\"meta\">rdpwire {E(report.Version)} · {E(cap.Format)} · {E(string.Join(",", cap.LinkTypes))} · {cap.Packets} packets · {E(cap.First ?? "-")} … {E(cap.Last ?? "-")}</p>\n");
        if (cap.ReadError is { } readError)
        {
            h.Append(CultureInfo.InvariantCulture, $"<p class=\"warning\">The capture is damaged: {E(readError)}; the report covers the packets before it.</p>\n");
        }
        foreach (var f in report.Findings)
        {
            h.Append(CultureInfo.InvariantCulture, $"<p class=\"sev-{E(f.Severity)}\">{E(f.Severity)}: <code>{E(f.Code)}</code> {E(f.Summary)}</p>\n");
        }
        if (report.Connections.Count == 0)
        {
            h.Append("<p>No RDP connections in this capture.</p>\n");
        }
        else
        {
            Summary(h, report.Connections);
        }
        foreach (var c in report.Connections.Where(c => all || report.Connections.Count <= 10 || c.Outcome != "success"))
        {
            Connection(h, c);
        }
        h.Append("</body></html>\n");
        return h.ToString();
    }

    private static void Summary(StringBuilder h, List<ConnectionReport> connections)
    {
        h.Append("<h2>Connections</h2>\n<table class=\"summary\"><thead><tr><th>#</th><th>client</th><th>server</th><th>phase reached</th><th>outcome</th><th>verdict</th></tr></thead><tbody>\n");
        foreach (var c in connections)
        {
            h.Append(CultureInfo.InvariantCulture,
                $"<tr class=\"{E(c.Outcome)}\"><td><a href=\"#c{c.Id}\">{c.Id}</a></td><td>{E(c.Client.ToString())}</td><td>{E(c.Server.ToString())}</td><td>{E(c.PhaseReached)}</td><td>{E(c.Outcome)}</td><td><code>{E(c.Verdict.Code)}</code></td></tr>\n");
        }
        h.Append("</tbody></table>\n");
    }

    private static void Connection(StringBuilder h, ConnectionReport c)
    {
        h.Append(CultureInfo.InvariantCulture, $"<section class=\"connection {E(c.Outcome)}\" id=\"c{c.Id}\">\n");
        h.Append(CultureInfo.InvariantCulture, $"<h2>Connection {c.Id}: {E(c.Client.ToString())} → {E(c.Server.ToString())}</h2>\n");
        var verdict = c.Findings.FirstOrDefault(f => f.Code == c.Verdict.Code);
        h.Append(CultureInfo.InvariantCulture,
            $"<div class=\"verdict sev-{E(verdict?.Severity ?? "info")}\" data-verdict=\"{E(c.Verdict.Code)}\"><div class=\"code\">{E(c.Verdict.Code)}</div><div class=\"summary\">{E(c.Verdict.Summary)}</div>");
        string closed = c.ClosedBy is null ? c.CloseKind ?? "-" : $"{c.ClosedBy} ({c.CloseKind})";
        h.Append(CultureInfo.InvariantCulture, $"<div class=\"facts\">phase reached <b>{E(c.PhaseReached)}</b> · outcome <b>{E(c.Outcome)}</b> · closed by <b>{E(closed)}</b> · captured at {E(c.Vantage)}</div></div>\n");
        if (c.Negotiation is { } n)
        {
            h.Append(CultureInfo.InvariantCulture,
                $"<p>Negotiation: {(n.Cookie is null ? "" : $"cookie <code>{E(n.Cookie)}</code>, ")}requested {E(string.Join("|", n.RequestedProtocols))}, {(n.FailureCode is not null ? $"failure <b>{E(n.FailureCode)}</b>" : $"selected {E(n.SelectedProtocol ?? "-")}")}</p>\n");
        }
        Diagram(h, c);
        if (verdict is not null)
        {
            Finding(h, verdict, isVerdict: true);
        }
        if (c.Tls is { Certificates.Count: > 0 } tls)
        {
            Certificates(h, tls);
        }
        var others = c.Findings.Where(f => f != verdict).ToList();
        if (others.Count > 0)
        {
            h.Append("<h3>Other findings</h3>\n");
            foreach (var f in others)
            {
                Finding(h, f, isVerdict: false);
            }
        }
        h.Append("</section>\n");
    }

    /// <summary>The ladder as an SVG sequence diagram: one row per step, arrows between the lanes.</summary>
    private static void Diagram(StringBuilder h, ConnectionReport c)
    {
        int height = DiagramTop + (c.Ladder.Count * RowHeight) + 20;
        h.Append(CultureInfo.InvariantCulture,
            $"<svg class=\"ladder\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{DiagramWidth}\" height=\"{height}\" viewBox=\"0 0 {DiagramWidth} {height}\" role=\"img\" aria-label=\"Sequence diagram of connection {c.Id}\">\n");
        h.Append("<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"context-stroke\"/></marker></defs>\n");
        h.Append(CultureInfo.InvariantCulture, $"<text class=\"lane\" x=\"{LaneClient}\" y=\"20\">client {E(c.Client.ToString())}</text>");
        h.Append(CultureInfo.InvariantCulture, $"<text class=\"lane\" x=\"{LaneServer}\" y=\"20\">server {E(c.Server.ToString())}</text>\n");
        h.Append(CultureInfo.InvariantCulture, $"<line class=\"lifeline\" x1=\"{LaneClient}\" y1=\"30\" x2=\"{LaneClient}\" y2=\"{height - 10}\"/>");
        h.Append(CultureInfo.InvariantCulture, $"<line class=\"lifeline\" x1=\"{LaneServer}\" y1=\"30\" x2=\"{LaneServer}\" y2=\"{height - 10}\"/>\n");
        int y = DiagramTop;
        foreach (var step in c.Ladder)
        {
            string kind = step.Failure ? "failure"
                : step.Direction == "icmp" ? "icmp"
                : step.Message.Contains("retransmission", StringComparison.OrdinalIgnoreCase) ? "retransmission"
                : step.Message.StartsWith("RST", StringComparison.Ordinal) ? "reset" : "normal";
            string label = $"#{step.Frame} +{step.Offset.ToString("0.000000", CultureInfo.InvariantCulture)}s  {step.Message}";
            h.Append(CultureInfo.InvariantCulture, $"<g class=\"step {kind}\" data-frame=\"{step.Frame}\"><title>frame {step.Frame} at {E(step.Time)}: {E(step.Message)}</title>");
            if (step.Direction == "icmp")
            {
                // ICMP comes from the path (a router), not from a peer: drawn from the middle towards its addressee.
                int mid = (LaneClient + LaneServer) / 2;
                int target = step.IcmpTo == "server" ? LaneServer : LaneClient;
                h.Append(CultureInfo.InvariantCulture, $"<line x1=\"{mid}\" y1=\"{y}\" x2=\"{target}\" y2=\"{y}\" marker-end=\"url(#arrow)\"/><circle cx=\"{mid}\" cy=\"{y}\" r=\"4\"/>");
            }
            else
            {
                bool toServer = step.Direction == "c2s";
                int x1 = toServer ? LaneClient : LaneServer, x2 = toServer ? LaneServer : LaneClient;
                h.Append(CultureInfo.InvariantCulture, $"<line x1=\"{x1}\" y1=\"{y}\" x2=\"{x2}\" y2=\"{y}\" marker-end=\"url(#arrow)\"/>");
            }
            h.Append(CultureInfo.InvariantCulture, $"<text x=\"{(LaneClient + LaneServer) / 2}\" y=\"{y - 6}\">{E(Shorten(label, 90))}</text>");
            if (step.Failure)
            {
                h.Append(CultureInfo.InvariantCulture, $"<text class=\"here\" x=\"{LaneServer + 12}\" y=\"{y + 4}\">← it broke here</text>");
            }
            h.Append("</g>\n");
            y += RowHeight;
        }
        h.Append("</svg>\n");
    }

    private static void Finding(StringBuilder h, Finding f, bool isVerdict)
    {
        h.Append(CultureInfo.InvariantCulture, $"<div class=\"finding sev-{E(f.Severity)}{(isVerdict ? " is-verdict" : "")}\">");
        h.Append(CultureInfo.InvariantCulture, $"<h3>{(isVerdict ? "Verdict: " : "")}<code>{E(f.Code)}</code> <span class=\"badge\">{E(f.Severity)}</span>{(f.Frame is long at ? $" <span class=\"frame\">frame {at}</span>" : "")}</h3>");
        h.Append(CultureInfo.InvariantCulture, $"<p class=\"summary\">{E(f.Summary)}</p><p class=\"detail\">{E(f.Detail)}</p>");
        if (f.EvidenceFrames.Count > 0)
        {
            h.Append(CultureInfo.InvariantCulture, $"<p class=\"evidence\">Evidence frames: {E(string.Join(", ", f.EvidenceFrames))}</p>");
        }
        if (f.Fix.Count > 0)
        {
            h.Append("<h4>What to change</h4><ol class=\"fix\">");
            foreach (string step in f.Fix)
            {
                h.Append(CultureInfo.InvariantCulture, $"<li>{E(step)}</li>");
            }
            h.Append("</ol>");
        }
        if (f.MstscCodes.Count > 0)
        {
            h.Append(CultureInfo.InvariantCulture, $"<p class=\"mstsc\">Windows client (mstsc) shows: {E(string.Join("; ", f.MstscCodes))}</p>");
        }
        h.Append("</div>\n");
    }

    private static void Certificates(StringBuilder h, TlsReport tls)
    {
        h.Append(CultureInfo.InvariantCulture, $"<h3>Server certificates ({E(tls.Version ?? "?")}, {E(tls.CipherSuite ?? "?")})</h3>\n<table class=\"certs\"><thead><tr><th>subject</th><th>issuer</th><th>valid from</th><th>valid until</th><th>key</th><th>signature</th><th>SANs</th><th>SHA-256</th></tr></thead><tbody>\n");
        foreach (var cert in tls.Certificates)
        {
            h.Append(CultureInfo.InvariantCulture,
                $"<tr><td>{E(cert.Subject ?? "-")}</td><td>{E(cert.Issuer ?? "-")}{(cert.SelfSigned == true ? " (self-signed)" : "")}</td><td>{E(cert.NotBefore ?? "-")}</td><td>{E(cert.NotAfter ?? "-")}</td><td>{E(cert.KeyAlgorithm ?? "-")} {cert.KeyBits}</td><td>{E(cert.SignatureAlgorithm ?? "-")}</td><td>{E(string.Join(", ", cert.SubjectAltNames))}</td><td class=\"hash\">{E(cert.Sha256 ?? cert.DecodeError ?? "-")}</td></tr>\n");
        }
        h.Append("</tbody></table>\n");
    }

    private static string Shorten(string text, int max) => text.Length <= max ? text : text[..(max - 1)] + "…";

    private static string E(string text) => WebUtility.HtmlEncode(text);

    private const string Css = """
        body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em;color:#1d2330;max-width:1100px}
        h1{font-size:1.5em}h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ccd}h3{font-size:1.05em}
        .meta{color:#556}code{font-family:ui-monospace,Consolas,monospace;background:#eef0f5;padding:0 .25em;border-radius:3px}
        table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ccd;padding:.25em .5em;text-align:left;font-size:.9em;vertical-align:top}
        tr.failure td{background:#fdecec}tr.success td{background:#ecf8ee}tr.incomplete td{background:#fff7e0}
        .verdict{border-left:6px solid #888;padding:.5em 1em;background:#f6f7fa;margin:.5em 0}
        .verdict .code{font-family:ui-monospace,monospace;font-weight:bold;font-size:1.1em}
        .sev-error.verdict,.finding.sev-error{border-left-color:#c62828}.sev-warning.verdict,.finding.sev-warning{border-left-color:#ef8f00}
        .sev-info.verdict,.finding.sev-info{border-left-color:#2e7d32}
        .finding{border-left:4px solid #888;padding:.2em 1em;margin:.6em 0;background:#fafbfd}
        .badge{font-size:.75em;background:#dde;border-radius:3px;padding:0 .4em}.frame{font-size:.8em;color:#556}
        svg.ladder{background:#fff;border:1px solid #dde;margin:.5em 0}svg.ladder text{font-size:11px;text-anchor:middle;fill:#1d2330}
        svg.ladder text.lane{font-weight:bold;font-size:12px}svg.ladder .lifeline{stroke:#99a;stroke-dasharray:4 3}
        svg.ladder g line{stroke:#3a4a6b;stroke-width:1.5}svg.ladder g.failure line{stroke:#c62828;stroke-width:3}
        svg.ladder g.failure text{fill:#c62828;font-weight:bold}svg.ladder text.here{text-anchor:start;fill:#c62828;font-weight:bold}
        svg.ladder g.retransmission line{stroke:#ef8f00;stroke-dasharray:6 3}svg.ladder g.reset line{stroke:#8e24aa}
        svg.ladder g.icmp line{stroke:#00838f;stroke-dasharray:2 2}svg.ladder g.icmp circle{fill:#00838f}
        .hash{font-family:ui-monospace,monospace;font-size:.75em;word-break:break-all}.warning{color:#a15c00}
        """;
}
