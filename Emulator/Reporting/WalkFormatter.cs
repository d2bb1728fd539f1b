using System.Text;
using MmuSim.Core;
using MmuSim.Faults;
using MmuSim.Translation;

namespace MmuSim.Reporting;

/// <summary>Formats the recorded steps of a translation and its outcome, one line per step.</summary>
public static class WalkFormatter
{
    /// <summary>
    /// Appends the steps with the cycles the model charged each. Stage-2 lookups made for a stage-1 descriptor are
    /// indented under it; walk-cache and IPA-cache lookups say whether they hit and what they saved.
    /// </summary>
    /// <param name="priced">False for a walk no model priced (`translate`: a dry walk of the tables): no cycles shown.</param>
    public static void AppendSteps(StringBuilder sb, ReadOnlySpan<WalkStep> steps, SimulatedCore core, bool upperRange, int el, string indent = "  ",
        bool priced = true)
    {
        var mmu = core.Mmu;
        var regime = mmu.RegimeOf(el);
        WalkParams s1 = mmu.Stage1Params(regime, upperRange);
        WalkParams s2 = mmu.Stage2Params;
        bool s2On = mmu.Stage2Enabled(regime);
        foreach (ref readonly var st in steps)
        {
            ref readonly WalkParams p = ref st.Stage == 1 ? ref s1 : ref s2;
            string pad = st.Nested ? indent + "    " : indent;
            string space = st.Stage == 1 && s2On ? "IPA" : "PA";
            string cost = priced ? $" [{st.Cycles} cycles{Served(core, in st)}]" : "";
            switch (st.Kind)
            {
                case StepKind.WalkCacheLookup:
                    string wc = core.Caches.WalkCaches[st.Structure].Name;
                    sb.AppendLine(st.Hit
                        ? $"{pad}S{st.Stage}     walk cache {wc}: hit for 0x{st.InputAddress:x}, level-{st.Level} table entry, {st.Saved} descriptor read(s) saved{cost}"
                        : $"{pad}S{st.Stage}     walk cache {wc}: miss for 0x{st.InputAddress:x}{cost}");
                    continue;
                case StepKind.IpaCacheLookup:
                    string ic = core.Caches.IpaCache?.Name ?? "IPA cache";
                    sb.AppendLine(st.Hit
                        ? $"{pad}S2     IPA cache {ic}: hit for IPA 0x{st.InputAddress:x}, {st.Saved} descriptor read(s) saved{cost}"
                        : $"{pad}S2     IPA cache {ic}: miss for IPA 0x{st.InputAddress:x}{cost}");
                    continue;
                case StepKind.Update:
                    sb.AppendLine($"{pad}S{st.Stage} L{st.Level}  hardware update of descriptor at PA 0x{st.DescriptorPa:x}: 0x{st.OldDescriptor:x} -> 0x{st.Descriptor:x} ({UpdateText(st)}){cost}");
                    if ((st.Stage == 1 ? s1 : s2).BigEndian)
                    {
                        sb.AppendLine($"{pad}       EE=1: descriptor written big-endian");
                    }
                    continue;
            }
            sb.Append($"{pad}S{st.Stage} L{st.Level}  table {(st.Stage == 2 ? "PA" : space)} 0x{st.TableBase:x} [{st.Index}]  descriptor at {(st.Stage == 2 ? "PA" : space)} 0x{st.DescriptorAddress:x}");
            if (st.NotRead)
            {
                sb.AppendLine(": not read, the stage-2 translation of its address faulted (above)");
                continue;
            }
            if (st.Stage == 1 && s2On)
            {
                sb.Append($" (PA 0x{st.DescriptorPa:x})");
            }
            if (st.ExternalAbort)
            {
                sb.AppendLine($": outside declared RAM -> synchronous external abort on the walk{cost}");
                continue;
            }
            sb.AppendLine($" = 0x{st.Descriptor:x16}{cost}");
            sb.AppendLine($"{pad}       {DescriptorText.Describe(st.Descriptor, st.Stage, st.Level, in p)}");
            if (p.BigEndian)
            {
                sb.AppendLine($"{pad}       {BigEndianNote}");
            }
        }
    }

    /// <summary>The note under a descriptor read by a big-endian walk (SCTLR_ELx.EE=1 for its stage).</summary>
    public const string BigEndianNote = "EE=1: descriptor read big-endian";

    /// <summary>Where the timing model says a read or update was served.</summary>
    private static string Served(SimulatedCore core, in WalkStep st)
    {
        if (st.Kind is not (StepKind.Read or StepKind.Update))
        {
            return "";
        }
        var levels = core.Timing.Caches.Levels;
        return st.ServedBy switch
        {
            >= 0 when st.ServedBy < levels.Length => $", from walker cache {levels[st.ServedBy].Config.Name}",
            -1 => ", from memory",
            _ => "",
        };
    }

    private static string UpdateText(in WalkStep st)
    {
        var parts = new List<string>();
        if (((st.OldDescriptor ^ st.Descriptor) & (1UL << 10)) != 0)
        {
            parts.Add("AF set");
        }
        if (((st.OldDescriptor ^ st.Descriptor) & (1UL << 7)) != 0)
        {
            parts.Add(st.Stage == 1 ? "AP[2] cleared: dirty" : "S2AP[1] set: dirty");
        }
        return string.Join(", ", parts);
    }

    /// <summary>Appends a fault with every syndrome register decoded.</summary>
    public static void AppendFault(StringBuilder sb, in AccessOutcome o)
    {
        var f = o.Fault;
        sb.AppendLine($"outcome: {FaultInfo.TypeName(f.Type)} fault, stage {f.Stage}, {(f.Level == FaultInfo.NoLevel ? "no lookup level" : $"level {f.Level}")}{(f.S1Ptw ? ", on a stage-1 table walk (S1PTW)" : "")}, taken to EL{o.TargetEl}");
        if (o.Op == ResultOp.At)
        {
            sb.Append(SyndromeDecoder.DescribePar(o.Par));
            return;
        }
        sb.Append(SyndromeDecoder.DescribeEsr(o.Esr, o.TargetEl));
        sb.AppendLine($"FAR_EL{o.TargetEl} = 0x{o.Far:x}");
        if (o.HasHpfar)
        {
            sb.Append(SyndromeDecoder.DescribeHpfar(o.Hpfar));
        }
    }
}
