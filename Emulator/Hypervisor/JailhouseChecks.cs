using MmuSim.Bits;

namespace MmuSim.Hypervisor;

/// <summary>
/// The checks jailhouse's own tools and hypervisor make on a configuration set, beyond what the tables need: what
/// jailhouse-config-check reports (a cell region reaching the GIC, an IOMMU, the PCI mmconfig window or the hypervisor;
/// two regions of one cell on the same physical memory), what jailhouse refuses at `cell create` (CPU sets), and what
/// no tool checks (sub-page access widths, ivshmem layouts against their peers, memory the root cell never owned).
/// These findings never stop `cell` from building: jailhouse builds such configurations too.
/// </summary>
public static class JailhouseChecks
{
    /// <summary>jailhouse-config-check's sizes for the GIC frames it protects (GICv2: GICD 4 KiB, GICC/GICH/GICV 8 KiB; GICv3: GICD 64 KiB, GICR 128 KiB).</summary>
    public static IEnumerable<(string Name, ulong Base, ulong Size)> GicFrames(ArmPlatform arm) => arm.GicVersion switch
    {
        2 => [("GICD", arm.GicdBase, 0x1000), ("GICC", arm.GiccBase, 0x2000), ("GICH", arm.GichBase, 0x2000), ("GICV", arm.GicvBase, 0x2000)],
        3 => [("GICD", arm.GicdBase, 0x10000), ("GICR", arm.GicrBase, 0x20000)],
        _ => [],
    };

    public static void Add(List<Finding> f, SystemConfig sys, IReadOnlyList<CellConfig> cells, ulong page)
    {
        Resources(f, sys, cells);
        PhysicalAliases(f, cells);
        if (sys.Family == HypervisorFamily.Hvisor)
        {
            HvisorCpuSets(f, cells);
        }
        else
        {
            CpuSets(f, cells);
            AccessWidths(f, cells, page);
            Ivshmem(f, cells);
            RootNeverOwned(f, sys.RootCell, cells);
        }
        foreach (var cell in cells)
        {
            foreach (var p in cell.Placeholders)
            {
                f.Add(ConfigValidator.RegionFinding(Severity.Note, "placeholder", cell, p, "size",
                    "size 0: a placeholder (as jailhouse's shared-memory macros write { 0 }), skipped"));
            }
        }
    }

    private static Finding NonBlocking(Finding x) => x with { Blocks = false };

    /// <summary>Hardware only the hypervisor may touch, mapped into a cell (jailhouse-config-check's "interceptions").</summary>
    private static void Resources(List<Finding> f, SystemConfig sys, IReadOnlyList<CellConfig> cells)
    {
        var resources = new List<(string Name, ulong Base, ulong Size)>();
        if (sys.Arm is { } arm)
        {
            resources.AddRange(GicFrames(arm).Where(g => g.Base != 0).Select(g => ($"the GIC {g.Name} {Sizes.Range(g.Base, g.Size)}", g.Base, g.Size)));
        }
        foreach (var u in sys.IommuUnits)
        {
            resources.Add(($"the {u.TypeName} unit {Sizes.Range(u.Base, u.Size)}", u.Base, (ulong)u.Size));
        }
        if (sys.Platform.PciMmconfigBase is { } m)
        {
            resources.Add(($"the PCI mmconfig window {Sizes.Range(m, sys.Platform.MmconfigSize)}", m, sys.Platform.MmconfigSize));
        }
        foreach (var cell in cells)
        {
            foreach (var r in cell.Regions.Where(r => !r.Has(MemFlags.CommRegion)))
            {
                foreach (var (name, b, size) in resources)
                {
                    if (size != 0 && ConfigValidator.Overlaps(r.PhysStart, r.Size, b, size))
                    {
                        string kind = name.StartsWith("the GIC", StringComparison.Ordinal) ? "gic" : name.StartsWith("the PCI", StringComparison.Ordinal) ? "mmconfig" : "iommu";
                        f.Add(NonBlocking(ConfigValidator.RegionFinding(Severity.Error, kind, cell, r, "phys_start",
                            $"PA {Sizes.Range(r.PhysStart, r.Size)} reaches {name}, which the hypervisor must intercept: the cell would bypass it")));
                    }
                }
            }
        }
    }

    /// <summary>How many aliasing regions a phys-alias finding names before it says "and N more".</summary>
    private const int NamedAliases = 4;

    /// <summary>Two regions of one cell on the same physical memory: one PA with two IPAs (jailhouse-config-check: "physically overlaps").</summary>
    private static void PhysicalAliases(List<Finding> f, IReadOnlyList<CellConfig> cells)
    {
        foreach (var cell in cells)
        {
            var regs = cell.Regions.Where(r => !r.Has(MemFlags.CommRegion)).ToList();
            var named = new List<MemRegion>(NamedAliases);
            for (int i = 0; i < regs.Count; i++)
            {
                // One finding per region, naming the first few earlier regions on its memory and how many more: a
                // finding per pair made 500,000 of them from 1,000 regions on one PA (issue 19, like the overlaps).
                var a = regs[i];
                named.Clear();
                long count = 0;
                for (int j = 0; j < i; j++)
                {
                    var b = regs[j];
                    if (ConfigValidator.Overlaps(a.PhysStart, a.Size, b.PhysStart, b.Size) && !ConfigValidator.Overlaps(a.VirtStart, a.Size, b.VirtStart, b.Size)
                        && count++ < NamedAliases)
                    {
                        named.Add(b);
                    }
                }
                if (count == 0)
                {
                    continue;
                }
                string others = string.Join(", ", named.Select(b => $"mem_regions[{b.Index}]{(b.Name is null ? "" : $" '{PrintableText.Escape(b.Name)}'")} (PA {Sizes.Range(b.PhysStart, b.Size)})"));
                f.Add(NonBlocking(ConfigValidator.RegionFinding(Severity.Error, "phys-alias", cell, a, "phys_start",
                    $"PA {Sizes.Range(a.PhysStart, a.Size)} is also mapped by {others}{(count > NamedAliases ? $" and {count - NamedAliases:N0} more regions" : "")} at another IPA: one memory, two guest addresses")));
            }
        }
    }

    /// <summary>
    /// jailhouse's cell_create: every CPU of a new cell must still belong to the root cell (not to the root's
    /// configuration only: a CPU an earlier cell took is gone), and the root keeps the CPU that creates the cell.
    /// </summary>
    private static void CpuSets(List<Finding> f, IReadOnlyList<CellConfig> cells)
    {
        var root = cells.FirstOrDefault(c => c.IsRoot);
        if (root?.Cpus is not { } rootCpus)
        {
            return;
        }
        var available = new HashSet<int>(rootCpus);
        var takenBy = new Dictionary<int, string>();
        foreach (var cell in cells.Where(c => !c.IsRoot))
        {
            if (cell.Cpus is not { } cpus)
            {
                continue;
            }
            var pos = cell.CpusPos ?? cell.Pos;
            if (cpus.Count == 0)
            {
                f.Add(new Finding(Severity.Error, "cpu-set", pos, $"{cell.Label}: the CPU set is empty: the cell has no CPU to run on") { Blocks = false, Cell = cell.Name });
                continue;
            }
            foreach (int c in cpus)
            {
                if (takenBy.TryGetValue(c, out string? other))
                {
                    f.Add(new Finding(Severity.Error, "cpu-set", pos, $"{cell.Label}: CPU {c} already belongs to cell '{PrintableText.Escape(other)}': jailhouse refuses to create this cell (EBUSY)") { Blocks = false, Cell = cell.Name });
                }
                else if (!available.Contains(c))
                {
                    f.Add(new Finding(Severity.Error, "cpu-set", pos, $"{cell.Label}: CPU {c} is not in the root cell's CPU set ({CpuList(rootCpus)}): jailhouse refuses to create this cell (EBUSY)") { Blocks = false, Cell = cell.Name });
                }
                else
                {
                    available.Remove(c);
                    takenBy[c] = cell.Name;
                }
            }
            if (available.Count == 0)
            {
                f.Add(new Finding(Severity.Error, "cpu-set", pos, $"{cell.Label}: takes the root cell's last CPU: the CPU that creates a cell stays with the root cell, so jailhouse refuses (EBUSY)") { Blocks = false, Cell = cell.Name });
            }
        }
    }

    /// <summary>hvisor: the root zone's CPUs are its own (ROOT_ZONE_CPUS) and a zone runs on CPUs no other zone has.</summary>
    private static void HvisorCpuSets(List<Finding> f, IReadOnlyList<CellConfig> cells)
    {
        var owner = new Dictionary<int, string>();
        foreach (var cell in cells)
        {
            foreach (int c in cell.Cpus ?? [])
            {
                if (owner.TryGetValue(c, out string? other))
                {
                    f.Add(new Finding(Severity.Error, "cpu-set", cell.CpusPos ?? cell.Pos, $"{cell.Label}: CPU {c} is also zone '{PrintableText.Escape(other)}''s") { Blocks = false, Cell = cell.Name });
                }
                else
                {
                    owner[c] = cell.Name;
                }
            }
        }
    }

    /// <summary>"0-3,6": a CPU set as ranges.</summary>
    public static string CpuList(IReadOnlyList<int> cpus)
    {
        var parts = new List<string>();
        var sorted = cpus.Order().ToList();
        for (int i = 0; i < sorted.Count;)
        {
            int j = i;
            while (j + 1 < sorted.Count && sorted[j + 1] == sorted[j] + 1)
            {
                j++;
            }
            parts.Add(i == j ? $"{sorted[i]}" : $"{sorted[i]}-{sorted[j]}");
            i = j + 1;
        }
        return parts.Count == 0 ? "none" : string.Join(",", parts);
    }

    /// <summary>The access widths a sub-page region's IO_8/16/32/64 flags allow, in bytes.</summary>
    public static IEnumerable<int> AllowedWidths(MemFlags flags)
    {
        foreach (var (w, flag) in new[] { (1, MemFlags.Io8), (2, MemFlags.Io16), (4, MemFlags.Io32), (8, MemFlags.Io64) })
        {
            if ((flags & flag) != 0)
            {
                yield return w;
            }
        }
    }

    private static void AccessWidths(List<Finding> f, IReadOnlyList<CellConfig> cells, ulong page)
    {
        const MemFlags widths = MemFlags.Io8 | MemFlags.Io16 | MemFlags.Io32 | MemFlags.Io64;
        foreach (var cell in cells)
        {
            foreach (var r in cell.Regions)
            {
                bool subpage = ConfigValidator.IsSubpage(r, page);
                if (subpage && (r.Flags & widths) == 0)
                {
                    f.Add(ConfigValidator.RegionFinding(Severity.Warning, "access-width", cell, r, "flags",
                        $"sub-page region {Sizes.Range(r.VirtStart, r.Size)} has no IO_8/IO_16/IO_32/IO_64 flag: jailhouse's sub-page dispatcher refuses every access to it and stops the cell"));
                }
                else if (!subpage && (r.Flags & (widths | MemFlags.IoUnaligned)) != 0)
                {
                    f.Add(ConfigValidator.RegionFinding(Severity.Note, "access-width", cell, r, "flags",
                        $"flags {MemFlagNames.Format(r.Flags)}: access-width flags act on sub-page regions only; this region is mapped at stage 2, so every width reaches the device"));
                }
            }
        }
    }

    /// <summary>
    /// ivshmem devices with the same domain and BDF in several cells are peers of one shared-memory link; each takes
    /// from shmem_regions_start the state table, the read/write section and one output section per peer, which must be
    /// the same memory in every peer, with only peer N's output section writable by peer N.
    /// </summary>
    private static void Ivshmem(List<Finding> f, IReadOnlyList<CellConfig> cells)
    {
        // jailhouse links ivshmem endpoints by BDF alone (ivshmem_init), whatever their domain.
        var links = new Dictionary<ushort, List<(CellConfig Cell, PciDevice Dev, MemRegion?[]? Layout)>>();
        foreach (var cell in cells)
        {
            var all = cell.Regions.Concat(cell.Placeholders).ToDictionary(r => r.Index);
            foreach (var d in cell.PciDevices.Where(d => d.Type == PciDevice.TypeIvshmem))
            {
                string dev = $"{cell.Label}: ivshmem {d.BdfText}";
                // ivshmem_init: the state table, the read/write section and shmem_peers output sections must all exist.
                long needed = (long)d.ShmemRegionsStart + 2 + d.ShmemPeers;
                MemRegion?[]? layout = null;
                if (needed > all.Count)
                {
                    f.Add(new Finding(Severity.Error, "ivshmem", d.Pos,
                        $"{dev}: shmem_regions_start {d.ShmemRegionsStart} + 2 + shmem_peers {d.ShmemPeers} = {needed} regions, but the cell has {all.Count}: jailhouse refuses the device (EINVAL)") { Blocks = false, Cell = cell.Name });
                }
                else
                {
                    layout = Enumerable.Range((int)d.ShmemRegionsStart, 2 + d.ShmemPeers).Select(i => all.GetValueOrDefault(i)).ToArray();
                }
                if (d.ShmemDevId >= IvshmemMaxPeers)
                {
                    f.Add(new Finding(Severity.Error, "ivshmem", d.Pos, $"{dev}: shmem_dev_id {d.ShmemDevId} is not below {IvshmemMaxPeers} (IVSHMEM_MAX_PEERS): jailhouse refuses the device (EINVAL)") { Blocks = false, Cell = cell.Name });
                }
                if (!links.TryGetValue(d.Bdf, out var l))
                {
                    links[d.Bdf] = l = [];
                }
                if (l.FirstOrDefault(p => p.Dev.ShmemDevId == d.ShmemDevId) is { Cell: not null } same)
                {
                    f.Add(new Finding(Severity.Error, "ivshmem", d.Pos, $"{dev}: shmem_dev_id {d.ShmemDevId} is already cell '{PrintableText.Escape(same.Cell.Name)}''s end of this link: jailhouse refuses the device (EBUSY)") { Blocks = false, Cell = cell.Name });
                }
                l.Add((cell, d, layout));
                if (layout is null)
                {
                    continue;
                }
                for (int o = 0; o < d.ShmemPeers; o++)
                {
                    if (layout[2 + o] is { Size: not 0 } r && r.Has(MemFlags.Write) != (o == d.ShmemDevId))
                    {
                        f.Add(ConfigValidator.RegionFinding(Severity.Warning, "ivshmem", cell, r, "flags",
                            o == d.ShmemDevId
                                ? $"ivshmem {d.BdfText}: the output section of this peer (shmem_dev_id {o}) is not WRITE: the peer cannot send"
                                : $"ivshmem {d.BdfText}: the output section of peer {o} is WRITE here (shmem_dev_id {d.ShmemDevId}): this cell could forge the other peer's messages"));
                    }
                }
                if (layout[0] is { Size: not 0 } state && state.Has(MemFlags.Write))
                {
                    f.Add(ConfigValidator.RegionFinding(Severity.Warning, "ivshmem", cell, state, "flags",
                        $"ivshmem {d.BdfText}: the state table is WRITE: the hypervisor writes the state table, peers only read it"));
                }
            }
        }
        // The same memory in every peer, section by section, as far as both peers describe sections.
        foreach (var peers in links.Values)
        {
            var (refCell, _, reference) = peers[0];
            if (reference is null)
            {
                continue;
            }
            foreach (var (cell, d, mine) in peers.Skip(1))
            {
                if (mine is null)
                {
                    continue;
                }
                for (int i = 0; i < Math.Min(mine.Length, reference.Length); i++)
                {
                    var (a, b) = (mine[i], reference[i]);
                    ulong aSize = a?.Size ?? 0, bSize = b?.Size ?? 0;
                    if (aSize != 0 && bSize != 0 && (a!.PhysStart != b!.PhysStart || aSize != bSize))
                    {
                        string role = i == 0 ? "state table" : i == 1 ? "read/write section" : $"output section of peer {i - 2}";
                        f.Add(ConfigValidator.RegionFinding(Severity.Error, "ivshmem", cell, a, "phys_start",
                            $"ivshmem {d.BdfText} {role}: PA {Sizes.Range(a.PhysStart, aSize)} here, PA {Sizes.Range(b.PhysStart, bSize)} in cell '{PrintableText.Escape(refCell.Name)}' {b.Label}: the peers do not share it") with { Blocks = false });
                    }
                }
            }
        }
    }

    /// <summary>jailhouse's IVSHMEM_MAX_PEERS.</summary>
    public const int IvshmemMaxPeers = 12;

    /// <summary>
    /// jailhouse gives a non-root cell its memory by unmapping it from the root cell, and gives it back on destroy: a
    /// region the root never had was never the root's to give (hypervisor memory, another cell's, a device the root
    /// does not own), and returns to nobody.
    /// </summary>
    private static void RootNeverOwned(List<Finding> f, CellConfig root, IReadOnlyList<CellConfig> cells)
    {
        foreach (var cell in cells.Where(c => !c.IsRoot))
        {
            foreach (var r in cell.Regions.Where(r => !r.Has(MemFlags.CommRegion)))
            {
                // Walk the region's PA range through the root's regions, sorted; what no root region covers is reported.
                ulong at = r.PhysStart;
                ulong end = r.PhysEnd;
                bool progressed = true;
                while (at < end && progressed)
                {
                    progressed = false;
                    foreach (var rr in root.Regions)
                    {
                        if (rr.PhysStart <= at && at < rr.PhysEnd)
                        {
                            at = Math.Min(end, rr.PhysEnd);
                            progressed = true;
                        }
                    }
                }
                if (at < end)
                {
                    f.Add(ConfigValidator.RegionFinding(Severity.Warning, "root-never-owned", cell, r, "phys_start",
                        $"PA 0x{at:x} (in {Sizes.Range(r.PhysStart, r.Size)}) is in no region of the root cell: jailhouse takes a cell's memory from the root cell and gives it back on destroy, and the root never had this"));
                }
            }
        }
    }
}
