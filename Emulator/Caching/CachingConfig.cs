namespace MmuSim.Caching;

/// <summary>Which accesses a TLB level serves.</summary>
public enum TlbServes : byte
{
    Instruction,
    Data,
    Unified,
}

/// <summary>One TLB level: <c>ways == entries</c> is fully associative; a 4K entry's set is (VA &gt;&gt; 12) mod sets.</summary>
/// <param name="Latency">Cycles of one lookup in this level, charged whenever the level is looked up.</param>
public sealed record TlbConfig(string Name, TlbServes Serves, int Entries, int Ways, int Latency,
    ReplacementPolicy Policy = ReplacementPolicy.Lru, ulong Seed = 1)
{
    public int Sets => Entries / Ways;
}

/// <summary>A walk cache of intermediate (table) entries of one stage.</summary>
/// <param name="Levels">The lookup levels whose table descriptors it holds (−1..2).</param>
public sealed record WalkCacheConfig(string Name, int Stage, IReadOnlyList<int> Levels, int Entries, int Ways, int Latency,
    ReplacementPolicy Policy = ReplacementPolicy.Lru, ulong Seed = 1)
{
    public int Sets => Entries / Ways;
}

/// <summary>The IPA→PA cache of stage-2 leaf entries.</summary>
public sealed record IpaCacheConfig(string Name, int Entries, int Ways, int Latency,
    ReplacementPolicy Policy = ReplacementPolicy.Lru, ulong Seed = 1)
{
    public int Sets => Entries / Ways;
}

/// <summary>
/// The translation-caching hierarchy: TLB levels in lookup order (an access looks up, in order, the levels that
/// serve its kind), walk caches, the IPA cache, and whether a consistent contiguous group is held as one entry.
/// </summary>
public sealed record CachingConfig(
    IReadOnlyList<TlbConfig> Tlbs,
    IReadOnlyList<WalkCacheConfig> WalkCaches,
    IpaCacheConfig? IpaCache,
    bool CoalesceContiguous = true)
{
    /// <summary>No TLB, no walk cache, no IPA cache: every access walks from the root.</summary>
    public static CachingConfig None { get; } = new([], [], null, false);

    public bool IsEmpty => Tlbs.Count == 0 && WalkCaches.Count == 0 && IpaCache is null;
}
