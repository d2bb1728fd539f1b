using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.CompilerServices;
using MmuSim.Faults;

namespace MmuSim.Translation;

/// <summary>What one recorded step did.</summary>
public enum StepKind : byte
{
    /// <summary>A descriptor read.</summary>
    Read,
    /// <summary>A hardware access-flag / dirty-state write-back of a descriptor (FEAT_HAFDBS).</summary>
    Update,
    /// <summary>A lookup in a walk cache (intermediate table entries of one stage), hit or miss.</summary>
    WalkCacheLookup,
    /// <summary>A lookup in the IPA→PA cache of stage-2 leaf entries, hit or miss.</summary>
    IpaCacheLookup,
}

/// <summary>
/// One step of a translation, as the walker saw it: which stage and level, where the descriptor was and what it
/// held. Nested steps are stage-2 lookups made on behalf of a stage-1 table access (the S1PTW walks). The walker
/// fills the architectural fields; the cycle model fills <see cref="Cycles"/> and <see cref="ServedBy"/> after the
/// fact (the walker never prices anything).
/// </summary>
public struct WalkStep
{
    public StepKind Kind;
    public byte Stage;
    /// <summary>The level read or updated; for a walk-cache hit, the level of the cached table entry.</summary>
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
    /// <summary>The address this stage was translating (VA for stage 1, IPA for stage 2).</summary>
    public ulong InputAddress;
    /// <summary>The read went outside declared RAM (external abort).</summary>
    public bool ExternalAbort;
    /// <summary>
    /// A stage-1 read that never happened: the stage-2 translation of its address faulted (S1PTW). Recorded so
    /// explain can show where the walk stopped; not counted as a descriptor read.
    /// </summary>
    public bool NotRead;
    /// <summary>Cache lookups: which walk cache (index in the configuration), or 0 for the IPA cache.</summary>
    public byte Structure;
    /// <summary>Cache lookups: the lookup hit.</summary>
    public bool Hit;
    /// <summary>Cache lookups that hit: descriptor reads of this stage the hit made unnecessary.</summary>
    public byte Saved;
    /// <summary>Cache lookups that hit: trace line of the access that filled the entry (for stale reports).</summary>
    public long FillLine;
    /// <summary>Cycles the timing model charged for this step.</summary>
    public int Cycles;
    /// <summary>
    /// Reads and updates: the walker-cache level that served the access (0 = first), or −1 for memory; set by the
    /// timing model.
    /// </summary>
    public sbyte ServedBy;
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

    /// <summary>Walk-cache and IPA-cache lookups of the current translation.</summary>
    public int CacheLookups { get; private set; }

    /// <summary>Walk-cache and IPA-cache lookups of the current translation that hit.</summary>
    public int CacheHits { get; private set; }

    /// <summary>Hardware descriptor updates made by the current translation.</summary>
    public int Updates { get; private set; }

    public ReadOnlySpan<WalkStep> Steps => _steps.AsSpan(0, Count);

    /// <summary>The steps, writable, so the timing model can annotate them with cycles.</summary>
    public Span<WalkStep> MutableSteps => _steps.AsSpan(0, Count);

    public void Clear()
    {
        Count = 0;
        Reads = 0;
        CacheLookups = 0;
        CacheHits = 0;
        Updates = 0;
    }

    /// <summary>
    /// True (the default) to record every field of every step, as explain and the fault reports show them. False
    /// records only what the cycle model, the statistics and TLB maintenance read (kind, stage, level, nesting,
    /// descriptor PA and value, abort), which is what a replay needs: recording is a tenth of a nested walk's cost.
    /// </summary>
    public bool Detailed
    {
        get => _detailed;
        set
        {
            _detailed = value;
            DeriveReadsUnrecorded();
        }
    }

    /// <summary>
    /// Whether lean recording (<see cref="Detailed"/> false) keeps a step per descriptor read (the default). The
    /// owner clears it when nothing reads those steps (no walker cache to price each read by its address): reads are
    /// then only counted (<see cref="ReadsUnrecorded"/>), while lookups, updates and reads that never happened are
    /// still recorded.
    /// </summary>
    public bool LeanReadSteps
    {
        get => _leanReadsWanted;
        set
        {
            _leanReadsWanted = value;
            DeriveReadsUnrecorded();
        }
    }

    /// <summary>True when descriptor reads are counted in <see cref="Reads"/> but get no step.</summary>
    public bool ReadsUnrecorded => _readsUnrecorded;

    private bool _detailed = true;
    private bool _leanReadsWanted = true;
    /// <summary>Derived from the two settings above, kept in a field because every descriptor read tests it.</summary>
    private bool _readsUnrecorded;

    private void DeriveReadsUnrecorded() => _readsUnrecorded = !_detailed && !_leanReadsWanted;

    /// <summary>Counts <paramref name="n"/> descriptor reads that get no step (<see cref="ReadsUnrecorded"/>).</summary>
    public void CountReads(int n)
    {
        Debug.Assert(_readsUnrecorded);
        Reads += n;
    }

    /// <summary>Records a descriptor read, written in place (the walk's most frequent step).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void AddRead(byte stage, int level, bool nested, ulong tableBase, int index, ulong descriptorAddress,
        ulong descriptorPa, ulong descriptor, ulong inputAddress, bool externalAbort)
    {
        Reads++;
        if (_readsUnrecorded)
        {
            return;
        }
        int n = Count;
        var steps = _steps;
        if ((uint)n >= (uint)steps.Length)
        {
            return;
        }
        Count = n + 1;
        // Every field is written (no zeroing first): this runs for each of a nested walk's 24 reads.
        ref var s = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(steps), n);
        s.Kind = StepKind.Read;
        s.Stage = stage;
        s.Level = (sbyte)level;
        s.Nested = nested;
        s.DescriptorPa = descriptorPa;
        s.Descriptor = descriptor;
        s.ExternalAbort = externalAbort;
        s.NotRead = false;
        if (_detailed)
        {
            s.TableBase = tableBase;
            s.Index = index;
            s.DescriptorAddress = descriptorAddress;
            s.OldDescriptor = 0;
            s.InputAddress = inputAddress;
            s.Structure = 0;
            s.Hit = false;
            s.Saved = 0;
            s.FillLine = 0;
            s.Cycles = 0;
            s.ServedBy = 0;
        }
    }

    /// <summary>Records a walk-cache or IPA-cache lookup, written in place (the default preset makes several per walk).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void AddLookup(StepKind kind, byte stage, bool nested, sbyte level, byte structure, bool hit, byte saved, long fillLine,
        ulong inputAddress)
    {
        CacheLookups++;
        if (hit)
        {
            CacheHits++;
        }
        if ((uint)Count >= (uint)_steps.Length)
        {
            return;
        }
        // Cleared and filled in place: building the step apart and copying it in cost a 96-byte copy per lookup.
        ref var s = ref _steps[Count++];
        s = default;
        s.Kind = kind;
        s.Stage = stage;
        s.Level = level;
        s.Nested = nested;
        s.InputAddress = inputAddress;
        s.Structure = structure;
        s.Hit = hit;
        s.Saved = saved;
        s.FillLine = fillLine;
    }

    public void Add(in WalkStep step)
    {
        switch (step.Kind)
        {
            case StepKind.Read:
                if (!step.NotRead)
                {
                    Reads++;
                }
                break;
            case StepKind.Update:
                Updates++;
                break;
            default:
                CacheLookups++;
                if (step.Hit)
                {
                    CacheHits++;
                }
                break;
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
    /// <summary>
    /// A data access through this translation is to Device memory (its misaligned data accesses fault). Not always
    /// <see cref="Attr"/>'s type: with stage 1 off a fetch gets Normal memory where data get Device-nGnRnE, and one
    /// TLB entry serves both.
    /// </summary>
    public bool DataDevice;
    /// <summary>Lookup level of the stage-1 leaf (or stage 2 when stage 1 is off); −2 when no leaf was reached.</summary>
    public sbyte Level;
    /// <summary>log2 of the size of the memory the final translation maps (smaller of the two stages).</summary>
    public byte BlockShift;

    // What a TLB needs to hold this translation and decide permissions and faults exactly on a later hit
    // (arm-notes §8.3). Filled for every successful translation.

    /// <summary>A stage-1 walk ran with stage 2 enabled (a two-dimensional, nested walk).</summary>
    public bool TwoDimensional;
    /// <summary>As <see cref="BlockShift"/>, but widened to a whole contiguous group where the Contiguous bit allows it.</summary>
    public byte ContiguousShift;
    /// <summary>The stage-1 leaf is global (nG=0), or stage 1 is off, or the regime has no ASIDs.</summary>
    public bool Global;
    /// <summary>Stage-1 permissions: bit (el·3 + access type) set when permitted.</summary>
    public ushort S1Permissions;
    /// <summary>Stage-2 permissions: bit ((el == 0 ? 0 : 3) + access type) set when permitted; all set without stage 2.</summary>
    public byte S2Permissions;
    /// <summary>Stage-1 leaf is writable-clean (DBM with HD, AP[2]=1): a write must walk to set the dirty state.</summary>
    public bool S1Clean;
    /// <summary>Stage-2 leaf is writable-clean (DBM with HD, S2AP[1]=0): a write must walk to set the dirty state.</summary>
    public bool S2Clean;
    /// <summary>Lookup level of the stage-2 leaf of the final IPA (for a stage-2 permission fault on a hit).</summary>
    public sbyte S2Level;
    /// <summary>Physical address of the stage-1 leaf descriptor (0 when stage 1 is off).</summary>
    public ulong S1DescriptorPa;
    /// <summary>log2 of what the stage-1 leaf maps (0 when stage 1 is off): a TLBI by VA anywhere in it reaches the entry.</summary>
    public byte S1Shift;

    public readonly bool IsFault => Fault.IsFault;
}
