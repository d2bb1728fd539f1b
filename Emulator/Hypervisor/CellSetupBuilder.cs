using System.Globalization;
using System.Text;
using MmuSim.Addressing;
using MmuSim.Bits;
using MmuSim.Building;
using MmuSim.Core;
using MmuSim.Memory;
using MmuSim.Registers;

namespace MmuSim.Hypervisor;

/// <summary>Choices of `mmusim cell`.</summary>
public sealed record CellBuildOptions
{
    public Granule Granule { get; init; } = Granule.K4;
    /// <summary>VMID of the cell that is entered (VTTBR_EL2); other cells keep jailhouse's numbering (root 0, then 1, 2, ...).</summary>
    public int? Vmid { get; init; }
    /// <summary>Reproduce jailhouse: JAILHOUSE_MEM_EXECUTE is ignored, no stage-2 descriptor is execute-never.</summary>
    public bool JailhouseCompat { get; init; }
    /// <summary>Leave AF=0 in stage-2 leaves and set VTCR_EL2.HA=1 (FEAT_HAFDBS sets AF on first use).</summary>
    public bool HardwareAf { get; init; }

    /// <summary>
    /// The loading phase (between `jailhouse cell load` and `cell start`): the root cell sees the LOADABLE regions of
    /// the non-root cells again, with its own region's attributes, to write the images into them.
    /// </summary>
    public bool Loading { get; init; }
    public ulong? PoolBase { get; init; }
    public ulong? PoolSize { get; init; }

    /// <summary>
    /// Stage-2 tables shaped as jailhouse's arm64 code writes them (docs/cells.md, "`--jailhouse-tables`", cites its sources): the start
    /// level and root of <see cref="Stage2Geometry.DeriveJailhouse"/>, no 1 GiB blocks below 44-bit PAs, leaves
    /// without shareability or execute-never bits, the root cell's view of hypervisor_memory backed by one empty
    /// read-only page, and the root's PCI mmconfig window trapped. 4K granule only.
    /// </summary>
    public bool JailhouseTables { get; init; }

    /// <summary>The hypervisor's EL2 map; null: jailhouse's layout for a jailhouse `.cell`, identity otherwise.</summary>
    public El2Layout? El2Map { get; init; }

    /// <summary>The EL2 layout used for <paramref name="sys"/>.</summary>
    public El2Layout El2LayoutFor(SystemConfig sys) => El2Map
        ?? (sys.FromCellFile ? El2Layout.Jailhouse : sys.Family == HypervisorFamily.Hvisor && sys.HvisorPhysmem is { Count: > 0 } ? El2Layout.Hvisor : El2Layout.Identity);
}

/// <summary>The result of building a configuration: the setup trace, the layout behind it and the warnings.</summary>
public sealed class CellSetup
{
    public required string Trace { get; init; }
    public required SetupMap Map { get; init; }
    /// <summary>Warnings and notes (errors throw <see cref="ConfigException"/>).</summary>
    public required IReadOnlyList<Finding> Findings { get; init; }
    /// <summary>Simulated memory holding every table as built (with the RAM regions declared).</summary>
    public required PhysicalMemory Memory { get; init; }
    public required Stage2Geometry Stage2 { get; init; }
    public required El2Geometry El2 { get; init; }
    /// <summary>Register writes of the setup, in trace order.</summary>
    public required IReadOnlyList<(SysReg Reg, ulong Value)> Registers { get; init; }
    /// <summary>Bytes of table (and communication-page) memory used from the pool.</summary>
    public required ulong PoolUsed { get; init; }

    /// <summary>A core with the setup applied: registers written, tables in memory, RAM declared, at EL1.</summary>
    public SimulatedCore CreateCore()
    {
        var mem = new PhysicalMemory();
        foreach (var (b, s) in Memory.RamRegions)
        {
            mem.DeclareRam(new PhysicalAddress(b), s);
        }
        var core = new SimulatedCore(mem);
        foreach (var (reg, value) in Registers)
        {
            core.Registers[reg] = value;
        }
        foreach (var (pa, v) in Descriptors)
        {
            mem.Write64(new PhysicalAddress(pa), v);
        }
        core.CurrentEl = 1;
        return core;
    }

    /// <summary>Every descriptor word written, in write order.</summary>
    public required IReadOnlyList<(ulong Pa, ulong Value)> Descriptors { get; init; }
}

/// <summary>
/// Builds the tables a jailhouse-style partitioning hypervisor builds from a system configuration and its cells:
/// each cell's stage 2 (VTCR_EL2 derived from ID_AA64MMFR0_EL1.PARange), and the hypervisor's own EL2 stage-1 map
/// (hypervisor_memory, the debug console, the PCI mmconfig window, the table pool and the sub-page MMIO regions the
/// hypervisor emulates). Tables are built with <see cref="PageTableBuilder"/> in a frame pool, and every
/// descriptor store becomes a `mem` line of the setup trace through <see cref="PageTableBuilder.OnWrite"/>.
/// </summary>
public static class CellSetupBuilder
{
    /// <summary>HCR_EL2 while a cell runs: RW [31] (EL1 is AArch64) and VM [0] (stage 2 on).</summary>
    public const ulong HcrGuest = (1UL << 31) | 1UL;

    /// <summary>MemAttr[3:0] (FWB=0) for IO regions: 0b0001, Device-nGnRE.</summary>
    public const int MemAttrDevice = 0b0001;
    /// <summary>MemAttr[3:0] for memory: 0b1111, Normal outer and inner write-back.</summary>
    public const int MemAttrNormal = 0b1111;

    /// <summary>Stage-2 XN[1:0] (bits [54:53]) for a region without EXECUTE: 0b10, no execution at EL1 or EL0 (with or without FEAT_XNX).</summary>
    public const int XnNever = 0b10;

    /// <summary>
    /// The stage-2 leaf for a region (Arm ARM D8.3.2 stage-2 block and page descriptors): S2AP[0] (bit 6) = READ,
    /// S2AP[1] (bit 7) = WRITE; XN = EXECUTE ? 00 : 10 (always 00 with jailhouse compatibility); MemAttr Device-nGnRE
    /// for IO, Normal write-back otherwise; SH inner shareable for memory, outer for Device (what Device is treated
    /// as in any case); AF = 1 unless hardware AF update is used.
    /// </summary>
    public static ulong Stage2Leaf(MemFlags flags, ulong oa, int level, Granule g, bool jailhouseCompat, bool hardwareAf)
    {
        bool io = (flags & MemFlags.Io) != 0;
        int s2ap = ((flags & MemFlags.Read) != 0 ? 1 : 0) | ((flags & MemFlags.Write) != 0 ? 2 : 0);
        int xn = (flags & MemFlags.Execute) != 0 || jailhouseCompat ? 0 : XnNever;
        return Descriptors.Stage2Leaf(oa, level, g, memAttr: io ? MemAttrDevice : MemAttrNormal, s2ap: s2ap, sh: io ? 2 : 3,
            af: !hardwareAf, xn: xn);
    }

    /// <summary>
    /// The EL2 leaf (one-range regime, Arm ARM D8.3.1): AP[2:1] = 01 (read/write; AP[1] is RES1 with one privilege
    /// level), XN (bit 54) unless the range holds the hypervisor's code, AttrIndx 0 Normal or 1 Device, AF = 1.
    /// </summary>
    public static ulong El2Leaf(El2Kind kind, ulong oa, int level, Granule g) =>
        Descriptors.Stage1Leaf(oa, level, g, attrIndx: kind == El2Kind.Device ? El2Geometry.AttrDevice : El2Geometry.AttrNormal,
            ap: 0b01, sh: kind == El2Kind.Device ? 2 : 3, af: true, uxn: kind != El2Kind.Code);

    /// <summary>
    /// jailhouse's stage-2 leaf (its arch_map_memory_region and arm64 paging constants; docs/cells.md, "`--jailhouse-tables`"): valid, AF,
    /// S2_PTE_ACCESS_RO for READ and _WO for WRITE, MemAttr Device-nGnRE (0b0001) for IO or Normal write-back
    /// (0b1111); SH = 00 ("the stage-1 attributes prevail", as jailhouse's own comment says) and no XN (the EXECUTE test is commented out);
    /// a block has bits [1:0] = 01, a page 11 (arm_set_l3_page adds PTE_FLAG_TERMINAL).
    /// </summary>
    public static ulong JailhouseStage2Leaf(MemFlags flags, ulong oa, int level, Granule g)
    {
        bool io = (flags & MemFlags.Io) != 0;
        int s2ap = ((flags & MemFlags.Read) != 0 ? 1 : 0) | ((flags & MemFlags.Write) != 0 ? 2 : 0);
        return Descriptors.Stage2Leaf(oa, level, g, memAttr: io ? MemAttrDevice : MemAttrNormal, s2ap: s2ap, sh: 0, af: true, xn: 0);
    }

    /// <summary>
    /// jailhouse's EL2 leaf (its PAGE_DEFAULT_FLAGS, | PAGE_FLAG_DEVICE for devices): valid, AF, SH inner
    /// shareable, AP[2:1] = 01 (S1_PTE_ACCESS_EL0, RES1 at EL2, and read/write), AttrIndx 0 or 1; the upper attributes
    /// stay zero, so nothing is execute-never.
    /// </summary>
    public static ulong JailhouseEl2Leaf(El2Kind kind, ulong oa, int level, Granule g) =>
        Descriptors.Stage1Leaf(oa, level, g, attrIndx: kind == El2Kind.Device ? El2Geometry.AttrDevice : El2Geometry.AttrNormal,
            ap: 0b01, sh: 3, af: true);

    /// <summary>The default table pool: the upper half of hypervisor_memory, in whole pages.</summary>
    public static ConfigValidator.Pool ChoosePool(SystemConfig sys, CellBuildOptions opt)
    {
        if (opt.PoolBase is { } b)
        {
            return new ConfigValidator.Pool(b, opt.PoolSize ?? 0, true);
        }
        ulong page = 1UL << (int)opt.Granule;
        var hv = sys.HypervisorMemory;
        ulong size = (hv.Size / 2) & ~(page - 1);
        ulong end = (hv.PhysStart + hv.Size) & ~(page - 1);
        return new ConfigValidator.Pool(end - size, size, false);
    }

    /// <summary>VTTBR_EL2 / TTBR0_EL2 BADDR: PA[47:1], and PA[51:48] in bits [5:2] for a 52-bit PA.</summary>
    public static ulong EncodeBaddr(ulong table) => (table & BitOps.Mask(47, 1)) | (BitOps.Field(table, 51, 48) << 2);

    /// <summary>
    /// Validates and builds. Throws <see cref="ConfigException"/> with every error (<see cref="ConfigException.Errors"/>,
    /// each a <see cref="Finding"/>) when the configuration contradicts itself.
    /// </summary>
    public static CellSetup Build(SystemConfig sys, IReadOnlyList<CellConfig> nonRootCells, CellBuildOptions opt, IReadOnlyList<string>? inputFiles = null)
    {
        var plan = Plan(sys, nonRootCells, opt);
        var errors = plan.Findings.Where(f => f.Severity == Severity.Error && f.Blocks).ToList();
        if (errors.Count > 0)
        {
            throw new ConfigException(errors);
        }
        var setup = Emit(plan, inputFiles ?? [.. new[] { sys.File }.Concat(nonRootCells.Select(c => c.File)).Select(Path.GetFileName).OfType<string>()]);
        // The hypervisor map must be complete by construction; probing it proves it before anything is written.
        var gaps = El2MapProbe.Probe(setup.CreateCore(), setup.Map.El2, opt.Granule);
        if (gaps.Count > 0)
        {
            throw new ConfigException(gaps);
        }
        return setup;
    }

    /// <summary>Everything decided before tables are built.</summary>
    internal sealed class BuildPlan
    {
        public required SystemConfig System { get; init; }
        public required List<CellConfig> Cells { get; init; }
        public required CellBuildOptions Options { get; init; }
        public required Stage2Geometry Stage2 { get; init; }
        public required El2Geometry El2 { get; init; }
        public required ConfigValidator.Pool Pool { get; init; }
        public required List<Finding> Findings { get; init; }
        public required int[] Vmids { get; init; }
        public required int Entered { get; init; }
        public required bool Vmid16 { get; init; }
        public required List<El2Item> El2Items { get; init; }
        public required List<El2Item> El2Ranges { get; init; }
        public required Mmfr0 Mmfr0 { get; init; }
        public required El2Layout El2Layout { get; init; }
        /// <summary>The hvisor IVC channels hvisor accepts, by cell index, in creation order.</summary>
        public required List<(int Cell, IvcConfig Ivc)> Ivcs { get; init; }
    }

    /// <summary>Validation plus every decision that does not need tables (geometry, pool, VMIDs, EL2 ranges).</summary>
    internal static BuildPlan Plan(SystemConfig sys, IReadOnlyList<CellConfig> nonRootCells, CellBuildOptions opt)
    {
        var cells = new List<CellConfig> { sys.RootCell };
        cells.AddRange(nonRootCells);
        var mmfr0 = new Mmfr0(sys.Cpu.Mmfr0);
        var mmfr1 = new Mmfr1(sys.Cpu.Mmfr1);
        var mmfr2 = new Mmfr2(sys.Cpu.Mmfr2);
        var findings = new List<Finding>();
        var cpuPos = sys.Cpu.Pos ?? new SourcePos(sys.File, 1, 1);
        var s2 = opt.JailhouseTables ? Stage2Geometry.DeriveJailhouse(mmfr0, out string? s2Error) : Stage2Geometry.Derive(opt.Granule, mmfr0, out s2Error);
        if (s2Error is not null)
        {
            findings.Add(new Finding(Severity.Error, "cpu", cpuPos, s2Error));
        }
        var hv = sys.HypervisorMemory;
        var layout = opt.El2LayoutFor(sys);
        ulong hvVa = layout == El2Layout.Jailhouse ? JailhouseEl2Map.JailhouseBase : hv.VirtStart;
        ulong highestVa = hv.Size == 0 || hvVa + hv.Size < hvVa ? hvVa : hvVa + hv.Size - 1;
        var el2 = El2Geometry.Derive(opt.Granule, mmfr0, mmfr2, highestVa, out string? el2Error);
        if (layout == El2Layout.Hvisor)
        {
            // hvisor's boot page table: 4K granule, 39-bit VA from level 1, PS 48 bits (its mmu_enable; docs/cells.md, "The hypervisor's EL2 map").
            el2 = new El2Geometry(Granule.K4, HvisorEl2Map.VaBits, 1, 5);
            el2Error ??= opt.Granule == Granule.K4 ? null : "hvisor's EL2 page table uses the 4K granule (its mmu.rs): give --granule 4k";
        }
        if (el2Error is not null)
        {
            findings.Add(new Finding(Severity.Error, "cpu", hv.Pos, el2Error));
        }
        if (opt.HardwareAf && mmfr1.Hafdbs < 1)
        {
            findings.Add(new Finding(Severity.Error, "cpu", cpuPos,
                "--hw-af needs hardware access-flag update, but ID_AA64MMFR1_EL1.HAFDBS is 0: VTCR_EL2.HA would be ignored and every access would take an access flag fault"));
        }
        var pool = ChoosePool(sys, opt);
        findings.AddRange(ConfigValidator.Validate(sys, cells, s2, pool, opt.JailhouseCompat));

        // VMIDs as jailhouse numbers cells (root 0, then in creation order); --vmid renames the entered cell.
        int entered = cells.Count > 1 ? 1 : 0;
        var vmids = Enumerable.Range(0, cells.Count).ToArray();
        int vmidBits = mmfr1.VmidBits == 2 ? 16 : 8;
        if (opt.Vmid is { } v)
        {
            if (v < 0 || v >= 1 << vmidBits)
            {
                findings.Add(new Finding(Severity.Error, "vmid", null, $"--vmid {v} does not fit the CPU's {vmidBits}-bit VMIDs (ID_AA64MMFR1_EL1.VMIDBits)"));
            }
            for (int i = 0; i < cells.Count; i++)
            {
                if (i != entered && vmids[i] == v)
                {
                    findings.Add(new Finding(Severity.Error, "vmid", null, $"--vmid {v} is already cell '{cells[i].Name}''s VMID"));
                }
            }
            vmids[entered] = v;
        }
        bool vmid16 = vmids.Any(x => x > 255);

        var (items, ranges) = PlanEl2(sys, cells, s2, el2, pool, findings, layout);
        return new BuildPlan
        {
            System = sys,
            Cells = cells,
            Options = opt,
            Stage2 = s2,
            El2 = el2,
            Pool = pool,
            Findings = findings,
            Vmids = vmids,
            Entered = entered,
            Vmid16 = vmid16,
            El2Items = items,
            El2Ranges = ranges,
            Mmfr0 = mmfr0,
            El2Layout = layout,
            Ivcs = PlanIvcs(cells, findings),
        };
    }

    /// <summary>
    /// The IVC channels hvisor sets up, zone by zone in creation order (hvisor's ivc_init and
    /// insert_ivc_record): the first zone naming an ivc_id creates the channel (its section sizes must be page
    /// aligned), later ones join it with the same max_peers and section sizes while there is room. A refused entry
    /// ends that zone's IVC setup: hvisor returns from ivc_init, so the zone is created without it and the entries
    /// after it.
    /// </summary>
    private static List<(int Cell, IvcConfig Ivc)> PlanIvcs(List<CellConfig> cells, List<Finding> findings)
    {
        const uint hvPage = 0x1000;
        var accepted = new List<(int, IvcConfig)>();
        var records = new Dictionary<uint, (IvcConfig First, Dictionary<uint, string> Peers)>();
        for (int c = 0; c < cells.Count; c++)
        {
            var cell = cells[c];
            for (int i = 0; i < cell.Ivcs.Count; i++)
            {
                var ivc = cell.Ivcs[i];
                string? refused = null;
                bool known = records.TryGetValue(ivc.IvcId, out var rec);
                if (known)
                {
                    if (rec.First.MaxPeers != ivc.MaxPeers || rec.First.RwSecSize != ivc.RwSecSize || rec.First.OutSecSize != ivc.OutSecSize)
                    {
                        refused = $"its max_peers and section sizes ({ivc.MaxPeers}, 0x{ivc.RwSecSize:x}, 0x{ivc.OutSecSize:x}) differ from the channel's ({rec.First.MaxPeers}, 0x{rec.First.RwSecSize:x}, 0x{rec.First.OutSecSize:x}): \"ivc config conflicts\"";
                    }
                    else if (rec.Peers.Count == ivc.MaxPeers)
                    {
                        refused = $"the channel already has its {ivc.MaxPeers} peers";
                    }
                }
                else if (ivc.RwSecSize % hvPage != 0 || ivc.OutSecSize % hvPage != 0)
                {
                    refused = $"its section sizes (0x{ivc.RwSecSize:x}, 0x{ivc.OutSecSize:x}) are not multiples of 4 KiB: \"section size must be page aligned\"";
                }
                if (refused is not null)
                {
                    findings.Add(new Finding(Severity.Warning, "ivc", ivc.Pos,
                        $"{cell.Label} ivc_configs[{i}] (ivc_id {ivc.IvcId}): hvisor refuses it, {refused}; the zone is created without it"
                        + (i + 1 < cell.Ivcs.Count ? " and without the IVC entries after it" : "")));
                    break;
                }
                if (!known)
                {
                    rec = (ivc, new Dictionary<uint, string>());
                    records[ivc.IvcId] = rec;
                }
                if (rec.Peers.TryGetValue(ivc.PeerId, out string? other))
                {
                    findings.Add(new Finding(Severity.Warning, "ivc", ivc.Pos,
                        $"{cell.Label} ivc_configs[{i}] (ivc_id {ivc.IvcId}): peer_id {ivc.PeerId} is already {other}'s; hvisor replaces that peer's record, and both zones write the same output section"));
                }
                if (ivc.PeerId >= ivc.MaxPeers)
                {
                    findings.Add(new Finding(Severity.Warning, "ivc", ivc.Pos,
                        $"{cell.Label} ivc_configs[{i}] (ivc_id {ivc.IvcId}): peer_id {ivc.PeerId} is not below max_peers {ivc.MaxPeers}, so none of the output sections is this zone's to write"));
                }
                rec.Peers[ivc.PeerId] = cell.Label;
                accepted.Add((c, ivc));
            }
        }
        return accepted;
    }

    /// <summary>
    /// What the hypervisor must reach at EL2: its own memory (code, data), the table pool when it lies outside it,
    /// the debug console, the PCI mmconfig window, and every sub-page MMIO region (it performs those accesses for
    /// the guest). Everything but hypervisor_memory is identity mapped. Ranges that touch are merged when they agree.
    /// </summary>
    private static (List<El2Item> Items, List<El2Item> Ranges) PlanEl2(SystemConfig sys, List<CellConfig> cells, in Stage2Geometry s2,
        in El2Geometry el2, ConfigValidator.Pool pool, List<Finding> findings, El2Layout layout)
    {
        ulong page = 1UL << (int)s2.Granule;
        var hv = sys.HypervisorMemory;
        bool poolInside = pool.Base >= hv.PhysStart && pool.Base + pool.Size <= hv.PhysEnd;
        var items = layout == El2Layout.Jailhouse
            ? JailhouseEl2Map.Items(sys, findings)
            : new List<El2Item> { new("hypervisor_memory", hv.VirtStart, hv.PhysStart, hv.Size, El2Kind.Code) };
        if (!poolInside && pool.Size != 0)
        {
            // A --pool outside hypervisor_memory (this tool's option, not jailhouse's): reached identity mapped.
            items.Add(new El2Item("table pool", pool.Base, pool.Base, pool.Size, El2Kind.Data));
        }
        if (layout == El2Layout.Hvisor)
        {
            // What hvisor must reach (its memory, its UART), against what its boot page table maps.
            if (sys.DebugConsole is { } hcon)
            {
                items.Add(new El2Item("BOARD_UART_BASE", hcon.Address & ~(page - 1), hcon.Address & ~(page - 1), page, El2Kind.Device));
            }
            var hranges = HvisorEl2Map.Ranges(sys.HvisorPhysmem!, findings);
            hranges.AddRange(items.Where(i => i.Name == "table pool"));
            var fitting = new List<El2Item>();
            foreach (var r in hranges)
            {
                if (el2.Covers(r.Va + r.Size - 1))
                {
                    fitting.Add(r);
                    continue;
                }
                findings.Add(new Finding(Severity.Error, "hypervisor-map", hv.Pos,
                    $"{r.Name} at VA {Sizes.Range(r.Va, r.Size)} does not fit hvisor's {el2.VaBits}-bit EL2 VA range"));
            }
            return (items, fitting);
        }
        // jailhouse reaches sub-page MMIO through its per-CPU temporary window, one access at a time (its
        // mmio_handle_subpage): only the identity model maps those pages (and the console, mmconfig) for good.
        if (layout == El2Layout.Identity)
        {
            AddIdentityItems(sys, cells, page, items);
        }
        var ranges = new List<El2Item>();
        foreach (var it in items.Where(i => i.Size != 0).OrderBy(i => i.Va))
        {
            if (!el2.Covers(it.Va + it.Size - 1))
            {
                findings.Add(new Finding(Severity.Error, "hypervisor-map", hv.Pos,
                    $"{it.Name} at VA {Sizes.Range(it.Va, it.Size)} does not fit the hypervisor's {el2.VaBits}-bit EL2 VA range"));
                continue;
            }
            if (ranges.Count > 0)
            {
                var last = ranges[^1];
                ulong lastEnd = last.Va + last.Size;
                bool sameMap = last.Kind == it.Kind && last.Pa - last.Va == it.Pa - it.Va;
                if (it.Va <= lastEnd && sameMap)
                {
                    ulong end = Math.Max(lastEnd, it.Va + it.Size);
                    ranges[^1] = last with { Name = last.Name + " + " + it.Name, Size = end - last.Va };
                    continue;
                }
                if (it.Va < lastEnd)
                {
                    findings.Add(new Finding(Severity.Error, "hypervisor-map", hv.Pos,
                        $"the hypervisor must map {it.Name} at VA {Sizes.Range(it.Va, it.Size)} ({it.Kind}) but {last.Name} {Sizes.Range(last.Va, last.Size)} ({last.Kind}) is there"));
                    continue;
                }
            }
            ranges.Add(it);
        }
        return (items, ranges);
    }

    /// <summary>The identity model: the console, the mmconfig window and every sub-page MMIO page, identity mapped.</summary>
    private static void AddIdentityItems(SystemConfig sys, List<CellConfig> cells, ulong page, List<El2Item> items)
    {
        if (sys.DebugConsole is { } con && con.Size != 0)
        {
            ulong b = con.Address & ~(page - 1);
            items.Add(new El2Item("debug_console", b, b, ConfigValidator.PageSpan(con.Address, con.Size, page), El2Kind.Device));
        }
        if (sys.Platform.PciMmconfigBase is { } m && !sys.Platform.PciIsVirtual)
        {
            // A virtual PCI host has nothing behind its window for the hypervisor to reach.
            items.Add(new El2Item("pci_mmconfig", m, m, sys.Platform.MmconfigSize, El2Kind.Device));
        }
        foreach (var cell in cells)
        {
            foreach (var r in cell.Regions)
            {
                if (r.Size != 0 && r.PhysStart + r.Size > r.PhysStart && ConfigValidator.IsSubpage(r, page) && !r.Has(MemFlags.Trapped))
                {
                    ulong b = r.PhysStart & ~(page - 1);
                    items.Add(new El2Item($"cell '{cell.Name}' {r.Label} (sub-page MMIO)", b, b, ConfigValidator.PageSpan(r.PhysStart, r.Size, page), El2Kind.Device));
                }
            }
        }
    }

    /// <summary>Builds the tables and writes the trace text.</summary>
    private static CellSetup Emit(BuildPlan plan, IReadOnlyList<string> inputFiles)
    {
        var opt = plan.Options;
        var g = opt.Granule;
        ulong page = 1UL << (int)g;
        var s2 = plan.Stage2;
        var el2 = plan.El2;
        var sys = plan.System;
        var mem = new PhysicalMemory();
        var frames = new FrameAllocator(plan.Pool.Base, plan.Pool.Size);
        var w = new TraceEmitter();
        bool lpa = plan.Mmfr0.PaMax >= 52;
        var registers = new List<(SysReg, ulong)>();
        void Reg(SysReg r, ulong v, string comment)
        {
            registers.Add((r, v));
            w.Reg(r, v, comment);
        }

        // Header: what was built from what, in words.
        w.Comment($"Generated by `mmusim cell` from {string.Join(" + ", inputFiles)}: the tables a jailhouse-style hypervisor builds.");
        w.Comment($"Stage 2: {TranslationGeometry.Name(g)} granule; PARange 0b{Convert.ToString(s2.PaRange, 2).PadLeft(4, '0')} = {plan.Mmfr0.PaMax}-bit PA{(s2.PaBits < plan.Mmfr0.PaMax ? $" (jailhouse caps it at {s2.PaBits} bits)" : "")}; "
            + $"{s2.IpaBits}-bit IPA (T0SZ={s2.T0Sz}); start level {s2.StartLevel} (SL0=0b{Convert.ToString(s2.Sl0, 2).PadLeft(2, '0')})"
            + (s2.ConcatenatedTables > 1 ? $" with {s2.ConcatenatedTables} concatenated root tables" : "")
            + $"; PS=0b{Convert.ToString(s2.Ps, 2).PadLeft(3, '0')}.");
        w.Comment($"EL2 stage 1: {el2.VaBits}-bit VA (T0SZ={el2.T0Sz}), start level {el2.StartLevel}. Table pool {Sizes.Range(plan.Pool.Base, plan.Pool.Size)}.");
        bool jhEl2 = plan.El2Layout == El2Layout.Jailhouse;
        bool hvEl2 = plan.El2Layout == El2Layout.Hvisor;
        w.HvisorMair = hvEl2;
        if (hvEl2)
        {
            w.Comment("EL2 map as hvisor's aarch64 boot code builds it: BOARD_PHYSMEM_LIST identity mapped, 1 GiB and 2 MiB blocks, no execute-never.");
        }
        if (jhEl2)
        {
            w.Comment($"EL2 map as jailhouse's arm64 hypervisor builds it: itself at JAILHOUSE_BASE 0x{JailhouseEl2Map.JailhouseBase:x}, the console at UART_BASE 0x{JailhouseEl2Map.UartBase:x},");
            w.Comment($"devices in the remap area from REMAP_BASE 0x{JailhouseEl2Map.RemapBase:x}; leaves as PAGE_DEFAULT_FLAGS (no execute-never), MAIR_EL2 0x{JailhouseEl2Map.Mair:x}.");
        }
        if (opt.JailhouseCompat)
        {
            w.Comment("--jailhouse-compat: JAILHOUSE_MEM_EXECUTE is ignored, as jailhouse does: no stage-2 descriptor is execute-never,");
            w.Comment("so every region is executable by the guest whatever its flags say.");
        }
        w.Comment(opt.HardwareAf
            ? "--hw-af: stage-2 leaves start with AF=0 and VTCR_EL2.HA=1 lets hardware set AF on first use."
            : sys.Family == HypervisorFamily.Hvisor
                ? "hvisor: every stage-2 leaf has AF=1, and VTCR_EL2.HA=1."
                : "Access flag managed by software: every stage-2 leaf has AF=1 (VTCR_EL2.HA=0).");
        if (opt.JailhouseTables)
        {
            w.Comment("--jailhouse-tables: stage 2 as jailhouse's arm64 code writes it: leaves with SH=00 and no XN, no 1 GiB blocks below 44-bit PAs,");
            w.Comment("the root cell's hypervisor_memory on one empty read-only page, the root's PCI mmconfig window trapped.");
        }
        if (opt.Loading)
        {
            w.Comment("--loading: the loading phase; the root cell keeps the non-root cells' LOADABLE regions mapped to write their images.");
        }

        // Communication pages come from the pool (hypervisor memory), one per COMM_REGION region.
        var commPa = new Dictionary<(int Cell, int Region), ulong>();
        for (int c = 0; c < plan.Cells.Count; c++)
        {
            foreach (var r in plan.Cells[c].Regions.Where(r => r.Has(MemFlags.CommRegion)))
            {
                commPa[(c, r.Index)] = Allocate(frames, r.Size, page, plan);
            }
        }

        w.Line("");
        w.Comment("The CPU (feature registers decide the PA range, the granules and HAFDBS).");
        w.Reg(SysReg.ID_AA64MMFR0_EL1, sys.Cpu.Mmfr0, "");
        w.Reg(SysReg.ID_AA64MMFR1_EL1, sys.Cpu.Mmfr1, "");
        w.Reg(SysReg.ID_AA64MMFR2_EL1, sys.Cpu.Mmfr2, "");
        registers.Add((SysReg.ID_AA64MMFR0_EL1, sys.Cpu.Mmfr0));
        registers.Add((SysReg.ID_AA64MMFR1_EL1, sys.Cpu.Mmfr1));
        registers.Add((SysReg.ID_AA64MMFR2_EL1, sys.Cpu.Mmfr2));

        // RAM: where walks may read (hypervisor memory with the pool, and the cells' memory holding guest tables).
        w.Line("");
        w.Comment("RAM: table walks read only from these ranges (anything else is a synchronous external abort).");
        var ram = new List<(ulong Base, ulong Size, string What)> { (sys.HypervisorMemory.PhysStart, sys.HypervisorMemory.Size, "hypervisor_memory") };
        if (!(plan.Pool.Base >= sys.HypervisorMemory.PhysStart && plan.Pool.Base + plan.Pool.Size <= sys.HypervisorMemory.PhysEnd))
        {
            ram.Add((plan.Pool.Base, plan.Pool.Size, "table pool"));
        }
        foreach (var cell in plan.Cells)
        {
            foreach (var r in cell.Regions.Where(r => !r.Has(MemFlags.Io) && !r.Has(MemFlags.CommRegion)))
            {
                ram.Add((r.PhysStart, r.Size, $"cell '{cell.Name}' {r.Label}"));
            }
        }
        foreach (var (b, s, what) in MergeRam(ram))
        {
            mem.DeclareRam(new PhysicalAddress(b), s);
            w.Ram(b, s, what);
        }

        var descriptors = new List<(ulong, ulong)>();
        var capture = new WriteCapture(w, descriptors, g);

        // The hypervisor's own map.
        w.Line("");
        w.Comment($"EL2 stage 1: the hypervisor's own map ({plan.El2Items.Count} ranges it must reach).");
        foreach (var it in plan.El2Items)
        {
            w.Comment($"  {it.Name}: VA {Sizes.Range(it.Va, it.Size)} -> PA 0x{it.Pa:x}, {(hvEl2 ? HvisorKindText(it.Kind) : jhEl2 ? JailhouseKindText(it.Kind) : KindText(it.Kind))}");
        }
        if (hvEl2)
        {
            w.Comment("  hvisor maps, identity:");
            foreach (var r in plan.El2Ranges)
            {
                w.Comment($"    {r.Name}: {Sizes.Range(r.Va, r.Size)}, {HvisorKindText(r.Kind)}");
            }
        }
        var el2b = new PageTableBuilder(mem, g, el2.VaBits, el2.StartLevel, frames) { OnWrite = capture.OnWrite };
        foreach (var it in plan.El2Ranges)
        {
            capture.Begin($"EL2 {it.Name}", "VA", 1);
            ulong delta = it.Va - it.Pa;
            var kind = it.Kind;
            Guard(plan, () => el2b.MapRange(it.Va, it.Pa, it.Size, (oa, level) =>
            {
                ulong d = jhEl2 ? JailhouseEl2Leaf(kind, oa, level, g) : hvEl2 ? HvisorEl2Map.Leaf(kind, oa, level, g) : El2Leaf(kind, oa, level, g);
                capture.BeforeLeaf(oa + delta, oa, level, d);
                return d;
            }, allowBlocks: true, lpa: lpa));
            capture.Flush();
        }
        ulong ttbr0El2 = EncodeBaddr(el2b.Root);
        if (hvEl2)
        {
            Reg(SysReg.MAIR_EL2, HvisorEl2Map.Mair, "Attr0 Device-nGnRnE, Attr1 Normal WB RWA, Attr2 Normal NC");
        }
        else if (jhEl2)
        {
            Reg(SysReg.MAIR_EL2, JailhouseEl2Map.Mair, "DEFAULT_MAIR_EL2: Attr0 Normal WB RWA, Attr1 Device-nGnRE, Attr2 Normal NC");
        }
        else
        {
            Reg(SysReg.MAIR_EL2, El2Geometry.Mair, "Attr0 Normal WB RWA, Attr1 Device-nGnRE");
        }
        Reg(SysReg.TCR_EL2, hvEl2 ? HvisorEl2Map.Tcr : el2.Tcr, $"T0SZ={el2.T0Sz}, TG0={TranslationGeometry.Name(g)}, PS=0b{Convert.ToString(el2.Ps, 2).PadLeft(3, '0')}, walks WB inner shareable");
        Reg(SysReg.TTBR0_EL2, ttbr0El2, "EL2 root table");
        Reg(SysReg.SCTLR_EL2, El2Geometry.Sctlr, "M=1 C=1 I=1 (hypervisor MMU on)");

        // Each cell's stage 2.
        var cellMaps = new List<CellMap>();
        var ivcPa = new Dictionary<uint, ulong>();
        var taken = TakenFromRoot(plan.Cells, page, opt.Loading, opt.JailhouseTables);
        bool jt = opt.JailhouseTables;
        // jailhouse's cell_paging below 44 bits (arm_s2_paging_alt) has no level-1 block: 2 MiB blocks at most.
        int minBlockLevel = jt && s2.PaBits < 44 ? 2 : 0;
        ulong Leaf(MemFlags flags, ulong o, int level) =>
            jt ? JailhouseStage2Leaf(flags, o, level, g) : Stage2Leaf(flags, o, level, g, opt.JailhouseCompat, opt.HardwareAf);
        for (int c = 0; c < plan.Cells.Count; c++)
        {
            var cell = plan.Cells[c];
            w.Line("");
            w.Comment($"Stage 2 of {(cell.IsRoot ? "the root " : "")}cell '{cell.Name}' (VMID {plan.Vmids[c]}), from {Path.GetFileName(cell.File)}.");
            var b = new PageTableBuilder(mem, g, s2.IpaBits, s2.StartLevel, frames) { OnWrite = capture.OnWrite };
            var mapped = new List<MappedRegion>();
            var given = new List<GivenAway>();
            if (jt && cell.IsRoot && sys.HypervisorMemory.Size != 0)
            {
                // jailhouse's init_early backs the root cell's view of hypervisor_memory, page by page, with one
                // empty page mapped read-only, so that Linux can still fault it in (jailhouse's init_early); the root's regions
                // are mapped after it (init_late).
                var hvm = sys.HypervisorMemory;
                ulong empty = Allocate(frames, page, page, plan);
                mapped.Add(new MappedRegion(MappedRegion.HypervisorMemoryIndex, "hypervisor_memory", empty, hvm.PhysStart, hvm.Size, MemFlags.Read, RegionMapping.Stage2, 0));
                capture.Begin($"'{cell.Name}' hypervisor_memory as one empty page, read-only", "IPA", 2);
                for (ulong off = 0; off < (hvm.Size & ~(page - 1)); off += page)
                {
                    ulong ipa = hvm.PhysStart + off;
                    Guard(plan, () => b.MapRange(ipa, empty, page, (o, level) =>
                    {
                        ulong d = JailhouseStage2Leaf(MemFlags.Read, o, level, g);
                        capture.BeforeLeaf(ipa, o, level, d);
                        return d;
                    }, allowBlocks: false, lpa: lpa));
                }
                capture.Flush();
            }
            foreach (var r in cell.Regions)
            {
                RegionMapping how = r.Has(MemFlags.CommRegion) ? RegionMapping.Comm
                    : ConfigValidator.IsSubpage(r, page) ? RegionMapping.Subpage : RegionMapping.Stage2;
                ulong comm = how == RegionMapping.Comm ? commPa[(c, r.Index)] : 0;
                mapped.Add(new MappedRegion(r.Index, r.Name, r.PhysStart, r.VirtStart, r.Size, r.Flags, how, comm));
                if (how == RegionMapping.Subpage)
                {
                    w.Comment($"  {r.Label} {Sizes.Range(r.VirtStart, r.Size)}: sub-page MMIO, left unmapped (trapped and emulated by the hypervisor)");
                    continue;
                }
                ulong oa = how == RegionMapping.Comm ? comm : r.PhysStart;
                var pieces = new List<(ulong Pa, ulong Size)> { (oa, r.Size) };
                // jailhouse takes a cell's memory away from the root cell; hvisor's root zone keeps it.
                if (cell.IsRoot && how == RegionMapping.Stage2 && sys.Family == HypervisorFamily.Jailhouse)
                {
                    pieces = Subtract(r, taken, given);
                }
                string tag = $"'{cell.Name}' {r.Label} {MemFlagNames.Format(r.Flags)}";
                foreach (var (pa, size) in pieces)
                {
                    ulong ipa = r.VirtStart + (pa - oa);
                    capture.Begin(tag, "IPA", 2);
                    var flags = r.Flags;
                    Guard(plan, () => b.MapRange(ipa, pa, size, (o, level) =>
                    {
                        ulong d = Leaf(flags, o, level);
                        capture.BeforeLeaf(o + (ipa - pa), o, level, d);
                        return d;
                    }, allowBlocks: !r.Has(MemFlags.NoHugepages), lpa: lpa, minBlockLevel: minBlockLevel));
                    capture.Flush();
                }
            }
            // hvisor's IVC channels of this zone: shared sections mapped without execute-never (hvisor's stage 2 never
            // sets XN), the control table a trapped page (mmio_ivc_handler).
            int ivcIndex = MappedRegion.IvcIndexBase;
            foreach (var (_, ivc) in plan.Ivcs.Where(x => x.Cell == c))
            {
                if (!ivcPa.TryGetValue(ivc.IvcId, out ulong shared))
                {
                    shared = Allocate(frames, ivc.SharedSize, page, plan);
                    ivcPa[ivc.IvcId] = shared;
                }
                mapped.Add(new MappedRegion(ivcIndex++, $"IVC {ivc.IvcId} control table", ivc.ControlTableIpa, ivc.ControlTableIpa, 0x1000,
                    MemFlags.Read | MemFlags.Write | MemFlags.Io | MemFlags.Trapped, RegionMapping.Subpage, 0));
                var sections = new List<(string Name, ulong Offset, ulong Size, MemFlags Flags)>
                {
                    ($"IVC {ivc.IvcId} read/write section", 0, ivc.RwSecSize, MemFlags.Read | MemFlags.Write | MemFlags.Execute),
                };
                for (uint peer = 0; peer < ivc.MaxPeers; peer++)
                {
                    sections.Add(($"IVC {ivc.IvcId} output section of peer {peer}", ivc.RwSecSize + (ulong)peer * ivc.OutSecSize, ivc.OutSecSize,
                        peer == ivc.PeerId ? MemFlags.Read | MemFlags.Write | MemFlags.Execute : MemFlags.Read | MemFlags.Execute));
                }
                foreach (var (name, offset, size, flags) in sections.Where(x => x.Size != 0))
                {
                    ulong ipa = ivc.SharedMemIpa + offset, pa = shared + offset;
                    mapped.Add(new MappedRegion(ivcIndex++, name, pa, ipa, size, flags, RegionMapping.Stage2, 0));
                    capture.Begin($"'{cell.Name}' {name}", "IPA", 2);
                    Guard(plan, () => b.MapRange(ipa, pa, size, (o, level) =>
                    {
                        ulong d = Leaf(flags, o, level);
                        capture.BeforeLeaf(o + (ipa - pa), o, level, d);
                        return d;
                    }, allowBlocks: true, lpa: lpa, minBlockLevel: minBlockLevel));
                    capture.Flush();
                }
                w.Comment($"  IVC {ivc.IvcId} (peer {ivc.PeerId} of {ivc.MaxPeers}): shared memory at IPA 0x{ivc.SharedMemIpa:x} -> PA 0x{shared:x}, control table at IPA 0x{ivc.ControlTableIpa:x} trapped");
            }
            foreach (var gv in given)
            {
                w.Comment($"  {cell.Regions.First(x => x.Index == gv.RootRegion).Label}: PA {Sizes.Range(gv.PhysStart, gv.Size)} (IPA 0x{gv.VirtStart:x}) left unmapped: it belongs to cell '{gv.ToCell}' region {gv.ToRegion}");
            }
            if (sys.Platform.PciIsVirtual && sys.Platform.PciMmconfigBase is { } vmmcfg && (cell.IsRoot || cell.PciDevices.Count > 0))
            {
                // A virtual PCI host (pci_is_virtual): nothing is behind the window; the hypervisor emulates the
                // configuration space of its virtual devices (ivshmem), so every access traps.
                mapped.Add(new MappedRegion(-1, "pci_mmconfig", vmmcfg, vmmcfg, sys.Platform.MmconfigSize, MemFlags.Read | MemFlags.Write | MemFlags.Io, RegionMapping.Subpage, 0));
                w.Comment($"  the virtual PCI host's mmconfig window {Sizes.Range(vmmcfg, sys.Platform.MmconfigSize)} (pci_is_virtual): left unmapped, trapped and emulated");
            }
            else if (jt && cell.IsRoot && sys.Platform.PciMmconfigBase is { } tmmcfg)
            {
                // jailhouse maps no ECAM window into the root cell: pci_cell_init registers an MMIO handler that
                // filters each configuration access and performs it through its own remap-area mapping (jailhouse's PCI code; docs/cells.md, "The hypervisors' rules").
                mapped.Add(new MappedRegion(MappedRegion.MmconfigIndex, MappedRegion.MmconfigFiltered, tmmcfg, tmmcfg, sys.Platform.MmconfigSize, MemFlags.Read | MemFlags.Write | MemFlags.Io, RegionMapping.Subpage, 0));
                w.Comment($"  the PCI mmconfig window {Sizes.Range(tmmcfg, sys.Platform.MmconfigSize)}: left unmapped, trapped and filtered by the hypervisor");
            }
            else if (cell.IsRoot && sys.Platform.PciMmconfigBase is { } mmcfg)
            {
                // The root cell drives the PCI host bridge: its ECAM window, 1 MiB per bus, mapped as IO.
                const MemFlags mmFlags = MemFlags.Read | MemFlags.Write | MemFlags.Io;
                ulong size = sys.Platform.MmconfigSize;
                var pseudo = new MappedRegion(-1, "pci_mmconfig", mmcfg, mmcfg, size, mmFlags, RegionMapping.Stage2, 0);
                if (cell.Regions.Any(r => ConfigValidator.Overlaps(r.VirtStart, r.Size, mmcfg, size)))
                {
                    w.Comment("  the PCI mmconfig window overlaps a root-cell region, which maps it instead");
                }
                else
                {
                    mapped.Add(pseudo);
                    capture.Begin($"'{cell.Name}' PCI mmconfig ({sys.Platform.PciMmconfigEndBus + 1} buses)", "IPA", 2);
                    Guard(plan, () => b.MapRange(mmcfg, mmcfg, size, (o, level) =>
                    {
                        ulong d = Leaf(mmFlags, o, level);
                        capture.BeforeLeaf(o, o, level, d);
                        return d;
                    }, allowBlocks: true, lpa: lpa, minBlockLevel: minBlockLevel));
                    capture.Flush();
                }
            }
            cellMaps.Add(new CellMap { Name = cell.Name, IsRoot = cell.IsRoot, Vmid = plan.Vmids[c], TableRoot = b.Root, Regions = mapped, GivenAway = given });
        }

        var entered = cellMaps[plan.Entered];
        // hvisor writes AF=1 and still sets VTCR_EL2.HA=1.
        bool ha = opt.HardwareAf || sys.Family == HypervisorFamily.Hvisor;
        ulong vtcr = s2.Vtcr(plan.Vmid16, ha);
        ulong vttbr = EncodeBaddr(entered.TableRoot) | ((ulong)entered.Vmid << 48);
        w.Line("");
        w.Comment($"Enter cell '{entered.Name}': stage 2 on, then run at EL1.");
        foreach (var cm in cellMaps.Where(x => x != entered))
        {
            w.Comment($"  (cell '{cm.Name}' would be entered with: reg VTTBR_EL2 0x{EncodeBaddr(cm.TableRoot) | ((ulong)cm.Vmid << 48):x})");
        }
        Reg(SysReg.VTCR_EL2, vtcr, $"T0SZ={s2.T0Sz} SL0=0b{Convert.ToString(s2.Sl0, 2).PadLeft(2, '0')} TG0={TranslationGeometry.Name(g)} PS=0b{Convert.ToString(s2.Ps, 2).PadLeft(3, '0')}"
            + (plan.Vmid16 ? " VS=1" : "") + (ha ? " HA=1" : ""));
        Reg(SysReg.VTTBR_EL2, vttbr, $"cell '{entered.Name}', VMID {entered.Vmid}");
        Reg(SysReg.HCR_EL2, HcrGuest, "RW=1 VM=1");
        w.Line("el   1");

        var map = new SetupMap
        {
            Granule = g,
            PaBits = s2.PaBits,
            IpaBits = s2.IpaBits,
            JailhouseCompat = opt.JailhouseCompat,
            HardwareAf = opt.HardwareAf,
            HvPhys = sys.HypervisorMemory.PhysStart,
            HvVirt = sys.HypervisorMemory.VirtStart,
            HvSize = sys.HypervisorMemory.Size,
            PoolBase = plan.Pool.Base,
            PoolSize = plan.Pool.Size,
            EnteredCell = entered.Name,
            El2 = plan.El2Items,
            Cells = cellMaps,
        };
        var text = new StringBuilder();
        var lines = w.Lines;
        // Header comment lines first, then the machine-readable layout, then the rest.
        int header = lines.FindIndex(l => !l.StartsWith('#'));
        for (int i = 0; i < header; i++)
        {
            text.Append(lines[i]).Append('\n');
        }
        foreach (var d in map.ToDirectives())
        {
            text.Append(d).Append('\n');
        }
        for (int i = header; i < lines.Count; i++)
        {
            text.Append(lines[i]).Append('\n');
        }
        return new CellSetup
        {
            Trace = text.ToString(),
            Map = map,
            Findings = plan.Findings,
            Memory = mem,
            Stage2 = s2,
            El2 = el2,
            Registers = registers,
            PoolUsed = frames.Used,
            Descriptors = descriptors,
        };
    }

    private static string HvisorKindText(El2Kind k) => k == El2Kind.Device ? "Device-nGnRnE, read/write/execute" : "Normal WB, read/write/execute";

    private static string JailhouseKindText(El2Kind k) => k == El2Kind.Device ? "Device-nGnRE, read/write/execute" : "Normal WB, read/write/execute";

    private static string KindText(El2Kind k) => k switch
    {
        El2Kind.Code => "Normal WB, read/write/execute",
        El2Kind.Data => "Normal WB, read/write, execute-never",
        _ => "Device-nGnRE, read/write, execute-never",
    };

    private static ulong Allocate(FrameAllocator frames, ulong size, ulong align, BuildPlan plan)
    {
        ulong at = 0;
        Guard(plan, () => at = frames.Allocate(size, align));
        return at;
    }

    /// <summary>An exhausted pool is the user's to fix (bigger hypervisor_memory or --pool): report it as a configuration error.</summary>
    private static void Guard(BuildPlan plan, Action a)
    {
        try
        {
            a();
        }
        catch (PoolExhaustedException e)
        {
            throw new ConfigException([new Finding(Severity.Error, "pool", plan.Pool.FromOption ? null : plan.System.HypervisorMemory.Pos,
                $"{e.Message}: give the tables more room with --pool BASE:SIZE (or a larger hypervisor_memory)")]);
        }
    }

    /// <summary>PA ranges of non-root cells that the root cell loses (not ROOTSHARED; sub-page regions cost their whole page).</summary>
    /// <param name="loading">The cells are being loaded: jailhouse's cell_load maps their LOADABLE regions back into the root cell.</param>
    /// <param name="jailhouseTables">jailhouse's own rule (its unmap_from_root_cell; docs/cells.md, "`--jailhouse-tables`"): a region whose phys_start or
    /// size is not page aligned is sub-page as seen from the root, and taking it only unregisters the root's
    /// sub-page handler there; the root's stage 2 keeps the page.</param>
    private static List<(ulong Pa, ulong Size, string Cell, int Region)> TakenFromRoot(List<CellConfig> cells, ulong page, bool loading, bool jailhouseTables)
    {
        var taken = new List<(ulong, ulong, string, int)>();
        foreach (var cell in cells.Where(c => !c.IsRoot))
        {
            foreach (var r in cell.Regions)
            {
                if (r.Has(MemFlags.RootShared) || r.Has(MemFlags.CommRegion) || (loading && r.Has(MemFlags.Loadable)))
                {
                    continue;
                }
                if (jailhouseTables && ((r.PhysStart | r.Size) & (page - 1)) != 0)
                {
                    continue;
                }
                if (ConfigValidator.IsSubpage(r, page))
                {
                    ulong b = r.PhysStart & ~(page - 1);
                    taken.Add((b, ConfigValidator.PageSpan(r.PhysStart, r.Size, page), cell.Name, r.Index));
                }
                else
                {
                    taken.Add((r.PhysStart, r.Size, cell.Name, r.Index));
                }
            }
        }
        return taken;
    }

    /// <summary>A root region's PA range minus what non-root cells took; the removed parts are recorded in <paramref name="given"/>.</summary>
    private static List<(ulong Pa, ulong Size)> Subtract(MemRegion r, List<(ulong Pa, ulong Size, string Cell, int Region)> taken, List<GivenAway> given)
    {
        var pieces = new List<(ulong Pa, ulong Size)> { (r.PhysStart, r.Size) };
        foreach (var (tPa, tSize, tCell, tRegion) in taken)
        {
            var next = new List<(ulong, ulong)>();
            foreach (var (pa, size) in pieces)
            {
                ulong end = pa + size;
                ulong tEnd = tPa + tSize;
                if (tPa >= end || tEnd <= pa)
                {
                    next.Add((pa, size));
                    continue;
                }
                ulong cutStart = Math.Max(pa, tPa);
                ulong cutEnd = Math.Min(end, tEnd);
                given.Add(new GivenAway(r.VirtStart + (cutStart - r.PhysStart), cutStart, cutEnd - cutStart, r.Index, tCell, tRegion));
                if (pa < cutStart)
                {
                    next.Add((pa, cutStart - pa));
                }
                if (cutEnd < end)
                {
                    next.Add((cutEnd, end - cutEnd));
                }
            }
            pieces = next;
        }
        return pieces;
    }

    private static List<(ulong Base, ulong Size, string What)> MergeRam(List<(ulong Base, ulong Size, string What)> ram)
    {
        var merged = new List<(ulong Base, ulong Size, string What)>();
        foreach (var (b, s, what) in ram.Where(x => x.Size != 0).OrderBy(x => x.Base))
        {
            if (merged.Count > 0)
            {
                var (lb, ls, lw) = merged[^1];
                if (b <= lb + ls)
                {
                    merged[^1] = (lb, Math.Max(lb + ls, b + s) - lb, lw + ", " + what);
                    continue;
                }
            }
            merged.Add((b, s, what));
        }
        return merged;
    }

    /// <summary>
    /// Turns the builder's descriptor stores into annotated `mem` lines. <see cref="PageTableBuilder.MapRange"/>
    /// calls the leaf function before each <see cref="PageTableBuilder.Set"/>, which first creates any missing
    /// tables on the way down and then stores the leaf: so the stores seen between two leaf calls are tables at
    /// consecutive levels above the leaf, followed by the leaf itself.
    /// </summary>
    private sealed class WriteCapture(TraceEmitter w, List<(ulong, ulong)> descriptors, Granule granule)
    {
        private readonly List<(ulong Pa, ulong Value)> _pending = new();
        private string _tag = "";
        private string _space = "IPA";
        private int _stage = 2;
        private bool _haveLeaf;
        private ulong _ia;
        private ulong _oa;
        private int _level;

        public void OnWrite(ulong pa, ulong value)
        {
            _pending.Add((pa, value));
            descriptors.Add((pa, value));
        }

        public void Begin(string tag, string space, int stage)
        {
            Flush();
            _tag = tag;
            _space = space;
            _stage = stage;
        }

        public void BeforeLeaf(ulong ia, ulong oa, int level, ulong descriptor)
        {
            Flush();
            _haveLeaf = true;
            _ia = ia;
            _oa = oa;
            _level = level;
        }

        public void Flush()
        {
            if (_pending.Count == 0)
            {
                return;
            }
            int n = _pending.Count;
            ulong page = 1UL << (int)granule;
            for (int i = 0; i < n - 1; i++)
            {
                // The next store is in the table this one points at.
                int level = _level - (n - 1) + i;
                w.Table(_pending[i].Pa, _pending[i].Value, level, _ia, _pending[i + 1].Pa & ~(page - 1), _space, _tag);
            }
            if (_haveLeaf)
            {
                w.Leaf(_pending[n - 1].Pa, _pending[n - 1].Value, _level, 1UL << TranslationGeometry.LevelShift(granule, _level), _ia, _oa, _space, _stage, _tag);
            }
            _pending.Clear();
            _haveLeaf = false;
        }
    }

    /// <summary>Writes trace lines; consecutive leaves of one range share a `mem` line (up to 8 words).</summary>
    private sealed class TraceEmitter
    {
        private const int MaxWords = 8;
        public List<string> Lines { get; } = new();
        private readonly List<ulong> _words = new();
        private ulong _groupPa;
        private ulong _groupIa;
        private ulong _groupOa;
        private int _groupLevel;
        private string _groupTag = "";
        private string _groupSpace = "";
        private int _groupStage;
        private ulong _groupDesc;
        private bool _sameOa;

        public void Line(string s)
        {
            FlushGroup();
            Lines.Add(PrintableText.Escape(s));
        }

        public void Comment(string s) => Line("# " + s);

        public void Reg(SysReg r, ulong v, string comment) =>
            Line($"reg  {r,-16} 0x{v:x16}" + (comment.Length > 0 ? "   # " + comment : ""));

        public void Ram(ulong b, ulong s, string what) => Line($"ram  0x{b:x} 0x{s:x}   # {Sizes.Format(s)}: {what}");

        public void Table(ulong pa, ulong value, int level, ulong ia, ulong next, string space, string tag)
        {
            FlushGroup();
            // Every line carries names from the configuration in its comment: escaped, a name cannot end the line.
            Lines.Add(PrintableText.Escape($"mem  0x{pa:x} 0x{value:x16}   # {tag}: L{level} table for {space} 0x{ia:x}.. -> next table at 0x{next:x}"));
        }

        public void Leaf(ulong pa, ulong value, int level, ulong span, ulong ia, ulong oa, string space, int stage, string tag)
        {
            ulong k = (ulong)_words.Count;
            if (k > 0 && k < MaxWords && tag == _groupTag && level == _groupLevel && space == _groupSpace
                && pa == _groupPa + 8 * k && ia == _groupIa + span * k && Attrs(value) == Attrs(_groupDesc))
            {
                // Consecutive output, or (jailhouse's empty page) every entry on the same output page.
                if (oa == _groupOa + span * k && !_sameOa)
                {
                    _words.Add(value);
                    return;
                }
                if (oa == _groupOa && (k == 1 || _sameOa))
                {
                    _sameOa = true;
                    _words.Add(value);
                    return;
                }
            }
            FlushGroup();
            _words.Add(value);
            _groupPa = pa;
            _groupIa = ia;
            _groupOa = oa;
            _groupLevel = level;
            _groupTag = tag;
            _groupSpace = space;
            _groupStage = stage;
            _groupDesc = value;
            _sameOa = false;
        }

        /// <summary>Everything but the address field (attributes and type bits must match to share a line).</summary>
        private static ulong Attrs(ulong d) => d & ~BitOps.Mask(49, 12);

        private void FlushGroup()
        {
            if (_words.Count == 0)
            {
                return;
            }
            var sb = new StringBuilder();
            sb.Append(CultureInfo.InvariantCulture, $"mem  0x{_groupPa:x}");
            foreach (var v in _words)
            {
                sb.Append(CultureInfo.InvariantCulture, $" 0x{v:x16}");
            }
            int n = _words.Count;
            string kind = _groupLevel == 3 ? "page" : "block";
            sb.Append(CultureInfo.InvariantCulture, $"   # {_groupTag}: L{_groupLevel} {(n > 1 ? $"{n} {kind}s" : kind)} {_groupSpace} 0x{_groupIa:x}.. -> PA 0x{_groupOa:x}{(_sameOa ? " (each)" : "..")}, {LeafText(_groupDesc, _groupStage)}");
            Lines.Add(PrintableText.Escape(sb.ToString()));
            _words.Clear();
        }

        /// <summary>The EL2 leaves index hvisor's MAIR_EL2 (Attr0 Device-nGnRnE, Attr1 Normal), not this model's.</summary>
        public bool HvisorMair { get; set; }

        private string LeafText(ulong d, int stage)
        {
            bool af = BitOps.Bit(d, 10);
            if (stage == 2)
            {
                int s2ap = (int)BitOps.Field(d, 7, 6);
                int xn = (int)BitOps.Field(d, 54, 53);
                int memAttr = (int)BitOps.Field(d, 5, 2);
                return $"S2AP {((s2ap & 1) != 0 ? "R" : "-")}{((s2ap & 2) != 0 ? "W" : "-")}, XN={Convert.ToString(xn, 2).PadLeft(2, '0')}"
                    + $", {(memAttr == MemAttrDevice ? "Device-nGnRE" : "Normal WB")}, AF={(af ? 1 : 0)}";
            }
            bool ro = BitOps.Bit(d, 7);
            bool xnBit = BitOps.Bit(d, 54);
            int attrIndx = (int)BitOps.Field(d, 4, 2);
            string memory = HvisorMair ? (attrIndx == 0 ? "Device-nGnRnE" : "Normal WB") : attrIndx == El2Geometry.AttrDevice ? "Device-nGnRE" : "Normal WB";
            return $"{(ro ? "RO" : "RW")}{(xnBit ? ", XN" : ", executable")}, {memory}, AF={(af ? 1 : 0)}";
        }
    }
}
