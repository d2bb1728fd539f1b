using MmuSim.Faults;
using MmuSim.Translation;

namespace MmuSim.Core;

/// <summary>
/// What produced a result (the spec's Results schema "op"): an access (the values of <see cref="AccessType"/>), an
/// AT instruction or a dump.
/// </summary>
public enum ResultOp : byte
{
    Read = AccessType.Read,
    Write = AccessType.Write,
    Fetch = AccessType.Fetch,
    At,
    Dump,
}

/// <summary>
/// The result of one R/W/X/at/dump line in the spec's Results schema, as a struct (written to JSON Lines by
/// <see cref="Reporting.ResultWriter"/>).
/// </summary>
public struct AccessOutcome
{
    public long Line;
    public ResultOp Op;
    public ulong Va;
    public byte El;
    /// <summary>An unprivileged load or store (`ldtr`/`sttr`): results carry `"unpriv": true`.</summary>
    public bool Unpriv;
    /// <summary>The result names its PE (<see cref="Cpu"/>): set by a replay once its trace has had a `cpu` line.</summary>
    public bool HasCpu;
    /// <summary>The PE that ran the line, when <see cref="HasCpu"/>.</summary>
    public byte Cpu;
    public ulong Pa;
    public ulong Ipa;
    public bool HasIpa;
    public AtOp At;
    public ulong Par;
    public ulong Value;
    public long Cycles;
    /// <summary>Timed on a timeline (<c>--timing timeline</c>): results carry <see cref="Issue"/> and <see cref="Complete"/>.</summary>
    public bool Timed;
    /// <summary>The cycle the access issued, and the cycle its translation completed, on its PE's timeline.</summary>
    public long Issue;
    public long Complete;
    public FaultInfo Fault;
    public byte TargetEl;
    public ulong Esr;
    public ulong Far;
    public ulong Hpfar;

    public readonly bool IsFault => Fault.IsFault;

    /// <summary>True when HPFAR_EL2 is reported: a stage-2 fault taken to EL2.</summary>
    public readonly bool HasHpfar => Fault.IsFault && Fault.Stage == 2 && TargetEl == 2 && Fault.Type != FaultType.Alignment;
}

/// <summary>Receives the outcome of each result-producing line.</summary>
public interface IOutcomeSink
{
    void OnOutcome(in AccessOutcome outcome);
}
