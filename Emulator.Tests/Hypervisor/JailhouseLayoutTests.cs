using MmuSim.Addressing;
using MmuSim.Building;
using MmuSim.Core;
using MmuSim.Faults;
using MmuSim.Hypervisor;
using MmuSim.Memory;
using MmuSim.Registers;
using MmuSim.Translation;
using static MmuSim.Tests.Hypervisor.CellTestSupport;

namespace MmuSim.Tests.Hypervisor;

/// <summary>
/// jailhouse's own EL2 map (its paging_init and paging_map_device at its arm64 addresses; docs/cells.md) and its
/// stage-2 table shape (`--jailhouse-tables`, docs/cells.md), against values computed by hand.
/// </summary>
public sealed class JailhouseLayoutTests
{
    private const ulong Remap = 0xff8000000000;

    /// <summary>The bundled board with an MMIO console inside a 2 MiB page, a real PCI host and every kind of IOMMU unit.</summary>
    private static CellFileBuilder Board()
    {
        var b = CellFileBuilder.Board();
        b.ConsoleFlags = 1;                 // JAILHOUSE_CON_ACCESS_MMIO
        b.ConsoleAddress = 0x1c090800;
        b.PciIsVirtual = 0;
        b.MmconfigBase = 0x08e00000;        // end bus 0: 1 MiB
        b.Iommus.Add((3, 0x2b400000, 0x100000));   // SMMUv3
        b.Iommus.Add((4, 0x30f80000, 0x1000));     // TI PVU ...
        b.PvuTlbs[1] = (0x36000000, 0x100000);     // ... and its TLB window
        b.Iommus.Add((5, 0xfd800000, 0x20000));    // Arm MMU-500
        return b;
    }

    private static SystemConfig BoardSystem(CellFileBuilder b) => JailhouseBinaryConfig.ReadSystem(b.System(), "board.cell");

    [Fact]
    public void TheEl2MapIsJailhousesInTheOrderItMapsIt()
    {
        var findings = new List<Finding>();
        var items = JailhouseEl2Map.Items(BoardSystem(Board()), findings);
        Assert.Empty(findings);
        // Remap pages are handed out first-fit: GICD 16 pages, 4 redistributors of 32 pages, then the units in link order.
        Assert.Equal(
        [
            ("hypervisor_memory (JAILHOUSE_BASE)", 0xffffc0200000UL, 0x7fc00000UL, 0x400000UL, El2Kind.Code),
            ("debug_console (UART_BASE)", 0xffffc0090000UL, 0x1c090000UL, 0x1000UL, El2Kind.Device),
            ("GIC distributor (remap)", Remap, 0x08000000UL, 0x10000UL, El2Kind.Device),
            ("GIC redistributors (CPUs 0-3) (remap)", Remap + 0x10000, 0x080a0000UL, 0x80000UL, El2Kind.Device),
            ("SMMUv3 0x2b400000 (remap)", Remap + 0x90000, 0x2b400000UL, 0x100000UL, El2Kind.Device),
            ("PVU 0x30f80000 (remap)", Remap + 0x190000, 0x30f80000UL, 0x1000UL, El2Kind.Device),
            ("PVU 0x30f80000 TLB (remap)", Remap + 0x191000, 0x36000000UL, 0x100000UL, El2Kind.Device),
            ("MMU-500 0xfd800000 (remap)", Remap + 0x291000, 0xfd800000UL, 0x20000UL, El2Kind.Device),
            ("pci_mmconfig (remap)", Remap + 0x2b1000, 0x08e00000UL, 0x100000UL, El2Kind.Device),
        ], items.Select(i => (i.Name, i.Va, i.Pa, i.Size, i.Kind)));
    }

    [Fact]
    public void GicV2MapsDistributorCpuInterfaceAndHypervisorInterface()
    {
        var b = CellFileBuilder.Board();
        b.GicVersion = 2;
        b.Gicd = 0x2f000000;
        b.Gicc = 0x2c000000;
        b.Gich = 0x2c010000;
        var items = JailhouseEl2Map.Items(BoardSystem(b), []);
        Assert.Equal(
        [
            (Remap, 0x2f000000UL, 0x1000UL),
            (Remap + 0x1000, 0x2c000000UL, 0x2000UL),
            (Remap + 0x3000, 0x2c010000UL, 0x2000UL),
        ], items.Skip(2).Select(i => (i.Va, i.Pa, i.Size))); // after hypervisor_memory and the console
    }

    [Fact]
    public void WhatJailhousesInitWouldRefuseIsAnError()
    {
        var b = Board();
        b.GicVersion = 4;
        var findings = new List<Finding>();
        JailhouseEl2Map.Items(BoardSystem(b), findings);
        Assert.Equal("gic_version 4: jailhouse's irqchip knows GICv2 and GICv3 only (irqchip_cpu_init returns EINVAL)", Assert.Single(findings).Message);

        // 4 GiB of SMMU registers: more than the 131072 pages of the remap pool.
        b = Board();
        b.Iommus.Add((3, 0x100000000, 0xffffffff));
        findings = [];
        JailhouseEl2Map.Items(BoardSystem(b), findings);
        var f = Assert.Single(findings);
        Assert.Equal(("hypervisor-map", Severity.Error), (f.Kind, f.Severity));
        // 16 + 128 pages of GIC and 256 of the first SMMUv3 are taken when the second SMMUv3 asks.
        Assert.Equal($"SMMUv3 0x100000000 ({Sizes.Format(0xffffffff)}) does not fit jailhouse's remap pool (131072 pages from REMAP_BASE 0xff8000000000, 400 used): paging_map_device fails with ENOMEM", f.Message);
    }

    [Fact]
    public void TheBuiltEl2TablesTranslateTheHypervisorsAddresses()
    {
        var setup = CellSetupBuilder.Build(BoardSystem(Board()), [], new CellBuildOptions());
        var core = setup.CreateCore();
        core.CurrentEl = 2;
        Assert.Equal(JailhouseEl2Map.Mair, core.Registers[SysReg.MAIR_EL2]);
        (ulong Va, ulong Pa, bool Device)[] expected =
        [
            (0xffffc0200000, 0x7fc00000, false),
            (0xffffc05ffff8, 0x7ffffff8, false),
            (0xffffc0090800, 0x1c090800, true),
            (Remap + 0x10000 + 0x20000, 0x080c0000, true),
            (Remap + 0x191000 + 0xffff8, 0x360ffff8, true),
            (Remap + 0x2b1000 + 0xffff8, 0x08effff8, true),
        ];
        foreach (var (va, pa, device) in expected)
        {
            Assert.True(Access(core, va, AccessType.Read, out var r, el: 2), $"VA 0x{va:x}");
            Assert.Equal((pa, device), (r.Pa, Attributes.IsDevice(r.Attr)));
        }
        Assert.True(Access(core, 0xffffc0200000, AccessType.Fetch, out _, el: 2));
        // No identity map: the hypervisor reaches its memory only at JAILHOUSE_BASE, devices only through the remap area.
        Assert.False(Access(core, 0x7fc00000, AccessType.Read, out _, el: 2));
        Assert.False(Access(core, 0x08000000, AccessType.Read, out _, el: 2));
        Assert.False(Access(core, Remap + 0x2b1000 + 0x100000, AccessType.Read, out _, el: 2));
        // The leaves as PAGE_DEFAULT_FLAGS (| PAGE_FLAG_DEVICE): 0x741 for a block of memory, 0x747 for a device page.
        Assert.Contains(setup.Descriptors, d => d.Value == 0x7fc00741);
        Assert.Contains(setup.Descriptors, d => d.Value == 0x1c090747);
    }

    [Fact]
    public void TheLayoutFollowsTheInputUnlessChosen()
    {
        var fromCell = CellSetupBuilder.Build(BoardSystem(Board()), [], new CellBuildOptions { El2Map = El2Layout.Identity });
        Assert.Equal(0x7fc00000UL, fromCell.Map.El2[0].Va);
        Assert.Equal(El2Geometry.Mair, fromCell.CreateCore().Registers[SysReg.MAIR_EL2]);

        var json = Sys(SystemJson(Region("ram", 0x40000000, 0x40000000, 0x10000000, "READ|WRITE|EXECUTE")));
        Assert.Equal(0xfc000000UL, CellSetupBuilder.Build(json, [], new CellBuildOptions()).Map.El2[0].Va);
        var chosen = CellSetupBuilder.Build(json, [], new CellBuildOptions { El2Map = El2Layout.Jailhouse });
        Assert.Equal((JailhouseEl2Map.JailhouseBase, 0xfc000000UL), (chosen.Map.El2[0].Va, chosen.Map.El2[0].Pa));
    }

    // --jailhouse-tables ------------------------------------------------------------------------------------------

    /// <summary>Walks a 4K stage 2 by hand from VTTBR_EL2/VTCR_EL2 (independently of the model's walker): the leaf and its level.</summary>
    private static (ulong Descriptor, int Level) Leaf(PhysicalMemory mem, ulong vttbr, ulong vtcr, ulong ipa)
    {
        int t0sz = (int)(vtcr & 0x3f);
        int level = 2 - (int)((vtcr >> 6) & 3);
        ulong table = vttbr & 0x0000_ffff_ffff_f000;
        for (; ; level++)
        {
            int shift = 12 + 9 * (3 - level);
            // The first level indexes every bit of the IPA above it (concatenated tables); the others 9 bits.
            ulong index = level == 2 - (int)((vtcr >> 6) & 3) ? (ipa & ((1UL << (64 - t0sz)) - 1)) >> shift : (ipa >> shift) & 0x1ff;
            ulong d = mem.Peek64(new PhysicalAddress(table + 8 * index));
            if (level == 3 || (d & 3) == 1 || (d & 1) == 0)
            {
                return (d, level);
            }
            table = d & 0x0000_ffff_ffff_f000;
        }
    }

    private static CellSetup BuildJt(int paRange, string rootRegions, IReadOnlyList<CellConfig>? cells = null, bool jailhouseTables = true) =>
        CellSetupBuilder.Build(Sys(SystemJson(rootRegions, mmfr0: Mmfr0(paRange))), cells ?? [], new CellBuildOptions { JailhouseTables = jailhouseTables });

    private static (ulong Descriptor, int Level) RootLeaf(CellSetup s, ulong ipa)
    {
        var root = s.Map.Cells[0];
        ulong vtcr = s.Registers.Last(r => r.Reg == SysReg.VTCR_EL2).Value;
        return Leaf(s.Memory, root.Vttbr, vtcr, ipa);
    }

    private static readonly string Regions = string.Join(", ",
        Region("ram", 0x40000000, 0x40000000, 0x40000000, "READ|WRITE|EXECUTE"),
        Region("rom", 0x80000000, 0x80000000, 0x200000, "READ|EXECUTE"),
        Region("uart", 0x09000000, 0x09000000, 0x1000, "READ|WRITE|IO"));

    [Theory]
    // PARange → VTCR_EL2 as jailhouse's VTCR_CELL: T0SZ = 64 − PA bits, SL0 L1 below 44 bits and L0 from 44,
    // IRGN0 = ORGN0 = 01, SH0 = 11, PS = PARange (capped at 48 bits), RES1 bit 31; root pages CELL_ROOT_PT_PAGES.
    [InlineData(0, 0x80003560UL, 1)]   // 32 bits: T0SZ 32, L1, one table
    [InlineData(1, 0x8001355cUL, 1)]   // 36 bits
    [InlineData(2, 0x80023558UL, 2)]   // 40 bits: 2 concatenated level-1 tables
    [InlineData(3, 0x80033556UL, 8)]   // 42 bits: 8
    [InlineData(4, 0x80043594UL, 1)]   // 44 bits: level 0
    [InlineData(6, 0x80053590UL, 1)]   // 52 bits: capped at 48 (PARANGE_48B)
    public void VtcrAndRootFollowJailhousesParangeRules(int paRange, ulong vtcr, int rootTables)
    {
        var s = BuildJt(paRange, Regions);
        Assert.Equal(vtcr, s.Registers.Last(r => r.Reg == SysReg.VTCR_EL2).Value);
        Assert.Equal(rootTables, s.Stage2.ConcatenatedTables);
        Assert.Equal(0UL, s.Map.Cells[0].TableRoot % (0x1000UL * (ulong)rootTables));
    }

    [Theory]
    // Below 44 bits jailhouse's cell_paging (arm_s2_paging_alt) has no 1 GiB block: RAM is 2 MiB blocks.
    [InlineData(2, 2)]
    [InlineData(4, 1)]
    public void LeavesCarryJailhousesBitsAndBlockSizes(int paRange, int ramLevel)
    {
        var s = BuildJt(paRange, Regions);
        // RAM: OA | AF 0x400 | S2AP RW 0xc0 | MemAttr 0xf << 2 | block 01 = 0x4fd; no SH (bits 9:8 = 00), no XN.
        Assert.Equal((0x400004fdUL, ramLevel), RootLeaf(s, 0x40000000));
        Assert.Equal(ramLevel == 2 ? (0x7fe004fdUL, 2) : (0x400004fdUL, 1), RootLeaf(s, 0x7fe00000));
        // Read-only ROM: S2AP 01 → 0x47d, a 2 MiB block.
        Assert.Equal((0x8000047dUL, 2), RootLeaf(s, 0x80000000));
        // IO page: MemAttr 0b0001 → 0x4c7 with the page type 11.
        Assert.Equal((0x090004c7UL, 3), RootLeaf(s, 0x09000000));
    }

    [Fact]
    public void WithoutTheOptionTheSameRegionsCarryThisModelsBits()
    {
        var s = BuildJt(2, Regions, jailhouseTables: false);
        // SH 11 (0x300) and a 1 GiB block; XN 00 as the RAM has EXECUTE.
        Assert.Equal((0x400007fdUL, 1), RootLeaf(s, 0x40000000));
        // The IO page: SH 10 and XN 10 (no EXECUTE).
        Assert.Equal((0x00400000090006c7UL, 3), RootLeaf(s, 0x09000000));
    }

    [Fact]
    public void TheRootSeesHypervisorMemoryAsOneEmptyReadOnlyPage()
    {
        var s = BuildJt(2, Regions);
        var hv = s.Map.Cells[0].Regions.Single(r => r.Index == MappedRegion.HypervisorMemoryIndex);
        Assert.Equal((0xfc000000UL, 0x2000000UL, MemFlags.Read), (hv.VirtStart, hv.Size, hv.Flags));
        ulong empty = hv.PhysStart;
        Assert.True(empty >= 0xfd000000 && empty < 0xfe000000, "the empty page comes from the table pool");
        // Every page of hypervisor_memory: the same page, S2AP RO, Normal, AF, page type: empty | 0x47f.
        foreach (ulong ipa in new ulong[] { 0xfc000000, 0xfc001000, 0xfd7ff000, 0xfdfff000 })
        {
            Assert.Equal((empty | 0x47f, 3), RootLeaf(s, ipa));
        }
        var core = s.CreateCore();
        core.Registers[SysReg.VTTBR_EL2] = s.Map.Cells[0].Vttbr;
        core.Registers[SysReg.SCTLR_EL1] = 0; // stage 1 off: VA = IPA
        Assert.True(Access(core, 0xfc123458, AccessType.Read, out var r));
        Assert.Equal(empty + 0x458, r.Pa);
        Assert.False(Access(core, 0xfc123458, AccessType.Write, out r));
        Assert.Equal(FaultType.Permission, r.Fault.Type);
    }

    [Fact]
    public void TheRootsMmconfigWindowIsTrappedAndASubPageRegionLeavesTheRootItsPage()
    {
        var guest = Cell("""
            { "name": "guest", "mem_regions": [
                { "phys_start": "0x09000000", "virt_start": "0x09000000", "size": "0x100", "flags": "READ|WRITE|IO|IO_32" },
                { "phys_start": "0x50000000", "virt_start": "0x0", "size": "0x200000", "flags": "READ|WRITE|EXECUTE" } ] }
            """);
        var s = BuildJt(2, Regions, [guest]);
        var root = s.Map.Cells[0];
        var mm = root.Regions.Single(r => r.Index == MappedRegion.MmconfigIndex);
        Assert.Equal((MappedRegion.MmconfigFiltered, RegionMapping.Subpage), (mm.Name, mm.Mapping));
        Assert.Equal(0UL, RootLeaf(s, 0xe0000000).Descriptor);
        // unmap_from_root_cell: the guest's UART (size 0x100) is sub-page, so the root keeps its page ...
        Assert.Equal((0x090004c7UL, 3), RootLeaf(s, 0x09000000));
        // ... while the guest's RAM leaves the root: the 2 MiB block at 0x50000000 is gone, its neighbours stay.
        Assert.Equal(0UL, RootLeaf(s, 0x50000000).Descriptor & 1);
        Assert.Equal((0x502004fdUL, 2), RootLeaf(s, 0x50200000));

        var plain = BuildJt(2, Regions, [guest], jailhouseTables: false);
        Assert.Equal(0UL, RootLeaf(plain, 0x09000000).Descriptor & 1);
    }
}
