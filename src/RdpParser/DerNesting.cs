namespace RdpWire.RdpParser;

/// <summary>
/// How deep DER structures nest (ITU-T X.690 8.1: identifier, length, contents; constructed
/// encodings hold further TLVs), checked by an iterative walk before a decoder recurses into
/// them. Real TSRequests nest about six levels and certificates about ten; a blob nested
/// thousands deep is refused at a limit, and the caller says the limit was hit.
/// </summary>
public static class DerNesting
{
    public const int DefaultMaxDepth = 64;

    /// <summary>
    /// False when constructed encodings nest deeper than <paramref name="maxDepth"/>. True when
    /// within it, and also when the walk cannot tell (indefinite lengths, lengths past the end):
    /// the decoder then reports what is wrong with the encoding itself.
    /// </summary>
    public static bool WithinDepth(ReadOnlySpan<byte> der, int maxDepth = DefaultMaxDepth)
    {
        Span<int> ends = maxDepth <= 256 ? stackalloc int[maxDepth + 1] : new int[maxDepth + 1];
        int depth = 0;
        ends[0] = der.Length;
        int pos = 0;
        while (true)
        {
            while (depth > 0 && pos >= ends[depth])
            {
                depth--;
            }
            if (pos >= ends[depth])
            {
                return true;
            }
            byte identifier = der[pos++];
            if ((identifier & 0x1F) == 0x1F)
            {
                // High tag number form (X.690 8.1.2.4): continuation bytes while bit 8 is set.
                while (pos < der.Length && (der[pos] & 0x80) != 0)
                {
                    pos++;
                }
                pos++;
            }
            if (pos >= der.Length)
            {
                return true;
            }
            int first = der[pos++];
            long length;
            if (first < 0x80)
            {
                length = first;
            }
            else if (first == 0x80 || first - 0x80 > 4)
            {
                return true; // indefinite (BER) or absurd: not ours to judge here
            }
            else
            {
                length = 0;
                for (int i = 0; i < first - 0x80; i++)
                {
                    if (pos >= der.Length)
                    {
                        return true;
                    }
                    length = (length << 8) | der[pos++];
                }
            }
            if (pos + length > ends[depth])
            {
                return true;
            }
            if ((identifier & 0x20) != 0)
            {
                if (depth == maxDepth)
                {
                    return false;
                }
                ends[++depth] = pos + (int)length;
            }
            else
            {
                pos += (int)length;
            }
        }
    }
}
