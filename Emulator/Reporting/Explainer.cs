using System.Text;
using MmuSim.Addressing;
using MmuSim.Checking;
using MmuSim.Core;
using MmuSim.Faults;
using MmuSim.Registers;
using MmuSim.Replay;
using MmuSim.Tracing;
using MmuSim.Translation;

namespace MmuSim.Reporting;

/// <summary>
/// `explain`: replays traces up to one line of the last trace, and describes every step of that line's
/// translation: stage, level, table, index, descriptor address and value, its decoded fields, the nested
/// stage-2 walks, the hardware updates, and the outcome with its syndromes decoded.
/// </summary>
public static class Explainer
{
    /// <summary>Watches the replay for the target line of the last input: captures its outcome and steps, then stops.</summary>
    private sealed class Capture(int lastInput, long target, MaintenanceChecker checker) : IReplayObserver
    {
        public string Text = "";
        public bool Found;
        public bool NotAnAccess;

        public void OnExecuting(int input, SimulatedCore pe, in TraceRecord record) => checker.OnExecuting(input, pe, in record);

        public bool OnExecuted(int input, SimulatedCore core, in TraceRecord record, bool produced, in AccessOutcome outcome)
        {
            // The TLB-maintenance checker watches every line, so that a flagged access can show its chain of events.
            int before = checker.Findings.Count;
            checker.OnExecuted(input, core, in record, produced, in outcome);
            if (input != lastInput || record.Line != target)
            {
                return true;
            }
            if (record.Op is not (TraceOp.Read or TraceOp.Write or TraceOp.Fetch or TraceOp.At))
            {
                NotAnAccess = true;
                return false;
            }
            Found = true;
            Text = Format(core, in record, outcome, core.Mmu.Record.Steps.ToArray());
            for (int i = before; i < checker.Findings.Count; i++)
            {
                Text += Maintenance(checker.Findings[i]);
            }
            return false;
        }
    }

    /// <summary>
    /// Returns the explanation, or throws <see cref="ArgumentException"/> when the line is not an access. Every input is
    /// opened and decoded as `replay` does (<see cref="TraceInput"/>, the format registry: files or `-`, .gz/.xz, binary
    /// and foreign formats), and a foreign input runs at EL0 under demand paging as there.
    /// </summary>
    /// <param name="options">The replay's input options (format, demand paging); a stop on a fault does not apply.</param>
    /// <param name="timeline">Time the replay on a timeline (<c>--timing timeline</c>) and show the access's timeline.</param>
    public static async Task<string> ExplainAsync(IReadOnlyList<string> traces, long line, ModelConfig? config = null, CancellationToken ct = default,
        ReplayOptions? options = null, bool timeline = false, long maxMemory = 4L << 30)
    {
        options = (options ?? new ReplayOptions()) with { StopOnFault = false };
        var core = new SimulatedCore(new Memory.PhysicalMemory { MaxBytes = maxMemory }, config);
        if (timeline)
        {
            core.StartTimeline(detailed: true);
        }
        var capture = new Capture(traces.Count - 1, line, new MaintenanceChecker(core.System));
        // The same replay as `replay` (every input format, compression, stdin, demand paging for foreign traces),
        // watched line by line; it stops right after the target line, whose walk the PE still holds.
        var replayer = new Replayer(core, sink: null, options, capture);
        await replayer.ReplayFilesAsync(traces, ct);
        string last = traces[^1];
        if (capture.NotAnAccess)
        {
            throw new ArgumentException($"{last}:{line}: not an access or AT line (R, W, X or at)");
        }
        if (!capture.Found)
        {
            throw new ArgumentException($"{last}:{line}: no such line with a command");
        }
        return capture.Text;
    }

    /// <summary>A finding of the TLB-maintenance checker on the explained line, with the events behind it.</summary>
    private static string Maintenance(MaintenanceFinding f)
    {
        var sb = new StringBuilder();
        sb.AppendLine();
        sb.AppendLine($"TLB maintenance: {MaintenanceFinding.KindName(f.Kind)} ({(f.Error ? "error" : "note")}): hardware may give {f.Possible} instead of {f.Replayed}");
        foreach (string e in f.Chain)
        {
            sb.AppendLine($"  {e}");
        }
        sb.AppendLine($"  fix: {f.Fix}");
        return sb.ToString();
    }

    private static string Format(SimulatedCore core, in TraceRecord rec, in AccessOutcome o, WalkStep[] steps)
    {
        var sb = new StringBuilder();
        var mmu = core.Mmu;
        int el = o.El;
        string what = rec.Op == TraceOp.At ? $"AT {rec.At}" : rec.Op switch { TraceOp.Write => "write", TraceOp.Fetch => "instruction fetch", _ => "read" };
        sb.AppendLine($"line {rec.Line}: {what} of VA 0x{rec.Address:x} at EL{el}{(o.HasCpu ? $" on PE {o.Cpu}" : "")}");
        var regime = mmu.RegimeOf(el);
        bool upper = regime.HasTwoVaRanges() && (rec.Address >> 55 & 1) != 0;
        string range = regime.HasTwoVaRanges() ? $", {regime.Ttbr(upper)}" : "";
        sb.AppendLine($"  regime {regime.Name()}, stage 1 {(mmu.Stage1Enabled(regime) ? $"on{range}: " + DescriptorText.Params(mmu.Stage1Params(regime, upper)) : "off (flat map)")}");
        if (regime.HasStage2())
        {
            sb.AppendLine($"  stage 2 {(mmu.Stage2Enabled(regime) ? "on: " + DescriptorText.Params(mmu.Stage2Params) : "off")}");
        }
        if (rec.Op == TraceOp.At)
        {
            sb.AppendLine($"steps ({core.Mmu.Record.Reads} descriptor reads; AT walks the tables without TLBs or walk caches and is not priced):");
        }
        else
        {
            var path = core.PathOf(o.Op == ResultOp.Fetch ? AccessType.Fetch : AccessType.Read);
            int looked = Math.Min(core.LastLookups, path.Length);
            sb.AppendLine($"model {core.Config.Name}: {o.Cycles} cycles for this access");
            if (path.Length == 0)
            {
                sb.AppendLine("  no TLB configured");
            }
            for (int i = 0; i < looked; i++)
            {
                bool hit = core.LastTlbHit && i == looked - 1;
                sb.AppendLine($"  TLB {path[i].Name}: {(hit ? "hit" : "miss")} [{path[i].Latency} cycles]");
            }
            sb.AppendLine(core.LastWalked ? $"steps of the walk ({core.Mmu.Record.Reads} descriptor reads):"
                : core.LastTlbHit ? "no walk: the TLB entry translated it"
                : o.Fault.Type == FaultType.Alignment ? "no TLB lookup, no walk: the alignment check comes before translation"
                : "no TLB lookup, no walk: the input-address checks decided");
        }
        if (steps.Length == 0 && (rec.Op == TraceOp.At || core.LastWalked))
        {
            sb.AppendLine("  (no table was read: the input-address checks decided)");
        }
        if (rec.Op == TraceOp.At || core.LastWalked)
        {
            WalkFormatter.AppendSteps(sb, steps, core, upper, el);
        }
        if (o.Timed && core.Timeline is { } timeline)
        {
            AppendTimeline(sb, timeline, steps, core);
        }
        if (o.IsFault)
        {
            WalkFormatter.AppendFault(sb, in o);
            if (Cause(core, in rec, in o) is { } cause)
            {
                sb.AppendLine($"why: {cause}");
            }
        }
        else if (rec.Op == TraceOp.At)
        {
            sb.AppendLine("outcome: translation succeeded");
            sb.Append(SyndromeDecoder.DescribePar(o.Par));
        }
        else
        {
            sb.AppendLine($"outcome: PA 0x{o.Pa:x}{(o.HasIpa ? $" (IPA 0x{o.Ipa:x})" : "")}");
            var req = new AccessRequest(new VirtualAddress(rec.Address), (byte)el, rec.Op == TraceOp.Write ? AccessType.Write : rec.Op == TraceOp.Fetch ? AccessType.Fetch : AccessType.Read, AtMode.Stage12);
            // A side-effect-free look at the final attributes: the access already updated AF/dirty, so this
            // second walk changes nothing.
            if (mmu.Translate(in req, out var r))
            {
                sb.AppendLine($"  attributes {Attributes.Describe(r.Attr)} (0x{r.Attr:x2}), {SyndromeDecoder.ShName(r.Sh)}, mapped by a {DescriptorText.SizeText(r.BlockShift)} translation");
            }
        }
        return sb.ToString();
    }

    /// <summary>When the access issued, waited, walked and completed on its PE's timeline, and what each read waited on.</summary>
    private static void AppendTimeline(StringBuilder sb, PeTimeline t, WalkStep[] steps, SimulatedCore core)
    {
        long issue = t.LastIssue;
        string stall = issue > t.LastDesiredIssue ? $" (ready at {t.LastDesiredIssue:N0}: {issue - t.LastDesiredIssue:N0} cycles stalled, window or walk queue full)" : "";
        sb.AppendLine($"timeline (--timing timeline): issued at cycle {issue:N0}{stall}, completed at {t.LastComplete:N0} ({t.LastComplete - issue:N0} cycles), retired at {t.LastRetire:N0}");
        var timed = t.Steps;
        foreach (ref readonly var p in t.Parts)
        {
            sb.AppendLine($"  TLB lookups {p.LookupStart:N0} -> {p.LookupEnd:N0}");
            if (!p.Walked)
            {
                sb.AppendLine(p.MergedInto != 0
                    ? $"  hit on the entry the walk of line {p.MergedInto} is making: merged, completes when that walk ends, at {p.Done:N0}"
                    : $"  hit: done at {p.Done:N0}");
                continue;
            }
            string wait = p.Start > p.LookupEnd
                ? $"waited {p.Start - p.LookupEnd:N0} cycles for a walker{(p.Enqueued > p.LookupEnd ? $" (queue full until {p.Enqueued:N0}: the PE stopped issuing)" : "")}"
                : "a walker was free";
            sb.AppendLine($"  walk requested at {p.LookupEnd:N0}, {wait}; walker {p.Walker} from {p.Start:N0} to {p.End:N0} ({p.End - p.Start:N0} cycles)");
            for (int i = p.FirstStep; i < p.FirstStep + p.StepCount; i++)
            {
                var ts = timed[i];
                string what = ts.Step < 0 || ts.Step >= steps.Length ? "descriptor read (counted, from memory)" : StepName(steps[ts.Step], core);
                string why = ts.Wait switch
                {
                    TimelineWait.PendingWalk => $"; waited for the walk of line {ts.WaitedOnLine}, which filled the entry",
                    TimelineWait.SharedLine => $"; waited for its cache line, on its way for line {ts.WaitedOnLine}",
                    TimelineWait.WalkerCacheMisses => "; waited for a miss buffer of the walker cache",
                    TimelineWait.MemoryRequests => "; waited under the memory-request limit",
                    _ => "",
                };
                if (ts.Start > ts.Wanted)
                {
                    why += $" (ready at {ts.Wanted:N0})";
                }
                sb.AppendLine($"    {ts.Start,10:N0} -> {ts.End,10:N0}  {what}{why}");
            }
        }
    }

    private static string StepName(in WalkStep s, SimulatedCore core) => s.Kind switch
    {
        StepKind.WalkCacheLookup => $"S{s.Stage} walk cache {core.Caches.WalkCaches[s.Structure].Name} {(s.Hit ? "hit" : "miss")}",
        StepKind.IpaCacheLookup => $"S{s.Stage} IPA cache {(s.Hit ? "hit" : "miss")}",
        StepKind.Update => $"S{s.Stage} L{s.Level} hardware update of PA 0x{s.DescriptorPa:x}{Served(s, core)}",
        _ when s.NotRead => $"S{s.Stage} L{s.Level} read not made",
        _ => $"S{s.Stage} L{s.Level} descriptor read of PA 0x{s.DescriptorPa:x}{Served(s, core)}",
    };

    private static string Served(in WalkStep s, SimulatedCore core) =>
        s.ServedBy >= 0 ? $", {core.Timing.Caches.Levels[s.ServedBy].Name}" : ", memory";

    private sealed class NullSink : IOutcomeSink
    {
        public static readonly NullSink Instance = new();

        public void OnOutcome(in AccessOutcome outcome)
        {
        }
    }

    /// <summary>
    /// Why a fault that the walk listing alone does not explain happened: an alignment fault (SCTLR_ELx.A, or a
    /// misaligned access to Device memory) or a stage-1 permission fault that PSTATE.PAN made. Null for the rest,
    /// whose descriptors above say it.
    /// </summary>
    private static string? Cause(SimulatedCore core, in TraceRecord rec, in AccessOutcome o)
    {
        var f = o.Fault;
        bool data = rec.Op is TraceOp.Read or TraceOp.Write or TraceOp.Ldtr or TraceOp.Sttr;
        if (f.Type == FaultType.Alignment && data)
        {
            int size = rec.Size;
            var regime = TranslationRegimes.Of(o.El, core.Registers.Hcr);
            var sctlr = new Sctlr(core.Registers[regime.Sctlr()]);
            // R_XCHFJ order: the SCTLR.A check comes before translation, the memory-type check after it.
            return sctlr.A && rec.Address % (ulong)size != 0
                ? $"SCTLR_EL{regime.ControllingEl()}.A=1 and VA 0x{rec.Address:x} is not {size}-byte aligned (checked before translation)"
                : $"VA 0x{rec.Address:x} is not {size}-byte aligned and the memory is Device (stage-{f.Stage} memory type, or stage 1 off): "
                  + "a misaligned access to Device memory is an Alignment fault whatever SCTLR.A says";
        }
        if (f.Type == FaultType.Permission && f.Stage == 1 && core.Pan && rec.Op is TraceOp.Read or TraceOp.Write)
        {
            // The same access without PAN, on a dry-run walker (no AF or dirty update): if PAN alone refused it, the
            // page is one EL0 can access (AP[1]=1 after APTable).
            var shadow = new Mmu(core.Registers, core.Memory) { DryRun = true };
            var type = rec.Op == TraceOp.Write ? AccessType.Write : AccessType.Read;
            var req = new AccessRequest(new VirtualAddress(rec.Address), o.El, type, AtMode.None, Pan: false, Size: rec.Size);
            if (shadow.Translate(in req, out var r) || r.Fault.Type != FaultType.Permission || r.Fault.Stage != 1)
            {
                return "PSTATE.PAN=1 and the page is EL0-accessible (stage-1 AP[1]=1): a privileged data access to it is a "
                    + "permission fault (LDTR/STTR, as uaccess routines use, or PAN=0 would reach it)";
            }
        }
        return null;
    }
}
