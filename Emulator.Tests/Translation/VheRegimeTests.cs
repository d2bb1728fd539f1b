using MmuSim.Addressing;
using MmuSim.Caching;
using MmuSim.Core;
using MmuSim.Faults;
using MmuSim.Registers;
using MmuSim.Tests.Support;
using MmuSim.Translation;
using static MmuSim.Tests.Support.Data;

namespace MmuSim.Tests.Translation;

/// <summary>
/// FEAT_VHE (arm-notes §2.1, §8.2): with HCR_EL2.E2H=1 EL2 uses the EL2&amp;0 regime (TTBR0/1_EL2, TCR_EL2 in the
/// TCR_EL1 layout, SCTLR_EL2, MAIR_EL2, ASIDs), and EL0 too with TGE=1; its faults go to EL2; AT S1E1* in the host
/// use EL2's permissions; VAE2 takes an ASID and E1 TLBIs act on EL2&amp;0 in the host.
/// </summary>
public class VheRegimeTests
{
    private const ulong E2h = 1UL << 34, Tge = 1UL << 27;

    /// <summary>
    /// Two ranges of EL1&amp;0 tables moved to the EL2&amp;0 registers: TCR_EL2 takes TCR_EL1's value (its layout),
    /// TTBR0/1_EL2 the roots; the EL1 registers are cleared, so only EL2&amp;0 can reach the mappings.
    /// </summary>
    private static Scenario Host(bool tge, int ap = 0, Granule g = Granule.K4)
    {
        var s = new Scenario().WithStage1(g, 16).WithUpper(g, 16);
        s.MapS1(LowVa, Oa1, ap: ap);
        s.MapS1(HighVa, Oa2, ap: ap);
        var r = s.Regs;
        r[SysReg.TCR_EL2] = r[SysReg.TCR_EL1];
        r[SysReg.TTBR0_EL2] = r[SysReg.TTBR0_EL1];
        r[SysReg.TTBR1_EL2] = r[SysReg.TTBR1_EL1];
        r[SysReg.MAIR_EL2] = r[SysReg.MAIR_EL1];
        r[SysReg.SCTLR_EL2] = 1; // the SCTLR_EL1 layout: M
        r[SysReg.TTBR0_EL1] = 0;
        r[SysReg.TTBR1_EL1] = 0;
        r[SysReg.TCR_EL1] = 0;
        r[SysReg.SCTLR_EL1] = 0;
        r[SysReg.HCR_EL2] = (1UL << 31) | E2h | (tge ? Tge : 0);
        return s;
    }

    [Fact]
    public void El20ReadsTheEl2RegistersInTheTcrEl1Layout()
    {
        var r = TranslationRegime.El20;
        Assert.Equal((2, true, true, false), (r.ControllingEl(), r.HasTwoVaRanges(), r.HasAsid(), r.HasStage2()));
        Assert.Equal(TcrLayout.TwoRanges, r.TcrLayout());
        Assert.Equal((SysReg.TCR_EL2, SysReg.SCTLR_EL2, SysReg.MAIR_EL2), (r.Tcr(), r.Sctlr(), r.Mair()));
        Assert.Equal((SysReg.TTBR0_EL2, SysReg.TTBR1_EL2), (r.Ttbr(false), r.Ttbr(true)));
        Assert.Equal(2, r.Stage1FaultTargetEl(0, new Hcr(E2h | Tge)));
        Assert.True(SystemRegisters.TryParseName("ttbr1_el2", out var reg) && reg == SysReg.TTBR1_EL2);
    }

    public static TheoryData<Granule, bool> GranulesAndTge()
    {
        var d = new TheoryData<Granule, bool>();
        foreach (var g in AllGranules)
        {
            d.Add(g, false);
            d.Add(g, true);
        }
        return d;
    }

    [Theory]
    [MemberData(nameof(GranulesAndTge))]
    public void El2WalksBothRangesFromTheEl2Registers(Granule g, bool tge)
    {
        var s = Host(tge, g: g);
        Expect.Pa(s.Translate(LowVa + 0x18, el: 2), Oa1 + 0x18);
        Expect.Pa(s.Translate(HighVa + 0x20, el: 2), Oa2 + 0x20);
        // E2H=0: the one-range EL2 regime reads TCR_EL2 in its own layout and has no TTBR1: the upper VA is out of range.
        s.Regs[SysReg.HCR_EL2] = 1UL << 31;
        Expect.Fault(s.Translate(HighVa, el: 2), FaultType.Translation, 1, 0);
    }

    [Theory]
    [MemberData(nameof(Granules), MemberType = typeof(Data))]
    public void El0InTheHostUsesEl2And0AndFaultsToEl2(Granule g)
    {
        var s = Host(tge: true, ap: 0, g: g); // EL0 has no access
        var o = s.Access(LowVa, AccessType.Read, el: 0);
        Assert.Equal((FaultType.Permission, 2), (o.Fault.Type, (int)o.TargetEl));
        Assert.Equal(Syndrome.EcDataAbortLowerEl, (int)(o.Esr >> 26));
        var ok = Host(tge: true, ap: 1, g: g).Access(LowVa + 8, AccessType.Write, el: 0);
        Assert.Equal(Oa1 + 8, ok.Pa);
        // TGE=0: EL0 uses EL1&0, whose registers were cleared (stage 1 off: the flat map).
        var flat = Host(tge: false, ap: 1, g: g).Access(0x1000, AccessType.Fetch, el: 0);
        Assert.Equal(0x1000UL, flat.Pa);
    }

    [Fact]
    public void AtS1E1InTheHostChecksEl2PermissionsAndS1E0EL0s()
    {
        var s = Host(tge: true, ap: 0);
        var e1 = s.At(AtOp.S1E1R, LowVa);
        Assert.Equal(0UL, e1.Par & 1);
        Assert.Equal(1, e1.El);
        Assert.Equal(Oa1, e1.Par & 0x000F_FFFF_FFFF_F000);
        var e0 = s.At(AtOp.S1E0R, LowVa);
        Assert.Equal(1UL, e0.Par & 1);
        Assert.Equal(0b001111UL, (e0.Par >> 1) & 0x3F); // permission fault, level 3
        Assert.Equal(0UL, s.At(AtOp.S1E2W, HighVa).Par & 1);
    }

    [Fact]
    public void VaE2TakesTheAsidAndE1TlbisActOnEl20InTheHost()
    {
        var host = new Hcr((1UL << 31) | E2h | Tge);
        Assert.Equal(TranslationRegime.El20, TranslationRegimes.OfE1Maintenance(2, host));
        Assert.Equal(TranslationRegime.El10, TranslationRegimes.OfE1Maintenance(1, host));
        Assert.Equal(TranslationRegime.El10, TranslationRegimes.OfE1Maintenance(2, new Hcr((1UL << 31) | E2h)));
        Assert.Equal(TranslationRegime.El20, TranslationRegimes.OfE2Maintenance(new Hcr(E2h)));
        Assert.Equal(TranslationRegime.El2, TranslationRegimes.OfE2Maintenance(new Hcr(0)));
        var s = Host(tge: true, ap: 1);
        MapNg(s, LowVa, Oa1);
        s.Regs[SysReg.TTBR0_EL2] |= 5UL << 48; // ASID 5
        Assert.Equal(Oa1, s.Access(LowVa, el: 2).Pa);
        MapNg(s, LowVa, Oa2);
        ulong xt = LowVa >> 12;
        s.Core.CurrentEl = 2;
        s.Core.Tlbi(TlbiOp.VAE2, xt | (5UL << 48));
        Assert.Equal(Oa2, s.Access(LowVa, el: 2).Pa);
    }

    /// <summary>A non-global (nG=1) EL0-accessible page.</summary>
    private static void MapNg(Scenario s, ulong va, ulong oa)
    {
        var pa = new PhysicalAddress(Scenario.Phys(s.Lower!, s.MapS1(va, oa, ap: 1)));
        s.Memory.Write64(pa, s.Memory.Peek64(pa) | (1UL << 11));
    }
}
