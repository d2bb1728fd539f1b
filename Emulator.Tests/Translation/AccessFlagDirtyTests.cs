using MmuSim.Addressing;
using MmuSim.Building;
using MmuSim.Faults;
using MmuSim.Registers;
using MmuSim.Tests.Support;
using MmuSim.Tracing;
using static MmuSim.Tests.Support.Data;
using MmuSim.Translation;

namespace MmuSim.Tests.Translation;

/// <summary>
/// The access flag and dirty state (Arm ARM D8.5 / FEAT_HAFDBS, notes §5): AF=0 faults at the leaf level without HA and
/// is set in memory with HA; with HA+HD a DBM=1 descriptor is writable-clean, and a write clears AP[2] (stage 1) or sets
/// S2AP[1] (stage 2) only when that bit was the only reason to refuse it; AT never dirties; stage-1 updates are writes
/// through stage 2.
/// </summary>
public class AccessFlagDirtyTests
{
    private const int Ha = 39, Hd = 40;
    private const int VtcrHa = 21, VtcrHd = 22;

    public static TheoryData<Granule, int> LeafLevels()
    {
        var d = new TheoryData<Granule, int>();
        foreach (var g in AllGranules)
        {
            foreach (int l in BlockLevels(g))
            {
                d.Add(g, l);
            }
            d.Add(g, 3);
        }
        return d;
    }

    private const ulong Va = 0x0000_0400_0000_0000;   // aligned for every block size
    private const ulong Oa = 0x0000_0800_0000_0000;

    [Theory]
    [MemberData(nameof(LeafLevels))]
    public void Stage1AccessFlag(Granule g, int level)
    {
        var s = new Scenario().WithStage1(g, 16);
        ulong slot = s.MapS1(Va, Oa, level, af: false);
        ulong before = s.ReadTable(s.Lower!, slot);
        // HA=0: access flag fault at the leaf level (item 22), for every access type.
        foreach (var t in new[] { AccessType.Read, AccessType.Write, AccessType.Fetch })
        {
            Expect.Fault(s.Translate(Va, t), FaultType.AccessFlag, 1, level);
        }
        Assert.Equal(0x9600_0008UL | (uint)level, s.Access(Va).Esr);
        Assert.Equal(before, s.ReadTable(s.Lower!, slot));
        // HA=1: no fault; the descriptor in memory gets AF, nothing else changes (item 23).
        s.SetBit(SysReg.TCR_EL1, Ha);
        long updates = s.Mmu.HardwareUpdates;
        Expect.Pa(s.Translate(Va + 0x88), Oa + 0x88);
        Assert.Equal(before | (1UL << 10), s.ReadTable(s.Lower!, slot));
        Assert.Equal(updates + 1, s.Mmu.HardwareUpdates);
        Expect.Pa(s.Translate(Va + 0x88), Oa + 0x88);
        Assert.Equal(updates + 1, s.Mmu.HardwareUpdates); // already set: no second write
    }

    [Theory]
    [MemberData(nameof(LeafLevels))]
    public void Stage2AccessFlag(Granule g, int level)
    {
        var s = new Scenario().WithStage2(g, 16);
        ulong slot = s.MapS2(Va, Oa, level, af: false);
        ulong before = s.ReadTable(s.Stage2!, slot);
        Expect.Fault(s.Translate(Va, AccessType.Write), FaultType.AccessFlag, 2, level);
        var o = s.Access(Va + 0x10);
        Assert.Equal(0x9200_0008UL | (uint)level, o.Esr);
        Assert.Equal(((Va + 0x10) >> 12) << 4, o.Hpfar);
        s.SetBit(SysReg.VTCR_EL2, VtcrHa);
        Expect.Pa(s.Translate(Va + 0x10), Oa + 0x10);
        Assert.Equal(before | (1UL << 10), s.ReadTable(s.Stage2!, slot));
    }

    [Fact]
    public void AccessFlagFaultBeatsPermissionFaultButHaDoesNotSetAfOnAPermissionFault()
    {
        // §12 item 24: AF=0, AP=10, EL0 write.
        var s = new Scenario().WithStage1(Granule.K4, 16);
        ulong slot = s.MapS1(LowVa, Oa1, ap: 2, af: false);
        Expect.Fault(s.Translate(LowVa, AccessType.Write, el: 0), FaultType.AccessFlag, 1, 3);
        s.SetBit(SysReg.TCR_EL1, Ha);
        Expect.Fault(s.Translate(LowVa, AccessType.Write, el: 0), FaultType.Permission, 1, 3);
        Assert.Equal(0UL, s.ReadTable(s.Lower!, slot) & (1UL << 10)); // QEMU: no AF update on a permission fault
        Expect.Pa(s.Translate(LowVa, AccessType.Read, el: 1), Oa1);
        Assert.NotEqual(0UL, s.ReadTable(s.Lower!, slot) & (1UL << 10));
    }

    [Theory]
    [MemberData(nameof(LeafLevels))]
    public void Stage1DirtyStateClearsAp2OnWrite(Granule g, int level)
    {
        // §12 item 25: DBM=1, AP=11 (read-only at EL0 and EL1), HA=HD=1, EL1 store.
        var s = new Scenario().WithStage1(g, 16);
        ulong slot = s.MapS1(Va, Oa, level, ap: 3, dbm: true);
        ulong clean = s.ReadTable(s.Lower!, slot);
        // HD without HA has no effect (item 27), and DBM without HD is just a read-only page.
        s.SetBit(SysReg.TCR_EL1, Hd);
        Expect.Fault(s.Translate(Va, AccessType.Write), FaultType.Permission, 1, level);
        s.SetBit(SysReg.TCR_EL1, Hd, false).SetBit(SysReg.TCR_EL1, Ha);
        Expect.Fault(s.Translate(Va, AccessType.Write), FaultType.Permission, 1, level);
        s.SetBit(SysReg.TCR_EL1, Hd);
        // Reads leave it clean.
        Expect.Pa(s.Translate(Va, AccessType.Read), Oa);
        Assert.Equal(clean, s.ReadTable(s.Lower!, slot));
        // AT S1E1W sees it writable and never dirties it (item 29; QEMU 7.2 deviation #5 corrected).
        Assert.Equal(0UL, s.At(AtOp.S1E1W, Va).Par & 1);
        Assert.Equal(clean, s.ReadTable(s.Lower!, slot));
        // The store dirties it: AP[2] cleared, AP becomes 01, and EL0 may now write.
        Expect.Pa(s.Translate(Va, AccessType.Write), Oa);
        Assert.Equal(clean & ~(1UL << 7), s.ReadTable(s.Lower!, slot));
        Expect.Pa(s.Translate(Va, AccessType.Write, el: 0), Oa);
    }

    [Fact]
    public void DirtyAndAccessFlagAreSetByOneUpdate()
    {
        var s = new Scenario().WithStage1(Granule.K16, 16);
        ulong slot = s.MapS1(LowVa, Oa1, ap: 2, af: false, dbm: true);
        ulong clean = s.ReadTable(s.Lower!, slot);
        s.SetBit(SysReg.TCR_EL1, Ha).SetBit(SysReg.TCR_EL1, Hd);
        long updates = s.Mmu.HardwareUpdates;
        Expect.Pa(s.Translate(LowVa, AccessType.Write), Oa1);
        Assert.Equal((clean | (1UL << 10)) & ~(1UL << 7), s.ReadTable(s.Lower!, slot));
        Assert.Equal(updates + 1, s.Mmu.HardwareUpdates);
    }

    [Fact]
    public void WritableCleanOnlyWhenAp2IsTheOnlyReason()
    {
        var s = new Scenario().WithStage1(Granule.K4, 16);
        s.SetBit(SysReg.TCR_EL1, Ha).SetBit(SysReg.TCR_EL1, Hd);
        // §12 item 26: AP=10 has no EL0 access at all: an EL0 store faults and nothing changes.
        ulong a = s.MapS1(LowVa, Oa1, ap: 2, dbm: true);
        ulong aBefore = s.ReadTable(s.Lower!, a);
        Expect.Fault(s.Translate(LowVa, AccessType.Write, el: 0), FaultType.Permission, 1, 3);
        Assert.Equal(aBefore, s.ReadTable(s.Lower!, a));
        // ... while an EL1 store dirties it.
        Expect.Pa(s.Translate(LowVa, AccessType.Write, el: 1), Oa1);
        Assert.Equal(aBefore & ~(1UL << 7), s.ReadTable(s.Lower!, a));
        // §12 item 28: APTable=10 in a parent also refuses writes: no update.
        ulong b = s.MapS1(LowVa + 0x4000_0000, Oa2, ap: 3, dbm: true);
        s.SetTableAttrs(LowVa + 0x4000_0000, 2, apTable: 2);
        ulong bBefore = s.ReadTable(s.Lower!, b);
        Expect.Fault(s.Translate(LowVa + 0x4000_0000, AccessType.Write), FaultType.Permission, 1, 3);
        Assert.Equal(bBefore, s.ReadTable(s.Lower!, b));
        // With HPD the parent's APTable no longer counts and the store dirties the page.
        s.SetBit(SysReg.TCR_EL1, 41);
        Expect.Pa(s.Translate(LowVa + 0x4000_0000, AccessType.Write), Oa2);
        Assert.Equal(bBefore & ~(1UL << 7), s.ReadTable(s.Lower!, b));
    }

    [Fact]
    public void HafdbsLevelsGateHaAndHd()
    {
        // §12 item 30: ID_AA64MMFR1_EL1.HAFDBS = 0 ignores HA/HD; = 1 gives AF but not dirty.
        var s = new Scenario().WithStage1(Granule.K4, 16);
        ulong af = s.MapS1(LowVa, Oa1, af: false);
        ulong dirty = s.MapS1(LowVa + 0x1000, Oa1 + 0x1000, ap: 2, dbm: true);
        s.SetBit(SysReg.TCR_EL1, Ha).SetBit(SysReg.TCR_EL1, Hd);
        s.SetField(SysReg.ID_AA64MMFR1_EL1, 3, 0, 0);
        Expect.Fault(s.Translate(LowVa), FaultType.AccessFlag, 1, 3);
        Expect.Fault(s.Translate(LowVa + 0x1000, AccessType.Write), FaultType.Permission, 1, 3);
        s.SetField(SysReg.ID_AA64MMFR1_EL1, 3, 0, 1);
        Expect.Pa(s.Translate(LowVa), Oa1);
        Assert.NotEqual(0UL, s.ReadTable(s.Lower!, af) & (1UL << 10));
        Expect.Fault(s.Translate(LowVa + 0x1000, AccessType.Write), FaultType.Permission, 1, 3);
        s.SetField(SysReg.ID_AA64MMFR1_EL1, 3, 0, 2);
        Expect.Pa(s.Translate(LowVa + 0x1000, AccessType.Write), Oa1 + 0x1000);
        Assert.Equal(0UL, s.ReadTable(s.Lower!, dirty) & (1UL << 7));
    }

    [Theory]
    [MemberData(nameof(LeafLevels))]
    public void Stage2DirtyStateSetsS2ap1OnWrite(Granule g, int level)
    {
        var s = new Scenario().WithStage2(g, 16);
        ulong slot = s.MapS2(Va, Oa, level, s2ap: 1, dbm: true);
        ulong clean = s.ReadTable(s.Stage2!, slot);
        Expect.Fault(s.Translate(Va, AccessType.Write), FaultType.Permission, 2, level);
        s.SetBit(SysReg.VTCR_EL2, VtcrHd);
        Expect.Fault(s.Translate(Va, AccessType.Write), FaultType.Permission, 2, level); // HD needs HA
        s.SetBit(SysReg.VTCR_EL2, VtcrHa);
        Expect.Pa(s.Translate(Va, AccessType.Read), Oa);
        Assert.Equal(clean, s.ReadTable(s.Stage2!, slot));
        // AT S12E1W: writable, never dirtied.
        Assert.Equal(0UL, s.At(AtOp.S12E1W, Va).Par & 1);
        Assert.Equal(clean, s.ReadTable(s.Stage2!, slot));
        Expect.Pa(s.Translate(Va + 8, AccessType.Write), Oa + 8);
        Assert.Equal(clean | (1UL << 7), s.ReadTable(s.Stage2!, slot));
    }

    [Theory]
    [MemberData(nameof(Granules), MemberType = typeof(Data))]
    public void Stage2AccessFlagOfStage1TablePagesIsSetByTheWalk(Granule g)
    {
        // §12 item 31: VTCR.HA=1 and the stage-2 leaf mapping a stage-1 table page has AF=0.
        var s = new Scenario().WithStage2(g, 16);
        s.WithStage1(g, 16);
        s.MapS1(LowVa, 0x4000_0000);
        s.MapS2(0x4000_0000, Oa1);
        ulong l3 = s.Lower!.DescriptorAddress(LowVa, 3);
        ulong page = l3 & ~((1UL << (int)g) - 1);
        ulong s2slot = s.MapS2(page, page + Scenario.S1TableIpaToPa, af: false);
        Expect.Fault(s.Translate(LowVa), FaultType.AccessFlag, 2, 3, s1ptw: true);
        Assert.Equal((l3 >> 12) << 4, s.Access(LowVa).Hpfar);
        s.SetBit(SysReg.VTCR_EL2, VtcrHa);
        Expect.Pa(s.Translate(LowVa), Oa1);
        Assert.NotEqual(0UL, s.ReadTable(s.Stage2!, s2slot) & (1UL << 10));
    }

    [Theory]
    [MemberData(nameof(Granules), MemberType = typeof(Data))]
    public void Stage1HardwareUpdateIsAStage2Write(Granule g)
    {
        // §12 item 32: the stage-1 leaf needs AF; its table page is read-only at stage 2.
        var s = new Scenario().WithStage2(g, 16);
        s.WithStage1(g, 16);
        ulong s1slot = s.MapS1(LowVa, 0x4000_0000, af: false);
        s.MapS2(0x4000_0000, Oa1);
        ulong page = s1slot & ~((1UL << (int)g) - 1);
        ulong s2slot = s.MapS2(page, page + Scenario.S1TableIpaToPa, s2ap: 1);
        s.SetBit(SysReg.TCR_EL1, Ha);
        Expect.Fault(s.Translate(LowVa), FaultType.Permission, 2, 3, s1ptw: true);
        var o = s.Access(LowVa);
        Assert.Equal(0x9200_008FUL, o.Esr);          // read: WnR is the instruction's direction
        Assert.Equal((s1slot >> 12) << 4, o.Hpfar);  // the stage-1 descriptor's IPA
        Assert.Equal(0UL, s.ReadTable(s.Lower!, s1slot) & (1UL << 10));
        // With stage-2 DBM and VTCR.HA/HD the table page goes writable-dirty first, then both updates happen.
        s.MapS2(page, page + Scenario.S1TableIpaToPa, s2ap: 1, dbm: true);
        s.SetBit(SysReg.VTCR_EL2, VtcrHa).SetBit(SysReg.VTCR_EL2, VtcrHd);
        Expect.Pa(s.Translate(LowVa), Oa1);
        Assert.NotEqual(0UL, s.ReadTable(s.Lower!, s1slot) & (1UL << 10));
        Assert.NotEqual(0UL, s.ReadTable(s.Stage2!, s2slot) & (1UL << 7));
    }

    [Fact]
    public void AtUpdatesTheAccessFlag()
    {
        // AT may set AF (QEMU does; README choice); it never dirties (checked above).
        var s = new Scenario().WithStage1(Granule.K64, 16);
        ulong slot = s.MapS1(LowVa, Oa1, af: false);
        s.SetBit(SysReg.TCR_EL1, Ha);
        Assert.Equal(0UL, s.At(AtOp.S1E1R, LowVa).Par & 1);
        Assert.NotEqual(0UL, s.ReadTable(s.Lower!, slot) & (1UL << 10));
    }

    [Fact]
    public void El2RegimeHardwareUpdates()
    {
        var s = new Scenario().WithEl2(Granule.K4, 16);
        ulong slot = s.MapEl2(LowVa, Oa1, ap: 2, af: false, dbm: true);
        ulong before = s.ReadTable(s.El2!, slot);
        Expect.Fault(s.Translate(LowVa, el: 2), FaultType.AccessFlag, 1, 3);
        s.SetBit(SysReg.TCR_EL2, 21).SetBit(SysReg.TCR_EL2, 22); // HA, HD
        Expect.Pa(s.Translate(LowVa, AccessType.Write, el: 2), Oa1);
        Assert.Equal((before | (1UL << 10)) & ~(1UL << 7), s.ReadTable(s.El2!, slot));
        // TCR_EL1.HA/HD play no part at EL2.
        var t = new Scenario().WithEl2(Granule.K4, 16);
        t.MapEl2(LowVa, Oa1, af: false);
        t.SetBit(SysReg.TCR_EL1, Ha);
        Expect.Fault(t.Translate(LowVa, el: 2), FaultType.AccessFlag, 1, 3);
    }
}
