using MmuSim.Addressing;
using MmuSim.Bits;
using MmuSim.Registers;
using MmuSim.Translation;

namespace MmuSim.Hypervisor;

/// <summary>
/// The stage-2 layout a jailhouse-style hypervisor derives from ID_AA64MMFR0_EL1.PARange: the IPA space is as
/// large as the PA space (T0SZ = 64 − PA bits), PS is the PARange encoding, and the walk starts at the level that
/// needs the fewest lookups with at most 16 concatenated root tables (Arm ARM D8.2.x "Concatenated translation
/// tables for the initial stage 2 lookup"; jailhouse arm64: start at L1 with concatenation below 44 bits, L0
/// from 44 bits, for the 4K granule).
/// </summary>
public readonly record struct Stage2Geometry(
    Granule Granule,
    int PaRange,
    int PaBits,
    int IpaBits,
    int Ps,
    int StartLevel,
    int Sl0,
    int ConcatenatedTables)
{
    /// <summary>VTCR_EL2.T0SZ.</summary>
    public int T0Sz => 64 - IpaBits;

    /// <summary>Bytes of the (concatenated) root table: VTTBR_EL2.BADDR must be aligned to this.</summary>
    public ulong RootBytes => 8UL << (IpaBits - TranslationGeometry.LevelShift(Granule, StartLevel));

    /// <summary>The output-address bits a descriptor can hold: 48, or 52 with 64K and FEAT_LPA.</summary>
    public int MaxOaBits => Granule == Granule.K64 && PaBits >= 52 ? 52 : 48;

    /// <summary>TG0 encoding shared by TCR_ELx.TG0 and VTCR_EL2.TG0: 00 = 4K, 01 = 64K, 10 = 16K.</summary>
    public static int Tg0(Granule g) => g switch { Granule.K4 => 0, Granule.K64 => 1, _ => 2 };

    /// <summary>VTCR_EL2.SL0 for a start level: 4K 2→00, 1→01, 0→10; 16K and 64K 3→00, 2→01, 1→10.</summary>
    public static int EncodeSl0(Granule g, int startLevel) => g == Granule.K4 ? 2 - startLevel : 3 - startLevel;

    /// <summary>The PARange / (I)PS encoding of a size in bits.</summary>
    public static int EncodePs(int bits) => bits switch
    {
        32 => 0,
        36 => 1,
        40 => 2,
        42 => 3,
        44 => 4,
        48 => 5,
        _ => 6,
    };

    /// <summary>
    /// Derives the layout. Fails (returns a reason) when the CPU does not implement the granule at stage 2.
    /// 52-bit PAs need FEAT_LPA2 (DS=1, not modelled) with 4K and 16K, so the IPA and PS stop at 48 bits there.
    /// </summary>
    public static Stage2Geometry Derive(Granule g, Mmfr0 mmfr0, out string? error)
    {
        error = null;
        if (!mmfr0.Stage2(g).Implemented)
        {
            error = $"the CPU does not implement the {TranslationGeometry.Name(g)} granule at stage 2 "
                + $"(ID_AA64MMFR0_EL1 0x{mmfr0.Value:x}: TGran4_2={mmfr0.TGran4_2}, TGran16_2={mmfr0.TGran16_2}, TGran64_2={mmfr0.TGran64_2})";
        }
        int paBits = mmfr0.PaMax;
        int ipaBits = g != Granule.K64 ? Math.Min(paBits, 48) : paBits;
        int stride = TranslationGeometry.Stride(g);
        // Fewest levels such that the first lookup resolves at most stride + 4 bits (16 concatenated tables):
        // levels = ceil((ipa − 4 − g) / stride), as KVM's stage2_pgtable_levels(ipa) = HW_PGTABLE_LEVELS(ipa − 4).
        int levels = (ipaBits - 4 - (int)g + stride - 1) / stride;
        int start = 4 - levels;
        int firstBits = ipaBits - TranslationGeometry.LevelShift(g, start);
        int concat = firstBits > stride ? 1 << (firstBits - stride) : 1;
        var geo = new Stage2Geometry(g, mmfr0.PaRange, paBits, ipaBits, EncodePs(ipaBits), start, EncodeSl0(g, start), concat);
        if (error is null && !WalkParamsBuilder.Stage2LevelConsistent(g, start, ipaBits, Math.Min(paBits, geo.MaxOaBits)))
        {
            error = $"no consistent stage-2 start level for a {ipaBits}-bit IPA with the {TranslationGeometry.Name(g)} granule";
        }
        return geo;
    }

    /// <summary>
    /// The layout jailhouse's arm64 code uses (docs/cells.md, "`--jailhouse-tables`", cites its sources): the 4K granule only, the PA size
    /// of PARange capped at 48 bits (get_cpu_parange), T0SZ = 64 − PA bits, the walk starting at level 0 from 44
    /// bits (SL0_CELL) and at level 1 below, with 2^(PA bits − 39) concatenated level-1 tables between 40 and 43
    /// bits (CELL_ROOT_PT_PAGES) and a single level-1 table up to 39 bits.
    /// </summary>
    public static Stage2Geometry DeriveJailhouse(Mmfr0 mmfr0, out string? error)
    {
        error = null;
        if (!mmfr0.Stage2(Granule.K4).Implemented)
        {
            error = $"jailhouse's stage-2 tables use the 4K granule, which the CPU does not implement at stage 2 (ID_AA64MMFR0_EL1 0x{mmfr0.Value:x})";
        }
        int paBits = Math.Min(mmfr0.PaMax, 48);
        int start = paBits >= 44 ? 0 : 1;
        int concat = paBits > 39 && paBits < 44 ? 1 << (paBits - 39) : 1;
        var geo = new Stage2Geometry(Granule.K4, mmfr0.PaRange, paBits, paBits, EncodePs(paBits), start, EncodeSl0(Granule.K4, start), concat);
        if (error is null && !WalkParamsBuilder.Stage2LevelConsistent(Granule.K4, start, paBits, paBits))
        {
            error = $"jailhouse's stage-2 layout (start level {start}, {paBits}-bit IPA) is not a consistent VTCR_EL2 for this CPU";
        }
        return geo;
    }

    /// <summary>
    /// VTCR_EL2: T0SZ [5:0], SL0 [7:6], IRGN0 [9:8] = ORGN0 [11:10] = 01 (write-back, write-allocate table walks),
    /// SH0 [13:12] = 11 (inner shareable), TG0 [15:14], PS [18:16], VS [19] for 16-bit VMIDs, HA [21], RES1 [31].
    /// </summary>
    public ulong Vtcr(bool vmid16, bool hardwareAf) =>
        (uint)T0Sz | ((ulong)(uint)Sl0 << 6) | (1UL << 8) | (1UL << 10) | (3UL << 12) | ((ulong)(uint)Tg0(Granule) << 14)
        | ((ulong)(uint)Ps << 16) | (vmid16 ? 1UL << 19 : 0) | (hardwareAf ? 1UL << 21 : 0) | (1UL << 31);
}

/// <summary>
/// The hypervisor's own EL2 (E2H=0) stage-1 layout: one VA range large enough for the PA space (identity map)
/// and for hypervisor_memory's virt_start; PS = PARange.
/// </summary>
public readonly record struct El2Geometry(Granule Granule, int VaBits, int StartLevel, int Ps)
{
    public int T0Sz => 64 - VaBits;

    /// <summary>
    /// TCR_EL2 (E2H=0): T0SZ [5:0], IRGN0/ORGN0 = 01, SH0 = 11, TG0 [15:14], PS [18:16], RES1 [23] and [31].
    /// </summary>
    public ulong Tcr =>
        (uint)T0Sz | (1UL << 8) | (1UL << 10) | (3UL << 12) | ((ulong)(uint)Stage2Geometry.Tg0(Granule) << 14)
        | ((ulong)(uint)Ps << 16) | (1UL << 23) | (1UL << 31);

    /// <summary>MAIR_EL2: Attr0 = 0xFF Normal write-back RW-allocate, Attr1 = 0x04 Device-nGnRE.</summary>
    public const ulong Mair = 0x04FF;
    public const int AttrNormal = 0;
    public const int AttrDevice = 1;

    /// <summary>SCTLR_EL2 (E2H=0): the RES1 bits, M [0], C [2], I [12].</summary>
    public const ulong Sctlr = Registers.Sctlr.El2Res1 | 1UL | (1UL << 2) | (1UL << 12);

    public static El2Geometry Derive(Granule g, Mmfr0 mmfr0, Mmfr2 mmfr2, ulong highestVa, out string? error)
    {
        error = null;
        if (!mmfr0.Stage1(g).Implemented)
        {
            error = $"the CPU does not implement the {TranslationGeometry.Name(g)} granule at stage 1 (ID_AA64MMFR0_EL1 0x{mmfr0.Value:x})";
        }
        int paBits = mmfr0.PaMax;
        int maxVa = g == Granule.K64 && mmfr2.VaRange >= 1 ? 52 : 48;
        int oaBits = g != Granule.K64 ? Math.Min(paBits, 48) : paBits;
        int needed = highestVa == 0 ? 1 : 64 - System.Numerics.BitOperations.LeadingZeroCount(highestVa);
        int vaBits = Math.Max(Math.Min(paBits, maxVa), needed);
        // Without FEAT_TTST T0SZ may not exceed 39, so the VA range is at least 25 bits.
        vaBits = Math.Max(vaBits, mmfr2.St >= 1 ? 16 : 25);
        if (vaBits > maxVa && error is null)
        {
            error = $"the hypervisor's VA 0x{highestVa:x} needs {needed} bits, more than the {maxVa}-bit EL2 VA range";
            vaBits = maxVa;
        }
        int start = TranslationGeometry.Stage1StartLevel(g, vaBits);
        return new El2Geometry(g, vaBits, start, Stage2Geometry.EncodePs(oaBits));
    }

    /// <summary>The first table's size in bytes (TTBR0_EL2 alignment).</summary>
    public ulong RootBytes => 8UL << (VaBits - TranslationGeometry.LevelShift(Granule, StartLevel));

    /// <summary>Whether <paramref name="va"/> fits the VA range.</summary>
    public bool Covers(ulong va) => !BitOps.AnyAbove(va, VaBits);
}
