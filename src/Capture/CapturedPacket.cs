namespace RdpWire.Capture;

/// <summary>
/// One packet as a source hands it over: its 1-based frame number (the number Wireshark
/// shows), capture timestamp, link type and the captured bytes. <see cref="Data"/> is
/// borrowed: it stays valid only until the source's next <c>TryReadNext</c> call.
/// </summary>
public readonly struct CapturedPacket
{
    public CapturedPacket(long frame, long timestampTicks, LinkType linkType, int interfaceId,
        int originalLength, ReadOnlyMemory<byte> data, byte subTickNanoseconds = 0)
    {
        SubTickNanoseconds = subTickNanoseconds;
        Frame = frame;
        TimestampTicks = timestampTicks;
        LinkType = linkType;
        InterfaceId = interfaceId;
        OriginalLength = originalLength;
        Data = data;
    }

    /// <summary>1-based packet number in the file, counting every packet record.</summary>
    public long Frame { get; }

    /// <summary>UTC timestamp as <see cref="DateTime.Ticks"/> (100 ns units since 0001-01-01).</summary>
    public long TimestampTicks { get; }

    public DateTime Timestamp => new(TimestampTicks, DateTimeKind.Utc);

    /// <summary>Nanoseconds below the 100 ns tick (0–99) when the source stamps in nanoseconds, so a rewrite keeps the exact time.</summary>
    public byte SubTickNanoseconds { get; }

    /// <summary>The time stamp in nanoseconds since 1970-01-01 UTC.</summary>
    public long UnixNanoseconds => (TimestampTicks - DateTime.UnixEpoch.Ticks) * 100 + SubTickNanoseconds;

    public LinkType LinkType { get; }

    /// <summary>pcapng interface index (0 for classic pcap and live capture).</summary>
    public int InterfaceId { get; }

    /// <summary>Length of the packet on the wire; larger than Data.Length when snaplen cut it.</summary>
    public int OriginalLength { get; }

    public ReadOnlyMemory<byte> Data { get; }

    public bool IsTruncated => OriginalLength > Data.Length;
}
