namespace MmuSim.Registers;

/// <summary>
/// A translation regime (Arm ARM D8.1 "Translation regimes"; the pseudocode's Regime): which registers control
/// stage 1, how many VA ranges there are, whether ASIDs tag its translations and whether stage 2 follows. Non-secure
/// state only. Decided from the registers by <see cref="TranslationRegimes.Of"/>, the one place that reads
/// HCR_EL2.{E2H, TGE} for it.
/// </summary>
/// <remarks>
/// The values index per-regime tables (snapshots, TLB context tags, gates), so they are small and dense.
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

    /// <summary>
    /// EL2&amp;0 (FEAT_VHE, HCR_EL2.E2H=1): SCTLR_EL2, TCR_EL2 in the TCR_EL1 layout, TTBR0/1_EL2, MAIR_EL2; two VA
    /// ranges, ASIDs, no stage 2. EL2 uses it, and EL0 too with HCR_EL2.TGE=1.
    /// </summary>
    El20 = 2,
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
    public const int Count = 3;

    /// <summary>
    /// The regime of a stage-1 translation at <paramref name="el"/> (pseudocode S1TranslationRegime(el) with
    /// ELIsInHost()): EL2 uses EL2&amp;0 with HCR_EL2.E2H=1, else the EL2 regime; EL0 uses EL2&amp;0 with
    /// HCR_EL2.{E2H,TGE}={1,1}; otherwise EL0 and EL1 use EL1&amp;0.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public static TranslationRegime Of(int el, Hcr hcr)
    {
        if (el == 2)
        {
            return hcr.E2H ? TranslationRegime.El20 : TranslationRegime.El2;
        }
        return el == 0 && hcr.E2H && hcr.Tge ? TranslationRegime.El20 : TranslationRegime.El10;
    }

    /// <summary>Whether HCR_EL2.{E2H,TGE} = {1,1} (ELIsInHost(EL0)): EL0 runs in the EL2&amp;0 host regime.</summary>
    public static bool InHost(Hcr hcr) => hcr.E2H && hcr.Tge;

    /// <summary>
    /// The regime the EL1 TLBI operations (VMALLE1, VAE1, ASIDE1, ...) act on when a trace issues them at
    /// <paramref name="el"/>: EL2&amp;0 at EL2 with HCR_EL2.{E2H,TGE}={1,1}, else EL1&amp;0. TLBI is UNDEFINED at EL0,
    /// so a trace's TLBI under `el 0` is the EL2 harness's (as `at` is) and also acts on EL2&amp;0 in the host.
    /// </summary>
    public static TranslationRegime OfE1Maintenance(int el, Hcr hcr) =>
        el != 1 && InHost(hcr) ? TranslationRegime.El20 : TranslationRegime.El10;

    /// <summary>The regime the EL2 TLBI operations by VA (VAE2, VALE2) act on: EL2&amp;0 with HCR_EL2.E2H=1, else EL2.</summary>
    public static TranslationRegime OfE2Maintenance(Hcr hcr) => hcr.E2H ? TranslationRegime.El20 : TranslationRegime.El2;

    /// <summary>The EL whose registers control stage 1 of the regime (the ELx of SCTLR_ELx, TCR_ELx, MAIR_ELx).</summary>
    public static int ControllingEl(this TranslationRegime regime) => regime == TranslationRegime.El10 ? 1 : 2;

    /// <summary>Whether VA[55] selects between two VA ranges (TTBR0 and TTBR1); otherwise one range from TTBR0 (arm-notes §2.2).</summary>
    public static bool HasTwoVaRanges(this TranslationRegime regime) => regime != TranslationRegime.El2;

    /// <summary>The layout of the regime's TCR.</summary>
    public static TcrLayout TcrLayout(this TranslationRegime regime) =>
        regime == TranslationRegime.El2 ? Registers.TcrLayout.OneRange : Registers.TcrLayout.TwoRanges;

    /// <summary>Whether non-global translations are tagged with an ASID (D8.14 "Translation Lookaside Buffers").</summary>
    public static bool HasAsid(this TranslationRegime regime) => regime != TranslationRegime.El2;

    /// <summary>Whether the regime may have a second stage (and so a VMID tag): EL1&amp;0 only (D8.1: stage 2 translates the IPAs of the EL1&amp;0 regime).</summary>
    public static bool HasStage2(this TranslationRegime regime) => regime == TranslationRegime.El10;

    /// <summary>The TCR of the regime's stage 1 (TCR_EL2 in the TCR_EL1 layout for EL2&amp;0).</summary>
    public static SysReg Tcr(this TranslationRegime regime) => regime == TranslationRegime.El10 ? SysReg.TCR_EL1 : SysReg.TCR_EL2;

    /// <summary>The SCTLR of the regime's stage 1.</summary>
    public static SysReg Sctlr(this TranslationRegime regime) => regime == TranslationRegime.El10 ? SysReg.SCTLR_EL1 : SysReg.SCTLR_EL2;

    /// <summary>The MAIR of the regime's stage 1.</summary>
    public static SysReg Mair(this TranslationRegime regime) => regime == TranslationRegime.El10 ? SysReg.MAIR_EL1 : SysReg.MAIR_EL2;

    /// <summary>The TTBR of a VA range: TTBR1 for the upper range of a two-range regime, else TTBR0.</summary>
    public static SysReg Ttbr(this TranslationRegime regime, bool upperRange) => regime switch
    {
        TranslationRegime.El2 => SysReg.TTBR0_EL2,
        TranslationRegime.El20 => upperRange ? SysReg.TTBR1_EL2 : SysReg.TTBR0_EL2,
        _ => upperRange ? SysReg.TTBR1_EL1 : SysReg.TTBR0_EL1,
    };

    /// <summary>
    /// Whether stage 1 is enabled (AArch64.S1Enabled): SCTLR_ELx.M of the controlling EL; for EL1&amp;0 also not with
    /// HCR_EL2.DC=1 (stage 1 behaves as off) or HCR_EL2.TGE=1 (SCTLR_EL1.M is treated as 0).
    /// </summary>
    public static bool Stage1Enabled(this TranslationRegime regime, SystemRegisters regs)
    {
        if (regime != TranslationRegime.El10)
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
    /// to EL2 (the EL2 regimes take theirs to EL2). Stage-2 faults and (HCR_EL2.TEA) external aborts go to EL2
    /// whatever the regime (Faults.FaultRouting).
    /// </summary>
    public static byte Stage1FaultTargetEl(this TranslationRegime regime, int el, Hcr hcr) =>
        regime != TranslationRegime.El10 || (el == 0 && hcr.Tge) ? (byte)2 : (byte)1;

    /// <summary>The regime's name as the Arm ARM writes it, for reports.</summary>
    public static string Name(this TranslationRegime regime) => regime switch
    {
        TranslationRegime.El2 => "EL2 (E2H=0)",
        TranslationRegime.El20 => "EL2&0",
        _ => "EL1&0",
    };
}
