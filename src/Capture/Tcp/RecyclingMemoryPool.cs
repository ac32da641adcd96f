using System.Buffers;

namespace RdpWire.Capture.Tcp;

/// <summary>
/// The memory pool behind the reassembly pipes. MemoryPool&lt;byte&gt;.Shared wraps every rented
/// array in a new owner object; at one pipe segment every few packets that is the only
/// allocation left on the bulk-data path. Here the owners are recycled too: rent takes an
/// owner from a free list (or makes one), dispose gives the array back to ArrayPool and the
/// owner back to the list. One pool per thread: the packet loop is single-threaded.
/// </summary>
public sealed class RecyclingMemoryPool : MemoryPool<byte>
{
    /// <summary>Owners kept for reuse; beyond this they are left to the GC.</summary>
    public const int MaxFreeOwners = 4096;

    [ThreadStatic]
    private static RecyclingMemoryPool? _forThread;

    private readonly Stack<Owner> _free = new();

    /// <summary>The calling thread's pool.</summary>
    public static RecyclingMemoryPool ForThread => _forThread ??= new RecyclingMemoryPool();

    public override int MaxBufferSize => 1024 * 1024;

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        int size = minBufferSize < 0 ? 4096 : minBufferSize;
        var owner = _free.Count > 0 ? _free.Pop() : new Owner(this);
        owner.Take(ArrayPool<byte>.Shared.Rent(size));
        return owner;
    }

    protected override void Dispose(bool disposing)
    {
    }

    private void Recycle(Owner owner)
    {
        if (_free.Count < MaxFreeOwners)
        {
            _free.Push(owner);
        }
    }

    private sealed class Owner(RecyclingMemoryPool pool) : IMemoryOwner<byte>
    {
        private byte[]? _array;

        public Memory<byte> Memory => _array ?? throw new ObjectDisposedException(nameof(Owner));

        public void Take(byte[] array) => _array = array;

        public void Dispose()
        {
            if (_array is { } array)
            {
                _array = null;
                ArrayPool<byte>.Shared.Return(array);
                pool.Recycle(this);
            }
        }
    }
}
