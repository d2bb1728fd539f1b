using System.Text;
using System.Text.Json;
using MmuSim.Faults;
using MmuSim.Hypervisor;
using MmuSim.Translation;
using MmuSim.Tests.Support;
using static MmuSim.Tests.Hypervisor.CellTestSupport;

namespace MmuSim.Tests.Hypervisor;

/// <summary>`mmusim faults`: the example guest trace, the JSON for tools, and each kind of likely cause.</summary>
public class FaultsTests
{
    private static string SetupPath => Path.Combine(Examples, "linux-demo.setup.trace");
    private static string GuestPath => Path.Combine(Examples, "linux-demo.guest.trace");

    [Fact]
    public void TheCommittedSetupIsWhatCellBuildsFromTheExamples()
    {
        var sys = CellConfigLoader.LoadSystem(Path.Combine(Examples, "qemu-virt.json"));
        var cell = CellConfigLoader.LoadCell(Path.Combine(Examples, "linux-demo.json"));
        var setup = CellSetupBuilder.Build(sys, [cell], new CellBuildOptions { HardwareAf = true });
        Assert.Equal(File.ReadAllText(SetupPath).ReplaceLineEndings("\n"), setup.Trace);
    }

    [Fact]
    public async Task TheExampleGuestTraceReproducesOneFaultOfEachKind()
    {
        var run = await FaultReplay.RunAsync([SetupPath, GuestPath], stopOnFault: false);
        Assert.Null(run.Error);
        Assert.NotNull(run.Map);
        Assert.Equal(6, run.Accesses);
        Assert.Equal(5, run.Faults.Count);
        var f = run.Faults;

        // 1. Stage-2 translation fault, unmapped IPA just past the end of RAM.
        Assert.Equal(29, f[0].Outcome.Line);
        Assert.Equal(FaultInfo.Stage2(FaultType.Translation, 3, new(0x4f00_0000), false), f[0].Fault);
        Assert.Equal(0x9200_0007UL, f[0].Outcome.Esr);
        Assert.Equal(0x4f0000UL, f[0].Outcome.Hpfar);
        Assert.Equal(("linux-demo", 0, "ram", false), (f[0].Region!.Cell, f[0].Region!.Region.Index, f[0].Region!.Region.Name, f[0].Region!.Contains));
        Assert.Equal("IPA 0x4f000000 is just past the end of region 0 'ram' (the first byte after IPA [0x40000000-0x4effffff])", f[0].Cause);

        // 2. Stage-2 permission fault: a write to a read-only region.
        Assert.Equal(FaultInfo.Stage2(FaultType.Permission, 3, new(0x4f10_0000), false), f[1].Fault);
        Assert.Equal(0x9200_004fUL, f[1].Outcome.Esr);
        Assert.Equal((1, "dtb", true), (f[1].Region!.Region.Index, f[1].Region!.Region.Name, f[1].Region!.Contains));
        Assert.Equal("region 1 'dtb' lacks WRITE", f[1].Cause);

        // 3. Instruction abort on a region without EXECUTE.
        Assert.Equal(FaultInfo.Stage2(FaultType.Permission, 3, new(0x4f10_0040), false), f[2].Fault);
        Assert.Equal(0x8200_000fUL, f[2].Outcome.Esr); // EC 0x20: instruction abort from a lower EL
        Assert.Equal("region 1 'dtb' lacks EXECUTE", f[2].Cause);

        // 4. S1PTW: the guest's level-2 table is 4 KiB past its RAM; HPFAR has the table's IPA, FAR the VA.
        Assert.Equal(FaultInfo.Stage2(FaultType.Translation, 3, new(0x4f00_1000), true), f[3].Fault);
        Assert.Equal(0x9200_0087UL, f[3].Outcome.Esr);
        Assert.Equal(0x1000UL, f[3].Outcome.Far);
        Assert.Equal(0x4f0010UL, f[3].Outcome.Hpfar);
        Assert.Equal(0x4f00_1000UL, f[3].Ipa);
        Assert.Equal((0, "ram", false), (f[3].Region!.Region.Index, f[3].Region!.Region.Name, f[3].Region!.Contains));
        Assert.StartsWith("the guest's level-2 stage-1 table at IPA 0x4f001000 is 4 KiB past the end of region 0 'ram'", f[3].Cause);
        Assert.Contains(f[3].Walk, l => l.StartsWith("S1 L2 [0] @IPA 0x4f001000: not read, its stage-2 translation faults", StringComparison.Ordinal));
        Assert.Contains(f[3].Walk, l => l.Trim() == "S2 L3 [1] @PA 0xbfe15008 = 0x0000000000000000 invalid");

        // 5. Access flag with software-managed AF.
        Assert.Equal(FaultInfo.Stage2(FaultType.AccessFlag, 2, new(0x4e00_0000), false), f[4].Fault);
        Assert.Equal(0x9200_000aUL, f[4].Outcome.Esr);
        Assert.StartsWith("AF clear and VTCR_EL2.HA=0", f[4].Cause);
        Assert.Contains("(region 0 'ram')", f[4].Cause);
        Assert.Contains(f[4].Walk, l => l.Contains("block 2 MiB -> 0xbe000000 S2AP=RW XN=00 Normal AF=0", StringComparison.Ordinal));
    }

    [Fact]
    public async Task StopOnFaultStopsAtTheFirst()
    {
        var run = await FaultReplay.RunAsync([SetupPath, GuestPath], stopOnFault: true);
        Assert.True(run.StoppedOnFault);
        Assert.Single(run.Faults);
        Assert.Equal(29, run.Faults[0].Outcome.Line);
    }

    [Fact]
    public async Task JsonRecordsCarryTheSpecsFaultObjectRegionAndCause()
    {
        var run = await FaultReplay.RunAsync([SetupPath, GuestPath], stopOnFault: false);
        var ms = new MemoryStream();
        FaultReportWriter.WriteJson(ms, run.Faults);
        using var doc = JsonDocument.Parse(ms.ToArray());
        var faults = doc.RootElement.GetProperty("faults");
        Assert.Equal(5, faults.GetArrayLength());
        var s1ptw = faults[3];
        Assert.Equal(40, s1ptw.GetProperty("line").GetInt32());
        Assert.Equal("0x1000", s1ptw.GetProperty("va").GetString());
        Assert.Equal("0x4f001000", s1ptw.GetProperty("ipa").GetString());
        var fault = s1ptw.GetProperty("fault");
        Assert.Equal("translation", fault.GetProperty("type").GetString());
        Assert.Equal(2, fault.GetProperty("stage").GetInt32());
        Assert.Equal(3, fault.GetProperty("level").GetInt32());
        Assert.True(fault.GetProperty("s1ptw").GetBoolean());
        Assert.Equal(2, fault.GetProperty("target_el").GetInt32());
        Assert.Equal("0x92000087", fault.GetProperty("esr").GetString());
        Assert.Equal("0x1000", fault.GetProperty("far").GetString());
        Assert.Equal("0x4f0010", fault.GetProperty("hpfar").GetString());
        var region = s1ptw.GetProperty("region");
        Assert.Equal(0, region.GetProperty("index").GetInt32());
        Assert.Equal("ram", region.GetProperty("name").GetString());
        Assert.Equal("linux-demo", region.GetProperty("cell").GetString());
        Assert.False(region.GetProperty("contains").GetBoolean());
        Assert.StartsWith("the guest's level-2 stage-1 table", s1ptw.GetProperty("cause").GetString());
        Assert.True(s1ptw.GetProperty("walk").GetArrayLength() > 3);
        Assert.Contains("'ram'", Encoding.UTF8.GetString(ms.ToArray())); // readable, not \u0027
    }

    /// <summary>Replays the example setup plus extra guest lines, and returns the faults of those lines.</summary>
    private static async Task<List<FaultReport>> Faults(string setupPath, string guest)
    {
        string path = Path.Combine(Path.GetTempPath(), $"guest-{Guid.NewGuid():n}.trace");
        await File.WriteAllTextAsync(path, guest);
        try
        {
            var run = await FaultReplay.RunAsync([setupPath, path], stopOnFault: false);
            Assert.Null(run.Error);
            return run.Faults;
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task SubPageRegionsAreExplainedAsTrapped()
    {
        var f = Assert.Single(await Faults(SetupPath, "el 1\nR 0x0a003e10 4\n"));
        Assert.Equal(FaultType.Translation, f.Fault.Type);
        Assert.Equal((4, "virtio-net", true), (f.Region!.Region.Index, f.Region.Region.Name, f.Region.Contains));
        Assert.Equal("IPA 0xa003e10 is in sub-page MMIO region 4 'virtio-net', which stage 2 leaves unmapped: the hypervisor traps a 4-byte read at offset 0x10 and performs it for the guest (the region allows IO_32)", f.Cause);
    }

    [Fact]
    public async Task AnAccessInATrappedPageOutsideItsSubPageRegionHasNoHandler()
    {
        // The page of 'virtio-net' (0x0a003e00, 0x200 bytes) traps whole; jailhouse's find_region has nothing at 0x0a003c00.
        var f = Assert.Single(await Faults(SetupPath, "el 1\nR 0x0a003c00 4\n"));
        Assert.Equal($"IPA 0xa003c00 is {Sizes.Format(0x200)} below the start of region 4 'virtio-net' (IPA [0xa003e00-0xa003fff]), in the page it traps: jailhouse finds no region holding the access and stops the cell (\"Unhandled data read\")", f.Cause);
    }

    [Theory]
    [InlineData("R 0x0a003e10 8", "the hypervisor traps an 8-byte read at offset 0x10; the region allows IO_32, so jailhouse refuses it (\"Invalid MMIO\") and stops the cell")]
    [InlineData("W 0x0a003e00 2", "the hypervisor traps a 2-byte write at offset 0x0; the region allows IO_32, so jailhouse refuses it (\"Invalid MMIO\") and stops the cell")]
    public async Task ASubPageAccessOfAWidthTheRegionRefusesIsExplained(string access, string verdict)
    {
        var f = Assert.Single(await Faults(SetupPath, $"el 1\n{access}\n"));
        Assert.Equal($"IPA 0x{f.Ipa:x} is in sub-page MMIO region 4 'virtio-net', which stage 2 leaves unmapped: {verdict}", f.Cause);
    }

    [Theory]
    // jailhouse's sub-page dispatcher: READ/WRITE as the access needs, its width among IO_8..IO_64, natural alignment unless IO_UNALIGNED.
    [InlineData(0x40013UL, 0x4, 4, AccessType.Read, "the hypervisor traps a 4-byte read at offset 0x4 and performs it for the guest (the region allows IO_32)")]
    [InlineData(0x40013UL, 0x2, 4, AccessType.Write, "the hypervisor traps a 4-byte write at offset 0x2; it is not naturally aligned and the region lacks IO_UNALIGNED, so jailhouse refuses it (\"Invalid MMIO\") and stops the cell")]
    [InlineData(0x48013UL, 0x2, 4, AccessType.Write, "the hypervisor traps a 4-byte write at offset 0x2 and performs it for the guest (the region allows IO_32, IO_UNALIGNED)")]
    [InlineData(0xf0011UL, 0x0, 1, AccessType.Write, "the hypervisor traps a 1-byte write at offset 0x0; the region lacks WRITE, so jailhouse refuses it (\"Invalid MMIO\") and stops the cell")]
    [InlineData(0x00013UL, 0x0, 4, AccessType.Read, "the hypervisor traps a 4-byte read at offset 0x0; the region allows no access width (no IO_8/IO_16/IO_32/IO_64 flag), so jailhouse refuses it (\"Invalid MMIO\") and stops the cell")]
    [InlineData(0x30013UL, 0x6, 2, AccessType.Read, "the hypervisor traps a 2-byte read at offset 0x6 and performs it for the guest (the region allows IO_8, IO_16)")]
    public void SubPageVerdictsFollowJailhousesRules(ulong flags, ulong offset, int size, AccessType type, string verdict)
    {
        var r = new MappedRegion(0, "dev", 0x9040000, 0x9040000, 0x100, (MemFlags)flags, RegionMapping.Subpage, 0);
        Assert.Equal(verdict, FaultExplainer.SubpageVerdict(r, 0x9040000 + offset, size, type));
    }

    [Theory]
    // jailhouse's find_region (docs/cells.md): the whole access must lie in the region, checked before READ/WRITE and width.
    [InlineData(0x9040000UL, 0x100UL, 0x40013UL, 0xfc, 4, AccessType.Read, "the hypervisor traps a 4-byte read at offset 0xfc and performs it for the guest (the region allows IO_32)")]
    [InlineData(0x9040000UL, 0x100UL, 0x40013UL, 0xfe, 4, AccessType.Read, "the hypervisor traps a 4-byte read at offset 0xfe; it runs past the region's end (IPA [0x9040000-0x90400ff]), so no region holds all of it and jailhouse stops the cell (\"Unhandled data read\")")]
    [InlineData(0x9040000UL, 0x100UL, 0x10011UL, 0xff, 2, AccessType.Write, "the hypervisor traps a 2-byte write at offset 0xff; it runs past the region's end (IPA [0x9040000-0x90400ff]), so no region holds all of it and jailhouse stops the cell (\"Unhandled data write\")")]
    // Alignment is of the offset in the region (mmio->address after find_region subtracts the start), not of the IPA.
    [InlineData(0x9040002UL, 0x10UL, 0x40013UL, 0x4, 4, AccessType.Read, "the hypervisor traps a 4-byte read at offset 0x4 and performs it for the guest (the region allows IO_32)")]
    [InlineData(0x9040002UL, 0x10UL, 0x40013UL, 0x2, 4, AccessType.Read, "the hypervisor traps a 4-byte read at offset 0x2; it is not naturally aligned and the region lacks IO_UNALIGNED, so jailhouse refuses it (\"Invalid MMIO\") and stops the cell")]
    // mmio_handle_subpage addresses TEMPORARY_MAPPING_BASE + (phys_start & 0xfff) + (offset & 0xfff): a carry leaves the mapped page.
    [InlineData(0x9040f80UL, 0x100UL, 0x40013UL, 0x7c, 4, AccessType.Read, "the hypervisor traps a 4-byte read at offset 0x7c and performs it for the guest (the region allows IO_32)")]
    [InlineData(0x9040f80UL, 0x100UL, 0x40013UL, 0x80, 4, AccessType.Read, "the hypervisor traps a 4-byte read at offset 0x80; the region allows it, but jailhouse maps PA page 0x9041000 at its temporary window and then addresses window offset 0x1000 (the region's page offset 0xf80 plus the access's 0x80), past that page: the access does not reach the device")]
    [InlineData(0x9040000UL, 0x100UL, 0x40017UL, 0x0, 4, AccessType.Fetch, "the hypervisor traps a 4-byte instruction fetch at offset 0x0; instructions cannot come from emulated MMIO, so jailhouse refuses it (\"Invalid MMIO\") and stops the cell")]
    [InlineData(0x9040000UL, 0x100UL, 0x80012UL, 0x8, 8, AccessType.Read, "the hypervisor traps an 8-byte read at offset 0x8; the region lacks READ, so jailhouse refuses it (\"Invalid MMIO\") and stops the cell")]
    [InlineData(0x9040000UL, 0x100UL, 0x80013UL, 0x8, 8, AccessType.Write, "the hypervisor traps an 8-byte write at offset 0x8 and performs it for the guest (the region allows IO_64)")]
    public void SubPageBoundsAlignmentAndTheTemporaryWindowFollowMmioC(ulong start, ulong size, ulong flags, ulong offset, int width, AccessType type, string verdict)
    {
        var r = new MappedRegion(0, "dev", start, start, size, (MemFlags)flags, RegionMapping.Subpage, 0);
        Assert.Equal(verdict, FaultExplainer.SubpageVerdict(r, start + offset, width, type));
    }

    [Fact]
    public async Task RootCellMemoryGivenToANonRootCellIsExplained()
    {
        // Enter the root cell instead (its VTTBR is in the setup's comments and layout) and touch the non-root's RAM.
        var map = SetupMap.FromTraceLines(File.ReadLines(SetupPath), SetupPath)!;
        var root = map.Cells.Single(c => c.IsRoot);
        var f = Assert.Single(await Faults(SetupPath, $"reg VTTBR_EL2 0x{root.Vttbr:x}\nel 1\nR 0xb0000000\n"));
        Assert.Equal(("qemu-virt", 7, "ram", true), (f.Region!.Cell, f.Region.Region.Index, f.Region.Region.Name, f.Region.Contains));
        Assert.Equal("IPA 0xb0000000 is in region 7 'ram', but PA [0xb0000000-0xbeffffff] now belongs to cell 'linux-demo' (its region 0 is not ROOTSHARED), so the root cell lost it", f.Cause);
    }

    [Fact]
    public async Task FarFromEveryRegionTheNearestIsNamed()
    {
        var f = Assert.Single(await Faults(SetupPath, "el 1\nW 0x50300000\n"));
        Assert.Equal((2, "scratch", false), (f.Region!.Region.Index, f.Region.Region.Name, f.Region.Contains));
        Assert.Equal("IPA 0x50300000 is 1 MiB past the end of region 2 'scratch' (IPA [0x50000000-0x501fffff])", f.Cause);
        var below = Assert.Single(await Faults(SetupPath, "el 1\nR 0x3fffff00\n"));
        Assert.Equal("IPA 0x3fffff00 is 256 bytes below the start of region 0 'ram' (IPA [0x40000000-0x4effffff])", below.Cause);
    }

    [Fact]
    public async Task HypervisorAndGuestStage1FaultsAreToldApart()
    {
        var el2 = Assert.Single(await Faults(SetupPath, "el 2\nR 0xbfc00000\nR 0x40000000\n"));
        Assert.Equal(1, el2.Fault.Stage);
        Assert.Null(el2.Region);
        Assert.Equal("hypervisor VA 0x40000000 is not in the hypervisor's map (nearest: cell 'linux-demo' region 4 'virtio-net' (sub-page MMIO) at VA [0xa003000-0xa003fff])", el2.Cause);

        // The guest's own stage 1 with an invalid entry: its business, taken to EL1.
        var s1 = Assert.Single(await Faults(SetupPath, "mem 0xb0000000 0x0 0x40000701\nreg TCR_EL1 0x280803519\nreg TTBR0_EL1 0x40000000\nreg SCTLR_EL1 1\nel 1\nR 0x2000\n"));
        Assert.Equal(FaultInfo.Stage1(FaultType.Translation, 1), s1.Fault);
        Assert.Equal(1, s1.Outcome.TargetEl);
        Assert.Null(s1.Ipa);
        Assert.StartsWith("the guest's level-1 stage-1 descriptor for VA 0x2000 is invalid: the guest's own stage 1", s1.Cause);
    }

    [Fact]
    public async Task PermissionCausesFollowTheRegionsFlags()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"cells-{Guid.NewGuid():n}");
        Directory.CreateDirectory(dir);
        try
        {
            var sys = Sys(SystemJson(Region("ram", 0x4000_0000, 0x4000_0000, 0x4000_0000, "READ | WRITE | EXECUTE")));
            var guest = Cell($$"""
                { "name": "g", "mem_regions": [
                  {{Region("ram", 0x6000_0000, 0x4000_0000, 0x100_0000, "READ | WRITE | EXECUTE")}},
                  {{Region("wo", 0x6100_0000, 0x4100_0000, 0x1_0000, "WRITE")}},
                  {{Region("ro", 0x6200_0000, 0x4200_0000, 0x1_0000, "READ")}},
                  {{Region("io", 0x0901_0000, 0x4300_0000, 0x1_0000, "READ | WRITE | IO")}}
                ] }
                """);
            string setup = Path.Combine(dir, "setup.trace");
            await File.WriteAllTextAsync(setup, CellSetupBuilder.Build(sys, [guest], new CellBuildOptions()).Trace);

            var read = Assert.Single(await Faults(setup, "el 1\nR 0x41000000\n"));
            Assert.Equal("region 1 'wo' lacks READ", read.Cause);

            // Guest stage-1 tables (one L1 table, TTBR0 = its IPA) placed in each region in turn.
            static string Guest(ulong tableIpa, ulong tablePa, string extra = "") =>
                $"mem 0x{tablePa:x} 0x0 0x40000701\nreg TCR_EL1 0x{0x0000_0002_8080_3519UL | (extra.Contains("HA") ? 1UL << 39 : 0):x}\nreg TTBR0_EL1 0x{tableIpa:x}\nreg SCTLR_EL1 1\n{(extra.Contains("PTW") ? "reg HCR_EL2 0x80000005\n" : "")}el 1\nR 0x40000000\n";
            var tablesWo = Assert.Single(await Faults(setup, Guest(0x4100_0000, 0x6100_0000)));
            Assert.True(tablesWo.Fault.S1Ptw);
            Assert.Equal("the guest's level-1 stage-1 table at IPA 0x41000008 is in region 1 'wo', which lacks READ: the guest's stage-1 tables must be readable at stage 2", tablesWo.Cause);

            var tablesIo = Assert.Single(await Faults(setup, Guest(0x4300_0000, 0x0901_0000, "PTW")));
            Assert.Equal(FaultType.Permission, tablesIo.Fault.Type);
            Assert.Equal("the guest's level-1 stage-1 table at IPA 0x43000008 is in IO region 3 'io' (Device memory at stage 2) and HCR_EL2.PTW=1 forbids table walks there", tablesIo.Cause);

            // A stage-1 leaf with AF=0 and TCR_EL1.HA=1 in a read-only region: the hardware update cannot write it.
            var update = Assert.Single(await Faults(setup, Guest(0x4200_0000, 0x6200_0000, "HA").Replace("0x40000701", "0x40000301", StringComparison.Ordinal)));
            Assert.True(update.Fault.S1Ptw);
            Assert.Equal("the hardware AF/dirty update of the guest's level-1 stage-1 descriptor at IPA 0x42000008 needs WRITE, which region 2 'ro' lacks", update.Cause);
            Assert.Contains(update.Walk, l => l.Contains("stage-2 lookup for the hardware update of the stage-1 descriptor", StringComparison.Ordinal));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public async Task AccessFlagAndAddressSizeCauses()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"cells-{Guid.NewGuid():n}");
        Directory.CreateDirectory(dir);
        try
        {
            // HAFDBS=0: VTCR_EL2.HA set by hand does nothing. A region beyond the 40-bit PA range: address size fault.
            var sys = Sys(SystemJson(Region("ram", 0x4000_0000, 0x4000_0000, 0x4000_0000, "READ | WRITE"), mmfr0: 0x101122, mmfr1: 0x20));
            var guest = Cell($$"""
                { "name": "g", "mem_regions": [
                  {{Region("ram", 0x6000_0000, 0x4000_0000, 0x100_0000, "READ | WRITE")}},
                  {{Region("far", 0x100_0000_0000, 0x5000_0000, 0x1_0000, "READ | WRITE")}}
                ] }
                """);
            var built = CellSetupBuilder.Build(sys, [guest], new CellBuildOptions());
            Assert.Contains(built.Findings, f => f.Kind == "beyond-parange" && f.Severity == Severity.Warning);
            string setup = Path.Combine(dir, "setup.trace");
            await File.WriteAllTextAsync(setup, built.Trace);

            var far = Assert.Single(await Faults(setup, "el 1\nR 0x50000000\n"));
            Assert.Equal(FaultType.AddressSize, far.Fault.Type);
            Assert.Equal("region 1 'far' is backed by PA [0x10000000000-0x1000000ffff], beyond the 40-bit PA size (VTCR_EL2.PS, PARange)", far.Cause);

            ulong vtcr = built.Registers.Last(r => r.Reg == MmuSim.Registers.SysReg.VTCR_EL2).Value;
            ulong afClearPa = built.Descriptors.First(d => (d.Value & 0xFFFF_F000UL) == 0x6000_0000UL && (d.Value & 1) == 1).Pa;
            var af = Assert.Single(await Faults(setup, $"mem 0x{afClearPa:x} 0x{0x6000_0000UL | 0x3fd & ~0x400UL:x}\nreg VTCR_EL2 0x{vtcr | 1UL << 21:x}\nel 1\nR 0x40000000\n"));
            Assert.Equal(FaultType.AccessFlag, af.Fault.Type);
            Assert.Equal("AF clear and VTCR_EL2.HA=1 has no effect: the stage-2 leaf for IPA 0x40000000 (region 0 'ram') has AF=0, and ID_AA64MMFR1_EL1.HAFDBS=0 means no hardware AF update", af.Cause);

            var sea = Assert.Single(await Faults(setup, "reg VTTBR_EL2 0x1000\nel 1\nR 0x40000000\n"));
            Assert.Equal(FaultType.ExternalWalk, sea.Fault.Type);
            Assert.Equal("the stage-2 descriptor at PA 0x8 is outside declared RAM: the table pool must be declared with `ram`", sea.Cause);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public async Task AnIpaBeyondTheIpaSpaceIsExplained()
    {
        // 52-bit PA with the 4K granule: the IPA stops at 48 bits, so stage 1 off can produce an IPA above it.
        string dir = Path.Combine(Path.GetTempPath(), $"cells-{Guid.NewGuid():n}");
        Directory.CreateDirectory(dir);
        try
        {
            var sys = Sys(SystemJson(Region("ram", 0x4000_0000, 0x4000_0000, 0x4000_0000, "READ | WRITE"), mmfr0: Mmfr0(6)));
            string setup = Path.Combine(dir, "setup.trace");
            await File.WriteAllTextAsync(setup, CellSetupBuilder.Build(sys, [], new CellBuildOptions()).Trace);
            var f = Assert.Single(await Faults(setup, "el 1\nR 0x1000000000000\n"));
            Assert.Equal(FaultInfo.Stage2(FaultType.Translation, 0, new(0x1_0000_0000_0000), false), f.Fault);
            Assert.Equal("IPA 0x1000000000000 is beyond the 48-bit IPA space (VTCR_EL2.T0SZ=16)", f.Cause);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public async Task WithoutALayoutFaultsAreStillListed()
    {
        var faults = await Faults(Path.Combine(TestPaths.Traces, "sample", "example.trace"), "R 0x3000\n");
        Assert.NotEmpty(faults);
        Assert.All(faults, f => Assert.Null(f.Region));
    }
}
