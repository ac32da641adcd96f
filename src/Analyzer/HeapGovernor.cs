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
/// <para>
/// While more than <see cref="LiveAllowanceBytes"/> stays alive after a collection, the next budget
/// is smaller by the excess (half the budget at least), so that what is alive plus what is allocated
/// before the next collection stays about the same. A long capture's heap peaks when the most
/// connections are tracked (attempts that never end stay until the idle timeout), and the full
/// budget on top of that peak made the 5 GB bench capture's peak 1.09-1.11x the 500 MB one's. With
/// the shrinking budget, 26.7 MB against 25.4 MB, for 27 collections instead of 23 (pause 127
/// against 122 ms); the 500 MB capture, whose heap stays under the allowance, is unchanged.
/// </para>
/// </remarks>
public sealed class HeapGovernor
{
    /// <summary>Packets between two looks at the allocation counter.</summary>
    public const int CheckEveryPackets = 4096;

    /// <summary>Heap alive after a collection on top of which the whole budget is allowed.</summary>
    public const long LiveAllowanceBytes = 5L << 20;

    private long _nextCollectionAt = -1;
    private readonly bool _allThreads;
    private int _collections;

    /// <param name="allThreads">
    /// Count what every thread allocates, and collect once for all of them: one governor shared by the
    /// analyzers of <c>--threads</c>. (One per thread, each collected on its own thread's budget: a
    /// collection stops every thread, and two governors collected twice as often for the same heap.)
    /// </param>
    public HeapGovernor(long collectEveryBytes, bool allThreads = false)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(collectEveryBytes);
        CollectEveryBytes = collectEveryBytes;
        _allThreads = allThreads;
    }

    public long CollectEveryBytes { get; }

    /// <summary>Collections this governor has asked for.</summary>
    public int Collections => Volatile.Read(ref _collections);

    /// <summary>Looks at what has been allocated since the last collection; collects when it is over the budget.</summary>
    public void Check()
    {
        long allocated = Allocated();
        long next = Volatile.Read(ref _nextCollectionAt);
        if (next < 0)
        {
            Interlocked.CompareExchange(ref _nextCollectionAt, allocated + CollectEveryBytes, next);
            return;
        }
        // One thread collects for the budget; the others go on.
        if (allocated >= next && Interlocked.CompareExchange(ref _nextCollectionAt, long.MaxValue, next) == next)
        {
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
            Interlocked.Increment(ref _collections);
            Volatile.Write(ref _nextCollectionAt, Allocated() + NextBudget(GC.GetTotalMemory(forceFullCollection: false)));
        }
    }

    /// <summary>Bytes to allocate before the next collection, with <paramref name="alive"/> bytes left by this one.</summary>
    internal long NextBudget(long alive) =>
        Math.Clamp(CollectEveryBytes + LiveAllowanceBytes - alive, CollectEveryBytes / 2, CollectEveryBytes);

    private long Allocated() => _allThreads ? GC.GetTotalAllocatedBytes(precise: false) : GC.GetAllocatedBytesForCurrentThread();
}
