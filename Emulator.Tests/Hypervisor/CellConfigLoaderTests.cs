using MmuSim.Bits;
using MmuSim.Hypervisor;
using static MmuSim.Tests.Hypervisor.CellTestSupport;

namespace MmuSim.Tests.Hypervisor;

public class CellConfigLoaderTests
{
    [Fact]
    public void TheExamplesLoad()
    {
        var sys = CellConfigLoader.LoadSystem(Path.Combine(Examples, "qemu-virt.json"));
        Assert.Equal(0xbfc00000UL, sys.HypervisorMemory.PhysStart);
        Assert.Equal(0x400000UL, sys.HypervisorMemory.Size);
        Assert.Equal(0xbfc00000UL, sys.HypervisorMemory.VirtStart);
        Assert.Equal(0x09000000UL, sys.DebugConsole!.Address);
        Assert.Equal("PL011", sys.DebugConsole.Type);
        Assert.Equal(0x40_1000_0000UL, sys.Platform.PciMmconfigBase);
        Assert.Equal(256UL << 20, sys.Platform.MmconfigSize);
        Assert.Equal(0x101122UL, sys.Cpu.Mmfr0);
        Assert.Equal("qemu-virt", sys.RootCell.Name);
        Assert.True(sys.RootCell.IsRoot);
        Assert.Equal(8, sys.RootCell.Regions.Count);
        var fw = sys.RootCell.Regions[2];
        Assert.Equal("fw-cfg", fw.Name);
        Assert.Equal(MemFlags.Read | MemFlags.Write | MemFlags.Io | MemFlags.Io8 | MemFlags.Io16 | MemFlags.Io32 | MemFlags.Io64, fw.Flags);

        var cell = CellConfigLoader.LoadCell(Path.Combine(Examples, "linux-demo.json"));
        Assert.Equal("linux-demo", cell.Name);
        Assert.False(cell.IsRoot);
        Assert.Equal(6, cell.Regions.Count);
        Assert.Equal(MemFlags.Read | MemFlags.Write | MemFlags.Execute | MemFlags.Dma | MemFlags.Loadable, cell.Regions[0].Flags);
        var comm = cell.Regions[5];
        Assert.True(comm.Has(MemFlags.CommRegion));
        Assert.Equal(0UL, comm.PhysStart); // jailhouse ignores phys_start of a communication region
    }

    [Theory]
    [InlineData("\"READ | WRITE | EXECUTE\"", 0x7UL)]
    [InlineData("[\"READ\", \"IO\", \"IO_32\"]", 0x40011UL)]
    [InlineData("[\"JAILHOUSE_MEM_READ\", \"jailhouse_mem_rootshared\"]", 0x81UL)]
    [InlineData("19", 0x13UL)]
    [InlineData("\"0x8123\"", 0x8123UL)]
    [InlineData("[\"read\", 2, \"0x100\"]", 0x103UL)]
    [InlineData("\"COMM_REGION|LOADABLE|NO_HUGEPAGES|DMA|IO_UNALIGNED|IO_8|IO_16|IO_64\"", 0xB8168UL)]
    public void FlagsAreNamesOrNumbers(string flags, ulong expected)
    {
        var cell = Cell($$"""{ "name": "c", "mem_regions": [ { "phys_start": 0, "virt_start": 0, "size": 4096, "flags": {{flags}} } ] }""");
        Assert.Equal(expected, (ulong)cell.Regions[0].Flags);
    }

    [Fact]
    public void FlagNamesRoundTrip()
    {
        foreach (var (name, flag) in MemFlagNames.All)
        {
            Assert.True(MemFlagNames.TryParse(name, out var parsed));
            Assert.Equal(flag, parsed);
            Assert.Equal(name, MemFlagNames.Format(flag));
        }
        Assert.Equal("READ|WRITE|IO", MemFlagNames.Format(MemFlags.Read | MemFlags.Write | MemFlags.Io));
        Assert.Equal("0", MemFlagNames.Format(MemFlags.None));
        // jailhouse's values
        Assert.Equal(0x1UL, (ulong)MemFlags.Read);
        Assert.Equal(0x4UL, (ulong)MemFlags.Execute);
        Assert.Equal(0x20UL, (ulong)MemFlags.CommRegion);
        Assert.Equal(0x100UL, (ulong)MemFlags.NoHugepages);
        Assert.Equal(0x8000UL, (ulong)MemFlags.IoUnaligned);
        Assert.Equal(0x80000UL, (ulong)MemFlags.Io64);
    }

    private static ConfigException CellError(string json) => Assert.Throws<ConfigException>(() => Cell(json, "bad.json"));

    /// <summary>
    /// A byte that is not UTF-8 (a damaged or Latin-1 file) is an error at that byte, in a string or anywhere else;
    /// System.Text.Json alone would throw with no position when the string is decoded.
    /// </summary>
    [Theory]
    [InlineData("{\n  \"name\": \"gu\u00ffest\",\n  \"mem_regions\": []\n}", 2, 14)]
    [InlineData("{\n  \"na\u00c3me\": \"guest\"\n}", 2, 6)]
    [InlineData("{ \"name\": \"guest\", \"mem_regions\": [] } // \u00e9t\u00e9", 1, 43)]
    public void ABadUtf8ByteIsAnErrorAtThatByte(string latin1, int line, int column)
    {
        byte[] bytes = System.Text.Encoding.Latin1.GetBytes(latin1);
        var e = Assert.Throws<ConfigException>(() => CellConfigLoader.ParseCell(bytes, "bad.json"));
        Assert.Equal($"bad.json:{line}:{column}: invalid JSON: this byte is not UTF-8 text", e.Message);
        var system = Assert.Throws<ConfigException>(() => CellConfigLoader.ParseSystem(bytes, "sys.json"));
        Assert.StartsWith($"sys.json:{line}:{column}: invalid JSON", system.Message);
    }

    [Fact]
    public void ABadFlagNameNamesFileLineColumnRegionAndField()
    {
        var e = CellError("""
            {
              "name": "guest",
              "mem_regions": [
                { "name": "ram", "phys_start": 0, "virt_start": 0, "size": 4096, "flags": "READ" },
                { "name": "dtb", "phys_start": 0, "virt_start": 4096, "size": 4096, "flags": ["READ", "RAED"] }
              ]
            }
            """);
        Assert.Equal("bad.json", e.Where.File);
        Assert.Equal(5, e.Where.Line);
        Assert.Equal(91, e.Where.Column);
        Assert.StartsWith("bad.json:5:91: ", e.Message);
        Assert.Contains("cell 'guest': mem_regions[1] 'dtb'.flags: unknown flag \"RAED\"", e.Message);
    }

    [Fact]
    public void NumericFlagsWithUndefinedBitsAreRejected()
    {
        var e = CellError("""{ "name": "g", "mem_regions": [ { "phys_start": 0, "virt_start": 0, "size": 4096, "flags": "0x200" } ] }""");
        Assert.Contains("mem_regions[0].flags: 0x200 has bits 0x200 that are not JAILHOUSE_MEM_* flags", e.Message);
    }

    [Fact]
    public void ABadNumberNamesTheField()
    {
        var e = CellError("""
            { "name": "g", "mem_regions": [
                { "name": "ram", "phys_start": "0x4000_0000", "virt_start": 0, "size": "0x1g", "flags": "READ" } ] }
            """);
        Assert.Equal(2, e.Where.Line);
        Assert.Contains("mem_regions[0] 'ram'.size: \"0x1g\" is not an unsigned 64-bit number", e.Message);
    }

    [Fact]
    public void NegativeAndFractionalNumbersAreRejected()
    {
        Assert.Contains("is not an unsigned 64-bit number", CellError("""{ "name": "g", "mem_regions": [ { "phys_start": -1, "virt_start": 0, "size": 4096, "flags": 1 } ] }""").Message);
        Assert.Contains("is not an unsigned 64-bit number", CellError("""{ "name": "g", "mem_regions": [ { "phys_start": 1.5, "virt_start": 0, "size": 4096, "flags": 1 } ] }""").Message);
    }

    [Fact]
    public void MissingUnknownAndDuplicateFieldsAreErrors()
    {
        var missing = CellError("""{ "name": "g", "mem_regions": [ { "name": "ram", "phys_start": 0, "size": 4096, "flags": 1 } ] }""");
        Assert.Contains("mem_regions[0] 'ram': the required field \"virt_start\" is missing", missing.Message);

        var unknown = CellError("""{ "name": "g", "mem_regions": [ { "phys_start": 0, "virt_strat": 0, "size": 4096, "flags": 1 } ] }""");
        Assert.Contains("mem_regions[0]: unknown field \"virt_strat\" (did you mean \"virt_start\"? it is required)", unknown.Message);

        var extra = CellError("""{ "name": "g", "mem_regions": [ { "phys_start": 0, "virt_start": 0, "size": 4096, "flags": 1, "colour": "red" } ] }""");
        Assert.Contains("mem_regions[0]: unknown field \"colour\"", extra.Message);
        Assert.Equal(1, unknown.Where.Line);
        Assert.Equal(52, unknown.Where.Column);

        var twice = CellError("""{ "name": "g", "name": "h", "mem_regions": [] }""");
        Assert.Contains("\"name\" is given twice", twice.Message);

        var noRegions = CellError("""{ "name": "g" }""");
        Assert.Contains("the required field \"mem_regions\" is missing", noRegions.Message);
    }

    [Fact]
    public void JailhouseFieldsThatAreNotModelledAreAccepted()
    {
        var cell = Cell("""
            { "signature": "JHCELL", "revision": 13, "name": "g", "flags": 0, "cpus": [3], "irqchips": [], "pci_devices": [],
              "cpu_reset_address": 0, "console": { "type": "PL011" },
              "mem_regions": [ { "phys_start": 0, "virt_start": 0, "size": 4096, "flags": 1 } ] }
            """);
        Assert.Single(cell.Regions);
    }

    [Fact]
    public void InvalidJsonNamesLineAndColumn()
    {
        var e = CellError("{\n  \"name\": \"g\",\n  \"mem_regions\": [ { \"phys_start\": 0x1000 } ]\n}");
        Assert.Equal(3, e.Where.Line);
        Assert.StartsWith("bad.json:3:", e.Message);
        Assert.Contains("invalid JSON", e.Message);
    }

    [Fact]
    public void CommentsAndTrailingCommasAreAllowed()
    {
        var cell = Cell("""
            // a cell
            { "name": "g", /* inline */ "mem_regions": [ { "phys_start": 0, "virt_start": 0, "size": 4096, "flags": 1, }, ], }
            """);
        Assert.Single(cell.Regions);
    }

    [Fact]
    public void CellNamesFollowJailhouseLimits()
    {
        Assert.Contains("1 to 31 characters", CellError("""{ "name": "", "mem_regions": [] }""").Message);
        Assert.Contains("1 to 31 characters", CellError($$"""{ "name": "{{new string('x', 32)}}", "mem_regions": [] }""").Message);
    }

    [Fact]
    public void SystemFileErrorsNameTheirField()
    {
        var e = Assert.Throws<ConfigException>(() => Sys("""{ "hypervisor_memory": { "phys_start": 0 }, "root_cell": { "name": "r", "mem_regions": [] } }"""));
        Assert.Contains("hypervisor_memory: the required field \"size\" is missing", e.Message);
        var bus = Assert.Throws<ConfigException>(() => Sys("""
            { "hypervisor_memory": { "phys_start": 0, "size": 4096 }, "platform_info": { "pci_mmconfig_base": 0, "pci_mmconfig_end_bus": 256 },
              "root_cell": { "name": "r", "mem_regions": [] } }
            """));
        Assert.Contains("platform_info.pci_mmconfig_end_bus: 256 is not a PCI bus number", bus.Message);
        var root = Assert.Throws<ConfigException>(() => Sys("""{ "hypervisor_memory": { "phys_start": 0, "size": 4096 } }"""));
        Assert.Contains("the required field \"root_cell\" is missing", root.Message);
    }

    [Fact]
    public void WithoutACpuObjectTheCpuIsQemuMax()
    {
        var sys = Sys("""{ "hypervisor_memory": { "phys_start": 0, "size": 4096 }, "root_cell": { "name": "r", "mem_regions": [] } }""");
        Assert.Equal(MmuSim.Registers.SystemRegisters.QemuMaxMmfr0, sys.Cpu.Mmfr0);
        Assert.Equal(MmuSim.Registers.SystemRegisters.QemuMaxMmfr1, sys.Cpu.Mmfr1);
    }
}
