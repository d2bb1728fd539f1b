using MmuSim.Addressing;
using MmuSim.Bits;
using MmuSim.Hypervisor;
using static MmuSim.Tests.Hypervisor.CellTestSupport;

namespace MmuSim.Tests.Hypervisor;

/// <summary>One test per `mmusim cell --check` finding, each asserting the region's index and name and where it was written.</summary>
public class CellCheckTests
{
    private const string CleanRoot = """
        { "name": "uart", "phys_start": "0x09000000", "virt_start": "0x09000000", "size": "0x1000", "flags": "READ | WRITE | IO" },
        { "name": "ram",  "phys_start": "0x40000000", "virt_start": "0x40000000", "size": "0x40000000", "flags": "READ | WRITE" }
        """;

    private static string Guest(string name, string regions) => $$"""{ "name": "{{name}}", "mem_regions": [ {{regions}} ] }""";

    private static Task<List<Finding>> Check(string rootRegions, string[]? cells = null, CellBuildOptions? opt = null, string? against = null, ulong mmfr0 = 0x101122, ulong mmfr1 = Mmfr1, string? hv = null)
    {
        var sys = hv is null ? Sys(SystemJson(rootRegions, mmfr0, mmfr1)) : Sys(SystemJson(rootRegions, mmfr0, mmfr1, hv));
        var parsed = (cells ?? []).Select((c, i) => Cell(c, $"cell{i}.json")).ToList();
        return CellChecker.CheckAsync(sys, parsed, opt ?? new CellBuildOptions(), against);
    }

    private static Finding Single(List<Finding> findings, string kind)
    {
        var matching = findings.Where(f => f.Kind == kind).ToList();
        Assert.True(matching.Count == 1, $"expected one [{kind}] finding, got:\n{string.Join("\n", findings)}");
        return matching[0];
    }

    [Fact]
    public async Task ACleanConfigurationHasNoFindings()
    {
        var findings = await Check(CleanRoot, [Guest("g", """{ "name": "ram", "phys_start": "0x60000000", "virt_start": "0x0", "size": "0x100000", "flags": "READ | EXECUTE" }""")]);
        Assert.True(findings.Count == 0, string.Join("\n", findings));
    }

    [Fact]
    public async Task TheExamplesHaveOnlyTheirKnownWarningsAndNotes()
    {
        var sys = CellConfigLoader.LoadSystem(Path.Combine(Examples, "qemu-virt.json"));
        var cell = CellConfigLoader.LoadCell(Path.Combine(Examples, "linux-demo.json"));
        var findings = await CellChecker.CheckAsync(sys, [cell], new CellBuildOptions());
        Assert.Equal(["subpage", "writable-executable", "writable-executable", "subpage"], findings.Select(f => f.Kind).ToArray());
        Assert.Equal([2, 7, 0, 4], findings.Select(f => f.RegionIndex!.Value).ToArray());
        Assert.Equal(["fw-cfg", "ram", "ram", "virtio-net"], findings.Select(f => f.RegionName!).ToArray());
    }

    [Fact]
    public async Task OverlappingRegionsAreAnErrorNamingBoth()
    {
        var findings = await Check(CleanRoot, [Guest("g", """
            { "name": "a", "phys_start": "0x60000000", "virt_start": "0x0", "size": "0x200000", "flags": "READ" },
            { "name": "b", "phys_start": "0x70000000", "virt_start": "0x100000", "size": "0x1000", "flags": "READ" }
            """)]);
        var f = Single(findings, "overlap");
        Assert.Equal(Severity.Error, f.Severity);
        Assert.Equal("g", f.Cell);
        Assert.Equal(1, f.RegionIndex);
        Assert.Equal("b", f.RegionName);
        Assert.Equal(new SourcePos("cell0.json", 2, 58), f.Pos);
        Assert.Contains("mem_regions[1] 'b': virt_start + size: IPA [0x100000-0x100fff] overlaps mem_regions[0] 'a' IPA [0x0-0x1fffff]", f.Message);
    }

    [Fact]
    public async Task ASubPageRegionClaimsItsWholePageAgainstMappedRegions()
    {
        var findings = await Check(CleanRoot, [Guest("g", """
            { "name": "page", "phys_start": "0x9010000", "virt_start": "0x9010000", "size": "0x1000", "flags": "READ | WRITE | IO" },
            { "name": "sub",  "phys_start": "0x9010800", "virt_start": "0x9011800", "size": "0x100",  "flags": "READ | WRITE | IO" },
            { "name": "sub2", "phys_start": "0x9010900", "virt_start": "0x9011900", "size": "0x100",  "flags": "READ | WRITE | IO" }
            """)]);
        Assert.DoesNotContain(findings, f => f.Kind == "overlap"); // sub-page regions share a page with each other
        Assert.Equal(2, findings.Count(f => f.Kind == "subpage" && f.Severity == Severity.Note));
        var clash = await Check(CleanRoot, [Guest("g", """
            { "name": "page", "phys_start": "0x9010000", "virt_start": "0x9010000", "size": "0x1000", "flags": "READ | WRITE | IO" },
            { "name": "sub",  "phys_start": "0x9011800", "virt_start": "0x9010800", "size": "0x100",  "flags": "READ | WRITE | IO" }
            """)]);
        Assert.Contains("a sub-page region claims its whole page", Single(clash, "overlap").Message);
    }

    [Theory]
    [InlineData("\"phys_start\": \"0x60000800\", \"virt_start\": \"0x0\", \"size\": \"0x1000\"", "phys_start", "phys_start 0x60000800 is not aligned to the 4 KiB granule")]
    [InlineData("\"phys_start\": \"0x60000000\", \"virt_start\": \"0x10\", \"size\": \"0x1000\"", "virt_start", "virt_start 0x10 is not aligned to the 4 KiB granule")]
    [InlineData("\"phys_start\": \"0x60000000\", \"virt_start\": \"0x0\", \"size\": \"0x1800\"", "size", "size 0x1800 is not a multiple of the 4 KiB granule")]
    public async Task UnalignedMemoryRegionsAreErrorsNamingTheField(string fields, string field, string text)
    {
        var findings = await Check(CleanRoot, [Guest("g", $$"""{ "name": "ram", {{fields}}, "flags": "READ" }""")]);
        var f = Single(findings, "unaligned");
        Assert.Equal(Severity.Error, f.Severity);
        Assert.Equal(0, f.RegionIndex);
        Assert.Equal("ram", f.RegionName);
        Assert.Contains(text + " (only IO regions may be sub-page)", f.Message);
        int col = Guest("g", $$"""{ "name": "ram", {{fields}}, "flags": "READ" }""").IndexOf($"\"{field}\":", StringComparison.Ordinal) + field.Length + 5;
        Assert.Equal(col, f.Pos!.Value.Column);
    }

    [Fact]
    public async Task RegionsThatAreFineAt4KAreUnalignedAt64K()
    {
        var findings = await Check(CleanRoot, [Guest("g", """{ "name": "ram", "phys_start": "0x60000000", "virt_start": "0x0", "size": "0x1000", "flags": "READ" }""")],
            new CellBuildOptions { Granule = Granule.K64 });
        Assert.Contains("size 0x1000 is not a multiple of the 64 KiB granule", Single(findings, "unaligned").Message);
    }

    [Fact]
    public async Task EmptyRegionsArePlaceholders()
    {
        // jailhouse's shared-memory macros write { 0 } for a section a peer does not have: skipped, with a note.
        var f = Single(await Check(CleanRoot, [Guest("g", """{ "name": "nil", "phys_start": "0x60000000", "virt_start": "0x0", "size": "0", "flags": "READ" }""")]), "placeholder");
        Assert.Equal(Severity.Note, f.Severity);
        Assert.Equal(("g", 0, "nil"), (f.Cell, f.RegionIndex, f.RegionName));
        Assert.Equal("cell 'g' mem_regions[0] 'nil': size 0: a placeholder (as jailhouse's shared-memory macros write { 0 }), skipped", f.Message);
    }

    [Fact]
    public async Task RegionsBeyondParange()
    {
        // 40-bit PA and IPA: an IPA past 2^40 cannot be mapped at all.
        var ipa = Single(await Check(CleanRoot, [Guest("g", """{ "name": "high", "phys_start": "0x60000000", "virt_start": "0xfffffff000", "size": "0x2000", "flags": "READ" }""")]), "beyond-parange");
        Assert.Equal(Severity.Error, ipa.Severity);
        Assert.Equal("high", ipa.RegionName);
        Assert.Contains("IPA [0xfffffff000-0x10000000fff] reaches beyond the 40-bit IPA space (VTCR_EL2.T0SZ=24, from PARange)", ipa.Message);

        // A PA past PARange but below 2^48 can be encoded: the guest takes an address size fault there.
        var pa = Single(await Check(CleanRoot, [Guest("g", """{ "name": "far", "phys_start": "0x10000000000", "virt_start": "0x0", "size": "0x1000", "flags": "READ" }""")]), "beyond-parange");
        Assert.Equal(Severity.Warning, pa.Severity);
        Assert.Contains("beyond the 40-bit PA range (ID_AA64MMFR0_EL1.PARange=0b0010): guest accesses there take a stage-2 address size fault", pa.Message);

        var unencodable = Single(await Check(CleanRoot, [Guest("g", """{ "name": "far", "phys_start": "0x4000000000000", "virt_start": "0x0", "size": "0x1000", "flags": "READ" }""")]), "beyond-parange");
        Assert.Equal(Severity.Error, unencodable.Severity);
        Assert.Contains("a descriptor cannot hold it (48-bit output addresses)", unencodable.Message);
    }

    [Fact]
    public async Task WritableExecutableRegionsAreNotes()
    {
        // A note, not a warning: every Linux cell's RAM is writable and executable.
        var f = Single(await Check(CleanRoot, [Guest("g", """{ "name": "ram", "phys_start": "0x60000000", "virt_start": "0x0", "size": "0x1000", "flags": "READ | WRITE | EXECUTE" }""")]), "writable-executable");
        Assert.Equal(Severity.Note, f.Severity);
        Assert.Equal(("g", 0, "ram"), (f.Cell, f.RegionIndex, f.RegionName));
        Assert.Contains("flags READ|WRITE|EXECUTE are both WRITE and EXECUTE", f.Message);

        // Under --jailhouse-compat every writable region is executable too.
        var compat = await Check(CleanRoot, [], new CellBuildOptions { JailhouseCompat = true });
        var ram = compat.Where(x => x.Kind == "writable-executable").ToList();
        Assert.Equal(2, ram.Count); // the root's uart and ram are both writable
        Assert.All(ram, x => Assert.Contains("--jailhouse-compat maps every region executable", x.Message));
    }

    [Fact]
    public async Task ACellReachingHypervisorMemoryIsAnErrorThatStillBuilds()
    {
        // jailhouse-config-check fails on it; jailhouse itself maps it, so `cell` builds the tables anyway.
        var f = Single(await Check(CleanRoot, [Guest("g", """{ "name": "oops", "phys_start": "0xfd000000", "virt_start": "0x0", "size": "0x2000000", "flags": "READ | WRITE" }""")]), "reaches-hypervisor");
        Assert.Equal(Severity.Error, f.Severity);
        Assert.False(f.Blocks);
        Assert.Equal(("g", 0, "oops"), (f.Cell, f.RegionIndex, f.RegionName));
        Assert.Contains("PA [0xfd000000-0xfdffffff] is the hypervisor's memory", f.Message);
        Assert.Contains("the non-root cell could read or overwrite the hypervisor", f.Message);
    }

    [Fact]
    public async Task ANonRootCellReachingAnotherCellsPrivateMemoryIsAWarning()
    {
        string a = Guest("a", """{ "name": "ram", "phys_start": "0x60000000", "virt_start": "0x0", "size": "0x200000", "flags": "READ | WRITE" }""");
        string b = Guest("b", """{ "name": "buf", "phys_start": "0x60100000", "virt_start": "0x0", "size": "0x200000", "flags": "READ | WRITE" }""");
        var findings = await Check(CleanRoot, [a, b]);
        var both = findings.Where(f => f.Kind == "reaches-private").ToList();
        Assert.Equal(2, both.Count);
        Assert.Equal(("a", 0, "ram"), (both[0].Cell, both[0].RegionIndex, both[0].RegionName));
        Assert.Contains("PA [0x60100000-0x601fffff] is private memory of cell 'b' region 0 'buf'", both[0].Message);
        Assert.Equal(("b", 0, "buf"), (both[1].Cell, both[1].RegionIndex, both[1].RegionName));

        // Shared memory marked ROOTSHARED on both sides is fine; on one side only it is not.
        string aShared = a.Replace("READ | WRITE", "READ | WRITE | ROOTSHARED");
        string bShared = b.Replace("READ | WRITE", "READ | WRITE | ROOTSHARED");
        Assert.DoesNotContain(await Check(CleanRoot, [aShared, bShared]), f => f.Kind == "reaches-private");
        Assert.Equal(2, (await Check(CleanRoot, [aShared, b])).Count(f => f.Kind == "reaches-private"));
    }

    [Fact]
    public async Task ATablePoolInsideACellIsAnError()
    {
        var f = Single(await Check(CleanRoot, opt: new CellBuildOptions { PoolBase = 0x7000_0000, PoolSize = 0x10_0000 }), "pool");
        Assert.Equal(Severity.Error, f.Severity);
        Assert.Equal(("root", 1, "ram"), (f.Cell, f.RegionIndex, f.RegionName));
        Assert.Contains("overlaps the table pool [0x70000000-0x700fffff] (--pool): the cell could rewrite its own translation tables", f.Message);
    }

    [Fact]
    public async Task AnExhaustedPoolIsAnErrorNotACrash()
    {
        var f = Single(await Check(CleanRoot, opt: new CellBuildOptions { PoolBase = 0x8000_0000, PoolSize = 0x2000 }), "pool");
        Assert.Contains("is exhausted", f.Message);
        Assert.Contains("--pool BASE:SIZE", f.Message);
    }

    [Fact]
    public async Task HypervisorRangesThatCollideAreErrors()
    {
        // The debug console inside hypervisor_memory: one VA cannot be both Normal (code) and Device.
        var f = Single(await Check(CleanRoot, hv: "\"phys_start\": \"0x08000000\", \"size\": \"0x2000000\""), "hypervisor-map");
        Assert.Contains("the hypervisor must map debug_console at VA [0x9000000-0x9000fff] (Device) but hypervisor_memory [0x8000000-0x9ffffff] (Code) is there", f.Message);
    }

    [Fact]
    public async Task GapsInTheHypervisorsMapAreFoundInASetupTrace()
    {
        var sys = Sys(SystemJson(CleanRoot, 0x101122));
        var setup = CellSetupBuilder.Build(sys, [], new CellBuildOptions());
        string path = Path.Combine(Path.GetTempPath(), $"gap-{Guid.NewGuid():n}.trace");
        try
        {
            // Drop the first line of the EL2 mapping of the mmconfig window: its 8 blocks of 2 MiB.
            var lines = setup.Trace.Split('\n').ToList();
            int i = lines.FindIndex(l => l.StartsWith("mem ", StringComparison.Ordinal) && l.Contains("EL2 pci_mmconfig: L2", StringComparison.Ordinal));
            Assert.True(i > 0);
            var words = lines[i].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            lines[i] = $"mem {words[1]} 0x0";
            await File.WriteAllTextAsync(path, string.Join('\n', lines));
            var findings = await CellChecker.CheckAsync(sys, [], new CellBuildOptions(), path);
            var gap = Single(findings, "hypervisor-map-gap");
            Assert.Equal(Severity.Error, gap.Severity);
            Assert.True(gap.Message.Contains("the hypervisor's EL2 map has no pci_mmconfig at VA [0xe0000000-0xe0ffffff]", StringComparison.Ordinal), gap.Message);
            Assert.Contains("the hypervisor's EL2 map has no pci_mmconfig at VA [0xe0000000-0xe0ffffff] (PA 0xe0000000): an EL2 access there takes a translation fault, level 2", gap.Message);

            // The untouched trace has no gap; a trace with the EL2 MMU off has nothing mapped the way it must be.
            await File.WriteAllTextAsync(path, setup.Trace);
            Assert.Empty(await CellChecker.CheckAsync(sys, [], new CellBuildOptions(), path));
            await File.WriteAllTextAsync(path, setup.Trace + "reg SCTLR_EL2 0x30c50830\n");
            Assert.Contains("SCTLR_EL2.M=0", Single(await CellChecker.CheckAsync(sys, [], new CellBuildOptions(), path), "hypervisor-map-gap").Message);

            // A Device range mapped as Normal memory, and a read-only one.
            string normal = setup.Trace.Replace("0x0040000009000647", "0x0040000009000743", StringComparison.Ordinal);
            await File.WriteAllTextAsync(path, normal);
            Assert.Contains("debug_console maps VA 0x9000000 as Normal", Single(await CellChecker.CheckAsync(sys, [], new CellBuildOptions(), path), "hypervisor-map-gap").Message);
            string readOnly = setup.Trace.Replace("0x0040000009000647", "0x00400000090006c7", StringComparison.Ordinal);
            await File.WriteAllTextAsync(path, readOnly);
            Assert.Contains("maps VA 0x9000000 read-only, but the hypervisor writes debug_console", Single(await CellChecker.CheckAsync(sys, [], new CellBuildOptions(), path), "hypervisor-map-gap").Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task VmidsMustFitAndDiffer()
    {
        string g = Guest("g", """{ "name": "ram", "phys_start": "0x60000000", "virt_start": "0x0", "size": "0x1000", "flags": "READ" }""");
        Assert.Contains("--vmid 0 is already cell 'root''s VMID", Single(await Check(CleanRoot, [g], new CellBuildOptions { Vmid = 0 }), "vmid").Message);
        Assert.Contains("does not fit the CPU's 8-bit VMIDs", Single(await Check(CleanRoot, [g], new CellBuildOptions { Vmid = 300 }, mmfr1: 0x2), "vmid").Message);
        Assert.Empty(await Check(CleanRoot, [g], new CellBuildOptions { Vmid = 300 }));
    }

    [Fact]
    public async Task TheCpuMustSupportWhatIsAskedFor()
    {
        var granule = (await Check(CleanRoot, opt: new CellBuildOptions { Granule = Granule.K16 }, mmfr0: 0x1124)).Where(f => f.Kind == "cpu").ToList();
        Assert.Equal(2, granule.Count);
        Assert.Contains(granule, f => f.Message.Contains("does not implement the 16K granule at stage 2", StringComparison.Ordinal) && f.Pos!.Value.Line == 5);
        Assert.Contains(granule, f => f.Message.Contains("does not implement the 16K granule at stage 1", StringComparison.Ordinal));
        var af = Single(await Check(CleanRoot, opt: new CellBuildOptions { HardwareAf = true }, mmfr1: 0x20), "cpu");
        Assert.Contains("--hw-af needs hardware access-flag update, but ID_AA64MMFR1_EL1.HAFDBS is 0", af.Message);
    }

    [Fact]
    public async Task CellNamesMustBeUnique()
    {
        var f = Single(await Check(CleanRoot, [Guest("root", """{ "phys_start": "0x60000000", "virt_start": "0x0", "size": "0x1000", "flags": "READ" }""")]), "name");
        Assert.Contains("cell 'root' is configured twice", f.Message);
    }

    [Theory]
    [InlineData("\"phys_start\": \"0xfc000000\", \"size\": \"0\"", "size", "hypervisor_memory.size is 0")]
    [InlineData("\"phys_start\": \"0xfc000800\", \"size\": \"0x2000000\"", "unaligned", "hypervisor_memory: phys_start 0xfc000800 is not aligned to the 4 KiB granule")]
    [InlineData("\"phys_start\": \"0xfc000000\", \"size\": \"0x2000800\"", "unaligned", "hypervisor_memory: size 0x2000800 is not a multiple of the 4 KiB granule")]
    [InlineData("\"phys_start\": \"0xffff000000\", \"size\": \"0x2000000\"", "beyond-parange", "hypervisor_memory [0xffff000000-0x10000ffffff] reaches beyond the 40-bit PA range")]
    [InlineData("\"phys_start\": \"0xfc000000\", \"size\": \"0x2000000\", \"virt_start\": \"0x1000000000000\"", "cpu", "the hypervisor's VA 0x1000001ffffff needs 49 bits, more than the 48-bit EL2 VA range")]
    public async Task HypervisorMemoryFindings(string hv, string kind, string text)
    {
        var f = (await Check(CleanRoot, hv: hv)).First(x => x.Kind == kind && x.Message.Contains(text, StringComparison.Ordinal));
        Assert.Equal(Severity.Error, f.Severity);
        Assert.Contains(text, f.Message);
        Assert.Equal("sys.json", f.Pos!.Value.File);
        Assert.Equal(2, f.Pos!.Value.Line); // the hypervisor_memory object
    }

    [Fact]
    public async Task ConsoleMmconfigAndPoolFindings()
    {
        static string SysWith(string console, string platform) => $$"""
            { "hypervisor_memory": { "phys_start": "0xfc000000", "size": "0x2000000" },
              "debug_console": {{console}}, "platform_info": {{platform}},
              "cpu": { "id_aa64mmfr0_el1": "0x101122", "id_aa64mmfr1_el1": "0x22" },
              "root_cell": { "name": "root", "mem_regions": [] } }
            """;
        var noMmcfg = """{ "pci_mmconfig_base": "0x3000000000" }""";
        var sys = Sys(SysWith("""{ "address": "0xfffffff000", "size": "0x2000" }""", noMmcfg));
        var console = (await CellChecker.CheckAsync(sys, [], new CellBuildOptions())).Single(x => x.Kind == "beyond-parange");
        Assert.Contains("debug_console [0xfffffff000-0x10000000fff] reaches beyond the 40-bit PA range", console.Message);
        Assert.Equal(2, console.Pos!.Value.Line);

        sys = Sys(SysWith("""{ "address": "0x9000000", "size": "0" }""", noMmcfg));
        Assert.Contains("debug_console.size is 0", (await CellChecker.CheckAsync(sys, [], new CellBuildOptions())).Single(x => x.Kind == "size").Message);

        sys = Sys(SysWith("""{ "address": "0x9000000", "size": "0x1000" }""", """{ "pci_mmconfig_base": "0x3000080000" }"""));
        Assert.Contains("pci_mmconfig_base 0x3000080000 is not 1 MiB aligned", (await CellChecker.CheckAsync(sys, [], new CellBuildOptions())).Single(x => x.Kind == "unaligned").Message);

        sys = Sys(SysWith("""{ "address": "0x9000000", "size": "0x1000" }""", """{ "pci_mmconfig_base": "0xfff8000000", "pci_mmconfig_end_bus": 255 }"""));
        Assert.Contains("the PCI mmconfig window [0xfff8000000-0x10007ffffff] reaches beyond", (await CellChecker.CheckAsync(sys, [], new CellBuildOptions())).Single(x => x.Kind == "beyond-parange").Message);

        sys = Sys(SysWith("""{ "address": "0x9000000", "size": "0x1000" }""", noMmcfg));
        var small = (await CellChecker.CheckAsync(sys, [], new CellBuildOptions { PoolBase = 0x8000_0000, PoolSize = 0x800 })).Single(x => x.Kind == "pool");
        Assert.Null(small.Pos);
        Assert.Contains("the table pool [0x80000000-0x800007ff] (--pool) must be aligned to and hold at least one page of the 4 KiB granule", small.Message);
        var onConsole = (await CellChecker.CheckAsync(sys, [], new CellBuildOptions { PoolBase = 0x0900_0000, PoolSize = 0x10_0000 })).Single(x => x.Kind == "pool");
        Assert.Contains("overlaps the debug console", onConsole.Message);
        var onMmcfg = (await CellChecker.CheckAsync(sys, [], new CellBuildOptions { PoolBase = 0x30_0000_0000, PoolSize = 0x10_0000 })).Single(x => x.Kind == "pool");
        Assert.Contains("overlaps the PCI mmconfig window", onMmcfg.Message);
    }
}
