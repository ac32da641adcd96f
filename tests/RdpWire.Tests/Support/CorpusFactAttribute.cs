using Xunit;

namespace RdpWire.Tests.Support;

/// <summary>
/// A fact that reads the shared public corpus (../shared/corpus). Without the corpus it
/// is reported as skipped, never as passed.
/// </summary>
public sealed class CorpusFactAttribute : FactAttribute
{
    public CorpusFactAttribute()
    {
        if (!RepoPaths.CorpusPresent)
        {
            Skip = "shared capture corpus (../shared/corpus beside the repository) not present";
        }
    }
}
