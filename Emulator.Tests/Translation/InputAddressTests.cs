using MmuSim.Addressing;
using MmuSim.Faults;
using MmuSim.Registers;
using MmuSim.Tests.Support;
using MmuSim.Tracing;
using MmuSim.Translation;
using static MmuSim.Tests.Support.Data;

namespace MmuSim.Tests.Translation;

/// <summary>
/// Stage-1 input-address processing (Arm ARM D8.2 / AArch64.S1Translate): TTBR0/TTBR1 selection by VA[55], the
/// range ("gap") check, TBI/TBID, EPDx, E0PDx, TxSZ limits, the start level from TxSZ, and the MMU-off output.
/// Every input-address fault is a level-0 translation fault taken before any descriptor is read.
/// </summary>
public class InputAddressTests
{
    [Theory]
    [InlineData(Granule.K4, 0)]
    [InlineData(Granule.K16, 0)]
    [InlineData(Granule.K64, 1)]
    public void Va55SelectsTheTable(Granule g, int firstLevel)
    {
        var s = new Scenario().WithStage1(g, 16).WithUpper(g, 16);
        s.MapS1(LowVa, Oa1);
        s.MapS1(HighVa, Oa2);
        Expect.Pa(s.Translate(LowVa + PageOffset), Oa1 + PageOffset);
        Expect.Pa(s.Translate(HighVa + PageOffset), Oa2 + PageOffset);
        // The same low 48 bits in the other range find nothing there: invalid at that range's first level.
        Expect.Fault(s.Translate((HighVa & 0x0000_FFFF_FFFF_FFFF) + PageOffset), FaultType.Translation, 1, firstLevel);
        Assert.Equal(Scenario.LowerPool, s.Mmu.Record.Steps[0].TableBase);
        Expect.Fault(s.Translate((LowVa | 0xFFFF_0000_0000_0000) + PageOffset), FaultType.Translation, 1, firstLevel);
        Assert.Equal(Scenario.UpperPool, s.Mmu.Record.Steps[0].TableBase);
    }

    public static TheoryData<Granule, Granule, int, int> GranulePairs()
    {
        // 48-bit walks take 4 lookups with 4K and 16K, 3 with 64K.
        var d = new TheoryData<Granule, Granule, int, int>();
        foreach (var lo in AllGranules)
        {
            foreach (var hi in AllGranules)
            {
                d.Add(lo, hi, lo == Granule.K64 ? 3 : 4, hi == Granule.K64 ? 3 : 4);
            }
        }
        return d;
    }

    /// <summary>TG1 has its own encoding (01 16K, 10 4K, 11 64K); each range walks with its own granule.</summary>
    [Theory]
    [MemberData(nameof(GranulePairs))]
    public void EachRangeUsesItsOwnGranule(Granule lo, Granule hi, int loReads, int hiReads)
    {
        var s = new Scenario().WithStage1(lo, 16).WithUpper(hi, 16);
        s.MapS1(LowVa, Oa1);
        s.MapS1(HighVa, Oa2);
        Expect.Pa(s.Translate(LowVa + PageOffset), Oa1 + PageOffset);
        Assert.Equal(loReads, s.Reads);
        Expect.Pa(s.Translate(HighVa + PageOffset), Oa2 + PageOffset);
        Assert.Equal(hiReads, s.Reads);
        Assert.Equal(Scenario.Tg1(hi), (s.Regs[SysReg.TCR_EL1] >> 30) & 3);
    }

    public static TheoryData<Granule, int, int> RangeSizes()
    {
        var d = new TheoryData<Granule, int, int>();
        foreach (var g in AllGranules)
        {
            d.Add(g, 16, 16);
            d.Add(g, 25, 33);
            d.Add(g, 39, 20);
        }
        return d;
    }

    /// <summary>Just outside either range (the gap between them) is a level-0 translation fault with no reads (§12 items 1, 2).</summary>
    [Theory]
    [MemberData(nameof(RangeSizes))]
    public void GapFaultsAtLevel0WithoutReads(Granule g, int t0sz, int t1sz)
    {
        var s = new Scenario().WithStage1(g, t0sz).WithUpper(g, t1sz);
        ulong lowTop = 1UL << (64 - t0sz);               // first VA above TTBR0's range
        ulong highBottom = 0UL - (1UL << (64 - t1sz));    // first VA of TTBR1's range
        ulong page = 1UL << (int)g;
        s.MapS1(lowTop - page, Oa1);
        s.MapS1(highBottom, Oa2);
        Expect.Pa(s.Translate(lowTop - page + 8), Oa1 + 8);
        Expect.Pa(s.Translate(highBottom + 8), Oa2 + 8);
        foreach (ulong va in new ulong[] { lowTop, lowTop + 8, highBottom - 8, 0x8000_0000_0000_0000, 0x7FFF_FFFF_FFFF_FFF8 })
        {
            Expect.Fault(s.Translate(va), FaultType.Translation, 1, 0);
            Assert.Equal(0, s.Reads);
        }
    }

    [Fact]
    public void GapFaultSyndromeAtEl1()
    {
        // §12 item 1: T0SZ=25, VA 2^39 -> stage-1 translation L0, ESR_EL1 EC 0x25 (DABT same EL), IL, DFSC 0x04.
        var s = new Scenario().WithStage1(Granule.K4, 25);
        var o = s.Access(1UL << 39);
        Assert.Equal(1, o.TargetEl);
        Assert.Equal(0x9600_0004UL, o.Esr);
        Assert.Equal(1UL << 39, o.Far);
    }

    [Theory]
    [MemberData(nameof(Granules), MemberType = typeof(Data))]
    public void TbiIgnoresTheTopByteAndFarKeepsIt(Granule g)
    {
        const ulong tagged = 0x5A00_0000_0000_0000;
        var s = new Scenario().WithStage1(g, 16).WithUpper(g, 16);
        s.MapS1(LowVa, Oa1);
        s.MapS1(HighVa, Oa2);
        // TBI0=0: a tagged VA is outside the range (§12 item 4).
        Expect.Fault(s.Translate(tagged | LowVa), FaultType.Translation, 1, 0);
        s.SetBit(SysReg.TCR_EL1, 37); // TBI0
        Expect.Pa(s.Translate(tagged | (LowVa + PageOffset)), Oa1 + PageOffset); // item 3
        // TBI1 still 0: a tagged upper VA faults; VA[55] alone chose TTBR1.
        ulong taggedHigh = (HighVa & 0x00FF_FFFF_FFFF_FFFF) | 0xA500_0000_0000_0000;
        Expect.Fault(s.Translate(taggedHigh), FaultType.Translation, 1, 0);
        s.SetBit(SysReg.TCR_EL1, 38); // TBI1
        Expect.Pa(s.Translate(taggedHigh + PageOffset), Oa2 + PageOffset);
        // Selection is by VA[55] even when the top byte says otherwise (item 5): top byte 0, VA[55]=1 -> TTBR1.
        Expect.Pa(s.Translate((HighVa & 0x00FF_FFFF_FFFF_FFFF) + PageOffset), Oa2 + PageOffset);

        // On a fault FAR holds the tagged VA (the tag is only ignored for translation).
        ulong unmapped = tagged | (LowVa + 0x1000_0000 + PageOffset);
        var o = s.Access(unmapped);
        Assert.True(o.IsFault);
        Assert.Equal(unmapped, o.Far);
    }

    [Fact]
    public void TbiOnlyForTheSelectedRange()
    {
        // TBI0=0, TBI1=1 (§12 item 5): bit 55 = 1 with a tag works, bit 55 = 0 with a tag faults.
        var s = new Scenario().WithStage1(Granule.K4, 16).WithUpper(Granule.K4, 16);
        s.MapS1(LowVa, Oa1);
        s.MapS1(HighVa, Oa2);
        s.SetBit(SysReg.TCR_EL1, 38);
        Expect.Pa(s.Translate(0x12FF_8765_4320_0010), Oa2 + 0x10);
        Expect.Fault(s.Translate(0x1200_1234_5670_0010), FaultType.Translation, 1, 0);
    }

    [Theory]
    [MemberData(nameof(Granules), MemberType = typeof(Data))]
    public void TbidTurnsTbiOffForFetches(Granule g)
    {
        const ulong tagged = 0x3C00_0000_0000_0000;
        var s = new Scenario().WithStage1(g, 16).WithUpper(g, 16);
        s.MapS1(LowVa, Oa1);
        s.MapS1(HighVa, Oa2);
        s.SetBit(SysReg.TCR_EL1, 37).SetBit(SysReg.TCR_EL1, 51); // TBI0, TBID0
        Expect.Pa(s.Translate(tagged | LowVa, AccessType.Read), Oa1);
        Expect.Pa(s.Translate(tagged | LowVa, AccessType.Write), Oa1);
        Expect.Fault(s.Translate(tagged | LowVa, AccessType.Fetch), FaultType.Translation, 1, 0); // item 6
        Assert.Equal(0, s.Reads);
        Expect.Pa(s.Translate(LowVa, AccessType.Fetch), Oa1);
        // TBI1 without TBID1: fetches from tagged upper VAs translate.
        s.SetBit(SysReg.TCR_EL1, 38);
        ulong taggedHigh = (HighVa & 0x00FF_FFFF_FFFF_FFFF) | tagged;
        Expect.Pa(s.Translate(taggedHigh, AccessType.Fetch), Oa2);
        s.SetBit(SysReg.TCR_EL1, 52);
        Expect.Fault(s.Translate(taggedHigh, AccessType.Fetch), FaultType.Translation, 1, 0);
    }

    [Theory]
    [MemberData(nameof(Granules), MemberType = typeof(Data))]
    public void EpdDisablesWalksOfItsRange(Granule g)
    {
        var s = new Scenario().WithStage1(g, 16).WithUpper(g, 16);
        s.MapS1(LowVa, Oa1);
        s.MapS1(HighVa, Oa2);
        s.SetBit(SysReg.TCR_EL1, 7); // EPD0
        Expect.Fault(s.Translate(LowVa), FaultType.Translation, 1, 0);
        Assert.Equal(0, s.Reads);
        Expect.Pa(s.Translate(HighVa), Oa2);
        s.SetBit(SysReg.TCR_EL1, 7, false).SetBit(SysReg.TCR_EL1, 23); // EPD1 (item 7)
        Expect.Pa(s.Translate(LowVa), Oa1);
        Expect.Fault(s.Translate(HighVa, AccessType.Fetch), FaultType.Translation, 1, 0);
        Assert.Equal(0, s.Reads);
    }

    [Theory]
    [MemberData(nameof(Granules), MemberType = typeof(Data))]
    public void E0pdFaultsEl0OnlyAndOnlyWhenImplemented(Granule g)
    {
        var s = new Scenario().WithStage1(g, 16).WithUpper(g, 16);
        s.MapS1(LowVa, Oa1, ap: 1);
        s.MapS1(HighVa, Oa2, ap: 1);
        s.SetBit(SysReg.TCR_EL1, 55); // E0PD0 (item 8)
        Expect.Fault(s.Translate(LowVa, el: 0), FaultType.Translation, 1, 0);
        Assert.Equal(0, s.Reads);
        Expect.Pa(s.Translate(LowVa, el: 1), Oa1);
        Expect.Pa(s.Translate(HighVa, el: 0), Oa2);
        var at = s.At(AtOp.S1E0R, LowVa);
        Assert.Equal(0x809UL, at.Par); // F=1, FST=0x04 (translation L0), RES1 bit 11
        s.SetBit(SysReg.TCR_EL1, 55, false).SetBit(SysReg.TCR_EL1, 56); // E0PD1
        Expect.Pa(s.Translate(LowVa, el: 0), Oa1);
        Expect.Fault(s.Translate(HighVa, AccessType.Write, el: 0), FaultType.Translation, 1, 0);
        // Without FEAT_E0PD (ID_AA64MMFR2_EL1.E0PD = 0) the bit has no effect.
        s.SetField(SysReg.ID_AA64MMFR2_EL1, 63, 60, 0);
        Expect.Pa(s.Translate(HighVa, AccessType.Write, el: 0), Oa2);
    }

    /// <summary>
    /// TxSZ limits: minimum 16 (12 with FEAT_LVA for 64K, or DS=1), maximum 39, or 48 (47 for 64K) with FEAT_TTST.
    /// Out of range is a level-0 translation fault (QEMU's IMPLEMENTATION DEFINED choice).
    /// </summary>
    [Theory]
    // granule, TxSZ, DS, LVA, TTST, faults
    [InlineData(Granule.K4, 15, false, true, true, true)]
    [InlineData(Granule.K4, 16, false, true, true, false)]
    [InlineData(Granule.K4, 48, false, true, true, false)]
    [InlineData(Granule.K4, 49, false, true, true, true)]
    [InlineData(Granule.K4, 39, false, true, false, false)]
    [InlineData(Granule.K4, 40, false, true, false, true)]
    [InlineData(Granule.K4, 12, true, true, true, false)]
    [InlineData(Granule.K4, 11, true, true, true, true)]
    [InlineData(Granule.K16, 15, false, true, true, true)]
    [InlineData(Granule.K16, 16, false, true, true, false)]
    [InlineData(Granule.K16, 48, false, true, true, false)]
    [InlineData(Granule.K16, 49, false, true, true, true)]
    [InlineData(Granule.K16, 40, false, true, false, true)]
    [InlineData(Granule.K16, 12, true, true, true, false)]
    [InlineData(Granule.K16, 11, true, true, true, true)]
    [InlineData(Granule.K64, 11, false, true, true, true)]
    [InlineData(Granule.K64, 12, false, true, true, false)]
    [InlineData(Granule.K64, 15, false, false, true, true)]
    [InlineData(Granule.K64, 16, false, false, true, false)]
    [InlineData(Granule.K64, 47, false, true, true, false)]
    [InlineData(Granule.K64, 48, false, true, true, true)]
    [InlineData(Granule.K64, 39, false, true, false, false)]
    [InlineData(Granule.K64, 40, false, true, false, true)]
    public void TxSzLimits(Granule g, int txsz, bool ds, bool lva, bool ttst, bool faults)
    {
        var s = new Scenario().WithStage1(g, txsz, ds: ds).WithUpper(g, txsz);
        s.SetField(SysReg.ID_AA64MMFR2_EL1, 19, 16, lva ? 1UL : 0).SetField(SysReg.ID_AA64MMFR2_EL1, 31, 28, ttst ? 1UL : 0);
        ulong lowVa = 0x100;
        ulong highVa = 0UL - (1UL << (int)g) + 0x100;
        s.MapS1(lowVa, Oa1);
        s.MapS1(highVa, Oa2);
        var lo = s.Translate(lowVa);
        var hi = s.Translate(highVa);
        if (faults)
        {
            Expect.Fault(lo, FaultType.Translation, 1, 0);
            Expect.Fault(hi, FaultType.Translation, 1, 0);
            Assert.Equal(0, s.Reads);
        }
        else
        {
            Expect.Pa(lo, Oa1 + 0x100);
            Expect.Pa(hi, Oa2 + 0x100);
        }
    }

    /// <summary>
    /// Start level and first-table size from TxSZ (Arm ARM D8.2 tables; notes §2.4). The VA is the last page of the
    /// range, so the first lookup uses the last root entry: its index proves how many bits the first level resolves.
    /// </summary>
    [Theory]
    // granule, TxSZ, DS, start level, root entries
    [InlineData(Granule.K4, 16, false, 0, 512)]
    [InlineData(Granule.K4, 24, false, 0, 2)]
    [InlineData(Granule.K4, 25, false, 1, 512)]
    [InlineData(Granule.K4, 33, false, 1, 2)]
    [InlineData(Granule.K4, 34, false, 2, 512)]
    [InlineData(Granule.K4, 39, false, 2, 16)]
    [InlineData(Granule.K4, 42, false, 2, 2)]
    [InlineData(Granule.K4, 43, false, 3, 512)]
    [InlineData(Granule.K4, 48, false, 3, 16)]
    [InlineData(Granule.K4, 12, true, -1, 16)]
    [InlineData(Granule.K4, 15, true, -1, 2)]
    [InlineData(Granule.K16, 16, false, 0, 2)]
    [InlineData(Granule.K16, 17, false, 1, 2048)]
    [InlineData(Granule.K16, 27, false, 1, 2)]
    [InlineData(Granule.K16, 28, false, 2, 2048)]
    [InlineData(Granule.K16, 38, false, 2, 2)]
    [InlineData(Granule.K16, 39, false, 3, 2048)]
    [InlineData(Granule.K16, 48, false, 3, 4)]
    [InlineData(Granule.K16, 12, true, 0, 32)]
    [InlineData(Granule.K64, 12, false, 1, 1024)]
    [InlineData(Granule.K64, 16, false, 1, 64)]
    [InlineData(Granule.K64, 21, false, 1, 2)]
    [InlineData(Granule.K64, 22, false, 2, 8192)]
    [InlineData(Granule.K64, 34, false, 2, 2)]
    [InlineData(Granule.K64, 35, false, 3, 8192)]
    [InlineData(Granule.K64, 47, false, 3, 2)]
    public void StartLevelFromTxSz(Granule g, int txsz, bool ds, int startLevel, int rootEntries)
    {
        var s = new Scenario().WithStage1(g, txsz, ds: ds).WithUpper(g, txsz);
        ulong page = 1UL << (int)g;
        ulong lowVa = (1UL << (64 - txsz)) - page;
        ulong highVa = 0UL - page;
        s.MapS1(lowVa, Oa1);
        s.MapS1(highVa, Oa2);
        foreach (var (va, oa, root) in new[] { (lowVa, Oa1, Scenario.LowerPool), (highVa, Oa2, Scenario.UpperPool) })
        {
            Expect.Pa(s.Translate(va + 0x18), oa + 0x18);
            var steps = s.Mmu.Record.Steps;
            Assert.Equal(4 - startLevel, steps.Length);
            Assert.Equal(startLevel, steps[0].Level);
            Assert.Equal(rootEntries - 1, steps[0].Index);
            Assert.Equal(root + (ulong)(rootEntries - 1) * 8, steps[0].DescriptorAddress);
            Assert.Equal(3, steps[^1].Level);
        }
    }

    /// <summary>A reserved TG0 (0b11) behaves as the smallest implemented granule, as QEMU does (§12 items 9, 10).</summary>
    [Fact]
    public void ReservedOrUnimplementedGranuleFallsBackTo4K()
    {
        var s = new Scenario().WithStage1(Granule.K4, 16);
        s.MapS1(LowVa, Oa1);
        s.SetField(SysReg.TCR_EL1, 15, 14, 3);
        Expect.Pa(s.Translate(LowVa + PageOffset), Oa1 + PageOffset);
        Assert.Equal(4, s.Reads);
        // A 16K request on a CPU without 16K (TGran16 = 0) walks the same 4K tables.
        s.SetField(SysReg.TCR_EL1, 15, 14, 2).SetField(SysReg.ID_AA64MMFR0_EL1, 23, 20, 0);
        Expect.Pa(s.Translate(LowVa + PageOffset), Oa1 + PageOffset);
    }

    // ---------------------------------------------------------------- stage 1 disabled

    [Fact]
    public void MmuOffIsFlatBelowPaMaxAndAddressSizeL0Above()
    {
        // §12 item 16: PARange 40, SCTLR_EL1.M=0.
        var s = new Scenario();
        s.Regs[SysReg.ID_AA64MMFR0_EL1] = Mmfr0WithPaRange(2);
        Expect.Pa(s.Translate((1UL << 40) - 8), (1UL << 40) - 8);
        var r = s.Translate(1UL << 41, AccessType.Write);
        Expect.Fault(r, FaultType.AddressSize, 1, 0);
        var o = s.Access(1UL << 41, AccessType.Write);
        Assert.Equal(1, o.TargetEl);
        Assert.Equal(0x9600_0040UL, o.Esr); // DABT same EL, WnR, DFSC 0x00
        // Bit 63 counts when TBI is off; the top byte is dropped when TBI0 applies (AArch64.S1DisabledOutput).
        Expect.Fault(s.Translate(0x5A00_0000_1234_5678), FaultType.AddressSize, 1, 0);
        s.SetBit(SysReg.TCR_EL1, 37);
        Expect.Pa(s.Translate(0x5A00_0000_1234_5678), 0x1234_5678);
        Expect.Pa(s.Translate(0x5A00_0000_1234_5678, AccessType.Fetch), 0x1234_5678);
        s.SetBit(SysReg.TCR_EL1, 51); // TBID0: fetches keep the whole VA
        Expect.Fault(s.Translate(0x5A00_0000_1234_5678, AccessType.Fetch), FaultType.AddressSize, 1, 0);
    }

    [Fact]
    public void MmuOffAddressSizeFaultPrecedesStage2()
    {
        // Stage 1 off, stage 2 on: the VA above PAMax never reaches stage 2 (no descriptor reads).
        var s = new Scenario().WithStage2(Granule.K4, 24, startLevel: 1);
        s.Regs[SysReg.ID_AA64MMFR0_EL1] = Mmfr0WithPaRange(2);
        s.MapS2(0x4000_0000, 0x5000_0000);
        Expect.Pa(s.Translate(0x4000_0010), 0x5000_0010);
        Expect.Fault(s.Translate(1UL << 41), FaultType.AddressSize, 1, 0);
        Assert.Equal(0, s.Reads);
    }
}
