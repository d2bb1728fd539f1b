using System.Text;
using System.Text.Json;
using MmuSim.Addressing;
using MmuSim.Bits;
using MmuSim.Core;
using MmuSim.Faults;
using MmuSim.Registers;
using MmuSim.Translation;

namespace MmuSim.Reporting;

/// <summary>One question asked of a PE's tables: an access type (or an AT operation) at an address and EL.</summary>
/// <param name="Label">How the answer is named: "read", "write", "fetch" or the AT operation.</param>
/// <param name="IpaOnly">A stage-2 question about an IPA: no VA, so no FAR to show.</param>
public readonly record struct ProbeAnswer(string Label, string Op, AtOp? At, AccessOutcome Outcome, TranslationResult Result, WalkStep[] Steps,
    bool IpaOnly = false);

/// <summary>
/// `mmusim translate`: what a PE's current tables say about one address, asked without touching the PE — QEMU's
/// `gva2gpa`, for every access type. Each question walks the tables from the root on a dry-run walker of the PE's
/// registers and memory (no TLB, no walk cache, no access-flag or dirty-state update), so asking never changes what
/// the next question or a later replay sees. Faults carry the syndromes the access would have raised.
/// </summary>
public static class TranslationProbe
{
    /// <summary>A read, a write and an instruction fetch of <paramref name="va"/> at <paramref name="el"/>.</summary>
    public static ProbeAnswer[] Accesses(SimulatedCore pe, ulong va, byte el)
    {
        var answers = new ProbeAnswer[3];
        ReadOnlySpan<(AccessType Type, string Label, string Op)> kinds = [(AccessType.Read, "read", "R"), (AccessType.Write, "write", "W"), (AccessType.Fetch, "fetch", "X")];
        for (int i = 0; i < kinds.Length; i++)
        {
            var (type, label, op) = kinds[i];
            var mmu = Shadow(pe);
            var regime = mmu.RegimeOf(el);
            // PSTATE.PAN restricts privileged data accesses of a two-range regime (as the PE's own accesses).
            bool pan = pe.Pan && type != AccessType.Fetch && el != 0 && regime.HasTwoVaRanges();
            var req = new AccessRequest(new VirtualAddress(va), el, type, AtMode.None, pan);
            var o = new AccessOutcome { Op = (ResultOp)type, Va = va, El = el };
            if (mmu.Translate(in req, out var r))
            {
                o.Pa = r.Pa;
                o.Ipa = r.Ipa;
                o.HasIpa = r.HasIpa;
            }
            else
            {
                Fault(pe, ref o, in r.Fault, type, el, regime, va);
            }
            answers[i] = new ProbeAnswer(label, op, null, o, r, mmu.Record.Steps.ToArray());
        }
        return answers;
    }

    /// <summary>The AT operation <paramref name="op"/> on <paramref name="va"/>: its PAR_EL1, as the PE's `at` line gives it.</summary>
    public static ProbeAnswer At(SimulatedCore pe, AtOp op, ulong va)
    {
        var mmu = Shadow(pe);
        var (el, write, mode) = op.Decode();
        // As SimulatedCore's AT: with HCR_EL2.{E2H,TGE}={1,1}, AT S1E1* translate in EL2&0 with EL2's permissions.
        byte permEl = el == 1 && mode == AtMode.Stage1 && TranslationRegimes.InHost(pe.Registers.Hcr) ? (byte)2 : el;
        var req = new AccessRequest(new VirtualAddress(va), permEl, write ? AccessType.Write : AccessType.Read, mode, Pan: pe.Pan && op.ChecksPan());
        var o = new AccessOutcome { Op = ResultOp.At, At = op, Va = va, El = el };
        if (mmu.Translate(in req, out var r))
        {
            o.Par = Syndrome.ParSuccess(r.Pa, r.Attr, r.Sh);
            o.Pa = r.Pa;
        }
        else
        {
            o.Fault = r.Fault;
            o.Par = Syndrome.ParFault(in r.Fault);
        }
        return new ProbeAnswer(op.ToString(), "at", op, o, r, mmu.Record.Steps.ToArray());
    }

    /// <summary>Stage 2 alone (EL1&amp;0, VTTBR_EL2) for an IPA: a read, a write and a fetch, as a guest's accesses would meet it.</summary>
    public static ProbeAnswer[] Stage2(SimulatedCore pe, ulong ipa, byte el)
    {
        var answers = new ProbeAnswer[3];
        ReadOnlySpan<(AccessType Type, string Label, string Op)> kinds = [(AccessType.Read, "read", "R"), (AccessType.Write, "write", "W"), (AccessType.Fetch, "fetch", "X")];
        for (int i = 0; i < kinds.Length; i++)
        {
            var (type, label, op) = kinds[i];
            var mmu = Shadow(pe);
            var o = new AccessOutcome { Op = (ResultOp)type, Va = ipa, El = el, Ipa = ipa, HasIpa = true };
            if (mmu.TranslateIpa(new IntermediatePhysicalAddress(ipa), type, el == 0, out var r))
            {
                o.Pa = r.Pa;
            }
            else
            {
                // A stage-2 fault: to EL2, with the IPA in HPFAR; FAR would hold the VA, which an IPA alone does not give.
                Fault(pe, ref o, in r.Fault, type, el, TranslationRegime.El10, ipa);
            }
            answers[i] = new ProbeAnswer(label, op, null, o, r, mmu.Record.Steps.ToArray(), IpaOnly: true);
        }
        return answers;
    }

    /// <summary>A walker over the PE's registers and memory that records every step and writes nothing back.</summary>
    private static Mmu Shadow(SimulatedCore pe)
    {
        var mmu = new Mmu(pe.Registers, pe.Memory) { DryRun = true };
        mmu.Record.Detailed = true;
        return mmu;
    }

    private static void Fault(SimulatedCore pe, ref AccessOutcome o, in FaultInfo f, AccessType type, byte el, TranslationRegime regime, ulong va)
    {
        var hcr = pe.Registers.Hcr;
        byte target = FaultRouting.TargetEl(in f, regime, el, hcr);
        o.Fault = f;
        o.TargetEl = target;
        o.Esr = Syndrome.Esr(in f, type, el, target);
        o.Far = va;
        o.Hpfar = f.Stage == 2 ? Syndrome.Hpfar(f.Ipa) : 0;
    }

    /// <summary>The answers for a person: the regime, the walk (of the first answer: the others read the same descriptors), one line per answer.</summary>
    public static string Text(SimulatedCore pe, ulong address, byte el, bool ipa, IReadOnlyList<ProbeAnswer> answers)
    {
        var sb = new StringBuilder();
        var mmu = pe.Mmu;
        var regime = ipa ? TranslationRegime.El10 : mmu.RegimeOf(el);
        bool upper = !ipa && regime.HasTwoVaRanges() && (address >> 55 & 1) != 0;
        sb.AppendLine($"{(ipa ? "IPA" : "VA")} 0x{address:x} at EL{el} on PE {pe.Index}: the tables in memory, walked from the root (no TLB, nothing written)");
        if (ipa)
        {
            sb.AppendLine($"  stage 2 {(mmu.Stage2Enabled(TranslationRegime.El10) ? "on: " + DescriptorText.Params(mmu.Stage2Params) : "off (the IPA is the PA)")}");
        }
        else
        {
            string range = regime.HasTwoVaRanges() ? $", {regime.Ttbr(upper)}" : "";
            sb.AppendLine($"  regime {regime.Name()}, stage 1 {(mmu.Stage1Enabled(regime) ? $"on{range}: " + DescriptorText.Params(mmu.Stage1Params(regime, upper)) : "off (flat map)")}");
            if (regime.HasStage2())
            {
                sb.AppendLine($"  stage 2 {(mmu.Stage2Enabled(regime) ? "on: " + DescriptorText.Params(mmu.Stage2Params) : "off")}");
            }
        }
        var first = answers[0];
        int reads = 0;
        foreach (var st in first.Steps)
        {
            reads += st.Kind == StepKind.Read ? 1 : 0;
        }
        sb.AppendLine($"walk of the {first.Label} ({reads} descriptor read{(reads == 1 ? "" : "s")}):");
        if (first.Steps.Length == 0)
        {
            sb.AppendLine("  (no table was read: " + (first.Outcome.IsFault ? "the input-address checks decided)" : "translation is off)"));
        }
        WalkFormatter.AppendSteps(sb, first.Steps, pe, upper, el, priced: false);
        int width = answers.Max(a => a.Label.Length);
        foreach (var a in answers)
        {
            sb.Append(a.Label.PadRight(width)).Append("  ").AppendLine(Outcome(in a));
        }
        return sb.ToString();
    }

    private static string Outcome(in ProbeAnswer a)
    {
        var o = a.Outcome;
        var r = a.Result;
        if (a.At is not null)
        {
            return o.IsFault
                ? $"PAR_EL1 0x{o.Par:x}: {FaultInfo.TypeName(o.Fault.Type)} fault, stage {o.Fault.Stage}, {Level(in o.Fault)}{(o.Fault.S1Ptw ? ", on a stage-1 table walk" : "")}"
                : $"PAR_EL1 0x{o.Par:x}: PA 0x{o.Pa:x}, {Attributes.Describe((byte)(o.Par >> 56))}, {SyndromeDecoder.ShName((int)(o.Par >> 7) & 3)}";
        }
        if (o.IsFault)
        {
            var f = o.Fault;
            return $"{FaultInfo.TypeName(f.Type)} fault, stage {f.Stage}, {Level(in f)}{(f.S1Ptw ? ", on a stage-1 table walk" : "")}, taken to EL{o.TargetEl}: "
                + $"ESR_EL{o.TargetEl} 0x{o.Esr:x}{(a.IpaOnly ? "" : $", FAR_EL{o.TargetEl} 0x{o.Far:x}")}{(o.HasHpfar ? $", HPFAR_EL2 0x{o.Hpfar:x}" : "")}";
        }
        return $"PA 0x{o.Pa:x}{(o.HasIpa && !a.IpaOnly ? $" (IPA 0x{o.Ipa:x})" : "")}, {Attributes.Describe(r.Attr)}, {SyndromeDecoder.ShName(r.Sh)}, "
            + $"{DescriptorText.SizeText(r.BlockShift)} mapping{Contiguous(a.Steps)}";
    }

    /// <summary>A note when a leaf of the walk has the Contiguous bit (bit 52) set: its group may be cached as one entry.</summary>
    private static string Contiguous(WalkStep[] steps)
    {
        var notes = new List<string>();
        foreach (var st in steps)
        {
            // The last descriptor read of each stage at the outer walk is its leaf.
            if (st.Kind == StepKind.Read && !st.Nested && !st.NotRead && !st.ExternalAbort && (st.Descriptor & 1) != 0
                && ((st.Descriptor & 2) == 0 || st.Level == 3) && BitOps.Bit(st.Descriptor, 52))
            {
                notes.Add($"stage {st.Stage}");
            }
        }
        return notes.Count == 0 ? "" : $", Contiguous bit set ({string.Join(", ", notes)})";
    }

    private static string Level(in FaultInfo f) => f.HasLevel ? $"level {f.Level}" : "no lookup level";

    /// <summary>
    /// The answers as JSON Lines, with the fields of the results schema (docs/trace-format.md): `op`, `va`, `el`, `at`
    /// and `par` for an AT, `pa` and `ipa` or the `fault` object; `cpu` names the PE.
    /// </summary>
    public static string Json(SimulatedCore pe, IReadOnlyList<ProbeAnswer> answers)
    {
        var stream = new MemoryStream();
        foreach (var a in answers)
        {
            using (var w = new Utf8JsonWriter(stream))
            {
                var o = a.Outcome;
                w.WriteStartObject();
                w.WriteString("op", a.Op);
                w.WriteString("va", Hex(o.Va));
                w.WriteNumber("el", o.El);
                w.WriteNumber("cpu", pe.Index);
                if (a.At is { } at)
                {
                    w.WriteString("at", at.ToString());
                    w.WriteString("par", Hex(o.Par));
                }
                else
                {
                    if (!o.IsFault)
                    {
                        w.WriteString("pa", Hex(o.Pa));
                    }
                    if (o.HasIpa)
                    {
                        w.WriteString("ipa", Hex(o.Ipa));
                    }
                    if (o.IsFault)
                    {
                        var f = o.Fault;
                        w.WriteStartObject("fault");
                        w.WriteString("type", Encoding.ASCII.GetString(ResultWriter.FaultTypeName(f.Type)));
                        w.WriteNumber("stage", f.Stage);
                        if (f.HasLevel)
                        {
                            w.WriteNumber("level", f.Level);
                        }
                        else
                        {
                            w.WriteNull("level");
                        }
                        w.WriteBoolean("s1ptw", f.S1Ptw);
                        w.WriteNumber("target_el", o.TargetEl);
                        w.WriteString("esr", Hex(o.Esr));
                        w.WriteString("far", Hex(o.Far));
                        if (o.HasHpfar)
                        {
                            w.WriteString("hpfar", Hex(o.Hpfar));
                        }
                        w.WriteEndObject();
                    }
                }
                w.WriteEndObject();
            }
            stream.WriteByte((byte)'\n');
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private static string Hex(ulong v) => "0x" + v.ToString("x");
}
