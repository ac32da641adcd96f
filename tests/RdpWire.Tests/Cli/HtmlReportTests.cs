using System.Diagnostics;
using RdpWire.Cli;
using RdpWire.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace RdpWire.Tests.Cli;

/// <summary>
/// `analyze --html`: the file is self-contained, and headless Chromium renders the diagram
/// and the verdict (checked in the DOM Chromium built); a screenshot is kept for a person.
/// </summary>
public class HtmlReportTests(ITestOutputHelper output)
{
    private static string WriteReport(string fixture)
    {
        string html = Path.Combine(Path.GetTempPath(), $"rdpwire-{fixture}-{Guid.NewGuid():N}.html");
        int exit = Program.Run(["analyze", Path.Combine(RepoPaths.FixturesDir, fixture + ".pcap"), "--html", html], new StringWriter(), new StringWriter());
        Assert.Equal(0, exit);
        return html;
    }

    [Theory]
    [InlineData("cert-expired-tls12")]
    [InlineData("mtu-icmp-recovery")]
    public void Html_IsSelfContained_NoScriptsNoFetches(string fixture)
    {
        string path = WriteReport(fixture);
        try
        {
            string html = File.ReadAllText(path);
            Assert.StartsWith("<!DOCTYPE html>", html, StringComparison.Ordinal);
            Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("src=", html, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("<link", html, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("url(http", html, StringComparison.OrdinalIgnoreCase);
            Assert.Contains("<svg class=\"ladder\"", html, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [ToolFact("chromium")]
    public void Html_RenderedByHeadlessChromium_DiagramFailurePointAndVerdictInTheDom()
    {
        string path = WriteReport("cert-expired-tls12");
        string screenshot = Path.Combine(AppContext.BaseDirectory, "html-report-cert-expired-tls12.png");
        try
        {
            string dom = Chromium("--dump-dom", "file://" + path);
            Assert.Contains("data-verdict=\"tls.cert-expired\"", dom, StringComparison.Ordinal);
            Assert.Contains("<svg class=\"ladder\"", dom, StringComparison.Ordinal);
            // The failure point: the step pinned on the certificate (frame 9) is highlighted.
            Assert.Contains("<g class=\"step failure\" data-frame=\"9\">", dom, StringComparison.Ordinal);
            Assert.Contains("it broke here", dom, StringComparison.Ordinal);
            Assert.Contains("CN=rwlab-server", dom, StringComparison.Ordinal);

            Chromium("--window-size=1000,1400", "--hide-scrollbars", "--screenshot=" + screenshot, "file://" + path);
            var png = File.ReadAllBytes(screenshot);
            Assert.True(png.Length > 10_000, "the screenshot is nearly empty");
            Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], png[..4]);
            output.WriteLine($"screenshot for a person to look at: {screenshot}");
        }
        finally
        {
            File.Delete(path);
        }
    }

    [ToolFact("chromium")]
    public void Html_IcmpAndRetransmissionsVisibleInTheDiagram()
    {
        string icmp = WriteReport("mtu-icmp-recovery"), retransmit = WriteReport("syn-dropped");
        try
        {
            Assert.Contains("<g class=\"step icmp\" data-frame=\"12\">", Chromium("--dump-dom", "file://" + icmp), StringComparison.Ordinal);
            Assert.Contains("<g class=\"step retransmission\"", Chromium("--dump-dom", "file://" + retransmit), StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(icmp);
            File.Delete(retransmit);
        }
    }

    private static string Chromium(params string[] args)
    {
        var info = new ProcessStartInfo(ToolFactAttribute.Find("chromium")!) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in (string[])["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", .. args])
        {
            info.ArgumentList.Add(a);
        }
        using var p = Process.Start(info)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(TimeSpan.FromSeconds(90)), "chromium did not finish");
        Assert.True(p.ExitCode == 0, stderr.Result);
        return stdout;
    }
}
