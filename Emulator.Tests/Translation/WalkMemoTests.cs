using MmuSim.Addressing;
using MmuSim.Faults;
using MmuSim.Memory;
using MmuSim.Registers;
using MmuSim.Tests.Support;
using MmuSim.Translation;
using static MmuSim.Tests.Support.Data;

namespace MmuSim.Tests.Translation;

/// <summary>
/// The walker's memos (used with lean recording): of the stage-2 walks that translate stage-1 table addresses, and
/// of the upper part of stage-1 walks. A repeated walk must read, record and decide exactly what walking again
/// would, and forget what it remembered as soon as memory or a register changes.
/// </summary>
public class WalkMemoTests
{
    private static Scenario Nested()
    {
        var s = new Scenario().WithStage2(Granule.K4, 24, startLevel: 0);
        s.WithStage1(Granule.K4, 16);
        s.MapS1(LowVa, Oa1);
        s.MapS1(LowVa + 0x1000, Oa1 + 0x1000);
        s.MapS2(Oa1, 0x6000_0000);
        s.MapS2(Oa1 + 0x1000, 0x6000_1000);
        s.Mmu.Record.Detailed = false;
        return s;
    }

    /// <summary>The fields a lean record keeps, per step.</summary>
    private static List<(StepKind, byte, sbyte, bool, ulong, ulong)> LeanSteps(Mmu mmu) =>
        mmu.Record.Steps.ToArray().Select(x => (x.Kind, x.Stage, x.Level, x.Nested, x.DescriptorPa, x.Descriptor)).ToList();

    [Fact]
    public void ARepeatedNestedWalkRecordsTheReadsOfWalkingAgain()
    {
        var lean = Nested();
        lean.Mmu.Record.LeanReadSteps = true; // as with walker caches, which price each read by its address
        var counted = Nested(); // no walker cache (the scenario's model): reads are only counted
        var full = Nested();
        full.Mmu.Record.Detailed = true; // never uses the memo
        foreach (ulong va in new[] { LowVa, LowVa + 0x1000, LowVa + 8, LowVa })
        {
            Expect.Ok(lean.Translate(va));
            Expect.Ok(full.Translate(va));
            Expect.Ok(counted.Translate(va));
            Assert.Equal(24, lean.Reads);
            Assert.Equal(LeanSteps(full.Mmu), LeanSteps(lean.Mmu));
            Assert.Equal(24, counted.Reads);
            Assert.True(counted.Mmu.Record.ReadsUnrecorded);
            Assert.Empty(counted.Mmu.Record.Steps.ToArray());
        }
    }

    [Fact]
    public void AWriteToAStage2TableIsSeenByTheNextWalk()
    {
        var s = Nested();
        Expect.Ok(s.Translate(LowVa));
        Expect.Ok(s.Translate(LowVa + 0x1000)); // the table walks now come from the memo
        // Unmap, at stage 2, the page holding the stage-1 level-0 table: its S1PTW walk faults at level 3.
        ulong s1Root = s.Lower!.Root;
        s.SetS2(s1Root, 3, 0);
        Expect.Fault(s.Translate(LowVa), FaultType.Translation, 2, 3, s1ptw: true);
        s.MapS2(s1Root, s1Root + Scenario.S1TableIpaToPa);
        Expect.Ok(s.Translate(LowVa));
    }

    [Fact]
    public void ANewStage2BaseIsSeenByTheNextWalk()
    {
        var s = Nested();
        Expect.Ok(s.Translate(LowVa));
        Expect.Ok(s.Translate(LowVa + 0x1000));
        // VTTBR_EL2 now points at a table of zeros (never written): the first S1PTW walk faults at its start level.
        ulong vttbr = s.Regs[SysReg.VTTBR_EL2];
        s.Regs[SysReg.VTTBR_EL2] = Scenario.S2Pool + Scenario.S2PoolSize - 0x1000;
        Expect.Fault(s.Translate(LowVa), FaultType.Translation, 2, 0, s1ptw: true);
        s.Regs[SysReg.VTTBR_EL2] = vttbr;
        Expect.Ok(s.Translate(LowVa));
    }

    [Fact]
    public void AHardwareUpdateOfAStage2DescriptorIsSeenByTheNextWalk()
    {
        // HA at stage 2: the leaf that maps the stage-1 level-3 table starts with AF=0, so the first walk sets it
        // (one update); a memo that kept the old descriptor would set it again on the next walk.
        var s = Nested();
        s.SetBit(SysReg.VTCR_EL2, 21); // VTCR_EL2.HA
        ulong l3Table = s.Lower!.DescriptorAddress(LowVa, 3) & ~0xFFFUL;
        ulong s2Leaf = s.MapS2(l3Table, l3Table + Scenario.S1TableIpaToPa, af: false);
        Expect.Ok(s.Translate(LowVa));
        Assert.Equal(1, s.Mmu.Record.Updates);
        Assert.NotEqual(0UL, s.Memory.Peek64(new PhysicalAddress(Scenario.Phys(s.Stage2!, s2Leaf))) & (1UL << 10));
        Expect.Ok(s.Translate(LowVa + 0x1000));
        Assert.Equal(0, s.Mmu.Record.Updates);
        Assert.Equal(24, s.Reads);
    }

    [Fact]
    public void TheChecksAfterATableWalkFollowTheRegisters()
    {
        // The stage-1 level-3 table sits in stage-2 Device memory: harmless until HCR_EL2.PTW=1 makes a stage-1
        // walk that lands there a stage-2 permission fault (S1PTW), however often that table was read before.
        var s = Nested();
        ulong l3Table = s.Lower!.DescriptorAddress(LowVa, 3) & ~0xFFFUL;
        s.MapS2(l3Table, l3Table + Scenario.S1TableIpaToPa, memAttr: 0x0);
        Expect.Ok(s.Translate(LowVa));
        Expect.Ok(s.Translate(LowVa + 0x1000));
        s.SetBit(SysReg.HCR_EL2, 2); // PTW
        Expect.Fault(s.Translate(LowVa), FaultType.Permission, 2, 3, s1ptw: true);
        s.SetBit(SysReg.HCR_EL2, 2, false);
        Expect.Ok(s.Translate(LowVa));
        // A table read the stage-2 permissions refuse (S2AP=00) faults on every walk, never from a remembered one.
        s.MapS2(l3Table, l3Table + Scenario.S1TableIpaToPa, s2ap: 0);
        Expect.Fault(s.Translate(LowVa), FaultType.Permission, 2, 3, s1ptw: true);
        Expect.Fault(s.Translate(LowVa + 0x1000), FaultType.Permission, 2, 3, s1ptw: true);
    }

    [Fact]
    public void TheSameVaInAnotherRegimeWalksItsOwnTables()
    {
        // EL1&0 (through stage 2) and EL2 map the same VA to different places; switching EL changes no register, so
        // only the regime in the memo's tag keeps one walk from resuming in the other's tables.
        var s = Nested();
        s.WithEl2(Granule.K4, 16);
        s.MapEl2(LowVa, 0x7000_0000);
        for (int i = 0; i < 3; i++)
        {
            Expect.Pa(s.Translate(LowVa, el: 1), 0x6000_0000);
            Assert.Equal(24, s.Reads);
            Expect.Pa(s.Translate(LowVa + 8, el: 2), 0x7000_0008);
            Assert.Equal(4, s.Reads);
        }
    }
}
