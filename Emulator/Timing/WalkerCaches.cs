using System.Numerics;
using MmuSim.Caching;

namespace MmuSim.Timing;

/// <summary>One level of the data-cache hierarchy the table walker reads through.</summary>
/// <param name="Latency">Cycles of a descriptor read served by this level (load-to-use: the misses above included).</param>
public sealed record WalkerCacheConfig(string Name, long SizeBytes, int Ways, int LineBytes, int Latency,
    ReplacementPolicy Policy = ReplacementPolicy.Lru, ulong Seed = 1)
{
    public int Sets => (int)(SizeBytes / ((long)Ways * LineBytes));
}

/// <summary>What the cycle model charges beyond TLB lookups.</summary>
/// <param name="WalkerCaches">Cache levels between the walker and memory, nearest first (empty: none).</param>
/// <param name="MemoryLatency">Cycles of a descriptor read that no cache level serves.</param>
/// <param name="ModelDataCaches">Send the trace's data accesses through the same caches (they evict table lines).</param>
/// <param name="Timeline">The timeline's parameters (null: <see cref="TimelineConfig.Serial"/>); the additive model ignores them.</param>
/// <param name="Maintenance">The prices of TLB maintenance (null: <see cref="MaintenanceCosts.Assumed"/>).</param>
public sealed record TimingConfig(IReadOnlyList<WalkerCacheConfig> WalkerCaches, int MemoryLatency, bool ModelDataCaches = false,
    TimelineConfig? Timeline = null, MaintenanceCosts? Maintenance = null)
{
    /// <summary>The timeline's parameters, <see cref="TimelineConfig.Serial"/> when none were given.</summary>
    public TimelineConfig TimelineOrSerial => Timeline ?? TimelineConfig.Serial;

    /// <summary>The prices of TLB maintenance (<see cref="MaintenanceCosts.Assumed"/> unless the configuration names them).</summary>
    public MaintenanceCosts MaintenanceCosts => Maintenance ?? MaintenanceCosts.Assumed;
}

/// <summary>
/// What TLB maintenance costs the PE that issues it, in cycles: a local TLBI, a broadcast (IS/OS) TLBI, and a DSB
/// that waits for the completion of broadcast maintenance (R_PSMWS: the DSB completes only when every PE in the
/// domain has performed the invalidation). No TRM states these figures: the defaults are assumptions of the order
/// of what published measurements of broadcast TLBI on Arm servers report, to be replaced by measured ones.
/// </summary>
public sealed record MaintenanceCosts(int LocalTlbi, int BroadcastTlbi, int BroadcastDsb)
{
    /// <summary>The assumed prices: local TLBI 20, broadcast TLBI 100, DSB after broadcast maintenance 500 cycles.</summary>
    public static MaintenanceCosts Assumed { get; } = new(20, 100, 500);
}

/// <summary>A physically indexed, physically tagged cache level: tags only (data is not simulated).</summary>
public sealed class DataCacheLevel
{
    private readonly SetAssociativeArray<byte> _array;
    private readonly int _lineShift;

    public DataCacheLevel(WalkerCacheConfig config)
    {
        Config = config;
        _lineShift = BitOperations.Log2((uint)config.LineBytes);
        _array = new SetAssociativeArray<byte>(config.Sets, config.Ways, config.Policy, config.Seed);
    }

    public WalkerCacheConfig Config { get; }
    public string Name => Config.Name;
    public int Latency => Config.Latency;
    public StructureStats Stats { get; } = new();

    /// <summary>Looks the line of <paramref name="pa"/> up; true on a hit. Counts the lookup.</summary>
    public bool Lookup(ulong pa)
    {
        Stats.Lookups++;
        ulong line = pa >> _lineShift;
        int slot = _array.Find(_array.SetOf(line), line + 1, 0, 0);
        if (slot >= 0)
        {
            _array.Touch(slot);
            Stats.Hits++;
            return true;
        }
        Stats.Misses++;
        return false;
    }

    /// <summary>Allocates the line of <paramref name="pa"/>.</summary>
    public void Fill(ulong pa)
    {
        ulong line = pa >> _lineShift;
        byte none = 0;
        _array.Insert(_array.SetOf(line), line + 1, 0, in none, out var outcome, out _);
        Stats.Fills++;
        if (outcome == InsertOutcome.Evicted)
        {
            Stats.Evictions++;
        }
    }
}

/// <summary>
/// The caches a descriptor read goes through, nearest first. A read looks the levels up in order; the first hit
/// serves it, and every level that missed above it allocates the line (so a second descriptor in the same line
/// is cheaper). A read no level serves costs the memory latency.
/// </summary>
public sealed class WalkerCacheHierarchy
{
    public WalkerCacheHierarchy(TimingConfig config)
    {
        Levels = config.WalkerCaches.Select(c => new DataCacheLevel(c)).ToArray();
        MemoryLatency = config.MemoryLatency;
    }

    public DataCacheLevel[] Levels { get; }
    public int MemoryLatency { get; }

    /// <summary>One access to <paramref name="pa"/>: the level that served it, or −1 for memory.</summary>
    public int Access(ulong pa)
    {
        var levels = Levels;
        for (int i = 0; i < levels.Length; i++)
        {
            if (levels[i].Lookup(pa))
            {
                for (int j = 0; j < i; j++)
                {
                    levels[j].Fill(pa);
                }
                return i;
            }
        }
        for (int j = 0; j < levels.Length; j++)
        {
            levels[j].Fill(pa);
        }
        return -1;
    }

    /// <summary>Cycles of an access served by <paramref name="servedBy"/> (−1 = memory).</summary>
    public int Latency(int servedBy) => servedBy >= 0 ? Levels[servedBy].Latency : MemoryLatency;
}
