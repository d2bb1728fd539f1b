using System.Buffers.Binary;
using System.Text;
using MmuSim.Addressing;
using MmuSim.Bits;
using MmuSim.Core;
using MmuSim.Faults;
using MmuSim.Registers;
using MmuSim.Translation;

namespace MmuSim.Reporting;

/// <summary>One run of leaves that map consecutive inputs to consecutive outputs with the same attributes.</summary>
/// <param name="Start">First input address of the run.</param>
/// <param name="End">The input address after the run (exclusive; 0 when the run ends at the top of the address space).</param>
/// <param name="Output">Output address of <paramref name="Start"/> (an IPA for EL1&amp;0 stage 1 with stage 2 on).</param>
/// <param name="Level">Lookup level of the leaves.</param>
/// <param name="Shift">log2 of what one leaf maps.</param>
/// <param name="Count">Leaves in the run.</param>
/// <param name="Attributes">Permissions, memory type, shareability and flags, in words.</param>
public readonly record struct MappingRange(ulong Start, ulong End, ulong Output, int Level, int Shift, long Count, string Attributes);

/// <summary>The mappings of one table tree: its title and its merged ranges, with any note about what could not be read.</summary>
public sealed record TableTree(string Key, string Title, string InputSpace, string OutputSpace, List<MappingRange> Ranges, List<string> Notes);

/// <summary>
/// `mmusim tables`: every mapping of a PE's table trees (each stage-1 range of each regime, stage 2), read from memory
/// as they are (no TLB), as input ranges with attributes, consecutive leaves of one level that map consecutive outputs
/// with the same attributes merged into one line — the shape of Linux's ptdump and of KVM's stage-2 dump. The
/// permissions shown apply the hierarchical table attributes (APTable, UXNTable/XNTable, PXNTable, unless HPD),
/// as a walk does.
/// </summary>
public static class TableDump
{
    /// <summary>Most descriptors one tree's dump reads: a table tree that points back into itself ends here.</summary>
    public const long MaxDescriptors = 1L << 24;

    /// <summary>The regimes (el10, el2, el20) and stage 2 a `--regime` names.</summary>
    public static readonly string[] RegimeNames = ["el10", "el2", "el20", "stage2"];

    /// <summary>
    /// Every tree of <paramref name="pe"/>: with <paramref name="regime"/> null, each regime whose stage 1 is on
    /// (both VA ranges of a two-range regime unless EPDx) and stage 2 when it is on; else only the one named (on or off).
    /// </summary>
    public static List<TableTree> Trees(SimulatedCore pe, string? regime = null)
    {
        var mmu = pe.Mmu;
        var trees = new List<TableTree>();
        var hcr = pe.Registers.Hcr;
        foreach (var r in new[] { TranslationRegime.El10, TranslationRegime.El2, TranslationRegime.El20 })
        {
            string name = r switch { TranslationRegime.El10 => "el10", TranslationRegime.El2 => "el2", _ => "el20" };
            if (regime is not null ? regime != name : !mmu.Stage1Enabled(r) || (r == TranslationRegime.El2 && hcr.E2H) || (r == TranslationRegime.El20 && !hcr.E2H))
            {
                continue;
            }
            foreach (bool upper in r.HasTwoVaRanges() ? new[] { false, true } : new[] { false })
            {
                var p = mmu.Stage1Params(r, upper);
                if (p.Epd && regime is null)
                {
                    continue;
                }
                trees.Add(Stage1(pe, r, upper, in p));
            }
        }
        if (regime is "stage2" || (regime is null && mmu.Stage2Enabled(TranslationRegime.El10)))
        {
            trees.Add(Stage2(pe));
        }
        return trees;
    }

    private static TableTree Stage1(SimulatedCore pe, TranslationRegime regime, bool upper, in WalkParams p)
    {
        var mmu = pe.Mmu;
        bool viaS2 = regime == TranslationRegime.El10 && mmu.Stage2Enabled(regime);
        var ttbr = regime.Ttbr(upper);
        string key = $"{regime.Name()} stage 1, {ttbr}";
        string asid = regime.HasAsid() ? $", ASID {p.Tag}" : "";
        string title = $"{key}{asid}: {DescriptorText.Params(in p)}{(mmu.Stage1Enabled(regime) ? "" : " (stage 1 off)")}";
        var dump = new Walker(pe, p, stage: 1, viaS2, new MairView(pe.Registers[regime.Mair()]));
        if (!p.ConfigFault && !p.BaseAddressSizeFault && !p.Epd)
        {
            ulong inputBase = upper ? ~BitOps.Mask(p.InputSize) : 0;
            dump.Table(p.TableBase, p.StartLevel, inputBase, 1 << p.FirstLevelBits, TableAttrs.None);
        }
        else
        {
            dump.Notes.Add(p.Epd ? "walks disabled (EPD)" : "no walk: the input-address configuration faults at level 0");
        }
        dump.Flush();
        return new TableTree(key, title, "VA", viaS2 ? "IPA" : "PA", dump.Ranges, dump.Notes);
    }

    private static TableTree Stage2(SimulatedCore pe)
    {
        var mmu = pe.Mmu;
        var p = mmu.Stage2Params;
        string key = "EL1&0 stage 2, VTTBR_EL2";
        string title = $"{key}, VMID {p.Tag}: {DescriptorText.Params(in p)}{(mmu.Stage2Enabled(TranslationRegime.El10) ? "" : " (stage 2 off)")}";
        var dump = new Walker(pe, p, stage: 2, viaS2: false, default);
        if (!p.ConfigFault && !p.BaseAddressSizeFault)
        {
            dump.Table(p.TableBase, p.StartLevel, 0, 1 << p.FirstLevelBits, TableAttrs.None);
        }
        else
        {
            dump.Notes.Add("no walk: the stage-2 configuration faults at level 0");
        }
        dump.Flush();
        return new TableTree(key, title, "IPA", "PA", dump.Ranges, dump.Notes);
    }

    private readonly record struct MairView(ulong Mair)
    {
        public byte Attr(int index) => (byte)(Mair >> (8 * index));
    }

    /// <summary>Hierarchical attributes gathered on the way down (Arm ARM D8.4.2): APTable[1] removes write, APTable[0] EL0 access.</summary>
    private readonly record struct TableAttrs(bool NoWrite, bool NoEl0, bool Uxn, bool Pxn)
    {
        public static TableAttrs None => default;
    }

    private sealed class Walker(SimulatedCore pe, WalkParams p, int stage, bool viaS2, MairView mair)
    {
        public readonly List<MappingRange> Ranges = new();
        public readonly List<string> Notes = new();
        private MappingRange? _open;
        private long _reads;
        private readonly Mmu _s2 = new(pe.Registers, pe.Memory) { DryRun = true };

        /// <summary>The entries of one table at <paramref name="level"/> whose first entry maps <paramref name="inputBase"/>.</summary>
        public void Table(ulong tableAddress, int level, ulong inputBase, long entries, TableAttrs inherited)
        {
            int shift = TranslationGeometry.LevelShift(p.Granule, level);
            ulong tablePa = tableAddress;
            if (viaS2)
            {
                // An EL1&0 stage-1 table address is an IPA: stage 2 gives its PA, as the walk's descriptor fetches.
                if (!_s2.TranslateIpa(new IntermediatePhysicalAddress(tableAddress), AccessType.Read, el0: false, out var r))
                {
                    Note($"level-{level} table at IPA 0x{tableAddress:x} (VA 0x{inputBase:x}..): its stage-2 translation faults, not read");
                    return;
                }
                tablePa = r.Pa;
            }
            for (long i = 0; i < entries; i++)
            {
                if (++_reads > MaxDescriptors)
                {
                    if (_reads == MaxDescriptors + 1)
                    {
                        Note($"stopped after {MaxDescriptors} descriptors (tables that point back into themselves?)");
                    }
                    return;
                }
                ulong input = inputBase + ((ulong)i << shift);
                if (!pe.Memory.TryRead64(new PhysicalAddress(tablePa + (ulong)i * 8), out ulong d))
                {
                    Note($"level-{level} table at PA 0x{tablePa:x}: outside declared RAM, not read");
                    return;
                }
                if (p.BigEndian)
                {
                    d = BinaryPrimitives.ReverseEndianness(d);
                }
                if ((d & 1) == 0)
                {
                    continue;
                }
                ulong oa = Mmu.DescriptorAddress(d, in p);
                if ((d & 2) != 0 && level < 3)
                {
                    var next = inherited;
                    if (stage == 1 && !p.Hpd)
                    {
                        next = new TableAttrs(
                            inherited.NoWrite || BitOps.Bit(d, 62),
                            inherited.NoEl0 || (p.TwoRanges && BitOps.Bit(d, 61)),
                            inherited.Uxn || BitOps.Bit(d, 60),
                            inherited.Pxn || (p.TwoRanges && BitOps.Bit(d, 59)));
                    }
                    Table(oa, level + 1, input, 1L << TranslationGeometry.Stride(p.Granule), next);
                    continue;
                }
                if (level == 3 ? (d & 2) == 0 : !TranslationGeometry.BlockAllowed(p.Granule, level, p.Ds, p.Lpa))
                {
                    continue; // reserved at level 3, or a block where none is allowed: a translation fault
                }
                if (BitOps.AnyAbove(oa, p.OaSize))
                {
                    continue; // an address size fault
                }
                Leaf(input, oa & ~BitOps.Mask(shift), level, shift, stage == 1 ? Stage1Attrs(d, inherited) : Stage2Attrs(d));
            }
        }

        private void Leaf(ulong input, ulong output, int level, int shift, string attrs)
        {
            ulong size = 1UL << shift;
            if (_open is { } o && o.Level == level && o.End == input && o.Output + (o.End - o.Start) == output && o.Attributes == attrs && o.End != 0)
            {
                _open = o with { End = input + size, Count = o.Count + 1 };
                return;
            }
            Flush();
            _open = new MappingRange(input, input + size, output, level, shift, 1, attrs);
        }

        public void Flush()
        {
            if (_open is { } o)
            {
                Ranges.Add(o);
                _open = null;
            }
        }

        private void Note(string note)
        {
            Flush();
            Notes.Add(note);
        }

        private string Stage1Attrs(ulong d, TableAttrs t)
        {
            var sb = new StringBuilder();
            bool ro = BitOps.Bit(d, 7) || t.NoWrite;
            if (p.TwoRanges)
            {
                bool el0 = BitOps.Bit(d, 6) && !t.NoEl0;
                sb.Append(ro ? "EL1 ro" : "EL1 RW").Append(el0 ? (ro ? ", EL0 ro" : ", EL0 RW") : ", EL0 --");
                bool pxn = BitOps.Bit(d, 53) || t.Pxn, uxn = BitOps.Bit(d, 54) || t.Uxn;
                sb.Append(pxn ? "  PXN" : "  PX ").Append(uxn ? " UXN" : " UX ");
            }
            else
            {
                sb.Append(ro ? "ro" : "RW").Append(BitOps.Bit(d, 54) || t.Uxn ? "  XN" : "  X ");
            }
            sb.Append("  ").Append(Translation.Attributes.Describe(mair.Attr((int)BitOps.Field(d, 4, 2))));
            int sh = p.Ds ? p.TcrSh : (int)BitOps.Field(d, 9, 8);
            sb.Append(' ').Append(ShText(sh));
            Flags(sb, d, ng: p.TwoRanges && BitOps.Bit(d, 11));
            return sb.ToString();
        }

        private string Stage2Attrs(ulong d)
        {
            var sb = new StringBuilder();
            int s2ap = (int)BitOps.Field(d, 7, 6);
            sb.Append(s2ap switch { 0 => "--", 1 => "ro", 2 => "wo", _ => "RW" });
            int xn = (int)BitOps.Field(d, 54, 53);
            // XN[1:0] with FEAT_XNX: 00 executable at EL1 and EL0, 01 not at EL1, 10 at neither, 11 not at EL0.
            sb.Append(xn switch { 0 => "  X   ", 1 => "  PXN ", 2 => "  XN  ", _ => "  UXN " });
            sb.Append(' ').Append(Translation.Attributes.Describe(Translation.Attributes.FromStage2((int)BitOps.Field(d, 5, 2), false)));
            int sh = p.Ds ? p.TcrSh : (int)BitOps.Field(d, 9, 8);
            sb.Append(' ').Append(ShText(sh));
            Flags(sb, d, ng: false);
            return sb.ToString();
        }

        private static void Flags(StringBuilder sb, ulong d, bool ng)
        {
            if (!BitOps.Bit(d, 10))
            {
                sb.Append(" noAF");
            }
            if (ng)
            {
                sb.Append(" nG");
            }
            if (BitOps.Bit(d, 51))
            {
                sb.Append(" DBM");
            }
            if (BitOps.Bit(d, 52))
            {
                sb.Append(" CONT");
            }
        }

        private static string ShText(int sh) => sh switch { 0 => "NSH", 2 => "OSH", 3 => "ISH", _ => "SH?" };
    }

    /// <summary>The trees as text: a title per tree, then one line per merged range.</summary>
    public static string Text(IReadOnlyList<TableTree> trees)
    {
        var sb = new StringBuilder();
        foreach (var t in trees)
        {
            sb.AppendLine(t.Title);
            foreach (var r in t.Ranges)
            {
                sb.AppendLine(Line(t, r));
            }
            if (t.Ranges.Count == 0)
            {
                sb.AppendLine("  (no valid mapping)");
            }
            foreach (var n in t.Notes)
            {
                sb.AppendLine($"  note: {n}");
            }
            sb.AppendLine();
        }
        return sb.ToString();
    }

    private static string Line(TableTree t, MappingRange r)
    {
        string kind = r.Level == 3 ? "page" : "block";
        string count = $"{r.Count} x {DescriptorText.SizeText(r.Shift)} {kind}{(r.Count == 1 ? "" : "s")}";
        // Inclusive ends: the last range of TTBR1 ends at the top of the address space, whose successor is not a VA.
        string output = $"0x{r.Output:x}";
        return $"  {t.InputSpace} 0x{r.Start:x16}-0x{r.End - 1:x16} -> {t.OutputSpace} {output,-13} L{r.Level} {count,-21} {r.Attributes}";
    }

    /// <summary>
    /// The ranges that differ between two sets of trees, tree by tree (matched by regime and register): `-` for a
    /// line only <paramref name="before"/> has, `+` for one only <paramref name="after"/> has, in input-address order.
    /// Empty when they map the same.
    /// </summary>
    public static string Diff(IReadOnlyList<TableTree> before, IReadOnlyList<TableTree> after, string beforeName, string afterName)
    {
        var sb = new StringBuilder();
        var keys = before.Select(t => t.Key).Concat(after.Select(t => t.Key)).Distinct().ToList();
        foreach (string key in keys)
        {
            var a = before.FirstOrDefault(t => t.Key == key);
            var b = after.FirstOrDefault(t => t.Key == key);
            var aLines = a is null ? [] : a.Ranges.Select(r => (r.Start, Text: Line(a, r))).ToList();
            var bLines = b is null ? [] : b.Ranges.Select(r => (r.Start, Text: Line(b, r))).ToList();
            var aSet = aLines.Select(l => l.Text).ToHashSet();
            var bSet = bLines.Select(l => l.Text).ToHashSet();
            var changes = aLines.Where(l => !bSet.Contains(l.Text)).Select(l => (l.Start, Sign: '-', l.Text))
                .Concat(bLines.Where(l => !aSet.Contains(l.Text)).Select(l => (l.Start, Sign: '+', l.Text)))
                .OrderBy(c => c.Start).ThenBy(c => c.Sign == '-' ? 0 : 1).ToList();
            if (changes.Count == 0 && a?.Title == b?.Title)
            {
                continue;
            }
            sb.AppendLine(key);
            if (a?.Title != b?.Title)
            {
                sb.AppendLine($"- {(a is null ? "(no such tree)" : a.Title)}");
                sb.AppendLine($"+ {(b is null ? "(no such tree)" : b.Title)}");
            }
            foreach (var (_, sign, text) in changes)
            {
                sb.Append(sign).AppendLine(text[1..]);
            }
            sb.AppendLine();
        }
        return sb.Length == 0 ? $"{beforeName} and {afterName} map the same\n" : $"--- {beforeName}\n+++ {afterName}\n" + sb;
    }
}
