using MmuSim.Addressing;
using MmuSim.Faults;
using MmuSim.Memory;
using MmuSim.Registers;
using MmuSim.Translation;

namespace MmuSim.Tests.Translation.Reference;

/// <summary>
/// One access or AT as the reference takes it: <see cref="El"/> is the EL it runs at (which picks the regime, as
/// S1TranslationRegime does), <see cref="PermEl"/> the EL whose permissions apply (EL0 for LDTR/STTR at EL1 or at EL2
/// in the host and for AT S1E0*), <see cref="Pan"/> whether PSTATE.PAN applies to it, <see cref="Size"/> the bytes
/// of a data access (0: no alignment check, as for AT); <see cref="Unaligned"/> that the access this is a part of
/// is misaligned as a whole (the part after a page crossing).
/// </summary>
public readonly record struct RefAccess(ulong Va, int El, int PermEl, AccessType Type, AtMode At = AtMode.None, bool Pan = false, int Size = 0,
    bool Unaligned = false);

/// <summary>The outcome of a reference translation.</summary>
public struct RefResult
{
    public bool Faulted;
    public FaultType Type;
    public int Stage;
    public int Level;
    public bool S1Ptw;
    /// <summary>For a stage-2 fault: the IPA whose stage-2 lookup failed.</summary>
    public ulong FaultIpa;
    /// <summary>A permission fault that PSTATE.PAN alone caused.</summary>
    public bool Pan;
    /// <summary>An alignment fault of SCTLR_ELx.A, before any lookup.</summary>
    public bool BeforeLookup;
    public ulong Pa;
    public byte Attr;
    public int Sh;

    public override readonly string ToString() => Faulted
        ? $"{Type} stage {Stage} level {Level}{(S1Ptw ? " S1PTW" : "")}{(Pan ? " (PAN)" : "")} ipa 0x{FaultIpa:x}"
        : $"PA 0x{Pa:x} attr 0x{Attr:x2} sh {Sh}";
}

/// <summary>
/// A slow reference model of VMSAv8-64 translation written from the Arm ARM pseudocode (AArch64.FullTranslate,
/// S1Translate, S1Walk, S2Translate, S2Walk, the permission and HAFDBS functions), deliberately shaped like it: each
/// step is spelled out, registers are decoded here from raw values, and nothing is shared with the engine except the
/// register file and memory. Where the architecture leaves a choice it takes QEMU 7.2's (each place says so), as the
/// engine documents it does.
/// </summary>
public sealed class ReferenceMmu(SystemRegisters regs, PhysicalMemory mem)
{
    private const int FinalLevel = 3;

    private static ulong Bits(ulong x, int hi, int lo) => (x >> lo) & (hi - lo + 1 >= 64 ? ulong.MaxValue : (1UL << (hi - lo + 1)) - 1);

    private static bool Bit(ulong x, int n) => ((x >> n) & 1) != 0;

    /// <summary>True if any bit of x at position n or above is set.</summary>
    private static bool NonZeroFrom(ulong x, int n) => n < 64 && (x >> n) != 0;

    private ulong Reg(SysReg r) => regs[r];

    // ================================================================ feature queries (ID registers)

    private int PaMax() => Bits(Reg(SysReg.ID_AA64MMFR0_EL1), 3, 0) switch
    {
        0 => 32, 1 => 36, 2 => 40, 3 => 42, 4 => 44, 5 => 48, _ => 52,
    };

    private int Hafdbs() => (int)Bits(Reg(SysReg.ID_AA64MMFR1_EL1), 3, 0);
    private bool HaveHpds() => Bits(Reg(SysReg.ID_AA64MMFR1_EL1), 15, 12) >= 1;
    private bool HaveXnx() => Bits(Reg(SysReg.ID_AA64MMFR1_EL1), 31, 28) >= 1;
    private bool HaveLva() => Bits(Reg(SysReg.ID_AA64MMFR2_EL1), 19, 16) >= 1;
    private bool HaveTtst() => Bits(Reg(SysReg.ID_AA64MMFR2_EL1), 31, 28) >= 1;
    private bool HaveE0pd() => Bits(Reg(SysReg.ID_AA64MMFR2_EL1), 63, 60) >= 1;

    /// <summary>TGran fields: 4K 0 = yes, 1 = yes + LPA2; 16K 1 = yes, 2 = yes + LPA2; 64K 0 = yes. _2 fields: 0 = as stage 1.</summary>
    private (bool Implemented, bool Lpa2) GranuleSupport(int granuleBits, bool stage2)
    {
        ulong m = Reg(SysReg.ID_AA64MMFR0_EL1);
        ulong s1_4 = Bits(m, 31, 28), s1_16 = Bits(m, 23, 20), s1_64 = Bits(m, 27, 24);
        (bool, bool) s1 = granuleBits switch
        {
            12 => (s1_4 != 0xF, s1_4 == 1),
            14 => (s1_16 != 0, s1_16 == 2),
            _ => (s1_64 != 0xF, false),
        };
        if (!stage2)
        {
            return s1;
        }
        ulong f = granuleBits switch { 12 => Bits(m, 43, 40), 14 => Bits(m, 35, 32), _ => Bits(m, 39, 36) };
        return f == 0 ? s1 : (f >= 2, f == 3);
    }

    // ================================================================ parameters

    private enum Regime
    {
        El10,
        El2,
        /// <summary>FEAT_VHE: EL2 with HCR_EL2.E2H=1, and EL0 with {E2H,TGE}={1,1}.</summary>
        El20,
    }

    /// <summary>S1TranslationRegime(el) with ELIsInHost: EL2 uses EL2&amp;0 when E2H=1, EL0 does too when TGE=1 as well.</summary>
    private Regime RegimeOf(int el)
    {
        ulong hcr = Reg(SysReg.HCR_EL2);
        bool e2h = Bit(hcr, 34), tge = Bit(hcr, 27);
        if (el == 2)
        {
            return e2h ? Regime.El20 : Regime.El2;
        }
        return el == 0 && e2h && tge ? Regime.El20 : Regime.El10;
    }

    /// <summary>The SCTLR of a regime's stage 1 (SCTLR_EL2 in the SCTLR_EL1 layout for EL2&amp;0: M, A, WXN, EE sit alike).</summary>
    private ulong Sctlr(Regime regime) => Reg(regime == Regime.El10 ? SysReg.SCTLR_EL1 : SysReg.SCTLR_EL2);

    /// <summary>The 64-bit descriptor at <paramref name="pa"/> as a walk with endianness <paramref name="bigEndian"/> reads it.</summary>
    private bool ReadDescriptor(ulong pa, bool bigEndian, out ulong desc)
    {
        if (!mem.TryRead64(new PhysicalAddress(pa), out ulong raw))
        {
            desc = 0;
            return false;
        }
        desc = bigEndian ? ByteReverse(raw) : raw;
        return true;
    }

    /// <summary>A hardware update writes the descriptor back in the walk's endianness.</summary>
    private void WriteDescriptor(ulong pa, bool bigEndian, ulong desc) =>
        mem.Write64(new PhysicalAddress(pa), bigEndian ? ByteReverse(desc) : desc);

    /// <summary>The pseudocode's BigEndianReverse of a doubleword, byte by byte.</summary>
    private static ulong ByteReverse(ulong x)
    {
        ulong r = 0;
        for (int i = 0; i < 8; i++)
        {
            r = (r << 8) | ((x >> (8 * i)) & 0xFF);
        }
        return r;
    }

    /// <summary>The inputs of one stage's walk (S1TTWParams / S2TTWParams).</summary>
    private sealed class Ttw
    {
        public int Stage;
        public int GranuleBits;
        public int TxSz;
        public int Ps;          // (I)PS/PS encoding
        public bool Ds;
        public bool Ha, Hd, Hpd, Epd, E0pd, Tbi, Tbid;
        public int Sh;          // TCR SH field (used for leaves when DS=1)
        public ulong Ttb;       // TTBR / VTTBR value
        public int Sl0;
        public bool Sl2;
        public bool TwoRanges;
        public bool BigEndian;  // SCTLR_ELx.EE of the stage's controlling EL

        public int Stride => GranuleBits - 3;
        public int IaSize => 64 - TxSz;
    }

    private int Decode(int tg0) => tg0 switch { 0 => 12, 1 => 16, 2 => 14, _ => -1 };

    /// <summary>TCR_EL1.TG1: 01 16K, 10 4K, 11 64K.</summary>
    private static int DecodeTg1(int tg1) => tg1 switch { 1 => 14, 2 => 12, 3 => 16, _ => -1 };

    /// <summary>A reserved or unimplemented granule acts as an implemented one: QEMU picks the smallest.</summary>
    private int Sanitize(int granuleBits, bool stage2)
    {
        if (granuleBits > 0 && GranuleSupport(granuleBits, stage2).Implemented)
        {
            return granuleBits;
        }
        foreach (int g in new[] { 12, 14, 16 })
        {
            if (GranuleSupport(g, stage2).Implemented)
            {
                return g;
            }
        }
        return 12;
    }

    private Ttw S1Params(Regime regime, ulong va)
    {
        var p = new Ttw { Stage = 1 };
        if (regime == Regime.El2)
        {
            ulong tcr = Reg(SysReg.TCR_EL2);
            p.GranuleBits = Sanitize(Decode((int)Bits(tcr, 15, 14)), false);
            p.TxSz = (int)Bits(tcr, 5, 0);
            p.Ps = (int)Bits(tcr, 18, 16);
            p.Tbi = Bit(tcr, 20);
            p.Ha = Bit(tcr, 21) && Hafdbs() >= 1;
            p.Hd = p.Ha && Bit(tcr, 22) && Hafdbs() >= 2;
            p.Hpd = Bit(tcr, 24) && HaveHpds();
            p.Tbid = Bit(tcr, 29);
            p.Ds = Bit(tcr, 32);
            p.Sh = (int)Bits(tcr, 13, 12);
            p.Ttb = Reg(SysReg.TTBR0_EL2);
            p.TwoRanges = false;
        }
        else
        {
            // EL1&0, or EL2&0 whose TCR_EL2 has the TCR_EL1 layout (E2H=1) and whose TTBR1_EL2 exists.
            bool host = regime == Regime.El20;
            ulong tcr = Reg(host ? SysReg.TCR_EL2 : SysReg.TCR_EL1);
            bool upper = Bit(va, 55); // AArch64.GetVARange: VA[55] selects the range, whatever TBI says
            p.GranuleBits = Sanitize(upper ? DecodeTg1((int)Bits(tcr, 31, 30)) : Decode((int)Bits(tcr, 15, 14)), false);
            p.TxSz = (int)(upper ? Bits(tcr, 21, 16) : Bits(tcr, 5, 0));
            p.Ps = (int)Bits(tcr, 34, 32);
            p.Epd = Bit(tcr, upper ? 23 : 7);
            p.Tbi = Bit(tcr, upper ? 38 : 37);
            p.Ha = Bit(tcr, 39) && Hafdbs() >= 1;
            p.Hd = p.Ha && Bit(tcr, 40) && Hafdbs() >= 2;
            p.Hpd = Bit(tcr, upper ? 42 : 41) && HaveHpds();
            p.Tbid = Bit(tcr, upper ? 52 : 51);
            p.E0pd = Bit(tcr, upper ? 56 : 55) && HaveE0pd();
            p.Ds = Bit(tcr, 59);
            p.Sh = (int)(upper ? Bits(tcr, 29, 28) : Bits(tcr, 13, 12));
            p.Ttb = Reg(host ? (upper ? SysReg.TTBR1_EL2 : SysReg.TTBR0_EL2) : (upper ? SysReg.TTBR1_EL1 : SysReg.TTBR0_EL1));
            p.TwoRanges = true;
        }
        // DS only with a 4K or 16K granule that supports FEAT_LPA2.
        p.Ds = p.Ds && p.GranuleBits != 16 && GranuleSupport(p.GranuleBits, false).Lpa2;
        p.BigEndian = Bit(Sctlr(regime), 25);
        return p;
    }

    private Ttw S2Params()
    {
        ulong vtcr = Reg(SysReg.VTCR_EL2);
        var p = new Ttw
        {
            Stage = 2,
            GranuleBits = Sanitize(Decode((int)Bits(vtcr, 15, 14)), true),
            TxSz = (int)Bits(vtcr, 5, 0),
            Sl0 = (int)Bits(vtcr, 7, 6),
            Sh = (int)Bits(vtcr, 13, 12),
            Ps = (int)Bits(vtcr, 18, 16),
            Ha = Bit(vtcr, 21) && Hafdbs() >= 1,
            Ds = Bit(vtcr, 32),
            Ttb = Reg(SysReg.VTTBR_EL2),
            BigEndian = Bit(Reg(SysReg.SCTLR_EL2), 25), // SCTLR_EL2.EE: stage-2 walks too
        };
        p.Hd = p.Ha && Bit(vtcr, 22) && Hafdbs() >= 2;
        p.Ds = p.Ds && p.GranuleBits != 16 && GranuleSupport(p.GranuleBits, true).Lpa2;
        p.Sl2 = Bit(vtcr, 33) && p.Ds; // SL2 is RES0 unless DS
        return p;
    }

    /// <summary>AArch64.PhysicalAddressSize: (I)PS clamped to PAMax, and to 48 bits for 4K/16K without DS.</summary>
    private int OaSize(Ttw p)
    {
        int ps = p.Ps switch { 0 => 32, 1 => 36, 2 => 40, 3 => 42, 4 => 44, 5 => 48, _ => 52 };
        int max = p.GranuleBits != 16 && !p.Ds ? Math.Min(48, PaMax()) : PaMax();
        return Math.Min(ps, max);
    }

    private int MinTxSz(Ttw p) => p.Stage == 1
        ? ((p.GranuleBits == 16 && HaveLva()) || p.Ds ? 12 : 16)       // AArch64.S1MinTxSZ
        : 64 - (p.GranuleBits == 16 || p.Ds ? PaMax() : Math.Min(48, PaMax())); // AArch64.S2MinTxSZ: IPA space within PAMax

    private int MaxTxSz(Ttw p) => HaveTtst() ? (p.GranuleBits == 16 ? 47 : 48) : 39;

    /// <summary>TxSZ outside [min, max]: the IMPLEMENTATION DEFINED choice is a level-0 translation fault (QEMU).</summary>
    private bool TxSzFaults(Ttw p) => p.TxSz < MinTxSz(p) || p.TxSz > MaxTxSz(p);

    /// <summary>AArch64.S1StartLevel: FINAL_LEVEL − ((iasize − 1 − granulebits) DIV stride).</summary>
    private static int S1StartLevel(Ttw p) => FinalLevel - (p.IaSize - 1 - p.GranuleBits) / p.Stride;

    /// <summary>AArch64.S2StartLevel from SL2:SL0.</summary>
    private static int S2StartLevel(Ttw p)
    {
        if (p.GranuleBits == 12)
        {
            if (p.Sl2)
            {
                return p.Sl0 == 0 ? -1 : int.MinValue;
            }
            return p.Sl0 switch { 0 => 2, 1 => 1, 2 => 0, _ => 3 };
        }
        return p.Sl0 switch { 0 => 3, 1 => 2, 2 => 1, _ => 0 };
    }

    /// <summary>AArch64.S2InvalidSL.</summary>
    private bool S2InvalidSl(Ttw p)
    {
        switch (p.GranuleBits)
        {
            case 12:
                if (p.Sl2)
                {
                    return p.Sl0 != 0 || PaMax() < 52;
                }
                return p.Sl0 switch { 2 => PaMax() < 44, 3 => !HaveTtst(), _ => false };
            case 14:
                return p.Sl0 switch { 3 => !p.Ds || PaMax() < 52, 2 => PaMax() < 42, _ => false };
            default:
                return p.Sl0 switch { 3 => true, 2 => PaMax() < 44, _ => false };
        }
    }

    /// <summary>AArch64.S2InconsistentSL: the IPA size must be resolvable from the start level with up to 16 tables.</summary>
    private static bool S2InconsistentSl(Ttw p)
    {
        int levels = FinalLevel - S2StartLevel(p);
        int minIa = levels * p.Stride + p.GranuleBits + 1;
        int maxIa = minIa + (p.Stride - 1) + 4;
        return p.IaSize < minIa || p.IaSize > maxIa;
    }

    // ================================================================ descriptors

    /// <summary>AArch64.BlockDescSupported.</summary>
    private bool BlockDescSupported(Ttw p, int level) => p.GranuleBits switch
    {
        12 => level == 1 || level == 2 || (level == 0 && p.Ds),
        14 => level == 2 || (level == 1 && p.Ds),
        _ => level == 2 || (level == 1 && PaMax() == 52),
    };

    private enum DescType
    {
        Invalid,
        Table,
        Leaf,
    }

    /// <summary>AArch64.DecodeDescriptorType.</summary>
    private DescType DecodeDescriptorType(ulong desc, Ttw p, int level)
    {
        if ((desc & 3) == 3)
        {
            return level == FinalLevel ? DescType.Leaf : DescType.Table;
        }
        if ((desc & 3) == 1)
        {
            return level != FinalLevel && BlockDescSupported(p, level) ? DescType.Leaf : DescType.Invalid;
        }
        return DescType.Invalid;
    }

    /// <summary>
    /// The address a table or leaf descriptor holds, bits [51:granule] (AArch64.NextTableBase / LeafBase before the
    /// level's alignment): [47:g]; with DS [49:48] in place and [51:50] from bits [9:8]; 64K with a 52-bit PA:
    /// [51:48] from bits [15:12].
    /// </summary>
    private ulong DescriptorOutput(ulong desc, Ttw p)
    {
        ulong a = desc & (((1UL << 48) - 1) & ~((1UL << p.GranuleBits) - 1));
        if (p.Ds)
        {
            a |= Bits(desc, 49, 48) << 48;
            a |= Bits(desc, 9, 8) << 50;
        }
        else if (p.GranuleBits == 16 && PaMax() == 52)
        {
            a |= Bits(desc, 15, 12) << 48;
        }
        return a;
    }

    /// <summary>
    /// AArch64.TTBaseAddress: the first table's base, aligned to its size. The 52-bit layout (BADDR[51:48] in TTBR[5:2],
    /// 64-byte minimum alignment) is used when the output size is 52 bits (QEMU 7.2's condition).
    /// </summary>
    private (ulong Base, bool AddressSizeFault) TableBase(Ttw p, int startLevel)
    {
        int levels = FinalLevel - startLevel;
        int tsize = p.IaSize - (levels * p.Stride + p.GranuleBits) + 3;
        int oa = OaSize(p);
        ulong b;
        if (oa == 52)
        {
            tsize = Math.Max(tsize, 6);
            b = (Bits(p.Ttb, 5, 2) << 48) | (p.Ttb & (((1UL << 48) - 1) & ~0x3FUL));
        }
        else
        {
            b = p.Ttb & ((1UL << 48) - 2);
        }
        bool fault = NonZeroFrom(b, oa);
        return (b & ~((1UL << tsize) - 1), fault);
    }

    // ================================================================ full translation

    /// <summary>AArch64.FullTranslate for an access at <paramref name="el"/> with its own permissions, or an AT instruction.</summary>
    public RefResult Translate(ulong va, int el, AccessType acc, AtMode at) => Translate(new RefAccess(va, el, el, acc, at));

    /// <summary>
    /// An R/W/X, LDTR or STTR as the trace format runs it: an access that crosses a 4 KiB page boundary is translated
    /// in two parts (each byte must be translated, and QEMU splits there), the second from the next page, touching
    /// it as misaligned as the whole; a fault of the second part is reported with FAR = that page's first byte; the
    /// result is the first byte's PA.
    /// </summary>
    public RefResult TranslateAccess(in RefAccess a, out ulong far)
    {
        far = a.Va;
        var first = Translate(a);
        if (first.Faulted || (a.Va & 0xFFF) + (ulong)Math.Max(a.Size, 1) <= 0x1000)
        {
            return first;
        }
        ulong next = (a.Va | 0xFFF) + 1;
        var second = Translate(a with { Va = next, Unaligned = Misaligned(a) });
        if (second.Faulted)
        {
            far = next;
            return second;
        }
        return first;
    }

    /// <summary>AArch64.FullTranslate, after the alignment check that comes before it (SCTLR_ELx.A).</summary>
    public RefResult Translate(in RefAccess a)
    {
        ulong va = a.Va;
        int el = a.PermEl;
        AccessType acc = a.Type;
        AtMode at = a.At;
        var regime = RegimeOf(a.El);
        ulong hcr = Reg(SysReg.HCR_EL2);
        // Stage 2 applies to EL1&0 with HCR_EL2.VM=1, or DC=1 (which makes VM act as 1).
        bool s2Enabled = regime == Regime.El10 && (Bit(hcr, 0) || Bit(hcr, 12));

        // AArch64.CheckAlignment: SCTLR_ELx.A of the access's regime faults a misaligned data access before any lookup.
        if (Misaligned(a) && Bit(Sctlr(regime), 1))
        {
            var early = Fault(FaultType.Alignment, 1, FaultInfo.NoLevel);
            early.BeforeLookup = true;
            return early;
        }

        var r = S1Translate(a, regime, s2Enabled, out ulong ipa, out byte s1Attr, out int s1Sh);
        if (r.Faulted)
        {
            return r;
        }
        if (!s2Enabled || at == AtMode.Stage1)
        {
            return new RefResult { Pa = ipa, Attr = s1Attr, Sh = s1Sh };
        }
        var s2 = S2Translate(ipa, acc, s1ptw: false, el0: el == 0, isAt: at != AtMode.None, out ulong pa, out int memAttr, out int s2Sh, Misaligned(a));
        if (s2.Faulted)
        {
            return s2;
        }
        return new RefResult
        {
            Pa = pa,
            Attr = CombineAttrs(s1Attr, S2AttrToMair(memAttr, Bit(hcr, 32))),
            Sh = CombineSh(s1Sh, s2Sh, CombineAttrs(s1Attr, S2AttrToMair(memAttr, Bit(hcr, 32)))),
        };
    }

    /// <summary>A data access (not a fetch, not an AT) whose VA is not a multiple of its size.</summary>
    private static bool Misaligned(in RefAccess a) =>
        a.Type != AccessType.Fetch && a.At == AtMode.None && (a.Unaligned || (a.Size > 1 && a.Va % (ulong)a.Size != 0));

    /// <summary>MAIR attribute 0000dd00: Device memory.</summary>
    private static bool IsDevice(byte attr) => (attr & 0xF0) == 0;

    private static RefResult Fault(FaultType t, int stage, int level, bool s1ptw = false, ulong ipa = 0) =>
        new() { Faulted = true, Type = t, Stage = stage, Level = level, S1Ptw = s1ptw, FaultIpa = ipa };

    /// <summary>AArch64.S1Translate.</summary>
    private RefResult S1Translate(in RefAccess a, Regime regime, bool s2Enabled, out ulong ipa, out byte attr, out int sh)
    {
        ipa = 0;
        attr = 0;
        sh = 0;
        ulong va = a.Va;
        int el = a.PermEl;
        AccessType acc = a.Type;
        AtMode at = a.At;
        ulong hcr = Reg(SysReg.HCR_EL2);
        ulong sctlr = Sctlr(regime);
        var p = S1Params(regime, va);
        bool fetch = acc == AccessType.Fetch;
        // AArch64.AddrTop: 55 when TBI applies (for fetches only without TBID), else 63.
        int addrTop = p.Tbi && !(fetch && p.Tbid) ? 55 : 63;

        bool enabled = regime != Regime.El10
            ? Bit(sctlr, 0)
            : Bit(sctlr, 0) && !Bit(hcr, 12) && !Bit(hcr, 27); // HCR_EL2.DC and TGE (E2H=0) turn EL1&0 stage 1 off
        if (!enabled)
        {
            // AArch64.S1DisabledOutput: VA[addrtop:PAMax] must be zero.
            ulong topMask = addrTop == 63 ? ulong.MaxValue : (1UL << 56) - 1;
            if (NonZeroFrom(va & topMask, PaMax()))
            {
                return Fault(FaultType.AddressSize, 1, 0);
            }
            ipa = va & ((1UL << PaMax()) - 1);
            if (regime == Regime.El10 && Bit(hcr, 12))
            {
                attr = 0xFF; // Normal WB RWA, non-shareable
                sh = 0;
            }
            else
            {
                attr = 0x00; // data: Device-nGnRnE (PAR.SH then reads 0b10: see ParSh)
                sh = 0;
                if (Misaligned(a))
                {
                    return Fault(FaultType.Alignment, 1, FaultInfo.NoLevel); // the flat map's data are Device
                }
            }
            return default;
        }

        if (TxSzFaults(p))
        {
            return Fault(FaultType.Translation, 1, 0);
        }
        // AArch64.VAIsOutOfRange.
        ulong rangeBits = Bits(va, addrTop, p.IaSize);
        ulong ones = (1UL << (addrTop - p.IaSize + 1)) - 1;
        bool outOfRange = p.TwoRanges && Bit(va, 55) ? rangeBits != ones : rangeBits != 0;
        if (outOfRange)
        {
            return Fault(FaultType.Translation, 1, 0);
        }
        if (p.TwoRanges && p.Epd)
        {
            return Fault(FaultType.Translation, 1, 0);
        }
        if (p.TwoRanges && p.E0pd && el == 0)
        {
            return Fault(FaultType.Translation, 1, 0);
        }

        int startLevel = S1StartLevel(p);
        var (baseAddr, baseFault) = TableBase(p, startLevel);
        if (baseFault)
        {
            return Fault(FaultType.AddressSize, 1, 0);
        }
        int oaSize = OaSize(p);

        // AArch64.S1Walk.
        int level = startLevel;
        ulong table = baseAddr;
        int apTable = 0;
        bool uxnTable = false, pxnTable = false;
        ulong desc;
        ulong descIpa;
        ulong descPa;
        while (true)
        {
            int lsb = (FinalLevel - level) * p.Stride + p.GranuleBits;
            int msb = level == startLevel ? p.IaSize - 1 : lsb + p.Stride - 1;
            descIpa = table | (Bits(va, msb, lsb) << 3);
            descPa = descIpa;
            if (regime == Regime.El10 && s2Enabled)
            {
                // The descriptor address is an IPA: a stage-2 read for a stage-1 walk (S1PTW on failure).
                var s2 = S2Translate(descIpa, AccessType.Read, s1ptw: true, el0: false, isAt: false, out descPa, out _, out _);
                if (s2.Faulted)
                {
                    return s2;
                }
            }
            if (!ReadDescriptor(descPa, p.BigEndian, out desc))
            {
                return Fault(FaultType.ExternalWalk, 1, level);
            }
            var type = DecodeDescriptorType(desc, p, level);
            if (type == DescType.Invalid)
            {
                return Fault(FaultType.Translation, 1, level);
            }
            ulong next = DescriptorOutput(desc, p);
            if (NonZeroFrom(next, oaSize))
            {
                return Fault(FaultType.AddressSize, 1, level);
            }
            if (type == DescType.Table)
            {
                if (!p.Hpd)
                {
                    apTable |= (int)Bits(desc, 62, 61);
                    uxnTable |= Bit(desc, 60);
                    pxnTable |= Bit(desc, 59);
                }
                table = next;
                level++;
                continue;
            }
            break;
        }

        // Leaf. Access flag first (R_XCHFJ), then permissions (AArch64.S1CheckPermissions).
        ulong newDesc = desc;
        if (!Bit(desc, 10))
        {
            if (!p.Ha)
            {
                return Fault(FaultType.AccessFlag, 1, level);
            }
            newDesc |= 1UL << 10;
        }
        bool write = acc == AccessType.Write;
        ulong mair = Reg(regime == Regime.El10 ? SysReg.MAIR_EL1 : SysReg.MAIR_EL2);
        byte leafAttr = (byte)(mair >> (8 * (int)Bits(desc, 4, 2)));
        // Memory-type alignment (R_XCHFJ: after the access flag, before permissions): misaligned data to Device memory.
        if (Misaligned(a) && IsDevice(leafAttr))
        {
            return Fault(FaultType.Alignment, 1, FaultInfo.NoLevel);
        }
        if (!S1Permits(p, desc, apTable, uxnTable, pxnTable, el, acc, regime, Bit(sctlr, 19)))
        {
            return Fault(FaultType.Permission, 1, level);
        }
        // PSTATE.PAN: a privileged data access to a page EL0 may read or write (AP[1]=1 once APTable[0] is applied)
        // faults, reads and writes alike; fetches and one-range regimes (no EL0) are not affected.
        if (a.Pan && el != 0 && acc != AccessType.Fetch && p.TwoRanges && Bit(desc, 6) && (apTable & 1) == 0)
        {
            var pan = Fault(FaultType.Permission, 1, level);
            pan.Pan = true;
            return pan;
        }
        // Dirty state: a write through a writable-clean descriptor clears AP[2]; never for AT.
        if (p.Hd && Bit(desc, 51) && write && at == AtMode.None)
        {
            newDesc &= ~(1UL << 7);
        }
        if (newDesc != desc)
        {
            ulong updatePa = descPa;
            if (regime == Regime.El10 && s2Enabled)
            {
                var s2 = S2Translate(descIpa, AccessType.Write, s1ptw: true, el0: false, isAt: false, out updatePa, out _, out _);
                if (s2.Faulted)
                {
                    return s2;
                }
            }
            WriteDescriptor(updatePa, p.BigEndian, newDesc);
        }

        int shift = (FinalLevel - level) * p.Stride + p.GranuleBits;
        ulong leafBase = DescriptorOutput(desc, p) & ~((1UL << shift) - 1);
        ipa = leafBase | (va & ((1UL << shift) - 1));
        attr = leafAttr;
        sh = p.Ds ? p.Sh : (int)Bits(desc, 9, 8);
        return default;
    }

    /// <summary>
    /// AArch64.S1ComputePermissions / S1HasPermissionsFault for direct permissions. With HD and DBM a write treats AP[2]
    /// as 0 before the hierarchical controls apply. "EL0-writable implies PXN" and WXN look at AP as programmed: QEMU 7.2
    /// does not count writable-clean as writable for WXN (notes §11 #10).
    /// </summary>
    private static bool S1Permits(Ttw p, ulong desc, int apTable, bool uxnTable, bool pxnTable, int el, AccessType acc, Regime regime, bool wxn)
    {
        bool write = acc == AccessType.Write;
        int ap = (int)Bits(desc, 7, 6);
        if (write && p.Hd && Bit(desc, 51))
        {
            ap &= 1;
        }
        if (!p.TwoRanges)
        {
            // One range: AP[2] only; APTable[1] only; XN (bit 54) and XNTable.
            bool pw = (ap & 2) == 0 && (apTable & 2) == 0;
            bool px = !(Bit(desc, 54) || uxnTable);
            bool pwProgrammed = (Bits(desc, 7, 7) == 0) && (apTable & 2) == 0;
            if (wxn && pwProgrammed)
            {
                px = false;
            }
            return acc switch { AccessType.Read => true, AccessType.Write => pw, _ => px };
        }
        (bool pr, bool pwr, bool ur, bool uw) Perms(int a, int t)
        {
            (bool pr, bool pwr, bool ur, bool uw) v = a switch
            {
                0 => (true, true, false, false),
                1 => (true, true, true, true),
                2 => (true, false, false, false),
                _ => (true, false, true, false),
            };
            if ((t & 1) != 0)
            {
                v = (v.pr, v.pwr, false, false);
            }
            if ((t & 2) != 0)
            {
                v = (v.pr, false, v.ur, false);
            }
            return v;
        }
        var (pr, pw2, ur, uw) = Perms(ap, apTable);
        var programmed = Perms((int)Bits(desc, 7, 6), apTable);
        bool pxr = !(Bit(desc, 53) || pxnTable || programmed.uw);
        bool uxr = !(Bit(desc, 54) || uxnTable);
        if (wxn && programmed.pwr)
        {
            pxr = false;
        }
        if (wxn && programmed.uw)
        {
            uxr = false;
        }
        return (el, acc) switch
        {
            (0, AccessType.Read) => ur,
            (0, AccessType.Write) => uw,
            (0, _) => uxr,
            (_, AccessType.Read) => pr,
            (_, AccessType.Write) => pw2,
            _ => pxr,
        };
    }

    /// <summary>AArch64.S2Translate (with AArch64.S2Walk and the stage-2 permission, AF and dirty handling).</summary>
    private RefResult S2Translate(ulong ipa, AccessType acc, bool s1ptw, bool el0, bool isAt, out ulong pa, out int memAttr, out int sh,
        bool misaligned = false)
    {
        pa = 0;
        memAttr = 0;
        sh = 0;
        var p = S2Params();
        if (TxSzFaults(p) || (p.GranuleBits == 12 && p.Sl2 && p.Sl0 != 0) || S2InvalidSl(p) || S2InconsistentSl(p))
        {
            return Fault(FaultType.Translation, 2, 0, s1ptw, ipa);
        }
        if (NonZeroFrom(ipa, p.IaSize))
        {
            return Fault(FaultType.Translation, 2, 0, s1ptw, ipa);
        }
        int startLevel = S2StartLevel(p);
        var (baseAddr, baseFault) = TableBase(p, startLevel);
        if (baseFault)
        {
            return Fault(FaultType.AddressSize, 2, 0, s1ptw, ipa);
        }
        int oaSize = OaSize(p);

        int level = startLevel;
        ulong table = baseAddr;
        ulong desc;
        ulong descPa;
        while (true)
        {
            int lsb = (FinalLevel - level) * p.Stride + p.GranuleBits;
            int msb = level == startLevel ? p.IaSize - 1 : lsb + p.Stride - 1; // AArch64.S2SLTTEntryAddress: concatenation
            descPa = table | (Bits(ipa, msb, lsb) << 3);
            if (!ReadDescriptor(descPa, p.BigEndian, out desc))
            {
                return Fault(FaultType.ExternalWalk, 2, level, s1ptw, ipa);
            }
            var type = DecodeDescriptorType(desc, p, level);
            if (type == DescType.Invalid)
            {
                return Fault(FaultType.Translation, 2, level, s1ptw, ipa);
            }
            ulong next = DescriptorOutput(desc, p);
            if (NonZeroFrom(next, oaSize))
            {
                return Fault(FaultType.AddressSize, 2, level, s1ptw, ipa);
            }
            if (type == DescType.Table)
            {
                table = next;
                level++;
                continue;
            }
            break;
        }

        ulong newDesc = desc;
        if (!Bit(desc, 10))
        {
            if (!p.Ha)
            {
                return Fault(FaultType.AccessFlag, 2, level, s1ptw, ipa);
            }
            newDesc |= 1UL << 10;
        }
        // Stage-2 permissions: S2AP[0] read, S2AP[1] write (writable-clean with HD+DBM counts); fetches check XN only.
        bool r = Bit(desc, 6);
        bool w = Bit(desc, 7) || (p.Hd && Bit(desc, 51));
        int xn = (int)Bits(desc, 54, 53);
        bool x = HaveXnx()
            ? xn switch { 0 => true, 1 => el0, 2 => false, _ => !el0 }
            : (xn & 2) == 0;
        bool ok = acc switch
        {
            AccessType.Fetch => x,
            AccessType.Write => w,
            _ => r,
        };
        int attrField = (int)Bits(desc, 5, 2);
        // Memory-type alignment at stage 2: after its access flag, before its permissions; MemAttr 00xx is Device.
        if (misaligned && (attrField & 0xC) == 0)
        {
            return Fault(FaultType.Alignment, 2, FaultInfo.NoLevel, s1ptw, ipa);
        }
        // HCR_EL2.PTW: a stage-1 walk read landing in stage-2 Device memory is a stage-2 permission fault.
        if (ok && s1ptw && acc == AccessType.Read && Bit(Reg(SysReg.HCR_EL2), 2) && (attrField & 0xC) == 0)
        {
            ok = false;
        }
        if (!ok)
        {
            return Fault(FaultType.Permission, 2, level, s1ptw, ipa);
        }
        if (p.Hd && Bit(desc, 51) && acc == AccessType.Write && !isAt)
        {
            newDesc |= 1UL << 7;
        }
        if (newDesc != desc)
        {
            WriteDescriptor(descPa, p.BigEndian, newDesc);
        }
        int shift = (FinalLevel - level) * p.Stride + p.GranuleBits;
        pa = (DescriptorOutput(desc, p) & ~((1UL << shift) - 1)) | (ipa & ((1UL << shift) - 1));
        memAttr = attrField;
        sh = p.Ds ? p.Sh : (int)Bits(desc, 9, 8);
        return default;
    }

    // ================================================================ attributes (FWB=0)

    /// <summary>Stage-2 MemAttr[3:0] in MAIR form: 00dd Device; else each 2-bit half 01 NC, 10 WT, 11 WB, with RW-allocate hints (QEMU).</summary>
    private static byte S2AttrToMair(int memAttr, bool hcrCd)
    {
        if ((memAttr & 0xC) == 0)
        {
            return (byte)((memAttr & 3) << 2);
        }
        static int Nibble(int two) => two switch { 1 => 0x4, 2 => 0xB, _ => 0xF };
        int outer = (memAttr >> 2) & 3, inner = memAttr & 3;
        if (hcrCd)
        {
            outer = inner = 1;
        }
        return (byte)((Nibble(outer) << 4) | Nibble(inner));
    }

    /// <summary>Combining stage 1 and stage 2 (Arm ARM "Combining the stage 1 and stage 2 attributes", FWB=0).</summary>
    private static byte CombineAttrs(byte s1, byte s2)
    {
        bool d1 = (s1 & 0xF0) == 0, d2 = (s2 & 0xF0) == 0;
        if (d1 || d2)
        {
            // Device wins; of two Device types the more restrictive (lower dd) wins.
            int t1 = d1 ? (s1 >> 2) & 3 : 3;
            int t2 = d2 ? (s2 >> 2) & 3 : 3;
            return (byte)(Math.Min(t1, t2) << 2);
        }
        static int Cache(int a, int b)
        {
            if (a == 0x4 || b == 0x4)
            {
                return 0x4; // Non-cacheable
            }
            bool aWt = (a >> 2) == 0b00 || (a >> 2) == 0b10;
            if (aWt)
            {
                return a; // stage-1 write-through
            }
            if ((b >> 2) == 0b10)
            {
                return 0b1000 | (a & 3); // stage-2 write-through, stage-1 allocation hints
            }
            return a;
        }
        return (byte)((Cache(s1 >> 4, s2 >> 4) << 4) | Cache(s1 & 0xF, s2 & 0xF));
    }

    /// <summary>Outer beats inner beats non-shareable (QEMU 7.2 reports this even for Device/NC).</summary>
    /// <summary>Combined shareability: OS beats IS beats NS; a Device or Normal iNC-oNC result is OS.</summary>
    private static int CombineSh(int a, int b, int attr) =>
        (attr & 0xF0) == 0 || attr == 0x44 || a == 2 || b == 2 ? 2 : a == 3 || b == 3 ? 3 : 0;

    // ================================================================ registers reported

    /// <summary>The long-descriptor FSC, written out per type and level.</summary>
    public static int Fsc(FaultType t, int level) => (t, level) switch
    {
        (FaultType.AddressSize, -1) => 0x29,
        (FaultType.AddressSize, _) => 0x00 + level,
        (FaultType.Translation, -1) => 0x2B,
        (FaultType.Translation, _) => 0x04 + level,
        (FaultType.AccessFlag, _) => 0x08 + level,
        (FaultType.Permission, _) => 0x0C + level,
        (FaultType.ExternalWalk, -1) => 0x13,
        (FaultType.ExternalWalk, _) => 0x14 + level,
        (FaultType.Alignment, _) => 0x21,
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };

    /// <summary>PAR_EL1 (64-bit format) for an AT: PA, ATTR, SH, NS=1 and RES1 bit 11 on success; F, FST, PTW, S on failure.</summary>
    public static ulong Par(in RefResult r) => r.Faulted
        ? 1UL | ((ulong)(uint)Fsc(r.Type, r.Level) << 1) | (r.S1Ptw ? 1UL << 8 : 0) | (r.Stage == 2 ? 1UL << 9 : 0) | (1UL << 11)
        : (r.Pa & 0x000F_FFFF_FFFF_F000) | ((ulong)r.Attr << 56) | (ParSh(r.Attr, r.Sh) << 7) | (1UL << 9) | (1UL << 11);

    /// <summary>PAR_EL1.SH: 0b10 for Device and for Normal Inner and Outer Non-cacheable memory (the field's description), else the SH.</summary>
    private static ulong ParSh(byte attr, int sh) => (attr >> 4) == 0 || attr == 0x44 ? 0b10UL : (ulong)(uint)(sh & 3);

    /// <summary>
    /// Where a fault is taken (Arm ARM D1.3, HCR_EL2): stage 2, the EL2 regime, EL0 with TGE, or an external abort on a
    /// walk with TEA go to EL2; the rest to EL1. The ESR: EC data/instruction abort, lower/same EL; IL; S1PTW; WnR = the
    /// access direction; FSC.
    /// </summary>
    public (int TargetEl, ulong Esr) Route(in RefResult r, int el, AccessType acc)
    {
        ulong hcr = Reg(SysReg.HCR_EL2);
        int target = r.Stage == 2 || el == 2 || (el == 0 && Bit(hcr, 27)) || (r.Type == FaultType.ExternalWalk && Bit(hcr, 37)) ? 2 : 1;
        bool lower = el < target;
        ulong ec = acc == AccessType.Fetch ? (lower ? 0x20UL : 0x21UL) : (lower ? 0x24UL : 0x25UL);
        ulong iss = (ulong)(uint)Fsc(r.Type, r.Level) | (r.S1Ptw ? 0x80UL : 0) | (acc == AccessType.Write ? 0x40UL : 0);
        return (target, (ec << 26) | (1UL << 25) | iss);
    }
}
