using System.Globalization;
using RdpWire.Analyzer.Report;
using Xunit;

namespace RdpWire.Tests.Analyzer;

/// <summary>The report's time stamps, written digit by digit, equal DateTime's own ISO 8601 formatting.</summary>
public class ReportTimeTests
{
    private static string Reference(long ticks) =>
        new DateTime(ticks, DateTimeKind.Utc).ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture);

    [Fact]
    public void Format_EqualsDateTimeFormatting_AtTheEdgesAndAcrossTheRange()
    {
        // Hand-made instants at the boundaries: the first and last representable ticks, leap days,
        // year ends, sub-microsecond ticks that must be cut (not rounded), and the Unix epoch.
        long[] edges =
        [
            0, 9, 10, DateTime.MaxValue.Ticks, DateTime.UnixEpoch.Ticks,
            new DateTime(2024, 2, 29, 23, 59, 59, DateTimeKind.Utc).Ticks + 9_999_999,
            new DateTime(1999, 12, 31, 23, 59, 59, DateTimeKind.Utc).Ticks + 9_999_995,
            new DateTime(2026, 11, 22, 9, 0, 0, DateTimeKind.Utc).Ticks + 1,
        ];
        foreach (long ticks in edges)
        {
            Assert.Equal(Reference(ticks), ReportTime.Format(ticks));
        }
        var random = new Random(2026);
        for (int i = 0; i < 100_000; i++)
        {
            long ticks = random.NextInt64(0, DateTime.MaxValue.Ticks + 1);
            Assert.Equal(Reference(ticks), ReportTime.Format(ticks));
        }
    }
}
