using MmuSim.Bits;
using MmuSim.Faults;
using MmuSim.Hypervisor;
using MmuSim.Registers;

namespace MmuSim.Tests.Hypervisor;

/// <summary>hvisor's board.rs root zone and JSON zones, built with hvisor's semantics (written here in hvisor's shapes).</summary>
public sealed class HvisorConfigTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"hvisor-{Guid.NewGuid():n}");

    public HvisorConfigTests()
    {
        Directory.CreateDirectory(_dir);
        File.WriteAllText(Path.Combine(_dir, "linker.ld"), "ENTRY(arch_entry)\nBASE_ADDRESS = 0x40400000;\n");
        File.WriteAllText(Path.Combine(_dir, "board.rs"), """
            pub const BOARD_NCPUS: usize = 4;
            pub const BOARD_UART_BASE: u64 = 0x9000000;
            pub const ROOT_ZONE_CPUS: u64 = (1 << 0) | (1 << 1);
            pub const ROOT_ZONE_NAME: &str = "root-linux";
            pub const ROOT_ZONE_MEMORY_REGIONS: [HvConfigMemoryRegion; 3] = [
                HvConfigMemoryRegion {
                    mem_type: MEM_TYPE_RAM,
                    physical_start: 0x50000000,
                    virtual_start: 0x50000000,
                    size: 0x70000000,
                }, // ram
                HvConfigMemoryRegion {
                    mem_type: MEM_TYPE_IO,
                    physical_start: 0x9000000,
                    virtual_start: 0x9000000,
                    size: 0x1000,
                }, // serial
                // HvConfigMemoryRegion {
                //     mem_type: MEM_TYPE_IO,
                //     physical_start: 0xb000000,
                //     virtual_start: 0xb000000,
                //     size: 0x1000,
                // }, // commented out: not a region
                HvConfigMemoryRegion {
                    mem_type: MEM_TYPE_IO,
                    physical_start: 0xa000000,
                    virtual_start: 0xa000000,
                    size: 0x4000,
                }, // virtio
            ];
            pub const ROOT_ARCH_ZONE_CONFIG: HvArchZoneConfig = HvArchZoneConfig {
                is_aarch32: 0,
                gic_config: GicConfig::Gicv3(Gicv3Config {
                    gicd_base: 0x8000000,
                    gicd_size: 0x10000,
                    gicr_base: 0x80a0000,
                    gicr_size: 0xf60000,
                }),
            };
            """);
        File.WriteAllText(Path.Combine(_dir, "zone1.json"), """
            {
                "name": "linux2",
                "zone_id": 1,
                "cpus": [2, 3],
                "memory_regions": [
                    { "type": "ram", "physical_start": "0x50000000", "virtual_start": "0x50000000", "size": "0x30000000" },
                    { "type": "virtio", "physical_start": "0xa003c00", "virtual_start": "0xa003c00", "size": "0x200" }
                ],
                "interrupts": [75, 76, 78],
                "kernel_load_paddr": "0x50400000"
            }
            """);
    }

    public void Dispose() => Directory.Delete(_dir, true);

    private (SystemConfig Sys, CellConfig Zone) Load() =>
        (CellConfigLoader.LoadSystem(Path.Combine(_dir, "board.rs")), CellConfigLoader.LoadCell(Path.Combine(_dir, "zone1.json")));

    [Fact]
    public void TheRootZoneComesFromBoardRs()
    {
        var (sys, zone) = Load();
        Assert.Equal(HypervisorFamily.Hvisor, sys.Family);
        Assert.Equal("root-linux", sys.RootCell.Name);
        Assert.Equal([0, 1], sys.RootCell.Cpus);
        Assert.Equal(["ram", "serial", "virtio"], sys.RootCell.Regions.Select(r => r.Name));
        Assert.Equal(MemFlags.Read | MemFlags.Write | MemFlags.Execute | MemFlags.Io, sys.RootCell.Regions[1].Flags);
        Assert.Equal(new SourcePos(Path.Combine(_dir, "board.rs"), 12, 5), sys.RootCell.Regions[1].Pos);
        Assert.Equal(0x40400000UL, sys.HypervisorMemory.PhysStart);
        Assert.Equal(0x08000000UL, sys.Arm!.GicdBase);
        Assert.Equal("linux2", zone.Name);
        Assert.Equal([2, 3], zone.Cpus);
        Assert.Equal(MemFlags.Read | MemFlags.Write | MemFlags.Io | MemFlags.Trapped, zone.Regions[1].Flags);
    }

    [Fact]
    public async Task HvisorsSemanticsBuild()
    {
        var (sys, zone) = Load();
        var setup = CellSetupBuilder.Build(sys, [zone], new CellBuildOptions());
        var core = await CellTestSupport.ReplaySetup(setup.Trace);
        // Hardware AF on, with every descriptor's AF already set.
        Assert.True(new Vtcr(core.Registers[SysReg.VTCR_EL2]).Ha);
        Assert.True(CellTestSupport.Access(core, 0x50400000, AccessType.Fetch, out var ram));
        Assert.Equal(0x50400000UL, ram.Pa);
        // The virtio region is trapped whatever its alignment: no stage-2 mapping for its page.
        Assert.False(CellTestSupport.Access(core, 0x0a003c10, AccessType.Read, out _));

        // The root zone keeps the memory it gave the zone: enter the root zone and read the zone's RAM.
        var map = SetupMap.FromTraceLines(setup.Trace.Split('\n'), "setup")!;
        var root = map.Cells.Single(c => c.IsRoot);
        var rootCore = await CellTestSupport.ReplaySetup(setup.Trace + $"reg VTTBR_EL2 0x{root.Vttbr:x}\n");
        Assert.True(CellTestSupport.Access(rootCore, 0x50400000, AccessType.Write, out var kept));
        Assert.Equal(0x50400000UL, kept.Pa);
    }

    [Fact]
    public async Task AZoneSharingARootCpuIsAnError()
    {
        File.WriteAllText(Path.Combine(_dir, "zone1.json"), File.ReadAllText(Path.Combine(_dir, "zone1.json")).Replace("[2, 3]", "[1, 2]"));
        var (sys, zone) = Load();
        var f = Assert.Single(await CellChecker.CheckAsync(sys, [zone], new CellBuildOptions()), x => x.Kind == "cpu-set");
        Assert.Equal($"{Path.Combine(_dir, "zone1.json")}:4:13: error: cell 'linux2': CPU 1 is also zone 'root-linux''s [cpu-set]", f.ToString());
    }
}
