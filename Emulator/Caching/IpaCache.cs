using System.Numerics;
using MmuSim.Bits;
using MmuSim.Translation;

namespace MmuSim.Caching;

/// <summary>A cached stage-2 leaf and the line that filled it.</summary>
public struct IpaCacheEntry
{
    public Stage2LeafEntry Leaf;
    public long FillLine;
}

/// <summary>
/// The IPA→PA cache of stage-2 leaf entries, used by every stage-2 lookup: the final IPA of a TLB miss and the
/// IPAs of stage-1 tables during a nested walk. Entries of every size share the sets, as in <see cref="Tlb"/>.
/// </summary>
public sealed class IpaCache
{
    private readonly SetAssociativeArray<IpaCacheEntry> _array;
    private EntrySizes _sizes = new();

    public IpaCache(IpaCacheConfig config)
    {
        Config = config;
        _array = new SetAssociativeArray<IpaCacheEntry>(config.Sets, config.Ways, config.Policy, config.Seed);
    }

    public IpaCacheConfig Config { get; }
    public string Name => Config.Name;
    public int Latency => Config.Latency;
    public StructureStats Stats { get; } = new();

    private static ulong TagOf(ulong ipa, int shift) => (ipa & ~BitOps.Mask(shift)) | (uint)shift;

    public bool TryFind(ulong ctx, ulong ipa, out IpaCacheEntry entry)
    {
        Stats.Lookups++;
        ulong sizes = _sizes.Mask;
        while (sizes != 0)
        {
            int s = BitOperations.TrailingZeroCount(sizes);
            sizes &= sizes - 1;
            int slot = _array.Find(_array.SetOf(ipa >> s), TagOf(ipa, s), ctx, ctx);
            if (slot >= 0)
            {
                _array.Touch(slot);
                entry = _array.Data(slot);
                Stats.Hits++;
                return true;
            }
        }
        Stats.Misses++;
        entry = default;
        return false;
    }

    public void Fill(ulong ctx, ulong ipa, in Stage2LeafEntry leaf, long line)
    {
        int s = leaf.GroupShift;
        var e = new IpaCacheEntry { Leaf = leaf, FillLine = line };
        _array.Insert(_array.SetOf(ipa >> s), TagOf(ipa, s), ctx, in e, out var outcome, out ulong evictedTag);
        Stats.Fills++;
        if (outcome == InsertOutcome.New)
        {
            _sizes.Add(s);
        }
        else if (outcome == InsertOutcome.Evicted)
        {
            Stats.Evictions++;
            _sizes.Remove((int)(evictedTag & 63));
            _sizes.Add(s);
        }
    }

    public int Invalidate<TMatch>(ref TMatch match) where TMatch : struct, IEntryMatch<IpaCacheEntry>
    {
        int removed = 0;
        for (int slot = 0; slot < _array.Capacity; slot++)
        {
            ulong t = _array.Tag(slot);
            if (t == 0)
            {
                continue;
            }
            int s = (int)(t & 63);
            if (match.Matches(_array.Context(slot), t & ~BitOps.Mask(s), s, in _array.Data(slot)))
            {
                _array.Invalidate(slot);
                _sizes.Remove(s);
                removed++;
            }
        }
        Stats.Invalidations += removed;
        return removed;
    }
}
