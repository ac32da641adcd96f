using RdpWire.Analyzer;
using Xunit;

namespace RdpWire.Tests.Analyzer;

/// <summary>Tests that count the whole process's allocations run alone, after the parallel ones.</summary>
[CollectionDefinition(nameof(ProcessWideAllocationTests), DisableParallelization = true)]
public sealed class ProcessWideAllocationCollection;

/// <summary>
/// The <c>--threads</c> heap governor counts every thread's allocations: beside other tests, they could
/// spend another budget in the moment this test's threads look.
/// </summary>
[Collection(nameof(ProcessWideAllocationTests))]
public class ProcessWideAllocationTests
{
    [Fact]
    public void HeapGovernor_SharedByThreads_CollectsOncePerBudgetForAllOfThem()
    {
        // The --threads governor counts every thread's allocations; threads that find the budget spent
        // at the same moment collect once, not once each.
        var governor = new HeapGovernor(64L << 20, allThreads: true);
        governor.Check();
        var keep = new List<byte[]>();
        for (int i = 0; i < 66; i++)
        {
            keep.Add(new byte[1 << 20]);
        }
        using var start = new Barrier(8);
        var threads = Enumerable.Range(0, 8).Select(_ => new Thread(() =>
        {
            start.SignalAndWait();
            governor.Check();
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        Assert.Equal(1, governor.Collections);
        GC.KeepAlive(keep);
    }
}
