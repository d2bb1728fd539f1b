using MmuSim.Addressing;
using MmuSim.Bits;
using MmuSim.Registers;

namespace MmuSim.Translation;

/// <summary>
/// Everything one stage's walk needs, decoded once from the registers (QEMU's ARMVAParameters plus the
/// derived start level, output size and table base). Built by <see cref="WalkParamsBuilder"/>; the
/// walker never looks at a live register.
/// </summary>
public struct WalkParams
{
    /// <summary>1 or 2.</summary>
    public byte Stage;
    public Granule Granule;
    /// <summary>Input-address size in bits: 64 − TxSZ.</summary>
    public int InputSize;
    public int StartLevel;
    /// <summary>Effective output-address size: min((I)PS, PAMax), capped at 48 for 4K/16K without DS.</summary>
    public int OaSize;
    /// <summary>First-level table address (an IPA for EL1&amp;0 stage 1 when stage 2 is on), aligned to the table size.</summary>
    public ulong TableBase;
    /// <summary>TTBR/VTTBR.BADDR has bits at or above the output size: address size fault, level 0.</summary>
    public bool BaseAddressSizeFault;
    /// <summary>TxSZ out of range, or (stage 2) SL0 invalid or inconsistent with T0SZ: translation fault, level 0.</summary>
    public bool ConfigFault;
    /// <summary>FEAT_LPA2 in effect (TCR.DS / VTCR.DS with an LPA2-capable granule).</summary>
    public bool Ds;
    /// <summary>FEAT_LPA implemented: 64K descriptors carry OA[51:48] in bits [15:12]; 64K level-1 blocks exist.</summary>
    public bool Lpa;
    /// <summary>Hardware access-flag update in effect.</summary>
    public bool Ha;
    /// <summary>Hardware dirty-state update in effect (implies <see cref="Ha"/>).</summary>
    public bool Hd;
    /// <summary>Hierarchical permissions disabled (stage 1).</summary>
    public bool Hpd;
    /// <summary>Stage 1 of a two-range regime (UXN/PXN, AP[1] meaningful).</summary>
    public bool TwoRanges;
    /// <summary>Walks disabled for this range (EPDx).</summary>
    public bool Epd;
    /// <summary>EL0 accesses fault (E0PDx).</summary>
    public bool E0Pd;
    public bool Tbi;
    public bool Tbid;
    /// <summary>Shareability from TCR/VTCR, used for the leaf when DS=1.</summary>
    public int TcrSh;
    /// <summary>ASID of this range's TTBR (16 or 8 bits per TCR.AS), or the VMID for stage 2.</summary>
    public ushort Tag;
    /// <summary>
    /// Descriptors are read and hardware updates written big-endian: SCTLR_ELx.EE of the regime's controlling EL
    /// for stage 1 (SCTLR_EL1.EE for EL1&amp;0, SCTLR_EL2.EE for the EL2 regimes), SCTLR_EL2.EE for stage 2 (Arm ARM
    /// SCTLR_ELx.EE; pseudocode walkparams.ee of AArch64.S1TTWParams / S2TTWParams, used by FetchDescriptor and the
    /// descriptor update to BigEndianReverse the 64-bit word).
    /// </summary>
    public bool BigEndian;

    /// <summary>Index bits resolved by the first lookup (stage-2 concatenation included).</summary>
    public readonly int FirstLevelBits => InputSize - TranslationGeometry.LevelShift(Granule, StartLevel);
}

/// <summary>Decodes TCR/VTCR/TTBR values into <see cref="WalkParams"/>; pure functions of register values.</summary>
public static class WalkParamsBuilder
{
    /// <summary>TG0 encoding (TCR_ELx.TG0, VTCR_EL2.TG0): 00=4K, 01=64K, 10=16K, 11 reserved.</summary>
    public static Granule? DecodeTg0(int tg0) => tg0 switch { 0 => Granule.K4, 1 => Granule.K64, 2 => Granule.K16, _ => null };

    /// <summary>TG1 encoding (TCR_EL1.TG1): 01=16K, 10=4K, 11=64K, 00 reserved.</summary>
    public static Granule? DecodeTg1(int tg1) => tg1 switch { 1 => Granule.K16, 2 => Granule.K4, 3 => Granule.K64, _ => null };

    /// <summary>
    /// A reserved or unimplemented granule behaves as an IMPLEMENTATION DEFINED implemented one; like QEMU we
    /// take the smallest implemented (4K, else 16K, else 64K).
    /// </summary>
    private static Granule Sanitize(Granule? requested, Func<Granule, bool> implemented)
    {
        if (requested is { } g && implemented(g))
        {
            return g;
        }
        foreach (var c in new[] { Granule.K4, Granule.K16, Granule.K64 })
        {
            if (implemented(c))
            {
                return c;
            }
        }
        return Granule.K4;
    }

    private static int MaxTxSz(Mmfr2 mmfr2, Granule g) => mmfr2.St >= 1 ? (g == Granule.K64 ? 47 : 48) : 39;

    private static int OaSize(int psEncoding, int paMax, Granule g, bool ds)
    {
        int oa = Math.Min(AddressSizes.Decode(psEncoding), paMax);
        return !ds && g != Granule.K64 ? Math.Min(oa, 48) : oa;
    }

    /// <summary>
    /// Table base from a TTBR/VTTBR value: BADDR[47:1] plus BADDR[51:48] from bits [5:2] when the output size is
    /// 52 bits, masked to the first table's alignment (which also drops CnP). Sets the level-0 address-size fault
    /// when BADDR has bits at or above the output size.
    /// </summary>
    private static void SetBase(ref WalkParams p, ulong ttbr)
    {
        ulong baddr = ttbr & BitOps.Mask(47, 0);
        int alignBits = p.FirstLevelBits + 3;
        if (p.Ds || p.OaSize > 48)
        {
            // With 52-bit addresses (DS=1, or 64K with a 52-bit output size) TTBR[5:2] hold BADDR[51:48] and the
            // table is at least 64-byte aligned.
            alignBits = Math.Max(alignBits, 6);
            baddr = (baddr & ~BitOps.Mask(alignBits)) | (BitOps.Field(ttbr, 5, 2) << 48);
        }
        if (BitOps.AnyAbove(baddr, p.OaSize))
        {
            p.BaseAddressSizeFault = true;
        }
        p.TableBase = baddr & ~BitOps.Mask(alignBits);
    }

    /// <summary>
    /// Stage-1 parameters of <paramref name="regime"/> for the VA range <paramref name="upperRange"/> selects (a
    /// one-range regime has only the lower), decoded per the regime's TCR layout from its TCR and TTBR.
    /// </summary>
    public static WalkParams Stage1(SystemRegisters regs, TranslationRegime regime, bool upperRange) =>
        regime.TcrLayout() == TcrLayout.TwoRanges
            ? TwoRangeStage1(regs, regime, upperRange)
            : OneRangeStage1(regs, regime);

    /// <summary>Stage-1 parameters of a two-range regime (TCR_EL1 layout) for the range selected by VA[55].</summary>
    private static WalkParams TwoRangeStage1(SystemRegisters regs, TranslationRegime regime, bool upperRange)
    {
        var tcr = new Tcr(regs[regime.Tcr()]);
        var p = Stage1(regs, upperRange ? DecodeTg1(tcr.Tg1) : DecodeTg0(tcr.Tg0), upperRange ? tcr.T1Sz : tcr.T0Sz,
            tcr.Ips, tcr.Ha, tcr.Hd, upperRange ? tcr.Hpd1 : tcr.Hpd0, tcr.Ds);
        p.BigEndian = new Sctlr(regs[regime.Sctlr()]).Ee;
        p.TwoRanges = true;
        p.Epd = upperRange ? tcr.Epd1 : tcr.Epd0;
        p.E0Pd = (upperRange ? tcr.E0Pd1 : tcr.E0Pd0) && BitOps.Field(regs[SysReg.ID_AA64MMFR2_EL1], 63, 60) >= 1;
        p.Tbi = upperRange ? tcr.Tbi1 : tcr.Tbi0;
        p.Tbid = upperRange ? tcr.Tbid1 : tcr.Tbid0;
        p.TcrSh = upperRange ? tcr.Sh1 : tcr.Sh0;
        // TCR.A1 picks the TTBR whose ASID is current; TCR.AS=0 means 8-bit ASIDs.
        ulong asidTtbr = regs[regime.Ttbr(upperRange: tcr.A1)];
        bool asid16 = tcr.As && regs.Mmfr0.AsidBits == 2;
        p.Tag = (ushort)((asidTtbr >> 48) & (asid16 ? 0xFFFFUL : 0xFFUL));
        if (!p.ConfigFault)
        {
            SetBase(ref p, regs[regime.Ttbr(upperRange)]);
        }
        return p;
    }

    /// <summary>Stage-1 parameters of a one-range regime (TCR_EL2 layout with E2H=0, TTBR0): no ASID.</summary>
    private static WalkParams OneRangeStage1(SystemRegisters regs, TranslationRegime regime)
    {
        var tcr = new TcrEl2(regs[regime.Tcr()]);
        var p = Stage1(regs, DecodeTg0(tcr.Tg0), tcr.T0Sz, tcr.Ps, tcr.Ha, tcr.Hd, tcr.Hpd, tcr.Ds);
        p.BigEndian = new Sctlr(regs[regime.Sctlr()]).Ee;
        p.Tbi = tcr.Tbi;
        p.Tbid = tcr.Tbid;
        p.TcrSh = tcr.Sh0;
        if (!p.ConfigFault)
        {
            SetBase(ref p, regs[regime.Ttbr(upperRange: false)]);
        }
        return p;
    }

    /// <summary>
    /// What every stage-1 range shares: granule (sanitized), DS only with an LPA2-capable granule, TxSZ limits
    /// (AArch64.S1MinTxSZ/MaxTxSZ), output size, HA/HD gated by ID_AA64MMFR1.HAFDBS, HPD gated by HPDS.
    /// </summary>
    private static WalkParams Stage1(SystemRegisters regs, Granule? requested, int tsz, int ps, bool ha, bool hd, bool hpd, bool dsBit)
    {
        var mmfr0 = regs.Mmfr0;
        var mmfr2 = regs.Mmfr2;
        int hafdbs = regs.Mmfr1.Hafdbs;
        var g = Sanitize(requested, x => mmfr0.Stage1(x).Implemented);
        bool ds = dsBit && g != Granule.K64 && mmfr0.Stage1(g).Lpa2;
        int minTsz = ds || (g == Granule.K64 && mmfr2.VaRange >= 1) ? 12 : 16;
        var p = new WalkParams
        {
            Stage = 1,
            Granule = g,
            Ds = ds,
            Lpa = mmfr0.PaMax >= 52,
            InputSize = 64 - tsz,
            ConfigFault = tsz < minTsz || tsz > MaxTxSz(mmfr2, g),
            OaSize = OaSize(ps, mmfr0.PaMax, g, ds),
            Ha = ha && hafdbs >= 1,
            Hpd = hpd && regs.Mmfr1.Hpds >= 1,
        };
        p.Hd = p.Ha && hd && hafdbs >= 2;
        p.StartLevel = p.ConfigFault ? 0 : TranslationGeometry.Stage1StartLevel(g, p.InputSize);
        return p;
    }

    /// <summary>
    /// Stage-2 parameters from VTCR_EL2/VTTBR_EL2. The start level comes from SL0 (and SL2 with DS); an invalid
    /// SL0, or one inconsistent with T0SZ (AArch64.S2InvalidSL / S2InconsistentSL), makes every stage-2 lookup
    /// a level-0 translation fault.
    /// </summary>
    public static WalkParams Stage2(SystemRegisters regs)
    {
        var vtcr = regs.Vtcr;
        var mmfr0 = regs.Mmfr0;
        var mmfr2 = regs.Mmfr2;
        int hafdbs = regs.Mmfr1.Hafdbs;
        var g = Sanitize(DecodeTg0(vtcr.Tg0), x => mmfr0.Stage2(x).Implemented);
        bool ds = vtcr.Ds && g != Granule.K64 && mmfr0.Stage2(g).Lpa2;
        // AArch64.S2MinTxSZ: the IPA space may not exceed PAMax (48 bits for 4K/16K without DS).
        int minTsz = 64 - (ds || g == Granule.K64 ? mmfr0.PaMax : Math.Min(mmfr0.PaMax, 48));
        var p = new WalkParams
        {
            Stage = 2,
            Granule = g,
            Ds = ds,
            Lpa = mmfr0.PaMax >= 52,
            InputSize = 64 - vtcr.T0Sz,
            OaSize = OaSize(vtcr.Ps, mmfr0.PaMax, g, ds),
            Ha = vtcr.Ha && hafdbs >= 1,
            TcrSh = vtcr.Sh0,
            BigEndian = regs.SctlrEl2.Ee, // stage 2 of EL1&0 walks with SCTLR_EL2.EE
        };
        p.Hd = p.Ha && vtcr.Hd && hafdbs >= 2;
        bool vmid16 = vtcr.Vs && regs.Mmfr1.VmidBits == 2;
        p.Tag = (ushort)((regs[SysReg.VTTBR_EL2] >> 48) & (vmid16 ? 0xFFFFUL : 0xFFUL));
        int? start = Stage2StartLevel(g, vtcr.Sl0, vtcr.Sl2, ds, mmfr2.St >= 1, mmfr0.PaMax);
        p.ConfigFault = vtcr.T0Sz < minTsz || vtcr.T0Sz > MaxTxSz(mmfr2, g) || start is null
            || !Stage2LevelConsistent(g, start.Value, p.InputSize, mmfr0.PaMax);
        p.StartLevel = p.ConfigFault ? 0 : start!.Value;
        if (!p.ConfigFault)
        {
            SetBase(ref p, regs[SysReg.VTTBR_EL2]);
        }
        return p;
    }

    /// <summary>
    /// VTCR_EL2.SL0 (and SL2) to a start level: 4K 00→L2, 01→L1, 10→L0, 11→L3 with FEAT_TTST; with DS and SL2=1,
    /// SL0=00 → L−1. 16K/64K 00→L3, 01→L2, 10→L1, 11→L0 (16K with DS and a 52-bit PAMax only, AArch64.S2InvalidSL).
    /// Null when reserved.
    /// </summary>
    public static int? Stage2StartLevel(Granule g, int sl0, bool sl2, bool ds, bool ttst, int paMax)
    {
        if (g == Granule.K4)
        {
            if (sl2 && ds)
            {
                return sl0 == 0 ? -1 : null; // SL2 is RES0 unless DS=1 with 4K
            }
            return sl0 switch { 0 => 2, 1 => 1, 2 => 0, _ => ttst ? 3 : null };
        }
        return sl0 switch { 0 => 3, 1 => 2, 2 => 1, _ => g == Granule.K16 && ds && paMax >= 52 ? 0 : null };
    }

    /// <summary>
    /// AArch64.S2InvalidSL (the PAMax part) and AArch64.S2InconsistentSL: a 4K level-0 or 64K level-1 start needs
    /// PAMax of at least 44 bits, a 16K level-1 start 42 bits; and the IPA size must be resolvable from the start
    /// level with at most 16 concatenated tables. (QEMU 7.2 compared with the PS-derived output size and also
    /// faulted an IPA size above it; QEMU 8.0 reverted that as not in the pseudocode. We follow the architecture.)
    /// </summary>
    public static bool Stage2LevelConsistent(Granule g, int startLevel, int inputSize, int paMax)
    {
        int stride = TranslationGeometry.Stride(g);
        int firstBits = inputSize - TranslationGeometry.LevelShift(g, startLevel);
        if (firstBits < 1 || firstBits > stride + 4)
        {
            return false;
        }
        bool levelNeedsLargerPa = g switch
        {
            Granule.K4 => startLevel == 0 && paMax < 44,
            Granule.K16 => startLevel == 1 && paMax < 42,
            _ => startLevel == 1 && paMax < 44,
        };
        return !levelNeedsLargerPa;
    }
}
