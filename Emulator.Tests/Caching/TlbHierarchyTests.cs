using MmuSim.Core;
using MmuSim.Tests.Support;

namespace MmuSim.Tests.Caching;

/// <summary>Hits, misses, evictions and cycles of small TLB hierarchies, computed by hand.</summary>
public class TlbHierarchyTests
{
    // L1D: 2 entries, fully associative. L2: 4 entries, 2 ways, so 2 sets: a 4K page's set is (VA >> 12) mod 2.
    private const string Tiny = """
        {
          "tlbs": [
            { "name": "L1I", "serves": "instruction", "entries": 2, "ways": 2, "latency": 1 },
            { "name": "L1D", "serves": "data", "entries": 2, "ways": 2, "latency": 1 },
            { "name": "L2", "serves": "unified", "entries": 4, "ways": 2, "latency": 3 }
          ],
          "memoryLatency": 100
        }
        """;

    [Fact]
    public void TwoLevelLruByHand()
    {
        var m = new Machine(Machine.Config(Tiny));
        ulong a = 0x1000, b = 0x2000, c = 0x3000, e = 0x5000; // L2 sets: a 1, b 0, c 1, e 1
        foreach (ulong va in new[] { a, b, c, e })
        {
            m.MapPage(va, 0x4100_0000 + va);
        }
        // Step by step (L1 = L1D, LRU; L2 set 1 holds a, c, e in turn):
        //  R a  miss, miss, walk 4 reads    1+3+400  L1 {a}      L2 s1 {a}
        //  R b  miss, miss, walk            404      L1 {a,b}    L2 s0 {b}
        //  R a  L1 hit                      1
        //  R c  miss, miss, walk            404      L1 {a,c} (b out)    L2 s1 {a,c}
        //  R b  L1 miss, L2 hit             4        L1 {c,b} (a out)
        //  R e  miss, miss, walk            404      L1 {b,e} (c out)    L2 s1 {c,e} (a out: filled first, never hit in L2)
        //  R c  L1 miss, L2 hit             4        L1 {e,c} (b out)
        //  R a  miss, miss, walk            404      L1 {c,a} (e out)    L2 s1 {c,a} (e out: c was hit after e's fill)
        ulong[] seq = [a, b, a, c, b, e, c, a];
        long[] expected = [404, 404, 1, 404, 4, 404, 4, 404];
        for (int i = 0; i < seq.Length; i++)
        {
            var o = m.R(seq[i] + 8);
            Assert.False(o.IsFault);
            Assert.Equal(0x4100_0008 + seq[i], o.Pa);
            Assert.Equal(expected[i], o.Cycles);
        }
        var l1 = m.Core.Caches.Tlbs[1].Stats;
        var l2 = m.Core.Caches.Tlbs[2].Stats;
        Assert.Equal((8L, 1L, 7L, 5L), (l1.Lookups, l1.Hits, l1.Misses, l1.Evictions));
        Assert.Equal((7L, 2L, 5L, 2L), (l2.Lookups, l2.Hits, l2.Misses, l2.Evictions));
        Assert.Equal(0, m.Core.Caches.Tlbs[0].Stats.Lookups);
        Assert.Equal(5, m.Core.Stats.Walks);
        Assert.Equal(20, m.Core.Stats.DescriptorReads);
        Assert.Equal(2029, m.Core.Stats.TranslationCycles);
    }

    [Fact]
    public void FetchesUseTheInstructionSideAndShareTheUnifiedLevel()
    {
        var m = new Machine(Machine.Config(Tiny));
        m.MapPage(0x1000, 0x4100_0000);
        Assert.Equal(404, m.X(0x1000).Cycles);   // L1I miss, L2 miss, walk: fills L1I and L2
        Assert.Equal(4, m.R(0x1008).Cycles);     // L1D miss, L2 hit: fills L1D
        Assert.Equal(1, m.X(0x1004).Cycles);     // L1I hit
        Assert.Equal(1, m.R(0x1010).Cycles);     // L1D hit
        var t = m.Core.Caches.Tlbs;
        Assert.Equal((2L, 1L), (t[0].Stats.Lookups, t[0].Stats.Hits));
        Assert.Equal((2L, 1L), (t[1].Stats.Lookups, t[1].Stats.Hits));
        Assert.Equal((2L, 1L), (t[2].Stats.Lookups, t[2].Stats.Hits));
    }

    [Fact]
    public void AMissingLevelMeansNone()
    {
        // Only a unified L2: an access looks up one level; no TLB at all: every access walks.
        var one = new Machine(Machine.Config("""{ "tlbs": [ { "name": "U", "serves": "unified", "entries": 8, "ways": 8, "latency": 2 } ] }"""));
        one.MapPage(0x1000, 0x4100_0000);
        Assert.Equal(402, one.R(0x1000).Cycles);
        Assert.Equal(2, one.R(0x1000).Cycles);
        var none = new Machine(Presets.Uncached);
        none.MapPage(0x1000, 0x4100_0000);
        Assert.Equal(400, none.R(0x1000).Cycles);
        Assert.Equal(400, none.R(0x1000).Cycles);
        Assert.Equal(2, none.Core.Stats.Walks);
    }

    [Fact]
    public void PermissionFaultsComeFromTheCachedEntry()
    {
        // AP=10: read-only at EL1, no EL0 access. A read caches the page; a write and an EL0 read then fault from
        // the TLB entry (1 cycle, no walk) exactly as a walk would report them.
        var m = new Machine(Machine.Config(Tiny));
        m.MapPage(0x1000, 0x4100_0000, ap: 2, pxn: true);
        Assert.Equal(404, m.R(0x1000).Cycles);
        var w = m.W(0x1008);
        Assert.True(w.IsFault);
        Assert.Equal((MmuSim.Faults.FaultType.Permission, (byte)1, (sbyte)3), (w.Fault.Type, w.Fault.Stage, w.Fault.Level));
        Assert.Equal(1, w.Cycles);
        var x = m.X(0x1000);
        Assert.True(x.IsFault);
        Assert.Equal(MmuSim.Faults.FaultType.Permission, x.Fault.Type);
        Assert.Equal(4, x.Cycles); // L1I miss, L2 hit: PXN from the entry
        m.El(0);
        var r0 = m.R(0x1000);
        Assert.Equal(MmuSim.Faults.FaultType.Permission, r0.Fault.Type);
        Assert.Equal(1, r0.Cycles);
        Assert.Equal(1, m.Core.Stats.Walks);
    }

    [Fact]
    public void FaultingTranslationsAreNotCached()
    {
        var m = new Machine(Machine.Config(Tiny));
        m.MapPage(0x1000, 0x4100_0000, af: false); // AF=0 with HA=0: access flag fault
        Assert.Equal(MmuSim.Faults.FaultType.AccessFlag, m.R(0x1000).Fault.Type);
        Assert.Equal(MmuSim.Faults.FaultType.AccessFlag, m.R(0x1000).Fault.Type);
        Assert.Equal(2, m.Core.Stats.Walks);
        Assert.Equal(0, m.Core.Caches.Tlbs[1].Count);
    }
}
