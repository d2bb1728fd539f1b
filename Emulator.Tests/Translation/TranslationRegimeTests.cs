using MmuSim.Faults;
using MmuSim.Registers;
using MmuSim.Translation;

namespace MmuSim.Tests.Translation;

/// <summary>
/// The regime decision for every EL × HCR_EL2.{E2H, TGE} (VHE not modelled: E2H=1 decides as E2H=0), each regime's
/// answers, and fault routing on top of them (arm-notes §2.1, §4.4).
/// </summary>
public class TranslationRegimeTests
{
    private const ulong Tge = 1UL << 27;
    private const ulong E2h = 1UL << 34;

    [Theory]
    [InlineData(0, false, false, TranslationRegime.El10)]
    [InlineData(0, false, true, TranslationRegime.El10)]
    [InlineData(0, true, false, TranslationRegime.El10)]
    [InlineData(0, true, true, TranslationRegime.El20)] // {E2H,TGE}={1,1}: EL0 runs in the EL2&0 host
    [InlineData(1, false, false, TranslationRegime.El10)]
    [InlineData(1, false, true, TranslationRegime.El10)]
    [InlineData(1, true, false, TranslationRegime.El10)]
    [InlineData(1, true, true, TranslationRegime.El10)]
    [InlineData(2, false, false, TranslationRegime.El2)]
    [InlineData(2, false, true, TranslationRegime.El2)]
    [InlineData(2, true, false, TranslationRegime.El20)] // E2H=1: EL2&0 whatever TGE
    [InlineData(2, true, true, TranslationRegime.El20)]
    public void RegimeOfEachElAndHcr(int el, bool e2h, bool tge, TranslationRegime expected)
    {
        var hcr = new Hcr((1UL << 31) | (e2h ? E2h : 0) | (tge ? Tge : 0));
        Assert.Equal(expected, TranslationRegimes.Of(el, hcr));
    }

    [Fact]
    public void El10Answers()
    {
        var r = TranslationRegime.El10;
        Assert.Equal(1, r.ControllingEl());
        Assert.True(r.HasTwoVaRanges());
        Assert.Equal(TcrLayout.TwoRanges, r.TcrLayout());
        Assert.True(r.HasAsid());
        Assert.True(r.HasStage2());
        Assert.Equal(SysReg.TCR_EL1, r.Tcr());
        Assert.Equal(SysReg.SCTLR_EL1, r.Sctlr());
        Assert.Equal(SysReg.MAIR_EL1, r.Mair());
        Assert.Equal(SysReg.TTBR0_EL1, r.Ttbr(upperRange: false));
        Assert.Equal(SysReg.TTBR1_EL1, r.Ttbr(upperRange: true));
        Assert.Equal("EL1&0", r.Name());
    }

    [Fact]
    public void El2Answers()
    {
        var r = TranslationRegime.El2;
        Assert.Equal(2, r.ControllingEl());
        Assert.False(r.HasTwoVaRanges());
        Assert.Equal(TcrLayout.OneRange, r.TcrLayout());
        Assert.False(r.HasAsid());
        Assert.False(r.HasStage2());
        Assert.Equal(SysReg.TCR_EL2, r.Tcr());
        Assert.Equal(SysReg.SCTLR_EL2, r.Sctlr());
        Assert.Equal(SysReg.MAIR_EL2, r.Mair());
        Assert.Equal(SysReg.TTBR0_EL2, r.Ttbr(upperRange: false));
        Assert.Equal(SysReg.TTBR0_EL2, r.Ttbr(upperRange: true)); // one range: VA[55] selects nothing
        Assert.Equal("EL2 (E2H=0)", r.Name());
    }

    [Fact]
    public void TheValuesIndexTablesOfCountEntries()
    {
        Assert.Equal(TranslationRegimes.Count, Enum.GetValues<TranslationRegime>().Length);
        foreach (var r in Enum.GetValues<TranslationRegime>())
        {
            Assert.InRange((int)r, 0, TranslationRegimes.Count - 1);
        }
    }

    [Fact]
    public void ContextTagsCarryTheRegimeApartFromTheOtherFields()
    {
        foreach (var r in Enum.GetValues<TranslationRegime>())
        {
            ulong ctx = ContextTag.Of(r) | (0x1234UL << ContextTag.VmidShift) | 0xABCD
                | ContextTag.Global | ContextTag.Stage1Off | ContextTag.Stage2On;
            Assert.Equal(r, ContextTag.Regime(ctx));
            Assert.Equal(0x1234, ContextTag.Vmid(ctx));
            Assert.Equal(0xABCD, ContextTag.Asid(ctx));
            Assert.True(ContextTag.IsGlobal(ctx));
            Assert.Equal(r, ContextTag.Regime(ctx & ~(ContextTag.Global | ContextTag.Stage1Off | ContextTag.Stage2On)));
        }
        Assert.Equal(ContextTag.El2, ContextTag.Of(TranslationRegime.El2));
        Assert.Equal(0UL, ContextTag.Of(TranslationRegime.El10));
    }

    [Theory]
    // SCTLR_EL1.M, SCTLR_EL2.M, HCR_EL2.{VM, DC, TGE} → stage 1 on (EL1&0, EL2), stage 2 on (EL1&0, EL2)
    [InlineData(false, false, false, false, false, false, false, false, false)]
    [InlineData(true, false, false, false, false, true, false, false, false)]
    [InlineData(false, true, false, false, false, false, true, false, false)]
    [InlineData(true, true, true, false, false, true, true, true, false)]
    [InlineData(true, true, false, true, false, false, true, true, false)] // DC: EL1&0 stage 1 off, stage 2 on
    [InlineData(true, true, false, false, true, false, true, false, false)] // TGE: SCTLR_EL1.M treated as 0
    [InlineData(true, true, true, false, true, false, true, true, false)]
    public void EnablesFollowSctlrAndHcr(bool m1, bool m2, bool vm, bool dc, bool tge,
        bool s1El10, bool s1El2, bool s2El10, bool s2El2)
    {
        var regs = new SystemRegisters();
        regs[SysReg.SCTLR_EL1] = m1 ? 1UL : 0;
        regs[SysReg.SCTLR_EL2] = Sctlr.El2Res1 | (m2 ? 1UL : 0);
        regs[SysReg.HCR_EL2] = (1UL << 31) | (vm ? 1UL : 0) | (dc ? 1UL << 12 : 0) | (tge ? Tge : 0);
        Assert.Equal(s1El10, TranslationRegime.El10.Stage1Enabled(regs));
        Assert.Equal(s1El2, TranslationRegime.El2.Stage1Enabled(regs));
        Assert.Equal(s2El10, TranslationRegime.El10.Stage2Enabled(regs));
        Assert.Equal(s2El2, TranslationRegime.El2.Stage2Enabled(regs));
    }

    [Theory]
    // regime, EL, TGE → where a stage-1 fault is taken
    [InlineData(TranslationRegime.El10, 0, false, 1)]
    [InlineData(TranslationRegime.El10, 1, false, 1)]
    [InlineData(TranslationRegime.El10, 0, true, 2)]
    [InlineData(TranslationRegime.El10, 1, true, 1)]
    [InlineData(TranslationRegime.El2, 2, false, 2)]
    [InlineData(TranslationRegime.El2, 2, true, 2)]
    public void Stage1FaultsGoToTheControllingElUnlessTgeRoutesEl0(TranslationRegime regime, int el, bool tge, int target)
    {
        var hcr = new Hcr(tge ? Tge : 0);
        Assert.Equal(target, regime.Stage1FaultTargetEl(el, hcr));
        Assert.Equal(target, FaultRouting.TargetEl(FaultInfo.Stage1(FaultType.Permission, 3), regime, el, hcr));
    }

    [Theory]
    [InlineData(0, false)]
    [InlineData(1, false)]
    [InlineData(1, true)]
    public void Stage2FaultsAndRoutedExternalAbortsGoToEl2(int el, bool tea)
    {
        var hcr = new Hcr(tea ? 1UL << 37 : 0);
        var regime = TranslationRegimes.Of(el, hcr);
        var s2 = FaultInfo.Stage2(FaultType.Translation, 1, new Addressing.IntermediatePhysicalAddress(0x1000), true);
        Assert.Equal(2, FaultRouting.TargetEl(in s2, regime, el, hcr));
        var sea = FaultInfo.Stage1(FaultType.ExternalWalk, 1);
        Assert.Equal(tea ? 2 : 1, FaultRouting.TargetEl(in sea, regime, el, hcr));
    }
}
