namespace RdpWire.Analyzer;

/// <summary>
/// Keeps the process's peak memory a property of the analysis, not of the machine or of the
/// capture's length: every <see cref="CollectEveryBytes"/> bytes that the analyzing thread allocates,
/// one full compacting collection.
/// </summary>
/// <remarks>
/// The .NET GC sizes its first-generation budget from the CPU's last-level cache. On a host with a
/// 260 MB L3 that budget is about 130 MB, so a 5 GB capture (144 MB allocated over 4,000
/// connections) collected once and peaked at 142 MB resident, while a 500 MB one never collected
/// (70 MB). The connections' state lives long enough to be promoted and dies old, so collecting the
/// first generation alone does not stop the heap from growing either. Measured on the 5 GB bench
/// capture: 4 MiB between collections gives 72 MB peak against 65 MB for the 500 MB capture, for
/// about 10 ms of pause per collection (31 collections). The per-packet path allocates nothing, so
/// bulk data adds no collections. The budget can only be set from the environment
/// (DOTNET_GCgen0size), which a command-line tool does not own: hence this.
/// </remarks>
public sealed class HeapGovernor
{
    /// <summary>Packets between two looks at the allocation counter.</summary>
    public const int CheckEveryPackets = 4096;

    private long _nextCollectionAt = -1;

    public HeapGovernor(long collectEveryBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(collectEveryBytes);
        CollectEveryBytes = collectEveryBytes;
    }

    public long CollectEveryBytes { get; }

    /// <summary>Collections this governor has asked for.</summary>
    public int Collections { get; private set; }

    /// <summary>Looks at what this thread has allocated since the last collection; collects when it is over the budget.</summary>
    public void Check()
    {
        long allocated = GC.GetAllocatedBytesForCurrentThread();
        if (_nextCollectionAt < 0)
        {
            _nextCollectionAt = allocated + CollectEveryBytes;
            return;
        }
        if (allocated >= _nextCollectionAt)
        {
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
            Collections++;
            _nextCollectionAt = GC.GetAllocatedBytesForCurrentThread() + CollectEveryBytes;
        }
    }
}
