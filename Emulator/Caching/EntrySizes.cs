namespace MmuSim.Caching;

/// <summary>
/// Which entry sizes (log2 of the bytes an entry maps) a structure of mixed page, block and contiguous-group
/// entries holds right now, so a lookup probes only those: a bit per size, kept by a count of entries per size.
/// </summary>
/// <remarks>A struct, held in a mutable field, so the lookup reads the mask without another indirection.</remarks>
public struct EntrySizes
{
    private readonly int[] _count;

    public EntrySizes()
    {
        _count = new int[64];
        Mask = 0;
    }

    /// <summary>Bit s set while at least one entry of size 2^s is held.</summary>
    public ulong Mask { readonly get; private set; }

    /// <summary>An entry of size 2^<paramref name="shift"/> was added.</summary>
    public void Add(int shift)
    {
        _count[shift]++;
        Mask |= 1UL << shift;
    }

    /// <summary>An entry of size 2^<paramref name="shift"/> was removed (invalidated or evicted).</summary>
    public void Remove(int shift)
    {
        if (--_count[shift] == 0)
        {
            Mask &= ~(1UL << shift);
        }
    }
}
