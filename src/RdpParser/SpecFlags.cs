using System.Globalization;

namespace RdpWire.RdpParser;

/// <summary>The one way flag fields become the spec's names: set bits in table order, unknown bits as hex.</summary>
internal static class SpecFlags
{
    public static List<string> Names<T>(T value, ReadOnlySpan<(T Flag, string Name)> table, int hexDigits) where T : struct, Enum
    {
        ulong raw = Convert.ToUInt64(value, CultureInfo.InvariantCulture);
        var names = new List<string>();
        ulong known = 0;
        foreach (var (flag, name) in table)
        {
            ulong bit = Convert.ToUInt64(flag, CultureInfo.InvariantCulture);
            known |= bit;
            if (bit != 0 && (raw & bit) == bit)
            {
                names.Add(name);
            }
        }
        ulong unknown = raw & ~known;
        if (unknown != 0)
        {
            names.Add("0x" + unknown.ToString("X" + hexDigits.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture));
        }
        return names;
    }
}
