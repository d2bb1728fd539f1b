using MmuSim.Faults;
using MmuSim.Hypervisor;
using MmuSim.Registers;

namespace MmuSim.Tests.Hypervisor;

/// <summary>
/// hvisor's inter-VM communication channels (its ivc_init; docs/cells.md, "hvisor"): the shared memory the hypervisor allocates
/// once per ivc_id, each zone's view of it, the trapped control table, and the entries hvisor refuses.
/// </summary>
public sealed class HvisorIvcTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"hvisor-ivc-{Guid.NewGuid():n}");

    public HvisorIvcTests()
    {
        Directory.CreateDirectory(_dir);
        File.WriteAllText(Path.Combine(_dir, "linker.ld"), "BASE_ADDRESS = 0x40400000;\n");
        File.WriteAllText(Path.Combine(_dir, "board.rs"), """
            pub const BOARD_NCPUS: usize = 4;
            pub const ROOT_ZONE_CPUS: u64 = (1 << 0) | (1 << 1);
            pub const ROOT_ZONE_NAME: &str = "root-linux";
            pub const ROOT_ZONE_MEMORY_REGIONS: [HvConfigMemoryRegion; 1] = [
                HvConfigMemoryRegion {
                    mem_type: MEM_TYPE_RAM,
                    physical_start: 0x50000000,
                    virtual_start: 0x50000000,
                    size: 0x40000000,
                }, // ram
            ];
            pub const ROOT_ARCH_ZONE_CONFIG: HvArchZoneConfig = HvArchZoneConfig {
                gic_config: GicConfig::Gicv3(Gicv3Config { gicd_base: 0x8000000, gicr_base: 0x80a0000 }),
            };
            """);
        Zone("zone1.json", "linux1", 2, 0x50000000, Ivc(peer: 0, shared: 0xd0000000, control: 0xd0100000));
        Zone("zone2.json", "linux2", 3, 0x80000000, Ivc(peer: 1, shared: 0xe0000000, control: 0xe0100000));
    }

    public void Dispose() => Directory.Delete(_dir, true);

    private static string Ivc(uint peer, ulong shared, ulong control, string rw = "0x1000", string outSize = "0x2000") =>
        $$"""{ "ivc_id": 0, "peer_id": {{peer}}, "control_table_ipa": "0x{{control:x}}", "shared_mem_ipa": "0x{{shared:x}}", "rw_sec_size": "{{rw}}", "out_sec_size": "{{outSize}}", "interrupt_num": 66, "max_peers": 2 }""";

    private void Zone(string file, string name, int cpu, ulong ram, params string[] ivcs) =>
        File.WriteAllText(Path.Combine(_dir, file), $$"""
            {
                "name": "{{name}}", "zone_id": 1, "cpus": [{{cpu}}],
                "memory_regions": [ { "type": "ram", "physical_start": "0x{{ram:x}}", "virtual_start": "0x{{ram:x}}", "size": "0x10000000" } ],
                "ivc_configs": [ {{string.Join(", ", ivcs)}} ]
            }
            """);

    private CellSetup Build() => CellSetupBuilder.Build(CellConfigLoader.LoadSystem(Path.Combine(_dir, "board.rs")),
        [CellConfigLoader.LoadCell(Path.Combine(_dir, "zone1.json")), CellConfigLoader.LoadCell(Path.Combine(_dir, "zone2.json"))], new CellBuildOptions());

    private static async Task<MmuSim.Core.SimulatedCore> Enter(CellSetup s, string zone)
    {
        var cell = s.Map.Cells.Single(c => c.Name == zone);
        return await CellTestSupport.ReplaySetup(s.Trace + $"reg VTTBR_EL2 0x{cell.Vttbr:x}\n");
    }

    [Fact]
    public void AnIvcEntryReadsEveryFieldOfHvIvcConfig()
    {
        var zone = CellConfigLoader.LoadCell(Path.Combine(_dir, "zone2.json"));
        var ivc = Assert.Single(zone.Ivcs);
        Assert.Equal((0u, 1u, 0xe0100000UL, 0xe0000000UL, 0x1000u, 0x2000u, 66u, 2u),
            (ivc.IvcId, ivc.PeerId, ivc.ControlTableIpa, ivc.SharedMemIpa, ivc.RwSecSize, ivc.OutSecSize, ivc.InterruptNum, ivc.MaxPeers));
        Zone("zone2.json", "linux2", 3, 0x80000000, """{ "ivc_id": 0, "peer": 1 }""");
        var e = Assert.Throws<Bits.ConfigException>(() => CellConfigLoader.LoadCell(Path.Combine(_dir, "zone2.json")));
        Assert.Contains("ivc_configs[0]: unknown field \"peer\"", e.Message);
    }

    [Fact]
    public async Task BothZonesSeeOneSharedMemoryEachWritingOnlyItsOwnOutputSection()
    {
        var s = Build();
        Assert.DoesNotContain(s.Findings, f => f.Kind == "ivc");
        var one = await Enter(s, "linux1");
        var two = await Enter(s, "linux2");
        // rw section, output of peer 0, output of peer 1: the same PA in both zones, 0x5000 bytes allocated once.
        foreach (ulong offset in new ulong[] { 0x0, 0x1000, 0x2ff8, 0x3000, 0x4ff8 })
        {
            Assert.True(CellTestSupport.Access(one, 0xd0000000 + offset, AccessType.Read, out var a));
            Assert.True(CellTestSupport.Access(two, 0xe0000000 + offset, AccessType.Read, out var b));
            Assert.Equal(a.Pa, b.Pa);
        }
        Assert.True(CellTestSupport.Access(one, 0xd0000000, AccessType.Write, out var rw));
        Assert.True(rw.Pa >= s.Map.PoolBase && rw.Pa + 0x5000 <= s.Map.PoolBase + s.Map.PoolSize, "the shared memory comes from the hypervisor's memory");
        // Peer 0 (linux1) writes the output section at +0x1000, peer 1 (linux2) the one at +0x3000; the other is read-only.
        Assert.True(CellTestSupport.Access(one, 0xd0001000, AccessType.Write, out _));
        Assert.False(CellTestSupport.Access(one, 0xd0003000, AccessType.Write, out var refused));
        Assert.Equal(FaultType.Permission, refused.Fault.Type);
        Assert.True(CellTestSupport.Access(two, 0xe0003000, AccessType.Write, out _));
        Assert.False(CellTestSupport.Access(two, 0xe0001000, AccessType.Write, out _));
        // hvisor's stage 2 has no execute-never: the shared memory is executable.
        Assert.True(CellTestSupport.Access(two, 0xe0001000, AccessType.Fetch, out _));
        // Past the last section: nothing.
        Assert.False(CellTestSupport.Access(one, 0xd0005000, AccessType.Read, out _));
    }

    [Fact]
    public void TheControlTableTrapsAndIsExplained()
    {
        var s = Build();
        var table = s.Map.Cells.Single(c => c.Name == "linux1").Regions.Single(r => r.Name == "IVC 0 control table");
        Assert.True(table.IsIvcControlTable);
        Assert.Equal((0xd0100000UL, 0x1000UL, RegionMapping.Subpage), (table.VirtStart, table.Size, table.Mapping));
        Assert.Equal("the hypervisor traps a 4-byte read at offset 0x10 and answers it from the IVC channel's control table (hvisor's mmio_ivc_handler: ivc_id at 0x0, max_peers 0x4, section sizes 0x8 and 0xc, peer_id 0x10; a write to 0x14 signals a peer)",
            FaultExplainer.SubpageVerdict(table, 0xd0100010, 4, AccessType.Read));
    }

    [Fact]
    public void EntriesHvisorRefusesAreWarningsAndLeaveTheZoneWithout()
    {
        // linux2 disagrees on the output size: hvisor's insert_ivc_record refuses it; linux1's entry after a misaligned one is never read.
        Zone("zone1.json", "linux1", 2, 0x50000000, Ivc(0, 0xd0000000, 0xd0100000, rw: "0x800"), Ivc(0, 0xd8000000, 0xd8100000));
        Zone("zone2.json", "linux2", 3, 0x80000000, Ivc(1, 0xe0000000, 0xe0100000, outSize: "0x4000"));
        var s = Build();
        var ivc = s.Findings.Where(f => f.Kind == "ivc").Select(f => (f.Severity, f.Message)).ToList();
        Assert.Equal(
        [
            (Severity.Warning, "cell 'linux1' ivc_configs[0] (ivc_id 0): hvisor refuses it, its section sizes (0x800, 0x2000) are not multiples of 4 KiB: \"section size must be page aligned\"; the zone is created without it and without the IVC entries after it"),
        ], ivc);
        // linux1 refused both of its entries, so linux2 created the channel: it is mapped, with linux2's sizes.
        Assert.DoesNotContain(s.Map.Cells.Single(c => c.Name == "linux1").Regions, r => r.Index >= MappedRegion.IvcIndexBase);
        Assert.Equal(0x4000UL, s.Map.Cells.Single(c => c.Name == "linux2").Regions.Single(r => r.Name == "IVC 0 output section of peer 1").Size);

        Zone("zone1.json", "linux1", 2, 0x50000000, Ivc(0, 0xd0000000, 0xd0100000));
        s = Build();
        Assert.Equal(
            "cell 'linux2' ivc_configs[0] (ivc_id 0): hvisor refuses it, its max_peers and section sizes (2, 0x1000, 0x4000) differ from the channel's (2, 0x1000, 0x2000): \"ivc config conflicts\"; the zone is created without it",
            Assert.Single(s.Findings, f => f.Kind == "ivc").Message);
        Assert.DoesNotContain(s.Map.Cells.Single(c => c.Name == "linux2").Regions, r => r.Index >= MappedRegion.IvcIndexBase);
    }
}

/// <summary>hvisor's EL2 map: its boot page table over BOARD_PHYSMEM_LIST (its boot_pt_init; docs/cells.md).</summary>
public sealed class HvisorEl2MapTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"hvisor-el2-{Guid.NewGuid():n}");

    public HvisorEl2MapTests()
    {
        Directory.CreateDirectory(_dir);
        File.WriteAllText(Path.Combine(_dir, "linker.ld"), "BASE_ADDRESS = 0x40400000;\n");
    }

    public void Dispose() => Directory.Delete(_dir, true);

    private SystemConfig Board(string physmem)
    {
        File.WriteAllText(Path.Combine(_dir, "board.rs"), $$"""
            pub const BOARD_NCPUS: usize = 4;
            pub const BOARD_UART_BASE: u64 = 0x9000000;
            pub const BOARD_PHYSMEM_LIST: &[(u64, u64, MemoryType)] = &[
             // (       start,           end,                type)
            {{physmem}}
            ];
            pub const ROOT_ZONE_CPUS: u64 = (1 << 0) | (1 << 1);
            pub const ROOT_ZONE_NAME: &str = "root-linux";
            pub const ROOT_ZONE_MEMORY_REGIONS: [HvConfigMemoryRegion; 1] = [
                HvConfigMemoryRegion {
                    mem_type: MEM_TYPE_RAM,
                    physical_start: 0x50000000,
                    virtual_start: 0x50000000,
                    size: 0x30000000,
                }, // ram
            ];
            pub const ROOT_ARCH_ZONE_CONFIG: HvArchZoneConfig = HvArchZoneConfig {
                gic_config: GicConfig::Gicv3(Gicv3Config { gicd_base: 0x8000000, gicr_base: 0x80a0000 }),
            };
            """);
        return CellConfigLoader.LoadSystem(Path.Combine(_dir, "board.rs"));
    }

    // qemu-gicv3's list: devices below 256 MiB, RAM from 1 GiB to 4 GiB, the PCIe ECAM high up.
    private const string QemuList = """
            (         0x0,    0x10000000,  MemoryType::Device),
            (  0x40000000,   0x100000000,  MemoryType::Normal),
            // (0x5000000000, 0x5010000000, MemoryType::Device), commented out
            (0x4010000000,  0x4020000000,  MemoryType::Device),
        """;

    [Fact]
    public void TheBootPageTableMapsThePhysmemListIdentityWithHvisorsBits()
    {
        var sys = Board(QemuList);
        Assert.Equal([(0x0UL, 0x10000000UL, true), (0x40000000UL, 0x100000000UL, false), (0x4010000000UL, 0x4020000000UL, true)],
            sys.HvisorPhysmem!.Select(e => (e.Start, e.End, e.Device)));
        var s = CellSetupBuilder.Build(sys, [], new CellBuildOptions());
        Assert.DoesNotContain(s.Findings, f => f.Kind.StartsWith("hypervisor-map", StringComparison.Ordinal));
        var core = s.CreateCore();
        Assert.Equal((HvisorEl2Map.Mair, 0x53519UL), (core.Registers[SysReg.MAIR_EL2], core.Registers[SysReg.TCR_EL2]));
        foreach (ulong va in new ulong[] { 0x09000000, 0x40400000, 0xfffffff8, 0x401fffeff8 })
        {
            Assert.True(CellTestSupport.Access(core, va, AccessType.Read, out var r, el: 2), $"VA 0x{va:x}");
            Assert.Equal(va, r.Pa);
        }
        Assert.False(CellTestSupport.Access(core, 0x10000000, AccessType.Read, out _, el: 2));
        // 1 GiB blocks where a whole aligned GiB remains: Normal = AttrIndx 1 (0x4), SH inner (0x300), AF, AP 00, block;
        // 2 MiB blocks for the 256 MiB of devices: AttrIndx 0, SH outer (0x200).
        Assert.Contains(s.Descriptors, d => d.Value == 0x40000705);
        Assert.Contains(s.Descriptors, d => d.Value == 0xc0000705);
        Assert.Contains(s.Descriptors, d => d.Value == 0x00200601);
        Assert.Contains(s.Descriptors, d => d.Value == 0x4010000601);
    }

    [Fact]
    public void MapListDropsAnEntryThatContinuesOneOfTheSameType()
    {
        var sys = Board("""
            (         0x0,    0x10000000,  MemoryType::Device),
            (  0x40000000,   0x80000000,  MemoryType::Normal),
            (  0x80000000,   0x100000000,  MemoryType::Normal),
        """);
        var findings = new List<Finding>();
        var ranges = HvisorEl2Map.Ranges(sys.HvisorPhysmem!, findings);
        Assert.Equal([(0x0UL, 0x10000000UL), (0x40000000UL, 0x40000000UL)], ranges.Select(r => (r.Va, r.Size)));
        Assert.Equal("BOARD_PHYSMEM_LIST[2] [0x80000000-0xffffffff] follows entry 1 with the same type: hvisor's map_list merges them but keeps entry 1's end, so this range is not mapped at EL2",
            Assert.Single(findings).Message);
    }
}
