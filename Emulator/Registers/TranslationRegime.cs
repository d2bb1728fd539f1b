namespace MmuSim.Registers;

/// <summary>
/// A translation regime (Arm ARM D8.1 "Translation regimes"; the pseudocode's Regime): which registers control
/// stage 1, how many VA ranges there are, whether ASIDs tag its translations and whether stage 2 follows. Non-secure
/// state only. Decided from the registers by <see cref="TranslationRegimes.Of"/>, the one place that reads
/// HCR_EL2.{E2H, TGE} for it.
/// </summary>
/// <remarks>
/// The values index per-regime tables (snapshots, TLB context tags, gates), so they are small and dense. FEAT_VHE's
/// EL2&amp;0 regime (HCR_EL2.E2H=1) will be a third value, chosen in <see cref="TranslationRegimes.Of"/>.
/// </remarks>
public enum TranslationRegime : byte
{
    /// <summary>
    /// EL1&amp;0: stage 1 controlled by SCTLR_EL1, TCR_EL1, TTBR0/1_EL1 and MAIR_EL1 (two VA ranges, ASIDs); stage 2
    /// from VTCR_EL2/VTTBR_EL2 when HCR_EL2.VM or DC enables it (VMID-tagged).
    /// </summary>
    El10 = 0,

    /// <summary>EL2 with HCR_EL2.E2H=0: SCTLR_EL2, TCR_EL2 (its own layout), TTBR0_EL2, MAIR_EL2; one VA range, no ASID, no stage 2.</summary>
    El2 = 1,
}

/// <summary>The layout of the TCR a regime's stage 1 reads.</summary>
public enum TcrLayout : byte
{
    /// <summary>TCR_EL1's layout: two ranges (T0SZ/T1SZ, TG0/TG1, EPDx, TBIx, ...), A1 and AS for the ASID.</summary>
    TwoRanges,

    /// <summary>TCR_EL2's layout with E2H=0: one range (T0SZ, TG0, PS, TBI, HPD).</summary>
    OneRange,
}

/// <summary>
/// What each <see cref="TranslationRegime"/> means, as the walker, the TLB tags, the checkers and the formatters ask
/// it. Pure functions of the regime (and, for the decisions, of register values).
/// </summary>
public static class TranslationRegimes
{
    /// <summary>The number of regimes (the size of a table indexed by one).</summary>
    public const int Count = 2;

    /// <summary>
    /// The regime of a stage-1 translation at <paramref name="el"/> (pseudocode S1TranslationRegime(el) with
    /// ELIsInHost()): EL2 is the EL2 regime; EL0 and EL1 use EL1&amp;0. With FEAT_VHE, E2H=1 would make EL2 (and EL0
    /// with TGE=1) use EL2&amp;0; VHE is not modelled, so E2H=1 is treated as 0 here and only here.
    /// </summary>
    public static TranslationRegime Of(int el, Hcr hcr)
    {
        _ = hcr; // E2H and TGE choose EL2&0 once FEAT_VHE is modelled
        return el == 2 ? TranslationRegime.El2 : TranslationRegime.El10;
    }

    /// <summary>The EL whose registers control stage 1 of the regime (the ELx of SCTLR_ELx, TCR_ELx, MAIR_ELx).</summary>
    public static int ControllingEl(this TranslationRegime regime) => regime == TranslationRegime.El2 ? 2 : 1;

    /// <summary>Whether VA[55] selects between two VA ranges (TTBR0 and TTBR1); otherwise one range from TTBR0 (arm-notes §2.2).</summary>
    public static bool HasTwoVaRanges(this TranslationRegime regime) => regime == TranslationRegime.El10;

    /// <summary>The layout of the regime's TCR.</summary>
    public static TcrLayout TcrLayout(this TranslationRegime regime) =>
        regime == TranslationRegime.El2 ? Registers.TcrLayout.OneRange : Registers.TcrLayout.TwoRanges;

    /// <summary>Whether non-global translations are tagged with an ASID (D8.14 "Translation Lookaside Buffers").</summary>
    public static bool HasAsid(this TranslationRegime regime) => regime == TranslationRegime.El10;

    /// <summary>Whether the regime may have a second stage (and so a VMID tag): EL1&amp;0 only (D8.1: stage 2 translates the IPAs of the EL1&amp;0 regime).</summary>
    public static bool HasStage2(this TranslationRegime regime) => regime == TranslationRegime.El10;

    /// <summary>The TCR of the regime's stage 1.</summary>
    public static SysReg Tcr(this TranslationRegime regime) => regime == TranslationRegime.El2 ? SysReg.TCR_EL2 : SysReg.TCR_EL1;

    /// <summary>The SCTLR of the regime's stage 1.</summary>
    public static SysReg Sctlr(this TranslationRegime regime) => regime == TranslationRegime.El2 ? SysReg.SCTLR_EL2 : SysReg.SCTLR_EL1;

    /// <summary>The MAIR of the regime's stage 1.</summary>
    public static SysReg Mair(this TranslationRegime regime) => regime == TranslationRegime.El2 ? SysReg.MAIR_EL2 : SysReg.MAIR_EL1;

    /// <summary>The TTBR of a VA range: TTBR1 for the upper range of a two-range regime, else TTBR0.</summary>
    public static SysReg Ttbr(this TranslationRegime regime, bool upperRange) => regime switch
    {
        TranslationRegime.El2 => SysReg.TTBR0_EL2,
        _ => upperRange ? SysReg.TTBR1_EL1 : SysReg.TTBR0_EL1,
    };

    /// <summary>
    /// Whether stage 1 is enabled (AArch64.S1Enabled): SCTLR_ELx.M of the controlling EL; for EL1&amp;0 also not with
    /// HCR_EL2.DC=1 (stage 1 behaves as off) or HCR_EL2.TGE=1 (SCTLR_EL1.M is treated as 0).
    /// </summary>
    public static bool Stage1Enabled(this TranslationRegime regime, SystemRegisters regs)
    {
        if (regime == TranslationRegime.El2)
        {
            return regs.SctlrEl2.M;
        }
        var hcr = regs.Hcr;
        return regs.SctlrEl1.M && !hcr.Dc && !hcr.Tge;
    }

    /// <summary>
    /// Whether stage 2 is enabled (AArch64.S2Enabled, EL2 implemented and Non-secure): only in a regime that has one,
    /// with HCR_EL2.VM=1 or DC=1 (which makes VM act as 1).
    /// </summary>
    public static bool Stage2Enabled(this TranslationRegime regime, SystemRegisters regs)
    {
        var hcr = regs.Hcr;
        return regime.HasStage2() && (hcr.Vm || hcr.Dc);
    }

    /// <summary>
    /// Where a stage-1 fault of this regime at <paramref name="el"/> is taken (arm-notes §4.4; pseudocode
    /// AArch64.Abort's route_to_el2): the controlling EL, except that HCR_EL2.TGE=1 routes EL0's EL1&amp;0 faults
    /// to EL2. Stage-2 faults and (HCR_EL2.TEA) external aborts go to EL2 whatever the regime (Faults.FaultRouting).
    /// </summary>
    public static byte Stage1FaultTargetEl(this TranslationRegime regime, int el, Hcr hcr) =>
        regime == TranslationRegime.El2 || (el == 0 && hcr.Tge) ? (byte)2 : (byte)1;

    /// <summary>The regime's name as the Arm ARM writes it, for reports.</summary>
    public static string Name(this TranslationRegime regime) => regime == TranslationRegime.El2 ? "EL2 (E2H=0)" : "EL1&0";
}
