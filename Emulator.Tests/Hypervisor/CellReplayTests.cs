using MmuSim.Addressing;
using MmuSim.Faults;
using MmuSim.Hypervisor;
using MmuSim.Registers;
using MmuSim.Translation;
using static MmuSim.Tests.Hypervisor.CellTestSupport;

namespace MmuSim.Tests.Hypervisor;

/// <summary>
/// Replays the emitted setup trace and probes every region of every cell, for every granule and PARange: the first
/// byte, the middle and the last byte of each region give the configured PA (or a stage-2 permission fault when the
/// flag is missing), the bytes just outside give a stage-2 translation fault, and the hypervisor reaches every range
/// it needs at EL2. Expectations come from the configuration, not from the builder's own bookkeeping.
/// </summary>
public class CellReplayTests
{
    public static TheoryData<Granule, int> Cases()
    {
        var d = new TheoryData<Granule, int>();
        foreach (var g in new[] { Granule.K4, Granule.K16, Granule.K64 })
        {
            for (int pr = 0; pr <= 6; pr++)
            {
                d.Add(g, pr);
            }
        }
        return d;
    }

    private static (SystemConfig Sys, CellConfig Guest) Configs(int paRange, int ipaBits)
    {
        string root = string.Join(",\n",
            Region("uart", 0x0900_0000, 0x0900_0000, 0x1_0000, "READ | WRITE | IO"),
            Region("rom", 0x2000_0000, 0x2000_0000, 0x20_0000, "READ | EXECUTE"),
            Region("pages", 0x3000_0000, 0x3000_0000, 0x4_0000, "READ | WRITE | NO_HUGEPAGES"),
            Region("ram", 0x4000_0000, 0x4000_0000, 0x4000_0000, "READ | WRITE | EXECUTE"),
            Region("fw-cfg", 0x0902_0000, 0x0902_0000, 0x18, "READ | WRITE | IO | IO_8"),
            Region("shared", 0x0a00_0000, 0x0a00_0000, 0x1_0000, "READ | WRITE | IO"));
        var sys = Sys(SystemJson(root, mmfr0: Mmfr0(paRange)));
        ulong top = (1UL << ipaBits) - 0x20_0000;
        var guest = Cell($$"""
            { "name": "guest", "mem_regions": [
              {{Region("ram", 0x6000_0000, 0x4000_0000, 0x1000_0000, "READ | WRITE | EXECUTE")}},
              {{Region("ro", 0x7000_0000, 0x5000_0000, 0x2_0000, "READ")}},
              {{Region("dev", 0x0901_0000, 0x0901_0000, 0x1_0000, "READ | WRITE | IO")}},
              {{Region("top", 0x7100_0000, top, 0x20_0000, "READ | WRITE")}},
              { "name": "comm", "virt_start": "0x20000000", "size": "0x10000", "flags": "READ | WRITE | COMM_REGION" },
              {{Region("sub", 0x0903_0100, 0x0903_0100, 0x100, "READ | WRITE | IO")}},
              {{Region("shared", 0x0a00_0000, 0x0a00_0000, 0x1_0000, "READ | WRITE | IO | ROOTSHARED")}}
            ] }
            """);
        return (sys, guest);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task EveryRegionTranslatesAtItsEdgesAndFaultsOutside(Granule g, int paRange)
    {
        int paBits = AddressSizes.Decode(paRange);
        int ipaBits = g == Granule.K64 ? paBits : Math.Min(paBits, 48);
        var (sys, guest) = Configs(paRange, ipaBits);
        var setup = CellSetupBuilder.Build(sys, [guest], new CellBuildOptions { Granule = g });
        Assert.DoesNotContain(setup.Findings, f => f.Severity == Severity.Error);
        var core = await ReplaySetup(setup.Trace);
        Assert.Equal(1, core.CurrentEl);
        Assert.True(core.Mmu.Stage2Enabled(Registers.TranslationRegime.El10));
        Assert.False(core.Mmu.Stage2Params.ConfigFault);

        ulong page = 1UL << (int)g;
        var problems = new List<string>();
        var cells = new[] { sys.RootCell, guest };
        foreach (var cellMap in setup.Map.Cells)
        {
            core.Registers[SysReg.VTTBR_EL2] = cellMap.Vttbr;
            var cell = cells.Single(c => c.Name == cellMap.Name);
            foreach (var r in cell.Regions)
            {
                ulong[] inside = [r.VirtStart, r.VirtStart + (r.Size / 2 & ~7UL), r.VirtStart + r.Size - 1];
                foreach (ulong ipa in inside)
                {
                    foreach (var type in new[] { AccessType.Read, AccessType.Write, AccessType.Fetch })
                    {
                        Check(core, cell, r, ipa, type, guest, setup, page, problems);
                    }
                }
                foreach (ulong ipa in new[] { r.VirtStart - 1, r.VirtStart + r.Size })
                {
                    if (r.VirtStart == 0 || cell.Regions.Any(o => o.ContainsIpa(ipa) || (o != r && OnSamePage(o, ipa, page)))
                        || OnSamePage(r, ipa, page) || (cell.IsRoot && InMmconfig(sys, ipa)))
                    {
                        continue; // not outside: another region, or the same sub-page page
                    }
                    if (ipa >= 1UL << paBits)
                    {
                        // With stage 1 off the IPA is the VA, which may not exceed PAMax (AArch64.S1DisabledOutput):
                        // past an IPA space as large as the PA space, stage 1 itself faults.
                        Assert.False(Access(core, ipa, AccessType.Read, out var beyond));
                        Assert.Equal(FaultInfo.Stage1(FaultType.AddressSize, 0), beyond.Fault);
                        continue;
                    }
                    Expect(core, ipa, AccessType.Read, null, FaultType.Translation, ipa >= 1UL << ipaBits ? 0 : null, problems, $"{cell.Name} {r.Label} outside at 0x{ipa:x}");
                }
            }
            if (cell.IsRoot)
            {
                // The mmconfig window: 16 buses of 1 MiB, Device, read/write, never executable.
                Expect(core, 0xe000_0000, AccessType.Write, 0xe000_0000, FaultType.None, null, problems, "mmconfig first byte");
                Expect(core, 0xe0ff_ffff, AccessType.Read, 0xe0ff_ffff, FaultType.None, null, problems, "mmconfig last byte");
                Expect(core, 0xe100_0000, AccessType.Read, null, FaultType.Translation, null, problems, "past mmconfig");
                Expect(core, 0xe000_0000, AccessType.Fetch, null, FaultType.Permission, null, problems, "mmconfig fetch");
            }
        }

        // The hypervisor's own map, at EL2: identity, with hypervisor memory executable.
        core.CurrentEl = 2;
        foreach (var (va, type) in new (ulong, AccessType)[]
        {
            (0xfc00_0000, AccessType.Fetch), (0xfdff_fff8, AccessType.Write), (0x0900_0000, AccessType.Write), (0x0900_0fff, AccessType.Read),
            (0xe000_0000, AccessType.Read), (0xe0ff_fff8, AccessType.Write), (0x0902_0000, AccessType.Read), (0x0903_0100, AccessType.Write),
        })
        {
            if (!Access(core, va, type, out var r, el: 2))
            {
                problems.Add($"EL2 {type} 0x{va:x}: {r.Fault}");
            }
            else if (r.Pa != va)
            {
                problems.Add($"EL2 {type} 0x{va:x} -> 0x{r.Pa:x}");
            }
        }
        Assert.False(Access(core, 0x4000_0000, AccessType.Read, out var notMapped, el: 2)); // the hypervisor does not map guest RAM
        Assert.Equal(FaultType.Translation, notMapped.Fault.Type);
        Assert.True(problems.Count == 0, $"{problems.Count} problems:\n{string.Join("\n", problems.Take(40))}");
    }

    private static bool OnSamePage(MemRegion r, ulong ipa, ulong page) =>
        r.Has(MemFlags.Io) && ((r.VirtStart | r.PhysStart | r.Size) & (page - 1)) != 0
        && ipa >= (r.VirtStart & ~(page - 1)) && ipa < ((r.VirtStart + r.Size + page - 1) & ~(page - 1));

    private static bool InMmconfig(SystemConfig sys, ulong ipa) => ipa - sys.Platform.PciMmconfigBase!.Value < sys.Platform.MmconfigSize;

    private static void Check(MmuSim.Core.SimulatedCore core, CellConfig cell, MemRegion r, ulong ipa, AccessType type, CellConfig guest,
        CellSetup setup, ulong page, List<string> problems)
    {
        string what = $"{cell.Name} {r.Label} {type} 0x{ipa:x}";
        bool subpage = r.Has(MemFlags.Io) && ((r.VirtStart | r.PhysStart | r.Size) & (page - 1)) != 0;
        if (subpage)
        {
            Expect(core, ipa, type, null, FaultType.Translation, null, problems, what + " (sub-page: trapped)");
            return;
        }
        ulong pa = r.Has(MemFlags.CommRegion)
            ? setup.Map.Cells.Single(c => c.Name == cell.Name).Regions.Single(x => x.Index == r.Index).CommPa + (ipa - r.VirtStart)
            : r.PhysStart + (ipa - r.VirtStart);
        if (cell.IsRoot && guest.Regions.Any(gr => !gr.Has(MemFlags.RootShared) && !gr.Has(MemFlags.CommRegion)
                && pa >= (gr.PhysStart & ~(page - 1)) && pa < ((gr.PhysStart + gr.Size + page - 1) & ~(page - 1))))
        {
            Expect(core, ipa, type, null, FaultType.Translation, null, problems, what + " (given to the guest)");
            return;
        }
        var needed = type switch { AccessType.Write => MemFlags.Write, AccessType.Fetch => MemFlags.Execute, _ => MemFlags.Read };
        if (r.Has(needed))
        {
            Expect(core, ipa, type, pa, FaultType.None, null, problems, what);
        }
        else
        {
            Expect(core, ipa, type, null, FaultType.Permission, null, problems, what + $" (lacks {needed})");
        }
    }

    private static void Expect(MmuSim.Core.SimulatedCore core, ulong ipa, AccessType type, ulong? pa, FaultType fault, int? level,
        List<string> problems, string what)
    {
        bool ok = Access(core, ipa, type, out var r);
        if (fault == FaultType.None)
        {
            if (!ok)
            {
                problems.Add($"{what}: expected PA 0x{pa:x}, got {r.Fault}");
            }
            else if (r.Pa != pa)
            {
                problems.Add($"{what}: expected PA 0x{pa:x}, got 0x{r.Pa:x}");
            }
            return;
        }
        if (ok)
        {
            problems.Add($"{what}: expected a stage-2 {fault} fault, got PA 0x{r.Pa:x}");
        }
        else if (r.Fault.Type != fault || r.Fault.Stage != 2 || (level is { } l && r.Fault.Level != l) || r.Fault.Ipa.Value != ipa)
        {
            problems.Add($"{what}: expected a stage-2 {fault} fault{(level is null ? "" : $" at level {level}")}, got {r.Fault}");
        }
    }
}
