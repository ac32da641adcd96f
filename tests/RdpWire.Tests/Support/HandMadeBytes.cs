namespace RdpWire.Tests.Support;

/// <summary>Hand-made test bytes written as hex, with spaces or any other separators between digits.</summary>
public static class HandMadeBytes
{
    public static byte[] Hex(string hex) => Convert.FromHexString(string.Concat(hex.Where(Uri.IsHexDigit)));
}
