using System.Globalization;
using System.Text.Json;
using RdpWire.Analyzer.Report;

namespace RdpWire.Analyzer.Replay;

/// <summary>One fixture: a capture and its sidecar expectation (NAME.expect.json beside NAME.pcap/.pcapng).</summary>
public sealed record Fixture(string Name, string CapturePath, string ExpectationPath)
{
    public const string ExpectationSuffix = ".expect.json";

    /// <summary>Every capture in <paramref name="directory"/> that has a sidecar, by name.</summary>
    public static IReadOnlyList<Fixture> Discover(string directory)
    {
        var fixtures = new List<Fixture>();
        foreach (var expectation in Directory.EnumerateFiles(directory, "*" + ExpectationSuffix).Order(StringComparer.Ordinal))
        {
            string name = Path.GetFileName(expectation)[..^ExpectationSuffix.Length];
            string? capture = new[] { ".pcap", ".pcapng" }
                .Select(ext => Path.Combine(directory, name + ext))
                .FirstOrDefault(File.Exists);
            fixtures.Add(new Fixture(name, capture ?? Path.Combine(directory, name + ".pcap"), expectation));
        }
        return fixtures;
    }
}

/// <summary>
/// Compares a report with a sidecar expectation. Only the fields the sidecar names are
/// checked, so a sidecar states exactly what the fixture proves: verdict, phase, outcome,
/// closing, key frames and negotiation values, per connection in capture order.
/// </summary>
public static class ExpectationChecker
{
    public static IReadOnlyList<string> Check(AnalysisReport report, string expectationJson)
    {
        var problems = new List<string>();
        using var doc = JsonDocument.Parse(expectationJson);
        var root = doc.RootElement;
        if (!root.TryGetProperty("connections", out var expected) || expected.ValueKind != JsonValueKind.Array)
        {
            return ["expectation has no \"connections\" array"];
        }
        var actual = report.Connections;
        if (expected.GetArrayLength() != actual.Count)
        {
            problems.Add($"expected {expected.GetArrayLength()} connection(s), found {actual.Count}");
        }
        int i = 0;
        foreach (var e in expected.EnumerateArray())
        {
            if (i >= actual.Count)
            {
                break;
            }
            var a = actual[i++];
            string where = $"connection {i}";
            CheckString(e, "client", a.Client.ToString(), where, problems);
            CheckString(e, "server", a.Server.ToString(), where, problems);
            CheckString(e, "verdict", a.Verdict.Code, where, problems);
            CheckString(e, "phaseReached", a.PhaseReached, where, problems);
            CheckString(e, "outcome", a.Outcome, where, problems);
            CheckString(e, "closedBy", a.ClosedBy, where, problems);
            CheckString(e, "closeKind", a.CloseKind, where, problems);
            var verdictFinding = a.Findings.FirstOrDefault(f => f.Code == a.Verdict.Code);
            if (e.TryGetProperty("verdictFrame", out var vf) && vf.ValueKind == JsonValueKind.Number
                && verdictFinding?.Frame != vf.GetInt64())
            {
                problems.Add($"{where}: verdictFrame expected {vf.GetInt64()}, got {verdictFinding?.Frame.ToString() ?? "none"}");
            }
            if (e.TryGetProperty("evidenceFrames", out var ef) && ef.ValueKind == JsonValueKind.Array)
            {
                var want = ef.EnumerateArray().Select(x => x.GetInt64()).ToList();
                var got = verdictFinding?.EvidenceFrames ?? [];
                var missing = want.Except(got).ToList();
                if (missing.Count > 0)
                {
                    problems.Add($"{where}: evidence frames {string.Join(",", missing)} not cited (cited: {string.Join(",", got)})");
                }
            }
            if (e.TryGetProperty("findingCodes", out var fc) && fc.ValueKind == JsonValueKind.Array)
            {
                foreach (var code in fc.EnumerateArray().Select(x => x.GetString()))
                {
                    if (!a.Findings.Any(f => f.Code == code))
                    {
                        problems.Add($"{where}: finding {code} expected, not reported (got {string.Join(",", a.Findings.Select(f => f.Code))})");
                    }
                }
            }
            if (e.TryGetProperty("absentFindingCodes", out var afc) && afc.ValueKind == JsonValueKind.Array)
            {
                foreach (var code in afc.EnumerateArray().Select(x => x.GetString()))
                {
                    if (a.Findings.Any(f => f.Code == code))
                    {
                        problems.Add($"{where}: finding {code} must not be reported");
                    }
                }
            }
            if (e.TryGetProperty("realPathMtu", out var mtu) && mtu.ValueKind == JsonValueKind.Number)
            {
                int real = mtu.GetInt32();
                if (a.Path is not { } path || real < path.MtuLow || real > path.MtuHigh)
                {
                    problems.Add($"{where}: the path MTU estimate {(a.Path is { } p ? $"{p.MtuLow}..{p.MtuHigh}" : "(none)")} does not bracket the real {real}");
                }
            }
            if (e.TryGetProperty("icmpNextHopMtu", out var hop) && hop.ValueKind == JsonValueKind.Number
                && a.Path?.IcmpNextHopMtu != hop.GetInt32())
            {
                problems.Add($"{where}: ICMP next-hop MTU expected {hop.GetInt32()}, got {a.Path?.IcmpNextHopMtu?.ToString() ?? "none"}");
            }
            if (e.TryGetProperty("tls", out var t) && t.ValueKind == JsonValueKind.Object)
            {
                CheckTls(t, a.Tls, where + " tls", problems);
            }
            if (e.TryGetProperty("negotiation", out var n) && n.ValueKind == JsonValueKind.Object)
            {
                var an = a.Negotiation;
                if (an is null)
                {
                    problems.Add($"{where}: expected negotiation data, found none");
                    continue;
                }
                CheckString(n, "cookie", an.Cookie, where + " negotiation", problems);
                CheckString(n, "selectedProtocol", an.SelectedProtocol, where + " negotiation", problems);
                CheckString(n, "failureCode", an.FailureCode, where + " negotiation", problems);
                if (n.TryGetProperty("requestedProtocols", out var rp) && rp.ValueKind == JsonValueKind.Array)
                {
                    var want = rp.EnumerateArray().Select(x => x.GetString()).ToList();
                    if (!want.SequenceEqual(an.RequestedProtocols))
                    {
                        problems.Add($"{where} negotiation: requestedProtocols expected [{string.Join(",", want)}], got [{string.Join(",", an.RequestedProtocols)}]");
                    }
                }
            }
        }
        return problems;
    }

    private static void CheckTls(JsonElement t, TlsReport? tls, string where, List<string> problems)
    {
        if (tls is null)
        {
            problems.Add($"{where}: expected a TLS handshake, found none");
            return;
        }
        CheckString(t, "version", tls.Version, where, problems);
        CheckString(t, "cipherSuite", tls.CipherSuite, where, problems);
        CheckString(t, "serverName", tls.ServerName, where, problems);
        CheckString(t, "certificateSubject", tls.Certificates.FirstOrDefault()?.Subject, where, problems);
        CheckString(t, "certificateNotAfter", tls.Certificates.FirstOrDefault()?.NotAfter is { } na ? na.Replace(".000000Z", "Z", StringComparison.Ordinal) : null, where, problems);
        if (t.TryGetProperty("clientVersions", out var cv) && cv.ValueKind == JsonValueKind.Array)
        {
            var want = cv.EnumerateArray().Select(x => x.GetString()).ToList();
            if (!want.SequenceEqual(tls.ClientVersions))
            {
                problems.Add($"{where}: clientVersions expected [{string.Join(",", want)}], got [{string.Join(",", tls.ClientVersions)}]");
            }
        }
        if (t.TryGetProperty("alerts", out var al) && al.ValueKind == JsonValueKind.Array)
        {
            var wanted = al.EnumerateArray().ToList();
            if (wanted.Count != tls.Alerts.Count)
            {
                problems.Add($"{where}: expected {wanted.Count} alert(s), found {tls.Alerts.Count} ({string.Join(", ", tls.Alerts.Select(x => $"{x.From} {x.Description} frame {x.Frame}"))})");
                return;
            }
            for (int i = 0; i < wanted.Count; i++)
            {
                var w = wanted[i];
                var got = tls.Alerts[i];
                string at = $"{where} alert {i + 1}";
                CheckString(w, "from", got.From, at, problems);
                // An encrypted alert's level and description are known only once decrypted.
                bool hidden = got.Level == "unknown";
                CheckString(w, "description", hidden ? null : got.Description, at, problems);
                CheckString(w, "level", hidden ? null : got.Level, at, problems);
                if (w.TryGetProperty("frame", out var f) && f.GetInt64() != got.Frame)
                {
                    problems.Add($"{at}: frame expected {f.GetInt64()}, got {got.Frame}");
                }
                if (w.TryGetProperty("encrypted", out var enc) && enc.GetBoolean() != got.Encrypted)
                {
                    problems.Add($"{at}: encrypted expected {enc.GetBoolean()}, got {got.Encrypted}");
                }
            }
        }
    }

    private static void CheckString(JsonElement e, string property, string? actual, string where, List<string> problems)
    {
        if (!e.TryGetProperty(property, out var v))
        {
            return;
        }
        string? want = v.ValueKind == JsonValueKind.Null ? null : v.ToString();
        if (!string.Equals(want, actual, StringComparison.Ordinal))
        {
            problems.Add($"{where}: {property} expected {want ?? "null"}, got {actual ?? "null"}");
        }
    }
}
