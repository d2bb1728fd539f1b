using MmuSim.Addressing;
using MmuSim.Faults;
using MmuSim.Memory;
using MmuSim.Registers;
using MmuSim.Tracing;
using MmuSim.Translation;

namespace MmuSim.Core;

/// <summary>
/// A simulated AArch64 core: current EL, the system registers, physical memory and the MMU. Executes trace
/// records; accesses, AT and dump produce an <see cref="AccessOutcome"/> with the exact fault registers.
/// </summary>
public sealed class SimulatedCore
{
    public SimulatedCore(PhysicalMemory? memory = null)
    {
        Registers = new SystemRegisters();
        Memory = memory ?? new PhysicalMemory();
        Mmu = new Mmu(Registers, Memory);
    }

    public SystemRegisters Registers { get; }
    public PhysicalMemory Memory { get; }
    public Mmu Mmu { get; }
    public Statistics Stats { get; } = new();

    /// <summary>The current exception level (`el N`); EL1 until a trace says otherwise.</summary>
    public byte CurrentEl { get; set; } = 1;

    /// <summary>Serves translation faults by mapping on first touch (demand paging); null when every fault is the trace's.</summary>
    public IDemandPager? DemandPager { get; set; }

    /// <summary>Most faults one access may have served before its fault is reported (stage 1, stage 2 of the data, tables).</summary>
    public const int MaxDemandFaultsPerAccess = 8;

    /// <summary>Cycles charged per descriptor read (memory latency as the walker sees it).</summary>
    public int MemoryLatency { get; set; } = 100;

    /// <summary>Executes one record. Returns true and fills <paramref name="outcome"/> for result-producing lines.</summary>
    public bool Execute(in TraceRecord rec, out AccessOutcome outcome)
    {
        outcome = default;
        Stats.Records++;
        switch (rec.Op)
        {
            case TraceOp.Reg:
                Registers[rec.Reg] = rec.Value;
                return false;
            case TraceOp.Mem:
                Memory.Write64(new PhysicalAddress(rec.Address), rec.Value);
                return false;
            case TraceOp.Ram:
                Memory.DeclareRam(new PhysicalAddress(rec.Address), rec.Value);
                return false;
            case TraceOp.El:
                CurrentEl = (byte)rec.Value;
                return false;
            case TraceOp.Tlbi:
                Stats.Tlbis++;
                return false;
            case TraceOp.Dump:
                Stats.Dumps++;
                outcome.Line = rec.Line;
                outcome.Op = TraceOp.Dump;
                outcome.Pa = rec.Address;
                outcome.Value = Memory.Peek64(new PhysicalAddress(rec.Address));
                return true;
            case TraceOp.At:
                ExecuteAt(in rec, ref outcome);
                return true;
            default:
                ExecuteAccess(in rec, ref outcome);
                return true;
        }
    }

    private void ExecuteAccess(in TraceRecord rec, ref AccessOutcome o)
    {
        var type = rec.Op switch { TraceOp.Write => AccessType.Write, TraceOp.Fetch => AccessType.Fetch, _ => AccessType.Read };
        switch (type)
        {
            case AccessType.Write: Stats.Writes++; break;
            case AccessType.Fetch: Stats.Fetches++; break;
            default: Stats.Reads++; break;
        }
        o.Line = rec.Line;
        o.Op = rec.Op;
        o.Va = rec.Address;
        o.El = CurrentEl;
        var req = new AccessRequest(new VirtualAddress(rec.Address), CurrentEl, type);
        bool ok = Translate(in req, ref o, out var r);
        ulong faultVa = rec.Address;
        // An access that crosses into the next 4 KiB page is translated in two parts, as QEMU splits it; when
        // only the second part faults, FAR is the start of that page (the lowest address that faulted).
        ulong second = (rec.Address | PageMask) + 1;
        if (ok && rec.Size > 1 && second != 0 && second - rec.Address < rec.Size)
        {
            var req2 = new AccessRequest(new VirtualAddress(second), CurrentEl, type);
            ulong pa = r.Pa, ipa = r.Ipa;
            ok = Translate(in req2, ref o, out r);
            faultVa = second;
            if (ok)
            {
                r.Pa = pa;
                r.Ipa = ipa;
            }
        }
        o.HasIpa = r.HasIpa && (ok || r.Fault.Stage == 2 && !r.Fault.S1Ptw);
        o.Ipa = r.Ipa;
        if (ok)
        {
            o.Pa = r.Pa;
            return;
        }
        Stats.CountFault(in r.Fault);
        Report(ref o, in r.Fault, type, CurrentEl, faultVa);
    }

    private const ulong PageMask = 0xFFF;

    /// <summary>One translation, with its descriptor reads and cycles charged to the access.</summary>
    private bool Translate(in AccessRequest req, ref AccessOutcome o, out TranslationResult r)
    {
        bool ok = Mmu.Translate(in req, out r);
        if (!ok && DemandPager is not null)
        {
            ok = ServeDemandFaults(in req, ref r);
        }
        int reads = Mmu.Record.Reads;
        Stats.DescriptorReads += reads;
        long cycles = (long)reads * MemoryLatency;
        o.Cycles += cycles;
        Stats.TranslationCycles += cycles;
        return ok;
    }

    /// <summary>
    /// Demand paging: while the pager can serve the fault, let it map and retry. The walks that ended in a served
    /// fault exist only because the tables are built lazily, so they are counted apart (DemandFaults,
    /// DemandFaultReads) and not charged: the access costs what its final walk costs, as if the mapping had been
    /// there all along. A fault the pager cannot serve is reported as usual.
    /// </summary>
    private bool ServeDemandFaults(in AccessRequest req, ref TranslationResult r)
    {
        for (int i = 0; i < MaxDemandFaultsPerAccess && DemandPager!.TryServe(in req, in r.Fault); i++)
        {
            Stats.DemandFaults++;
            Stats.DemandFaultReads += Mmu.Record.Reads;
            if (Mmu.Translate(in req, out r))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// Routes a fault (Arm ARM D1.3 and HCR_EL2): stage-2 faults, faults of the EL2 regime, EL0 faults with
    /// HCR_EL2.TGE=1 and (HCR_EL2.TEA=1) external aborts on a walk go to EL2; other stage-1 faults to EL1.
    /// Fills ESR, FAR and (stage 2) HPFAR as that EL sees them.
    /// </summary>
    private void Report(ref AccessOutcome o, in FaultInfo f, AccessType type, byte el, ulong va)
    {
        var hcr = Registers.Hcr;
        byte target = f.Stage == 2 || el == 2 || (el == 0 && hcr.Tge) || (f.Type == FaultType.ExternalWalk && hcr.Tea)
            ? (byte)2
            : (byte)1;
        o.Fault = f;
        o.TargetEl = target;
        o.Esr = Syndrome.Esr(in f, type, el, target);
        o.Far = va;
        o.Hpfar = f.Stage == 2 ? Syndrome.Hpfar(f.Ipa) : 0;
    }

    /// <summary>AT: the result goes to PAR_EL1 (the trace's AT runs at EL2, so no AT fault is taken as an exception).</summary>
    private void ExecuteAt(in TraceRecord rec, ref AccessOutcome o)
    {
        Stats.AtInstructions++;
        var (el, write, mode) = Decode(rec.At);
        o.Line = rec.Line;
        o.Op = TraceOp.At;
        o.At = rec.At;
        o.Va = rec.Address;
        o.El = el;
        var req = new AccessRequest(new VirtualAddress(rec.Address), el, write ? AccessType.Write : AccessType.Read, mode);
        if (Mmu.Translate(in req, out var r))
        {
            o.Par = Syndrome.ParSuccess(r.Pa, r.Attr, r.Sh);
        }
        else
        {
            o.Fault = r.Fault;
            o.Par = Syndrome.ParFault(in r.Fault);
        }
        Stats.DescriptorReads += Mmu.Record.Reads;
    }

    /// <summary>An AT operation's EL, direction and stages.</summary>
    public static (byte El, bool Write, AtMode Mode) Decode(AtOp op) => op switch
    {
        AtOp.S1E1R => (1, false, AtMode.Stage1),
        AtOp.S1E1W => (1, true, AtMode.Stage1),
        AtOp.S1E0R => (0, false, AtMode.Stage1),
        AtOp.S1E0W => (0, true, AtMode.Stage1),
        AtOp.S12E1R => (1, false, AtMode.Stage12),
        AtOp.S12E1W => (1, true, AtMode.Stage12),
        AtOp.S12E0R => (0, false, AtMode.Stage12),
        AtOp.S12E0W => (0, true, AtMode.Stage12),
        AtOp.S1E2R => (2, false, AtMode.Stage1),
        _ => (2, true, AtMode.Stage1),
    };
}
