using MmuSim.Addressing;
using MmuSim.Bits;

namespace MmuSim.Hypervisor;

/// <summary>Human sizes: "4 KiB", "2 MiB", "1 GiB"; sizes that are not a whole number of KiB in hex bytes.</summary>
public static class Sizes
{
    public static string Format(ulong bytes)
    {
        if (bytes == 0)
        {
            return "0 bytes";
        }
        foreach (var (shift, unit) in new[] { (40, "TiB"), (30, "GiB"), (20, "MiB"), (10, "KiB") })
        {
            if (bytes >= 1UL << shift && (bytes & ((1UL << shift) - 1)) == 0)
            {
                return $"{bytes >> shift} {unit}";
            }
        }
        return bytes < 1024 ? $"{bytes} byte{(bytes == 1 ? "" : "s")}" : $"0x{bytes:x} bytes";
    }

    /// <summary>"[0x40000000-0x7fffffff]": inclusive bounds, as developers read ranges in logs.</summary>
    public static string Range(ulong start, ulong size) => $"[0x{start:x}-0x{start + size - 1:x}]";
}

/// <summary>
/// Everything that can be said about a configuration before building tables: contradictions (errors: the
/// build refuses), dangers (warnings) and notes. The hypervisor-map check, which needs tables, is
/// <see cref="El2MapProbe"/>.
/// </summary>
public static class ConfigValidator
{
    /// <summary>The table pool as chosen by the user or by default (see <see cref="CellSetupBuilder"/>).</summary>
    public readonly record struct Pool(ulong Base, ulong Size, bool FromOption);

    public static List<Finding> Validate(SystemConfig sys, IReadOnlyList<CellConfig> cells, in Stage2Geometry s2, Pool pool, bool jailhouseCompat)
    {
        var f = new List<Finding>();
        var g = s2.Granule;
        ulong page = 1UL << (int)g;
        string gname = $"the {Sizes.Format(page)} granule";
        ulong paLimit = s2.PaBits >= 64 ? ulong.MaxValue : 1UL << s2.PaBits;
        ulong ipaLimit = 1UL << s2.IpaBits;
        string paText = $"the {s2.PaBits}-bit PA range (ID_AA64MMFR0_EL1.PARange=0b{Convert.ToString(s2.PaRange, 2).PadLeft(4, '0')})";

        // The hypervisor's own memory.
        var hv = sys.HypervisorMemory;
        var hvPos = hv.Pos;
        if (hv.Size == 0)
        {
            f.Add(new Finding(Severity.Error, "size", hvPos, "hypervisor_memory.size is 0"));
        }
        else if (hv.PhysStart + hv.Size < hv.PhysStart || hv.VirtStart + hv.Size < hv.VirtStart)
        {
            f.Add(new Finding(Severity.Error, "size", hvPos, $"hypervisor_memory wraps around the end of the address space"));
        }
        else
        {
            AlignmentErrors(f, "hypervisor_memory", hvPos, hv.PhysStart, hv.VirtStart, hv.Size, page, gname, null, null);
            if (hv.PhysEnd > paLimit)
            {
                f.Add(new Finding(Severity.Error, "beyond-parange", hvPos, $"hypervisor_memory {Sizes.Range(hv.PhysStart, hv.Size)} reaches beyond {paText}"));
            }
        }

        if (sys.DebugConsole is { } con)
        {
            if (con.Size == 0)
            {
                f.Add(new Finding(Severity.Error, "size", con.Pos, "debug_console.size is 0"));
            }
            else if (con.Address + con.Size < con.Address || con.Address + con.Size > paLimit)
            {
                f.Add(new Finding(Severity.Error, "beyond-parange", con.Pos, $"debug_console {Sizes.Range(con.Address, con.Size)} reaches beyond {paText}"));
            }
        }

        if (sys.Platform.PciMmconfigBase is { } mmcfg)
        {
            ulong size = sys.Platform.MmconfigSize;
            if ((mmcfg & ((1UL << 20) - 1)) != 0)
            {
                f.Add(new Finding(Severity.Error, "unaligned", sys.Platform.Pos, $"platform_info.pci_mmconfig_base 0x{mmcfg:x} is not 1 MiB aligned (ECAM gives each bus 1 MiB)"));
            }
            else if (mmcfg + size < mmcfg || mmcfg + size > paLimit)
            {
                f.Add(new Finding(Severity.Error, "beyond-parange", sys.Platform.Pos, $"the PCI mmconfig window {Sizes.Range(mmcfg, size)} reaches beyond {paText}"));
            }
        }

        // The table pool.
        SourcePos? poolPos = pool.FromOption ? null : hvPos;
        string poolText = $"the table pool {Sizes.Range(pool.Base, pool.Size)}{(pool.FromOption ? " (--pool)" : " (upper half of hypervisor_memory)")}";
        if (pool.Size < page || (pool.Base & (page - 1)) != 0)
        {
            f.Add(new Finding(Severity.Error, "pool", poolPos, $"{poolText} must be aligned to and hold at least one page of {gname}"));
        }
        else if (pool.Base + pool.Size < pool.Base || pool.Base + pool.Size > paLimit)
        {
            f.Add(new Finding(Severity.Error, "pool", poolPos, $"{poolText} reaches beyond {paText}"));
        }
        else
        {
            if (sys.DebugConsole is { } c && Overlaps(pool.Base, pool.Size, c.Address, c.Size))
            {
                f.Add(new Finding(Severity.Error, "pool", poolPos, $"{poolText} overlaps the debug console"));
            }
            if (sys.Platform.PciMmconfigBase is { } m && Overlaps(pool.Base, pool.Size, m, sys.Platform.MmconfigSize))
            {
                f.Add(new Finding(Severity.Error, "pool", poolPos, $"{poolText} overlaps the PCI mmconfig window"));
            }
        }

        var names = new HashSet<string>();
        foreach (var cell in cells)
        {
            if (!names.Add(cell.Name))
            {
                f.Add(new Finding(Severity.Error, "name", cell.Pos, $"cell '{PrintableText.Escape(cell.Name)}' is configured twice"));
            }
            if (PrintableText.HasControl(cell.Name))
            {
                f.Add(new Finding(Severity.Warning, "name", cell.Pos,
                    $"cell name '{PrintableText.Escape(cell.Name)}' holds control characters (shown escaped, and written escaped into setup traces)"));
            }
            foreach (var r in cell.Regions)
            {
                RegionFindings(f, cell, r, s2, page, gname, paLimit, ipaLimit, paText, jailhouseCompat, sys, pool, poolText);
            }
            Overlaps(f, cell, page);
        }

        JailhouseChecks.Add(f, sys, cells, page);

        // A non-root cell's memory is its own unless both sides mark it ROOTSHARED (shared memory, ivshmem).
        for (int a = 0; a < cells.Count; a++)
        {
            for (int b = 0; b < cells.Count; b++)
            {
                if (a == b || cells[a].IsRoot || cells[b].IsRoot)
                {
                    continue;
                }
                foreach (var ra in cells[a].Regions)
                {
                    foreach (var rb in cells[b].Regions)
                    {
                        if (!Sane(ra) || !Sane(rb) || ra.Has(MemFlags.CommRegion) || rb.Has(MemFlags.CommRegion)
                            || (ra.Has(MemFlags.RootShared) && rb.Has(MemFlags.RootShared)))
                        {
                            continue;
                        }
                        if (Overlaps(ra.PhysStart, ra.Size, rb.PhysStart, rb.Size))
                        {
                            ulong s = Math.Max(ra.PhysStart, rb.PhysStart);
                            ulong e = Math.Min(ra.PhysEnd, rb.PhysEnd);
                            f.Add(RegionFinding(Severity.Warning, "reaches-private", cells[a], ra, "phys_start",
                                $"phys_start + size: PA {Sizes.Range(s, e - s)} is private memory of cell '{cells[b].Name}' {rb.Label} (not ROOTSHARED on both sides)"));
                        }
                    }
                }
            }
        }
        return f;
    }

    /// <summary>How many overlapped regions one overlap finding names before it says "and N more".</summary>
    private const int NamedOverlaps = 4;

    /// <summary>
    /// Two regions of one cell may not claim the same guest-physical page: stage 2 has one entry per IPA (jailhouse
    /// maps a cell's regions in order, so the later one wins). Regions identical to an earlier one (same IPA, PA,
    /// size and flags) are one group, reported once, and only the first of each group is compared with the others;
    /// each region then gets at most one finding naming the first <see cref="NamedOverlaps"/> earlier regions it
    /// overlaps and how many more. Output is linear in the number of regions whatever the input (3,000 copies of one
    /// region used to give 4.5 million findings); the comparisons are between distinct regions only.
    /// </summary>
    private static void Overlaps(List<Finding> f, CellConfig cell, ulong page)
    {
        var regs = cell.Regions;
        var firstOf = new Dictionary<(ulong Virt, ulong Phys, ulong Size, ulong Flags), int>();
        var repeats = new Dictionary<int, List<int>>();
        var distinct = new List<int>();
        for (int i = 0; i < regs.Count; i++)
        {
            if (!Sane(regs[i]))
            {
                continue;
            }
            var key = (regs[i].VirtStart, regs[i].PhysStart, regs[i].Size, (ulong)regs[i].Flags);
            if (firstOf.TryGetValue(key, out int first))
            {
                if (!repeats.TryGetValue(first, out var list))
                {
                    repeats[first] = list = [];
                }
                list.Add(i);
                continue;
            }
            firstOf[key] = i;
            distinct.Add(i);
        }
        foreach (var (first, list) in repeats.OrderBy(kv => kv.Key))
        {
            var r = regs[list[0]];
            var named = string.Join(", ", list.Skip(1).Take(NamedOverlaps - 1).Select(k => $"[{regs[k].Index}]"));
            string also = list.Count == 1 ? "" : $" (and so do mem_regions {named}{(list.Count > NamedOverlaps ? $" and {list.Count - NamedOverlaps:N0} more" : "")}: {list.Count:N0} copies)";
            f.Add(RegionFinding(Severity.Error, "overlap", cell, r, "virt_start",
                $"virt_start + size: IPA {Sizes.Range(r.VirtStart, r.Size)} repeats mem_regions[{regs[first].Index}]{Named(regs[first])} exactly{also}: jailhouse maps a cell's regions in order, so the later one wins where they overlap") with { Blocks = false });
        }
        var hits = new List<int>(NamedOverlaps);
        for (int a = 0; a < distinct.Count; a++)
        {
            var ri = regs[distinct[a]];
            hits.Clear();
            long count = 0;
            bool subpageMix = false;
            for (int b = 0; b < a; b++)
            {
                var rj = regs[distinct[b]];
                var (ai, ei) = IpaExtent(ri, rj, page);
                var (aj, ej) = IpaExtent(rj, ri, page);
                if (ai < ej && aj < ei)
                {
                    if (count++ < NamedOverlaps)
                    {
                        hits.Add(distinct[b]);
                        subpageMix |= IsSubpage(ri, page) != IsSubpage(rj, page);
                    }
                }
            }
            if (count == 0)
            {
                continue;
            }
            var names = string.Join(", ", hits.Select(k => $"mem_regions[{regs[k].Index}]{Named(regs[k])} IPA {Sizes.Range(regs[k].VirtStart, regs[k].Size)}"));
            f.Add(RegionFinding(Severity.Error, "overlap", cell, ri, "virt_start",
                $"virt_start + size: IPA {Sizes.Range(ri.VirtStart, ri.Size)} overlaps {names}{(count > NamedOverlaps ? $" and {count - NamedOverlaps:N0} more regions" : "")}"
                + (subpageMix ? " (a sub-page region claims its whole page)" : "")
                + ": jailhouse maps a cell's regions in order, so the later one wins where they overlap") with { Blocks = false });
        }

        static string Named(MemRegion r) => r.Name is null ? "" : $" '{PrintableText.Escape(r.Name)}'";
    }

    private static void RegionFindings(List<Finding> f, CellConfig cell, MemRegion r, in Stage2Geometry s2, ulong page, string gname,
        ulong paLimit, ulong ipaLimit, string paText, bool compat, SystemConfig sys, Pool pool, string poolText)
    {
        if (r.Size == 0)
        {
            f.Add(RegionFinding(Severity.Error, "size", cell, r, "size", "size is 0"));
            return;
        }
        if (r.VirtStart + r.Size < r.VirtStart)
        {
            f.Add(RegionFinding(Severity.Error, "size", cell, r, "size", $"virt_start 0x{r.VirtStart:x} + size 0x{r.Size:x} wraps around the end of the address space"));
            return;
        }
        bool comm = r.Has(MemFlags.CommRegion);
        if (!comm && r.PhysStart + r.Size < r.PhysStart)
        {
            f.Add(RegionFinding(Severity.Error, "size", cell, r, "size", $"phys_start 0x{r.PhysStart:x} + size 0x{r.Size:x} wraps around the end of the address space"));
            return;
        }
        if (r.Has(MemFlags.Trapped))
        {
            f.Add(RegionFinding(Severity.Note, "subpage", cell, r, "size",
                $"trapped MMIO region {Sizes.Range(r.VirtStart, r.Size)} (hvisor's virtio): stage 2 leaves it unmapped, accesses trap to the hypervisor, which forwards them to the virtio back-end"));
        }
        else if (IsSubpage(r, page))
        {
            f.Add(RegionFinding(Severity.Note, "subpage", cell, r, "size",
                $"sub-page MMIO region {Sizes.Range(r.VirtStart, r.Size)}: stage 2 leaves its page{(PageSpan(r.VirtStart, r.Size, page) > page ? "s" : "")} unmapped, accesses trap to the hypervisor, which emulates them"));
        }
        else if (comm)
        {
            AlignmentErrors(f, "", r.Pos, null, r.VirtStart, r.Size, page, gname, cell, r);
        }
        else
        {
            AlignmentErrors(f, "", r.Pos, r.PhysStart, r.VirtStart, r.Size, page, gname, cell, r);
        }
        if (r.VirtEnd > ipaLimit)
        {
            f.Add(RegionFinding(Severity.Error, "beyond-parange", cell, r, "virt_start",
                $"virt_start + size: IPA {Sizes.Range(r.VirtStart, r.Size)} reaches beyond the {s2.IpaBits}-bit IPA space (VTCR_EL2.T0SZ={s2.T0Sz}, from PARange)"));
        }
        if (!comm && r.PhysEnd > paLimit)
        {
            bool encodable = s2.MaxOaBits >= 64 || r.PhysEnd <= 1UL << s2.MaxOaBits;
            f.Add(RegionFinding(encodable ? Severity.Warning : Severity.Error, "beyond-parange", cell, r, "phys_start",
                $"phys_start + size: PA {Sizes.Range(r.PhysStart, r.Size)} reaches beyond {paText}"
                + (encodable ? ": guest accesses there take a stage-2 address size fault" : $": a descriptor cannot hold it ({s2.MaxOaBits}-bit output addresses)")));
        }
        if (r.Name is { } rn && PrintableText.HasControl(rn))
        {
            f.Add(RegionFinding(Severity.Warning, "name", cell, r, "name",
                "the region's name holds control characters (shown escaped here, and written escaped into setup traces)"));
        }
        if (r.Has(MemFlags.Write) && r.Has(MemFlags.Execute))
        {
            // A note, not a warning: every Linux cell's RAM is writable and executable.
            f.Add(RegionFinding(Severity.Note, "writable-executable", cell, r, "flags", $"flags {MemFlagNames.Format(r.Flags)} are both WRITE and EXECUTE: the guest can run code it writes there"));
        }
        else if (compat && r.Has(MemFlags.Write))
        {
            f.Add(RegionFinding(Severity.Note, "writable-executable", cell, r, "flags",
                $"flags {MemFlagNames.Format(r.Flags)} have WRITE without EXECUTE, but --jailhouse-compat maps every region executable (jailhouse ignores JAILHOUSE_MEM_EXECUTE), so it is writable and executable"));
        }
        if (!comm)
        {
            var hv = sys.HypervisorMemory;
            if (hv.Size != 0 && Overlaps(r.PhysStart, r.Size, hv.PhysStart, hv.Size))
            {
                ulong s = Math.Max(r.PhysStart, hv.PhysStart);
                ulong e = Math.Min(r.PhysEnd, hv.PhysEnd);
                // An error as jailhouse-config-check has it; jailhouse itself maps it, so the tables are still built.
                f.Add(RegionFinding(Severity.Error, "reaches-hypervisor", cell, r, "phys_start",
                    $"phys_start + size: PA {Sizes.Range(s, e - s)} is the hypervisor's memory (hypervisor_memory {Sizes.Range(hv.PhysStart, hv.Size)}): the {(cell.IsRoot ? "root" : "non-root")} cell could read or overwrite the hypervisor") with { Blocks = false });
            }
            if (pool.Size != 0 && Overlaps(r.PhysStart, r.Size, pool.Base, pool.Size)
                && !(hv.Size != 0 && pool.Base >= hv.PhysStart && pool.Base + pool.Size <= hv.PhysEnd))
            {
                f.Add(RegionFinding(Severity.Error, "pool", cell, r, "phys_start",
                    $"phys_start + size: PA {Sizes.Range(r.PhysStart, r.Size)} overlaps {poolText}: the cell could rewrite its own translation tables"));
            }
        }
    }

    private static void AlignmentErrors(List<Finding> f, string prefix, SourcePos pos, ulong? phys, ulong virt, ulong size, ulong page, string gname,
        CellConfig? cell, MemRegion? r)
    {
        void Add(string field, string text)
        {
            if (cell is not null && r is not null)
            {
                f.Add(RegionFinding(Severity.Error, "unaligned", cell, r, field, text + (r.Has(MemFlags.Io) ? "" : " (only IO regions may be sub-page)")));
            }
            else
            {
                f.Add(new Finding(Severity.Error, "unaligned", pos, $"{prefix}: {text}"));
            }
        }
        if ((virt & (page - 1)) != 0)
        {
            Add("virt_start", $"virt_start 0x{virt:x} is not aligned to {gname}");
        }
        if (phys is { } p && (p & (page - 1)) != 0)
        {
            Add("phys_start", $"phys_start 0x{p:x} is not aligned to {gname}");
        }
        if ((size & (page - 1)) != 0)
        {
            Add("size", $"size 0x{size:x} is not a multiple of {gname}");
        }
    }

    /// <summary>
    /// An IO region whose bounds are not page aligned is dispatched by the hypervisor (jailhouse's
    /// mmio_subpage): it is never mapped at stage 2.
    /// </summary>
    public static bool IsSubpage(MemRegion r, ulong page) =>
        r.Has(MemFlags.Trapped) || (r.Has(MemFlags.Io) && !r.Has(MemFlags.CommRegion) && ((r.VirtStart | r.PhysStart | r.Size) & (page - 1)) != 0);

    /// <summary>Bytes of the whole pages a range touches.</summary>
    public static ulong PageSpan(ulong start, ulong size, ulong page) =>
        ((start + size + page - 1) & ~(page - 1)) - (start & ~(page - 1));

    /// <summary>The IPA extent a region claims against <paramref name="other"/>: whole pages for a sub-page region facing a mapped one.</summary>
    private static (ulong Start, ulong End) IpaExtent(MemRegion r, MemRegion other, ulong page)
    {
        if (IsSubpage(r, page) && !IsSubpage(other, page))
        {
            ulong s = r.VirtStart & ~(page - 1);
            return (s, s + PageSpan(r.VirtStart, r.Size, page));
        }
        return (r.VirtStart, r.VirtEnd);
    }

    private static bool Sane(MemRegion r) => r.Size != 0 && r.VirtStart + r.Size > r.VirtStart
        && (r.Has(MemFlags.CommRegion) || r.PhysStart + r.Size > r.PhysStart);

    public static bool Overlaps(ulong a, ulong aSize, ulong b, ulong bSize) => a < b + bSize && b < a + aSize;

    public static Finding RegionFinding(Severity s, string kind, CellConfig cell, MemRegion r, string field, string text) =>
        new(s, kind, r.Where(field), $"cell '{PrintableText.Escape(cell.Name)}' {cell.RegionsPath}[{r.Index}]{(r.Name is null ? "" : $" '{PrintableText.Escape(r.Name)}'")}: {text}")
        {
            Cell = cell.Name,
            RegionIndex = r.Index,
            RegionName = r.Name,
        };
}
