using MmuSim.Caching;
using MmuSim.Timing;

namespace MmuSim.Core;

/// <summary>
/// Named configurations. docs/translation-cost.md gives the source of every number (Arm Technical Reference
/// Manuals for the TLB organisation; cache latencies that no TRM states are marked there as assumptions).
/// </summary>
public static class Presets
{
    private static readonly int[] AllTableLevels = [-1, 0, 1, 2];
    private static readonly int[] LastTableLevel = [2];

    /// <summary>
    /// The timeline of the A76/N1: a 128-entry reorder buffer and 4-wide decode (WikiChip's Cortex-A76 page), 46
    /// outstanding L2 misses (same page); two walkers, a queue of 8 and 20 L1D miss buffers are assumptions.
    /// </summary>
    private static readonly TimelineConfig BigCoreTimeline = new(Window: 128, IssueInterval: 1, IssueWidth: 4, Walkers: 2,
        WalkQueue: 8, WalkerCacheMisses: 20, MemoryRequests: 46);

    /// <summary>
    /// The timeline of the in-order A55/A53: dual issue (their TRMs); a window of 4 (hit under miss), one walker, a
    /// queue of 2, 4 miss buffers and 8 memory requests are assumptions.
    /// </summary>
    private static readonly TimelineConfig SmallCoreTimeline = new(Window: 4, IssueInterval: 1, IssueWidth: 2, Walkers: 1,
        WalkQueue: 2, WalkerCacheMisses: 4, MemoryRequests: 8);

    /// <summary>
    /// Arm Neoverse N1 (and Cortex-A76, the same MMU): 48-entry fully associative L1 instruction and data TLBs
    /// (1-cycle hit), a unified 1280-entry 5-way L2 TLB (usually 3 cycles), walk and IPA entries in the L2 TLB
    /// RAM (modelled as separate structures); 64 KiB 4-way L1D (4 cycles), 1 MiB 8-way L2 (11 cycles).
    /// </summary>
    public static ModelConfig NeoverseN1 { get; } = new("neoverse-n1",
        new CachingConfig(
            [
                new TlbConfig("L1I", TlbServes.Instruction, 48, 48, 1),
                new TlbConfig("L1D", TlbServes.Data, 48, 48, 1),
                new TlbConfig("L2", TlbServes.Unified, 1280, 5, 3),
            ],
            [
                new WalkCacheConfig("S1WC", 1, AllTableLevels, 64, 4, 3),
                new WalkCacheConfig("S2WC", 2, AllTableLevels, 32, 4, 3),
            ],
            new IpaCacheConfig("IPA", 64, 4, 3)),
        new TimingConfig(
            [
                new WalkerCacheConfig("L1D$", 64 * 1024, 4, 64, 4),
                new WalkerCacheConfig("L2$", 1024 * 1024, 8, 64, 11),
            ],
            MemoryLatency: 200, Timeline: BigCoreTimeline));

    /// <summary>Arm Cortex-A76: the N1's MMU with a 512 KiB L2 cache (9 cycles).</summary>
    public static ModelConfig CortexA76 { get; } = NeoverseN1 with
    {
        Name = "cortex-a76",
        Timing = new TimingConfig(
            [
                new WalkerCacheConfig("L1D$", 64 * 1024, 4, 64, 4),
                new WalkerCacheConfig("L2$", 512 * 1024, 8, 64, 9),
            ],
            MemoryLatency: 200, Timeline: BigCoreTimeline),
    };

    /// <summary>
    /// Arm Cortex-A55: 15-entry instruction and 16-entry data L1 TLBs (fully associative), 1024-entry 4-way L2
    /// TLB, 64-entry 4-way walk cache (stage 1 up to but not including the last level), 64-entry 4-way IPA cache;
    /// 32 KiB 4-way L1D, 128 KiB 4-way L2.
    /// </summary>
    public static ModelConfig CortexA55 { get; } = new("cortex-a55",
        new CachingConfig(
            [
                new TlbConfig("L1I", TlbServes.Instruction, 15, 15, 1),
                new TlbConfig("L1D", TlbServes.Data, 16, 16, 1),
                new TlbConfig("L2", TlbServes.Unified, 1024, 4, 3),
            ],
            [new WalkCacheConfig("WC", 1, LastTableLevel, 64, 4, 2)],
            new IpaCacheConfig("IPA", 64, 4, 2)),
        new TimingConfig(
            [
                new WalkerCacheConfig("L1D$", 32 * 1024, 4, 64, 3),
                new WalkerCacheConfig("L2$", 128 * 1024, 4, 64, 12),
            ],
            MemoryLatency: 150, Timeline: SmallCoreTimeline));

    /// <summary>
    /// Arm Cortex-A53, a small in-order core: 10-entry instruction and data micro TLBs (fully associative),
    /// 512-entry 4-way main TLB, 64-entry 4-way walk cache (last table level), 64-entry 4-way IPA cache;
    /// 32 KiB 4-way L1D, 512 KiB 16-way shared L2.
    /// </summary>
    public static ModelConfig CortexA53 { get; } = new("cortex-a53",
        new CachingConfig(
            [
                new TlbConfig("uTLB-I", TlbServes.Instruction, 10, 10, 1),
                new TlbConfig("uTLB-D", TlbServes.Data, 10, 10, 1),
                new TlbConfig("main", TlbServes.Unified, 512, 4, 2),
            ],
            [new WalkCacheConfig("WC", 1, LastTableLevel, 64, 4, 2)],
            new IpaCacheConfig("IPA", 64, 4, 2)),
        new TimingConfig(
            [
                new WalkerCacheConfig("L1D$", 32 * 1024, 4, 64, 3),
                new WalkerCacheConfig("L2$", 512 * 1024, 16, 64, 15),
            ],
            MemoryLatency: 150, Timeline: SmallCoreTimeline));

    /// <summary>
    /// The model of the native yardstick (a hand-written C replay of the same traces; traces/bench/README.md): one unified 64-entry 4-way L1 TLB (1 cycle), a unified
    /// 1024-entry 8-way L2 TLB (6 cycles), true LRU, no walk caches, no IPA cache, no walker caches, 100 cycles
    /// per descriptor read, no contiguous coalescing.
    /// </summary>
    public static ModelConfig Bench { get; } = new("bench",
        new CachingConfig(
            [
                new TlbConfig("L1", TlbServes.Unified, 64, 4, 1),
                new TlbConfig("L2", TlbServes.Unified, 1024, 8, 6),
            ],
            [],
            null,
            CoalesceContiguous: false),
        new TimingConfig([], MemoryLatency: 100, Timeline: TimelineConfig.Serial));

    /// <summary>No translation caching at all: every access walks from the root; 100 cycles per descriptor read.</summary>
    public static ModelConfig Uncached { get; } = new("uncached", CachingConfig.None, new TimingConfig([], MemoryLatency: 100, Timeline: TimelineConfig.Serial));

    /// <summary>Every preset, by name.</summary>
    public static IReadOnlyDictionary<string, ModelConfig> All { get; } = new Dictionary<string, ModelConfig>(StringComparer.OrdinalIgnoreCase)
    {
        ["neoverse-n1"] = NeoverseN1,
        ["cortex-a76"] = CortexA76,
        ["cortex-a55"] = CortexA55,
        ["cortex-a53"] = CortexA53,
        ["small-in-order"] = CortexA53 with { Name = "small-in-order" },
        ["bench"] = Bench,
        ["uncached"] = Uncached,
    };

    public static bool TryGet(string name, out ModelConfig config) => All.TryGetValue(name, out config!);
}
