using MmuSim.Addressing;
using MmuSim.Core;
using MmuSim.Faults;
using MmuSim.Translation;

namespace MmuSim.Hypervisor;

/// <summary>
/// Checks the hypervisor's own EL2 map by translating through it: every range the hypervisor must reach is
/// walked block by block at EL2, and each hole, wrong output address, wrong memory type or missing
/// permission becomes a finding. Runs on tables `mmusim cell` built or on any setup trace.
/// </summary>
public static class El2MapProbe
{
    public static List<Finding> Probe(SimulatedCore core, IReadOnlyList<El2Item> items, Granule granule)
    {
        var findings = new List<Finding>();
        var mmu = core.Mmu;
        if (!mmu.Stage1Enabled(mmu.RegimeOf(2)))
        {
            findings.Add(new Finding(Severity.Error, "hypervisor-map-gap", null,
                "SCTLR_EL2.M=0: the hypervisor's stage 1 is off, so nothing it must reach is mapped with the attributes it needs"));
            return findings;
        }
        ulong page = 1UL << (int)granule;
        foreach (var it in items)
        {
            if (it.Size == 0)
            {
                continue;
            }
            ulong end = it.Va + it.Size;
            ulong va = it.Va;
            ulong gapStart = 0;
            bool inGap = false;
            FaultInfo gapFault = default;
            string? problem = null;
            while (va < end && va >= it.Va)
            {
                var read = new AccessRequest(new VirtualAddress(va), 2, AccessType.Read);
                if (mmu.Translate(in read, out var r))
                {
                    if (inGap)
                    {
                        findings.Add(Gap(it, gapStart, va, gapFault));
                        inGap = false;
                    }
                    ulong expected = it.Pa + (va - it.Va);
                    if (problem is null)
                    {
                        problem = r.Pa != expected ? $"maps VA 0x{va:x} to PA 0x{r.Pa:x} instead of 0x{expected:x}"
                            : Attributes.IsDevice(r.Attr) != (it.Kind == El2Kind.Device)
                                ? $"maps VA 0x{va:x} as {Attributes.Describe(r.Attr)}, but {it.Name} needs {(it.Kind == El2Kind.Device ? "Device" : "Normal")} memory"
                            : !Permits(mmu, va, AccessType.Write) ? $"maps VA 0x{va:x} read-only, but the hypervisor writes {it.Name}"
                            : it.Kind == El2Kind.Code && !Permits(mmu, va, AccessType.Fetch) ? $"maps VA 0x{va:x} execute-never, but {it.Name} holds the hypervisor's code"
                            : null;
                        if (problem is not null)
                        {
                            findings.Add(new Finding(Severity.Error, "hypervisor-map-gap", null, $"the hypervisor's EL2 map of {it.Name} {problem}"));
                        }
                    }
                    ulong step = r.BlockShift >= 64 ? ulong.MaxValue : 1UL << r.BlockShift;
                    va = (va & ~(step - 1)) + step;
                    continue;
                }
                if (!inGap)
                {
                    inGap = true;
                    gapStart = va;
                    gapFault = r.Fault;
                }
                // A translation fault at level L leaves the whole level-L entry unmapped: skip to its end.
                int shift = r.Fault.Type == FaultType.Translation && r.Fault.Level >= 0
                    ? TranslationGeometry.LevelShift(granule, Math.Max((int)r.Fault.Level, 0))
                    : (int)granule;
                ulong skip = shift >= 64 ? ulong.MaxValue : 1UL << shift;
                ulong next = (va & ~(skip - 1)) + skip;
                va = next <= va ? end : Math.Max(next, va + page - (va & (page - 1)));
            }
            if (inGap)
            {
                findings.Add(Gap(it, gapStart, end, gapFault));
            }
        }
        return findings;
    }

    private static bool Permits(Mmu mmu, ulong va, AccessType t)
    {
        var req = new AccessRequest(new VirtualAddress(va), 2, t);
        return mmu.Translate(in req, out _);
    }

    private static Finding Gap(El2Item it, ulong from, ulong to, FaultInfo f) =>
        new(Severity.Error, "hypervisor-map-gap", null,
            $"the hypervisor's EL2 map has no {it.Name} at VA {Sizes.Range(from, to - from)} (PA 0x{it.Pa + (from - it.Va):x}): "
            + $"an EL2 access there takes a {FaultInfo.TypeName(f.Type).Replace('_', ' ')} fault, level {f.Level}");
}
