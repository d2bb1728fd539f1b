using MmuSim.Core;
using MmuSim.Tests.Support;

namespace MmuSim.Tests.Timing;

/// <summary>Cycles of walks, computed by hand from the layout of <see cref="Machine"/>.</summary>
public class CycleTests
{
    [Fact]
    public void ColdNestedWalkReads24DescriptorsAt100CyclesEach()
    {
        // Yardstick model: 1 (L1) + 6 (L2) + 24 × 100.
        var m = new Machine(Presets.Bench, twoStage: true);
        m.MapPage(0x1000, Machine.DataIpa);
        var o = m.R(0x1008);
        Assert.False(o.IsFault);
        Assert.Equal(Machine.DataIpa + Machine.IpaToPa + 8, o.Pa);
        Assert.Equal(Machine.DataIpa + 8, o.Ipa);
        Assert.Equal(2407, o.Cycles);
        Assert.Equal((1L, 24L), (m.Core.Stats.Walks2D, m.Core.Stats.DescriptorReads2D));
        Assert.Equal(1, m.R(0x1010).Cycles);

        // Without any cache the same walk costs 2400 every time.
        var u = new Machine(Presets.Uncached, twoStage: true);
        u.MapPage(0x1000, Machine.DataIpa);
        Assert.Equal(2400, u.R(0x1008).Cycles);
        Assert.Equal(2400, u.R(0x1008).Cycles);
        Assert.Equal(48, u.Core.Stats.DescriptorReads);
    }

    private const string L1DollarOnly = """
        { "walkerCaches": [ { "name": "L1D$", "sizeBytes": 32768, "ways": 4, "lineBytes": 64, "latency": 4 } ], "memoryLatency": 100 }
        """;

    [Fact]
    public void DescriptorsSharingALineAreCheaperAfterTheFirst()
    {
        // No TLB: every access walks 4 levels. Tables L0..L3 at PA 0x4000_0000.. (one frame each).
        var m = new Machine(Machine.Config(L1DollarOnly));
        foreach (ulong va in new ulong[] { 0x1000, 0x2000, 0x9000 })
        {
            m.MapPage(va, Machine.DataIpa + va);
        }
        Assert.Equal(400, m.R(0x1000).Cycles);     // 4 misses
        Assert.Equal(16, m.R(0x2000).Cycles);      // L0, L1, L2 again; L3[2] shares L3[1]'s 64-byte line: 4 hits
        Assert.Equal(112, m.R(0x9000).Cycles);     // L3[9] is in the next line: 3 hits + 1 miss
        var st = m.Core.Timing.Caches.Levels[0].Stats;
        Assert.Equal((12L, 7L, 5L), (st.Lookups, st.Hits, st.Misses));
        Assert.Equal(7, m.Core.Timing.ServedByLevel[0]);
        Assert.Equal(5, m.Core.Timing.ServedByMemory);
    }

    [Fact]
    public void ColdNestedWalkThroughAnL1DataCache()
    {
        // The 24 reads of a cold nested walk of VA 0x1008, with stage-2 tables L0 @0x8000_0000, L1 @..1000,
        // L2 @..2000, and 4K L3 tables from ..3000 (one per 2 MiB of IPA); stage-1 tables at IPA 0x4000_0000..3000.
        //   S1 L0 (IPA 0x4000_0000): S2 L0[0], L1[1], L2[0], L3[0] miss, then the S1 descriptor miss    5 misses
        //   S1 L1 (IPA 0x4000_1000): S2 L0[0], L1[1], L2[0] hit, L3[1] same line hit; S1 read miss      4 hits, 1 miss
        //   S1 L2, S1 L3: likewise                                                                      8 hits, 2 misses
        //   final IPA 0x4100_0008: S2 L0[0], L1[1] hit; L2[8] is in the next line, L3 of the 9th table   2 hits, 2 misses
        // 10 × 100 + 14 × 4 = 1056.
        var m = new Machine(Machine.Config(L1DollarOnly), twoStage: true);
        m.MapPage(0x1000, Machine.DataIpa);
        var o = m.R(0x1008);
        Assert.Equal(Machine.DataIpa + Machine.IpaToPa + 8, o.Pa);
        Assert.Equal(1056, o.Cycles);
        Assert.Equal(24, m.Core.Stats.DescriptorReads);
        Assert.Equal(14, m.Core.Timing.ServedByLevel[0]);
        Assert.Equal(10, m.Core.Timing.ServedByMemory);
    }

    [Fact]
    public void StageOneWalkCacheResumesBelowTheRoot()
    {
        // No TLB; one stage-1 walk cache of L0..L2 table entries (2 cycles a lookup).
        var m = new Machine(Machine.Config("""
            { "walkCaches": [ { "name": "S1WC", "stage": 1, "levels": [0, 1, 2], "entries": 16, "ways": 4, "latency": 2 } ], "memoryLatency": 100 }
            """));
        m.MapPage(0x1000, Machine.DataIpa);
        m.MapPage(0x2000, Machine.DataIpa + 0x1000);
        m.MapPage(0x20_0000, Machine.DataIpa + 0x2000); // next 2 MiB: its own L3 table, same L2 table
        Assert.Equal(402, m.R(0x1008).Cycles);     // miss: 4 reads; fills the L0, L1 and L2 table entries
        Assert.Equal(102, m.R(0x1010).Cycles);     // hit at L2: only L3 is read (3 reads saved)
        Assert.Equal(102, m.R(0x2000).Cycles);     // same L3 table
        Assert.Equal(202, m.R(0x20_0000).Cycles);  // hit at L1: L2 and L3 read (2 saved)
        var wc = m.Core.Caches.WalkCaches[0].Stats;
        Assert.Equal((4L, 3L, 1L), (wc.Lookups, wc.Hits, wc.Misses));
        Assert.Equal(8, m.Core.Timing.SavedByWalkCache[0]);
        Assert.Equal(4, wc.Fills); // the table descriptors read: L0, L1, L2 by the first walk, the new L2 one by the last
    }

    [Fact]
    public void WhatEachWalkCacheSavesOnANestedWalk()
    {
        const string s1wc = """{ "walkCaches": [ { "name": "S1WC", "stage": 1, "levels": [0, 1, 2], "entries": 16, "ways": 4, "latency": 2 } ] }""";
        const string s2wc = """{ "walkCaches": [ { "name": "S2WC", "stage": 2, "levels": [0, 1, 2], "entries": 16, "ways": 4, "latency": 2 } ] }""";
        const string ipa = """{ "ipaCache": { "entries": 16, "ways": 4, "latency": 2 } }""";

        // Stage-1 walk cache: the second walk resumes at stage-1 L3; that read still needs its stage-2 walk
        // (4 reads), then the final IPA's (4): 9 reads.
        var a = Run(s1wc);
        Assert.Equal((2402L, 902L), (a.First, a.Second));
        Assert.Equal(3, a.Core.Timing.SavedByWalkCache[0]);

        // IPA cache: 5 stage-2 lookups per walk (4 table IPAs, the final IPA). Cold: all miss, 24 reads; warm:
        // all hit, only the 4 stage-1 reads remain (5 × 4 stage-2 reads saved).
        var b = Run(ipa);
        Assert.Equal((2410L, 410L), (b.First, b.Second));
        Assert.Equal(20, b.Core.Timing.SavedByIpaCache);

        // Stage-2 walk cache, already on the cold walk: the 4 stage-1 tables share one stage-2 L3 table, so after
        // the first stage-2 walk (4 reads) the next three resume at L3 (1 read each); the final IPA (another
        // 2 MiB, same 1 GiB) resumes at L2 (2 reads): 9 stage-2 reads + 4 stage-1 reads = 13.
        var c = Run(s2wc);
        Assert.Equal(5 * 2 + 1300, c.First);
        // Warm: every stage-2 walk resumes at L3 (the final IPA's L2 entry is cached now): 5 + 4 = 9 reads.
        Assert.Equal(5 * 2 + 900, c.Second);
        // Saved: 0 + 3 + 3 + 3 + 2 on the cold walk, 5 × 3 on the warm one.
        Assert.Equal(11 + 15, c.Core.Timing.SavedByWalkCache[0]);
    }

    private static (long First, long Second, SimulatedCore Core) Run(string json)
    {
        var m = new Machine(Machine.Config(json), twoStage: true);
        m.MapPage(0x1000, Machine.DataIpa);
        long first = m.R(0x1008).Cycles;
        long second = m.R(0x1010).Cycles;
        return (first, second, m.Core);
    }

    [Fact]
    public void WalkCyclePercentilesAreNearestRank()
    {
        var h = new CycleHistogram();
        foreach (long v in new long[] { 100, 400, 400, 2400, 7, 100_000 })
        {
            h.Add(v);
        }
        Assert.Equal(400, h.Percentile(50));   // rank 3 of 6
        Assert.Equal(100_000, h.Percentile(90)); // rank 6
        Assert.Equal(100_000, h.Max);
        Assert.Equal((100 + 400 + 400 + 2400 + 7 + 100_000) / 6.0, h.Mean);
    }
}
