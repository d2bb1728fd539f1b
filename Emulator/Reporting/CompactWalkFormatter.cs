using MmuSim.Addressing;
using MmuSim.Bits;
using MmuSim.Translation;

namespace MmuSim.Reporting;

/// <summary>
/// One short line per recorded walk step (Mmu.Record): stage, level, index, where the descriptor was, what it
/// held, decoded to its kind, output and the permission bits that matter; nested stage-2 lookups for a stage-1
/// descriptor are indented under it, hardware AF/dirty updates show old and new value. For listings of many
/// faults, where `explain`'s two lines per step are too much.
/// </summary>
public static class CompactWalkFormatter
{
    /// <param name="steps">The steps of one translation.</param>
    /// <param name="s1">Stage-1 parameters of the regime the access used.</param>
    /// <param name="s2">Stage-2 parameters.</param>
    /// <param name="s1On">Whether stage 1 was enabled (when not, a first line says the IPA is the VA).</param>
    /// <param name="s2On">Whether stage 2 was enabled (stage-1 descriptor addresses are then IPAs).</param>
    public static List<string> Format(ReadOnlySpan<WalkStep> steps, in WalkParams s1, in WalkParams s2, bool s1On, bool s2On)
    {
        var lines = new List<string>();
        if (!s1On)
        {
            lines.Add(s2On ? "S1 off: IPA = VA" : "S1 off: PA = VA");
        }
        // The walker records the stage-2 lookups made for a stage-1 descriptor before that descriptor's own step:
        // print the stage-1 read (or the hardware update whose write needed them) first and its nested lookups under
        // it. Walk-cache and IPA-cache lookups of the walk itself are steps of their own, in order.
        var nested = new List<string>();
        foreach (ref readonly var st in steps)
        {
            ref readonly WalkParams p = ref st.Stage == 1 ? ref s1 : ref s2;
            if (st.Nested)
            {
                nested.Add("    " + StepText(in st, in p, s2On));
                continue;
            }
            if (st.Stage == 1 && st.Kind == StepKind.Read)
            {
                lines.Add(StepText(in st, in p, s2On));
                lines.AddRange(nested);
                nested.Clear();
                continue;
            }
            if (st.Kind == StepKind.Update && nested.Count > 0)
            {
                // Stage-2 lookups not followed by a stage-1 read: the write of a hardware update of the stage-1 leaf.
                lines.Add("  stage-2 lookup for the hardware update of the stage-1 descriptor:");
                lines.AddRange(nested);
                nested.Clear();
            }
            lines.Add(StepText(in st, in p, s2On));
        }
        if (nested.Count > 0)
        {
            lines.Add("  stage-2 lookup for the hardware update of the stage-1 descriptor:");
            lines.AddRange(nested);
        }
        return lines;
    }

    private static string StepText(in WalkStep st, in WalkParams p, bool s2On)
    {
        if (st.Kind == StepKind.WalkCacheLookup)
        {
            return st.Hit
                ? $"S{st.Stage} walk cache hit for 0x{st.InputAddress:x}: level-{st.Level} table entry, {st.Saved} read(s) saved"
                : $"S{st.Stage} walk cache miss for 0x{st.InputAddress:x}";
        }
        if (st.Kind == StepKind.IpaCacheLookup)
        {
            return st.Hit
                ? $"S2 IPA cache hit for IPA 0x{st.InputAddress:x}, {st.Saved} read(s) saved"
                : $"S2 IPA cache miss for IPA 0x{st.InputAddress:x}";
        }
        if (st.Kind == StepKind.Update)
        {
            return $"S{st.Stage} L{st.Level} hardware update @PA 0x{st.DescriptorPa:x}: 0x{st.OldDescriptor:x16} -> 0x{st.Descriptor:x16}";
        }
        bool viaS2 = st.Stage == 1 && s2On;
        string where = viaS2 ? $"@IPA 0x{st.DescriptorAddress:x}" : $"@PA 0x{st.DescriptorAddress:x}";
        if (viaS2 && st.DescriptorPa == 0 && st.Descriptor == 0 && !st.ExternalAbort)
        {
            return $"S{st.Stage} L{st.Level} [{st.Index}] {where}: not read, its stage-2 translation faults:";
        }
        if (viaS2)
        {
            where += $" (PA 0x{st.DescriptorPa:x})";
        }
        if (st.ExternalAbort)
        {
            return $"S{st.Stage} L{st.Level} [{st.Index}] {where}: outside declared RAM -> external abort";
        }
        string order = p.BigEndian ? $" ({WalkFormatter.BigEndianNote})" : "";
        return $"S{st.Stage} L{st.Level} [{st.Index}] {where} = 0x{st.Descriptor:x16} {Summary(st.Descriptor, st.Stage, st.Level, in p)}{order}";
    }

    /// <summary>"invalid", "table -> 0x...", "block 2 MiB -> 0x... S2AP=RO XN=10 Normal-WB AF=1", "page -> ...".</summary>
    public static string Summary(ulong desc, int stage, int level, in WalkParams p)
    {
        if ((desc & 1) == 0)
        {
            return "invalid";
        }
        bool isTable = (desc & 2) != 0;
        if (level == 3 && !isTable)
        {
            return "reserved (bits[1:0]=01 at level 3)";
        }
        ulong addr = Mmu.DescriptorAddress(desc, in p);
        if (isTable && level < 3)
        {
            return $"table -> 0x{addr:x}";
        }
        int shift = TranslationGeometry.LevelShift(p.Granule, level);
        bool ok = level == 3 || TranslationGeometry.BlockAllowed(p.Granule, level, p.Ds, p.Lpa);
        string kind = level == 3 ? "page" : ok ? $"block {DescriptorText.SizeText(shift)}" : "block (not allowed at this level)";
        string af = $"AF={BitOps.Field(desc, 10, 10)}";
        if (stage == 2)
        {
            int s2ap = (int)BitOps.Field(desc, 7, 6);
            int memAttr = (int)BitOps.Field(desc, 5, 2);
            string ap = s2ap switch { 0 => "none", 1 => "RO", 2 => "WO", _ => "RW" };
            string type = Attributes.IsStage2Device(memAttr) ? "Device" : "Normal";
            return $"{kind} -> 0x{addr & ~BitOps.Mask(shift):x} S2AP={ap} XN={Convert.ToString((int)BitOps.Field(desc, 54, 53), 2).PadLeft(2, '0')} {type} {af}";
        }
        int apv = (int)BitOps.Field(desc, 7, 6);
        string perms = p.TwoRanges
            ? $"AP={apv} UXN={BitOps.Field(desc, 54, 54)} PXN={BitOps.Field(desc, 53, 53)}"
            : $"AP={apv} XN={BitOps.Field(desc, 54, 54)}";
        return $"{kind} -> 0x{addr & ~BitOps.Mask(shift):x} {perms} AttrIndx={BitOps.Field(desc, 4, 2)} {af}";
    }
}
