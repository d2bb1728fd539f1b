using MmuSim.Bits;

namespace MmuSim.Registers;

/// <summary>The system registers the trace format can write (spec: `reg NAME VALUE`).</summary>
/// <remarks>The values are the binary trace format's register codes (docs/binary-format.md): never renumber.</remarks>
public enum SysReg : byte
{
    SCTLR_EL1 = 0,
    SCTLR_EL2 = 1,
    TCR_EL1 = 2,
    TCR_EL2 = 3,
    TTBR0_EL1 = 4,
    TTBR1_EL1 = 5,
    TTBR0_EL2 = 6,
    MAIR_EL1 = 7,
    MAIR_EL2 = 8,
    HCR_EL2 = 9,
    VTCR_EL2 = 10,
    VTTBR_EL2 = 11,
    ID_AA64MMFR0_EL1 = 12,
    ID_AA64MMFR1_EL1 = 13,
    ID_AA64MMFR2_EL1 = 14,
    /// <summary>FEAT_VHE: the upper VA range's table base and ASID of the EL2&amp;0 regime.</summary>
    TTBR1_EL2 = 15,
    /// <summary>
    /// The other ID registers whose fields describe translation features (carried so a setup records the
    /// implementation it came from; the model reads only MMFR0–2): MMFR3 (FEAT_TCR2, FEAT_S1PIE/S2PIE, FEAT_S1POE,
    /// FEAT_AIE, FEAT_D128...), PFR0 (EL2 implemented, FEAT_RME), PFR1 (FEAT_BTI's GP bit, FEAT_MTE's Tagged memory
    /// type, FEAT_GCS), ISAR0 (TLB: FEAT_TLBIOS, FEAT_TLBIRANGE), ISAR1 (XS: FEAT_XS's TLBI nXS and XS attribute).
    /// </summary>
    ID_AA64MMFR3_EL1 = 16,
    ID_AA64PFR0_EL1 = 17,
    ID_AA64PFR1_EL1 = 18,
    ID_AA64ISAR0_EL1 = 19,
    ID_AA64ISAR1_EL1 = 20,
}

/// <summary>
/// The register file. Every write bumps <see cref="Generation"/> so that translation contexts built
/// from registers (regime snapshots) know when to rebuild; the walker never reads live registers.
/// </summary>
public sealed class SystemRegisters
{
    public const int Count = (int)SysReg.ID_AA64ISAR1_EL1 + 1;

    /// <summary>ID_AA64MMFR0_EL1 of QEMU 7.2 `-cpu max`: PARange 52, 16-bit ASID, all granules (with LPA2).</summary>
    public const ulong QemuMaxMmfr0 = 0x0000_0323_1020_1126;

    /// <summary>ID_AA64MMFR1_EL1 as the QEMU-checked corpus declares it: HAFDBS=2 (AF and dirty), 16-bit VMID.</summary>
    public const ulong QemuMaxMmfr1 = 0x0000_0110_1021_1122;

    /// <summary>ID_AA64MMFR2_EL1 of QEMU `-cpu max`: TTST, LVA, E0PD, BBM, TTL, FWB.</summary>
    public const ulong QemuMaxMmfr2 = 0x1021_0110_1001_1011;

    private readonly ulong[] _values = new ulong[Count];

    public SystemRegisters() => Reset();

    /// <summary>Incremented on every write.</summary>
    public uint Generation { get; private set; }

    public ulong this[SysReg r]
    {
        get => _values[(int)r];
        set
        {
            _values[(int)r] = value;
            Generation++;
        }
    }

    /// <summary>Architectural reset values for the registers that matter (MMUs off, EL1 AArch64).</summary>
    public void Reset()
    {
        Array.Clear(_values);
        _values[(int)SysReg.SCTLR_EL2] = Sctlr.El2Res1;
        _values[(int)SysReg.HCR_EL2] = 1UL << 31; // RW: EL1 is AArch64
        _values[(int)SysReg.ID_AA64MMFR0_EL1] = QemuMaxMmfr0;
        _values[(int)SysReg.ID_AA64MMFR1_EL1] = QemuMaxMmfr1;
        _values[(int)SysReg.ID_AA64MMFR2_EL1] = QemuMaxMmfr2;
        Generation++;
    }

    /// <summary>
    /// An ID register (ID_AA64MMFR0..3_EL1, ID_AA64PFR0/1_EL1, ID_AA64ISAR0/1_EL1): it describes the implementation,
    /// which every PE of a system shares, so a write of one sets it on every PE.
    /// </summary>
    public static bool IsIdRegister(SysReg reg) => reg is SysReg.ID_AA64MMFR0_EL1 or SysReg.ID_AA64MMFR1_EL1 or SysReg.ID_AA64MMFR2_EL1
        or SysReg.ID_AA64MMFR3_EL1 or SysReg.ID_AA64PFR0_EL1 or SysReg.ID_AA64PFR1_EL1 or SysReg.ID_AA64ISAR0_EL1 or SysReg.ID_AA64ISAR1_EL1;

    /// <summary>Every ID register (<see cref="IsIdRegister"/>).</summary>
    public static readonly SysReg[] IdRegisters =
    [
        SysReg.ID_AA64MMFR0_EL1, SysReg.ID_AA64MMFR1_EL1, SysReg.ID_AA64MMFR2_EL1, SysReg.ID_AA64MMFR3_EL1,
        SysReg.ID_AA64PFR0_EL1, SysReg.ID_AA64PFR1_EL1, SysReg.ID_AA64ISAR0_EL1, SysReg.ID_AA64ISAR1_EL1,
    ];

    /// <summary>Looks a register name up, case-insensitively.</summary>
    public static bool TryParseName(ReadOnlySpan<char> name, out SysReg reg)
    {
        return Enum.TryParse(name, ignoreCase: true, out reg) && Enum.IsDefined(reg) && !char.IsDigit(name[0]);
    }

    public Sctlr SctlrEl1 => new(this[SysReg.SCTLR_EL1]);
    public Sctlr SctlrEl2 => new(this[SysReg.SCTLR_EL2]);
    public Tcr TcrEl1 => new(this[SysReg.TCR_EL1]);
    public TcrEl2 TcrEl2 => new(this[SysReg.TCR_EL2]);
    public Vtcr Vtcr => new(this[SysReg.VTCR_EL2]);
    public Hcr Hcr => new(this[SysReg.HCR_EL2]);
    public Mmfr0 Mmfr0 => new(this[SysReg.ID_AA64MMFR0_EL1]);
    public Mmfr1 Mmfr1 => new(this[SysReg.ID_AA64MMFR1_EL1]);
    public Mmfr2 Mmfr2 => new(this[SysReg.ID_AA64MMFR2_EL1]);
}

/// <summary>SCTLR_EL1 / SCTLR_EL2 (E2H=0) fields that affect translation.</summary>
public readonly record struct Sctlr(ulong Value)
{
    /// <summary>RES1 bits of SCTLR_EL2 with E2H=0.</summary>
    public const ulong El2Res1 = 0x30C5_0830;

    /// <summary>[0] stage-1 MMU enable.</summary>
    public bool M => BitOps.Bit(Value, 0);
    /// <summary>[1] alignment check.</summary>
    public bool A => BitOps.Bit(Value, 1);
    /// <summary>[2] data cacheability.</summary>
    public bool C => BitOps.Bit(Value, 2);
    /// <summary>[12] instruction cacheability.</summary>
    public bool I => BitOps.Bit(Value, 12);
    /// <summary>[19] write implies execute-never.</summary>
    public bool Wxn => BitOps.Bit(Value, 19);
    /// <summary>[25] big-endian walks and EL1/EL2 data.</summary>
    public bool Ee => BitOps.Bit(Value, 25);
}

/// <summary>TCR_EL1 (two VA ranges).</summary>
public readonly record struct Tcr(ulong Value)
{
    /// <summary>[5:0]</summary>
    public int T0Sz => (int)BitOps.Field(Value, 5, 0);
    /// <summary>[7]</summary>
    public bool Epd0 => BitOps.Bit(Value, 7);
    /// <summary>[13:12]</summary>
    public int Sh0 => (int)BitOps.Field(Value, 13, 12);
    /// <summary>[15:14] 00=4K, 01=64K, 10=16K.</summary>
    public int Tg0 => (int)BitOps.Field(Value, 15, 14);
    /// <summary>[21:16]</summary>
    public int T1Sz => (int)BitOps.Field(Value, 21, 16);
    /// <summary>[22] ASID from TTBR1 when set.</summary>
    public bool A1 => BitOps.Bit(Value, 22);
    /// <summary>[23]</summary>
    public bool Epd1 => BitOps.Bit(Value, 23);
    /// <summary>[29:28]</summary>
    public int Sh1 => (int)BitOps.Field(Value, 29, 28);
    /// <summary>[31:30] 01=16K, 10=4K, 11=64K (not the TG0 encoding).</summary>
    public int Tg1 => (int)BitOps.Field(Value, 31, 30);
    /// <summary>[34:32]</summary>
    public int Ips => (int)BitOps.Field(Value, 34, 32);
    /// <summary>[36] 16-bit ASIDs.</summary>
    public bool As => BitOps.Bit(Value, 36);
    /// <summary>[37]</summary>
    public bool Tbi0 => BitOps.Bit(Value, 37);
    /// <summary>[38]</summary>
    public bool Tbi1 => BitOps.Bit(Value, 38);
    /// <summary>[39] hardware access-flag update.</summary>
    public bool Ha => BitOps.Bit(Value, 39);
    /// <summary>[40] hardware dirty-state update.</summary>
    public bool Hd => BitOps.Bit(Value, 40);
    /// <summary>[41]</summary>
    public bool Hpd0 => BitOps.Bit(Value, 41);
    /// <summary>[42]</summary>
    public bool Hpd1 => BitOps.Bit(Value, 42);
    /// <summary>[51]</summary>
    public bool Tbid0 => BitOps.Bit(Value, 51);
    /// <summary>[52]</summary>
    public bool Tbid1 => BitOps.Bit(Value, 52);
    /// <summary>[55]</summary>
    public bool E0Pd0 => BitOps.Bit(Value, 55);
    /// <summary>[56]</summary>
    public bool E0Pd1 => BitOps.Bit(Value, 56);
    /// <summary>[59] FEAT_LPA2.</summary>
    public bool Ds => BitOps.Bit(Value, 59);
}

/// <summary>TCR_EL2 with HCR_EL2.E2H=0 (one VA range).</summary>
public readonly record struct TcrEl2(ulong Value)
{
    /// <summary>[5:0]</summary>
    public int T0Sz => (int)BitOps.Field(Value, 5, 0);
    /// <summary>[13:12]</summary>
    public int Sh0 => (int)BitOps.Field(Value, 13, 12);
    /// <summary>[15:14]</summary>
    public int Tg0 => (int)BitOps.Field(Value, 15, 14);
    /// <summary>[18:16]</summary>
    public int Ps => (int)BitOps.Field(Value, 18, 16);
    /// <summary>[20]</summary>
    public bool Tbi => BitOps.Bit(Value, 20);
    /// <summary>[21]</summary>
    public bool Ha => BitOps.Bit(Value, 21);
    /// <summary>[22]</summary>
    public bool Hd => BitOps.Bit(Value, 22);
    /// <summary>[24]</summary>
    public bool Hpd => BitOps.Bit(Value, 24);
    /// <summary>[29]</summary>
    public bool Tbid => BitOps.Bit(Value, 29);
    /// <summary>[32]</summary>
    public bool Ds => BitOps.Bit(Value, 32);
}

/// <summary>VTCR_EL2.</summary>
public readonly record struct Vtcr(ulong Value)
{
    /// <summary>[5:0]</summary>
    public int T0Sz => (int)BitOps.Field(Value, 5, 0);
    /// <summary>[7:6] start level, meaning depends on TG0.</summary>
    public int Sl0 => (int)BitOps.Field(Value, 7, 6);
    /// <summary>[13:12]</summary>
    public int Sh0 => (int)BitOps.Field(Value, 13, 12);
    /// <summary>[15:14]</summary>
    public int Tg0 => (int)BitOps.Field(Value, 15, 14);
    /// <summary>[18:16]</summary>
    public int Ps => (int)BitOps.Field(Value, 18, 16);
    /// <summary>[19] 16-bit VMID.</summary>
    public bool Vs => BitOps.Bit(Value, 19);
    /// <summary>[21]</summary>
    public bool Ha => BitOps.Bit(Value, 21);
    /// <summary>[22]</summary>
    public bool Hd => BitOps.Bit(Value, 22);
    /// <summary>[32]</summary>
    public bool Ds => BitOps.Bit(Value, 32);
    /// <summary>[33]</summary>
    public bool Sl2 => BitOps.Bit(Value, 33);
}

/// <summary>HCR_EL2 fields that affect translation.</summary>
public readonly record struct Hcr(ulong Value)
{
    /// <summary>[0] stage 2 enable.</summary>
    public bool Vm => BitOps.Bit(Value, 0);
    /// <summary>[2] protected table walk.</summary>
    public bool Ptw => BitOps.Bit(Value, 2);
    /// <summary>[9] force broadcast: TLBIs of the E1 forms executed at EL1 act as their IS forms.</summary>
    public bool Fb => BitOps.Bit(Value, 9);
    /// <summary>[12] default cacheable.</summary>
    public bool Dc => BitOps.Bit(Value, 12);
    /// <summary>[27] trap general exceptions.</summary>
    public bool Tge => BitOps.Bit(Value, 27);
    /// <summary>[32] stage-2 cache disable.</summary>
    public bool Cd => BitOps.Bit(Value, 32);
    /// <summary>[34] VHE.</summary>
    public bool E2H => BitOps.Bit(Value, 34);
    /// <summary>[37] route external aborts to EL2.</summary>
    public bool Tea => BitOps.Bit(Value, 37);
    /// <summary>[46] forced write-back.</summary>
    public bool Fwb => BitOps.Bit(Value, 46);
}

/// <summary>ID_AA64MMFR0_EL1.</summary>
public readonly record struct Mmfr0(ulong Value)
{
    /// <summary>[3:0]</summary>
    public int PaRange => (int)BitOps.Field(Value, 3, 0);
    /// <summary>[7:4] 2 = 16-bit ASIDs.</summary>
    public int AsidBits => (int)BitOps.Field(Value, 7, 4);
    /// <summary>[23:20] 0 = not supported, 1 = supported, 2 = with 52-bit (LPA2).</summary>
    public int TGran16 => (int)BitOps.Field(Value, 23, 20);
    /// <summary>[27:24] 0 = supported, 0xF = not.</summary>
    public int TGran64 => (int)BitOps.Field(Value, 27, 24);
    /// <summary>[31:28] 0 = supported, 1 = with LPA2, 0xF = not.</summary>
    public int TGran4 => (int)BitOps.Field(Value, 31, 28);
    /// <summary>[35:32] 0 = as TGran16, 1 = no, 2 = yes, 3 = yes with LPA2.</summary>
    public int TGran16_2 => (int)BitOps.Field(Value, 35, 32);
    /// <summary>[39:36] 0 = as TGran64, 1 = no, 2 = yes.</summary>
    public int TGran64_2 => (int)BitOps.Field(Value, 39, 36);
    /// <summary>[43:40] 0 = as TGran4, 1 = no, 2 = yes, 3 = yes with LPA2.</summary>
    public int TGran4_2 => (int)BitOps.Field(Value, 43, 40);

    /// <summary>PAMax in bits: 32, 36, 40, 42, 44, 48, 52 (56 is clamped to 52: no FEAT_D128 here).</summary>
    public int PaMax => AddressSizes.Decode(PaRange);

    /// <summary>Stage-1 granule support: (implemented, LPA2 with it).</summary>
    public (bool Implemented, bool Lpa2) Stage1(Addressing.Granule g) => g switch
    {
        Addressing.Granule.K4 => (TGran4 != 0xF, TGran4 == 1),
        Addressing.Granule.K16 => (TGran16 != 0, TGran16 == 2),
        _ => (TGran64 != 0xF, false),
    };

    /// <summary>Stage-2 granule support, falling back to the stage-1 field when the _2 field is 0.</summary>
    public (bool Implemented, bool Lpa2) Stage2(Addressing.Granule g)
    {
        int f = g switch { Addressing.Granule.K4 => TGran4_2, Addressing.Granule.K16 => TGran16_2, _ => TGran64_2 };
        return f == 0 ? Stage1(g) : (f >= 2, f == 3);
    }
}

/// <summary>ID_AA64MMFR1_EL1.</summary>
public readonly record struct Mmfr1(ulong Value)
{
    /// <summary>[3:0] 0 none, 1 AF, 2 AF + dirty.</summary>
    public int Hafdbs => (int)BitOps.Field(Value, 3, 0);
    /// <summary>[7:4] 2 = 16-bit VMIDs.</summary>
    public int VmidBits => (int)BitOps.Field(Value, 7, 4);
    /// <summary>[15:12] 1 = FEAT_HPDS.</summary>
    public int Hpds => (int)BitOps.Field(Value, 15, 12);
    /// <summary>[31:28] 1 = stage-2 EL0/EL1 execute-never split (FEAT_XNX).</summary>
    public int Xnx => (int)BitOps.Field(Value, 31, 28);
    /// <summary>[39:36] ETS: 2 = FEAT_ETS2 (a DSB alone orders a PE's own earlier table stores before its later walks).</summary>
    public int Ets => (int)BitOps.Field(Value, 39, 36);
}

/// <summary>ID_AA64MMFR2_EL1.</summary>
public readonly record struct Mmfr2(ulong Value)
{
    /// <summary>[19:16] 1 = FEAT_LVA (52-bit VA with 64K).</summary>
    public int VaRange => (int)BitOps.Field(Value, 19, 16);
    /// <summary>[31:28] 1 = FEAT_TTST (small translation tables).</summary>
    public int St => (int)BitOps.Field(Value, 31, 28);
    /// <summary>[43:40] 1 = FEAT_S2FWB.</summary>
    public int Fwb => (int)BitOps.Field(Value, 43, 40);
    /// <summary>[55:52] BBM: FEAT_BBM level 0, 1 or 2 (changing block size without break-before-make).</summary>
    public int Bbm => (int)BitOps.Field(Value, 55, 52);
}

/// <summary>The (I)PS / PARange encoding of address sizes.</summary>
public static class AddressSizes
{
    /// <summary>000=32, 001=36, 010=40, 011=42, 100=44, 101=48, 110=52 bits; 111 (56) is treated as 52.</summary>
    public static int Decode(int encoding) => encoding switch
    {
        0 => 32,
        1 => 36,
        2 => 40,
        3 => 42,
        4 => 44,
        5 => 48,
        _ => 52,
    };
}
