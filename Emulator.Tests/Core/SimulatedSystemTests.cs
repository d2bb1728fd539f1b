using MmuSim.Addressing;
using MmuSim.Building;
using MmuSim.Caching;
using MmuSim.Core;
using MmuSim.Faults;
using MmuSim.Registers;
using MmuSim.Tests.Support;

namespace MmuSim.Tests.Core;

/// <summary>
/// A PE is an instance: a second PE of a system has its own registers, EL and TLBs, and shares the system's memory
/// (so its tables, and every store to them).
/// </summary>
public sealed class SimulatedSystemTests
{
    private const ulong Va = 0x0000_1234_5000;
    private const ulong Old = 0x4200_0000;
    private const ulong New = 0x4300_0000;

    /// <summary>PE 0 of <paramref name="m"/> set up by the machine; PE 1 given the same translation registers.</summary>
    private static SimulatedCore SecondPe(Machine m)
    {
        var pe1 = m.Core.System.AddPe();
        foreach (var reg in new[] { SysReg.MAIR_EL1, SysReg.TCR_EL1, SysReg.TTBR0_EL1, SysReg.SCTLR_EL1 })
        {
            pe1.WriteRegister(reg, m.Core.Registers[reg], 1);
        }
        return pe1;
    }

    [Fact]
    public void ASecondPeIsOneMoreInstanceOverTheSameMemory()
    {
        var m = new Machine(Presets.NeoverseN1);
        m.MapPage(Va, Old);
        var pe1 = SecondPe(m);

        Assert.Equal((0, 1), (m.Core.Index, pe1.Index));
        Assert.Equal([m.Core, pe1], m.Core.System.Pes);
        Assert.Same(m.Core.Memory, pe1.Memory);
        Assert.NotSame(m.Core.Registers, pe1.Registers);
        Assert.NotSame(m.Core.Caches, pe1.Caches);

        // Both walk the same tables, each filling its own TLBs: one walk each, then a hit each.
        Assert.Equal(Old + 0x10, m.R(Va + 0x10).Pa);
        pe1.Access(AccessType.Read, Va + 0x20, 8, 1, out var first);
        pe1.Access(AccessType.Read, Va + 0x28, 8, 2, out var second);
        Assert.Equal((Old + 0x20, Old + 0x28), (first.Pa, second.Pa));
        Assert.Equal((1L, 1L, 1L), (m.Core.Stats.Walks, pe1.Stats.Walks, pe1.Stats.TlbHits));

        // The EL is per PE.
        m.El(0);
        Assert.Equal((0, 1), (m.Core.CurrentEl, pe1.CurrentEl));
    }

    [Fact]
    public void AStoreIsSeenByEveryPeButALocalTlbiCleansOnlyItsOwnTlbs()
    {
        var m = new Machine(Presets.NeoverseN1);
        ulong leaf = m.MapPage(Va, Old);
        var pe1 = SecondPe(m);
        pe1.CheckStale = true;
        Assert.Equal(Old, m.R(Va).Pa);
        pe1.Access(AccessType.Read, Va, 8, 10, out var before);
        Assert.Equal(Old, before.Pa);

        // PE 0 rewrites the leaf and invalidates its own TLBs only (TLBI VAE1, not VAE1IS).
        const long writeLine = 20;
        m.Core.WriteMemory(leaf, Descriptors.Stage1Leaf(New, 3, Granule.K4), writeLine);
        m.Tlbi(TlbiOp.VAE1, (1UL << 48) | (Va >> 12));
        Assert.Equal(New, m.R(Va).Pa);

        // PE 1 still holds the old translation, as the architecture lets it, and its stale checker names the store.
        pe1.Access(AccessType.Read, Va, 8, 30, out var after);
        Assert.Equal(Old, after.Pa);
        var report = Assert.Single(pe1.Stale!.Reports);
        Assert.Equal((30L, Old, New, writeLine), (report.Line, report.CachedPa, report.TablesPa, report.WriteLine));
        // The store is in memory every PE shares: the fix is the broadcast form, which reaches PE 1 from PE 0.
        Assert.StartsWith("tlbi VALE1IS 0x", report.Fix);

        // A walk of PE 1 reads what PE 0 stored.
        pe1.Tlbi(TlbiOp.VMALLE1, 0);
        pe1.Access(AccessType.Read, Va, 8, 31, out var fresh);
        Assert.Equal(New, fresh.Pa);
    }

    /// <summary>
    /// A broadcast TLBI is decoded against the issuing PE: under stage 2, VMALLE1IS of PE 0 (VMID 1) removes the
    /// entries of VMID 1 on every PE and leaves those PE 1 made under VMID 2; PE 1's own VMALLE1IS removes them.
    /// </summary>
    [Fact]
    public void ABroadcastTlbiActsWithTheIssuingPesVmid()
    {
        var m = new Machine(Presets.NeoverseN1, twoStage: true, vmid: 1);
        ulong leaf = m.MapPage(Va, Machine.DataIpa);
        var pe1 = m.Core.System.AddPe();
        foreach (var reg in new[] { SysReg.MAIR_EL1, SysReg.TCR_EL1, SysReg.TTBR0_EL1, SysReg.SCTLR_EL1, SysReg.VTCR_EL2, SysReg.HCR_EL2 })
        {
            pe1.WriteRegister(reg, m.Core.Registers[reg], 1);
        }
        pe1.WriteRegister(SysReg.VTTBR_EL2, (2UL << 48) | (m.Core.Registers[SysReg.VTTBR_EL2] & 0xFFFF_FFFF_FFFF), 1);
        ulong oldPa = Machine.DataIpa + Machine.IpaToPa;
        Assert.Equal(oldPa, m.R(Va).Pa);
        pe1.Access(AccessType.Read, Va, 8, 2, out var first);
        Assert.Equal(oldPa, first.Pa);

        // Stage 1 now maps the VA to the next page; PE 0 broadcasts VMALLE1IS under VMID 1.
        m.Core.WriteMemory(m.TablePa(leaf), Descriptors.Stage1Leaf(Machine.DataIpa + 0x1000, 3, Granule.K4), 3);
        m.Tlbi(TlbiOp.VMALLE1IS);
        Assert.Equal(1L, m.Core.Stats.BroadcastTlbis);
        Assert.Equal(oldPa + 0x1000, m.R(Va).Pa);
        pe1.Access(AccessType.Read, Va, 8, 4, out var kept);
        Assert.Equal(oldPa, kept.Pa); // VMID 2's entry is not named by a VMID 1 TLBI

        pe1.Tlbi(TlbiOp.VMALLE1IS, 0);
        pe1.Access(AccessType.Read, Va, 8, 5, out var fresh);
        Assert.Equal(oldPa + 0x1000, fresh.Pa);
    }
}
