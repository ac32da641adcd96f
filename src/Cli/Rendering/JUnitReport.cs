using System.Globalization;
using System.Xml;

namespace RdpWire.Cli.Rendering;

/// <summary>
/// `replay --junit`: the de-facto JUnit XML schema CI systems read (Jenkins, GitLab, GitHub
/// test reporters): one testsuite, one testcase per fixture, a failure element per mismatch.
/// </summary>
public static class JUnitReport
{
    public sealed record Case(string Name, TimeSpan Elapsed, IReadOnlyList<string> Problems);

    public static void Write(string path, string directory, IReadOnlyList<Case> cases)
    {
        var settings = new XmlWriterSettings { Indent = true, Encoding = new System.Text.UTF8Encoding(false) };
        using var xml = XmlWriter.Create(path, settings);
        string Seconds(TimeSpan t) => t.TotalSeconds.ToString("0.000", CultureInfo.InvariantCulture);
        var total = TimeSpan.FromTicks(cases.Sum(c => c.Elapsed.Ticks));
        int failures = cases.Count(c => c.Problems.Count > 0);
        xml.WriteStartElement("testsuites");
        xml.WriteAttributeString("tests", cases.Count.ToString(CultureInfo.InvariantCulture));
        xml.WriteAttributeString("failures", failures.ToString(CultureInfo.InvariantCulture));
        xml.WriteAttributeString("time", Seconds(total));
        xml.WriteStartElement("testsuite");
        xml.WriteAttributeString("name", "rdpwire replay " + directory);
        xml.WriteAttributeString("tests", cases.Count.ToString(CultureInfo.InvariantCulture));
        xml.WriteAttributeString("failures", failures.ToString(CultureInfo.InvariantCulture));
        xml.WriteAttributeString("errors", "0");
        xml.WriteAttributeString("skipped", "0");
        xml.WriteAttributeString("time", Seconds(total));
        xml.WriteAttributeString("timestamp", DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss", CultureInfo.InvariantCulture));
        foreach (var c in cases)
        {
            xml.WriteStartElement("testcase");
            xml.WriteAttributeString("classname", "rdpwire.replay");
            xml.WriteAttributeString("name", c.Name);
            xml.WriteAttributeString("time", Seconds(c.Elapsed));
            if (c.Problems.Count > 0)
            {
                xml.WriteStartElement("failure");
                xml.WriteAttributeString("message", c.Problems[0]);
                xml.WriteAttributeString("type", "expectation-mismatch");
                xml.WriteString(string.Join("\n", c.Problems));
                xml.WriteEndElement();
            }
            xml.WriteEndElement();
        }
        xml.WriteEndElement();
        xml.WriteEndElement();
    }
}
