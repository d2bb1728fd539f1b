using System.Text;
using MmuSim.Addressing;
using MmuSim.Bits;

namespace MmuSim.Translation;

/// <summary>Decodes a descriptor's fields into words for `explain` (Arm ARM D8.3, field names as there).</summary>
public static class DescriptorText
{
    public static string Describe(ulong desc, int stage, int level, in WalkParams p)
    {
        if ((desc & 1) == 0)
        {
            return "invalid (bit[0]=0)";
        }
        bool isTable = (desc & 2) != 0;
        if (level == 3 && !isTable)
        {
            return "reserved (bits[1:0]=01 at level 3)";
        }
        ulong addr = Mmu.DescriptorAddress(desc, in p);
        var sb = new StringBuilder();
        if (isTable && level < 3)
        {
            sb.Append($"TABLE -> 0x{addr:x}");
            if (stage == 1)
            {
                sb.Append($"  APTable={BitOps.Field(desc, 62, 61)} {(p.TwoRanges ? "UXNTable" : "XNTable")}={BitOps.Field(desc, 60, 60)}");
                if (p.TwoRanges)
                {
                    sb.Append($" PXNTable={BitOps.Field(desc, 59, 59)}");
                }
                if (p.Hpd)
                {
                    sb.Append(" (ignored: HPD=1)");
                }
            }
        }
        else
        {
            int shift = TranslationGeometry.LevelShift(p.Granule, level);
            bool blockOk = level == 3 || TranslationGeometry.BlockAllowed(p.Granule, level, p.Ds, p.Lpa);
            sb.Append(level == 3 ? "PAGE" : blockOk ? "BLOCK" : "BLOCK (not allowed at this level)");
            sb.Append($" -> 0x{addr & ~BitOps.Mask(shift):x} ({SizeText(shift)})");
            sb.Append($"  AF={BitOps.Field(desc, 10, 10)}");
            if (stage == 1)
            {
                int ap = (int)BitOps.Field(desc, 7, 6);
                sb.Append($" AP[2:1]={ap}({ApText(ap, p.TwoRanges)})");
                if (p.TwoRanges)
                {
                    sb.Append($" UXN={BitOps.Field(desc, 54, 54)} PXN={BitOps.Field(desc, 53, 53)} nG={BitOps.Field(desc, 11, 11)}");
                }
                else
                {
                    sb.Append($" XN={BitOps.Field(desc, 54, 54)}");
                }
                sb.Append($" AttrIndx={BitOps.Field(desc, 4, 2)}");
            }
            else
            {
                int s2ap = (int)BitOps.Field(desc, 7, 6);
                sb.Append($" S2AP={s2ap}({(s2ap switch { 0 => "none", 1 => "RO", 2 => "WO", _ => "RW" })}) XN[1:0]={BitOps.Field(desc, 54, 53)}");
                sb.Append($" MemAttr=0x{BitOps.Field(desc, 5, 2):x}({Attributes.Describe(Attributes.FromStage2((int)BitOps.Field(desc, 5, 2), false))})");
            }
            if (!p.Ds)
            {
                sb.Append($" SH={BitOps.Field(desc, 9, 8)}");
            }
            sb.Append($" Contiguous={BitOps.Field(desc, 52, 52)} DBM={BitOps.Field(desc, 51, 51)}");
        }
        return sb.ToString();
    }

    private static string ApText(int ap, bool twoRanges) => twoRanges
        ? ap switch { 0 => "EL1 RW, EL0 none", 1 => "EL1 RW, EL0 RW", 2 => "EL1 RO, EL0 none", _ => "EL1 RO, EL0 RO" }
        : (ap & 2) == 0 ? "RW" : "RO";

    public static string SizeText(int shift) => shift switch
    {
        >= 40 => $"{1UL << (shift - 40)} TiB",
        >= 30 => $"{1UL << (shift - 30)} GiB",
        >= 20 => $"{1UL << (shift - 20)} MiB",
        _ => $"{1UL << (shift - 10)} KiB",
    };

    /// <summary>A one-line description of a stage's parameters.</summary>
    public static string Params(in WalkParams p)
    {
        if (p.ConfigFault)
        {
            return p.Stage == 1 ? "TxSZ out of range (every lookup is a level-0 translation fault)"
                : "T0SZ/SL0 invalid or inconsistent (every lookup is a level-0 translation fault)";
        }
        int tables = p.Stage == 2 ? 1 << Math.Max(0, p.FirstLevelBits - TranslationGeometry.Stride(p.Granule)) : 1;
        return $"{TranslationGeometry.Name(p.Granule)} granule, {p.InputSize}-bit input, start level {p.StartLevel}"
            + (tables > 1 ? $" ({tables} concatenated tables)" : "")
            + $", {p.OaSize}-bit output, table at 0x{p.TableBase:x}"
            + (p.Ds ? ", DS=1" : "") + (p.Ha ? (p.Hd ? ", HA+HD" : ", HA") : "");
    }
}
