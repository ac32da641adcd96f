using System.Globalization;
using System.Runtime.CompilerServices;

namespace RdpWire.RdpParser;

/// <summary>The one way flag fields become the spec's names: set bits in table order, unknown bits as hex.</summary>
internal static class SpecFlags
{
    public static List<string> Names<T>(T value, ReadOnlySpan<(T Flag, string Name)> table, int hexDigits) where T : struct, Enum
    {
        ulong raw = Bits(value);
        var names = new List<string>();
        ulong known = 0;
        foreach (var (flag, name) in table)
        {
            ulong bit = Bits(flag);
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

    /// <summary>
    /// The flag field's bits, zero-extended. Read in place: Convert.ToUInt64 took the enum as an
    /// object, one allocation per flag of the table on every call (every connection's report names
    /// its negotiation flags).
    /// </summary>
    private static ulong Bits<T>(T value) where T : struct, Enum => Unsafe.SizeOf<T>() switch
    {
        1 => Unsafe.As<T, byte>(ref value),
        2 => Unsafe.As<T, ushort>(ref value),
        4 => Unsafe.As<T, uint>(ref value),
        _ => Unsafe.As<T, ulong>(ref value),
    };
}
