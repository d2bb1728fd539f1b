using MmuSim.Addressing;
using MmuSim.Bits;

namespace MmuSim.Caching;

/// <summary>The TLBI operations of the trace format.</summary>
/// <remarks>
/// The values are the binary trace format's TLBI codes (docs/binary-format.md): never renumber. Bits [5:0] name the
/// operation, bits [7:6] its shareability (<see cref="TlbiShareability"/>): the IS form of an operation is its code
/// + 64, the OS form + 128.
/// </remarks>
public enum TlbiOp : byte
{
    VMALLE1 = 0,
    VMALLS12E1 = 1,
    ALLE1 = 2,
    ALLE2 = 3,
    VAE1 = 4,
    VALE1 = 5,
    VAAE1 = 6,
    VAALE1 = 7,
    ASIDE1 = 8,
    IPAS2E1 = 9,
    IPAS2LE1 = 10,
    VAE2 = 11,
    VALE2 = 12,

    // FEAT_TLBIRANGE
    RVAE1 = 13,
    RVAAE1 = 14,
    RVALE1 = 15,
    RVAALE1 = 16,
    RIPAS2E1 = 17,
    RIPAS2LE1 = 18,
    RVAE2 = 19,
    RVALE2 = 20,

    // Inner Shareable: code + 64
    VMALLE1IS = 64,
    VMALLS12E1IS = 65,
    ALLE1IS = 66,
    ALLE2IS = 67,
    VAE1IS = 68,
    VALE1IS = 69,
    VAAE1IS = 70,
    VAALE1IS = 71,
    ASIDE1IS = 72,
    IPAS2E1IS = 73,
    IPAS2LE1IS = 74,
    VAE2IS = 75,
    VALE2IS = 76,
    RVAE1IS = 77,
    RVAAE1IS = 78,
    RVALE1IS = 79,
    RVAALE1IS = 80,
    RIPAS2E1IS = 81,
    RIPAS2LE1IS = 82,
    RVAE2IS = 83,
    RVALE2IS = 84,

    // Outer Shareable (FEAT_TLBIOS): code + 128
    VMALLE1OS = 128,
    VMALLS12E1OS = 129,
    ALLE1OS = 130,
    ALLE2OS = 131,
    VAE1OS = 132,
    VALE1OS = 133,
    VAAE1OS = 134,
    VAALE1OS = 135,
    ASIDE1OS = 136,
    IPAS2E1OS = 137,
    IPAS2LE1OS = 138,
    VAE2OS = 139,
    VALE2OS = 140,
    RVAE1OS = 141,
    RVAAE1OS = 142,
    RVALE1OS = 143,
    RVAALE1OS = 144,
    RIPAS2E1OS = 145,
    RIPAS2LE1OS = 146,
    RVAE2OS = 147,
    RVALE2OS = 148,
}

/// <summary>
/// The shareability domain a TLBI names (its suffix): none acts on the issuing PE, IS and OS on every PE of that
/// domain. On one PE every form acts as the local one; the domain stays on the operation for the PEs to come.
/// </summary>
public enum TlbiShareability : byte
{
    NonShareable = 0,
    InnerShareable = 1,
    OuterShareable = 2,
}

/// <summary>What the code of a <see cref="TlbiOp"/> says beyond its name.</summary>
public static class TlbiOps
{
    /// <summary>The operation without its shareability suffix (VAE1IS → VAE1).</summary>
    public static TlbiOp Local(this TlbiOp op) => (TlbiOp)((byte)op & 63);

    /// <summary>The shareability domain of the operation (its IS/OS suffix).</summary>
    public static TlbiShareability Shareability(this TlbiOp op) => (TlbiShareability)((byte)op >> 6);

    /// <summary>A FEAT_TLBIRANGE operation (RVAE1 ... RVALE2, any suffix).</summary>
    public static bool IsRange(this TlbiOp op) => op.Local() is >= TlbiOp.RVAE1 and <= TlbiOp.RVALE2;

    /// <summary>An operation by IPA (IPAS2E1, IPAS2LE1 and their range forms).</summary>
    public static bool ByIpa(this TlbiOp op) => op.Local() is TlbiOp.IPAS2E1 or TlbiOp.IPAS2LE1 or TlbiOp.RIPAS2E1 or TlbiOp.RIPAS2LE1;

    /// <summary>An operation by VA (VAE1 ... VALE2 and their range forms).</summary>
    public static bool ByVa(this TlbiOp op) => op.Local() is TlbiOp.VAE1 or TlbiOp.VALE1 or TlbiOp.VAAE1 or TlbiOp.VAALE1
        or TlbiOp.VAE2 or TlbiOp.VALE2 or TlbiOp.RVAE1 or TlbiOp.RVAAE1 or TlbiOp.RVALE1 or TlbiOp.RVAALE1 or TlbiOp.RVAE2 or TlbiOp.RVALE2;
}

/// <summary>
/// A TLBI with its register operand decoded (Arm ARM, TLBI instructions; FEAT_TLBIRANGE, FEAT_TTL): the addresses it
/// names as an inclusive range (one address for a non-range operation), the ASID in XT[63:48], and the level hint.
/// <para>Non-range VA forms: VA[55:12] in XT[43:0]; IPA forms: IPA[51:12] in XT[39:0]; TTL in XT[47:44] (granule
/// [47:46], 0b00 = no hint, 0b01 4K, 0b10 16K, 0b11 64K; level [45:44]).</para>
/// <para>Range forms: TG [47:46], SCALE [45:44], NUM [43:39], TTL [38:37] (0 = no hint, else the level), BaseADDR
/// [36:0]. The range is (NUM+1) × 2^(5×SCALE+1) pages of the TG granule from BaseADDR × granule, or BaseADDR × 64 KiB
/// when the regime has TCR.DS=1 (the LPA2 form); for a VA of a two-range regime BaseADDR is sign-extended from bit
/// 36 (the upper range). TG 0b00 is reserved: the operation then names no address.</para>
/// </summary>
public readonly struct TlbiOperation
{
    public TlbiOp Op { get; init; }

    /// <summary>The operation without its suffix: what it does on one PE.</summary>
    public TlbiOp Local => Op.Local();

    public TlbiShareability Shareability => Op.Shareability();

    /// <summary>The register operand as given.</summary>
    public ulong Xt { get; init; }

    /// <summary>XT[63:48] on the implementation's ASID bits (meaningful for the operations that take an ASID).</summary>
    public ushort Asid { get; init; }

    /// <summary>First address named (VA[55:0] with the top byte cleared, as TLB entries hold it, or an IPA).</summary>
    public ulong First { get; init; }

    /// <summary>Last address named (inclusive); below <see cref="First"/> when the operation names none.</summary>
    public ulong Last { get; init; }

    /// <summary>Whether the operation names any address (a range with a reserved TG names none).</summary>
    public bool NamesAddresses => Last >= First;

    /// <summary>The TTL hint's granule (non-range forms), null when there is no hint or for a range form.</summary>
    public Granule? TtlGranule { get; init; }

    /// <summary>The TTL hint's level; −1 when there is no hint.</summary>
    public int TtlLevel { get; init; }

    public bool HasTtl => TtlLevel >= 0;

    /// <summary>A range form's TG granule (null for TG 0b00 or a non-range form).</summary>
    public Granule? RangeGranule { get; init; }

    /// <summary>TG encoding of the range and TTL fields: 0b01 4K, 0b10 16K, 0b11 64K, 0b00 none.</summary>
    public static Granule? DecodeTg(int tg) => tg switch { 1 => Granule.K4, 2 => Granule.K16, 3 => Granule.K64, _ => null };

    /// <summary>
    /// Decodes <paramref name="xt"/> for <paramref name="op"/>. <paramref name="lpa2"/>: the regime the operation
    /// addresses has TCR.DS=1 (VTCR_EL2.DS for the IPA forms), so a range's BaseADDR counts 64 KiB units;
    /// <paramref name="twoRanges"/>: that regime has two VA ranges, so a VA range's BaseADDR is sign-extended.
    /// </summary>
    public static TlbiOperation Decode(TlbiOp op, ulong xt, ushort asidMask, bool lpa2, bool twoRanges)
    {
        var local = op.Local();
        ushort asid = (ushort)((xt >> 48) & asidMask);
        if (!op.IsRange())
        {
            ulong address = op.ByIpa()
                ? (xt & BitOps.Mask(39, 0)) << 12   // XT[39:0] = IPA[51:12]
                : (xt & BitOps.Mask(43, 0)) << 12;  // XT[43:0] = VA[55:12]
            var ttlGranule = op.ByIpa() || op.ByVa() ? DecodeTg((int)BitOps.Field(xt, 47, 46)) : null;
            return new TlbiOperation
            {
                Op = op,
                Xt = xt,
                Asid = asid,
                First = address,
                Last = address,
                TtlGranule = ttlGranule,
                TtlLevel = ttlGranule is null ? -1 : (int)BitOps.Field(xt, 45, 44),
            };
        }
        var granule = DecodeTg((int)BitOps.Field(xt, 47, 46));
        int ttl = (int)BitOps.Field(xt, 38, 37);
        var result = new TlbiOperation
        {
            Op = op,
            Xt = xt,
            Asid = asid,
            RangeGranule = granule,
            TtlLevel = ttl == 0 ? -1 : ttl,
            First = 1,
            Last = 0,
        };
        if (granule is not { } g)
        {
            return result; // TG reserved: no address
        }
        int scale = (int)BitOps.Field(xt, 45, 44);
        ulong num = BitOps.Field(xt, 43, 39);
        ulong length = (num + 1) << (5 * scale + 1 + (int)g);
        ulong baseAddr = xt & BitOps.Mask(36, 0);
        bool byVa = local != TlbiOp.RIPAS2E1 && local != TlbiOp.RIPAS2LE1;
        if (byVa && twoRanges && BitOps.Bit(baseAddr, 36))
        {
            baseAddr |= ~BitOps.Mask(36, 0);
        }
        ulong first = baseAddr << (lpa2 ? 16 : (int)g);
        if (byVa)
        {
            first &= BitOps.Mask(55, 0);
        }
        return result with { First = first, Last = first + (length - 1) };
    }
}
