using MmuSim.Faults;

namespace MmuSim.Translation;

/// <summary>What one recorded step did.</summary>
public enum StepKind : byte
{
    /// <summary>A descriptor read.</summary>
    Read,
    /// <summary>A hardware access-flag / dirty-state write-back of a descriptor (FEAT_HAFDBS).</summary>
    Update,
}

/// <summary>
/// One step of a translation, as the walker saw it: which stage and level, where the descriptor was and what it
/// held. Nested steps are stage-2 lookups made on behalf of a stage-1 table access (the S1PTW walks).
/// </summary>
public struct WalkStep
{
    public StepKind Kind;
    public byte Stage;
    public sbyte Level;
    /// <summary>True for a stage-2 lookup that translates a stage-1 descriptor address.</summary>
    public bool Nested;
    /// <summary>The table's base address (IPA for EL1&amp;0 stage 1 with stage 2 on, else PA).</summary>
    public ulong TableBase;
    public int Index;
    /// <summary>The descriptor's address in the table's address space.</summary>
    public ulong DescriptorAddress;
    /// <summary>The descriptor's physical address (0 when its stage-2 translation faulted).</summary>
    public ulong DescriptorPa;
    /// <summary>The value read, or for an update the value written.</summary>
    public ulong Descriptor;
    /// <summary>For an update, the value replaced.</summary>
    public ulong OldDescriptor;
    /// <summary>The read went outside declared RAM (external abort).</summary>
    public bool ExternalAbort;
}

/// <summary>
/// A fixed-capacity log of the steps of the current translation. Preallocated once; recording costs a few stores
/// per descriptor and never allocates, so it stays on for every access (explain and the cycle model read it).
/// </summary>
public sealed class WalkRecord
{
    private readonly WalkStep[] _steps = new WalkStep[256];

    public int Count { get; private set; }

    /// <summary>Descriptor reads made by the current translation.</summary>
    public int Reads { get; private set; }

    public ReadOnlySpan<WalkStep> Steps => _steps.AsSpan(0, Count);

    public void Clear()
    {
        Count = 0;
        Reads = 0;
    }

    public void Add(in WalkStep step)
    {
        if (step.Kind == StepKind.Read)
        {
            Reads++;
        }
        if (Count < _steps.Length)
        {
            _steps[Count++] = step;
        }
    }
}

/// <summary>The outcome of one translation: output address and attributes, or the fault.</summary>
public struct TranslationResult
{
    public FaultInfo Fault;
    public ulong Pa;
    public ulong Ipa;
    /// <summary>The translation ran in the EL1&amp;0 regime with stage 2 enabled and stage 1 produced an IPA.</summary>
    public bool HasIpa;
    /// <summary>Final memory attributes in MAIR encoding (stage 1 combined with stage 2 when both ran).</summary>
    public byte Attr;
    /// <summary>Final shareability: 0 non-shareable, 2 outer, 3 inner.</summary>
    public byte Sh;
    /// <summary>Lookup level of the stage-1 leaf (or stage 2 when stage 1 is off); −2 when no leaf was reached.</summary>
    public sbyte Level;
    /// <summary>log2 of the size of the memory the final translation maps (smaller of the two stages).</summary>
    public byte BlockShift;

    public readonly bool IsFault => Fault.IsFault;
}
