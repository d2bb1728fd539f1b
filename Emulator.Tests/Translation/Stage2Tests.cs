using MmuSim.Addressing;
using MmuSim.Building;
using MmuSim.Faults;
using MmuSim.Registers;
using MmuSim.Tests.Support;
using MmuSim.Tracing;
using MmuSim.Translation;
using static MmuSim.Tests.Support.Data;

namespace MmuSim.Tests.Translation;

/// <summary>
/// Stage 2 (Arm ARM D8.2 / AArch64.S2Translate): the start level from VTCR_EL2.SL0 (and SL2), invalid and inconsistent
/// SL0, concatenated first-level tables, the IPA range, the VTTBR base, stage-2 faults on stage-1 table walks (S1PTW,
/// HPFAR = the descriptor's IPA page, level = the stage-2 level), external aborts on walks at both stages, HCR_EL2.DC,
/// TGE and PTW.
/// </summary>
public class Stage2Tests
{
    // granule, T0SZ, SL0, SL2, DS, start level, root entries (more than one granule of entries = concatenation)
    public static TheoryData<Granule, int, int, bool, bool, int, int> Sl0Rows => new()
    {
        { Granule.K4, 16, 2, false, false, 0, 512 },
        { Granule.K4, 24, 2, false, false, 0, 2 },
        { Granule.K4, 25, 1, false, false, 1, 512 },
        { Granule.K4, 24, 1, false, false, 1, 1024 },   // 2 concatenated tables (§12 item 40)
        { Granule.K4, 21, 1, false, false, 1, 8192 },   // 16
        { Granule.K4, 34, 0, false, false, 2, 512 },
        { Granule.K4, 33, 0, false, false, 2, 1024 },
        { Granule.K4, 30, 0, false, false, 2, 8192 },
        { Granule.K4, 43, 3, false, false, 3, 512 },    // FEAT_TTST
        { Granule.K4, 39, 3, false, false, 3, 8192 },
        { Granule.K4, 12, 0, true, true, -1, 16 },      // DS, SL2=1
        { Granule.K4, 12, 2, false, true, 0, 8192 },    // DS: 16 tables at level 0
        { Granule.K16, 16, 2, false, false, 1, 4096 },  // 48-bit IPA without DS needs 2 tables at L1
        { Granule.K16, 17, 2, false, false, 1, 2048 },
        { Granule.K16, 27, 1, false, false, 2, 4096 },
        { Granule.K16, 28, 1, false, false, 2, 2048 },
        { Granule.K16, 38, 0, false, false, 3, 4096 },
        { Granule.K16, 39, 0, false, false, 3, 2048 },
        { Granule.K16, 12, 3, false, true, 0, 32 },     // DS
        { Granule.K64, 16, 2, false, false, 1, 64 },
        { Granule.K64, 12, 2, false, false, 1, 1024 },  // FEAT_LPA
        { Granule.K64, 22, 1, false, false, 2, 8192 },
        { Granule.K64, 18, 1, false, false, 2, 131072 },
        { Granule.K64, 35, 0, false, false, 3, 8192 },
        { Granule.K64, 31, 0, false, false, 3, 131072 },
    };

    [Theory]
    [MemberData(nameof(Sl0Rows))]
    public void StartLevelFromSl0WithConcatenation(Granule g, int t0sz, int sl0, bool sl2, bool ds, int start, int entries)
    {
        var s = new Scenario().WithStage2(g, t0sz, startLevel: start, ps: ds || t0sz < 16 ? Scenario.Ps52 : Scenario.Ps48, ds: ds);
        Assert.Equal((ulong)sl0, (s.Regs[SysReg.VTCR_EL2] >> 6) & 3);
        Assert.Equal(sl2, ((s.Regs[SysReg.VTCR_EL2] >> 33) & 1) != 0);
        ulong page = 1UL << (int)g;
        ulong top = (1UL << (64 - t0sz)) - page;  // last page of the IPA space: the last root entry
        s.MapS2(top, Oa1);
        s.MapS2(0, Oa2);
        Expect.Pa(s.Translate(top + 0x28), Oa1 + 0x28);
        var steps = s.Mmu.Record.Steps;
        Assert.Equal(4 - start, steps.Length);
        Assert.Equal(start, steps[0].Level);
        Assert.Equal(entries - 1, steps[0].Index);
        Assert.Equal(Scenario.S2Pool + (ulong)(entries - 1) * 8, steps[0].DescriptorAddress);
        Expect.Pa(s.Translate(0x28), Oa2 + 0x28);
        Assert.Equal(0, s.Mmu.Record.Steps[0].Index);
    }

    [Fact]
    public void ConcatenatedRootIpaBit39SelectsTheSecondTable()
    {
        // §12 item 40: 4K, T0SZ=24, SL0=1: two 4 KB level-1 tables, 8 KB aligned.
        var s = new Scenario().WithStage2(Granule.K4, 24, startLevel: 1);
        s.MapS2((1UL << 39) + 0x4000_0000, Oa1);
        Expect.Pa(s.Translate((1UL << 39) + 0x4000_0010), Oa1 + 0x10);
        Assert.Equal(Scenario.S2Pool + 0x1000 + 8, s.Mmu.Record.Steps[0].DescriptorAddress);
    }

    // granule, T0SZ, SL0 written, SL2, DS, PARange, TTST, why
    public static TheoryData<Granule, int, int, bool, bool, int, bool, string> BadSl0Rows => new()
    {
        { Granule.K4, 24, 2, false, false, 2, true, "L0 needs PAMax >= 44 (item 39)" },
        { Granule.K4, 39, 3, false, false, 6, false, "SL0=3 (L3, 16 tables) needs FEAT_TTST" },
        { Granule.K4, 24, 0, false, false, 6, true, "40-bit IPA from L2: inconsistent (item 41)" },
        { Granule.K4, 16, 1, false, false, 6, true, "48-bit IPA from L1 needs 2^18 entries" },
        { Granule.K4, 39, 2, false, false, 6, true, "25-bit IPA from L0: nothing left for L0" },
        { Granule.K4, 12, 1, true, true, 6, true, "SL2:SL0 = 101 is reserved" },
        { Granule.K4, 15, 2, false, false, 6, true, "T0SZ 15 below the minimum without DS" },
        { Granule.K16, 16, 3, false, false, 6, true, "SL0=3 (L0) needs DS (item 42)" },
        { Granule.K16, 16, 3, false, true, 5, true, "SL0=3 (L0) with DS still needs PAMax = 52" },
        { Granule.K16, 24, 2, false, false, 2, true, "16K L1 needs PAMax >= 42" },
        { Granule.K16, 16, 1, false, false, 6, true, "48-bit IPA from L2: inconsistent" },
        { Granule.K64, 16, 3, false, false, 6, true, "SL0=3 is reserved for 64K (item 43)" },
        { Granule.K64, 22, 2, false, false, 3, true, "64K L1 needs PAMax >= 44" },
        { Granule.K64, 11, 2, false, false, 6, true, "T0SZ 11 below the minimum" },
        { Granule.K64, 48, 0, false, false, 6, true, "T0SZ 48 above the maximum (47)" },
    };

    /// <summary>
    /// A reserved, unsupported or inconsistent SL0 (AArch64.S2InvalidSL / S2InconsistentSL) or T0SZ makes every stage-2
    /// lookup a stage-2 level-0 translation fault; when the first lookup is for a stage-1 table it has S1PTW=1.
    /// </summary>
    [Theory]
    [MemberData(nameof(BadSl0Rows))]
    public void InvalidOrInconsistentSl0IsAStage2Level0TranslationFault(Granule g, int t0sz, int sl0, bool sl2, bool ds, int paRange, bool ttst, string why)
    {
        // Stage 1 off: the data IPA.
        var s = BadSl0(new Scenario(), g, t0sz, sl0, sl2, ds, paRange, ttst);
        var r = s.Translate(0x4000_0000);
        Assert.True(r.IsFault, why);
        Expect.Fault(r, FaultType.Translation, 2, 0);
        Assert.Equal(0, s.Reads);
        var o = s.Access(0x4000_0000, AccessType.Write);
        Assert.Equal(2, o.TargetEl);
        Assert.Equal(0x9200_0044UL, o.Esr); // DABT lower EL, WnR, DFSC 0x04
        Assert.Equal(0x40_0000UL, o.Hpfar);

        // Stage 1 on: the first stage-1 table read faults at stage 2 (S1PTW); fetches give an instruction abort.
        var s1 = new Scenario().WithStage2(Granule.K4, 24, startLevel: 1); // VTCR is overwritten below
        s1.WithStage1(Granule.K4, 16);
        s1.MapS1(LowVa, Oa1);
        BadSl0(s1, g, t0sz, sl0, sl2, ds, paRange, ttst);
        Expect.Fault(s1.Translate(LowVa), FaultType.Translation, 2, 0, s1ptw: true);
        var x = s1.Access(LowVa, AccessType.Fetch);
        Assert.Equal(0x8200_0084UL, x.Esr); // IABT lower EL, S1PTW, IFSC 0x04
        Assert.Equal(Scenario.LowerPool >> 8, x.Hpfar);
        Assert.Equal(LowVa, x.Far);
    }

    private static Scenario BadSl0(Scenario s, Granule g, int t0sz, int sl0, bool sl2, bool ds, int paRange, bool ttst)
    {
        ulong vtcr = (uint)t0sz | ((ulong)(uint)sl0 << 6) | (Scenario.Tg0(g) << 14) | ((ulong)Scenario.Ps48 << 16) | (1UL << 31)
            | (ds ? 1UL << 32 : 0) | (sl2 ? 1UL << 33 : 0);
        if (ds || t0sz < 16)
        {
            vtcr |= (ulong)Scenario.Ps52 << 16;
        }
        s.Regs[SysReg.VTCR_EL2] = vtcr;
        s.Regs[SysReg.VTTBR_EL2] = Scenario.S2Pool;
        s.SetBit(SysReg.HCR_EL2, 0);
        s.Regs[SysReg.ID_AA64MMFR0_EL1] = Mmfr0WithPaRange(paRange);
        s.SetField(SysReg.ID_AA64MMFR2_EL1, 31, 28, ttst ? 1UL : 0);
        return s;
    }

    [Fact]
    public void Sixteen16KLevel0StartNeedsDsAndA52BitPaMax()
    {
        // AArch64.S2InvalidSL, 16K: SL0=11 is reserved unless DS=1 and PAMax = 52 (the output size itself may be smaller).
        var s = new Scenario().WithStage2(Granule.K16, 16, startLevel: 0, ps: Scenario.Ps48, ds: true);
        s.MapS2(0x4000_0000, Oa1);
        Expect.Pa(s.Translate(0x4000_0010), Oa1 + 0x10);
        Assert.Equal(0, s.Mmu.Record.Steps[0].Level);
        s.Regs[SysReg.ID_AA64MMFR0_EL1] = Mmfr0WithPaRange(5);
        Expect.Fault(s.Translate(0x4000_0010), FaultType.Translation, 2, 0);
        s.Regs[SysReg.ID_AA64MMFR0_EL1] = Mmfr0WithPaRange(6);
        s.SetBit(SysReg.VTCR_EL2, 32, false);
        Expect.Fault(s.Translate(0x4000_0010), FaultType.Translation, 2, 0);
    }

    [Fact]
    public void IpaSizeAboveOutputSizeIsAllowed()
    {
        // Nothing in AArch64.S2Walk ties the IPA size to PS (QEMU 7.2 faulted here; QEMU 8.0 dropped that check):
        // a 42-bit IPA space with a 40-bit PS translates, and only an output address above 40 bits faults.
        var s = new Scenario().WithStage2(Granule.K64, 22, ps: Scenario.Ps40);
        s.MapS2(0x4000_0000, Oa1);
        Expect.Pa(s.Translate(0x4000_0000), Oa1);
        s.MapS2(0x200_0000_0000, 0x100_0000_0000);
        Expect.Fault(s.Translate(0x200_0000_0000), FaultType.AddressSize, 2, 3);
    }

    // ---------------------------------------------------------------- IPA range and base

    [Theory]
    [MemberData(nameof(Granules), MemberType = typeof(Data))]
    public void IpaAboveT0SzRangeIsStage2TranslationLevel0(Granule g)
    {
        // §12 item 17: stage 1 outputs IPA 2^40 (inside its 48-bit IPS), VTCR.T0SZ=24.
        var s = new Scenario().WithStage2(g, 24, startLevel: g == Granule.K4 ? 1 : null);
        s.WithStage1(g, 16);
        s.MapS1(LowVa, 1UL << 40);
        s.MapS1(LowVa + 0x10_0000, (1UL << 40) - 0x10_0000);
        s.MapS2((1UL << 40) - 0x10_0000, Oa1);
        Expect.Pa(s.Translate(LowVa + 0x10_0000 + 0x40), Oa1 + 0x40);
        Expect.Fault(s.Translate(LowVa + 0x40), FaultType.Translation, 2, 0);
        var o = s.Access(LowVa + 0x40);
        Assert.Equal(2, o.TargetEl);
        Assert.Equal(0x9200_0004UL, o.Esr);
        Assert.Equal(LowVa + 0x40, o.Far);
        Assert.Equal(0x1_0000_0000UL, o.Hpfar);   // (2^40 >> 12) << 4
        Assert.True(o.HasIpa);
        Assert.Equal(1UL << 40 | 0x40, o.Ipa);
    }

    [Fact]
    public void Stage1TableIpaOutsideStage2RangeIsS1ptw()
    {
        // Stage-2 IPA space of 16 MB; the stage-1 root is at IPA 0x0400_0000.
        var s = new Scenario().WithStage2(Granule.K4, 40);
        s.WithStage1(Granule.K4, 16);
        Expect.Fault(s.Translate(LowVa), FaultType.Translation, 2, 0, s1ptw: true);
        var o = s.Access(LowVa);
        Assert.Equal(0x9200_0084UL, o.Esr);
        Assert.Equal(Scenario.LowerPool >> 8, o.Hpfar);
        Assert.False(o.HasIpa); // the data IPA was never produced
    }

    [Theory]
    [MemberData(nameof(Granules), MemberType = typeof(Data))]
    public void VttbrBaseAboveOutputSizeIsStage2AddressSizeLevel0(Granule g)
    {
        var s = new Scenario().WithStage2(g, 20, ps: Scenario.Ps44);
        s.WithStage1(g, 16);
        s.MapS1(LowVa, 0x4000_0000);
        s.MapS2(0x4000_0000, Oa1);
        Expect.Pa(s.Translate(LowVa), Oa1);
        s.Regs[SysReg.VTTBR_EL2] |= 1UL << 45;
        Expect.Fault(s.Translate(LowVa), FaultType.AddressSize, 2, 0, s1ptw: true);
        s.SetBit(SysReg.SCTLR_EL1, 0, false);
        Expect.Fault(s.Translate(0x4000_0000), FaultType.AddressSize, 2, 0);
        Assert.Equal(0x9200_0000UL, s.Access(0x4000_0000).Esr);
    }

    [Theory]
    [MemberData(nameof(Granules), MemberType = typeof(Data))]
    public void Stage2TableAddressAboveOutputSizeFaultsAtItsLevel(Granule g)
    {
        var probe = new Scenario().WithStage2(g, 20, ps: Scenario.Ps44);
        for (int level = probe.Stage2!.StartLevel; level < 3; level++)
        {
            var s = new Scenario().WithStage2(g, 20, ps: Scenario.Ps44);
            s.MapS2(0x4000_0000, Oa1);
            ulong table = s.ReadTable(s.Stage2!, s.Stage2!.DescriptorAddress(0x4000_0000, level));
            s.SetS2(0x4000_0000, level, table | (1UL << 45));
            Expect.Fault(s.Translate(0x4000_0000), FaultType.AddressSize, 2, level);
        }
    }

    // ---------------------------------------------------------------- faults on stage-1 table walks

    public static TheoryData<Granule, Granule> StagePairs()
    {
        var d = new TheoryData<Granule, Granule>();
        foreach (var g1 in AllGranules)
        {
            foreach (var g2 in AllGranules)
            {
                d.Add(g1, g2);
            }
        }
        return d;
    }

    /// <summary>
    /// Unmapping (at stage 2) the page holding each stage-1 table in turn: a stage-2 translation fault with S1PTW=1,
    /// HPFAR = the IPA page of the stage-1 descriptor being read, and the level of the stage-2 lookup that failed
    /// (not the stage-1 level: QEMU 7.2 deviation #2 corrected). The stage-1 leaf is never read.
    /// </summary>
    [Theory]
    [MemberData(nameof(StagePairs))]
    public void Stage2FaultOnEachStage1TableRead(Granule g1, Granule g2)
    {
        for (int s1Level = Start48(g1); s1Level <= 3; s1Level++)
        {
            foreach (int s2Level in new[] { 3, 2 })
            {
                var s = new Scenario().WithStage2(g2, 16);
                s.WithStage1(g1, 16);
                s.MapS1(LowVa, 0x4000_0000, af: false); // the leaf would fault with AF=0 if it were ever read (item 50)
                s.MapS2(0x4000_0000, Oa1);
                var lower = s.Lower!;
                // Descriptor IPAs of the walk, in order.
                var descIpas = new List<ulong>();
                for (int l = Start48(g1); l <= 3; l++)
                {
                    descIpas.Add(lower.DescriptorAddress(LowVa, l));
                }
                ulong target = descIpas[s1Level - Start48(g1)];
                s.SetS2(target, s2Level, 0);
                // The first stage-1 read whose IPA lost its stage-2 mapping is the one that faults.
                ulong span = Scenario.LevelSize(g2, s2Level);
                ulong faulting = descIpas.First(a => (a & ~(span - 1)) == (target & ~(span - 1)));
                Expect.Fault(s.Translate(LowVa), FaultType.Translation, 2, s2Level, s1ptw: true);
                Assert.Equal(faulting, s.Translate(LowVa).Fault.Ipa.Value);

                var w = s.Access(LowVa, AccessType.Write);
                Assert.Equal(2, w.TargetEl);
                Assert.Equal(0x9200_00C4UL | (uint)s2Level, w.Esr); // DABT lower, S1PTW, WnR = the store's direction
                Assert.Equal((faulting >> 12) << 4, w.Hpfar);
                Assert.Equal(LowVa, w.Far);
                var x = s.Access(LowVa, AccessType.Fetch);
                Assert.Equal(0x8200_0084UL | (uint)s2Level, x.Esr); // IABT lower, S1PTW
            }
        }
    }

    [Theory]
    [MemberData(nameof(Granules), MemberType = typeof(Data))]
    public void Stage2PermissionOnStage1TablePage(Granule g)
    {
        // §12 item 45: S2AP=00 on the page of the stage-1 level-2 table.
        var s = new Scenario().WithStage2(g, 16);
        s.WithStage1(g, 16);
        s.MapS1(LowVa, 0x4000_0000);
        s.MapS2(0x4000_0000, Oa1);
        ulong l2 = s.Lower!.DescriptorAddress(LowVa, 2);
        ulong page = l2 & ~((1UL << (int)g) - 1);
        s.MapS2(page, page + Scenario.S1TableIpaToPa, s2ap: 0);
        Expect.Fault(s.Translate(LowVa), FaultType.Permission, 2, 3, s1ptw: true);
        var x = s.Access(LowVa, AccessType.Fetch);
        Assert.Equal(0x8200_008FUL, x.Esr);
        Assert.Equal((l2 >> 12) << 4, x.Hpfar);
        // Read-only is enough for a walk, whatever the access; write-only is not.
        s.MapS2(page, page + Scenario.S1TableIpaToPa, s2ap: 1);
        Expect.Pa(s.Translate(LowVa, AccessType.Write), Oa1);
        s.MapS2(page, page + Scenario.S1TableIpaToPa, s2ap: 2);
        Expect.Fault(s.Translate(LowVa, AccessType.Write), FaultType.Permission, 2, 3, s1ptw: true);
        // Execute-never at stage 2 does not apply to table reads, even for a fetch.
        s.MapS2(page, page + Scenario.S1TableIpaToPa, s2ap: 1, xn: 2);
        Expect.Pa(s.Translate(LowVa, AccessType.Fetch), Oa1);
    }

    [Theory]
    [MemberData(nameof(Granules), MemberType = typeof(Data))]
    public void ProtectedTableWalkFaultsOnDeviceTablePages(Granule g)
    {
        // §12 item 47.
        var s = new Scenario().WithStage2(g, 16);
        s.WithStage1(g, 16);
        s.MapS1(LowVa, 0x4000_0000);
        s.MapS2(0x4000_0000, Oa1, memAttr: 0x1); // the data itself may be Device
        ulong l1 = s.Lower!.DescriptorAddress(LowVa, 1);
        ulong page = l1 & ~((1UL << (int)g) - 1);
        s.MapS2(page, page + Scenario.S1TableIpaToPa, memAttr: 0x1); // Device-nGnRE
        Expect.Pa(s.Translate(LowVa), Oa1);
        s.SetBit(SysReg.HCR_EL2, 2); // PTW
        var r = s.Translate(LowVa);
        Assert.Equal((FaultType.Permission, 2, true), (r.Fault.Type, (int)r.Fault.Stage, r.Fault.S1Ptw));
        Assert.Equal(l1, r.Fault.Ipa.Value);
        // Normal memory at stage 2 is fine.
        s.MapS2(page, page + Scenario.S1TableIpaToPa, memAttr: 0x5); // Normal NC
        Expect.Pa(s.Translate(LowVa), Oa1);
    }

    // ---------------------------------------------------------------- external aborts on walks

    [Theory]
    [MemberData(nameof(Granules), MemberType = typeof(Data))]
    public void ExternalAbortOnStage1WalkGoesToEl1UnlessTea(Granule g)
    {
        // §12 item 68: a stage-1 table outside declared RAM.
        for (int level = Start48(g); level <= 3; level++)
        {
            var s = new Scenario().WithStage1(g, 16);
            s.MapS1(LowVa, Oa1);
            s.Memory.DeclareRam(new PhysicalAddress(Scenario.LowerPool), Scenario.S1PoolSize);
            Expect.Pa(s.Translate(LowVa), Oa1);
            Redirect(s, s.Lower!, LowVa, level, 0x7000_0000, isStage2: false);
            Expect.Fault(s.Translate(LowVa), FaultType.ExternalWalk, 1, level);
            var o = s.Access(LowVa, AccessType.Write, el: 0);
            Assert.Equal(1, o.TargetEl);
            Assert.Equal(0x9200_0054UL | (uint)level, o.Esr); // DABT lower (EL0 -> EL1), WnR, DFSC 0x14+L
            s.SetBit(SysReg.HCR_EL2, 37); // TEA routes it to EL2
            o = s.Access(LowVa, AccessType.Read, el: 1);
            Assert.Equal(2, o.TargetEl);
            Assert.Equal(0x9200_0014UL | (uint)level, o.Esr);
            Assert.False(o.HasHpfar);
        }
    }

    [Theory]
    [MemberData(nameof(Granules), MemberType = typeof(Data))]
    public void ExternalAbortOnStage1TableReachedThroughStage2IsAStage1Fault(Granule g)
    {
        // The stage-1 table's IPA translates fine, but to a PA outside RAM: stage-1 external abort at the stage-1 level.
        for (int level = Start48(g); level <= 3; level++)
        {
            var s = new Scenario().WithStage2(g, 16);
            s.WithStage1(g, 16);
            s.MapS1(LowVa, 0x4000_0000);
            s.MapS2(0x4000_0000, Oa1);
            s.Memory.DeclareRam(new PhysicalAddress(Scenario.S2Pool), 0x1000_0000 - Scenario.S2Pool);
            ulong page = s.Lower!.DescriptorAddress(LowVa, level) & ~((1UL << (int)g) - 1);
            s.MapS2(page, 0x7000_0000);
            var r = s.Translate(LowVa);
            Expect.Fault(r, FaultType.ExternalWalk, 1, level);
            Assert.Equal(1, s.Access(LowVa).TargetEl);
        }
    }

    [Theory]
    [MemberData(nameof(Granules), MemberType = typeof(Data))]
    public void ExternalAbortOnStage2Walk(Granule g)
    {
        // §12 item 69: a stage-2 table outside RAM; S1PTW=1 when the stage-2 walk was for a stage-1 table. The data IPA
        // (2^47) shares no stage-2 table with the stage-1 table pages (IPA 0x0400_0000) below the first level.
        const ulong dataIpa = 1UL << 47;
        var probe = new Scenario().WithStage2(g, 16);
        for (int level = probe.Stage2!.StartLevel; level <= 3; level++)
        {
            var s = new Scenario().WithStage2(g, 16);
            s.WithStage1(g, 16);
            s.MapS1(LowVa, dataIpa);
            s.MapS2(dataIpa, Oa1);
            s.Memory.DeclareRam(new PhysicalAddress(Scenario.S2Pool), 0x1000_0000 - Scenario.S2Pool);
            Expect.Pa(s.Translate(LowVa), Oa1);
            Redirect(s, s.Stage2!, dataIpa, level, 0x7000_0000, isStage2: true);
            if (level == s.Stage2!.StartLevel)
            {
                // VTTBR moved: the first stage-1 table read already faults, with S1PTW=1.
                Expect.Fault(s.Translate(LowVa), FaultType.ExternalWalk, 2, level, s1ptw: true);
                continue;
            }
            Expect.Fault(s.Translate(LowVa), FaultType.ExternalWalk, 2, level);
            var o = s.Access(LowVa);
            Assert.Equal(2, o.TargetEl);
            Assert.Equal(0x9200_0014UL | (uint)level, o.Esr);
            Assert.Equal((dataIpa >> 12) << 4, o.Hpfar);
            // The same for the stage-2 walk of a stage-1 table page.
            var t = new Scenario().WithStage2(g, 16);
            t.WithStage1(g, 16);
            t.MapS1(LowVa, dataIpa);
            t.Memory.DeclareRam(new PhysicalAddress(Scenario.S2Pool), 0x1000_0000 - Scenario.S2Pool);
            Redirect(t, t.Stage2!, Scenario.LowerPool, level, 0x7000_0000, isStage2: true);
            Expect.Fault(t.Translate(LowVa), FaultType.ExternalWalk, 2, level, s1ptw: true);
            Assert.Equal(Scenario.LowerPool >> 8, t.Access(LowVa).Hpfar);
        }
    }

    /// <summary>Makes the table read at <paramref name="level"/> for <paramref name="ia"/> come from <paramref name="pa"/>.</summary>
    private static void Redirect(Scenario s, PageTableBuilder b, ulong ia, int level, ulong pa, bool isStage2)
    {
        if (level == b.StartLevel)
        {
            s.Regs[isStage2 ? SysReg.VTTBR_EL2 : (b == s.El2 ? SysReg.TTBR0_EL2 : SysReg.TTBR0_EL1)] = pa;
            return;
        }
        b.Set(ia, level - 1, Descriptors.Table(pa, b.Granule, b.Ds));
    }

    // ---------------------------------------------------------------- HCR_EL2.DC and TGE

    [Fact]
    public void DefaultCacheableBypassesStage1AndForcesStage2On()
    {
        // §12 item 48: DC=1 with SCTLR_EL1.M=1 and VM=0.
        var s = new Scenario().WithStage2(Granule.K4, 16);
        s.WithStage1(Granule.K4, 16);
        s.MapS1(LowVa, 0x4000_0000);
        s.MapS2(0x4000_0000, Oa1);
        s.MapS2(LowVa, Oa2, memAttr: 0xF);
        Expect.Pa(s.Translate(LowVa + 8), Oa1 + 8);
        s.SetBit(SysReg.HCR_EL2, 0, false).SetBit(SysReg.HCR_EL2, 12);
        var r = s.Translate(LowVa + 8);
        Expect.Pa(r, Oa2 + 8);
        Assert.All(s.Mmu.Record.Steps.ToArray(), st => Assert.Equal(2, st.Stage));
        // Stage-1 attributes become Normal WB non-shareable; combined with stage-2 Normal WB inner-shareable.
        var par = s.At(AtOp.S12E1R, LowVa + 8).Par;
        Assert.Equal(0xFF00_0000_0000_0B80UL | Oa2, par);
        // DC=1 with VM=1 is the same; DC=0 brings stage 1 back.
        s.SetBit(SysReg.HCR_EL2, 0);
        Expect.Pa(s.Translate(LowVa + 8), Oa2 + 8);
        s.SetBit(SysReg.HCR_EL2, 12, false);
        Expect.Pa(s.Translate(LowVa + 8), Oa1 + 8);
    }

    [Fact]
    public void TgeTakesEl0OutOfStage1AndRoutesItsFaultsToEl2()
    {
        // §12 item 49: TGE=1 (E2H=0).
        var s = new Scenario().WithStage1(Granule.K4, 16);
        s.MapS1(LowVa, Oa1, ap: 1);
        Expect.Pa(s.Translate(LowVa, el: 0), Oa1);
        s.SetBit(SysReg.HCR_EL2, 27);
        Expect.Pa(s.Translate(0x1234_5678, el: 0), 0x1234_5678);
        var o = s.Access(1UL << 53, el: 0);
        Assert.Equal((FaultType.AddressSize, 1, 0), (o.Fault.Type, (int)o.Fault.Stage, (int)o.Fault.Level));
        Assert.Equal(2, o.TargetEl);
        Assert.Equal(0x9200_0000UL, o.Esr); // DABT from a lower EL
    }
}
