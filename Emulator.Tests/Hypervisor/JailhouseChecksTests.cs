using MmuSim.Bits;
using MmuSim.Hypervisor;

namespace MmuSim.Tests.Hypervisor;

/// <summary>
/// The checks jailhouse's tools and `cell create` make (GIC, IOMMU and mmconfig interception, physical aliases, CPU
/// sets, ivshmem), on binary configurations written by <see cref="CellFileBuilder"/>: each finding whole, and the
/// tables still built (jailhouse builds these configurations too).
/// </summary>
public sealed class JailhouseChecksTests
{
    private static async Task<List<Finding>> Check(CellFileBuilder system, params CellFileBuilder[] cells)
    {
        var sys = JailhouseBinaryConfig.ReadSystem(system.System(), "sys.cell");
        var parsed = cells.Select((c, i) => JailhouseBinaryConfig.ReadCell(c.Cell(), $"c{i}.cell")).ToList();
        var findings = await CellChecker.CheckAsync(sys, parsed, new CellBuildOptions());
        // None of these stops the build.
        Assert.DoesNotContain(findings, f => f.Severity == Severity.Error && f.Blocks);
        return findings.Where(f => f.Severity != Severity.Note).ToList();
    }

    private static string Lines(IEnumerable<Finding> f) => string.Join("\n", f.Select(x => x.ToString()));

    [Fact]
    public async Task TheBoardAndItsGuestAreClean()
    {
        Assert.Empty(await Check(CellFileBuilder.Board(), CellFileBuilder.Guest()));
    }

    [Fact]
    public async Task ACellMappingTheGicOrAnIommuIsAnError()
    {
        var guest = CellFileBuilder.Guest();
        guest.Regions.Add((0x08000000, 0x08000000, 0x10000, 0x13));       // the GICv3 distributor, READ|WRITE|IO
        var board = CellFileBuilder.Board();
        board.Iommus.Add((3, 0x09050000, 0x20000));
        board.Regions.Add((0x09050000, 0x09050000, 0x20000, 0x13));       // the SMMUv3, READ|WRITE|IO
        Assert.Equal("""
            sys.cell:byte 0x2d0: error: cell 'board' root_cell.mem_regions[7]: PA [0x9050000-0x906ffff] reaches the SMMUv3 unit [0x9050000-0x906ffff], which the hypervisor must intercept: the cell would bypass it [iommu]
            c0.cell:byte 0x16c: error: cell 'guest' mem_regions[7]: PA [0x8000000-0x800ffff] reaches the GIC GICD [0x8000000-0x800ffff], which the hypervisor must intercept: the cell would bypass it [gic]
            c0.cell:byte 0x16c: warning: cell 'guest' mem_regions[7]: PA 0x8000000 (in [0x8000000-0x800ffff]) is in no region of the root cell: jailhouse takes a cell's memory from the root cell and gives it back on destroy, and the root never had this [root-never-owned]
            """.ReplaceLineEndings("\n"), Lines(await Check(board, guest)));
    }

    [Fact]
    public async Task TheMmconfigWindowAndPhysicalAliasesAreErrors()
    {
        var board = CellFileBuilder.Board();
        board.Regions.Add((0x08e00000, 0x08e00000, 0x100000, 0x13));      // the ECAM window itself
        board.Regions.Add((0x40000000, 0x100000000, 0x1000, 0x03));       // RAM's first page again, at another IPA
        Assert.Equal("""
            sys.cell:byte 0x2d0: error: cell 'board' root_cell.mem_regions[7]: PA [0x8e00000-0x8efffff] reaches the PCI mmconfig window [0x8e00000-0x8efffff], which the hypervisor must intercept: the cell would bypass it [mmconfig]
            sys.cell:byte 0x2f0: error: cell 'board' root_cell.mem_regions[8]: PA [0x40000000-0x40000fff] is also mapped by mem_regions[6] (PA [0x40000000-0x7f9fffff]) at another IPA: one memory, two guest addresses [phys-alias]
            """.ReplaceLineEndings("\n"), Lines(await Check(board)));
    }

    [Fact]
    public async Task CpuSetsFollowCellCreate()
    {
        var other = CellFileBuilder.Guest();
        other.Name = "other";
        other.Cpus = [0x18];                                              // CPU 3 (taken by 'guest') and CPU 4 (not the root's)
        other.Regions.Clear();
        other.PciDevices.Clear();
        other.Regions.Add((0x60000000, 0x0, 0x10000, 0x07));
        var all = CellFileBuilder.Guest();
        all.Cpus = [0xf];                                                 // every CPU of the root
        Assert.Equal("""
            c1.cell:byte 0x84: error: cell 'other': CPU 3 already belongs to cell 'guest': jailhouse refuses to create this cell (EBUSY) [cpu-set]
            c1.cell:byte 0x84: error: cell 'other': CPU 4 is not in the root cell's CPU set (0-3): jailhouse refuses to create this cell (EBUSY) [cpu-set]
            """.ReplaceLineEndings("\n"), Lines((await Check(CellFileBuilder.Board(), CellFileBuilder.Guest(), other)).Where(f => f.Kind == "cpu-set")));
        Assert.Equal("""
            c0.cell:byte 0x84: error: cell 'guest': takes the root cell's last CPU: the CPU that creates a cell stays with the root cell, so jailhouse refuses (EBUSY) [cpu-set]
            """.ReplaceLineEndings("\n"), Lines(await Check(CellFileBuilder.Board(), all)));
    }

    [Fact]
    public async Task IvshmemPeersMustShareTheirSections()
    {
        var guest = CellFileBuilder.Guest();
        guest.Regions[3] = (0x7fc00000 - 0x7f000, 0x7fb70000, 0x7f000, 0x83);   // its output section elsewhere than the root's view
        guest.Regions[2] = (0x7faf1000, 0x7faf1000, 0x7f000, 0x83);             // and the root's output section writable
        Assert.Equal("""
            c0.cell:byte 0xe4: warning: cell 'guest' mem_regions[2]: ivshmem 00:00.0: the output section of peer 0 is WRITE here (shmem_dev_id 1): this cell could forge the other peer's messages [ivshmem]
            c0.cell:byte 0xec: error: cell 'guest' mem_regions[3]: ivshmem 00:00.0 output section of peer 1: PA [0x7fb81000-0x7fbfffff] here, PA [0x7fb70000-0x7fbeefff] in cell 'board' region 3: the peers do not share it [ivshmem]
            """.ReplaceLineEndings("\n"), Lines((await Check(CellFileBuilder.Board(), guest)).Where(f => f.Kind == "ivshmem")));

        var twice = CellFileBuilder.Guest();
        twice.PciDevices[0] = (3, 0x0000, 0, 0, 2, 0x0001);                     // the root's shmem_dev_id again
        var few = CellFileBuilder.Guest();
        few.Name = "few";
        few.Cpus = [0x2];
        few.PciDevices[0] = (3, 0x0000, 5, 1, 2, 0x0001);                       // regions 5..8 of 7
        Assert.Equal("""
            c0.cell:byte 0x18c: error: cell 'guest': ivshmem 00:00.0: shmem_dev_id 0 is already cell 'board''s end of this link: jailhouse refuses the device (EBUSY) [ivshmem]
            c1.cell:byte 0x18c: error: cell 'few': ivshmem 00:00.0: shmem_regions_start 5 + 2 + shmem_peers 2 = 9 regions, but the cell has 7: jailhouse refuses the device (EINVAL) [ivshmem]
            """.ReplaceLineEndings("\n"), Lines((await Check(CellFileBuilder.Board(), twice, few)).Where(f => f.Kind == "ivshmem" && f.Severity == Severity.Error)));
    }

    [Fact]
    public async Task OverlappingRegionsOfOneCellBuildWithTheLaterOneWinning()
    {
        // jailhouse maps a cell's regions in order: a later region replaces part of an earlier block mapping.
        var board = CellFileBuilder.Board();
        board.Regions.Add((0x50000000, 0x40200000, 0x1000, 0x01));        // READ only, inside RAM's IPA range
        var sys = JailhouseBinaryConfig.ReadSystem(board.System(), "sys.cell");
        var setup = CellSetupBuilder.Build(sys, [], new CellBuildOptions());
        var overlap = Assert.Single(setup.Findings, f => f.Kind == "overlap");
        Assert.False(overlap.Blocks);
        var core = await CellTestSupport.ReplaySetup(setup.Trace);
        Assert.True(CellTestSupport.Access(core, 0x40200000, MmuSim.Faults.AccessType.Read, out var moved));
        Assert.Equal(0x50000000UL, moved.Pa);
        Assert.False(CellTestSupport.Access(core, 0x40200000, MmuSim.Faults.AccessType.Write, out _));
        // The rest of the split block keeps RAM's mapping.
        Assert.True(CellTestSupport.Access(core, 0x40201000, MmuSim.Faults.AccessType.Write, out var ram));
        Assert.Equal(0x40201000UL, ram.Pa);
        Assert.True(CellTestSupport.Access(core, 0x403ff000, MmuSim.Faults.AccessType.Write, out var end));
        Assert.Equal(0x403ff000UL, end.Pa);
    }

    [Fact]
    public async Task TheLoadingPhaseGivesTheRootCellTheLoadableRegions()
    {
        // jailhouse's cell load maps a cell's LOADABLE regions back into the root cell; cell start takes them away.
        var sys = JailhouseBinaryConfig.ReadSystem(CellFileBuilder.Board().System(), "sys.cell");
        var guest = JailhouseBinaryConfig.ReadCell(CellFileBuilder.Guest().Cell(), "guest.cell");
        foreach (bool loading in new[] { false, true })
        {
            var setup = CellSetupBuilder.Build(sys, [guest], new CellBuildOptions { Loading = loading });
            var root = SetupMap.FromTraceLines(setup.Trace.Split('\n'), "setup")!.Cells.Single(c => c.IsRoot);
            var core = await CellTestSupport.ReplaySetup(setup.Trace + $"reg VTTBR_EL2 0x{root.Vttbr:x}\n");
            // The guest's code region (PA 0x70000000, LOADABLE) came from the root's RAM.
            Assert.Equal(loading, CellTestSupport.Access(core, 0x70000000, MmuSim.Faults.AccessType.Write, out _));
            Assert.Equal(loading, CellTestSupport.Access(core, 0x7000ffff, MmuSim.Faults.AccessType.Write, out _));
            Assert.True(CellTestSupport.Access(core, 0x70010000, MmuSim.Faults.AccessType.Write, out _));
        }
    }
}
