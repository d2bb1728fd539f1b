using System.Runtime.CompilerServices;
using MmuSim.Core;
using MmuSim.Faults;
using MmuSim.Tracing;

namespace MmuSim.Replay;

/// <summary>
/// Trace records as the operations of a PE: the one place where the trace format's commands meet
/// <see cref="SimulatedCore"/>'s instructions (loads and stores, MSR, TLBI, AT, exception level changes) and the
/// trace's own commands on the system (memory contents, RAM, dumps).
/// </summary>
public static class RecordDispatch
{
    /// <summary>Executes one record. Returns true and fills <paramref name="outcome"/> for result-producing lines (R/W/X/ldtr/sttr/at/dump).</summary>
    public static bool Execute(this SimulatedCore core, in TraceRecord rec, out AccessOutcome outcome)
    {
        switch (rec.Op)
        {
            case TraceOp.Read or TraceOp.Write or TraceOp.Fetch:
                core.Access((AccessType)(rec.Op - TraceOp.Read), rec.Address, rec.Size, rec.Line, out outcome);
                return true;
            case TraceOp.At:
                core.At(rec.At, rec.Address, rec.Line, out outcome);
                return true;
            case TraceOp.Dump:
                core.Dump(rec.Address, rec.Line, out outcome);
                return true;
            case TraceOp.Ldtr or TraceOp.Sttr:
                core.AccessUnprivileged(rec.Op == TraceOp.Ldtr ? AccessType.Read : AccessType.Write, rec.Address, rec.Size, rec.Line, out outcome);
                return true;
            default:
                outcome = default;
                ExecuteCommand(core, in rec);
                return false;
        }
    }

    /// <summary>
    /// <see cref="Execute"/> for a caller that never reads the outcome (a replay without results): the same effects
    /// on every structure and statistic.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ExecuteDiscarding(this SimulatedCore core, in TraceRecord rec)
    {
        if ((uint)(rec.Op - TraceOp.Read) <= TraceOp.Fetch - TraceOp.Read)
        {
            core.AccessDiscarding((AccessType)(rec.Op - TraceOp.Read), rec.Address, rec.Size, rec.Line);
            return;
        }
        ExecuteOther(core, in rec);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ExecuteOther(SimulatedCore core, in TraceRecord rec)
    {
        switch (rec.Op)
        {
            case TraceOp.At:
                core.At(rec.At, rec.Address, rec.Line, out _);
                break;
            case TraceOp.Dump:
                core.Dump(rec.Address, rec.Line, out _);
                break;
            case TraceOp.Ldtr or TraceOp.Sttr:
                core.AccessUnprivileged(rec.Op == TraceOp.Ldtr ? AccessType.Read : AccessType.Write, rec.Address, rec.Size, rec.Line, out _);
                break;
            default:
                ExecuteCommand(core, in rec);
                break;
        }
    }

    /// <summary>
    /// The commands that produce no result: reg, mem, ram, el, tlbi, pstate, dsb, isb. A `cpu` line is not a PE's
    /// operation: whoever holds the system (<see cref="Replayer"/>) chooses the PE the next records run on.
    /// </summary>
    private static void ExecuteCommand(SimulatedCore core, in TraceRecord rec)
    {
        switch (rec.Op)
        {
            case TraceOp.Reg:
                core.WriteRegister(rec.Reg, rec.Value, rec.Line);
                break;
            case TraceOp.Mem:
                core.WriteMemory(rec.Address, rec.Value, rec.Line);
                break;
            case TraceOp.Ram:
                core.DeclareRam(rec.Address, rec.Value);
                break;
            case TraceOp.Load:
                LoadImage(core, rec.Image!);
                break;
            case TraceOp.El:
                core.ChangeEl((byte)rec.Value);
                break;
            case TraceOp.Tlbi:
                core.Tlbi(rec.Tlbi, rec.Value);
                break;
            case TraceOp.Pstate:
                core.SetPan(rec.Value != 0);
                break;
            case TraceOp.Dsb:
                core.Dsb(rec.Dsb);
                break;
            case TraceOp.Isb:
                core.Isb();
                break;
            case TraceOp.Inst:
                core.Instructions(rec.Value);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(rec), rec.Op, "not a trace command");
        }
    }

    /// <summary>
    /// `load`: the file checked against the operands (an error names the line), then mapped into the system's
    /// physical memory, shared by every PE.
    /// </summary>
    private static void LoadImage(SimulatedCore core, ImageLoad image)
    {
        var (path, size) = image.Check();
        if (size > Memory.PhysicalMemory.PhysicalAddressLimit - image.Address)
        {
            throw image.Error($"memory image '{image.File}' ({size} bytes from 0x{image.Address:x}) ends past the 52-bit physical address space");
        }
        try
        {
            core.Memory.LoadImage(new Addressing.PhysicalAddress(image.Address), path, image.Offset, size);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw image.Error($"memory image '{image.File}' cannot be mapped: {e.Message}");
        }
    }

    /// <summary>
    /// A run of plain accesses on consecutive lines from <paramref name="firstLine"/>, without results: the PE's run
    /// loop (<see cref="SimulatedCore.ExecuteAccessRun"/>), and any other operation a run holds (a run is built by
    /// a parser from accesses only, but nothing relies on it) executed in its place as its record.
    /// </summary>
    /// <param name="lastLine">Set to the line of each record as it runs, and to the run's last line.</param>
    public static void ExecuteRun(this SimulatedCore core, ReadOnlySpan<PlainAccess> run, long firstLine, ref long lastLine)
    {
        while (true)
        {
            int done = core.ExecuteAccessRun(run, firstLine, ref lastLine);
            if (done == run.Length)
            {
                return;
            }
            var rec = run[done].ToRecord(firstLine + done);
            lastLine = rec.Line;
            core.ExecuteDiscarding(in rec);
            run = run[(done + 1)..];
            firstLine += done + 1;
            if (run.IsEmpty)
            {
                return;
            }
        }
    }
}
