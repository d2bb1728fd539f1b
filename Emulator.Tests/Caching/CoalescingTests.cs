using MmuSim.Addressing;
using MmuSim.Building;
using MmuSim.Caching;
using MmuSim.Core;
using MmuSim.Tests.Support;
using MmuSim.Tracing;

namespace MmuSim.Tests.Caching;

/// <summary>Contiguous-bit coalescing: one TLB entry for a whole consistent group (Arm ARM D8.6.1).</summary>
public class CoalescingTests
{
    private const string Config = """
        { "tlbs": [ { "name": "L1", "serves": "unified", "entries": 8, "ways": 8, "latency": 1 } ], "memoryLatency": 100, "coalesceContiguous": COALESCE }
        """;

    private static Machine WithGroup(bool coalesce, Func<int, (int Ap, bool Contiguous)>? member = null)
    {
        var m = new Machine(Machine.Config(Config.Replace("COALESCE", coalesce ? "true" : "false")));
        // 16 pages at VA 0x1_0000 (64 KiB aligned) → IPA 0x4110_0000 (64 KiB aligned), Contiguous=1.
        for (int i = 0; i < 16; i++)
        {
            var (ap, contig) = member?.Invoke(i) ?? (0, true);
            m.MapPage(0x1_0000 + (ulong)i * 0x1000, 0x4110_0000 + (ulong)i * 0x1000, ap: ap, contiguous: contig);
        }
        return m;
    }

    [Fact]
    public void AConsistentGroupIsOneEntry()
    {
        var m = WithGroup(coalesce: true);
        Assert.Equal(401, m.R(0x1_0008).Cycles);
        for (int i = 1; i < 16; i++)
        {
            var o = m.R(0x1_0000 + (ulong)i * 0x1000 + 0x10);
            Assert.Equal(0x4110_0010UL + (ulong)i * 0x1000, o.Pa);
            Assert.Equal(1, o.Cycles);
        }
        Assert.Equal(1, m.Core.Stats.Walks);
        Assert.Equal(1, m.Core.Caches.Tlbs[0].Count);
        var outside = m.R(0x2_0000); // the page after the group is not covered: a walk, which faults (unmapped)
        Assert.Equal(MmuSim.Faults.FaultType.Translation, outside.Fault.Type);
        Assert.Equal(2, m.Core.Stats.Walks);
    }

    [Fact]
    public void WithoutCoalescingEachPageIsItsOwnEntry()
    {
        var m = WithGroup(coalesce: false);
        for (int i = 0; i < 16; i++)
        {
            Assert.Equal(401, m.R(0x1_0000 + (ulong)i * 0x1000).Cycles);
        }
        Assert.Equal(16, m.Core.Stats.Walks);
    }

    [Fact]
    public void TlbiOfAnyPageRemovesTheGroupEntry()
    {
        var m = WithGroup(coalesce: true);
        m.R(0x1_0000);
        m.Tlbi(TlbiOp.VAE1, (1UL << 48) | 0x13); // page 3 of the group
        Assert.Equal(401, m.R(0x1_0000).Cycles);
        Assert.Equal(2, m.Core.Stats.Walks);
    }

    [Fact]
    public void AMisprogrammedGroupIsCachedPageByPage()
    {
        // Member 5 is read-only: the group is inconsistent, so each page keeps its own permissions.
        var m = WithGroup(coalesce: true, i => (i == 5 ? 2 : 0, true));
        Assert.Equal(401, m.R(0x1_0000).Cycles);
        Assert.Equal(401, m.R(0x1_1000).Cycles);
        var w = m.W(0x1_5000);
        Assert.Equal(MmuSim.Faults.FaultType.Permission, w.Fault.Type);
        // Member 9 without the Contiguous bit: same.
        var n = WithGroup(coalesce: true, i => (0, i != 9));
        Assert.Equal(401, n.R(0x1_0000).Cycles);
        Assert.Equal(401, n.R(0x1_1000).Cycles);
    }

    [Fact]
    public void NoCoalescingUnderHardwareAccessFlagUpdates()
    {
        // With TCR_EL1.HA each descriptor's AF is set by the walk that uses it: one entry for the group would
        // leave the other members' AF as it is, so pages are cached one by one.
        var m = WithGroup(coalesce: true);
        m.Reg(Registers.SysReg.TCR_EL1, 0x0000_0002_8080_3510 | (1UL << 39));
        m.R(0x1_0000);
        Assert.Equal(401, m.R(0x1_1000).Cycles);
    }

    [Fact]
    public void StageTwoGroupsCoalesceInTheIpaCache()
    {
        // Stage-2 leaves of IPA 0x4100_0000..0x4100_FFFF rewritten as one contiguous group: one IPA-cache entry.
        var m = new Machine(Machine.Config("""{ "ipaCache": { "entries": 8, "ways": 8, "latency": 1 }, "memoryLatency": 100 }"""), twoStage: true);
        for (int i = 0; i < 16; i++)
        {
            ulong ipa = Machine.DataIpa + (ulong)i * 0x1000;
            m.S2!.Set(ipa, 3, Descriptors.Stage2Leaf(ipa + Machine.IpaToPa, 3, Granule.K4, contiguous: true));
            m.MapPage(0x1000 + (ulong)i * 0x1000, ipa);
        }
        m.R(0x1000);
        long before = m.Core.Stats.DescriptorReads;
        var o = m.R(0x5000); // stage-1 walk (the 4 table IPAs hit), final IPA 0x4100_4000: covered by the group entry
        Assert.Equal(Machine.DataIpa + Machine.IpaToPa + 0x4000, o.Pa);
        Assert.Equal(4, m.Core.Stats.DescriptorReads - before);
    }
}
