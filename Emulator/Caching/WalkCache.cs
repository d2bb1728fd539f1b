using MmuSim.Addressing;
using MmuSim.Bits;
using MmuSim.Translation;

namespace MmuSim.Caching;

/// <summary>A cached table descriptor and where it came from.</summary>
public struct WalkCacheEntry
{
    public TableEntry Table;
    /// <summary>log2 of the input range the table descriptor covers (the level's shift).</summary>
    public byte Shift;
    /// <summary>Trace line of the access whose walk read the descriptor.</summary>
    public long FillLine;
}

/// <summary>
/// A walk cache: table descriptors of one stage at the configured levels, keyed by context, granule, level and
/// the input-address bits above the level's shift. A lookup returns the deepest entry that covers the address,
/// so the walk resumes below it (Arm: "the walk cache RAM holds the result of a stage 1 translation up to but
/// not including the last level" when configured with level 2 only).
/// </summary>
public sealed class WalkCache
{
    private readonly SetAssociativeArray<WalkCacheEntry> _array;
    private readonly int _levels;

    public WalkCache(WalkCacheConfig config, int index)
    {
        Config = config;
        Index = index;
        _array = new SetAssociativeArray<WalkCacheEntry>(config.Sets, config.Ways, config.Policy, config.Seed);
        foreach (int l in config.Levels)
        {
            _levels |= 1 << (l + 1);
        }
    }

    public WalkCacheConfig Config { get; }

    /// <summary>Position in the configuration's walkCaches list.</summary>
    public int Index { get; }

    public int Stage => Config.Stage;
    public string Name => Config.Name;
    public int Latency => Config.Latency;
    public StructureStats Stats { get; } = new();

    public bool Holds(int level) => level >= -1 && level <= 2 && (_levels & (1 << (level + 1))) != 0;

    private static ulong Tag(ulong prefix, int level, Granule g) =>
        (prefix << 8) | 0x80UL | ((ulong)(uint)(level + 1) << 2) | (uint)(((int)g - 12) >> 1);

    /// <summary>The deepest entry at a level in [<paramref name="minLevel"/>, 2] covering <paramref name="ia"/>. Counts the lookup.</summary>
    public bool TryFind(ulong ctx, ulong ia, Granule g, int minLevel, out WalkCacheEntry entry)
    {
        Stats.Lookups++;
        ulong a = ia & BitOps.Mask(55, 0);
        for (int level = 2; level >= minLevel; level--)
        {
            if (!Holds(level))
            {
                continue;
            }
            ulong prefix = a >> TranslationGeometry.LevelShift(g, level);
            int slot = _array.Find(_array.SetOf(prefix), Tag(prefix, level, g), ctx, ctx);
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

    public void Fill(ulong ctx, ulong ia, Granule g, in TableEntry table, long line)
    {
        if (!Holds(table.Level))
        {
            return;
        }
        int shift = TranslationGeometry.LevelShift(g, table.Level);
        ulong prefix = (ia & BitOps.Mask(55, 0)) >> shift;
        var e = new WalkCacheEntry { Table = table, Shift = (byte)shift, FillLine = line };
        _array.Insert(_array.SetOf(prefix), Tag(prefix, table.Level, g), ctx, in e, out var outcome, out _);
        Stats.Fills++;
        if (outcome == InsertOutcome.Evicted)
        {
            Stats.Evictions++;
        }
    }

    public int Invalidate<TMatch>(ref TMatch match) where TMatch : struct, IEntryMatch<WalkCacheEntry>
    {
        int removed = 0;
        for (int slot = 0; slot < _array.Capacity; slot++)
        {
            ulong t = _array.Tag(slot);
            if (t == 0)
            {
                continue;
            }
            ref var e = ref _array.Data(slot);
            if (match.Matches(_array.Context(slot), (t >> 8) << e.Shift, e.Shift, in e))
            {
                _array.Invalidate(slot);
                removed++;
            }
        }
        Stats.Invalidations += removed;
        return removed;
    }
}
