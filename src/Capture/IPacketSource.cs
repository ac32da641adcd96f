namespace RdpWire.Capture;

public enum CaptureFormat
{
    Pcap,
    PcapNg,
    Live,
}

/// <summary>
/// Anything that yields packets: a pcap or pcapng file, or a live interface. Everything
/// downstream of this interface is shared, so a verdict from live capture equals the
/// verdict from the file written during it.
/// </summary>
public interface IPacketSource : IDisposable
{
    /// <summary>The file path or interface name, for reports.</summary>
    string Name { get; }

    CaptureFormat Format { get; }

    /// <summary>Link types of the interfaces seen so far, in order of appearance.</summary>
    IReadOnlyList<LinkType> LinkTypes { get; }

    /// <summary>Packets whose captured length is below their original length (snaplen).</summary>
    long TruncatedPackets { get; }

    /// <summary>
    /// Reads the next packet. Returns false at the clean end of the input. Throws
    /// <see cref="CaptureFormatException"/> when the input is broken at this point; packets
    /// returned before stay valid results.
    /// </summary>
    bool TryReadNext(out CapturedPacket packet);
}

/// <summary>The input is not a capture, or is broken at a given point. The message is one line for the user.</summary>
public sealed class CaptureFormatException : Exception
{
    public CaptureFormatException(string message, long packetsRead = 0, long byteOffset = -1)
        : base(message)
    {
        PacketsRead = packetsRead;
        ByteOffset = byteOffset;
    }

    /// <summary>How many packets were read successfully before the problem.</summary>
    public long PacketsRead { get; }

    /// <summary>File offset where the problem was found, or -1 when unknown.</summary>
    public long ByteOffset { get; }
}

/// <summary>A source that can carry decryption secrets with the packets (pcapng Decryption Secrets Blocks).</summary>
public interface IDecryptionSecretsSource
{
    /// <summary>TLS key logs (NSS format text) seen so far, in file order.</summary>
    IReadOnlyList<string> TlsKeyLogs { get; }
}

/// <summary>A source that passes over parts of its input it does not read (pcapng blocks of unknown or unused types).</summary>
public interface ISkippedBlocksSource
{
    /// <summary>Per kind of block passed over: how many, and the byte offset of the first.</summary>
    IReadOnlyDictionary<string, (long Count, long FirstOffset)> SkippedBlocks { get; }
}

