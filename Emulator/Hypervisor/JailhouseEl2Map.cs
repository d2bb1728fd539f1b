using MmuSim.Bits;

namespace MmuSim.Hypervisor;

/// <summary>Which EL2 map `mmusim cell` builds for the hypervisor.</summary>
public enum El2Layout : byte
{
    /// <summary>Everything identity mapped except hypervisor_memory at its virt_start (this tool's JSON model).</summary>
    Identity,
    /// <summary>jailhouse's arm64 layout: the hypervisor at JAILHOUSE_BASE, the console at UART_BASE, devices in the remap area.</summary>
    Jailhouse,
    /// <summary>hvisor's aarch64 boot page table: BOARD_PHYSMEM_LIST identity mapped (<see cref="HvisorEl2Map"/>).</summary>
    Hvisor,
}

/// <summary>
/// The EL2 map hvisor's aarch64 boot code builds (its boot_pt_init, map_list, map_range; docs/cells.md, "The hypervisor's EL2 map",
/// mmu_enable): BOARD_PHYSMEM_LIST identity mapped with 1 GiB blocks where a whole aligned GiB remains and 2 MiB
/// blocks elsewhere, through a 39-bit VA (TCR_EL2.T0SZ = 25, start level 1), PS 48 bits, MAIR_EL2 Attr0 Device-nGnRnE,
/// Attr1 Normal write-back, Attr2 Normal non-cacheable. Leaves: AF, AP 00, no execute-never; Device with AttrIndx 0
/// and SH outer, Normal with AttrIndx 1 and SH inner.
/// </summary>
public static class HvisorEl2Map
{
    public const int VaBits = 39;
    public const ulong Mair = 0x44ff00;
    /// <summary>TCR_EL2 as mmu_enable writes it: T0SZ 25, IRGN0 = ORGN0 = 01, SH0 inner, TG0 4K, PS 48 bits (its write sets no RES1 bit).</summary>
    public const ulong Tcr = 25 | (1UL << 8) | (1UL << 10) | (3UL << 12) | (5UL << 16);

    /// <summary>
    /// The ranges map_list maps. It merges an entry with the next when that one starts at its end with the same type,
    /// but keeps the first entry's end, so the next entry is never mapped; each such entry is a finding.
    /// </summary>
    public static List<El2Item> Ranges(IReadOnlyList<(ulong Start, ulong End, bool Device, SourcePos Pos)> list, List<Finding> findings)
    {
        var ranges = new List<El2Item>();
        int i = 0;
        while (i < list.Count)
        {
            var (start, end, device, _) = list[i];
            int first = i;
            while (i + 1 < list.Count && list[i + 1].Start == end && list[i + 1].Device == device)
            {
                i++;
                findings.Add(new Finding(Severity.Warning, "hypervisor-map", list[i].Pos,
                    $"BOARD_PHYSMEM_LIST[{i}] [0x{list[i].Start:x}-0x{list[i].End - 1:x}] follows entry {first} with the same type: hvisor's map_list merges them but keeps entry {first}'s end, so this range is not mapped at EL2"));
            }
            ranges.Add(new El2Item($"BOARD_PHYSMEM_LIST[{first}]", start, start, end - start, device ? El2Kind.Device : El2Kind.Code));
            i++;
        }
        return ranges;
    }

    /// <summary>The leaf PTEDescriptor::new writes for a block.</summary>
    public static ulong Leaf(El2Kind kind, ulong oa, int level, Addressing.Granule g) =>
        Building.Descriptors.Stage1Leaf(oa, level, g, attrIndx: kind == El2Kind.Device ? 0 : 1, ap: 0, sh: kind == El2Kind.Device ? 2 : 3, af: true);
}

/// <summary>
/// The EL2 stage-1 map jailhouse's arm64 hypervisor builds for itself, as data (its
/// paging_init and paging_map_device, and its arm64 constants for the addresses; docs/cells.md, "The hypervisor's EL2 map"):
/// <list type="bullet">
/// <item>hypervisor_memory, whole, at the link address JAILHOUSE_BASE (0xffffc0200000), Normal, read/write/execute;</item>
/// <item>the debug console, when CON_IS_MMIO, at UART_BASE (0xffffc0000000) plus the console's offset in its 2 MiB
/// page (jailhouse's arm64 entry code sets debug_console_base so), Device;</item>
/// <item>the remap area from REMAP_BASE (0xff8000000000): paging_map_device hands out pages first-fit in the order
/// the hypervisor initialises its devices: the GIC distributor (irqchip_cpu_init on the first CPU), GICC and GICH
/// (GICv2) or the redistributors of CPUs 0..last (GICv3, 128 KiB each), then the units in link order: SMMUv3s,
/// TI PVUs (configuration then TLB window), MMU-500s, the PCI mmconfig window (pci_init, unless pci_is_virtual).</item>
/// </list>
/// Every leaf carries PAGE_DEFAULT_FLAGS: AF, inner shareable, AP[2:1] = 01, no execute-never bit (jailhouse leaves
/// the upper attributes zero, so its devices are executable at EL2 too); Device ranges use MAIR index 1.
/// Not reproduced: the per-CPU pages (LOCAL_CPU_BASE, and the re-mapping of each per_cpu area, which only splits a
/// block of hypervisor_memory into pages; its size depends on the build), the per-CPU temporary window
/// (TEMPORARY_MAPPING_BASE) through which sub-page MMIO and guest pages are reached one access at a time, and
/// MSI-X tables of physical PCI devices.
/// </summary>
public static class JailhouseEl2Map
{
    /// <summary>JAILHOUSE_BASE (jailhouse's arm64 header): the hypervisor's link address.</summary>
    public const ulong JailhouseBase = 0xffffc0200000;
    /// <summary>UART_BASE (jailhouse's arm64 paging constants): the 2 MiB window of the debug console.</summary>
    public const ulong UartBase = 0xffffc0000000;
    /// <summary>REMAP_BASE (jailhouse's arm64 paging constants): the remap pool of paging_map_device.</summary>
    public const ulong RemapBase = 0xff8000000000;
    /// <summary>Pages of the remap pool: BITS_PER_PAGE × NUM_REMAP_BITMAP_PAGES = 32768 × 4 (jailhouse's paging code).</summary>
    public const ulong RemapPages = 32768 * 4;
    /// <summary>DEFAULT_MAIR_EL2 (jailhouse's arm64 paging constants): Attr0 Normal WB RA/WA, Attr1 Device-nGnRE, Attr2 Normal non-cacheable.</summary>
    public const ulong Mair = 0x4404ff;

    /// <summary>irqchip.gicd_size: 4 KiB for GICv2 (gic-v2.c), 64 KiB for GICv3 (gic-v3.c).</summary>
    public static ulong GicdSize(int gicVersion) => gicVersion == 2 ? 0x1000UL : 0x10000UL;
    /// <summary>GICC_SIZE and GICH_SIZE (gic_v2.h).</summary>
    public const ulong GiccSize = 0x2000, GichSize = 0x2000;
    /// <summary>GIC_V3_REDIST_SIZE (gic-v3.c): one redistributor frame pair per CPU.</summary>
    public const ulong RedistSize = 0x20000;

    /// <summary>
    /// The ranges jailhouse maps at EL2, in the order it maps them, with problems jailhouse's init would hit
    /// (a GIC version its irqchip does not know, a remap pool too small) as findings.
    /// </summary>
    public static List<El2Item> Items(SystemConfig sys, List<Finding> findings)
    {
        const ulong page = 0x1000;
        var hv = sys.HypervisorMemory;
        var items = new List<El2Item> { new("hypervisor_memory (JAILHOUSE_BASE)", JailhouseBase, hv.PhysStart, hv.Size, El2Kind.Code) };
        if (sys.DebugConsole is { IsMmio: true } con && con.Size != 0)
        {
            // paging_create aligns the start down and the size up, separately (jailhouse's paging_create; docs/cells.md, "The hypervisor's EL2 map").
            ulong va = UartBase + (con.Address & 0x1fffff);
            items.Add(new El2Item("debug_console (UART_BASE)", va & ~(page - 1), con.Address & ~(page - 1), (con.Size + page - 1) & ~(page - 1), El2Kind.Device));
        }
        ulong next = 0;
        void Remap(string name, ulong pa, ulong size)
        {
            ulong pages = (size + page - 1) / page;
            if (next + pages > RemapPages)
            {
                findings.Add(new Finding(Severity.Error, "hypervisor-map", sys.Platform.Pos,
                    $"{name} ({Sizes.Format(size)}) does not fit jailhouse's remap pool ({RemapPages} pages from REMAP_BASE 0x{RemapBase:x}, {next} used): paging_map_device fails with ENOMEM"));
                return;
            }
            items.Add(new El2Item(name + " (remap)", RemapBase + next * page, pa & ~(page - 1), pages * page, El2Kind.Device));
            next += pages;
        }
        if (sys.Arm is { } arm)
        {
            if (arm.GicVersion is not (2 or 3))
            {
                findings.Add(new Finding(Severity.Error, "hypervisor-map", arm.Pos,
                    $"gic_version {arm.GicVersion}: jailhouse's irqchip knows GICv2 and GICv3 only (irqchip_cpu_init returns EINVAL)"));
            }
            else
            {
                Remap("GIC distributor", arm.GicdBase, GicdSize(arm.GicVersion));
                if (arm.GicVersion == 2)
                {
                    Remap("GICC", arm.GiccBase, GiccSize);
                    Remap("GICH", arm.GichBase, GichSize);
                }
                else
                {
                    // The redistributors of CPUs 0..last_gicr, the root cell's highest CPU (gic-v3.c gicv3_init).
                    int last = sys.RootCell.Cpus is { Count: > 0 } cpus ? cpus.Max() : 0;
                    Remap($"GIC redistributors (CPUs 0-{last})", arm.GicrBase, RedistSize * (ulong)(last + 1));
                }
            }
        }
        // Units initialise in link order: arm64's smmu-v3.o, ti-pvu.o, smmu.o, then the core's pci.o.
        foreach (var u in sys.IommuUnits.Where(u => u.Type == IommuUnit.TypeSmmuV3))
        {
            Remap($"SMMUv3 0x{u.Base:x}", u.Base, u.Size);
        }
        foreach (var u in sys.IommuUnits.Where(u => u.Type == IommuUnit.TypePvu))
        {
            Remap($"PVU 0x{u.Base:x}", u.Base, u.Size);
            Remap($"PVU 0x{u.Base:x} TLB", u.TlbBase, u.TlbSize);
        }
        foreach (var u in sys.IommuUnits.Where(u => u.Type == IommuUnit.TypeMmu500))
        {
            Remap($"MMU-500 0x{u.Base:x}", u.Base, u.Size);
        }
        if (sys.Platform.PciMmconfigBase is { } m && !sys.Platform.PciIsVirtual)
        {
            Remap("pci_mmconfig", m, sys.Platform.MmconfigSize);
        }
        return items;
    }
}
