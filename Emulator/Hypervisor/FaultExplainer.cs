using MmuSim.Addressing;
using MmuSim.Bits;
using MmuSim.Core;
using MmuSim.Faults;
using MmuSim.Registers;
using MmuSim.Reporting;
using MmuSim.Tracing;
using MmuSim.Translation;

namespace MmuSim.Hypervisor;

/// <summary>The region a fault is attributed to: the one holding the IPA, else the nearest one of the cell.</summary>
public sealed record RegionRef(string Cell, MappedRegion Region, bool Contains);

/// <summary>One guest fault, decoded and explained.</summary>
public sealed class FaultReport
{
    public required string Source { get; init; }
    public required AccessOutcome Outcome { get; init; }
    /// <summary>The IPA the fault is about: HPFAR's (a stage-1 table's IPA for S1PTW) for stage-2 faults, else the stage-1 output when known.</summary>
    public ulong? Ipa { get; init; }
    public RegionRef? Region { get; init; }
    /// <summary>The hypervisor range an EL2 fault is about, when there is one.</summary>
    public El2Item? El2Range { get; init; }
    public required string Cause { get; init; }
    public required IReadOnlyList<string> Walk { get; init; }

    public FaultInfo Fault => Outcome.Fault;
}

/// <summary>
/// Explains a guest fault against the cell layout of the setup trace: which region the faulting IPA is in (or is
/// nearest to), and a one-line likely cause from the fault's kind, the region's flags and the registers, e.g.
/// "IPA 0x4f001000 is 4 KiB past the end of region 0 'ram'", "region 1 'dtb' lacks EXECUTE", "AF clear and
/// VTCR_EL2.HA=0".
/// </summary>
public static class FaultExplainer
{
    /// <param name="accessSize">Bytes the access reads or writes (a sub-page region allows some widths only).</param>
    public static FaultReport Explain(string source, in AccessOutcome o, SimulatedCore core, ReadOnlySpan<WalkStep> steps, SetupMap? map, int accessSize = 8)
    {
        var mmu = core.Mmu;
        var regs = core.Registers;
        int el = o.El;
        var regime = mmu.RegimeOf(el);
        bool upper = regime.HasTwoVaRanges() && BitOps.Bit(o.Va, 55);
        WalkParams s1 = mmu.Stage1Params(regime, upper);
        WalkParams s2 = mmu.Stage2Params;
        bool s2On = mmu.Stage2Enabled(regime);
        List<string> walk;
        if (core.LastWalked)
        {
            walk = CompactWalkFormatter.Format(steps, in s1, in s2, mmu.Stage1Enabled(regime), s2On);
        }
        else
        {
            // No walk of its own: the record still holds an earlier access's steps, which are not this fault's.
            steps = default;
            walk = [core.LastTlbHit
                ? $"no walk: a TLB entry decided it (filled by the walk of line {core.LastHitFillLine})"
                : o.Fault.Type == FaultType.Alignment
                    ? "no walk: the alignment check comes before translation"
                    : "no walk: the input-address checks decided"];
        }
        var f = o.Fault;
        var type = o.Op switch { ResultOp.Write => AccessType.Write, ResultOp.Fetch => AccessType.Fetch, _ => AccessType.Read };

        if (regime == TranslationRegime.El2)
        {
            var (item, el2Cause) = ExplainEl2(o, f, type, map);
            return new FaultReport { Source = source, Outcome = o, El2Range = item, Cause = el2Cause, Walk = walk };
        }
        if (f.Stage == 1)
        {
            return new FaultReport
            {
                Source = source,
                Outcome = o,
                Ipa = null,
                Cause = ExplainGuestStage1(o, f, type, regs, steps),
                Walk = walk,
            };
        }

        ulong ipa = f.Ipa.Value;
        var cell = map?.CellForVttbr(regs[SysReg.VTTBR_EL2]);
        RegionRef? region = cell is null ? null : Locate(cell, ipa);
        string cause = ExplainStage2(o, f, type, ipa, cell, region, map, regs, mmu, steps, accessSize);
        return new FaultReport { Source = source, Outcome = o, Ipa = ipa, Region = region, Cause = cause, Walk = walk };
    }

    /// <summary>The region holding <paramref name="ipa"/>, else the nearest by distance (ties go to the region the IPA is past).</summary>
    public static RegionRef? Locate(CellMap cell, ulong ipa)
    {
        MappedRegion? best = null;
        ulong bestDistance = ulong.MaxValue;
        foreach (var r in cell.Regions)
        {
            if (r.ContainsIpa(ipa))
            {
                return new RegionRef(cell.Name, r, true);
            }
            ulong d = ipa < r.VirtStart ? r.VirtStart - ipa : ipa - (r.VirtEnd - 1);
            if (d < bestDistance || (d == bestDistance && ipa >= r.VirtEnd))
            {
                best = r;
                bestDistance = d;
            }
        }
        return best is null ? null : new RegionRef(cell.Name, best, false);
    }

    /// <summary>"IPA 0x... is 4 KiB past the end of region 3 'ram'", "... is just past the end of ...", "... is 16 bytes below the start of ...".</summary>
    public static string Position(string what, ulong ipa, MappedRegion r)
    {
        if (ipa >= r.VirtEnd)
        {
            ulong d = ipa - r.VirtEnd;
            return d == 0
                ? $"{what} is just past the end of {r.Label} (the first byte after IPA {Sizes.Range(r.VirtStart, r.Size)})"
                : $"{what} is {Sizes.Format(d)} past the end of {r.Label} (IPA {Sizes.Range(r.VirtStart, r.Size)})";
        }
        return $"{what} is {Sizes.Format(r.VirtStart - ipa)} below the start of {r.Label} (IPA {Sizes.Range(r.VirtStart, r.Size)})";
    }

    /// <summary>Whether <paramref name="ipa"/> is in one of the pages sub-page region <paramref name="r"/> leaves unmapped.</summary>
    private static bool SharesPage(MappedRegion r, ulong ipa, Granule g)
    {
        ulong page = 1UL << (int)g;
        ulong first = r.VirtStart & ~(page - 1);
        return ipa - first < ConfigValidator.PageSpan(r.VirtStart, r.Size, page);
    }

    private static string AccessName(AccessType t) => t switch { AccessType.Write => "write", AccessType.Fetch => "instruction fetch", _ => "read" };

    /// <summary>
    /// What jailhouse's sub-page dispatcher does with the access (its documented IO_* flag rules): READ or WRITE as the
    /// access needs, the access's width among IO_8/16/32/64, and a naturally unaligned access only with IO_UNALIGNED.
    /// A refused access is fatal for the cell ("Invalid MMIO").
    /// </summary>
    public static string SubpageVerdict(MappedRegion r, ulong ipa, int size, AccessType type)
    {
        string access = $"{(size == 8 ? "an" : "a")} {size}-byte {AccessName(type)} at offset 0x{ipa - r.VirtStart:x}";
        const string refused = "jailhouse refuses it (\"Invalid MMIO\") and stops the cell";
        if (r.IsIvcControlTable)
        {
            return $"the hypervisor traps {access} and answers it from the IVC channel's control table (hvisor's mmio_ivc_handler: ivc_id at 0x0, max_peers 0x4, section sizes 0x8 and 0xc, peer_id 0x10; a write to 0x14 signals a peer)";
        }
        if (r.Has(MemFlags.Trapped))
        {
            return $"the hypervisor traps {access} and forwards it to the virtio back-end (hvisor's virtio MMIO handler, any width and alignment)";
        }
        if (type == AccessType.Fetch)
        {
            return $"the hypervisor traps {access}; instructions cannot come from emulated MMIO, so {refused}";
        }
        // jailhouse's find_region (docs/cells.md, "The hypervisors' rules"): a handler takes an access only when the whole access lies in its region.
        ulong off = ipa - r.VirtStart;
        if (off + (ulong)size > r.Size)
        {
            return $"the hypervisor traps {access}; it runs past the region's end (IPA {Sizes.Range(r.VirtStart, r.Size)}), so no region holds all of it and jailhouse stops the cell (\"Unhandled data {AccessName(type)}\")";
        }
        var perm = type == AccessType.Write ? MemFlags.Write : MemFlags.Read;
        if (!r.Has(perm))
        {
            return $"the hypervisor traps {access}; the region lacks {(perm == MemFlags.Write ? "WRITE" : "READ")}, so {refused}";
        }
        var allowed = JailhouseChecks.AllowedWidths(r.Flags).ToList();
        string widths = allowed.Count == 0 ? "no access width (no IO_8/IO_16/IO_32/IO_64 flag)" : string.Join(", ", allowed.Select(w => $"IO_{w * 8}"));
        if (!allowed.Contains(size))
        {
            return $"the hypervisor traps {access}; the region allows {widths}, so {refused}";
        }
        if (((ipa - r.VirtStart) & (ulong)(size - 1)) != 0 && !r.Has(MemFlags.IoUnaligned))
        {
            return $"the hypervisor traps {access}; it is not naturally aligned and the region lacks IO_UNALIGNED, so {refused}";
        }
        // mmio_handle_subpage maps the page of phys_start + offset at TEMPORARY_MAPPING_BASE, then addresses it at
        // TEMPORARY_MAPPING_BASE + (phys_start & 0xfff) + (offset & 0xfff): when those page offsets carry, the access
        // lands in the next temporary page, not on the device.
        const ulong jhPage = 0x1000;
        if ((r.PhysStart & (jhPage - 1)) + (off & (jhPage - 1)) >= jhPage)
        {
            ulong pagePa = (r.PhysStart + off) & ~(jhPage - 1);
            return $"the hypervisor traps {access}; the region allows it, but jailhouse maps PA page 0x{pagePa:x} at its temporary window and then addresses "
                + $"window offset 0x{(r.PhysStart & (jhPage - 1)) + (off & (jhPage - 1)):x} (the region's page offset 0x{r.PhysStart & (jhPage - 1):x} plus the access's 0x{off & (jhPage - 1):x}), "
                + "past that page: the access does not reach the device";
        }
        return $"the hypervisor traps {access} and performs it for the guest (the region allows {widths}{(r.Has(MemFlags.IoUnaligned) ? ", IO_UNALIGNED" : "")})";
    }

    private static (El2Item? Item, string Cause) ExplainEl2(in AccessOutcome o, FaultInfo f, AccessType type, SetupMap? map)
    {
        El2Item? item = null;
        El2Item? nearest = null;
        ulong best = ulong.MaxValue;
        foreach (var it in map?.El2 ?? [])
        {
            if (o.Va - it.Va < it.Size)
            {
                item = it;
                break;
            }
            ulong d = o.Va < it.Va ? it.Va - o.Va : o.Va - (it.Va + it.Size - 1);
            if (d < best)
            {
                best = d;
                nearest = it;
            }
        }
        string va = $"hypervisor VA 0x{o.Va:x}";
        string cause = f.Type switch
        {
            FaultType.Translation when item is not null => $"{va} is in {item.Name} but the EL2 tables have no entry at level {f.Level}: the hypervisor's map is incomplete",
            FaultType.Translation when nearest is not null => $"{va} is not in the hypervisor's map (nearest: {nearest.Name} at VA {Sizes.Range(nearest.Va, nearest.Size)})",
            FaultType.Translation => $"{va} is not in the hypervisor's map",
            FaultType.Permission => $"the hypervisor's own mapping of {item?.Name ?? "this page"} refuses a {AccessName(type)} at EL2",
            FaultType.AccessFlag => "AF clear in the hypervisor's EL2 descriptor and TCR_EL2.HA=0",
            FaultType.AddressSize => $"{va}: an address is beyond the EL2 output size (TCR_EL2.PS / PARange)",
            _ => "an EL2 table walk read outside declared RAM",
        };
        return (item, cause);
    }

    private static string ExplainGuestStage1(in AccessOutcome o, FaultInfo f, AccessType type, SystemRegisters regs, ReadOnlySpan<WalkStep> steps)
    {
        string va = $"VA 0x{o.Va:x}";
        const string own = "the guest's own stage 1 (taken to EL1, not the hypervisor's business)";
        return f.Type switch
        {
            FaultType.Translation when f.Level == 0 && LastStage1(steps) is null =>
                $"{va} is outside the ranges TCR_EL1 gives the guest (T0SZ={regs.TcrEl1.T0Sz}, T1SZ={regs.TcrEl1.T1Sz}) or the walk is disabled: {own}",
            FaultType.Translation => $"the guest's level-{f.Level} stage-1 descriptor for {va} is invalid: {own}",
            FaultType.AccessFlag => $"AF clear in the guest's level-{f.Level} stage-1 descriptor and TCR_EL1.HA=0: {own}",
            FaultType.Permission => $"the guest's stage-1 permissions refuse a {AccessName(type)} of {va} at EL{o.El}: {own}",
            FaultType.AddressSize => $"an address in the guest's stage-1 walk for {va} is beyond TCR_EL1.IPS / PARange: {own}",
            // Arm ARM: an unaligned access to Device memory (data accesses are Device-nGnRnE while stage 1 is off)
            // or with SCTLR_EL1.A=1 is an Alignment fault, decided before any translation reaches the hypervisor.
            FaultType.Alignment => $"the {AccessName(type)} of {va} is not aligned to its size and the memory is Device (or SCTLR_EL1.A=1): an alignment fault of the guest's own, {own}",
            _ => $"the guest's stage-1 table for {va} is outside declared RAM",
        };
    }

    private static WalkStep? LastStage1(ReadOnlySpan<WalkStep> steps)
    {
        for (int i = steps.Length - 1; i >= 0; i--)
        {
            if (steps[i].Stage == 1 && steps[i].Kind == StepKind.Read)
            {
                return steps[i];
            }
        }
        return null;
    }

    private static string ExplainStage2(in AccessOutcome o, FaultInfo f, AccessType type, ulong ipa, CellMap? cell, RegionRef? region,
        SetupMap? map, SystemRegisters regs, Mmu mmu, ReadOnlySpan<WalkStep> steps, int accessSize)
    {
        // For S1PTW: a failed stage-1 descriptor read is recorded as a stage-1 step with no PA after the nested walk;
        // otherwise the nested walk that failed was the write of a hardware AF/dirty update of the stage-1 leaf.
        bool s1Update = false;
        int s1Level = -1;
        if (f.S1Ptw && steps.Length > 0)
        {
            var last = steps[^1];
            s1Update = !(last.Stage == 1 && !last.Nested);
            s1Level = LastStage1(steps)?.Level ?? -1;
        }
        string what = !f.S1Ptw ? $"IPA 0x{ipa:x}"
            : s1Update ? $"the hardware AF/dirty update of the guest's level-{s1Level} stage-1 descriptor at IPA 0x{ipa:x}"
            : $"the guest's level-{s1Level} stage-1 table at IPA 0x{ipa:x}";
        var s2 = mmu.Stage2Params;
        var vtcr = regs.Vtcr;
        var r = region?.Region;

        switch (f.Type)
        {
            case FaultType.Translation:
                if (s2.ConfigFault)
                {
                    return $"VTCR_EL2 0x{regs[SysReg.VTCR_EL2]:x} is unusable (T0SZ={vtcr.T0Sz}, SL0=0b{Convert.ToString(vtcr.Sl0, 2).PadLeft(2, '0')}: invalid or inconsistent start level), so every stage-2 lookup faults at level 0";
                }
                if (BitOps.AnyAbove(ipa, s2.InputSize))
                {
                    return $"{what} is beyond the {s2.InputSize}-bit IPA space (VTCR_EL2.T0SZ={vtcr.T0Sz})";
                }
                if (map is null)
                {
                    return $"{what} has no stage-2 mapping (the setup trace has no cell layout to name regions)";
                }
                if (cell is null)
                {
                    return $"VTTBR_EL2 0x{regs[SysReg.VTTBR_EL2]:x} points at no cell's stage-2 tables, so {what} has no mapping";
                }
                if (r is null)
                {
                    return $"{what} is in no region: cell '{cell.Name}' has none";
                }
                if (!region!.Contains)
                {
                    if (r.Mapping == RegionMapping.Subpage && !r.Has(MemFlags.Trapped) && r.Index >= 0 && !f.S1Ptw && SharesPage(r, ipa, map.Granule))
                    {
                        // The page traps for the sub-page region beside it; jailhouse's dispatcher has no region here.
                        return Position(what, ipa, r) + $", in the page it traps: jailhouse finds no region holding the access and stops the cell (\"Unhandled data {AccessName(type)}\")";
                    }
                    return Position(what, ipa, r) + (f.S1Ptw ? ": the guest's stage-1 tables must live in its memory" : "");
                }
                if (r.Mapping == RegionMapping.Subpage && r.Name == MappedRegion.MmconfigFiltered)
                {
                    return $"{what} is in the PCI mmconfig window, which stage 2 leaves unmapped: jailhouse traps the root cell's configuration accesses and performs those its PCI filter allows";
                }
                if (r.Mapping == RegionMapping.Subpage && r.Index < 0)
                {
                    return $"{what} is in the virtual PCI host's mmconfig window (pci_is_virtual), which stage 2 leaves unmapped: the hypervisor traps and emulates the configuration space of its virtual devices";
                }
                if (r.Mapping == RegionMapping.Subpage && !f.S1Ptw)
                {
                    return $"{what} is in {(r.IsIvcControlTable ? "hvisor's" : r.Has(MemFlags.Trapped) ? "trapped (virtio)" : "sub-page")} MMIO {r.Label}, which stage 2 leaves unmapped: {SubpageVerdict(r, ipa, accessSize, type)}";
                }
                if (r.Mapping == RegionMapping.Subpage)
                {
                    return $"{what} is in sub-page MMIO {r.Label}, which stage 2 leaves unmapped: the hypervisor traps and emulates accesses there"
                        + (f.S1Ptw ? " (the guest's page tables cannot live in emulated MMIO)" : "");
                }
                foreach (var g in cell.GivenAway)
                {
                    if (g.RootRegion == r.Index && ipa - g.VirtStart < g.Size)
                    {
                        return $"{what} is in {r.Label}, but PA {Sizes.Range(g.PhysStart, g.Size)} now belongs to cell '{g.ToCell}' (its region {g.ToRegion} is not ROOTSHARED), so the root cell lost it";
                    }
                }
                return $"{what} is in {r.Label}, but stage 2 has no valid entry for it at level {f.Level}: the tables do not match the configuration";

            case FaultType.Permission:
                if (r is null || !region!.Contains)
                {
                    return $"stage 2 refuses the {(f.S1Ptw ? (s1Update ? "write" : "read") : AccessName(type))} of {what}, which is in no configured region";
                }
                if (f.S1Ptw)
                {
                    if (!s1Update && !r.Has(MemFlags.Read))
                    {
                        return $"{what} is in {r.Label}, which lacks READ: the guest's stage-1 tables must be readable at stage 2";
                    }
                    if (!s1Update && regs.Hcr.Ptw && r.Has(MemFlags.Io))
                    {
                        return $"{what} is in IO {r.Label} (Device memory at stage 2) and HCR_EL2.PTW=1 forbids table walks there";
                    }
                    if (s1Update && !r.Has(MemFlags.Write))
                    {
                        return $"{what} needs WRITE, which {r.Label} lacks";
                    }
                    return $"{what} is in {r.Label} ({MemFlagNames.Format(r.Flags)}), but stage 2 refuses it: the tables do not match the configuration";
                }
                var (flag, name) = type switch
                {
                    AccessType.Write => (MemFlags.Write, "WRITE"),
                    AccessType.Fetch => (MemFlags.Execute, "EXECUTE"),
                    _ => (MemFlags.Read, "READ"),
                };
                if (!r.Has(flag))
                {
                    return $"{r.Label} lacks {name}";
                }
                return $"{r.Label} has {name}, but its stage-2 descriptor refuses the {AccessName(type)}: the tables do not match the configuration";

            case FaultType.AccessFlag:
            {
                string leaf = $"the stage-2 leaf for {what}{(r is not null && region!.Contains ? $" ({r.Label})" : "")} has AF=0";
                if (!vtcr.Ha)
                {
                    return $"AF clear and VTCR_EL2.HA=0: {leaf}, and with software-managed AF the hypervisor must set AF itself"
                        + (map?.HardwareAf == true ? " (this setup was built with --hw-af, whose leaves start with AF=0)" : "");
                }
                return $"AF clear and VTCR_EL2.HA=1 has no effect: {leaf}, and ID_AA64MMFR1_EL1.HAFDBS={regs.Mmfr1.Hafdbs} means no hardware AF update";
            }

            case FaultType.AddressSize:
                if (f.Level == 0 && s2.BaseAddressSizeFault)
                {
                    return $"VTTBR_EL2 0x{regs[SysReg.VTTBR_EL2]:x} holds a table address beyond the {s2.OaSize}-bit output size";
                }
                return r is not null && region!.Contains && r.Mapping == RegionMapping.Stage2
                    ? $"{r.Label} is backed by PA {Sizes.Range(r.PhysStart, r.Size)}, beyond the {s2.OaSize}-bit PA size (VTCR_EL2.PS, PARange)"
                    : $"a stage-2 descriptor for {what} holds an address beyond the {s2.OaSize}-bit PA size (VTCR_EL2.PS, PARange)";

            default:
            {
                ulong pa = steps.Length > 0 ? steps[^1].DescriptorPa : 0;
                return $"the stage-2 descriptor at PA 0x{pa:x} is outside declared RAM: the table pool must be declared with `ram`";
            }
        }
    }
}
